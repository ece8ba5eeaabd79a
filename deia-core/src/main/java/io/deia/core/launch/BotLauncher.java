package io.deia.core.launch;

import io.deia.core.BotIds;
import io.deia.core.DeiaException;
import io.deia.core.HiveGuard;
import io.deia.core.HiveLayout;
import io.deia.core.HiveToken;
import io.deia.core.agent.Agents;
import io.deia.core.config.DeiaConfig;
import io.deia.core.config.Profile;
import io.deia.core.config.RestartPolicy;
import io.deia.core.launch.internal.BotLogFiles;
import io.deia.core.launch.internal.BotProbe;
import io.deia.core.launch.internal.RestartBudget;
import io.deia.core.process.ProcessTrees;
import io.deia.core.registry.BotRecord;
import io.deia.core.registry.BotState;
import io.deia.core.registry.ServiceRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Starts, stops, supervises and re-adopts bot runner processes.
 *
 * <p><b>Launch</b>: validate the id and profile, check the agent's executable, reserve a port in
 * the registry, spawn the runner ({@code setsid}, argv without shell, stdout and stderr appended to
 * {@code bot-logs/<id>.log}, stdin from {@code /dev/null}) so it outlives this process, record its
 * pid and start instant, and return only once {@code GET /health} names the bot. A runner that
 * exits or stays deaf is killed with its whole tree, its registry entry is removed, and the error
 * quotes the end of its log.
 *
 * <p><b>Stop</b>: {@code POST /stop}, a grace period, then SIGTERM and SIGKILL to every process of
 * the runner's tree (collected before the first signal, plus its process group). The entry stays
 * in the registry as {@link BotState#STOPPED} (pid 0, port freed) so that dashboards show it.
 *
 * <p><b>Supervision</b>: an exit nobody asked for is handled by the profile's
 * {@link RestartPolicy}: exponential backoff with jitter, a budget of restarts per window after
 * which the bot is {@link BotState#FAILED} with the reason. A runner that deregistered itself
 * (graceful {@code /stop} or SIGTERM sent by someone else) is not restarted.
 *
 * <p><b>Desired state</b>: a launched bot is {@link BotRecord#wanted() wanted} running, in its
 * registry entry, until {@link #stop} (which records that first) or a spent restart budget. Any
 * supervising launcher brings wanted bots back: {@link #adopt()} at its start and
 * {@link #reconcile()} every heartbeat interval take over runners that still run (same pid and
 * start instant; a runner that does not answer {@code /health} yet is adopted too, and logged) and
 * restart, under the profile's policy and budget, the ones that died while no launcher supervised
 * them, waited out a back-off, or were half launched ({@link Reconciler} holds the table). What
 * nobody will finish and nobody wants is marked failed, with the reason.
 *
 * <p><b>Noticing deaths</b>: a child's exit through {@link Process#onExit()}; an adopted runner's
 * through its {@link RunnerLock}, which the kernel drops the moment it dies (no polling).
 *
 * <p>{@link #close()} stops supervising and leaves the bots running; {@link #stopAll()} stops them.
 * Thread safe: calls for different bots run in parallel, calls for one bot one after the other.
 */
public final class BotLauncher implements AutoCloseable {
    /**
     * Exit code of a bot runner whose port was taken by another program between the registry's bind
     * check and its own bind; the launcher then reserves another port and tries again.
     */
    public static final int EXIT_PORT_IN_USE = 75;

    /**
     * Exit code of a bot runner that found its bot's {@link RunnerLock} held by another live runner:
     * two controllers raced to start the same bot and the other one won.
     */
    public static final int EXIT_RUNNER_LOCKED = 76;

    /** How often {@link #launch} tries another port when the reserved one is taken under it. */
    static final int PORT_ATTEMPTS = 3;

    private static final Logger log = LoggerFactory.getLogger(BotLauncher.class);
    private static final long SELF_PID = ProcessHandle.current().pid();

    /** Log files larger than this are rotated to {@code <id>.log.1} before the next start. */
    public static final long DEFAULT_MAX_LOG_BYTES = 10L * 1024 * 1024;
    /** Lines of the bot's log quoted in a launch error. */
    static final int LOG_TAIL_LINES = 20;
    private static final Duration HEALTH_POLL = Duration.ofMillis(25);
    /** How long one {@code /health} request of a launch may wait on a starting bot's side. */
    private static final Duration HEALTH_WAIT = Duration.ofSeconds(2);
    private static final File NULL_DEVICE = new File("/dev/null");
    /** How often an adopted runner that does not hold its lock yet (still starting) is looked at. */
    private static final Duration LOCK_RECHECK = Duration.ofMillis(100);

    private final HiveLayout hive;
    private final DeiaConfig config;
    private final ServiceRegistry registry;
    private final RunnerCommand command;
    private final Path configFile;
    private final Duration stopGrace;
    private final Duration killGrace;
    private final long maxLogBytes;
    private final boolean supervise;
    private final BotProbe probe;
    private final ConcurrentMap<String, ReentrantLock> locks = new ConcurrentHashMap<>();
    private final ConcurrentMap<String, Watch> watches = new ConcurrentHashMap<>();
    private final Reconciler reconciler;
    private final ScheduledExecutorService timer;
    private final ExecutorService workers;
    private volatile boolean closed;

    private BotLauncher(Builder b) {
        this.hive = Objects.requireNonNull(b.hive, "hive");
        this.config = Objects.requireNonNull(b.config, "config");
        this.registry = Objects.requireNonNull(b.registry, "registry");
        this.command = Objects.requireNonNull(b.command, "runnerCommand");
        this.configFile = b.configFile;
        this.stopGrace = b.stopGrace;
        this.killGrace = b.killGrace;
        this.maxLogBytes = b.maxLogBytes;
        this.supervise = b.supervise;
        // Before any runner starts: a runner reads the token from this file (never from its argv or
        // environment), so embedded use without a controller works too.
        this.probe = new BotProbe(Duration.ofSeconds(2), HiveToken.loadOrCreate(hive));
        this.timer = Executors.newSingleThreadScheduledExecutor(daemonThreads("deia-launcher-timer"));
        this.workers = Executors.newCachedThreadPool(daemonThreads("deia-launcher"));
        this.reconciler = new Reconciler(registry, config, new Reconciler.Supervision() {
            @Override
            public boolean supervises(String botId) {
                return watches.containsKey(botId);
            }

            @Override
            public ReentrantLock lockFor(String botId) {
                return BotLauncher.this.lockFor(botId);
            }

            @Override
            public Optional<BotRecord> adopt(BotRecord r) {
                if (!supervise) {
                    return Optional.empty();
                }
                log.warn("[{}] pid {} runs with no launcher supervising it (launcher pid {} is gone); adopting it",
                        r.botId(), r.pid(), r.launcherPid());
                return adoptRunner(r);
            }

            @Override
            public Optional<BotRecord> restart(BotRecord seen, Profile profile, String reason) {
                return supervise ? restartUnsupervised(seen, profile, reason) : Optional.empty();
            }
        });
        Duration every = b.reconcileEvery != null ? b.reconcileEvery : Duration.ofSeconds(config.heartbeatIntervalS());
        if (supervise && !every.isZero()) {
            timer.scheduleWithFixedDelay(this::reconcileQuietly, every.toMillis(), every.toMillis(), TimeUnit.MILLISECONDS);
        }
    }

    /** A launcher for a hive; see {@link Builder} for the options. */
    public static Builder builder(HiveLayout hive, DeiaConfig config, ServiceRegistry registry, RunnerCommand command) {
        return new Builder(hive, config, registry, command);
    }

    /**
     * Launches one bot and returns its registry entry once it answers {@code /health}.
     *
     * @throws DeiaException {@code INVALID_ARGUMENT} for a bad id, {@code UNPROCESSABLE} for an
     *         unknown profile or a missing agent executable, {@code CONFLICT} when the bot runs
     *         already, {@code UNAVAILABLE} when no port is free or the runner did not come up (the
     *         message then ends with the last lines of its log)
     */
    public BotRecord launch(String botId, String profileName) {
        BotIds.requireValid(botId);
        Profile profile = config.requireProfile(profileName);
        Agents.checkExecutable(profile);
        ensureOpen();
        ReentrantLock lock = lockFor(botId);
        lock.lock();
        try {
            Watch current = watches.get(botId);
            if (current != null) {
                throw DeiaException.conflict("bot %s is already %s (pid %d)", botId,
                        current.process == null ? "restarting" : "running", current.pid());
            }
            Process process = null;
            for (int attempt = 1; process == null; attempt++) {
                BotRecord reserved = registry.reserve(botId, profile.name(), profile.agent().id());
                try {
                    process = startRunner(reserved, profile);
                } catch (PortTakenException e) {
                    registry.deregister(botId);
                    if (attempt >= PORT_ATTEMPTS) {
                        throw e;
                    }
                    log.warn("[{}] port {} was taken before the runner could bind it; reserving another (attempt {} of {})",
                            botId, reserved.port(), attempt + 1, PORT_ATTEMPTS);
                } catch (DeiaException e) {
                    registry.deregister(botId);
                    throw e;
                }
            }
            BotRecord reserved = registry.get(botId).orElseThrow();
            BotRecord healthy = markRunning(botId, reserved.restarts(), null, null);
            if (supervise) {
                Watch w = new Watch(botId, profile, process.toHandle(), process, Instant.now());
                w.restarts = healthy.restarts();
                watch(w);
            }
            return healthy;
        } finally {
            lock.unlock();
        }
    }

    /**
     * Launches several bots at once (bot id → profile name) and waits for all of them. Each bot
     * gets its own port and log file; the registry serialises the reservations.
     *
     * @return the healthy entries, in the map's order
     * @throws DeiaException the first failure, once every launch has finished (the bots that did
     *         come up keep running); the other failures are attached as suppressed exceptions
     */
    public List<BotRecord> launchAll(Map<String, String> profilesByBot) {
        Map<String, CompletableFuture<BotRecord>> futures = new LinkedHashMap<>();
        profilesByBot.forEach((id, profile) ->
                futures.put(id, CompletableFuture.supplyAsync(() -> launch(id, profile), workers)));
        List<BotRecord> launched = new ArrayList<>();
        DeiaException failure = null;
        for (CompletableFuture<BotRecord> f : futures.values()) {
            try {
                launched.add(f.join());
            } catch (CompletionException e) {
                DeiaException cause = e.getCause() instanceof DeiaException de ? de
                        : DeiaException.internal("launch failed: " + e.getCause(), e.getCause());
                if (failure == null) {
                    failure = cause;
                } else {
                    failure.addSuppressed(cause);
                }
            }
        }
        if (failure != null) {
            throw failure;
        }
        return launched;
    }

    /**
     * Stops a bot and every process of its tree, then records it as {@link BotState#STOPPED}.
     * Works for bots this launcher started, adopted, or only knows from the registry.
     *
     * @return the stopped entry
     * @throws DeiaException {@code NOT_FOUND} when the registry has no such bot
     */
    public BotRecord stop(String botId) {
        BotIds.requireValid(botId);
        ReentrantLock lock = lockFor(botId);
        lock.lock();
        try {
            // Recorded before anything is ended: a stop that cannot be recorded (read-only or full
            // hive) fails here and leaves the bot running and its entry true, instead of a dead
            // runner behind an entry that says idle -- and no controller brings back what the
            // registry says is not wanted.
            registry.update(botId, r -> r.wanted() ? r.toBuilder().wanted(false).build() : r);
            Watch watch = watches.remove(botId);
            if (watch != null) {
                watch.stopRequested = true;
                watch.cancelRestart();
            }
            Optional<BotRecord> entry = registry.get(botId);
            if (entry.isEmpty() && watch == null) {
                throw DeiaException.notFound("no bot %s in the registry", botId);
            }
            ProcessHandle runner = watch != null && watch.handle != null ? watch.handle
                    : entry.filter(r -> ProcessTrees.isSameProcessAlive(r.pid(), r.processStart()))
                    .flatMap(r -> ProcessHandle.of(r.pid())).orElse(null);
            Integer exitCode = null;
            if (runner != null && ProcessTrees.isRunning(runner)) {
                BotRecord target = entry.orElse(null);
                exitCode = endRunner(botId, runner, watch == null ? null : watch.process, target);
            }
            Integer code = exitCode;
            BotRecord last = entry.orElseGet(() -> watch.lastRecord);
            BotRecord stopped = last.toBuilder().state(BotState.STOPPED).pid(0).processStart(null).wanted(false)
                    .lastExitCode(code != null ? code : last.lastExitCode()).build();
            BotRecord stored = registry.update(botId, r -> r.toBuilder().state(BotState.STOPPED).pid(0).wanted(false)
                            .processStart(null).lastExitCode(code != null ? code : r.lastExitCode()).build())
                    // The runner deregisters itself on a graceful stop: keep a record that it stopped.
                    .orElseGet(() -> registry.register(stopped));
            log.info("[{}] stopped (exit code {})", botId, code);
            return stored;
        } finally {
            lock.unlock();
        }
    }

    /** Stops every bot this launcher supervises and every live bot of the registry, in parallel. */
    public void stopAll() {
        Set<String> ids = new LinkedHashSet<>(watches.keySet());
        for (BotRecord r : registry.list()) {
            if (r.state().isLive() || r.state() == BotState.RESTARTING) {
                ids.add(r.botId());
            }
        }
        List<CompletableFuture<Void>> stops = new ArrayList<>();
        for (String id : ids) {
            stops.add(CompletableFuture.runAsync(() -> {
                try {
                    stop(id);
                } catch (DeiaException e) {
                    log.warn("[{}] stop failed: {}", id, e.getMessage());
                }
            }, workers));
        }
        stops.forEach(CompletableFuture::join);
    }

    /**
     * Takes over the bots of the registry whose runner still runs (same pid and start instant)
     * and whose launcher is gone or unknown: they are supervised from now on, with no second launch
     * (also when the runner does not answer {@code /health} at this moment: it is busy or still
     * starting, and it is logged). Bots of another live controller are left to it.
     * Then removes stale entries ({@link ServiceRegistry#reapStale()}) and marks entries that
     * were waiting for a restart by a launcher that is gone as {@link BotState#FAILED}.
     *
     * @return the adopted entries
     */
    public List<BotRecord> adopt() {
        ensureOpen();
        List<BotRecord> adopted = new ArrayList<>();
        for (BotRecord r : registry.list()) {
            if (watches.containsKey(r.botId()) || r.pid() <= 0) {
                continue;
            }
            if (r.launcherRuns()) {
                // Another live controller launched or supervises it (two controllers at once):
                // adopting it too would have both restart it. reconcile() takes it over, and logs
                // that it leaves it, once that controller is gone.
                continue;
            }
            if (!ProcessTrees.isSameProcessAlive(r.pid(), r.processStart())) {
                continue;
            }
            if (!probe.isHealthy(r.host(), r.port(), r.botId())) {
                // Same pid and start instant: it is this bot's runner, only busy or still starting
                // (e.g. restarted by the previous launcher just before it died). Leaving it
                // unsupervised would let it die later with nobody to restart it.
                log.warn("[{}] pid {} is alive but port {} does not answer /health yet; adopting its process anyway",
                        r.botId(), r.pid(), r.port());
            }
            adoptRunner(r).ifPresent(adopted::add);
        }
        for (BotRecord gone : registry.reapStale()) {
            log.info("[{}] not adopted: {}", gone.botId(), gone.lastError());
        }
        // Wanted bots whose runner is gone, that waited to restart, or whose launch was cut short
        // are restarted now; the rest of what nobody finishes is marked failed with the reason.
        reconcile();
        return adopted;
    }

    /**
     * Supervises a live runner from now on and records this process as the launcher responsible
     * for it; empty when the process went away meanwhile.
     */
    private Optional<BotRecord> adoptRunner(BotRecord r) {
        Optional<ProcessHandle> handle = ProcessHandle.of(r.pid());
        if (handle.isEmpty()) {
            return Optional.empty();
        }
        BotRecord taken = r;
        if (supervise) {
            Profile profile = config.profile(r.profile()).orElse(null);
            Instant started = r.processStart() != null ? r.processStart() : Instant.now();
            taken = registry.update(r.botId(), e -> e.pid() == r.pid()
                    ? e.toBuilder().launcherIsThisProcess().build() : e).orElse(r);
            Watch w = new Watch(r.botId(), profile, handle.get(), null, started);
            w.restarts = r.restarts(); // the count belongs to the bot, not to one controller
            watch(w);
        }
        log.info("[{}] adopted pid {} on port {}", r.botId(), r.pid(), r.port());
        return Optional.of(taken);
    }

    /**
     * Brings the hive to its desired state ({@link Reconciler} has the table). For each entry this
     * launcher does not supervise and whose own launcher is gone (or unknown):
     * <ul>
     *   <li>a runner that is alive (same pid and start instant) is adopted and supervised;</li>
     *   <li>a bot {@link BotRecord#wanted() wanted} running whose runner is gone, that waited to
     *       restart, or whose launch was cut short is restarted under its profile's restart policy
     *       and budget, the death counted and the reason recorded ({@code died while no controller
     *       supervised it});</li>
     *   <li>anything else nobody will finish is marked {@link BotState#FAILED} with the reason.</li>
     * </ul>
     * Entries of a launcher that still runs, and bots this launcher is launching or stopping, are
     * left alone. Decided on process facts only (never on a heartbeat's age), so it cannot race a
     * live bot. Two controllers never both take a bot: each claims it with a conditional registry
     * update (under the registry's lock) that only succeeds on the entry it looked at, and the
     * loser logs it. Runs every heartbeat interval on a supervising launcher; callable at any time.
     *
     * @return the entries adopted, restarted and marked failed
     */
    public Reconciled reconcile() {
        ensureOpen();
        return reconciler.reconcile();
    }

    /**
     * Claims a wanted bot whose runner is gone and schedules its restart through the same path a
     * supervised exit takes. The claim is one conditional update under the registry's lock: it
     * only applies to the entry as it was read, so of two controllers exactly one gets it.
     */
    private Optional<BotRecord> restartUnsupervised(BotRecord seen, Profile profile, String reason) {
        String botId = seen.botId();
        BotRecord claimed = registry.update(botId, e -> e.equals(seen)
                ? e.toBuilder().launcherIsThisProcess().build() : e).orElse(null);
        if (claimed == null || claimed.launcherPid() != SELF_PID) {
            log.info("[{}] not restarted here: another controller took it first (launcher pid {})", botId,
                    claimed == null ? 0 : claimed.launcherPid());
            return Optional.empty();
        }
        Watch w = new Watch(botId, profile, null, null, Instant.now());
        // afterExit counts one restart. A runner that died (pid > 0) is a death nobody counted yet;
        // a pending restart or a cut-short launch (pid 0) was counted by the launcher that began it.
        w.restarts = seen.pid() > 0 ? seen.restarts() : Math.max(0, seen.restarts() - 1);
        w.lastRecord = claimed;
        watches.put(botId, w);
        log.warn("[{}] {}; restarting it under its restart policy", botId, reason);
        afterExit(w, seen.lastExitCode(), Duration.ZERO, reason);
        if (seen.pid() > 0) {
            // The dead runner's agent runs in its own session and may still work on a task; ended
            // under the bot's lock, so before the restart.
            io.deia.core.agent.AgentLeftovers.endLeftover(hive, botId);
        }
        return registry.get(botId);
    }

    private void reconcileQuietly() {
        if (closed) {
            return;
        }
        try {
            reconcile();
        } catch (RuntimeException e) {
            // The next round tries again; a registry that cannot be read is reported by every caller.
            log.warn("reconciling supervision with the registry failed: {}", e.toString());
        }
    }

    /** What one {@link #reconcile()} changed. */
    public record Reconciled(List<BotRecord> adopted, List<BotRecord> restarted, List<BotRecord> markedFailed) {
    }

    /** The ids of the bots this launcher supervises now. */
    public Set<String> supervised() {
        return Set.copyOf(watches.keySet());
    }

    /**
     * Stops supervising; the bots keep running (they outlive the launcher) and a later launcher can
     * {@link #adopt()} them. Pending restarts are dropped (the bots stay wanted: the next launcher
     * restarts them), and the registry no longer names this process as their launcher.
     */
    @Override
    public void close() {
        closed = true;
        watches.values().forEach(Watch::cancelRestart);
        for (String botId : watches.keySet()) {
            disown(botId);
        }
        watches.clear();
        timer.shutdownNow();
        workers.shutdownNow();
    }

    /**
     * Clears this process as the bot's launcher, so that another launcher (also one in this JVM)
     * takes the bot over at once instead of leaving it to a launcher that no longer supervises.
     */
    private void disown(String botId) {
        try {
            registry.update(botId, e -> e.launcherPid() == SELF_PID
                    ? e.toBuilder().launcherPid(0).launcherStart(null).build() : e);
        } catch (RuntimeException e) {
            log.warn("[{}] cannot clear this controller as its launcher: {}", botId, e.getMessage());
        }
    }

    // ---------------------------------------------------------------- spawning

    /**
     * Spawns the runner for a reserved entry, records its pid and waits for {@code /health}.
     * On failure the tree is killed and a DeiaException with the log tail is thrown; the
     * registry entry is left for the caller to roll back or mark.
     */
    private Process startRunner(BotRecord reserved, Profile profile) {
        String botId = reserved.botId();
        Path logFile = hive.botLogFile(botId);
        List<String> argv = new ArrayList<>(ProcessTrees.newSessionPrefix());
        argv.addAll(command.argv(botId, reserved.port(), profile, hive.root(), configFile));
        Process process;
        try {
            HiveGuard.dir(hive, logFile.getParent());
            HiveGuard.dir(hive, hive.botDir(botId));
            if (BotLogFiles.rotateIfLarger(logFile, maxLogBytes)) {
                log.info("[{}] rotated {} (over {} bytes)", botId, logFile, maxLogBytes);
            }
            // The JVM opens the log for the runner (following links, umask mode): it must already be ours.
            BotLogFiles.prepare(logFile);
            ProcessBuilder pb = new ProcessBuilder(argv)
                    .directory(hive.botDir(botId).toFile())
                    .redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(logFile.toFile()));
            if (NULL_DEVICE.exists()) {
                pb.redirectInput(ProcessBuilder.Redirect.from(NULL_DEVICE));
            }
            process = pb.start();
        } catch (IOException e) {
            throw DeiaException.unavailable("bot %s: cannot start runner %s: %s", botId, argv, e.getMessage());
        }
        long pid = process.pid();
        Instant start = process.toHandle().info().startInstant().orElse(null);
        log.info("[{}] spawned pid {} for port {} (profile {}), log {}", botId, pid, reserved.port(), profile.name(),
                logFile);
        registry.update(botId, r -> r.toBuilder().pid(pid).processStart(start).build());
        String failure = awaitHealthy(botId, reserved.port(), process, profile.startTimeout());
        if (failure == null) {
            log.info("[{}] launched pid {} on port {}", botId, pid, reserved.port());
            return process;
        }
        Integer ownExit = process.isAlive() ? null : process.exitValue();
        ProcessTrees.kill(process.toHandle());
        awaitExit(process, Duration.ofSeconds(5));
        String tail = BotLogFiles.tail(logFile, LOG_TAIL_LINES);
        log.warn("[{}] launch failed: {}", botId, failure);
        if (!process.isAlive() && process.exitValue() == EXIT_PORT_IN_USE) {
            throw new PortTakenException(String.format("bot %s (profile %s) %s: port %d was taken by another program; last lines of %s:%n%s",
                    botId, profile.name(), failure, reserved.port(), logFile, tail));
        }
        throw new RunnerStartException(String.format("bot %s (profile %s) %s; last lines of %s:%n%s", botId, profile.name(),
                failure, logFile, tail.isEmpty() ? "(log is empty)" : tail), ownExit);
    }

    /** Null once {@code /health} answers as {@code botId}; otherwise why it did not. */
    private String awaitHealthy(String botId, int port, Process process, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            // Once the port accepts, the request waits on the bot's side for its start to end
            // (one request instead of a poll every HEALTH_POLL); until then only a plain connect.
            long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
            Duration wait = Duration.ofMillis(Math.max(0, Math.min(left, HEALTH_WAIT.toMillis())));
            if (probe.isHealthy("127.0.0.1", port, botId, wait)) {
                return null;
            }
            if (!process.isAlive()) {
                return "exited with code " + process.exitValue() + " before answering /health on port " + port;
            }
            if (System.nanoTime() > deadline) {
                return "did not answer /health on port " + port + " within " + timeout.toMillis() + " ms";
            }
            try {
                // Waiting on the exit (not a plain sleep) notices a crash at once.
                process.onExit().get(HEALTH_POLL.toMillis(), TimeUnit.MILLISECONDS);
            } catch (TimeoutException | ExecutionException e) {
                // poll /health again
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return "interrupted while waiting for /health";
            }
        }
    }

    /** Marks a freshly healthy runner's entry; the runner's own heartbeats take the state over. */
    private BotRecord markRunning(String botId, int restarts, Integer lastExitCode, String lastError) {
        return registry.update(botId, r -> r.toBuilder()
                        .state(r.state() == BotState.STARTING ? BotState.IDLE : r.state())
                        .restarts(restarts)
                        .lastExitCode(lastExitCode != null ? lastExitCode : r.lastExitCode())
                        .lastError(lastError != null ? lastError : r.lastError())
                        .build())
                .orElseThrow(() -> DeiaException.unavailable("bot %s came up but its registry entry is gone", botId));
    }

    // ---------------------------------------------------------------- stopping

    /**
     * Ends a runner and its whole tree: {@code POST /stop}, up to {@link #stopGrace} for it to
     * exit, then SIGTERM/SIGKILL to every process seen in its tree or process group.
     *
     * @return the exit code when the runner is this JVM's child, else null
     */
    private Integer endRunner(String botId, ProcessHandle runner, Process child, BotRecord entry) {
        // Collected before any signal: once the runner is gone its children are re-parented and
        // no longer show up as its descendants.
        Set<ProcessHandle> members = new LinkedHashSet<>(ProcessTrees.tree(runner));
        int status = entry == null ? -1 : probe.requestStop(entry.host(), entry.port());
        log.info("[{}] stopping pid {} ({} processes in its tree; POST /stop answered {})", botId, runner.pid(),
                members.size(), status);
        if (status >= 200 && status < 300) {
            awaitExit(runner, stopGrace);
        }
        members.addAll(ProcessTrees.tree(runner));
        members.addAll(ProcessTrees.processGroup(runner.pid()));
        List<ProcessHandle> left = members.stream().filter(ProcessTrees::isRunning).toList();
        if (!left.isEmpty()) {
            log.info("[{}] {} processes left after the graceful stop; sending SIGTERM", botId, left.size());
            signalAll(botId, left);
        }
        if (child != null) {
            awaitExit(child, Duration.ofSeconds(5));
            return child.isAlive() ? null : child.exitValue();
        }
        return null;
    }

    /**
     * SIGTERM to every member at once (one by one would let the runner wait for a turn whose
     * processes have not been told yet), {@link #killGrace} for all, then SIGKILL to what is left
     * and to anything those forked meanwhile.
     */
    private void signalAll(String botId, List<ProcessHandle> members) {
        members.forEach(ProcessHandle::destroy);
        long deadline = System.nanoTime() + killGrace.toNanos();
        for (ProcessHandle h : members) {
            long left = deadline - System.nanoTime();
            if (left > 0 && ProcessTrees.isRunning(h)) {
                awaitExit(h, Duration.ofNanos(left));
            }
        }
        for (ProcessHandle h : members) {
            if (ProcessTrees.isRunning(h)) {
                log.info("[{}] pid {} ignored SIGTERM for {} ms; sending SIGKILL", botId, h.pid(), killGrace.toMillis());
                if (!ProcessTrees.kill(h)) {
                    log.warn("[{}] pid {} survived SIGKILL", botId, h.pid());
                }
            }
        }
    }

    /**
     * Waits until the process has ended or is a zombie. onExit() of a non-child polls slowly and
     * counts zombies as alive (orphans wait for pid 1 to reap them), so it is checked every 20 ms.
     */
    private static void awaitExit(ProcessHandle handle, Duration limit) {
        long deadline = System.nanoTime() + limit.toNanos();
        while (ProcessTrees.isRunning(handle)) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                return;
            }
            try {
                handle.onExit().get(Math.min(left, TimeUnit.MILLISECONDS.toNanos(20)), TimeUnit.NANOSECONDS);
            } catch (TimeoutException | ExecutionException e) {
                // look again
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    private static void awaitExit(Process process, Duration limit) {
        try {
            process.waitFor(limit.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    // ---------------------------------------------------------------- supervision

    private void watch(Watch w) {
        watches.put(w.botId, w);
        w.lastRecord = registry.get(w.botId).orElse(w.lastRecord);
        int generation = w.generation.incrementAndGet();
        if (w.process != null) {
            w.process.onExit().thenRunAsync(() -> onExit(w, generation), workers);
            return;
        }
        // Not this JVM's child: ProcessHandle.onExit() would poll slowly (seconds) and never see an
        // unreaped zombie. The runner's lock is released by the kernel the moment it dies.
        RunnerLock.whenGone(hive, w.botId, w.handle, LOCK_RECHECK, workers)
                .thenRunAsync(() -> onExit(w, generation), workers);
    }

    /** A supervised runner exited: restart it, or record why not. */
    private void onExit(Watch w, int generation) {
        ReentrantLock lock = lockFor(w.botId);
        lock.lock();
        try {
            if (closed || w.stopRequested || watches.get(w.botId) != w || w.generation.get() != generation) {
                return;
            }
            Integer code = w.process != null ? Integer.valueOf(w.process.exitValue()) : null;
            Duration uptime = Duration.between(w.startedAt, Instant.now());
            Optional<BotRecord> entry = registry.get(w.botId);
            if (entry.isEmpty() || entry.get().pid() != w.pid()) {
                // A runner deregisters itself when told to stop by someone else (POST /stop, SIGTERM).
                watches.remove(w.botId);
                BotRecord last = w.lastRecord;
                if (entry.isEmpty() && last != null) {
                    registry.register(last.toBuilder().state(BotState.STOPPED).pid(0).processStart(null)
                            .wanted(false).lastExitCode(code).build());
                }
                log.info("[{}] pid {} exited with code {} after deregistering itself; not restarting", w.botId,
                        w.pid(), code);
                return;
            }
            afterExit(w, code, uptime, "exited with code " + (code == null ? "unknown" : code) + " after "
                    + uptime.toMillis() + " ms");
            // Agents run in their own session: a runner that died (kill -9, OOM) leaves its agent
            // running, working on a task the restarted runner will retry. Ended after the death is
            // recorded (finding it scans every process) and before the restart, which waits for
            // this bot's lock.
            io.deia.core.agent.AgentLeftovers.endLeftover(hive, w.botId);
        } finally {
            lock.unlock();
        }
    }

    /** Decides, under the bot's lock, what follows an exit (or a failed restart). */
    private void afterExit(Watch w, Integer code, Duration uptime, String what) {
        String botId = w.botId;
        Instant now = Instant.now();
        RestartPolicy policy = w.profile == null ? null : w.profile.restart();
        boolean failed = code == null || code != 0;
        boolean restart = policy != null && (policy.policy() == RestartPolicy.Mode.ALWAYS
                || (policy.policy() == RestartPolicy.Mode.ON_FAILURE && failed));
        w.exits++;
        if (!restart) {
            watches.remove(botId);
            BotState state = failed ? BotState.FAILED : BotState.STOPPED;
            String reason = what + (policy == null ? "; its profile is not configured here, not restarting"
                    : "; restart policy " + policy.policy().id());
            registry.update(botId, r -> r.toBuilder().state(state).pid(0).processStart(null).lastExitCode(code)
                    .wanted(false).lastError(failed ? reason : r.lastError()).build());
            log.warn("[{}] {} -> {}", botId, reason, state.id());
            return;
        }
        w.budget.onExit(uptime);
        if (!w.budget.allows(now)) {
            watches.remove(botId);
            String reason = String.format("exited %d times in %d s; last exit code %s", w.budget.inWindow() + 1,
                    policy.windowS(), code == null ? "unknown" : code);
            registry.update(botId, r -> r.toBuilder().state(BotState.FAILED).pid(0).processStart(null)
                    .wanted(false).lastExitCode(code).lastError(reason).build());
            log.error("[{}] restart budget spent ({} restarts per {} s): {} -> failed", botId, policy.maxRestarts(),
                    policy.windowS(), reason);
            return;
        }
        Duration delay = w.budget.nextDelay(now);
        w.restarts++;
        w.process = null;
        w.handle = null;
        String reason = what + "; restart " + w.restarts + " in " + delay.toMillis() + " ms";
        registry.update(botId, r -> r.toBuilder().state(BotState.RESTARTING).pid(0).processStart(null)
                .restarts(w.restarts).lastExitCode(code).lastError(reason).build());
        log.warn("[{}] {}", botId, reason);
        w.pendingRestart = timer.schedule(() -> workers.execute(() -> restart(w, code, reason)),
                delay.toMillis(), TimeUnit.MILLISECONDS);
    }

    private void restart(Watch w, Integer lastCode, String lastError) {
        ReentrantLock lock = lockFor(w.botId);
        lock.lock();
        try {
            if (closed || w.stopRequested || watches.get(w.botId) != w) {
                return;
            }
            Process process;
            try {
                BotRecord reserved = registry.reserve(w.botId, w.profile.name(), w.profile.agent().id());
                // Visible while the new runner starts; the runner's heartbeats keep these fields.
                reserved = registry.update(w.botId, r -> r.toBuilder().restarts(w.restarts).lastExitCode(lastCode)
                        .lastError(lastError).build()).orElse(reserved);
                process = startRunner(reserved, w.profile);
            } catch (DeiaException e) {
                if (e.code() == io.deia.core.ErrorCode.CONFLICT
                        || (e instanceof RunnerStartException lost && Integer.valueOf(EXIT_RUNNER_LOCKED).equals(lost.exitCode))) {
                    // Another controller launched it first (the registry's lock, or the runner lock,
                    // decided): that one supervises it; this one stands back.
                    watches.remove(w.botId);
                    log.warn("[{}] not restarted here: another controller runs it ({})", w.botId, e.getMessage());
                    return;
                }
                // A runner that died during its start (e.g. killed right after it said it was up) has an exit code.
                Integer code = e instanceof RunnerStartException failed ? failed.exitCode : null;
                afterExit(w, code, Duration.ZERO, "restart failed: " + e.getMessage());
                return;
            }
            markRunning(w.botId, w.restarts, lastCode, lastError);
            w.process = process;
            w.handle = process.toHandle();
            w.startedAt = Instant.now();
            log.info("[{}] restarted (restart {}) as pid {}", w.botId, w.restarts, process.pid());
            watch(w);
        } finally {
            lock.unlock();
        }
    }

    private ReentrantLock lockFor(String botId) {
        return locks.computeIfAbsent(botId, id -> new ReentrantLock());
    }

    private void ensureOpen() {
        if (closed) {
            throw DeiaException.unavailable("the launcher is closed");
        }
    }

    private static ThreadFactory daemonThreads(String name) {
        AtomicInteger n = new AtomicInteger();
        return r -> {
            Thread t = new Thread(r, name + "-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        };
    }

    /** One supervised bot: its current runner and its restart accounting. Guarded by the bot's lock. */
    private static final class Watch {
        final String botId;
        final Profile profile;
        final RestartBudget budget;
        final AtomicInteger generation = new AtomicInteger();
        volatile ProcessHandle handle;
        volatile Process process;
        volatile Instant startedAt;
        volatile boolean stopRequested;
        volatile ScheduledFuture<?> pendingRestart;
        volatile BotRecord lastRecord;
        int restarts;
        int exits;

        Watch(String botId, Profile profile, ProcessHandle handle, Process process, Instant startedAt) {
            this.botId = botId;
            this.profile = profile;
            this.handle = handle;
            this.process = process;
            this.startedAt = startedAt;
            this.budget = new RestartBudget(profile == null ? RestartPolicy.DEFAULT : profile.restart(),
                    () -> ThreadLocalRandom.current().nextDouble());
        }

        long pid() {
            ProcessHandle h = handle;
            return h == null ? 0 : h.pid();
        }

        void cancelRestart() {
            ScheduledFuture<?> f = pendingRestart;
            if (f != null) {
                f.cancel(false);
            }
        }
    }

    /** Options of a {@link BotLauncher}. */
    public static final class Builder {
        private final HiveLayout hive;
        private final DeiaConfig config;
        private final ServiceRegistry registry;
        private final RunnerCommand command;
        private Path configFile;
        private Duration stopGrace = Duration.ofSeconds(10);
        private Duration killGrace = Duration.ofSeconds(3);
        private long maxLogBytes = DEFAULT_MAX_LOG_BYTES;
        private boolean supervise = true;
        private Duration reconcileEvery;

        private Builder(HiveLayout hive, DeiaConfig config, ServiceRegistry registry, RunnerCommand command) {
            this.hive = hive;
            this.config = config;
            this.registry = registry;
            this.command = command;
        }

        /** The config file passed on to runners ({@code --config}); none by default. */
        public Builder configFile(Path file) {
            this.configFile = file;
            return this;
        }

        /** How long a runner gets to exit after {@code POST /stop} before signals (10 s). */
        public Builder stopGrace(Duration grace) {
            this.stopGrace = requirePositive(grace, "stopGrace");
            return this;
        }

        /** How long a process gets between SIGTERM and SIGKILL (3 s). */
        public Builder killGrace(Duration grace) {
            this.killGrace = requirePositive(grace, "killGrace");
            return this;
        }

        /** Log size above which the log is rotated before a start (10 MiB). */
        public Builder maxLogBytes(long bytes) {
            if (bytes <= 0) {
                throw new IllegalArgumentException("maxLogBytes must be > 0");
            }
            this.maxLogBytes = bytes;
            return this;
        }

        /**
         * Whether to watch and restart launched and adopted bots (true). A one-shot command line
         * launcher passes false: it exits right after the launch, and the bots run on unsupervised
         * until a long-running launcher adopts them.
         */
        public Builder supervise(boolean on) {
            this.supervise = on;
            return this;
        }

        /**
         * How often a supervising launcher runs {@link #reconcile()} (the config's heartbeat
         * interval); {@link Duration#ZERO} turns it off.
         */
        public Builder reconcileEvery(Duration every) {
            if (every == null || every.isNegative()) {
                throw new IllegalArgumentException("reconcileEvery must be >= 0");
            }
            this.reconcileEvery = every;
            return this;
        }

        public BotLauncher build() {
            HiveGuard.check(hive);
            return new BotLauncher(this);
        }

        private static Duration requirePositive(Duration d, String name) {
            if (d == null || d.isNegative() || d.isZero()) {
                throw new IllegalArgumentException(name + " must be > 0");
            }
            return d;
        }
    }

    /** The runner could not bind its reserved port: worth another try on another port. */
    /** A runner that did not come up; {@link #exitCode} when it exited (null when it was ended for it). */
    private static final class RunnerStartException extends DeiaException {
        private static final long serialVersionUID = 1L;
        private final transient Integer exitCode;

        RunnerStartException(String message, Integer exitCode) {
            super(io.deia.core.ErrorCode.UNAVAILABLE, message);
            this.exitCode = exitCode;
        }
    }

    private static final class PortTakenException extends DeiaException {
        private static final long serialVersionUID = 1L;

        PortTakenException(String message) {
            super(io.deia.core.ErrorCode.UNAVAILABLE, message);
        }
    }
}
