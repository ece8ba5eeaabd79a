package io.deia.core.launch;

import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;
import io.deia.core.HiveLayout;
import io.deia.core.config.Profile;
import io.deia.core.internal.HiveGuard;
import io.deia.core.internal.launch.BotLogFiles;
import io.deia.core.internal.launch.BotProbe;
import io.deia.core.internal.process.ProcessTrees;
import io.deia.core.registry.BotRecord;
import io.deia.core.registry.BotState;
import io.deia.core.registry.ServiceRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.File;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Starts one runner for a reserved registry entry (with {@code --project NAME} when the entry names
 * a project): {@code setsid}, argv without shell, stdout and stderr appended to
 * {@code bot-logs/<id>.log} (rotated when large), stdin from {@code /dev/null};
 * records its pid and start instant (first in its {@link RunnerLock}, then in the registry) and
 * returns once {@code GET /health} names the bot. A runner that exits or stays deaf is killed with
 * its whole tree and the error quotes the end of its log.
 */
final class RunnerSpawner {
    /** Lines of the bot's log quoted in a launch error. */
    static final int LOG_TAIL_LINES = 20;
    private static final Logger log = LoggerFactory.getLogger(RunnerSpawner.class);
    private static final Duration HEALTH_POLL = Duration.ofMillis(25);
    /** How long one {@code /health} request of a launch may wait on a starting bot's side. */
    private static final Duration HEALTH_WAIT = Duration.ofSeconds(2);
    private static final File NULL_DEVICE = new File("/dev/null");

    private final HiveLayout hive;
    private final ServiceRegistry registry;
    private final RunnerCommand command;
    private final Path configFile;
    private final long maxLogBytes;
    private final BotProbe probe;

    RunnerSpawner(HiveLayout hive, ServiceRegistry registry, RunnerCommand command, Path configFile, long maxLogBytes,
                  BotProbe probe) {
        this.hive = hive;
        this.registry = registry;
        this.command = command;
        this.configFile = configFile;
        this.maxLogBytes = maxLogBytes;
        this.probe = probe;
    }

    /**
     * Spawns the runner for a reserved entry, records its pid and waits for {@code /health}.
     * On failure the tree is killed and a DeiaException with the log tail is thrown
     * ({@link PortTakenException} when only the port was the problem); the registry entry is left
     * for the caller to roll back or mark.
     */
    Process start(BotRecord reserved, Profile profile) {
        String botId = reserved.botId();
        Path logFile = hive.botLogFile(botId);
        List<String> argv = new ArrayList<>(ProcessTrees.newSessionPrefix());
        argv.addAll(command.argv(botId, reserved.port(), profile, hive.root(), configFile, reserved.project()));
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
        try {
            // At once, before the registry's durable write: should this process die in between, the
            // next controller still learns that this runner existed (see Reconciler).
            RunnerLock.recordSpawn(hive, botId, new RunnerLock.Spawn(reserved.registeredAt(), pid, start));
        } catch (IOException e) {
            log.warn("[{}] cannot record the spawn of pid {} in {}: {}", botId, pid, RunnerLock.file(hive, botId),
                    e.toString());
        }
        log.info("[{}] spawned pid {} for port {} (profile {}{}), log {}", botId, pid, reserved.port(), profile.name(),
                reserved.project() == null ? "" : ", project " + reserved.project(), logFile);
        registry.update(botId, r -> r.toBuilder().pid(pid).processStart(start).build());
        String failure = awaitHealthy(botId, reserved.port(), process, profile.startTimeout());
        if (failure == null) {
            log.info("[{}] launched pid {} on port {}", botId, pid, reserved.port());
            return process;
        }
        Integer ownExit = process.isAlive() ? null : process.exitValue();
        ProcessTrees.kill(process.toHandle());
        RunnerStopper.awaitExit(process, Duration.ofSeconds(5));
        String tail = BotLogFiles.tail(logFile, LOG_TAIL_LINES);
        log.warn("[{}] launch failed: {}", botId, failure);
        if (!process.isAlive() && process.exitValue() == BotLauncher.EXIT_PORT_IN_USE) {
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
    BotRecord markRunning(String botId, int restarts, Integer lastExitCode, String lastError) {
        return registry.update(botId, r -> r.toBuilder()
                        .state(r.state() == BotState.STARTING ? BotState.IDLE : r.state())
                        .restarts(restarts)
                        .lastExitCode(lastExitCode != null ? lastExitCode : r.lastExitCode())
                        .lastError(lastError != null ? lastError : r.lastError())
                        .build())
                .orElseThrow(() -> DeiaException.unavailable("bot %s came up but its registry entry is gone", botId));
    }

    /** A runner that did not come up; {@link #exitCode} when it exited (null when it was ended for it). */
    static final class RunnerStartException extends DeiaException {
        private static final long serialVersionUID = 1L;
        final transient Integer exitCode;

        RunnerStartException(String message, Integer exitCode) {
            super(ErrorCode.UNAVAILABLE, message);
            this.exitCode = exitCode;
        }
    }

    /** The runner could not bind its reserved port: worth another try on another port. */
    static final class PortTakenException extends DeiaException {
        private static final long serialVersionUID = 1L;

        PortTakenException(String message) {
            super(ErrorCode.UNAVAILABLE, message);
        }
    }
}
