package io.deia.core.registry;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;

import java.util.Locale;

/**
 * Life-cycle state of a bot as the registry and {@code /status} report it.
 * The first five are the runner's own states (contract: {@code starting|idle|busy|paused|stopping}),
 * then {@link #DEGRADED} and {@link #WAITING_APPROVAL}, also a running bot's; the rest are set by the launcher or registry about a
 * bot that is not running.
 */
public enum BotState {
    STARTING, IDLE, BUSY, PAUSED, STOPPING,
    /**
     * Running, but the hive cannot be written as it must (a full or read-only disk): finished
     * tasks' responses are kept in memory and retried, new tasks are not started. The reason is in
     * {@code /status}'s {@code degraded}; the state clears by itself once writes succeed again.
     */
    DEGRADED,
    /**
     * Running, and its agent waits for a person to allow or deny a tool call (the profile's
     * {@code approval.mode} is {@code ask}): {@code GET /permissions} lists what it waits for.
     */
    WAITING_APPROVAL,
    /**
     * Running, and its next turn (a task or a chat message) waits for a free slot under
     * {@code max_concurrent_turns} or its profile's {@code max_concurrent}; its place in line is in
     * {@code /status} and {@code /api/bots} ({@code queue_position}).
     */
    QUEUED,
    /**
     * Running, but a budget it falls under is used up: it takes no new task (they stay in its inbox)
     * and answers chat with {@code 402 budget_exceeded} until the budget allows again.
     */
    OVER_BUDGET,
    /** Exited, not to be restarted (stopped by request, or policy {@code never}). */
    STOPPED,
    /** Crashed and waiting out its restart backoff. */
    RESTARTING,
    /** Gave up: restart budget spent or launch failed; the reason is in {@code last_error}. */
    FAILED,
    /** Found dead or unresponsive by the reaper; about to be removed. */
    STALE;

    /** The lower-case name used in JSON. */
    @JsonValue
    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    @JsonCreator
    public static BotState fromId(String id) {
        return valueOf(id.toUpperCase(Locale.ROOT));
    }

    /** True for states in which a live runner process is expected. */
    public boolean isLive() {
        return this == STARTING || this == IDLE || this == BUSY || this == PAUSED || this == STOPPING || this == DEGRADED
                || this == WAITING_APPROVAL || this == QUEUED || this == OVER_BUDGET;
    }
}
