package io.deia.core.bot;

import java.time.Instant;

/**
 * One entry of a bot's event stream ({@code GET /events}): a task moving through the queue
 * ({@code type} {@code task}) or the bot changing state ({@code type} {@code status}). Absent fields
 * are left out of the JSON.
 *
 * @param seq     position in the stream, from 1, increasing by one per event of this bot runtime
 * @param type    {@code task} or {@code status}
 * @param botId   the bot
 * @param ts      when it happened
 * @param taskId  task events: the task
 * @param event   task events: {@code claimed|started|completed|failed|rejected|retrying}
 * @param status  task events: the task's outcome, when it has one
 * @param attempt task events: the attempt number, when known
 * @param error   task events: why it failed, when it did
 * @param state   status events: the bot's new state
 */
public record BotEvent(long seq, String type, String botId, Instant ts, String taskId, String event, String status,
                       Integer attempt, String error, String state) {

    /** A task event, not yet numbered. */
    public static BotEvent task(String botId, String taskId, String event, String status, Integer attempt,
                                String error) {
        return new BotEvent(0, "task", botId, Instant.now(), taskId, event, status, attempt, error, null);
    }

    /** A status event, not yet numbered. */
    public static BotEvent status(String botId, String state) {
        return new BotEvent(0, "status", botId, Instant.now(), null, null, null, null, null, state);
    }

    BotEvent withSeq(long newSeq) {
        return new BotEvent(newSeq, type, botId, ts, taskId, event, status, attempt, error, state);
    }
}
