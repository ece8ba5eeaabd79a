package io.deia.core.launch;

import io.deia.core.ErrorCode;
import io.deia.core.DeiaException;
import io.deia.core.HiveLayout;
import io.deia.core.agent.AgentLeftovers;
import io.deia.core.config.DeiaConfig;
import io.deia.core.config.Profile;
import io.deia.core.config.RestartPolicy;
import io.deia.core.registry.BotRecord;
import io.deia.core.registry.BotState;
import io.deia.core.registry.ServiceRegistry;
import io.deia.core.webhook.WebhookOutbox;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Watches a launcher's runners and restarts the ones that exit unasked, under the profile's
 * {@link RestartPolicy}: exponential backoff with jitter, a budget of restarts per window after
 * which the bot is {@link BotState#FAILED} with the reason. A runner that deregistered itself
 * (graceful {@code /stop} or SIGTERM sent by someone else) is not restarted.
 *
 * <p>A child's exit is noticed through {@link Process#onExit()}; an adopted runner's through its
 * {@link RunnerLock}, which the kernel drops the moment it dies (no polling). It also carries out
 * for the {@link Reconciler} what touches supervision: adopting a runner, restarting a bot nobody
 * supervised.
 */
final class Supervisor implements Reconciler.Supervision {
    private static final Logger log = LoggerFactory.getLogger(Supervisor.class);
    private static final long SELF_PID = ProcessHandle.current().pid();
    /** How often an adopted runner that does not hold its lock yet (still starting) is looked at. */
    private static final Duration LOCK_RECHECK = Duration.ofMillis(100);

    private final HiveLayout hive;
    private final DeiaConfig config;
    private final ServiceRegistry registry;
    private final RunnerSpawner spawner;
    private final boolean supervise;
    /** Where {@code bot.failed} webhook events go when supervision gives a bot up. */
    private final WebhookOutbox webhooks;
    /**
     * One lock per bot id this launcher has touched: launches, stops, restarts and reconciles of one
     * bot run one after the other, of different bots in parallel. Never pruned: a lock removed while
     * a thread holds it or waits for it would let a second one in; a bot id costs a few bytes.
     */
    private final ConcurrentMap<String, ReentrantLock> locks = new ConcurrentHashMap<>();
    private final ConcurrentMap<String, Watch> watches = new ConcurrentHashMap<>();
    final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(daemonThreads("deia-launcher-timer"));
    final ExecutorService workers = Executors.newCachedThreadPool(daemonThreads("deia-launcher"));
    private volatile boolean closed;

    Supervisor(HiveLayout hive, DeiaConfig config, ServiceRegistry registry, RunnerSpawner spawner, boolean supervise,
               WebhookOutbox webhooks) {
        this.hive = hive;
        this.webhooks = webhooks;
        this.config = config;
        this.registry = registry;
        this.spawner = spawner;
        this.supervise = supervise;
    }

    @Override
    public boolean supervises(String botId) {
        return watches.containsKey(botId);
    }

    @Override
    public ReentrantLock lockFor(String botId) {
        return locks.computeIfAbsent(botId, id -> new ReentrantLock());
    }

    /** The bot's watch, or null when it is not supervised here. */
    Watch watchOf(String botId) {
        return watches.get(botId);
    }

    /** The ids of the bots supervised now. */
    Set<String> supervised() {
        return Set.copyOf(watches.keySet());
    }

    boolean closed() {
        return closed;
    }

    /** Supervises a runner this launcher has just started (no-op when not supervising). */
    void watchLaunched(String botId, Profile profile, String project, Process process, int restarts) {
        if (supervise) {
            Watch w = new Watch(botId, profile, project, process.toHandle(), process, Instant.now());
            w.restarts = restarts;
            watch(w);
        }
    }

    /** Ends the bot's supervision for a stop (its pending restart dropped); null when it had none. */
    Watch release(String botId) {
        Watch watch = watches.remove(botId);
        if (watch != null) {
            watch.stopRequested = true;
            watch.cancelRestart();
        }
        return watch;
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

    /**
     * Supervises a live runner from now on and records this process as the launcher responsible
     * for it; empty when the process went away meanwhile.
     */
    Optional<BotRecord> adoptRunner(BotRecord r) {
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
            Watch w = new Watch(r.botId(), profile, r.project(), handle.get(), null, started);
            w.restarts = r.restarts(); // the count belongs to the bot, not to one controller
            watch(w);
        }
        log.info("[{}] adopted pid {} on port {}", r.botId(), r.pid(), r.port());
        return Optional.of(taken);
    }

    /**
     * Claims a wanted bot whose runner is gone and schedules its restart through the same path a
     * supervised exit takes. The claim is one conditional update under the registry's lock: it
     * only applies to the entry as it was read, so of two controllers exactly one gets it.
     */
    @Override
    public Optional<BotRecord> restart(BotRecord seen, Profile profile, String reason, boolean uncountedDeath) {
        if (!supervise) {
            return Optional.empty();
        }
        String botId = seen.botId();
        BotRecord claimed = registry.update(botId, e -> e.equals(seen)
                ? e.toBuilder().launcherIsThisProcess().build() : e).orElse(null);
        if (claimed == null || claimed.launcherPid() != SELF_PID) {
            log.info("[{}] not restarted here: another controller took it first (launcher pid {})", botId,
                    claimed == null ? 0 : claimed.launcherPid());
            return Optional.empty();
        }
        Watch w = new Watch(botId, profile, seen.project(), null, null, Instant.now());
        // afterExit counts one restart: right for a death nobody counted yet; a pending restart, or a
        // launch cut short before any runner was spawned, was counted by the launcher that began it.
        w.restarts = uncountedDeath ? seen.restarts() : seen.restarts() - 1;
        w.lastRecord = claimed;
        watches.put(botId, w);
        log.warn("[{}] {}; restarting it under its restart policy", botId, reason);
        afterExit(w, seen.lastExitCode(), Duration.ZERO, reason);
        if (uncountedDeath) {
            // The dead runner's agent runs in its own session and may still work on a task; ended
            // under the bot's lock, so before the restart.
            AgentLeftovers.endLeftover(hive, botId);
        }
        return registry.get(botId);
    }

    /**
     * Stops supervising: pending restarts are dropped (the bots stay wanted: the next launcher
     * restarts them), and the registry no longer names this process as their launcher.
     */
    void close() {
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
     * Clears this process as the bot's launcher, so that another launcher (also one in this JVM, or
     * a reconcile of this one) takes the bot over at once instead of leaving it to a launcher that
     * does not supervise it.
     */
    private void disown(String botId) {
        try {
            registry.update(botId, e -> e.launcherPid() == SELF_PID
                    ? e.toBuilder().launcherPid(0).launcherStart(null).build() : e);
        } catch (RuntimeException e) {
            log.warn("[{}] cannot clear this controller as its launcher: {}", botId, e.getMessage());
        }
    }

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
                } else if (entry.isPresent()) {
                    // Another runner of the bot registered over this one (this one lost its lock):
                    // a reconcile adopts it.
                    disown(w.botId);
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
            AgentLeftovers.endLeftover(hive, w.botId);
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
        if (!restart) {
            watches.remove(botId);
            BotState state = failed ? BotState.FAILED : BotState.STOPPED;
            String reason = what + (policy == null ? "; its profile is not configured here, not restarting"
                    : "; restart policy " + policy.policy().id());
            registry.update(botId, r -> r.toBuilder().state(state).pid(0).processStart(null).lastExitCode(code)
                    .wanted(false).lastError(failed ? reason : r.lastError()).build());
            log.warn("[{}] {} -> {}", botId, reason, state.id());
            if (failed) {
                failedForGood(botId, reason, code);
            }
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
            failedForGood(botId, reason, code);
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
            if (!projectStillValid(w)) {
                return;
            }
            Process process;
            try {
                BotRecord reserved = registry.reserve(w.botId, w.profile.name(), w.profile.agent().id(), w.project);
                // Visible while the new runner starts; the runner's heartbeats keep these fields.
                reserved = registry.update(w.botId, r -> r.toBuilder().restarts(w.restarts).lastExitCode(lastCode)
                        .lastError(lastError).build()).orElse(reserved);
                process = spawner.start(reserved, w.profile);
            } catch (DeiaException e) {
                if (e.code() == ErrorCode.CONFLICT || (e instanceof RunnerSpawner.RunnerStartException lost
                        && Integer.valueOf(BotLauncher.EXIT_RUNNER_LOCKED).equals(lost.exitCode))) {
                    // Another controller launched it first (the registry's lock, or the runner lock,
                    // decided), or a runner whose launcher died before recording it holds the lock.
                    watches.remove(w.botId);
                    // Adopted then by a reconcile here, unless another live controller answers for it.
                    disown(w.botId);
                    log.warn("[{}] not restarted here: another runner or controller runs it ({})", w.botId,
                            e.getMessage());
                    return;
                }
                // A runner that died during its start (e.g. killed right after it said it was up) has an exit code.
                Integer code = e instanceof RunnerSpawner.RunnerStartException failed ? failed.exitCode : null;
                afterExit(w, code, Duration.ZERO, "restart failed: " + e.getMessage());
                return;
            }
            spawner.markRunning(w.botId, w.restarts, lastCode, lastError);
            w.process = process;
            w.handle = process.toHandle();
            w.startedAt = Instant.now();
            log.info("[{}] restarted (restart {}) as pid {}", w.botId, w.restarts, process.pid());
            watch(w);
        } finally {
            lock.unlock();
        }
    }

    /**
     * False, with the bot recorded as failed, when its project left the config or its repository
     * lost its path or base branch since the last start. Not retried under the restart policy: the
     * repository does not heal by waiting, and the error names the field the user must fix.
     */
    private boolean projectStillValid(Watch w) {
        if (w.project == null) {
            return true;
        }
        try {
            config.requireProject(w.project).verify();
            return true;
        } catch (DeiaException e) {
            watches.remove(w.botId);
            String reason = "not restarted: " + e.getMessage();
            registry.update(w.botId, r -> r.toBuilder().state(BotState.FAILED).pid(0).processStart(null)
                    .wanted(false).lastError(reason).build());
            log.error("[{}] {} -> failed", w.botId, reason);
            failedForGood(w.botId, reason, null);
            return false;
        }
    }

    /**
     * Writes the {@code bot.failed} webhook event of a bot given up on; a failure to write it is
     * logged and changes nothing else (the registry says failed either way).
     */
    @Override
    public void failedForGood(String botId, String reason, Integer exitCode) {
        Map<String, Object> fields = new LinkedHashMap<>();
        fields.put("reason", reason);
        fields.put("exit_code", exitCode);
        try {
            webhooks.publish("bot.failed", botId, fields);
        } catch (RuntimeException e) {
            log.warn("[{}] cannot write the bot.failed webhook event: {}", botId, e.getMessage());
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
}
