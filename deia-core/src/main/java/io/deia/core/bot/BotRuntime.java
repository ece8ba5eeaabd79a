package io.deia.core.bot;

import io.deia.core.BotIds;
import io.deia.core.DeiaException;
import io.deia.core.HiveGuard;
import io.deia.core.HiveLayout;
import io.deia.core.agent.Agent;
import io.deia.core.agent.AgentEventListener;
import io.deia.core.agent.AgentHealth;
import io.deia.core.agent.AgentLeftovers;
import io.deia.core.agent.TurnRequest;
import io.deia.core.agent.TurnResult;
import io.deia.core.agent.TurnStatus;
import io.deia.core.chat.ChatRequest;
import io.deia.core.config.DeiaConfig;
import io.deia.core.config.DenyPatterns;
import io.deia.core.config.Profile;
import io.deia.core.io.AtomicFiles;
import io.deia.core.io.Json;
import io.deia.core.registry.BotRecord;
import io.deia.core.registry.BotState;
import io.deia.core.registry.ServiceRegistry;
import io.deia.core.task.Task;
import io.deia.core.task.TaskExecutor;
import io.deia.core.task.TaskQueueMonitor;
import io.deia.core.task.TaskEvent;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.DoubleAdder;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Supplier;

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
 * cannot write to the hive (see {@link TaskQueueMonitor#degradedReason()}), {@code stopping} at the end. Every change
 * is logged once and published on the {@link #events() event bus}.
 */
public final class BotRuntime implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(BotRuntime.class);

    /** How long {@link #stop} waits for an interrupted turn to end before closing the agent anyway. */
    private static final Duration INTERRUPT_WAIT = Duration.ofSeconds(5);
    /** Upper bound for a task thread waiting for the monitor's close during a stop. */
    private static final Duration MONITOR_CLOSE_WAIT = Duration.ofSeconds(30);

    private final String botId;
    private final Profile profile;
    private final DenyPatterns denyPatterns;
    private final DeiaConfig config;
    private final HiveLayout hive;
    private final ServiceRegistry registry;
    private final Agent agent;
    private final int port;
    private final BotEventBus events;
    private final long pid = ProcessHandle.current().pid();
    private final Instant processStart = ProcessHandle.current().info().startInstant().orElse(null);

    /** Fair, so that a waiting chat message and a waiting task alternate. */
    private final ReentrantLock turnLock = new ReentrantLock(true);
    private final LinkedBlockingQueue<PendingMessage> chatQueue = new LinkedBlockingQueue<>();
    private final Object admission = new Object();
    /** Guards {@link #turnRunning} changes and is notified when a turn ends. */
    private final Object turnEnd = new Object();
    private int messagesWaiting;

    private final AtomicLong tasksCompleted = new AtomicLong();
    private final AtomicLong tasksFailed = new AtomicLong();
    private final AtomicLong tasksRejected = new AtomicLong();
    private final AtomicLong messagesCompleted = new AtomicLong();
    private final AtomicLong inputTokens = new AtomicLong();
    private final AtomicLong outputTokens = new AtomicLong();
    private final DoubleAdder costUsd = new DoubleAdder();
    private final Object stateLock = new Object();

    private volatile String currentTaskId;
    private volatile boolean turnRunning;
    private volatile boolean started;
    private volatile boolean stopping;
    private volatile Instant startedAt;
    private BotState lastState;

    private TaskQueueMonitor monitor;
    private ScheduledExecutorService heartbeat;
    private Thread chatWorker;
    private final CompletableFuture<Void> stopped = new CompletableFuture<>();
    /** Completes when {@link #start} has entered the bot's first state or failed, or a stop began: the end of {@code starting}. */
    private final CompletableFuture<Void> startEnded = new CompletableFuture<>();

    private BotRuntime(Builder b) {
        this.botId = BotIds.requireValid(b.botId);
        this.profile = Objects.requireNonNull(b.profile, "profile");
        this.denyPatterns = DenyPatterns.of(profile);
        this.config = Objects.requireNonNull(b.config, "config");
        this.hive = Objects.requireNonNull(b.hive, "hive");
        this.registry = Objects.requireNonNull(b.registry, "registry");
        this.agent = Objects.requireNonNull(b.agent, "agent");
        if (b.port < 0 || b.port > 65535) {
            throw new IllegalArgumentException("port must be 0..65535, was " + b.port);
        }
        this.port = b.port;
        this.events = new BotEventBus(b.eventBufferSize);
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
        if (started || stopping) {
            throw new IllegalStateException("bot " + botId + " was started already");
        }
        try {
            return startOnce();
        } finally {
            startEnded.complete(null);
        }
    }

    private BotRuntime startOnce() {
        startedAt = Instant.now();
        refreshState();
        register(BotState.STARTING);
        // An agent left by a runner that was killed would still be working on the task the monitor
        // is about to retry: end it before this runner starts agents of its own.
        AgentLeftovers.endLeftover(hive, botId);
        chatWorker = new Thread(this::chatLoop, "bot-" + botId + "-chat");
        chatWorker.setDaemon(true);
        chatWorker.start();
        monitor = TaskQueueMonitor.builder().botId(botId).hive(hive).config(config).profile(profile)
                .executor(new TaskTurns()).listener(this::onTaskEvent).build();
        monitor.start();
        heartbeat = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "bot-" + botId + "-heartbeat");
            t.setDaemon(true);
            return t;
        });
        started = true;
        BotState state = refreshState();
        // Ready now (the registry says so): a /health waiting for the start answers before the first heartbeat.
        startEnded.complete(null);
        beat();
        long interval = config.heartbeatIntervalS();
        heartbeat.scheduleAtFixedRate(this::beatQuietly, interval, interval, TimeUnit.SECONDS);
        log.info("[{}] bot runtime started: pid {}, port {}, profile {}, agent {}, state {}", botId, pid, port,
                profile.name(), agent.type(), state.id());
        return this;
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

    /** The largest chat message accepted, in UTF-8 bytes. */
    public int maxMessageBytes() {
        return config.maxMessageBytes();
    }

    /** The current state (re-reading the pause file). */
    public BotState state() {
        return refreshState();
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
            } catch (java.util.concurrent.TimeoutException | java.util.concurrent.ExecutionException e) {
                // timed out: the state below says it is still starting
            }
        }
        return refreshState();
    }

    /** A snapshot of everything {@code /status} reports. */
    public BotStatus status() {
        BotState state = refreshState();
        TaskQueueMonitor m = monitor;
        int depth = m == null ? 0 : m.pendingCount();
        int waiting;
        synchronized (admission) {
            waiting = messagesWaiting;
        }
        double cost = costUsd.sum();
        Instant since = startedAt;
        long uptime = since == null ? 0 : Duration.between(since, Instant.now()).toSeconds();
        AgentHealth health;
        try {
            health = agent.health();
        } catch (RuntimeException e) {
            health = null;
        }
        return new BotStatus(botId, state, currentTaskId, depth, waiting, pid, port, uptime, profile.name(),
                agent.type(), tasksCompleted.get(), tasksFailed.get(), tasksRejected.get(), messagesCompleted.get(),
                cost, inputTokens.get(), outputTokens.get(), since, health, m == null ? null : m.degradedReason());
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
            throw unwrap(e.getCause());
        }
    }

    /**
     * Queues a chat message and returns at once; the future completes with the turn's result, or
     * exceptionally with a {@link DeiaException} ({@code UNAVAILABLE} when the bot stops first).
     *
     * @throws DeiaException as {@link #sendMessage}, for refusals known before queueing
     */
    public CompletableFuture<TurnResult> submitMessage(String text, String clientMsgId, AgentEventListener listener) {
        Objects.requireNonNull(text, "text");
        int bytes = text.getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
        if (bytes > config.maxMessageBytes()) {
            throw DeiaException.tooLarge("message is %d bytes; the limit is %d", bytes, config.maxMessageBytes());
        }
        // Every chat message reaches the agent through here (controller or this bot's own port).
        denyPatterns.check(botId, "message", text);
        ChatRequest.requireClientMsgId(clientMsgId);
        PendingMessage message = new PendingMessage(text, clientMsgId,
                listener == null ? AgentEventListener.NONE : listener, new CompletableFuture<>());
        synchronized (admission) {
            if (stopping || !started) {
                throw DeiaException.unavailable("bot %s is %s", botId, stopping ? "stopping" : "not started");
            }
            if (messagesWaiting >= profile.messageQueueCapacity()) {
                throw DeiaException.tooMany("bot %s has %d messages waiting (the limit); try again later", botId,
                        messagesWaiting);
            }
            messagesWaiting++;
            chatQueue.add(message);
        }
        log.debug("[{}] message {} queued", botId, clientMsgId);
        return message.result;
    }

    /**
     * Ends the turn in flight (chat or task) without stopping the bot.
     *
     * @return true when a turn was running
     */
    public boolean interrupt() {
        if (!turnRunning) {
            return false;
        }
        boolean interrupted = agent.interrupt();
        log.info("[{}] interrupt requested: {}", botId, interrupted ? "turn interrupted" : "no turn was running");
        return interrupted;
    }

    /** Creates the pause file: no new task is taken until {@link #resume()}. Returns the new state. */
    public BotState pause() {
        if (!Files.exists(hive.pauseFile(botId))) {
            AtomicFiles.writeString(hive.pauseFile(botId), "paused at " + Json.formatInstant(Instant.now()) + "\n");
            log.info("[{}] pause file created", botId);
        }
        return refreshState();
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
        return refreshState();
    }

    /** True once {@link #stop} began. */
    public boolean isStopping() {
        return stopping;
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
        synchronized (admission) {
            if (stopping) {
                stopped.join();
                return;
            }
            stopping = true;
        }
        startEnded.complete(null);
        log.info("[{}] stopping (grace {} ms)", botId, grace.toMillis());
        synchronized (this) {
            // A stop that races start() waits for it, so that everything start() opened is closed here.
        }
        try {
            refreshState();
            failWaitingMessages();
            if (!awaitTurnEnd(grace)) {
                log.info("[{}] turn still running after the grace period: interrupting it", botId);
                agent.interrupt();
                if (!awaitTurnEnd(INTERRUPT_WAIT)) {
                    log.warn("[{}] turn did not end after the interrupt: closing the agent", botId);
                }
            }
            if (monitor != null) {
                // Interrupts the task worker waiting in runTask, so that a task cut short by this
                // stop stays claimed and is retried by the next start instead of failing for good.
                monitor.close();
            }
            if (heartbeat != null) {
                heartbeat.shutdownNow();
            }
            agent.close();
            if (chatWorker != null) {
                chatWorker.interrupt();
            }
            failWaitingMessages();
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

    // ---------------------------------------------------------------- turns

    private void chatLoop() {
        while (!stopping) {
            PendingMessage message;
            try {
                message = chatQueue.take();
            } catch (InterruptedException e) {
                return;
            }
            try {
                turnLock.lockInterruptibly();
            } catch (InterruptedException e) {
                reject(message);
                return;
            }
            try {
                synchronized (admission) {
                    messagesWaiting--;
                }
                if (stopping) {
                    reject(message);
                    continue;
                }
                TurnResult result = runTurn(new TurnRequest(message.text, profile.timeout(), null), message.listener,
                        null);
                if (result.status() == TurnStatus.COMPLETED) {
                    messagesCompleted.incrementAndGet();
                }
                log.info("[{}] message {} turn {} in {} ms", botId, message.clientMsgId, result.status().id(),
                        result.durationMs());
                message.result.complete(result);
            } catch (RuntimeException e) {
                log.warn("[{}] message {} failed: {}", botId, message.clientMsgId, e.toString());
                message.result.completeExceptionally(e instanceof DeiaException ? e
                        : DeiaException.internal("bot " + botId + ": the turn failed: " + e.getMessage(), e));
            } finally {
                turnLock.unlock();
            }
        }
    }

    /** The monitor's executor: a task's attempts are turns through the same agent, in turn with chat. */
    private final class TaskTurns implements TaskExecutor {
        @Override
        public TurnResult execute(Task task, int attempt, Duration timeout, AgentEventListener events) {
            return runTask(task, attempt, timeout, events);
        }
    }

    /** One task turn: an attempt, under the turn lock. */
    private TurnResult runTask(Task task, int attempt, Duration timeout, AgentEventListener listener) {
        if (stopping) {
            throw notStarted(task);
        }
        try {
            turnLock.lockInterruptibly();
        } catch (InterruptedException e) {
            throw notStarted(task);
        }
        TurnResult result;
        try {
            if (stopping) {
                result = null;
            } else {
                Duration effective = timeout != null ? timeout : profile.timeout();
                log.info("[{}] task {} attempt {} starting", botId, task.taskId(), attempt);
                result = runTurn(new TurnRequest(task.prompt(), effective, task.taskId()), listener,
                        task.taskId());
            }
        } finally {
            turnLock.unlock();
        }
        if (result == null) {
            throw notStarted(task);
        }
        if (stopping && result.status() == TurnStatus.INTERRUPTED) {
            // Cut short by stop(): hold the result until the monitor is closing (it interrupts this
            // thread), so the monitor leaves the task claimed for the next start.
            awaitMonitorClose();
        }
        return result;
    }

    private DeiaException notStarted(Task task) {
        if (stopping) {
            awaitMonitorClose();
        }
        return DeiaException.unavailable("bot %s is stopping; task %s was not started", botId, task.taskId());
    }

    /** Waits until this thread is interrupted by {@link TaskQueueMonitor#close()} (bounded). */
    private void awaitMonitorClose() {
        synchronized (turnEnd) {
            try {
                turnEnd.wait(MONITOR_CLOSE_WAIT.toMillis());
            } catch (InterruptedException e) {
                // The monitor is closing: exactly what was waited for. The flag is cleared by the monitor.
                Thread.currentThread().interrupt();
            }
        }
    }

    /** Runs one turn; the caller holds {@link #turnLock}. A task turn returns null, unstarted, once the bot is stopping. */
    private TurnResult runTurn(TurnRequest request, AgentEventListener listener, String taskId) {
        synchronized (turnEnd) {
            if (taskId != null && stopping) {
                // Checked with the turn marked running in one step, so stop() either waits for this
                // turn or sees the task not started (null): no task turn starts behind its back.
                return null;
            }
            currentTaskId = taskId;
            turnRunning = true;
        }
        refreshState();
        try {
            TurnResult result = agent.runTurn(request, listener == null ? AgentEventListener.NONE : listener);
            account(result);
            return result;
        } catch (IllegalStateException e) {
            throw DeiaException.unavailable("bot %s: agent cannot run a turn: %s", botId, e.getMessage());
        } finally {
            synchronized (turnEnd) {
                turnRunning = false;
                currentTaskId = null;
                turnEnd.notifyAll();
            }
            refreshState();
        }
    }

    private void account(TurnResult result) {
        if (result.inputTokens() != null) {
            inputTokens.addAndGet(result.inputTokens());
        }
        if (result.outputTokens() != null) {
            outputTokens.addAndGet(result.outputTokens());
        }
        if (result.costUsd() != null) {
            costUsd.add(result.costUsd());
        }
    }

    /** Waits up to {@code wait} until no turn runs; true when none does. */
    private boolean awaitTurnEnd(Duration wait) {
        long deadline = System.nanoTime() + Math.max(0, wait.toNanos());
        synchronized (turnEnd) {
            while (turnRunning) {
                long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
                if (left <= 0) {
                    return false;
                }
                try {
                    turnEnd.wait(left);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return !turnRunning;
                }
            }
            return true;
        }
    }

    private void failWaitingMessages() {
        List<PendingMessage> drained = new ArrayList<>();
        synchronized (admission) {
            chatQueue.drainTo(drained);
            messagesWaiting -= drained.size();
        }
        drained.forEach(this::reject);
        if (!drained.isEmpty()) {
            log.info("[{}] {} waiting messages refused: bot stopping", botId, drained.size());
        }
    }

    private void reject(PendingMessage message) {
        message.result.completeExceptionally(
                DeiaException.unavailable("bot %s is stopping; the message was not run", botId));
    }

    // ---------------------------------------------------------------- tasks, state, heartbeat

    private void onTaskEvent(TaskEvent e) {
        switch (e.event()) {
            case TaskEvent.COMPLETED -> tasksCompleted.incrementAndGet();
            case TaskEvent.FAILED -> tasksFailed.incrementAndGet();
            case TaskEvent.REJECTED -> tasksRejected.incrementAndGet();
            default -> {
            }
        }
        events.publish(BotEvent.task(botId, e.taskId(), e.event(), e.status() == null ? null : e.status().id(),
                e.attempt() > 0 ? e.attempt() : null, e.error()));
    }

    /** Computes the state, and when it changed logs it once and publishes a status event. */
    private BotState refreshState() {
        BotState state;
        boolean changed;
        BotState previous;
        synchronized (stateLock) {
            state = computeState();
            previous = lastState;
            changed = state != previous;
            lastState = state;
            if (changed) {
                events.publish(BotEvent.status(botId, state.id()));
            }
        }
        if (changed) {
            log.info("[{}] state {} -> {}", botId, previous == null ? "-" : previous.id(), state.id());
            // busy <-> idle flips every turn; the heartbeat carries those. Coarse changes go out now.
            boolean turnFlip = (previous == BotState.IDLE && state == BotState.BUSY)
                    || (previous == BotState.BUSY && state == BotState.IDLE);
            if (started && !turnFlip && previous != null) {
                updateRegistryState(state);
            }
        }
        return state;
    }

    private BotState computeState() {
        if (stopping) {
            return BotState.STOPPING;
        }
        if (!started) {
            return BotState.STARTING;
        }
        TaskQueueMonitor m = monitor;
        if (m != null && m.degradedReason() != null) {
            return BotState.DEGRADED;
        }
        if (Files.exists(hive.pauseFile(botId))) {
            return BotState.PAUSED;
        }
        return turnRunning ? BotState.BUSY : BotState.IDLE;
    }

    private void updateRegistryState(BotState state) {
        try {
            registry.update(botId, r -> r.toBuilder().state(state).lastHeartbeat(Instant.now()).build());
        } catch (RuntimeException e) {
            log.warn("[{}] cannot record state {} in the registry: {}", botId, state.id(), e.getMessage());
        }
    }

    private void register(BotState state) {
        Supplier<BotRecord> fresh = () -> BotRecord.builder(botId).pid(pid).processStart(processStart).port(port)
                .state(state).profile(profile.name()).agent(agent.type()).registeredAt(Instant.now())
                .lastHeartbeat(Instant.now()).build();
        // The launcher may have reserved the entry (pid 0): keep its restart count and registration time,
        // and the last error with its time (a restarted bot still tells that and when it failed).
        var updated = registry.update(botId, r -> r.toBuilder().pid(pid).processStart(processStart).port(port)
                .state(state).profile(profile.name()).agent(agent.type()).lastHeartbeat(Instant.now()).build());
        if (updated.isEmpty()) {
            registry.register(fresh.get());
        }
        log.info("[{}] registered: pid {}, port {}", botId, pid, port);
    }

    private void beatQuietly() {
        try {
            beat();
        } catch (RuntimeException e) {
            log.warn("[{}] heartbeat failed: {}", botId, e.getMessage());
        }
    }

    /** The registry's heartbeat also writes {@code hive/heartbeats/<id>.json}. */
    private void beat() {
        if (stopping) {
            return;
        }
        BotState state = refreshState();
        if (registry.heartbeat(botId, state).isEmpty() && !stopping) {
            log.warn("[{}] registry entry was missing at heartbeat: registering again", botId);
            register(state);
        }
    }

    private static DeiaException unwrap(Throwable t) {
        Throwable cause = t instanceof CompletionException && t.getCause() != null ? t.getCause() : t;
        return cause instanceof DeiaException d ? d : DeiaException.internal(String.valueOf(cause.getMessage()), cause);
    }

    private record PendingMessage(String text, String clientMsgId, AgentEventListener listener,
                                  CompletableFuture<TurnResult> result) {
    }

    /** Builder for {@link BotRuntime}. */
    public static final class Builder {
        private String botId;
        private Profile profile;
        private DeiaConfig config;
        private HiveLayout hive;
        private ServiceRegistry registry;
        private Agent agent;
        private int port;
        private int eventBufferSize = 1000;

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

        /** The HTTP port recorded in the registry (the runtime does not bind it). */
        public Builder port(int v) { this.port = v; return this; }

        /** How many events {@code /events} can replay (1000). */
        public Builder eventBufferSize(int v) { this.eventBufferSize = v; return this; }

        /** A runtime, not started yet; the hive is checked first ({@link HiveGuard#check}). */
        public BotRuntime build() {
            if (hive != null) {
                HiveGuard.check(hive);
            }
            return new BotRuntime(this);
        }
    }
}
