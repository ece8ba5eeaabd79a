package io.deia.core.internal.launch;

import io.deia.core.config.RestartPolicy;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.function.DoubleSupplier;

/**
 * One bot's restart accounting under its {@link RestartPolicy}: the restarts made within the
 * window (the budget) and the next backoff delay (exponential, ±20% jitter, capped). Not thread
 * safe: the supervisor uses it under the bot's lock.
 */
public final class RestartBudget {
    private final RestartPolicy policy;
    private final DoubleSupplier random;
    private final Deque<Instant> restarts = new ArrayDeque<>();
    private int consecutive;

    /**
     * @param policy the bot's restart policy
     * @param random uniform numbers in [0, 1) for the jitter
     */
    public RestartBudget(RestartPolicy policy, DoubleSupplier random) {
        this.policy = policy;
        this.random = random;
    }

    /**
     * Called when the bot exits after running for {@code uptime}: an uptime of at least
     * {@code stable_after} forgets earlier crashes, so a bot that crashes once a day always gets
     * the short backoff.
     */
    public void onExit(Duration uptime) {
        if (uptime.compareTo(policy.stableAfter()) >= 0) {
            restarts.clear();
            consecutive = 0;
        }
    }

    /** True when one more restart at {@code now} stays within {@code max_restarts} per window. */
    public boolean allows(Instant now) {
        Instant windowStart = now.minus(policy.window());
        while (!restarts.isEmpty() && restarts.peekFirst().isBefore(windowStart)) {
            restarts.pollFirst();
        }
        return restarts.size() < policy.maxRestarts();
    }

    /** Records a restart at {@code now} and returns how long to wait before it. */
    public Duration nextDelay(Instant now) {
        restarts.addLast(now);
        double base = policy.backoffInitialMs() * Math.pow(2, Math.min(consecutive, 30));
        consecutive++;
        double jittered = base * (0.8 + 0.4 * random.getAsDouble());
        return Duration.ofMillis((long) Math.min(jittered, policy.backoffMaxMs()));
    }

    /** Restarts counted in the current window. */
    public int inWindow() {
        return restarts.size();
    }
}
