package io.deia.core.chat;

import io.deia.core.DeiaException;

import java.util.ArrayDeque;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A bot's serial delivery queue: one message at a time, in the order they were accepted, on the
 * router's shared workers. So a bot sees its messages in order while different bots never wait for
 * each other.
 */
final class Lane {
    private final String botId;
    private final int capacity;
    private final Executor workers;
    private final ArrayDeque<Runnable> queue = new ArrayDeque<>();
    private final AtomicInteger pending = new AtomicInteger();
    private boolean running;

    Lane(String botId, int capacity, Executor workers) {
        this.botId = botId;
        this.capacity = capacity;
        this.workers = workers;
    }

    /** Takes a place in the lane or refuses with 429; every reservation is followed by enqueue or release. */
    void reserve() {
        if (pending.incrementAndGet() > capacity) {
            pending.decrementAndGet();
            throw DeiaException.tooMany("bot %s already has %d messages waiting", botId, capacity);
        }
    }

    void release() {
        pending.decrementAndGet();
    }

    void enqueue(Runnable work) {
        synchronized (this) {
            queue.add(work);
            if (running) {
                return;
            }
            running = true;
        }
        workers.execute(this::drain);
    }

    private void drain() {
        while (true) {
            Runnable next;
            synchronized (this) {
                next = queue.poll();
                if (next == null) {
                    running = false;
                    return;
                }
            }
            try {
                next.run();
            } finally {
                pending.decrementAndGet();
            }
        }
    }
}
