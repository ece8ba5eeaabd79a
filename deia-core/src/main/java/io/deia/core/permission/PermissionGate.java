package io.deia.core.permission;

/**
 * Where an agent adapter sends the permission requests of its CLI during a turn (see
 * {@link io.deia.core.agent.TurnRequest#permissions()}). The bot's implementation applies the
 * profile's {@link ApprovalPolicy}, relays what it cannot decide to people (events, API, dashboard)
 * and denies what nobody answers in time.
 *
 * <p>The adapter must not block its reader thread on the answer: it writes the CLI's answer when
 * {@link PendingPermission#answer()} completes.
 */
public interface PermissionGate {
    /** Asks about {@code call}; returns at once. */
    PendingPermission ask(ToolCall call);

    /** The CLI withdrew request {@code requestId} (it no longer waits for it): it ends as {@code cancelled}. */
    void withdraw(String requestId);
}
