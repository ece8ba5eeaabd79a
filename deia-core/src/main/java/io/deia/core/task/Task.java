package io.deia.core.task;

import java.time.Duration;
import java.time.Instant;
import java.util.Objects;

/**
 * A parsed task file: the prompt plus what its front matter (or original-DEIA bold fields) said.
 *
 * @param taskId    from {@code task_id}, else the file name without {@code .md}
 * @param from      who sent it, may be null
 * @param to        the bot it is addressed to, may be null
 * @param priority  0 (P0, highest) to 3 (P3); 2 when not given
 * @param timeout   the task's own timeout, or null for the profile's default
 * @param createdAt from {@code created_at}, else the file's modification time
 * @param prompt    the body: what the agent is asked
 */
public record Task(String taskId, String from, String to, int priority, Duration timeout, Instant createdAt,
                   String prompt) {
    /** Priority used when a task gives none. */
    public static final int DEFAULT_PRIORITY = 2;

    public Task {
        Objects.requireNonNull(taskId, "taskId");
        Objects.requireNonNull(prompt, "prompt");
        if (priority < 0 || priority > 3) {
            throw new IllegalArgumentException("priority must be 0..3 (P0..P3), was " + priority);
        }
    }
}
