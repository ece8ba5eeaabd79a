package io.deia.core.agent;

/**
 * Text kept in memory up to a limit: an agent may print hundreds of megabytes, and the bot must
 * keep reading (so the agent does not block on a full pipe) without keeping it all.
 */
final class BoundedText {
    static final String TRUNCATED_MARK = "\n[output truncated]";

    /**
     * Put where an output line longer than {@code maxBytes} was cut (the rest of it dropped), so
     * every truncation is visible in the reply, not only the one of the whole text.
     */
    static String lineCutMark(int maxBytes) {
        return "\n[output truncated: a line over " + maxBytes + " bytes was cut]";
    }

    /** Put at the end of a reply when a structured output line over {@code maxBytes} was skipped. */
    static String lineDroppedMark(int maxBytes) {
        return "\n[output truncated: an output line over " + maxBytes + " bytes was dropped]";
    }

    private final int maxChars;
    private final StringBuilder text = new StringBuilder();
    private boolean truncated;

    BoundedText(int maxChars) {
        this.maxChars = maxChars;
    }

    /** Appends what fits; returns false once the limit has been reached (the rest is dropped). */
    synchronized boolean append(String s) {
        if (truncated) {
            return false;
        }
        int room = maxChars - text.length();
        if (s.length() <= room) {
            text.append(s);
            return true;
        }
        text.append(s, 0, Math.max(0, room));
        truncated = true;
        return false;
    }

    /** The kept text, with {@value #TRUNCATED_MARK} at the end when something was dropped. */
    @Override
    public synchronized String toString() {
        return truncated ? text + TRUNCATED_MARK : text.toString();
    }
}
