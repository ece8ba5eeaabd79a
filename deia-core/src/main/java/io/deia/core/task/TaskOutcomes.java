package io.deia.core.task;

import io.deia.core.HiveLayout;
import io.deia.core.agent.TurnResult;
import io.deia.core.internal.io.AtomicFiles;
import io.deia.core.internal.io.LogSafe;
import io.deia.core.ledger.Ledger;
import io.deia.core.ledger.LedgerEntry;
import io.deia.core.project.TaskChange;
import io.deia.core.webhook.WebhookOutbox;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;

/**
 * Records the final outcome of a claimed task, each step durable before the next: the response
 * file (forced to disk, then its folder), then the task renamed into the archive (both folders
 * synced), then its state dropped, and only then the outcome logged and its event published. So no
 * event ever describes a step that a crash could undo, and a task leaves the claimed folder only
 * once its response is durable.
 *
 * <p><b>Crashes.</b> Until the archive rename is durable the task is still claimed. A monitor that
 * adopts it finds its response by claim key and only archives it; without a response it runs the
 * task again, as after a crash during the agent's turn.
 *
 * <p><b>Disk trouble.</b> An outcome whose response or archive step fails with an I/O error (a full
 * or read-only disk) is kept in memory ({@link PendingResponses}) and retried by {@link #retryDue}
 * with back-off while the bot runs: it stays claimed, counts as pending, publishes no event until
 * the retry succeeds, and is never run again. A retry first looks for the response this claim
 * already wrote, so a response whose folder sync failed is not written twice. Only a bot that stops
 * before a retry succeeds leaves it claimed for its next start.
 *
 * <p>Used by the monitor's worker thread; {@link #degradedReason()} and {@link #kept()} from any.
 */
final class TaskOutcomes {
    private static final Logger log = LoggerFactory.getLogger(TaskOutcomes.class);

    private final String botId;
    private final HiveLayout layout;
    private final String agentId;
    private final ResponseFiles responses;
    private final ClaimedTasks claims;
    private final TaskEventListener listener;
    private final PendingResponses kept;
    /** The bot's profile, named in its ledger lines. */
    private final String profile;
    private final Ledger ledger;
    private final TaskWebhooks webhooks;

    /** A finished task: its response to write (or the one it already has) and its final event. */
    static final class Outcome {
        final ClaimedTasks.Claim claim;
        final TaskResponse response;
        final Path existingResponse;
        final String event;
        /** True once a try failed: the response may exist already. */
        boolean retried;

        private Outcome(ClaimedTasks.Claim claim, TaskResponse response, Path existingResponse, String event) {
            this.claim = claim;
            this.response = response;
            this.existingResponse = existingResponse;
            this.event = event;
        }

        /** A recovered task whose response is already durable: archive only, no event. */
        static Outcome answered(ClaimedTasks.Claim claim, Path response) {
            return new Outcome(claim, null, response, null);
        }
    }

    TaskOutcomes(String botId, HiveLayout layout, String agentId, String profile, ClaimedTasks claims,
                 TaskEventListener listener, WebhookOutbox webhookOutbox) {
        this.botId = botId;
        this.layout = layout;
        this.agentId = agentId;
        this.responses = new ResponseFiles(layout);
        this.claims = claims;
        this.listener = listener;
        this.kept = new PendingResponses(botId);
        this.profile = profile;
        this.ledger = new Ledger(layout);
        this.webhooks = new TaskWebhooks(botId, webhookOutbox);
    }

    /** Publishes one transition; a failing listener is logged and otherwise ignored. */
    void emit(String taskId, String event, TaskStatus status, int attempt, String error) {
        try {
            listener.onTaskEvent(new TaskEvent(botId, taskId, event, status, attempt, error));
        } catch (RuntimeException e) {
            log.warn("[{}] task event listener failed on {} {}: {}", botId, event, taskId, e.toString());
        }
    }

    /**
     * For a recovered claim whose response was written before its monitor died (see the class
     * comment): archives it, without a second outcome, and returns true; false when it has none.
     */
    boolean archiveIfAnswered(ClaimedTasks.Claim claim, String taskId) {
        Optional<Path> answer = responses.findByClaim(botId, taskId, claim.key);
        answer.ifPresent(r -> record(Outcome.answered(claim, r)));
        return answer.isPresent();
    }

    /** Bad input or a denied prompt: a {@code rejected} response naming the reason. */
    void rejected(ClaimedTasks.Claim claim, String taskId, String why) {
        Instant now = Instant.now();
        record(new Outcome(claim, new TaskResponse(taskId, botId, TaskStatus.REJECTED, claim.attempts, now, now, 0, null,
                agentId, null, null, null, null, "", why, null), null, TaskEvent.REJECTED));
    }

    /**
     * A task's last attempt ended with {@code result}; with no result (every attempt was cut short
     * by crashes) it failed for {@code gaveUp}. {@code change} is what it did to its project, or null.
     */
    void finished(ClaimedTasks.Claim claim, String taskId, TurnResult result, int attempt, Instant started, String gaveUp,
                  TaskChange change) {
        Instant finished = Instant.now();
        TaskResponse r;
        if (result == null) {
            r = new TaskResponse(taskId, botId, TaskStatus.FAILED, attempt, started, finished, 0, null, agentId,
                    null, null, null, null, "", gaveUp, change);
        } else {
            TaskStatus status = switch (result.status()) {
                case COMPLETED -> TaskStatus.COMPLETED;
                case FAILED -> TaskStatus.FAILED;
                case TIMEOUT -> TaskStatus.TIMEOUT;
                case INTERRUPTED -> TaskStatus.INTERRUPTED;
            };
            String error = result.error();
            if (error == null && status != TaskStatus.COMPLETED) {
                error = "the turn ended with status " + result.status().id()
                        + (result.exitCode() == null ? "" : " (exit code " + result.exitCode() + ")");
            }
            r = new TaskResponse(taskId, botId, status, attempt, started, finished,
                    Duration.between(started, finished).toMillis(), result.exitCode(), agentId,
                    result.costUsd(), result.inputTokens(), result.outputTokens(), result.sessionId(), result.text(), error, change);
        }
        record(new Outcome(claim, r, null, r.status() == TaskStatus.COMPLETED ? TaskEvent.COMPLETED : TaskEvent.FAILED));
    }

    /** Retries the kept outcomes whose back-off ran out ({@code force}: all of them, at close). */
    void retryDue(boolean force) {
        List<Outcome> due = kept.takeDue(force);
        for (Outcome o : due) {
            record(o);
        }
        kept.roundDone(due.size());
    }

    /** At close: outcomes still kept stay claimed, so the next start of the bot runs them again. */
    void giveUp() {
        for (Outcome o : kept.takeDue(true)) {
            log.error("[{}] the bot stops before the response of task {} could be written; it stays claimed and "
                    + "the next start of the bot retries it", botId, LogSafe.printable(o.claim.originalName));
        }
        kept.roundDone(0);
    }

    /** Milliseconds until kept outcomes are retried; {@link Long#MAX_VALUE} when none is kept. */
    long millisUntilRetry() {
        return kept.millisUntilRetry();
    }

    /** Outcomes kept for a retry now. */
    int kept() {
        return kept.size();
    }

    /** Why finished tasks' responses cannot be written now, or null when they can. */
    String degradedReason() {
        return kept.reason();
    }

    private void record(Outcome o) {
        ClaimedTasks.Claim c = o.claim;
        Path written;
        try {
            written = o.existingResponse;
            if (written == null && o.retried) {
                written = responses.findByClaim(botId, o.response.taskId(), c.key).orElse(null);
                if (written != null) {
                    // Written by the failed try, whose folder sync may not have happened.
                    AtomicFiles.fsyncDirectory(written.getParent());
                }
            }
            if (written == null) {
                written = responses.write(o.response, c.key, c.originalName);
            }
            // Durable response first, webhook event next, archive last: a crash in between finds the
            // response again and writes the same event (same id) again, so none is lost.
            webhooks.publish(o.response, written, c.key);
            String id = idOf(written);
            if (o.retried && !Files.exists(c.file, LinkOption.NOFOLLOW_LINKS)) {
                // Renamed by the failed try, whose folder sync may not have happened.
                AtomicFiles.fsyncDirectory(layout.archiveDir(botId));
                claims.dropState(c);
            } else {
                boolean isDir = Files.isDirectory(c.file, LinkOption.NOFOLLOW_LINKS);
                Path to = claims.archive(c, layout.archiveDir(botId), isDir ? id : id + ".md");
                log.debug("[{}] archived {} as {}", botId, LogSafe.printable(c.originalName), to.getFileName());
            }
            report(o, id, written);
        } catch (IOException | RuntimeException e) {
            if (!isIoTrouble(e)) {
                // Not the disk (an id no response can take): a retry would fail forever.
                log.error("[{}] cannot record the outcome of task {}; it stays claimed", botId, LogSafe.printable(c.originalName), e);
                return;
            }
            log.warn("[{}] cannot record the outcome of task {}; kept in memory and retried: {}", botId,
                    LogSafe.printable(c.originalName), LogSafe.printable(e.toString()));
            o.retried = true;
            kept.keep(o, e.getMessage());
        }
    }

    private void report(Outcome o, String id, Path written) {
        if (o.event == null) {
            log.info("[{}] task {} already had its response {}; archived", botId, id, written.getFileName());
            return;
        }
        TaskResponse r = o.response;
        if (TaskEvent.REJECTED.equals(o.event)) {
            log.warn("[{}] rejected task {}: {}", botId, LogSafe.printable(o.claim.originalName), LogSafe.printable(r.error()));
        } else {
            log.info("[{}] task {} {} after {} attempt(s) in {} ms; response {}", botId, r.taskId(), r.status().id(),
                    r.attempt(), r.durationMs(), written.getFileName());
        }
        recordInLedger(id, r);
        emit(id, o.event, r.status(), r.attempt(), r.error());
    }

    /**
     * The task's final outcome as a {@code task} line of the bot's ledger, once its response is
     * durable. A ledger that cannot be written costs the line, never the response.
     */
    private void recordInLedger(String taskId, TaskResponse r) {
        try {
            ledger.append(LedgerEntry.task(r.finishedAt() != null ? r.finishedAt() : Instant.now(), botId, profile, taskId,
                    r.attempt(), r.status().id()));
        } catch (RuntimeException e) {
            log.error("[{}] task {} {}: cannot record its outcome in the ledger: {}", botId, taskId, r.status().id(),
                    LogSafe.printable(e.getMessage()));
        }
    }

    /** True when an I/O error (full or read-only disk, a folder in the way) is behind {@code e}. */
    static boolean isIoTrouble(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof IOException || t instanceof UncheckedIOException) {
                return true;
            }
        }
        return false;
    }

    private static String idOf(Path response) {
        String n = response.getFileName().toString();
        return n.substring(0, n.length() - ResponseFiles.SUFFIX.length());
    }
}
