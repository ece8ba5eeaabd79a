package io.deia.core.bot;

import com.fasterxml.jackson.annotation.JsonUnwrapped;
import io.deia.core.permission.PermissionAnswer;
import io.deia.core.permission.PermissionRequest;

import java.time.Instant;

/**
 * One entry of a bot's event stream ({@code GET /events}): a task moving through the queue
 * ({@code type} {@code task}), the bot changing state ({@code status}), or a permission request of
 * its agent asked ({@code permission_request}) or ended ({@code permission_resolved}). Absent fields
 * are left out of the JSON; a permission event's fields are written at the top level.
 *
 * @param seq        position in the stream, from 1, increasing by one per event of this bot runtime
 * @param type       {@code task}, {@code status}, {@code permission_request} or {@code permission_resolved}
 * @param botId      the bot
 * @param ts         when it happened
 * @param taskId     task events: the task
 * @param event      task events: {@code claimed|started|completed|failed|rejected|retrying}
 * @param status     task events: the task's outcome, when it has one
 * @param attempt    task events: the attempt number, when known
 * @param error      task events: why it failed, when it did
 * @param state      status events: the bot's new state
 * @param request    {@code permission_request}: the request ({@code request_id}, {@code task_id} unless
 *                   chat, {@code tool}, {@code input}, {@code summary}, {@code suggestions}, {@code expires_at}, ...)
 * @param resolution {@code permission_resolved}: how it ended
 */
public record BotEvent(long seq, String type, String botId, Instant ts, String taskId, String event, String status,
                       Integer attempt, String error, String state, @JsonUnwrapped PermissionRequest request,
                       @JsonUnwrapped Resolution resolution) {
    /** {@code type} of a permission request asked. */
    public static final String PERMISSION_REQUEST = "permission_request";
    /** {@code type} of a permission request ended. */
    public static final String PERMISSION_RESOLVED = "permission_resolved";

    /**
     * The fields of a {@code permission_resolved} event.
     *
     * @param requestId the request
     * @param decision  {@code allow}, {@code allow_session} or {@code deny}
     * @param by        {@code user}, {@code policy}, {@code timeout} or {@code cancelled}
     * @param message   what the agent was told, when anything
     * @param at        when it ended
     */
    public record Resolution(String requestId, String decision, String by, String message, Instant at) {
    }

    /** A task event, not yet numbered. */
    public static BotEvent task(String botId, String taskId, String event, String status, Integer attempt,
                                String error) {
        return new BotEvent(0, "task", botId, Instant.now(), taskId, event, status, attempt, error, null, null, null);
    }

    /** A status event, not yet numbered. */
    public static BotEvent status(String botId, String state) {
        return new BotEvent(0, "status", botId, Instant.now(), null, null, null, null, null, state, null, null);
    }

    /** A {@code permission_request} event, not yet numbered (its task id travels in {@code request}). */
    public static BotEvent permissionRequested(String botId, PermissionRequest request) {
        return new BotEvent(0, PERMISSION_REQUEST, botId, Instant.now(), null, null, null, null, null, null, request, null);
    }

    /** A {@code permission_resolved} event, not yet numbered. */
    public static BotEvent permissionResolved(String botId, String requestId, PermissionAnswer answer) {
        return new BotEvent(0, PERMISSION_RESOLVED, botId, Instant.now(), null, null, null, null, null, null, null,
                new Resolution(requestId, answer.decision().id(), answer.by().id(), answer.message(), answer.at()));
    }

    BotEvent withSeq(long newSeq) {
        return new BotEvent(newSeq, type, botId, ts, taskId, event, status, attempt, error, state, request, resolution);
    }
}
