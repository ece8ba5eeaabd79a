package io.deia.core.task;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Finished tasks whose response (or archive step) could not be written, kept in memory and retried
 * with back-off while the bot runs: a full or read-only disk must not make a task that already ran
 * run again, nor wait for a restart. Until a retry succeeds the task stays claimed, counts in the
 * queue depth, and the bot reports itself {@code degraded} with {@link #reason()}.
 *
 * <p>Retries wait {@value #FIRST_RETRY_MS} ms after the first failure, then twice as long after
 * each failed round, at most {@value #MAX_RETRY_MS} ms: a retry costs one small write, and the
 * operator who frees space should see the backlog drain within seconds. A successful round resets
 * the back-off and, once nothing is kept, clears the reason.
 *
 * <p>Used by the monitor's worker thread, which does the retries itself ({@link TaskOutcomes});
 * {@link #reason()} and {@link #size()} may be read from any thread.
 */
final class PendingResponses {
    /** Wait before the first retry. */
    static final long FIRST_RETRY_MS = 250;
    /** Longest wait between two retries. */
    static final long MAX_RETRY_MS = 5000;
    private static final Logger log = LoggerFactory.getLogger(PendingResponses.class);

    private final String botId;
    private final List<TaskOutcomes.Outcome> kept = new ArrayList<>();
    private long backoffMs = FIRST_RETRY_MS;
    private long nextRetryNanos;
    private volatile String reason;
    private volatile int size;

    PendingResponses(String botId) {
        this.botId = botId;
    }

    /** Keeps {@code item} for a retry; {@code why} is what failed (it becomes the degraded reason). */
    void keep(TaskOutcomes.Outcome item, String why) {
        if (kept.isEmpty()) {
            nextRetryNanos = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(backoffMs);
        }
        kept.add(item);
        size = kept.size();
        String now = "cannot write task responses (" + kept.size() + " kept in memory and retried): " + why;
        if (reason == null) {
            log.error("[{}] {}; the bot is degraded until they are written", botId, now);
        }
        reason = now;
    }

    /** Milliseconds until the next retry is due; {@link Long#MAX_VALUE} when nothing is kept. */
    long millisUntilRetry() {
        if (kept.isEmpty()) {
            return Long.MAX_VALUE;
        }
        return Math.max(0, TimeUnit.NANOSECONDS.toMillis(nextRetryNanos - System.nanoTime()));
    }

    /**
     * The kept tasks when their retry is due (or {@code force}), removed from here: each is kept
     * again by {@link #keep} if its retry fails. Then {@link #roundDone} must follow.
     */
    List<TaskOutcomes.Outcome> takeDue(boolean force) {
        if (kept.isEmpty() || (!force && millisUntilRetry() > 0)) {
            return List.of();
        }
        List<TaskOutcomes.Outcome> due = new ArrayList<>(kept);
        kept.clear();
        return due;
    }

    /**
     * Ends a retry round of {@code retried} tasks: back-off doubles when some were kept again,
     * otherwise it resets, and with nothing kept the degraded reason clears.
     */
    void roundDone(int retried) {
        size = kept.size();
        if (retried == 0) {
            return;
        }
        if (kept.isEmpty()) {
            backoffMs = FIRST_RETRY_MS;
            if (reason != null) {
                log.info("[{}] task responses are written again ({} retried); no longer degraded", botId, retried);
            }
            reason = null;
            return;
        }
        backoffMs = Math.min(MAX_RETRY_MS, backoffMs * 2);
        nextRetryNanos = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(backoffMs);
        log.warn("[{}] {} task response(s) still cannot be written; next try in {} ms", botId, kept.size(), backoffMs);
    }

    /** Why responses are not being written, or null when none is kept. */
    String reason() {
        return reason;
    }

    /** Tasks kept now. */
    int size() {
        return size;
    }
}
