package io.deia.http.internal;

import java.io.IOException;
import java.nio.file.Path;
import java.util.function.UnaryOperator;

/**
 * Rewrites absolute paths inside the hive in an error message to paths relative to the hive
 * ({@code /home/me/work/.deia/hive/responses/B/x.md} becomes {@code hive/responses/B/x.md}), so an
 * API error never tells a client where the hive lives or who runs it. Messages in the logs keep
 * the full paths; only what goes over HTTP is rewritten. Paths outside the hive are left as they are.
 */
public final class HivePathRedactor implements UnaryOperator<String> {
    private final Path root;
    /** The hive's real path (through symbolic links), once the folder exists; null until then. */
    private volatile String realRoot;

    /** @param hiveRoot the hive folder ({@code .deia}); its real path is covered as well */
    public HivePathRedactor(Path hiveRoot) {
        this.root = hiveRoot.toAbsolutePath().normalize();
    }

    @Override
    public String apply(String message) {
        if (message == null) {
            return null;
        }
        String out = strip(message, root.toString());
        String real = realRoot();
        return real == null || real.equals(root.toString()) ? out : strip(out, real);
    }

    private static String strip(String message, String prefix) {
        return message.replace(prefix + "/", "").replace(prefix, ".");
    }

    private String realRoot() {
        String real = realRoot;
        if (real == null) {
            try {
                real = root.toRealPath().toString();
                realRoot = real;
            } catch (IOException e) {
                return null; // not created yet: its absolute path is all there is to hide
            }
        }
        return real;
    }
}
