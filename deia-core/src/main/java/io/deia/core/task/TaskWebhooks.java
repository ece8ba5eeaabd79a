package io.deia.core.task;

import io.deia.core.internal.io.AtomicFiles;
import io.deia.core.internal.io.LogSafe;
import io.deia.core.webhook.WebhookEvent;
import io.deia.core.webhook.WebhookOutbox;

import java.nio.file.Path;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A task's final outcome as a webhook event: {@code task.completed} for a completed task,
 * {@code task.failed} for every other final status (failed, timeout, interrupted, rejected; the
 * {@code status} field says which), with {@code task_id}, {@code status}, {@code attempt},
 * {@code duration_ms}, {@code cost_usd} when known and {@code error} for a failure.
 *
 * <p>Written to the outbox once the response is durable and before the task is archived. The
 * event's id is derived from the response and its claim, so a bot that crashed in between and
 * finds the response again on restart writes the very same event (same id) once more instead of
 * losing it: at least once, and the receiver drops the repeat by its id.
 */
final class TaskWebhooks {
    /** Longest {@code error} sent; the response file has all of it. */
    private static final int MAX_ERROR = 500;

    private final String botId;
    private final WebhookOutbox outbox;

    TaskWebhooks(String botId, WebhookOutbox outbox) {
        this.botId = botId;
        this.outbox = outbox;
    }

    /**
     * Writes the event of the response {@code written} (its name gives the task id used), made by
     * the claim {@code claimKey}; {@code response} is null when it is only on disk (a recovered claim).
     *
     * @throws io.deia.core.DeiaException when the outbox cannot be written (the caller retries)
     */
    void publish(TaskResponse response, Path written, String claimKey) {
        TaskResponse r = response != null ? response
                : ResponseFiles.parse(AtomicFiles.readString(written), written.getFileName().toString());
        String name = written.getFileName().toString();
        String taskId = name.substring(0, name.length() - ResponseFiles.SUFFIX.length());
        boolean completed = r.status() == TaskStatus.COMPLETED;
        Map<String, Object> fields = new LinkedHashMap<>();
        fields.put("task_id", taskId);
        fields.put("status", r.status() == null ? null : r.status().id());
        fields.put("attempt", r.attempt());
        fields.put("duration_ms", r.durationMs());
        fields.put("cost_usd", r.costUsd());
        if (!completed && r.error() != null) {
            fields.put("error", LogSafe.printable(r.error(), MAX_ERROR));
        }
        Instant at = r.finishedAt() != null ? r.finishedAt() : Instant.now();
        outbox.publish(WebhookEvent.keyed(completed ? "task.completed" : "task.failed", botId, taskId + "/" + claimKey, at, fields));
    }
}
