package io.deia.core.launch;

import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;
import io.deia.core.HiveLayout;
import io.deia.core.HiveToken;
import io.deia.core.agent.Agents;
import io.deia.core.config.DeiaConfig;
import io.deia.core.config.HiveSettings;
import io.deia.core.config.HiveSettingsFile;
import io.deia.core.config.Profile;
import io.deia.core.config.RestartPolicy;
import io.deia.core.internal.BotIds;
import io.deia.core.internal.HiveGuard;
import io.deia.core.internal.launch.BotProbe;
import io.deia.core.internal.process.ProcessTrees;
import io.deia.core.project.Project;
import io.deia.core.registry.BotRecord;
import io.deia.core.registry.BotState;
import io.deia.core.registry.ServiceRegistry;
import io.deia.core.webhook.WebhookOutbox;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;

// Over ~400 lines because it is the facade embedders call and carries the builder of every launcher
// setting; the work lives in RunnerSpawner, RunnerStopper, Supervisor and Reconciler.
/**
 * Starts, stops, supervises and re-adopts bot runner processes: the one class an embedder uses.
 *
 * <p><b>Launch</b> ({@link RunnerSpawner}): validate the id and profile, check the agent's
 * executable, reserve a port in the registry, spawn the runner so that it outlives this process,
 * and return only once {@code GET /health} names the bot; a runner that does not come up is ended
 * and its entry removed. <b>Stop</b> ({@link RunnerStopper}): the whole tree is ended and the entry
 * stays as {@link BotState#STOPPED}. <b>Supervision</b> ({@link Supervisor}): an exit nobody asked
 * for is handled by the profile's {@link RestartPolicy}.
 *
 * <p><b>Desired state</b>: a launched bot is {@link BotRecord#wanted() wanted} running, in its
 * registry entry, until {@link #stop} (which records that first) or a spent restart budget. Any
 * supervising launcher brings wanted bots back: {@link #adopt()} at its start and
 * {@link #reconcile()} every heartbeat interval take over runners that still run and restart the
 * ones that died while no launcher supervised them, waited out a back-off, or were half launched
 * ({@link Reconciler} holds the table).
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

    /** Log files larger than this are rotated to {@code <id>.log.1} before the next start. */
    public static final long DEFAULT_MAX_LOG_BYTES = 10L * 1024 * 1024;

    /** How often {@link #launch} tries another port when the reserved one is taken under it. */
    static final int PORT_ATTEMPTS = 3;

    private static final Logger log = LoggerFactory.getLogger(BotLauncher.class);

    private final DeiaConfig config;
    private final ServiceRegistry registry;
    private final BotProbe probe;
    private final RunnerSpawner spawner;
    private final RunnerStopper stopper;
    private final Supervisor supervisor;
    private final Reconciler reconciler;

    private BotLauncher(Builder b) {
        HiveLayout hive = Objects.requireNonNull(b.hive, "hive");
        this.config = Objects.requireNonNull(b.config, "config");
        this.registry = Objects.requireNonNull(b.registry, "registry");
        // Before any runner starts: a runner reads the token from this file (never from its argv or
        // environment), so embedded use without a controller works too.
        this.probe = new BotProbe(Duration.ofSeconds(2), HiveToken.loadOrCreate(hive));
        this.spawner = new RunnerSpawner(hive, registry, Objects.requireNonNull(b.command, "runnerCommand"),
                b.configFile, b.maxLogBytes, probe);
        this.stopper = new RunnerStopper(registry, probe, b.stopGrace, b.killGrace);
        this.supervisor = new Supervisor(hive, config, registry, spawner, b.supervise, b.webhooks != null ? b.webhooks
                : new WebhookOutbox(hive, new HiveSettingsFile(hive, HiveSettings.of(config))::current));
        this.reconciler = new Reconciler(hive, registry, config, supervisor);
        Duration every = b.reconcileEvery != null ? b.reconcileEvery : Duration.ofSeconds(config.heartbeatIntervalS());
        if (b.supervise && !every.isZero()) {
            supervisor.timer.scheduleWithFixedDelay(this::reconcileQuietly, every.toMillis(), every.toMillis(),
                    TimeUnit.MILLISECONDS);
        }
    }

    /**
     * A launcher for a hive; see {@link Builder} for the options.
     *
     * @param registry where bots are reserved, recorded and found again after a restart
     * @param command  how a bot runner process is started (usually {@link RunnerCommand#currentJvm()})
     * @return a builder with the default options
     */
    public static Builder builder(HiveLayout hive, DeiaConfig config, ServiceRegistry registry, RunnerCommand command) {
        return new Builder(hive, config, registry, command);
    }

    /**
     * Launches one bot in its private workspace; {@link #launch(String, String, String)} without a project.
     *
     * @param botId       the new bot's id ({@code ^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$})
     * @param profileName a profile of the launcher's config
     * @return the bot's registry entry (a running state), with its pid, port and URL
     * @throws DeiaException as {@link #launch(String, String, String)} does
     */
    public BotRecord launch(String botId, String profileName) {
        return launch(botId, profileName, null);
    }

    /**
     * Launches one bot and returns its registry entry once it answers {@code /health}. With a
     * project the bot works in its own git worktree of that repository: the project is checked
     * with git first ({@link Project#verify()}), recorded in the bot's entry (so restarts and
     * adoptions keep it) and passed to the runner as {@code --project NAME}.
     *
     * @param botId       the new bot's id ({@code ^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$})
     * @param profileName a profile of the launcher's config
     * @param projectName a project of the launcher's config, or null for the bot's private workspace
     * @return the bot's registry entry (a running state), with its pid, port and URL
     * @throws DeiaException {@code INVALID_ARGUMENT} for a bad id, {@code UNPROCESSABLE} for an
     *         unknown profile or project, a project whose repository or base branch is missing
     *         (naming the project and the field) or a missing agent executable, {@code CONFLICT} when
     *         the bot runs already, {@code UNAVAILABLE} when no port is free or the runner did not
     *         come up (the message then ends with the last lines of its log)
     */
    public BotRecord launch(String botId, String profileName, String projectName) {
        BotIds.requireValid(botId);
        Profile profile = config.requireProfile(profileName);
        if (projectName != null) {
            config.requireProject(projectName).verify();
        }
        Agents.checkExecutable(profile);
        ensureOpen();
        ReentrantLock lock = supervisor.lockFor(botId);
        lock.lock();
        try {
            Watch current = supervisor.watchOf(botId);
            if (current != null) {
                throw DeiaException.conflict("bot %s is already %s (pid %d)", botId,
                        current.process == null ? "restarting" : "running", current.pid());
            }
            Process process = null;
            for (int attempt = 1; process == null; attempt++) {
                BotRecord reserved = registry.reserve(botId, profile.name(), profile.agent().id(), projectName);
                try {
                    process = spawner.start(reserved, profile);
                } catch (RunnerSpawner.PortTakenException e) {
                    registry.deregister(botId);
                    if (attempt >= PORT_ATTEMPTS) {
                        supervisor.failedForGood(botId, "launch failed: " + e.getMessage(), null);
                        throw e;
                    }
                    log.warn("[{}] port {} was taken before the runner could bind it; reserving another (attempt {} of {})",
                            botId, reserved.port(), attempt + 1, PORT_ATTEMPTS);
                } catch (DeiaException e) {
                    registry.deregister(botId);
                    if (e.code() != ErrorCode.CONFLICT) {
                        // The runner did not come up (it exited, or never answered): the launch is over.
                        supervisor.failedForGood(botId, "launch failed: " + e.getMessage(),
                                e instanceof RunnerSpawner.RunnerStartException start ? start.exitCode : null);
                    }
                    throw e;
                }
            }
            BotRecord reserved = registry.get(botId).orElseThrow();
            BotRecord healthy = spawner.markRunning(botId, reserved.restarts(), null, null);
            supervisor.watchLaunched(botId, profile, projectName, process, healthy.restarts());
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
                futures.put(id, CompletableFuture.supplyAsync(() -> launch(id, profile), supervisor.workers)));
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
        ReentrantLock lock = supervisor.lockFor(botId);
        lock.lock();
        try {
            // Recorded before anything is ended: a stop that cannot be recorded (read-only or full
            // hive) fails here and leaves the bot running and its entry true, instead of a dead
            // runner behind an entry that says idle -- and no controller brings back what the
            // registry says is not wanted.
            registry.update(botId, r -> r.wanted() ? r.toBuilder().wanted(false).build() : r);
            return stopper.stop(botId, supervisor.release(botId));
        } finally {
            lock.unlock();
        }
    }

    /** Stops every bot this launcher supervises and every live bot of the registry, in parallel. */
    public void stopAll() {
        Set<String> ids = new LinkedHashSet<>(supervisor.supervised());
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
            }, supervisor.workers));
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
            if (supervisor.supervises(r.botId()) || r.pid() <= 0) {
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
            supervisor.adoptRunner(r).ifPresent(adopted::add);
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

    private void reconcileQuietly() {
        if (supervisor.closed()) {
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
        return supervisor.supervised();
    }

    /**
     * Stops supervising; the bots keep running (they outlive the launcher) and a later launcher can
     * {@link #adopt()} them. Pending restarts are dropped (the bots stay wanted: the next launcher
     * restarts them), and the registry no longer names this process as their launcher.
     */
    @Override
    public void close() {
        supervisor.close();
    }

    private void ensureOpen() {
        if (supervisor.closed()) {
            throw DeiaException.unavailable("the launcher is closed");
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
        private WebhookOutbox webhooks;

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

        /**
         * Where {@code bot.failed} webhook events go; by default the hive's outbox with the event
         * types of {@code hive/settings.json} (or of the config). {@code serve} passes one that
         * follows its reloadable config.
         */
        public Builder webhooks(WebhookOutbox outbox) {
            this.webhooks = outbox;
            return this;
        }

        /** The launcher; checks the hive folder first. */
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
}
