package io.deia.server.cli;

import io.deia.core.BotIds;
import io.deia.core.DeiaException;
import io.deia.core.HiveLayout;
import io.deia.core.HiveToken;
import io.deia.core.agent.Agent;
import io.deia.core.agent.AgentContext;
import io.deia.core.agent.Agents;
import io.deia.core.bot.BotRuntime;
import io.deia.core.config.DeiaConfig;
import io.deia.core.config.Profile;
import io.deia.core.bot.HiveFolderWatch;
import io.deia.core.launch.BotLauncher;
import io.deia.core.launch.RunnerLock;
import io.deia.core.registry.JsonFileServiceRegistry;
import io.deia.http.bot.BotHttpService;
import io.deia.server.DefaultConfig;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.time.Duration;
import java.util.concurrent.Callable;

/**
 * {@code bot --id BOT-001 --port N [--profile NAME]}: runs one bot (what the launcher spawns) until
 * {@code POST /stop} or SIGTERM, both of which stop it gracefully (finish or interrupt the turn,
 * close the agent's process tree, deregister) and exit 0.
 *
 * <p>SIGTERM is caught with a signal handler so that the graceful stop ends in exit code 0 (a
 * shutdown hook alone cannot change the JVM's 143). Where that handler cannot be installed, and on
 * SIGINT/SIGHUP, a shutdown hook does the same stop and the JVM exits with its signal code.
 */
@Command(name = "bot", mixinStandardHelpOptions = true,
        description = "Run one bot: HTTP service on 127.0.0.1:PORT, task inbox, agent and heartbeat.")
public final class BotCommand implements Callable<Integer> {
    private static final Logger log = LoggerFactory.getLogger(BotCommand.class);
    /** How long a starting runner waits for its lock: a supervisor may hold it for a moment. */
    private static final Duration RUNNER_LOCK_PATIENCE = Duration.ofSeconds(3);
    /** Looks (one per heartbeat interval) that must find the hive folder gone before the runner stops. */
    private static final int HIVE_MISSES = 2;

    @Spec
    CommandSpec spec;

    @Mixin
    HiveOptions hiveOptions;

    @Option(names = "--id", required = true, paramLabel = "BOT-ID", description = "The bot's id, e.g. BOT-001.")
    String botId;

    @Option(names = "--port", required = true, paramLabel = "N", description = "The HTTP port to serve on 127.0.0.1.")
    int port;

    @Option(names = "--profile", paramLabel = "NAME", defaultValue = DefaultConfig.DEFAULT_PROFILE,
            description = "The profile to run (default: ${DEFAULT-VALUE}).")
    String profileName;

    @Option(names = "--stop-grace", paramLabel = "SECONDS", defaultValue = "5",
            description = "How long a stop lets the running turn finish before interrupting it (default: ${DEFAULT-VALUE}).")
    int stopGraceS;

    @Override
    public Integer call() {
        BotIds.requireValid(botId);
        if (port < 1 || port > 65535) {
            String message = "--port must be 1..65535, was " + port;
            // spec is null when BotArgv read the command line (it only passes valid ports).
            throw spec != null ? new ParameterException(spec.commandLine(), message) : DeiaException.invalid("%s", message);
        }
        HiveLayout hive = hiveOptions.layout();
        DeiaConfig config = hiveOptions.config();
        Profile profile = config.requireProfile(profileName);
        Agents.checkExecutable(profile);
        Duration grace = Duration.ofSeconds(Math.max(0, stopGraceS));
        // Held for the runner's whole life (released by the kernel when it dies): one runner per
        // bot whichever controller started it, and a supervisor learns of its death at once.
        RunnerLock runnerLock;
        try {
            runnerLock = RunnerLock.acquire(hive, botId, RUNNER_LOCK_PATIENCE).orElse(null);
        } catch (java.io.IOException e) {
            throw DeiaException.unavailable("bot %s: cannot open its runner lock: %s", botId, e.getMessage());
        }
        if (runnerLock == null) {
            log.error("[{}] another runner of this bot holds {}: exiting (two controllers started it; the other one won)",
                    botId, RunnerLock.file(hive, botId));
            return BotLauncher.EXIT_RUNNER_LOCKED;
        }

        Agent agent = Agents.create(new AgentContext(botId, profile, hive, System.getenv()));
        BotRuntime runtime = BotRuntime.builder().botId(botId).profile(profile).config(config).hive(hive)
                .registry(new JsonFileServiceRegistry(hive, config)).agent(agent).port(port).build();
        BotHttpService http;
        try {
            // Bind first: a taken port fails the launch before the bot registers or claims any task.
            // The token comes from the hive's 0600 file, never from argv or the environment (both
            // readable by other local users); the launcher made sure the file exists.
            http = BotHttpService.builder(runtime).token(HiveToken.loadOrCreate(hive)).port(port).stopGrace(grace)
                    .build().start();
        } catch (RuntimeException e) {
            agent.close();
            if (e.getCause() instanceof java.net.BindException) {
                // Another program took the port after the registry checked it: a distinct exit code
                // tells the launcher to reserve another port and try again.
                log.error("[{}] port {} is taken: {}", botId, port, e.getMessage());
                return BotLauncher.EXIT_PORT_IN_USE;
            }
            throw e;
        }
        // Before the runtime starts answering /health: a SIGTERM from then on is a graceful stop.
        StopSignals.install(runtime, grace);
        try {
            runtime.start();
        } catch (RuntimeException e) {
            http.close();
            runtime.close();
            throw e;
        }
        log.info("[{}] bot runner up: pid {}, port {}, profile {}, hive {}", botId, ProcessHandle.current().pid(),
                http.port(), profile.name(), hive.root());
        HiveFolderWatch hiveWatch = watchHive(hive, config, runtime, grace);
        runtime.stopped().join();
        if (hiveWatch != null) {
            hiveWatch.close();
        }
        http.close();
        log.info("[{}] bot runner exiting with 0", botId);
        release(runnerLock);
        return 0;
    }

    /** Also what keeps the lock reachable until here: a collected channel would close and drop it. */
    private void release(RunnerLock lock) {
        try {
            lock.close();
        } catch (java.io.IOException e) {
            log.debug("[{}] releasing the runner lock: {}", botId, e.toString());
        }
    }

    /** Stops the runner within a few heartbeats of its hive folder being deleted; null when it cannot look. */
    private HiveFolderWatch watchHive(HiveLayout hive, DeiaConfig config, BotRuntime runtime, Duration grace) {
        try {
            return HiveFolderWatch.start(botId, hive, Duration.ofSeconds(config.heartbeatIntervalS()), HIVE_MISSES,
                    () -> runtime.stop(grace));
        } catch (java.io.IOException | RuntimeException e) {
            log.warn("[{}] cannot watch the hive folder {}: {}", botId, hive.root(), e.toString());
            return null;
        }
    }
}
