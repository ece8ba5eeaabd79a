package io.deia.nats;

import io.deia.core.agent.TurnResult;
import io.deia.core.project.TaskChange;
import io.deia.core.task.ResponseFiles;
import io.deia.core.task.TaskResponse;
import io.deia.core.task.TaskStatus;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;

/** The final response of a task, built as the file backend builds it, and kept within a message's size. */
final class TaskResponses {
    /** Room kept under {@code max_payload} for the front matter's growth and the headers. */
    private static final int ROOM = 4096;

    private TaskResponses() {
    }

    /** The response for the last attempt {@code attempt} of a task, started at {@code started}. */
    static TaskResponse of(String taskId, String botId, String agentId, TurnResult result, int attempt, Instant started,
                           TaskChange change) {
        Instant finished = Instant.now();
        TaskStatus status = switch (result.status()) {
            case COMPLETED -> TaskStatus.COMPLETED;
            case FAILED -> TaskStatus.FAILED;
            case TIMEOUT -> TaskStatus.TIMEOUT;
            case INTERRUPTED -> TaskStatus.INTERRUPTED;
        };
        String error = result.error();
        if (error == null && status != TaskStatus.COMPLETED) {
            error = "the turn ended with status " + result.status().id()
                    + (result.exitCode() == null ? "" : " (exit code " + result.exitCode() + ")");
        }
        return new TaskResponse(taskId, botId, status, attempt, started, finished,
                Duration.between(started, finished).toMillis(), result.exitCode(), agentId, result.costUsd(),
                result.inputTokens(), result.outputTokens(), result.sessionId(), result.text(), error, change);
    }

    /**
     * {@code r}, or {@code r} with its output (then its error) cut so that the stored response fits
     * in one message of the server ({@code max_payload}); the cut is said at the end of the text.
     */
    static TaskResponse fitting(TaskResponse r, long maxPayload) {
        long limit = Math.max(1024, maxPayload - ROOM);
        int size = ResponseFiles.format(r, "x", null).getBytes(StandardCharsets.UTF_8).length;
        if (size <= limit) {
            return r;
        }
        String output = cut(r.output(), size - limit);
        TaskResponse shorter = with(r, output, r.error());
        size = ResponseFiles.format(shorter, "x", null).getBytes(StandardCharsets.UTF_8).length;
        if (size > limit) {
            shorter = with(shorter, shorter.output(), cut(r.error(), size - limit));
        }
        return shorter;
    }

    private static String cut(String text, long over) {
        if (text == null || text.isEmpty()) {
            return text;
        }
        String note = "\n[… cut: the response was larger than the NATS server's max_payload]";
        // Characters are at most 4 bytes, but most are 1: cut by bytes from the end of the UTF-8 text.
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        int keep = (int) Math.max(0, bytes.length - over - note.length() - 8);
        String kept = new String(bytes, 0, keep, StandardCharsets.UTF_8);
        if (!kept.isEmpty() && kept.charAt(kept.length() - 1) == '\uFFFD') {
            kept = kept.substring(0, kept.length() - 1);
        }
        return kept + note;
    }

    private static TaskResponse with(TaskResponse r, String output, String error) {
        return new TaskResponse(r.taskId(), r.botId(), r.status(), r.attempt(), r.startedAt(), r.finishedAt(),
                r.durationMs(), r.exitCode(), r.agent(), r.costUsd(), r.inputTokens(), r.outputTokens(), r.sessionId(),
                output, error, r.change());
    }
}
