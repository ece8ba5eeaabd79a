package io.deia.core.task;

import io.deia.core.DeiaException;
import io.deia.core.HiveLayout;
import io.deia.core.config.DeiaConfig;
import io.deia.core.config.HiveSettings;
import io.deia.core.config.HiveSettingsFile;
import io.deia.core.config.Profile;
import io.deia.core.internal.BotIds;
import io.deia.core.internal.HiveGuard;
import io.deia.core.webhook.WebhookOutbox;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.time.Duration;
import java.util.Objects;
import java.util.function.Supplier;

/**
 * Runs a bot's task inbox ({@code hive/tasks/<BOT-ID>/}) on one thread: notices new task files
 * ({@link InboxWatch}), claims them one at a time in priority-then-age order, runs each through a
 * {@link TaskExecutor}, retries failed attempts with the profile's back-off, writes exactly one
 * durable response per task and archives the task file ({@link TaskWorker}, {@link TaskOutcomes}).
 * Made with {@link #builder()}.
 *
 * <p><b>Claiming and crashes.</b> See {@link ClaimedTasks}: a claim is an atomic rename into this
 * monitor's own folder under {@code hive/claimed/<BOT-ID>/}; several monitors may share one inbox and
 * exactly one wins each file. A monitor that starts adopts the folders of dead monitors (never a
 * live one's) and retries their tasks with the attempt count kept, or fails them on purpose once
 * {@code max_attempts} is used up; a task whose response was already written is only archived.
 *
 * <p><b>Disk trouble.</b> A start that cannot be recorded puts its claim back into the inbox
 * ({@link TaskStarts}); a response that cannot be written is kept and retried ({@link
 * PendingResponses}); meanwhile no task starts and {@link #degradedReason()} says why.
 *
 * <p><b>Bad input</b> (empty, binary, invalid UTF-8, over {@code max_task_bytes}, unreadable front
 * matter, a symbolic link, a folder, a name without {@code .md}) and a prompt matching a deny pattern
 * of the profile are claimed like any task and get a {@code rejected} response naming the reason;
 * it is archived and the monitor goes on. Names starting with {@code .} are in-progress temp files
 * of writers and are not tasks.
 */
public final class TaskQueueMonitor implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(TaskQueueMonitor.class);
    private static final Duration CLOSE_WAIT = Duration.ofSeconds(30);

    private final String botId;
    private final HiveLayout layout;
    private final ClaimedTasks claims;
    private final InboxWatch inbox;
    private final TaskWorker worker;
    private Thread thread;
    private boolean started;
    private boolean closed;

    private TaskQueueMonitor(Builder b) {
        this.botId = BotIds.requireValid(b.botId);
        this.layout = Objects.requireNonNull(b.hive, "hive");
        Profile profile = Objects.requireNonNull(b.profile, "profile");
        TaskFileParser parser = new TaskFileParser(Objects.requireNonNull(b.config, "config").maxTaskBytes());
        this.claims = new ClaimedTasks(botId, layout);
        this.inbox = new InboxWatch(botId, layout, parser);
        TaskOutcomes outcomes = new TaskOutcomes(botId, layout, profile.agent().id(), profile.name(), claims,
                b.listener == null ? TaskEventListener.NONE : b.listener, b.webhooks != null ? b.webhooks
                        : new WebhookOutbox(layout, new HiveSettingsFile(layout, HiveSettings.of(b.config))::current));
        this.worker = new TaskWorker(botId, layout, profile, parser, claims, inbox, new TaskAttempt(b.executor), outcomes,
                b.hold == null ? () -> null : b.hold);
    }

    /** A builder; bot id, hive, config, profile and executor are required, the listener is not. */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Creates the folders, registers the watches and starts the worker. Tasks left claimed by a
     * dead monitor are adopted by the worker before it takes anything new.
     *
     * @throws DeiaException when the folders cannot be created or watched, or it was started before
     */
    public synchronized void start() {
        if (started) {
            throw DeiaException.conflict("task monitor of %s already started", botId);
        }
        try {
            // Each folder is checked (a real folder of ours, no link) before anything is read from or
            // moved into it: a linked inbox would feed files from elsewhere to the agent as prompts.
            HiveGuard.dir(layout, layout.inboxDir(botId));
            HiveGuard.dir(layout, layout.controlsDir());
            HiveGuard.dir(layout, layout.responsesDir(botId));
            HiveGuard.dir(layout, layout.archiveDir(botId));
            claims.open();
            inbox.open();
        } catch (IOException e) {
            inbox.close();
            claims.close(true);
            throw DeiaException.io("cannot watch", layout.inboxDir(botId), e);
        }
        started = true;
        thread = new Thread(worker, "deia-task-worker-" + botId);
        thread.start();
        log.info("[{}] task monitor started on {} (owner {})", botId, layout.inboxDir(botId), claims.ownerName());
    }

    /**
     * Stops taking tasks and waits for the worker. A task whose turn is running is interrupted; if
     * it does not reach a final outcome it stays claimed and is retried by the next monitor.
     */
    @Override
    public void close() {
        Thread t;
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            t = thread;
        }
        worker.close();
        // From the worker itself (a listener closing the monitor) there is nothing to wait for.
        if (t != null && t != Thread.currentThread()) {
            try {
                t.join(CLOSE_WAIT.toMillis());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            if (t.isAlive()) {
                log.warn("[{}] task worker still busy {} s after close; its claim stays owned until it ends", botId,
                        CLOSE_WAIT.toSeconds());
            }
        }
        log.info("[{}] task monitor closed", botId);
    }

    /** Tasks waiting in the inbox or claimed and not finished, as this monitor knows them. */
    public int pendingCount() {
        return worker.pendingCount();
    }

    /**
     * Why the inbox cannot work normally now (task starts or responses cannot be written, see
     * {@link TaskStarts} and {@link PendingResponses}), or null when it can.
     */
    public String degradedReason() {
        return worker.degradedReason();
    }

    /** The task being worked on, or null when idle. */
    public String currentTaskId() {
        return worker.currentTaskId();
    }

    /** True while the pause file exists. */
    public boolean isPaused() {
        return inbox.isPaused();
    }

    /** Builds a {@link TaskQueueMonitor}. */
    public static final class Builder {
        private String botId;
        private HiveLayout hive;
        private DeiaConfig config;
        private Profile profile;
        private TaskExecutor executor;
        private TaskEventListener listener;
        private Supplier<String> hold;
        private WebhookOutbox webhooks;

        private Builder() {
        }

        /** The bot whose inbox the monitor runs. */
        public Builder botId(String botId) {
            this.botId = botId;
            return this;
        }

        /** The hive. */
        public Builder hive(HiveLayout hive) {
            this.hive = hive;
            return this;
        }

        /** Limits ({@code max_task_bytes}). */
        public Builder config(DeiaConfig config) {
            this.config = config;
            return this;
        }

        /** Timeout, attempts, back-off, deny patterns and the agent named in responses. */
        public Builder profile(Profile profile) {
            this.profile = profile;
            return this;
        }

        /** Runs one attempt of a task. */
        public Builder executor(TaskExecutor executor) {
            this.executor = executor;
            return this;
        }

        /** Receives every transition, on the monitor's thread; none when not set. */
        public Builder listener(TaskEventListener listener) {
            this.listener = listener;
            return this;
        }

        /**
         * Why no new task may be claimed now, or null when one may (asked before every claim and at
         * least every rescan, on the monitor's thread): while it gives a reason, tasks stay in the
         * inbox untouched, as with the pause file. A bot over its budget holds its inbox so.
         */
        public Builder hold(Supplier<String> hold) {
            this.hold = hold;
            return this;
        }

        /**
         * Where the {@code task.completed} and {@code task.failed} webhook events go; by default the
         * hive's outbox with the event types of {@code hive/settings.json} (or of the config).
         */
        public Builder webhooks(WebhookOutbox webhooks) {
            this.webhooks = webhooks;
            return this;
        }

        /** The monitor, not started yet. */
        public TaskQueueMonitor build() {
            return new TaskQueueMonitor(this);
        }
    }
}
