package io.deia.core.schedule;

import io.deia.core.task.Task;

import java.time.Instant;
import java.util.Objects;

/**
 * Where a turn stands in the hive's waiting line: priority first (P0 ahead), then chat messages from
 * a person ahead of tasks of the same priority, then age (oldest first).
 *
 * @param priority 0 (P0, highest) to 3; a chat message counts as {@link Task#DEFAULT_PRIORITY}
 * @param chat     true for a chat message, false for a task
 * @param since    the task's {@code created_at} (or file age), or when the message arrived
 */
public record TurnOrder(int priority, boolean chat, Instant since) {
    public TurnOrder {
        if (priority < 0 || priority > 3) {
            throw new IllegalArgumentException("priority must be 0..3 (P0..P3), was " + priority);
        }
        Objects.requireNonNull(since, "since");
    }

    /** A task's place: its priority and creation time. */
    public static TurnOrder of(Task task) {
        return new TurnOrder(task.priority(), false, task.createdAt() == null ? Instant.now() : task.createdAt());
    }

    /** A chat message's place: priority P2, ahead of P2 tasks, by arrival. */
    public static TurnOrder chat(Instant arrival) {
        return new TurnOrder(Task.DEFAULT_PRIORITY, true, arrival);
    }
}
