package io.deia.core.agent;

/**
 * Text kept in memory up to a limit: an agent may print hundreds of megabytes, and the bot must
 * keep reading (so the agent does not block on a full pipe) without keeping it all.
 */
final class BoundedText {
    static final String TRUNCATED_MARK = "\n[output truncated]";

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

    synchronized boolean isTruncated() {
        return truncated;
    }

    /** The kept text, with {@value #TRUNCATED_MARK} at the end when something was dropped. */
    @Override
    public synchronized String toString() {
        return truncated ? text + TRUNCATED_MARK : text.toString();
    }
}
