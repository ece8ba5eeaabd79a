package io.deia.core.agent;

import java.util.Objects;

/**
 * What one turn produced.
 *
 * @param status       how it ended
 * @param text         the final reply text (may be partial when interrupted)
 * @param sessionId    the CLI's session/thread id, when it has one
 * @param costUsd      cost reported by the CLI, or null
 * @param inputTokens  input tokens reported, or null
 * @param outputTokens output tokens reported, or null
 * @param durationMs   wall time of the turn
 * @param exitCode     the agent process's exit code, when the turn ended with it
 * @param error        why it failed, or null
 */
public record TurnResult(TurnStatus status, String text, String sessionId, Double costUsd, Long inputTokens,
                         Long outputTokens, long durationMs, Integer exitCode, String error) {
    public TurnResult {
        Objects.requireNonNull(status, "status");
        if (text == null) {
            text = "";
        }
    }

    public boolean isSuccess() {
        return status == TurnStatus.COMPLETED;
    }

    public static TurnResult failed(String error, long durationMs, Integer exitCode) {
        return new TurnResult(TurnStatus.FAILED, "", null, null, null, null, durationMs, exitCode, error);
    }
}
