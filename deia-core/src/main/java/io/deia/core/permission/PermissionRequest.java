package io.deia.core.permission;

import java.time.Instant;
import java.util.List;
import java.util.Objects;

/**
 * A permission request as people see it: on the bot's event stream ({@code permission_request}),
 * in {@code GET /permissions} and on the dashboard.
 *
 * @param requestId      the relay's id, {@code perm-<hex>}
 * @param taskId         the task whose turn asked, or null for a chat turn
 * @param tool           the tool's name ({@code Bash}, {@code Edit}, ...)
 * @param input          the call's input as JSON text, at most {@link PermissionBroker#MAX_INPUT_BYTES} bytes
 * @param inputTruncated true when {@code input} was cut to that size; null when it is whole
 * @param summary        the short thing a person judges: the shell command, the file path, or the tool's name
 * @param suggestions    what the CLI offers to remember for the session, in words
 * @param createdAt      when the agent asked
 * @param expiresAt      when it is denied if nobody answers
 */
public record PermissionRequest(String requestId, String taskId, String tool, String input, Boolean inputTruncated,
                                String summary, List<String> suggestions, Instant createdAt, Instant expiresAt) {
    public PermissionRequest {
        Objects.requireNonNull(requestId, "requestId");
        Objects.requireNonNull(tool, "tool");
        suggestions = suggestions == null ? List.of() : List.copyOf(suggestions);
    }
}
