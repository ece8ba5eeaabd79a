package io.deia.core.webhook;

import java.time.Clock;
import java.time.Duration;
import java.util.Objects;
import java.util.function.UnaryOperator;

/**
 * The {@link WebhookDispatcher}'s tunables; {@link #defaults()} are what {@code serve} uses.
 *
 * @param clock          the time attempts, back-off and the retry window are measured with
 * @param retry          back-off and retry window
 * @param connectTimeout how long a connection to a receiver may take (5 s)
 * @param requestTimeout how long a receiver may take to answer (10 s)
 * @param threads        the HTTP client's threads (4)
 * @param perWebhook     attempts in flight at once to one webhook (1): a slow one takes no more
 * @param rescanEvery    how often the outbox is listed besides the file watch (5 s)
 * @param env            where secrets are looked up ({@code System::getenv})
 * @param userAgent      the {@code User-Agent} sent ({@code deia/<version>})
 */
public record DispatcherOptions(Clock clock, RetrySchedule retry, Duration connectTimeout, Duration requestTimeout,
                                int threads, int perWebhook, Duration rescanEvery, UnaryOperator<String> env,
                                String userAgent) {
    public DispatcherOptions {
        Objects.requireNonNull(clock, "clock");
        Objects.requireNonNull(retry, "retry");
        Objects.requireNonNull(env, "env");
        if (threads < 1 || perWebhook < 1) {
            throw new IllegalArgumentException("threads and perWebhook must be at least 1");
        }
        if (rescanEvery.isNegative() || rescanEvery.isZero()) {
            throw new IllegalArgumentException("rescanEvery must be positive");
        }
    }

    /** The defaults, with the version taken from deia-core's jar when it says one. */
    public static DispatcherOptions defaults() {
        return builder().build();
    }

    /** A builder starting from the defaults. */
    public static Builder builder() {
        return new Builder();
    }

    /** Builds {@link DispatcherOptions}. */
    public static final class Builder {
        private Clock clock = Clock.systemUTC();
        private RetrySchedule retry = RetrySchedule.DEFAULT;
        private Duration connectTimeout = Duration.ofSeconds(5);
        private Duration requestTimeout = Duration.ofSeconds(10);
        private int threads = 4;
        private int perWebhook = 1;
        private Duration rescanEvery = Duration.ofSeconds(5);
        private UnaryOperator<String> env = System::getenv;
        private String version = versionOfThisJar();

        private Builder() {
        }

        /** See {@link DispatcherOptions#clock()}. */
        public Builder clock(Clock v) { clock = v; return this; }
        /** See {@link DispatcherOptions#retry()}. */
        public Builder retry(RetrySchedule v) { retry = v; return this; }
        /** See {@link DispatcherOptions#connectTimeout()}. */
        public Builder connectTimeout(Duration v) { connectTimeout = v; return this; }
        /** See {@link DispatcherOptions#requestTimeout()}. */
        public Builder requestTimeout(Duration v) { requestTimeout = v; return this; }
        /** See {@link DispatcherOptions#threads()}. */
        public Builder threads(int v) { threads = v; return this; }
        /** See {@link DispatcherOptions#perWebhook()}. */
        public Builder perWebhook(int v) { perWebhook = v; return this; }
        /** See {@link DispatcherOptions#rescanEvery()}. */
        public Builder rescanEvery(Duration v) { rescanEvery = v; return this; }
        /** See {@link DispatcherOptions#env()}. */
        public Builder env(UnaryOperator<String> v) { env = v; return this; }
        /** The version in the {@code User-Agent} ({@code deia/<version>}); null keeps the jar's. */
        public Builder version(String v) { if (v != null && !v.isBlank()) { version = v.trim(); } return this; }

        /** The options. */
        public DispatcherOptions build() {
            return new DispatcherOptions(clock, retry, connectTimeout, requestTimeout, threads, perWebhook, rescanEvery,
                    env, "deia/" + version);
        }

        private static String versionOfThisJar() {
            String v = DispatcherOptions.class.getPackage().getImplementationVersion();
            return v == null ? "dev" : v;
        }
    }
}
