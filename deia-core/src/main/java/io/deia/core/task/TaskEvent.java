package io.deia.core.task;

/**
 * One transition of a task in a bot's queue.
 *
 * @param botId   the bot
 * @param taskId  the task (for a final event, the id its response was written under)
 * @param event   {@code claimed}, {@code started}, {@code completed}, {@code failed}, {@code rejected} or {@code retrying}
 * @param status  the final status for completed/failed/rejected, else null
 * @param attempt the attempt this event belongs to (0 before the first)
 * @param error   why an attempt failed or a task was rejected, else null
 */
public record TaskEvent(String botId, String taskId, String event, TaskStatus status, int attempt, String error) {
    public static final String CLAIMED = "claimed";
    public static final String STARTED = "started";
    public static final String COMPLETED = "completed";
    public static final String FAILED = "failed";
    public static final String REJECTED = "rejected";
    public static final String RETRYING = "retrying";
}
