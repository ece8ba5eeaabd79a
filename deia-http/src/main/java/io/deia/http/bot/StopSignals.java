package io.deia.http.bot;

import io.deia.core.bot.BotRuntime;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;

/**
 * Turns SIGTERM into a graceful stop that ends in exit code 0, and keeps a shutdown hook for the
 * other ways a JVM is asked to end (SIGINT, SIGHUP, {@code System.exit} elsewhere).
 */
final class StopSignals {
    private static final Logger log = LoggerFactory.getLogger(StopSignals.class);

    private StopSignals() {
    }

    /**
     * Stops {@code runtime} gracefully on SIGTERM (on a new thread, so the caller waiting for the
     * stop can return 0) and from a shutdown hook when it has not stopped by then.
     */
    static void install(BotRuntime runtime, Duration grace) {
        String botId = runtime.botId();
        Runnable stop = () -> runtime.stop(grace);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            if (!runtime.stopped().isDone()) {
                log.info("[{}] JVM shutting down: stopping the bot", botId);
                stop.run();
            }
        }, "bot-" + botId + "-shutdown"));
        try {
            // sun.misc.Signal is the only JDK way to handle SIGTERM without the exit code 143 that a
            // shutdown hook cannot change; jdk.unsupported exports it on every JDK 17 runtime.
            sun.misc.Signal.handle(new sun.misc.Signal("TERM"), signal -> {
                log.info("[{}] SIGTERM received: stopping gracefully", botId);
                new Thread(stop, "bot-" + botId + "-sigterm").start();
            });
        } catch (IllegalArgumentException | UnsupportedOperationException e) {
            log.info("[{}] SIGTERM handler not available ({}); the shutdown hook stops the bot (exit 143)", botId,
                    e.getMessage());
        }
    }
}
