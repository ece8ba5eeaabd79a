package io.deia.core.permission;

import java.util.concurrent.CompletableFuture;

/**
 * A request handed to a {@link PermissionGate}: its id, and the answer to come.
 *
 * @param requestId the relay's id of the request ({@code GET /permissions}, {@code POST /permissions/{request_id}})
 * @param answer    completes exactly once: by a person, the policy, the timeout, or a cancel; never exceptionally
 */
public record PendingPermission(String requestId, CompletableFuture<PermissionAnswer> answer) {
}
