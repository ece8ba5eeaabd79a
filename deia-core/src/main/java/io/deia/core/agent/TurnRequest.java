package io.deia.core.agent;

import java.time.Duration;
import java.util.Objects;

/**
 * One turn to run: the prompt and how long it may take.
 *
 * @param prompt  what the agent is asked
 * @param timeout the turn is interrupted (then its process tree killed) after this long
 * @param taskId  the task this turn serves, or null for a chat message (used in logs)
 */
public record TurnRequest(String prompt, Duration timeout, String taskId) {
    public TurnRequest {
        Objects.requireNonNull(prompt, "prompt");
        Objects.requireNonNull(timeout, "timeout");
        if (timeout.isNegative() || timeout.isZero()) {
            throw new IllegalArgumentException("timeout must be positive, was " + timeout);
        }
    }
}
