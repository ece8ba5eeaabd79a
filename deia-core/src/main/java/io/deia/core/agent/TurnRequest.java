package io.deia.core.agent;

import io.deia.core.permission.PermissionGate;

import java.time.Duration;
import java.util.Objects;

/**
 * One turn to run: the prompt and how long it may take.
 *
 * @param prompt  what the agent is asked
 * @param timeout the turn is interrupted (then its process tree killed) after this long
 * @param taskId      the task this turn serves, or null for a chat message (used in logs)
 * @param permissions where the CLI's permission requests go when the profile's approval mode is
 *                    {@code ask}; null when the CLI's own permission mode decides
 */
public record TurnRequest(String prompt, Duration timeout, String taskId, PermissionGate permissions) {
    public TurnRequest {
        Objects.requireNonNull(prompt, "prompt");
        Objects.requireNonNull(timeout, "timeout");
        if (timeout.isNegative() || timeout.isZero()) {
            throw new IllegalArgumentException("timeout must be positive, was " + timeout);
        }
    }

    /** A turn whose tool calls the CLI's own permission mode decides. */
    public TurnRequest(String prompt, Duration timeout, String taskId) {
        this(prompt, timeout, taskId, null);
    }
}
