package io.deia.core;

import io.deia.core.internal.io.AtomicFiles;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.Set;

/**
 * The hive's token, kept in {@link HiveLayout#tokenFile()}: 256 random bits from
 * {@link SecureRandom}, base64url, created on first use with file mode 0600 (atomically, never
 * readable by others even for an instant) and reused afterwards. Comparison is constant-time.
 * The token's value is never logged and {@link #toString()} does not show it.
 *
 * <p>One token guards the whole hive: the controller's API and every bot runner's own HTTP
 * service. Everyone who may drive the hive reads it from the same file — the controller, the
 * launcher, the message router, the command line and each runner — so it never travels on a
 * command line or in an environment variable, where other local users could read it
 * ({@code ps}, {@code /proc/<pid>/environ}).
 */
public final class HiveToken {
    private static final Logger log = LoggerFactory.getLogger(HiveToken.class);
    private static final Set<PosixFilePermission> OWNER_ONLY = PosixFilePermissions.fromString("rw-------");

    private final byte[] value;

    private HiveToken(String value) {
        this.value = value.getBytes(StandardCharsets.UTF_8);
    }

    /**
     * Reads the hive's token, creating it first when there is none. A token file readable by
     * others is tightened to 0600 (and logged).
     *
     * @throws DeiaException when the file cannot be read or written, or holds no token
     */
    public static HiveToken loadOrCreate(HiveLayout hive) {
        Path file = hive.tokenFile();
        if (!Files.exists(file)) {
            byte[] random = new byte[32];
            new SecureRandom().nextBytes(random);
            String token = Base64.getUrlEncoder().withoutPadding().encodeToString(random);
            if (AtomicFiles.writeNewSecret(file, (token + "\n").getBytes(StandardCharsets.UTF_8))) {
                log.info("created token file {} (mode 0600)", file);
            }
        }
        tighten(file);
        String token = AtomicFiles.readString(file).trim();
        if (token.length() < 16) {
            throw DeiaException.unprocessable("token file %s holds no usable token (at least 16 characters)", file);
        }
        return new HiveToken(token);
    }

    /** True when {@code candidate} is the token; takes the same time wherever the first difference is. */
    public boolean matches(String candidate) {
        if (candidate == null) {
            return false;
        }
        return MessageDigest.isEqual(value, candidate.getBytes(StandardCharsets.UTF_8));
    }

    /**
     * True when {@code authorization} is {@code Bearer <the token>} (scheme case-insensitive, as
     * HTTP says); false for null, another scheme or another token. Constant-time like {@link #matches}.
     */
    public boolean matchesBearer(String authorization) {
        if (authorization == null || !authorization.regionMatches(true, 0, "Bearer ", 0, 7)) {
            return false;
        }
        return matches(authorization.substring(7).trim());
    }

    /** The value of an {@code Authorization} header that carries this token: {@code Bearer <token>}. */
    public String bearer() {
        return "Bearer " + reveal();
    }

    /** The token itself: for the one URL printed at start-up, the cookie and tests; never log it. */
    public String reveal() {
        return new String(value, StandardCharsets.UTF_8);
    }

    @Override
    public String toString() {
        return "HiveToken[****]";
    }

    private static void tighten(Path file) {
        if (!FileSystems.getDefault().supportedFileAttributeViews().contains("posix")) {
            return;
        }
        try {
            Set<PosixFilePermission> perms = Files.getPosixFilePermissions(file);
            if (!perms.equals(OWNER_ONLY)) {
                Files.setPosixFilePermissions(file, OWNER_ONLY);
                log.warn("token file {} had mode {}; set to rw-------", file, PosixFilePermissions.toString(perms));
            }
        } catch (IOException e) {
            throw DeiaException.io("cannot check permissions of", file, e);
        }
    }
}
