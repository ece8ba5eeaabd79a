package io.deia.core.bot;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A bot's event stream: numbers each event and keeps the last {@code capacity} of them so that a
 * reader who reconnects with the last sequence number it saw gets what it missed. Readers pull
 * ({@link #awaitAfter}); publishing never blocks on a slow reader.
 */
public final class BotEventBus {
    private final int capacity;
    private final ArrayDeque<BotEvent> buffer;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition published = lock.newCondition();
    /** Written under the lock, read without it. */
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
    public BotEvent publish(BotEvent event) {
        lock.lock();
        try {
            if (closed) {
                return event;
            }
            BotEvent numbered = event.withSeq(++lastSeq);
            if (buffer.size() == capacity) {
                buffer.removeFirst();
            }
            buffer.addLast(numbered);
            published.signalAll();
            return numbered;
        } finally {
            lock.unlock();
        }
    }

    /** The sequence number of the newest event, 0 when none was published. */
    public long lastSeq() {
        return lastSeq;
    }

    /** Buffered events with a sequence number greater than {@code after}, oldest first. */
    public List<BotEvent> after(long after) {
        lock.lock();
        try {
            return collect(after);
        } finally {
            lock.unlock();
        }
    }

    /**
     * Like {@link #after}, but when there is nothing newer waits up to {@code maxWait} for an event.
     * Returns an empty list on timeout or when the bus is closed.
     */
    public List<BotEvent> awaitAfter(long after, Duration maxWait) throws InterruptedException {
        long nanos = maxWait.toNanos();
        lock.lock();
        try {
            while (lastSeq <= after && !closed && nanos > 0) {
                nanos = published.awaitNanos(nanos);
            }
            return collect(after);
        } finally {
            lock.unlock();
        }
    }

    /** Ends the stream: waiting readers return, later events are dropped. */
    public void close() {
        lock.lock();
        try {
            closed = true;
            published.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** True after {@link #close()}. */
    public boolean isClosed() {
        return closed;
    }

    private List<BotEvent> collect(long after) {
        List<BotEvent> out = new ArrayList<>();
        for (BotEvent e : buffer) {
            if (e.seq() > after) {
                out.add(e);
            }
        }
        return out;
    }

}
