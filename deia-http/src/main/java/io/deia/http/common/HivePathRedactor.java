package io.deia.http.common;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashSet;
import java.util.Set;
import java.util.function.UnaryOperator;

/**
 * Rewrites absolute paths inside the hive in an error message to paths relative to the hive
 * ({@code /home/me/work/.deia/hive/responses/B/x.md} becomes {@code hive/responses/B/x.md}), so an
 * API error never tells a client where the hive lives or who runs it. Messages in the logs keep
 * the full paths; only what goes over HTTP is rewritten.
 */
public final class HivePathRedactor implements UnaryOperator<String> {
    private final Set<String> roots = new LinkedHashSet<>();

    /** @param hiveRoot the hive folder ({@code .deia}); its real path is covered as well */
    public HivePathRedactor(Path hiveRoot) {
        Path abs = hiveRoot.toAbsolutePath().normalize();
        try {
            roots.add(abs.toRealPath().toString());
        } catch (IOException e) {
            // Not created yet: its absolute path is all there is to hide.
        }
        roots.add(abs.toString());
    }

    @Override
    public String apply(String message) {
        if (message == null) {
            return null;
        }
        String out = message;
        for (String root : roots) {
            out = out.replace(root + "/", "").replace(root, ".");
        }
        return out;
    }
}
