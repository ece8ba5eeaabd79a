package io.deia.core.internal.io;

import java.util.regex.Pattern;

/**
 * Makes text from agents safe to store in the files deia writes (response files, chat history):
 * every control character but line feed and tab (C0 {@code U+0000}-{@code U+001F}, {@code DEL} and
 * C1 {@code U+0080}-{@code U+009F}) is written as six visible characters: a backslash, {@code u} and four hex digits.
 * A raw NUL makes a file unreadable to deia's own task parser and to many tools, and escape
 * sequences in a file reach the terminal of whoever views it; the escaped form keeps what the agent
 * printed readable without either. One-way: the stored text keeps the escape as text.
 */
public final class ControlChars {
    private static final Pattern ESCAPED = Pattern.compile("[\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f]");

    private ControlChars() {
    }

    /** {@code text} with its control characters escaped (the same string when it has none). */
    public static String escape(String text) {
        return text == null ? null : ESCAPED.matcher(text).replaceAll(m -> String.format("\\\\u%04x", (int) m.group().charAt(0)));
    }
}
