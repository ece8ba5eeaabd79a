package io.deia.core.webhook;

import java.time.Duration;
import java.util.function.DoubleSupplier;

/**
 * When a failed delivery is tried again: {@code base} doubling with each failed attempt up to
 * {@code max}, each delay drawn between half and all of that (jitter, so deliveries that failed
 * together do not all come back at the same instant), for {@code window} after the event was
 * written; an attempt that fails after that is the delivery's last (it is dead).
 *
 * @param base   the delay after the first failed attempt (before jitter)
 * @param max    the longest delay
 * @param window how long after the event deliveries are retried
 * @param random a number in [0, 1) per delay
 */
public record RetrySchedule(Duration base, Duration max, Duration window, DoubleSupplier random) {
    /** 1 s doubling to 10 min, for 24 h. */
    public static final RetrySchedule DEFAULT = new RetrySchedule(Duration.ofSeconds(1), Duration.ofMinutes(10),
            Duration.ofHours(24), Math::random);

    public RetrySchedule {
        if (base.isNegative() || base.isZero() || max.compareTo(base) < 0 || window.isNegative()) {
            throw new IllegalArgumentException("retry schedule needs 0 < base <= max and a window >= 0; was base "
                    + base + ", max " + max + ", window " + window);
        }
    }

    /** The delay after the {@code attempts}-th failed attempt (1 for the first). */
    public Duration delayAfter(int attempts) {
        int doublings = Math.min(Math.max(attempts - 1, 0), 62);
        double ms = Math.min((double) max.toMillis(), base.toMillis() * Math.pow(2, doublings));
        double factor = 0.5 + 0.5 * random.getAsDouble();
        return Duration.ofMillis(Math.max(1, Math.round(ms * factor)));
    }
}
