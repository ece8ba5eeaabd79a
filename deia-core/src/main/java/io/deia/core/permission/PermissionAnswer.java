package io.deia.core.permission;

import java.time.Instant;
import java.util.Locale;
import java.util.Objects;

/**
 * How a permission request ended.
 *
 * @param decision what was decided
 * @param message  what the agent is told (a deny's reason), or null
 * @param by       who decided
 * @param at       when
 */
public record PermissionAnswer(PermissionDecision decision, String message, DecidedBy by, Instant at) {
    public PermissionAnswer {
        Objects.requireNonNull(decision, "decision");
        Objects.requireNonNull(by, "by");
        Objects.requireNonNull(at, "at");
    }

    /** Who ended a request. */
    public enum DecidedBy {
        /** A person, through the API or the dashboard. */
        USER,
        /** The profile's {@code approval.allow} / {@code approval.deny} rules or {@code deny_patterns}, or an earlier {@code allow_session}. */
        POLICY,
        /** Nobody answered within {@code approval.timeout_s}: always a deny. */
        TIMEOUT,
        /** The CLI withdrew the request, or its turn ended (interrupt, stop, crash) before an answer. */
        CANCELLED;

        /** The wire name: {@code user}, {@code policy}, {@code timeout}, {@code cancelled}. */
        public String id() {
            return name().toLowerCase(Locale.ROOT);
        }
    }
}
