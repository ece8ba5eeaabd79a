package io.deia.core.internal.io;

/**
 * Makes text that came from outside (file names, ids, {@code client_msg_id}, paths, origins, URLs)
 * safe to put in a log line or an error message: control characters are written as
 * {@code \u001b}-style escapes, so a name cannot forge a log line (newline), move the cursor or
 * retitle the terminal (ANSI and OSC escape sequences) of whoever reads the log.
 *
 * <p>Escaped: C0 controls (U+0000..U+001F), DEL and the C1 controls (U+007F..U+009F), the line and
 * paragraph separators (U+2028, U+2029) and the bidirectional overrides and isolates
 * (U+202A..U+202E, U+2066..U+2069) that make text display in another order than it is stored.
 * Long text is cut, ending in {@code …}.
 */
public final class LogSafe {
    /** Code points kept by {@link #printable(String)}; longer text is cut. */
    public static final int DEFAULT_MAX = 256;

    private LogSafe() {
    }

    /** {@code text} with control characters escaped, at most {@value #DEFAULT_MAX} code points; {@code "null"} for null. */
    public static String printable(String text) {
        return printable(text, DEFAULT_MAX);
    }

    /** {@code text} with control characters escaped and cut after {@code maxCodePoints}; {@code "null"} for null. */
    public static String printable(String text, int maxCodePoints) {
        if (text == null) {
            return "null";
        }
        if (isPrintable(text) && text.length() <= maxCodePoints) {
            return text;
        }
        StringBuilder sb = new StringBuilder(Math.min(text.length(), maxCodePoints) + 16);
        int count = 0;
        for (int i = 0; i < text.length(); ) {
            int cp = text.codePointAt(i);
            if (count++ == maxCodePoints) {
                return sb.append('…').toString();
            }
            if (isControl(cp)) {
                sb.append(String.format("\\u%04x", cp));
            } else {
                sb.appendCodePoint(cp);
            }
            i += Character.charCount(cp);
        }
        return sb.toString();
    }

    /** True when {@code text} holds no character {@link #printable} would escape. */
    public static boolean isPrintable(String text) {
        for (int i = 0; i < text.length(); i++) {
            if (isControl(text.charAt(i))) {
                return false;
            }
        }
        return true;
    }

    private static boolean isControl(int cp) {
        return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029
                || (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
    }
}
