package io.deia.core.task;

import java.time.Instant;

/**
 * What a response file ({@code hive/responses/<BOT-ID>/<task-id>.response.md}) records: front
 * matter fields, the agent's output and an optional error section.
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
        String error) {
}
