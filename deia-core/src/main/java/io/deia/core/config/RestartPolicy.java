package io.deia.core.config;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonValue;

import java.time.Duration;

/**
 * How the launcher treats a bot runner that exits on its own. In the config file:
 * {@code "restart": {"policy": "on-failure", "max_restarts": 5, "window_s": 60,
 * "backoff_initial_ms": 500, "backoff_max_ms": 30000, "stable_after_s": 30}}; every field optional.
 *
 * @param policy           {@code never}, {@code on-failure} (non-zero exit or signal) or {@code always}
 * @param maxRestarts      restarts allowed within the window; one more marks the bot {@code failed}
 * @param windowS          the budget's time window in seconds
 * @param backoffInitialMs delay before the first restart; doubles each time, with ±20% jitter
 * @param backoffMaxMs     the delay never exceeds this
 * @param stableAfterS     a bot that stayed up this long gets its backoff and budget reset
 */
public record RestartPolicy(Mode policy, int maxRestarts, long windowS, long backoffInitialMs, long backoffMaxMs,
                            long stableAfterS) {

    public static final RestartPolicy DEFAULT = new RestartPolicy(Mode.ON_FAILURE, 5, 60, 500, 30_000, 30);

    public RestartPolicy {
        if (policy == null) {
            policy = Mode.ON_FAILURE;
        }
        if (maxRestarts < 0 || windowS < 0 || backoffInitialMs < 0 || backoffMaxMs < 0 || stableAfterS < 0) {
            throw new IllegalArgumentException("restart settings must not be negative");
        }
    }

    /** Reads the config form, filling absent fields from {@link #DEFAULT}. */
    @JsonCreator
    static RestartPolicy fromJson(@JsonProperty("policy") Mode policy,
                                  @JsonProperty("max_restarts") Integer maxRestarts,
                                  @JsonProperty("window_s") Long windowS,
                                  @JsonProperty("backoff_initial_ms") Long backoffInitialMs,
                                  @JsonProperty("backoff_max_ms") Long backoffMaxMs,
                                  @JsonProperty("stable_after_s") Long stableAfterS) {
        return new RestartPolicy(policy == null ? DEFAULT.policy : policy,
                maxRestarts == null ? DEFAULT.maxRestarts : maxRestarts,
                windowS == null ? DEFAULT.windowS : windowS,
                backoffInitialMs == null ? DEFAULT.backoffInitialMs : backoffInitialMs,
                backoffMaxMs == null ? DEFAULT.backoffMaxMs : backoffMaxMs,
                stableAfterS == null ? DEFAULT.stableAfterS : stableAfterS);
    }

    public Duration window() {
        return Duration.ofSeconds(windowS);
    }

    public Duration maxBackoff() {
        return Duration.ofMillis(backoffMaxMs);
    }

    public Duration stableAfter() {
        return Duration.ofSeconds(stableAfterS);
    }

    /** When to restart. */
    public enum Mode {
        NEVER("never"), ON_FAILURE("on-failure"), ALWAYS("always");

        private final String id;

        Mode(String id) {
            this.id = id;
        }

        @JsonValue
        public String id() {
            return id;
        }

        @JsonCreator
        public static Mode fromId(String id) {
            for (Mode m : values()) {
                if (m.id.equals(id)) {
                    return m;
                }
            }
            throw new IllegalArgumentException("restart policy must be never, on-failure or always, was '" + id + "'");
        }
    }
}
