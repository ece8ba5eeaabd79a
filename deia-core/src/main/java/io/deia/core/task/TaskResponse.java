package io.deia.core.task;

import com.fasterxml.jackson.annotation.JsonUnwrapped;
import io.deia.core.project.TaskChange;

import java.time.Instant;

/**
 * What a response file ({@code hive/responses/<BOT-ID>/<task-id>.response.md}) records: front
 * matter fields, the agent's output and an optional error section.
 *
 * <p>{@code change} is what a task of a project bot did to the repository; in JSON its fields
 * ({@code project}, {@code branch}, {@code base_commit}, {@code commit}, {@code files_changed},
 * {@code insertions}, {@code deletions}) sit beside the others, as in the front matter, and are
 * absent for a bot without a project.
 */
public record TaskResponse(
        String taskId,
        String botId,
        TaskStatus status,
        int attempt,
        Instant startedAt,
        Instant finishedAt,
        long durationMs,
        Integer exitCode,
        String agent,
        Double costUsd,
        Long inputTokens,
        Long outputTokens,
        String sessionId,
        String output,
        String error,
        @JsonUnwrapped TaskChange change) {
}
