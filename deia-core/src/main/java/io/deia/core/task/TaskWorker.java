package io.deia.core.task;

import io.deia.core.HiveLayout;
import io.deia.core.agent.TurnResult;
import io.deia.core.agent.TurnStatus;
import io.deia.core.config.Profile;
import io.deia.core.internal.DenyPatterns;
import io.deia.core.internal.io.AtomicFiles;
import io.deia.core.internal.io.LogSafe;
import io.deia.core.project.TaskChange;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.Optional;
import java.util.function.Supplier;

/**
 * The one loop of a {@link TaskQueueMonitor}, on its one thread: take the best task (claims of dead
 * monitors first), claim it (one durable rename), record each attempt as started and run it,
 * retrying failed attempts after the profile's back-off, then record the outcome ({@link
 * TaskOutcomes}: durable response, then archive, then event). Each step is durable before the
 * next begins, and one task is claimed at a time.
 *
 * <p>Nothing is taken while the inbox is paused or held (a bot over its budget), while a start mark cannot be written ({@link
 * TaskStarts}: the claim goes back to the inbox) or while a finished task's response waits to be
 * written ({@link PendingResponses}): a new turn's result could not be stored either.
 */
final class TaskWorker implements Runnable {
    private static final Logger log = LoggerFactory.getLogger(TaskWorker.class);

    private final String botId;
    private final HiveLayout layout;
    private final Profile profile;
    private final TaskFileParser parser;
    private final DenyPatterns denyPatterns;
    private final ClaimedTasks claims;
    private final TaskStarts starts;
    private final InboxWatch inbox;
    private final TaskAttempt attempt;
    private final TaskOutcomes outcomes;
    /** Why no new task may be claimed now (a reached budget), or null. */
    private final Supplier<String> hold;
    /** The hold reason last seen, so each change is logged once. */
    private String held;
    /** Claims of dead monitors, taken over and run before anything new. */
    private final Deque<ClaimedTasks.Claim> adopted = new ArrayDeque<>();
    private volatile boolean closed;
    private volatile String currentTaskId;
    private volatile int queued;

    TaskWorker(String botId, HiveLayout layout, Profile profile, TaskFileParser parser, ClaimedTasks claims,
               InboxWatch inbox, TaskAttempt attempt, TaskOutcomes outcomes, Supplier<String> hold) {
        this.botId = botId;
        this.layout = layout;
        this.profile = profile;
        this.parser = parser;
        this.denyPatterns = DenyPatterns.of(profile);
        this.claims = claims;
        this.starts = new TaskStarts(botId, claims);
        this.inbox = inbox;
        this.attempt = attempt;
        this.outcomes = outcomes;
        this.hold = hold;
    }

    /** Ends the loop: the running attempt is interrupted and any wait ends. */
    void close() {
        closed = true;
        attempt.interrupt();
        inbox.close();
    }

    /** Tasks waiting in the inbox, claimed or kept for a response retry, as this worker knows them. */
    int pendingCount() {
        return queued + (currentTaskId != null ? 1 : 0) + outcomes.kept();
    }

    /** The task being worked on, or null. */
    String currentTaskId() {
        return currentTaskId;
    }

    /** Why tasks cannot start now, or null (see the class comment). */
    String degradedReason() {
        String start = starts.reason();
        String response = outcomes.degradedReason();
        if (start == null) {
            return response;
        }
        return response == null ? start : start + "; " + response;
    }

    @Override
    public void run() {
        boolean clean = false;
        try {
            adopted.addAll(claims.adoptDead());
            cleanStaleTempFiles();
            while (!closed) {
                try {
                    step();
                } catch (RuntimeException e) {
                    // A failing disk or a surprise must not end the inbox; the next scan retries.
                    log.error("[{}] task monitor step failed; retrying after a rescan", botId, e);
                    inbox.requestRescan();
                    inbox.await(InboxWatch.RESCAN_INTERVAL_MS);
                }
            }
            clean = true;
        } catch (RuntimeException e) {
            log.error("[{}] task monitor could not start its worker", botId, e);
        } finally {
            currentTaskId = null;
            // One last try for the responses kept, then what is left stays claimed for the next start.
            outcomes.retryDue(true);
            outcomes.giveUp();
            claims.close(clean);
        }
    }

    private void step() {
        if (inbox.refresh()) {
            // Monitors that died while this one runs leave claims behind: take them over too.
            adopted.addAll(claims.adoptDead());
        }
        queued = inbox.size() + adopted.size();
        outcomes.retryDue(false);
        long retry = outcomes.millisUntilRetry();
        long blocked = Math.max(starts.millisBlocked(), retry == Long.MAX_VALUE ? 0 : Math.max(1, retry));
        if (!inbox.paused() && blocked == 0 && !held()) {
            ClaimedTasks.Claim next = adopted.isEmpty() ? claimNext() : adopted.poll();
            if (next != null) {
                process(next);
                return;
            }
        }
        inbox.await(blocked > 0 ? blocked : inbox.millisToRescan());
    }

    /**
     * True while the hold says no new task may be claimed: nothing is claimed and the inbox is left
     * as it is. Asked again at the next change of the inbox or rescan, so a new UTC day or a raised
     * budget resumes work within one rescan interval.
     */
    private boolean held() {
        String why;
        try {
            why = hold.get();
        } catch (RuntimeException e) {
            log.warn("[{}] cannot tell whether tasks are held: {}", botId, LogSafe.printable(e.toString()));
            why = null;
        }
        if (!java.util.Objects.equals(why, held)) {
            if (why != null && held == null) {
                log.info("[{}] task inbox held: {}", botId, LogSafe.printable(why));
            } else if (why == null) {
                log.info("[{}] task inbox no longer held", botId);
            }
        }
        held = why;
        return why != null;
    }

    /** Claims the best inbox task; one rename, durable before it returns. */
    private ClaimedTasks.Claim claimNext() {
        String name;
        while (!closed && (name = inbox.pollFirst()) != null) {
            try {
                Optional<ClaimedTasks.Claim> claim = claims.claim(name);
                if (claim.isPresent()) {
                    return claim.get();
                }
                log.debug("[{}] {} was taken by another monitor", botId, LogSafe.printable(name));
            } catch (IOException | RuntimeException e) {
                log.warn("[{}] cannot claim {}: {}", botId, LogSafe.printable(name), LogSafe.printable(e.toString()));
                inbox.requestRescan();
            }
        }
        return null;
    }

    private void process(ClaimedTasks.Claim claim) {
        Task task = null;
        String refused = null;
        try {
            task = parser.parse(claim.file, claim.originalName);
            // Every task reaches the agent through here, however it entered the inbox (API, CLI, a file).
            refused = denyPatterns.refusal("task " + task.taskId(), task.prompt()).orElse(null);
        } catch (TaskFileException e) {
            refused = e.getMessage();
        }
        String taskId = task != null ? task.taskId() : TaskIds.fromFileName(claim.originalName);
        currentTaskId = taskId;
        try {
            if (claim.recovered && outcomes.archiveIfAnswered(claim, taskId)) {
                return;
            }
            log.info("[{}] claimed task {} ({}{})", botId, taskId, LogSafe.printable(claim.originalName),
                    claim.recovered ? ", recovered after " + claim.attempts + " attempt(s)" : "");
            outcomes.emit(taskId, TaskEvent.CLAIMED, null, claim.attempts, null);
            if (refused != null) {
                outcomes.rejected(claim, taskId, refused);
            } else {
                runAttempts(claim, task);
            }
        } finally {
            currentTaskId = null;
        }
    }

    private void runAttempts(ClaimedTasks.Claim claim, Task task) {
        int max = profile.maxAttempts();
        Duration timeout = task.timeout() != null ? task.timeout() : profile.timeout();
        int n = claim.attempts;
        if (n >= max) {
            outcomes.finished(claim, task.taskId(), null, n, Instant.now(), "attempt " + n + " of " + max
                    + " was cut short (the bot stopped or crashed while running it); no attempt is left", changeOf(task));
            return;
        }
        Instant firstStart = null;
        while (true) {
            n++;
            if (!starts.begin(claim, n)) {
                startFailed(claim);
                return;
            }
            outcomes.emit(task.taskId(), TaskEvent.STARTED, null, n, null);
            log.info("[{}] task {} attempt {}/{} started (timeout {} s)", botId, task.taskId(), n, max, timeout.toSeconds());
            if (firstStart == null) {
                firstStart = Instant.now();
            }
            TurnResult result = attempt.run(task, n, timeout);
            if (closed && result.status() == TurnStatus.INTERRUPTED) {
                log.info("[{}] task {} interrupted by shutdown; it stays claimed and is retried on restart", botId, task.taskId());
                return;
            }
            if (result.status() == TurnStatus.COMPLETED || result.status() == TurnStatus.INTERRUPTED || n >= max) {
                outcomes.finished(claim, task.taskId(), result, n, firstStart, null, changeOf(task));
                return;
            }
            long backoff = profile.retryBackoffMs() * (1L << Math.min(20, n - 1));
            log.warn("[{}] task {} attempt {}/{} {}: {}; retrying in {} ms", botId, task.taskId(), n, max,
                    result.status().id(), LogSafe.printable(result.error(), 2000), backoff);
            outcomes.emit(task.taskId(), TaskEvent.RETRYING, null, n, result.error());
            if (!backoff(backoff)) {
                log.info("[{}] task {} left claimed for the next start (closing during backoff)", botId, task.taskId());
                return;
            }
            if (!awaitNoHold()) {
                log.info("[{}] task {} left claimed for the next start (closing while held)", botId, task.taskId());
                return;
            }
        }
    }

    /** What the task did to its project, for its response; null without one or when git cannot tell. */
    private TaskChange changeOf(Task task) {
        try {
            return attempt.changeOf(task);
        } catch (RuntimeException e) {
            log.error("[{}] task {}: cannot read what it changed in its project; the response goes without it: {}",
                    botId, task.taskId(), LogSafe.printable(e.getMessage()));
            return null;
        }
    }

    /**
     * A start that could not be recorded: a claim that never ran goes back to the inbox (see
     * {@link TaskStarts}), so it does not wait stranded in the claimed folder. One that had run
     * before (its count must be kept), or that cannot be renamed back (a read-only disk), stays ours
     * and is tried again after the wait.
     */
    private void startFailed(ClaimedTasks.Claim claim) {
        if (claim.attempts > 0 || !starts.putBack(claim)) {
            adopted.addFirst(claim);
        }
        inbox.requestRescan();
    }

    /**
     * Before a retry: waits while the hold says no new turn may start (the budget was reached by the
     * failed attempt), checking at every change or rescan; false when the monitor closes meanwhile.
     */
    private boolean awaitNoHold() {
        while (!closed && held()) {
            inbox.await(InboxWatch.RESCAN_INTERVAL_MS);
        }
        return !closed;
    }

    /** Waits out a retry's back-off; false when the monitor closes meanwhile. */
    private boolean backoff(long millis) {
        long deadline = System.nanoTime() + millis * 1_000_000;
        long left;
        while (!closed && (left = (deadline - System.nanoTime()) / 1_000_000) > 0) {
            inbox.await(left);
        }
        return !closed;
    }

    /**
     * Removes temp files a killed writer left in this bot's response and archive folders, only when
     * no other monitor of the bot is alive (a live one may be writing there right now).
     */
    private void cleanStaleTempFiles() {
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(layout.claimedDir(botId))) {
            for (Path owner : ds) {
                if (!owner.getFileName().toString().equals(claims.ownerName()) && ClaimedTasks.isAlive(owner)) {
                    return;
                }
            }
        } catch (IOException e) {
            return;
        }
        int removed = AtomicFiles.cleanTempFiles(layout.responsesDir(botId)) + AtomicFiles.cleanTempFiles(layout.archiveDir(botId));
        if (removed > 0) {
            log.info("[{}] removed {} temp file(s) left by a crashed writer", botId, removed);
        }
    }
}
