package io.deia.core.internal;

import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;
import java.util.regex.Pattern;

/**
 * Bot ids become folder and file names, so they are checked before they touch the file system.
 * The rule is {@code ^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$}: ASCII letters, digits, '_' and '-', at
 * most 64 characters, not starting with a separator.
 */
public final class BotIds {
    /** The accepted form, as a regular expression (also used by the dashboard). */
    public static final String PATTERN = "^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$";

    private static final Pattern VALID = Pattern.compile(PATTERN);

    private BotIds() {
    }

    /** True when {@code id} may be used as a bot id. */
    public static boolean isValid(String id) {
        return id != null && VALID.matcher(id).matches();
    }

    /**
     * Returns {@code id} unchanged when valid.
     *
     * @throws DeiaException {@link ErrorCode#INVALID_ARGUMENT} naming the rule that was broken
     */
    public static String requireValid(String id) {
        if (isValid(id)) {
            return id;
        }
        if (id == null || id.isEmpty()) {
            throw DeiaException.invalid("bot id is empty; expected %s", PATTERN);
        }
        if (id.length() > 64) {
            throw DeiaException.invalid("bot id is %d characters long; at most 64 are allowed", id.length());
        }
        throw DeiaException.invalid("bot id '%s' is invalid: use ASCII letters, digits, '_' and '-', starting "
                + "with a letter or digit (%s)", printable(id), PATTERN);
    }

    /** The id with control characters escaped so it can be quoted in a message or log line safely. */
    static String printable(String id) {
        return io.deia.core.internal.io.LogSafe.printable(id, 80);
    }
}
