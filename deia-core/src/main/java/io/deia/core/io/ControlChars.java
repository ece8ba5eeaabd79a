package io.deia.core.io;

/**
 * Makes text from agents safe to store in the files deia writes (response files, chat history):
 * every control character but line feed and tab (C0 {@code U+0000}-{@code U+001F}, {@code DEL} and
 * C1 {@code U+0080}-{@code U+009F}) is written as six visible characters: a backslash, {@code u} and four hex digits.
 * A raw NUL makes a file unreadable to deia's own task parser and to many tools, and escape
 * sequences in a file reach the terminal of whoever views it; the escaped form keeps what the agent
 * printed readable without either. One-way: the stored text keeps the escape as text.
 */
public final class ControlChars {
    private ControlChars() {
    }

    /** {@code text} with its control characters escaped (the same string when it has none). */
    public static String escape(String text) {
        if (text == null) {
            return null;
        }
        int first = -1;
        for (int i = 0; i < text.length(); i++) {
            if (isEscaped(text.charAt(i))) {
                first = i;
                break;
            }
        }
        if (first < 0) {
            return text;
        }
        StringBuilder sb = new StringBuilder(text.length() + 16);
        sb.append(text, 0, first);
        for (int i = first; i < text.length(); i++) {
            char c = text.charAt(i);
            if (isEscaped(c)) {
                sb.append(String.format("\\u%04x", (int) c));
            } else {
                sb.append(c);
            }
        }
        return sb.toString();
    }

    private static boolean isEscaped(char c) {
        return (c < 0x20 && c != '\n' && c != '\t') || (c >= 0x7f && c <= 0x9f);
    }
}
