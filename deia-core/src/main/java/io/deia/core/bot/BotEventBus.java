package io.deia.core.bot;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A bot's event stream: numbers each event and keeps the last {@code capacity} of them so that a
 * reader who reconnects with the last sequence number it saw gets what it missed. Readers pull
 * ({@link #awaitAfter}); publishing never blocks on a slow reader.
 */
public final class BotEventBus {
    private final int capacity;
    private final ArrayDeque<BotEvent> buffer;
    /** Written under the monitor, read without it. */
    private volatile long lastSeq;
    private volatile boolean closed;

    /** A bus that replays up to {@code capacity} events. */
    public BotEventBus(int capacity) {
        if (capacity <= 0) {
            throw new IllegalArgumentException("capacity must be > 0, was " + capacity);
        }
        this.capacity = capacity;
        this.buffer = new ArrayDeque<>(Math.min(capacity, 1024));
    }

    /** Numbers {@code event}, keeps it for replay and wakes every waiting reader. Ignored after {@link #close()}. */
    public synchronized BotEvent publish(BotEvent event) {
        if (closed) {
            return event;
        }
        BotEvent numbered = event.withSeq(++lastSeq);
        if (buffer.size() == capacity) {
            buffer.removeFirst();
        }
        buffer.addLast(numbered);
        notifyAll();
        return numbered;
    }

    /** The sequence number of the newest event, 0 when none was published. */
    public long lastSeq() {
        return lastSeq;
    }

    /** Buffered events with a sequence number greater than {@code after}, oldest first. */
    public synchronized List<BotEvent> after(long after) {
        return buffer.stream().filter(e -> e.seq() > after).toList();
    }

    /**
     * Like {@link #after}, but when there is nothing newer waits up to {@code maxWait} for an event.
     * Returns an empty list on timeout or when the bus is closed.
     */
    public synchronized List<BotEvent> awaitAfter(long after, Duration maxWait) throws InterruptedException {
        long deadline = System.nanoTime() + maxWait.toNanos();
        for (long left = maxWait.toNanos(); lastSeq <= after && !closed && left > 0; left = deadline - System.nanoTime()) {
            TimeUnit.NANOSECONDS.timedWait(this, left);
        }
        return after(after);
    }

    /** Ends the stream: waiting readers return, later events are dropped. */
    public synchronized void close() {
        closed = true;
        notifyAll();
    }

    /** True after {@link #close()}. */
    public boolean isClosed() {
        return closed;
    }
}
