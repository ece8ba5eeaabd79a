package io.deia.core.task;

import io.deia.core.DeiaException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * The start mark of each attempt (see {@link ClaimedTasks#recordAttempt}), and what happens when it
 * cannot be written: on a full or read-only disk an attempt that is not recorded as started must
 * not run (a crash would not count it), and its claim must not sit stranded in the claimed folder
 * until a restart. So a claim that never started is renamed back into the inbox (a rename needs no
 * free space), the monitor waits before it claims anything again (back-off from
 * {@value #FIRST_WAIT_MS} ms, doubling, at most {@value #MAX_WAIT_MS} ms), and the bot reports
 * itself {@code degraded} with {@link #reason()} until a start mark is written again.
 *
 * <p>Used on the monitor's worker thread; {@link #reason()} may be read from any thread.
 */
final class TaskStarts {
    /** Wait after the first failed start mark. */
    static final long FIRST_WAIT_MS = 250;
    /** Longest wait between two tries. */
    static final long MAX_WAIT_MS = 5000;
    private static final Logger log = LoggerFactory.getLogger(TaskStarts.class);

    private final String botId;
    private final ClaimedTasks claims;
    private long waitMs = FIRST_WAIT_MS;
    private long blockedUntilNanos;
    private volatile String reason;

    TaskStarts(String botId, ClaimedTasks claims) {
        this.botId = botId;
        this.claims = claims;
        this.blockedUntilNanos = System.nanoTime();
    }

    /**
     * Records that attempt {@code attempt} of {@code claim} starts.
     *
     * @return true when recorded (run it); false when it could not be: the caller puts the claim
     * back ({@link #putBack}) or keeps it to retry after {@link #millisBlocked()}
     */
    boolean begin(ClaimedTasks.Claim claim, int attempt) {
        try {
            claims.recordAttempt(claim, attempt);
        } catch (DeiaException e) {
            failed(claim, e.getMessage());
            return false;
        }
        if (reason != null) {
            log.info("[{}] task starts are recorded again; no longer degraded", botId);
            reason = null;
        }
        waitMs = FIRST_WAIT_MS;
        return true;
    }

    private void failed(ClaimedTasks.Claim claim, String why) {
        String now = "cannot record the start of task " + claim.originalName + ": " + why;
        if (reason == null) {
            log.error("[{}] {}; the bot is degraded and takes no task until starts can be recorded", botId, now);
        } else {
            log.warn("[{}] {}; next try in {} ms", botId, now, waitMs);
        }
        reason = now;
        blockedUntilNanos = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(waitMs);
        waitMs = Math.min(MAX_WAIT_MS, waitMs * 2);
    }

    /**
     * Puts a claim that never started back into the inbox.
     *
     * @return false when even the rename failed (a read-only disk): the claim stays in this
     * monitor's folder, for the caller to try again after the wait
     */
    boolean putBack(ClaimedTasks.Claim claim) {
        try {
            Path back = claims.putBack(claim);
            log.info("[{}] task {} put back into the inbox as {}", botId, claim.originalName, back.getFileName());
            return true;
        } catch (IOException | RuntimeException e) {
            log.warn("[{}] cannot put task {} back into the inbox; it stays claimed and is tried again: {}", botId,
                    claim.originalName, e.toString());
            return false;
        }
    }

    /** Milliseconds the monitor must still wait before it claims or starts a task (0: none). */
    long millisBlocked() {
        return Math.max(0, TimeUnit.NANOSECONDS.toMillis(blockedUntilNanos - System.nanoTime()));
    }

    /** Why task starts cannot be recorded, or null when they can. */
    String reason() {
        return reason;
    }
}
