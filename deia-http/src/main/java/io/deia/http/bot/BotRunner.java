package io.deia.http.bot;

import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;
import io.deia.core.HiveLayout;
import io.deia.core.HiveToken;
import io.deia.core.agent.Agent;
import io.deia.core.agent.AgentContext;
import io.deia.core.agent.Agents;
import io.deia.core.bot.BotRuntime;
import io.deia.core.bot.HiveFolderWatch;
import io.deia.core.config.DeiaConfig;
import io.deia.core.config.Profile;
import io.deia.core.internal.BotIds;
import io.deia.core.internal.HiveGuard;
import io.deia.core.launch.BotLauncher;
import io.deia.core.launch.RunnerLock;
import io.deia.core.project.BotWorktree;
import io.deia.core.project.GitLock;
import io.deia.core.project.Project;
import io.deia.core.registry.JsonFileServiceRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;
import picocli.CommandLine;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.function.Supplier;

/**
 * The bot runner, {@code bot --id BOT-001 --port N [--profile NAME] [--project NAME] [--hive DIR]
 * [--config FILE] [--stop-grace SECONDS]}: runs one bot (what a {@link BotLauncher} spawns) until {@code POST /stop}
 * or SIGTERM, both of which stop it gracefully (finish or interrupt the turn, close the agent's
 * process tree, deregister) and exit 0. With {@code --project} the agent works in the bot's git
 * worktree of that project ({@link BotWorktree}), a branch per task, deia's commit after every turn.
 *
 * <p>Its {@link #main} is the runner an embedder needs ({@code RunnerCommand.currentJvm()} starts it),
 * with deia-core and deia-http on the class path and nothing else of deia. A server with a command
 * line of its own adds {@code new BotRunner(itsDefaults)} as its {@code bot} subcommand and applies
 * {@link #exitCodes} to it, so both read the same options the same way.
 *
 * <p>SIGTERM is caught with a signal handler so that the graceful stop ends in exit code 0 (a
 * shutdown hook alone cannot change the JVM's 143). Where that handler cannot be installed, and on
 * SIGINT/SIGHUP, a shutdown hook does the same stop and the JVM exits with its signal code.
 */
@Command(name = "bot", mixinStandardHelpOptions = true,
        description = "Run one bot: HTTP service on 127.0.0.1:PORT, task inbox, agent and heartbeat.")
public final class BotRunner implements Callable<Integer> {
    /** The hive folder when {@code --hive} is not given. */
    public static final String DEFAULT_HIVE = "./.deia";
    /** The profile a bot runs when {@code --profile} is not given. */
    public static final String DEFAULT_PROFILE = "echo";
    /** Exit code of a successful command. */
    public static final int OK = 0;
    /** Exit code when the command failed. */
    public static final int FAILURE = 1;
    /** Exit code for bad usage: unknown command or option, invalid value. */
    public static final int USAGE = 2;

    private static final Logger log = LoggerFactory.getLogger(BotRunner.class);
    /** How long a starting runner waits for its lock: a supervisor may hold it for a moment. */
    private static final Duration RUNNER_LOCK_PATIENCE = Duration.ofSeconds(3);
    /** Looks (one per heartbeat interval) that must find the hive folder gone before the runner stops. */
    private static final int HIVE_MISSES = 2;

    private final Supplier<DeiaConfig> builtInConfig;

    @Spec
    CommandSpec spec;

    @Option(names = "--hive", paramLabel = "DIR", defaultValue = DEFAULT_HIVE,
            description = "The hive folder (default: ${DEFAULT-VALUE}).")
    Path hive;

    @Option(names = "--config", paramLabel = "FILE",
            description = "Config file (default: <hive>/deia.json when it exists, else the built-in defaults).")
    Path config;

    @Option(names = "--id", required = true, paramLabel = "BOT-ID", description = "The bot's id, e.g. BOT-001.")
    String botId;

    @Option(names = "--port", required = true, paramLabel = "N", description = "The HTTP port to serve on 127.0.0.1.")
    int port;

    @Option(names = "--profile", paramLabel = "NAME", defaultValue = DEFAULT_PROFILE,
            description = "The profile to run (default: ${DEFAULT-VALUE}).")
    String profileName;

    @Option(names = "--project", paramLabel = "NAME",
            description = "A project of the config (\"projects\"): the agent works in this bot's git worktree of it, "
                    + "a branch per task, deia's commit after every turn (default: no project, a private workspace).")
    String projectName;

    @Option(names = "--stop-grace", paramLabel = "SECONDS", defaultValue = "5",
            description = "How long a stop lets the running turn finish before interrupting it (default: ${DEFAULT-VALUE}).")
    int stopGraceS;

    /**
     * @param builtInConfig the config when neither {@code --config} nor {@code <hive>/deia.json} is
     *                      there (a server's built-in defaults)
     */
    public BotRunner(Supplier<DeiaConfig> builtInConfig) {
        this.builtInConfig = builtInConfig;
    }

    /**
     * Runs {@code bot ...} and exits the JVM with its exit code. There are no built-in profiles: the
     * config is {@code --config FILE} or {@code <hive>/deia.json}.
     */
    public static void main(String[] args) {
        CommandLine cli = new CommandLine(new Runner()).addSubcommand(new BotRunner(() -> {
            throw DeiaException.invalid("no config file: pass --config FILE or create <hive>/deia.json");
        }));
        System.exit(exitCodes(cli).execute(args));
    }

    /** The top command of {@link #main}, whose only subcommand is {@code bot}: the launcher's argv names it. */
    @Command(name = "deia-runner", mixinStandardHelpOptions = true, description = "Runs one deia bot.")
    private static final class Runner implements Runnable {
        @Spec
        CommandSpec spec;

        @Override
        public void run() {
            throw new ParameterException(spec.commandLine(), "a command is required");
        }
    }

    /**
     * Gives {@code cli} deia's exit codes: {@link #USAGE} for bad usage and for invalid input reported
     * by deia (ids, profiles, config files), {@link #FAILURE} for any other failure, each with one
     * line on stderr.
     *
     * @return {@code cli}, for chaining
     */
    public static CommandLine exitCodes(CommandLine cli) {
        cli.setParameterExceptionHandler((e, args) -> {
            PrintWriter err = e.getCommandLine().getErr();
            err.println(oneLine(e.getMessage()) + " (see --help)");
            err.flush();
            return USAGE;
        });
        cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            PrintWriter err = commandLine.getErr();
            err.println(commandLine.getCommandName() + ": " + oneLine(e.getMessage() == null ? e.toString() : e.getMessage()));
            err.flush();
            return e instanceof DeiaException d
                    && (d.code() == ErrorCode.INVALID_ARGUMENT || d.code() == ErrorCode.UNPROCESSABLE) ? USAGE : FAILURE;
        });
        return cli;
    }

    private static String oneLine(String message) {
        return message == null ? "" : message.strip().replaceAll("\\s*[\\r\\n]+\\s*", "; ");
    }

    /**
     * The config of a hive: {@code configFile} when given, else {@code <hive>/deia.json} when present,
     * else {@code builtIn}. A config file owned by another user or writable by others is refused
     * ({@link DeiaConfig#load}).
     *
     * @param configFile the {@code --config} option, or null
     * @param hive       the hive whose {@code deia.json} is read when no file is given
     * @param builtIn    the config used when neither file exists
     * @return the config the bot runs with
     */
    public static DeiaConfig config(Path configFile, HiveLayout hive, Supplier<DeiaConfig> builtIn) {
        if (configFile != null) {
            if (!Files.isRegularFile(configFile)) {
                throw DeiaException.invalid("config file %s does not exist", configFile);
            }
            return DeiaConfig.load(configFile);
        }
        Path inHive = hive.defaultConfigFile();
        return Files.isRegularFile(inHive) ? DeiaConfig.load(inHive) : builtIn.get();
    }

    /** Runs the bot until it stops; returns the exit code. */
    @Override
    public Integer call() {
        BotIds.requireValid(botId);
        if (port < 1 || port > 65535) {
            throw new ParameterException(spec.commandLine(), "--port must be 1..65535, was " + port);
        }
        // HiveGuard first: a hive owned by another user, writable by others or holding a planted
        // link is refused (exit 2) before anything in it is read or run.
        HiveLayout layout = HiveGuard.check(new HiveLayout(hive));
        DeiaConfig deiaConfig = config(config, layout, builtInConfig);
        Profile profile = deiaConfig.requireProfile(profileName);
        Agents.checkExecutable(profile);
        Duration grace = Duration.ofSeconds(Math.max(0, stopGraceS));
        // Held for the runner's whole life (released by the kernel when it dies): one runner per
        // bot whichever controller started it, and a supervisor learns of its death at once.
        RunnerLock runnerLock;
        try {
            runnerLock = RunnerLock.acquire(layout, botId, RUNNER_LOCK_PATIENCE).orElse(null);
        } catch (IOException e) {
            throw DeiaException.unavailable("bot %s: cannot open its runner lock: %s", botId, e.getMessage());
        }
        if (runnerLock == null) {
            log.error("[{}] another runner of this bot holds {}: exiting (two controllers started it; the other one won)",
                    botId, RunnerLock.file(layout, botId));
            return BotLauncher.EXIT_RUNNER_LOCKED;
        }

        BotWorktree worktree = projectName == null ? null : worktree(layout, deiaConfig);
        Agent agent = Agents.create(new AgentContext(botId, profile, layout, System.getenv(),
                worktree == null ? null : worktree.dir()));
        BotRuntime runtime = BotRuntime.builder().botId(botId).profile(profile).config(deiaConfig).hive(layout)
                .registry(new JsonFileServiceRegistry(layout, deiaConfig)).agent(agent).worktree(worktree).port(port)
                .build();
        BotHttpService http;
        try {
            // Bind first: a taken port fails the launch before the bot registers or claims any task.
            // The token comes from the hive's 0600 file, never from argv or the environment (both
            // readable by other local users); the launcher made sure the file exists.
            http = BotHttpService.builder(runtime).token(HiveToken.loadOrCreate(layout)).port(port).stopGrace(grace)
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
                http.port(), profile.name(), layout.root());
        HiveFolderWatch hiveWatch = watchHive(layout, deiaConfig, runtime, grace);
        runtime.stopped().join();
        if (hiveWatch != null) {
            hiveWatch.close();
        }
        http.close();
        log.info("[{}] bot runner exiting with 0", botId);
        release(runnerLock);
        return OK;
    }

    /**
     * The bot's worktree of {@code --project}, made ready before the agent is created: the project
     * must be configured and its repository usable, else the runner exits with {@link #USAGE}.
     */
    private BotWorktree worktree(HiveLayout layout, DeiaConfig deiaConfig) {
        Project project = deiaConfig.requireProject(projectName);
        project.verify();
        BotWorktree worktree = BotWorktree.of(layout, project, botId);
        // Under the turn lock, as every git command in the worktree: a controller switching it (a
        // discard) and a runner that is still ending must not meet this start's recovery.
        try (GitLock ignored = worktree.lockTurn()) {
            worktree.ensure();
        }
        log.info("[{}] working on project {} in {}", botId, project.name(), worktree.dir());
        return worktree;
    }

    /** Also what keeps the lock reachable until here: a collected channel would close and drop it. */
    private void release(RunnerLock lock) {
        try {
            lock.close();
        } catch (IOException e) {
            log.debug("[{}] releasing the runner lock: {}", botId, e.toString());
        }
    }

    /** Stops the runner within a few heartbeats of its hive folder being deleted; null when it cannot look. */
    private HiveFolderWatch watchHive(HiveLayout layout, DeiaConfig deiaConfig, BotRuntime runtime, Duration grace) {
        try {
            return HiveFolderWatch.start(botId, layout, Duration.ofSeconds(deiaConfig.heartbeatIntervalS()), HIVE_MISSES,
                    () -> runtime.stop(grace));
        } catch (IOException | RuntimeException e) {
            log.warn("[{}] cannot watch the hive folder {}: {}", botId, layout.root(), e.toString());
            return null;
        }
    }
}
