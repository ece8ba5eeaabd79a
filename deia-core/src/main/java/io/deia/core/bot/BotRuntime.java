package io.deia.core.bot;

import io.deia.core.DeiaException;
import io.deia.core.HiveLayout;
import io.deia.core.agent.Agent;
import io.deia.core.agent.AgentEventListener;
import io.deia.core.agent.AgentHealth;
import io.deia.core.agent.AgentLeftovers;
import io.deia.core.agent.TurnResult;
import io.deia.core.config.DeiaConfig;
import io.deia.core.config.HiveSettings;
import io.deia.core.config.HiveSettingsFile;
import io.deia.core.config.Profile;
import io.deia.core.internal.BotIds;
import io.deia.core.internal.HiveGuard;
import io.deia.core.internal.io.AtomicFiles;
import io.deia.core.internal.io.Json;
import io.deia.core.permission.PermissionBroker;
import io.deia.core.project.BotWorktree;
import io.deia.core.registry.BotState;
import io.deia.core.registry.ServiceRegistry;
import io.deia.core.schedule.TurnSlots;
import io.deia.core.task.TaskEvent;
import io.deia.core.task.TaskQueueMonitor;
import io.deia.core.webhook.WebhookOutbox;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.time.Duration;
import java.time.Instant;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;

// Over ~400 lines because it is the embedders' in-process bot: the start and stop that wire its parts
// together, the calls an embedder makes (chat, pause, interrupt, status, permissions) and its builder.
/**
 * One bot, in process: its agent, its task inbox monitor, its chat queue and its heartbeat. How it
 * is hosted (its own JVM behind {@code BotHttpService}, or many per JVM) is not its concern.
 *
 * <p>One turn at a time: chat messages (in arrival order) and tasks (in the monitor's order) take
 * turns through a fair lock, so neither starves the other. A chat message waits in a bounded queue
 * ({@link Profile#messageQueueCapacity()}); one more is refused with {@code TOO_MANY_REQUESTS}, and
 * a message that cannot run because the bot stops is failed with {@code UNAVAILABLE}: none is
 * dropped silently.
 *
 * <p>State: {@code starting → idle ↔ busy}, {@code paused} while the pause file exists (the running
 * turn finishes, no new task is taken; chat still works), {@code degraded} while the task inbox
 * cannot write to the hive (see {@link TaskQueueMonitor#degradedReason()}), {@code queued} while its next turn
 * waits for a slot under the hive's turn limits ({@link io.deia.core.schedule.TurnSlots}), {@code over_budget} once a budget
 * of the hive or its profile is reached (the running turn finishes; tasks stay in the inbox and chat is
 * refused with {@code BUDGET_EXCEEDED} until the budget allows), {@code waiting_approval} while the
 * agent waits for a person's permission ({@link #permissions()}), {@code stopping} at the end. Every change
 * is logged once and published on the {@link #events() event bus}.
 *
 * <p>This class wires the parts together and owns the start and the stop; the turns, the chat
 * queue, the state with the registry entry and the counters are package-private classes of their own.
 */
public final class BotRuntime implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(BotRuntime.class);

    /** How long {@link #stop} waits for an interrupted turn to end before closing the agent anyway. */
    private static final Duration INTERRUPT_WAIT = Duration.ofSeconds(5);
    /** How many events {@code /events} can replay. */
    private static final int EVENT_BUFFER_SIZE = 1000;

    private final String botId;
    private final Profile profile;
    private final DeiaConfig config;
    private final HiveLayout hive;
    private final ServiceRegistry registry;
    private final Agent agent;
    private final int port;
    private final BotEventBus events;
    private final BotStats stats = new BotStats();
    private final Turns turns;
    private final ChatQueue chat;
    private final Presence presence;
    private final BotPermissions permissions;
    private final BotCosts costs;
    /** Where this bot's webhook events go (task outcomes, permission requests). */
    private final WebhookOutbox webhooks;

    private volatile boolean started;
    private final AtomicBoolean stopping = new AtomicBoolean();
    private volatile Instant startedAt;
    private volatile TaskQueueMonitor monitor;
    private final CompletableFuture<Void> stopped = new CompletableFuture<>();
    /** Completes when {@link #start} has entered the bot's first state or failed, or a stop began: the end of {@code starting}. */
    private final CompletableFuture<Void> startEnded = new CompletableFuture<>();

    private BotRuntime(Builder b) {
        this.botId = BotIds.requireValid(b.botId);
        this.profile = Objects.requireNonNull(b.profile, "profile");
        this.config = Objects.requireNonNull(b.config, "config");
        this.hive = Objects.requireNonNull(b.hive, "hive");
        this.registry = Objects.requireNonNull(b.registry, "registry");
        this.agent = Objects.requireNonNull(b.agent, "agent");
        if (b.port < 0 || b.port > 65535) {
            throw new IllegalArgumentException("port must be 0..65535, was " + b.port);
        }
        this.port = b.port;
        this.events = new BotEventBus(EVENT_BUFFER_SIZE);
        this.costs = new BotCosts(botId, profile.name(), hive, config, b.clock);
        this.turns = new Turns(this, agent, stats, costs, b.worktree, new TurnSlots(hive, botId, profile.name(),
                new HiveSettingsFile(hive, HiveSettings.of(config))::current));
        this.chat = new ChatQueue(this, turns, stats);
        this.presence = new Presence(this, hive, registry, agent.type(),
                b.worktree == null ? null : b.worktree.project().name(), turns);
        this.webhooks = b.webhooks != null ? b.webhooks
                : new WebhookOutbox(hive, new HiveSettingsFile(hive, HiveSettings.of(config))::current);
        this.permissions = new BotPermissions(botId, profile, events, presence::refresh, webhooks);
    }

    /** A builder; bot id, profile, config, hive, registry and agent are required. */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Registers the bot (updating an entry the launcher reserved), starts the chat worker, the task
     * monitor and the heartbeat, and enters {@code idle} (or {@code paused} when the pause file exists).
     *
     * @throws DeiaException {@code CONFLICT} when another live process holds this bot id
     */
    public synchronized BotRuntime start() {
        if (started || stopping.get()) {
            throw new IllegalStateException("bot " + botId + " was started already");
        }
        try {
            startedAt = Instant.now();
            presence.refresh();
            presence.register(BotState.STARTING);
            // An agent left by a runner that was killed would still be working on the task the monitor
            // is about to retry: end it before this runner starts agents of its own.
            AgentLeftovers.endLeftover(hive, botId);
            chat.start();
            monitor = TaskQueueMonitor.builder().botId(botId).hive(hive).config(config).profile(profile)
                    .executor(turns).listener(this::onTaskEvent).hold(this::budgetHold).webhooks(webhooks).build();
            monitor.start();
            started = true;
            BotState state = presence.refresh();
            // Ready now (the registry says so): a /health waiting for the start answers before the first heartbeat.
            startEnded.complete(null);
            presence.startHeartbeat(config.heartbeatIntervalS());
            log.info("[{}] bot runtime started: pid {}, port {}, profile {}, agent {}, state {}", botId, presence.pid,
                    port, profile.name(), agent.type(), state.id());
            return this;
        } finally {
            startEnded.complete(null);
        }
    }

    /** The bot's id. */
    public String botId() {
        return botId;
    }

    /** The bot's profile. */
    public Profile profile() {
        return profile;
    }

    /** The HTTP port this bot registered. */
    public int port() {
        return port;
    }

    /** The bot's event stream (task and status events, with replay). */
    public BotEventBus events() {
        return events;
    }

    /** The hive configuration this bot runs with. */
    public DeiaConfig config() {
        return config;
    }

    /**
     * The bot's permission relay: the requests its agent's CLI asks while the profile's
     * {@code approval.mode} is {@code ask} ({@code GET /permissions}), and their answers
     * ({@code POST /permissions/{request_id}}). With {@code auto} nothing is ever asked here.
     */
    public PermissionBroker permissions() {
        return permissions.broker;
    }

    /** The current state (re-reading the pause file). */
    public BotState state() {
        return presence.refresh();
    }

    /**
     * Waits until the bot has left {@code starting} (its start finished or failed, or a stop began),
     * at most {@code maxWait}, and returns the state then: still {@link BotState#STARTING} on timeout.
     * Lets a launcher ask {@code /health} once and be answered when the bot is ready, instead of
     * polling a starting bot (every poll of a starting bot is a request, an error answer and a log line
     * on the bot's side while it competes for the CPU with its own start).
     *
     * @throws InterruptedException when the waiting thread is interrupted
     */
    public BotState awaitStarted(Duration maxWait) throws InterruptedException {
        if (!startEnded.isDone() && maxWait.compareTo(Duration.ZERO) > 0) {
            try {
                startEnded.get(maxWait.toNanos(), TimeUnit.NANOSECONDS);
            } catch (TimeoutException | ExecutionException e) {
                // timed out: the state below says it is still starting
            }
        }
        return state();
    }

    /** A snapshot of everything {@code /status} reports. */
    public BotStatus status() {
        BotState state = state();
        TaskQueueMonitor m = monitor;
        Instant since = startedAt;
        long uptime = since == null ? 0 : Duration.between(since, Instant.now()).toSeconds();
        AgentHealth health;
        try {
            health = agent.health();
        } catch (RuntimeException e) {
            health = null;
        }
        return new BotStatus(botId, state, turns.currentTaskId(), m == null ? 0 : m.pendingCount(), chat.waiting(),
                presence.pid, port, uptime, profile.name(), agent.type(), stats.tasksCompleted.get(),
                stats.tasksFailed.get(), stats.tasksRejected.get(), stats.messagesCompleted.get(), stats.costUsd.sum(),
                stats.inputTokens.get(), stats.outputTokens.get(), since, health, degradedReason(), costs.cost(),
                BotStatus.BudgetState.of(costs.breach()), state == BotState.QUEUED ? turns.queuePosition() : null);
    }

    /**
     * Runs a chat message as one agent turn and blocks until it ends. Agent-side failures come back
     * as the result's status ({@code failed}, {@code timeout}, {@code interrupted}).
     *
     * @param listener receives the turn's events as they happen (on the agent's thread: keep it quick)
     * @throws DeiaException {@code TOO_MANY_REQUESTS} when the chat queue is full, {@code UNAVAILABLE}
     *                       when the bot is not running or stops before the message's turn,
     *                       {@code PAYLOAD_TOO_LARGE} over {@link DeiaConfig#maxMessageBytes()},
     *                       {@code UNPROCESSABLE} when it matches a deny pattern of the profile,
     *                       {@code INVALID_ARGUMENT} for a {@code clientMsgId} that is not printable ASCII
     */
    public TurnResult sendMessage(String text, String clientMsgId, AgentEventListener listener) {
        CompletableFuture<TurnResult> future = submitMessage(text, clientMsgId, listener);
        try {
            return future.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw DeiaException.unavailable("bot %s: interrupted while waiting for the reply", botId);
        } catch (ExecutionException e) {
            Throwable t = e.getCause();
            Throwable cause = t instanceof CompletionException && t.getCause() != null ? t.getCause() : t;
            throw cause instanceof DeiaException d ? d : DeiaException.internal(String.valueOf(cause.getMessage()), cause);
        }
    }

    /**
     * Queues a chat message and returns at once; the future completes with the turn's result, or
     * exceptionally with a {@link DeiaException} ({@code UNAVAILABLE} when the bot stops first).
     *
     * @throws DeiaException as {@link #sendMessage}, for refusals known before queueing
     */
    public CompletableFuture<TurnResult> submitMessage(String text, String clientMsgId, AgentEventListener listener) {
        return chat.submit(text, clientMsgId, listener);
    }

    /**
     * Ends the turn in flight (chat or task) without stopping the bot.
     *
     * @return true when a turn was running
     */
    public boolean interrupt() {
        return turns.interrupt();
    }

    /** Creates the pause file: no new task is taken until {@link #resume()}. Returns the new state. */
    public BotState pause() {
        if (!Files.exists(hive.pauseFile(botId))) {
            AtomicFiles.writeString(hive.pauseFile(botId), "paused at " + Json.formatInstant(Instant.now()) + "\n");
            log.info("[{}] pause file created", botId);
        }
        return state();
    }

    /** Deletes the pause file: tasks are taken again. Returns the new state. */
    public BotState resume() {
        try {
            if (Files.deleteIfExists(hive.pauseFile(botId))) {
                AtomicFiles.fsyncDirectory(hive.controlsDir());
                log.info("[{}] pause file removed", botId);
            }
        } catch (IOException e) {
            throw DeiaException.io("cannot remove pause file", hive.pauseFile(botId), e);
        }
        return state();
    }

    /** True once {@link #stop} began. */
    public boolean isStopping() {
        return stopping.get();
    }

    boolean isStarted() {
        return started;
    }

    /** Why the task inbox cannot write to the hive, or null ({@link TaskQueueMonitor#degradedReason()}). */
    String degradedReason() {
        TaskQueueMonitor m = monitor;
        return m == null ? null : m.degradedReason();
    }

    /** The budget the bot has reached, or null when it may take tasks and messages ({@link BotCosts#breach()}). */
    io.deia.core.ledger.BotBudget.Breach budgetBreach() {
        return costs.breach();
    }

    /** Why the task inbox holds new tasks back: a reached budget, or null. */
    private String budgetHold() {
        var breach = costs.breach();
        return breach == null ? null : "over budget: " + breach.reason();
    }

    /** Completes when {@link #stop} has finished. */
    public CompletableFuture<Void> stopped() {
        return stopped;
    }

    /**
     * Graceful stop: refuses new messages and fails the waiting ones, stops taking tasks, lets the
     * running turn finish for up to {@code grace} and interrupts it after that, then closes the
     * agent (its whole process tree) and the monitor and removes the bot from the registry.
     * Idempotent: a second call waits for the first to finish.
     */
    public void stop(Duration grace) {
        if (!stopping.compareAndSet(false, true)) {
            stopped.join();
            return;
        }
        startEnded.complete(null);
        log.info("[{}] stopping (grace {} ms)", botId, grace.toMillis());
        synchronized (this) {
            // A stop that races start() waits for it, so that everything start() opened is closed here.
        }
        try {
            state();
            chat.failWaiting();
            if (!turns.awaitEnd(grace)) {
                log.info("[{}] turn still running after the grace period: interrupting it", botId);
                agent.interrupt();
                if (!turns.awaitEnd(INTERRUPT_WAIT)) {
                    log.warn("[{}] turn did not end after the interrupt: closing the agent", botId);
                }
            }
            if (monitor != null) {
                // Interrupts the task worker waiting in Turns.execute, so that a task cut short by this
                // stop stays claimed and is retried by the next start instead of failing for good.
                monitor.close();
            }
            presence.stopHeartbeat();
            agent.close();
            permissions.close();
            chat.stop();
            if (started) {
                registry.deregister(botId);
            }
            log.info("[{}] stopped and deregistered", botId);
        } finally {
            events.close();
            stopped.complete(null);
        }
    }

    /** Stops with no grace period. */
    @Override
    public void close() {
        stop(Duration.ZERO);
    }

    private void onTaskEvent(TaskEvent e) {
        stats.count(e);
        events.publish(BotEvent.task(botId, e.taskId(), e.event(), e.status() == null ? null : e.status().id(),
                e.attempt() > 0 ? e.attempt() : null, e.error()));
    }

    /** Builder for {@link BotRuntime}. */
    public static final class Builder {
        private String botId;
        private Profile profile;
        private DeiaConfig config;
        private HiveLayout hive;
        private ServiceRegistry registry;
        private Agent agent;
        private BotWorktree worktree;
        private int port;
        private java.time.Clock clock = java.time.Clock.systemUTC();
        private WebhookOutbox webhooks;

        private Builder() {
        }

        /** The bot's id (validated). */
        public Builder botId(String v) { this.botId = v; return this; }

        /** The profile the bot runs. */
        public Builder profile(Profile v) { this.profile = v; return this; }

        /** The hive configuration (limits, heartbeat interval). */
        public Builder config(DeiaConfig v) { this.config = v; return this; }

        /** The hive folder. */
        public Builder hive(HiveLayout v) { this.hive = v; return this; }

        /** Where the bot registers and heartbeats. */
        public Builder registry(ServiceRegistry v) { this.registry = v; return this; }

        /** The agent; the runtime owns it from now on and closes it on stop. */
        public Builder agent(Agent v) { this.agent = v; return this; }

        /**
         * The bot's worktree of its project, or null (the default) for a bot without one. With a
         * worktree every turn runs in it holding its lock, a task on its own branch, and ends with
         * deia's commit; the agent must have been made with the same folder
         * ({@link io.deia.core.agent.AgentContext#worktree()}).
         */
        public Builder worktree(BotWorktree v) { this.worktree = v; return this; }

        /** The clock that dates ledger lines and says which UTC day a daily budget counts (the system's by default). */
        public Builder clock(java.time.Clock v) { this.clock = Objects.requireNonNull(v, "clock"); return this; }

        /** The HTTP port recorded in the registry (the runtime does not bind it). */
        public Builder port(int v) { this.port = v; return this; }

        /**
         * Where the bot's webhook events are written; by default the hive's outbox with the event
         * types of {@code hive/settings.json} (re-read when it changes), or of {@code config} while
         * no {@code serve} has published any.
         */
        public Builder webhooks(WebhookOutbox v) { this.webhooks = v; return this; }

        /** A runtime, not started yet; the hive is checked first ({@link HiveGuard#check}). */
        public BotRuntime build() {
            if (hive != null) {
                HiveGuard.check(hive);
            }
            return new BotRuntime(this);
        }
    }
}
