package io.deia.server;

import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;
import io.deia.server.cli.BotArgv;
import io.deia.server.cli.BotCommand;
import io.deia.server.cli.LaunchCommand;
import io.deia.server.cli.ServeCommand;
import io.deia.server.cli.StatusCommand;
import io.deia.server.cli.StopCommand;
import io.deia.server.cli.TaskCommand;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.util.List;
import java.util.Optional;
import java.util.Properties;

/**
 * The command line of {@code deia-server.jar}. Exit codes: 0 success, 2 bad usage, 1 failure; on
 * 2 and 1 one line with the reason goes to stderr.
 */
@Command(name = "deia-server.jar", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "Runs a hive of AI coding-agent bots: controller, dashboard and bot runners.",
        synopsisSubcommandLabel = "COMMAND",
        commandListHeading = "%nCommands (each takes --hive DIR, --config FILE and --help):%n")
public final class Main implements Runnable {
    /** Exit code of a successful command. */
    public static final int OK = 0;
    /** Exit code when the command failed. */
    public static final int FAILURE = 1;
    /** Exit code for bad usage: unknown command or option, invalid value. */
    public static final int USAGE = 2;

    /** Every subcommand, one class each: adding a command is adding its class here. */
    static final List<Class<?>> COMMANDS = List.of(
            BotCommand.class, LaunchCommand.class, StopCommand.class, StatusCommand.class, TaskCommand.class,
            ServeCommand.class);

    /** The name picocli gives {@link BotCommand}, which its error lines start with. */
    private static final String BOT_COMMAND = "bot";

    @Spec
    CommandSpec spec;

    /** Runs the command line and exits the JVM with its exit code. */
    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the command line and returns the exit code (no {@code System.exit}). */
    public static int run(String... args) {
        // The runner's own command line, as every launch gives it, skips picocli: a bot runner's
        // start is what ten launches at once wait for (see BotArgv). Anything else goes to picocli.
        Optional<BotCommand> bot = BotArgv.parse(args);
        if (bot.isPresent()) {
            return runBot(bot.get(), new PrintWriter(System.err, true));
        }
        CommandLine cli = commandLine();
        return cli.execute(args);
    }

    /**
     * Runs a bot read by {@link BotArgv}, with the same exit codes and the same one line on
     * {@code err} as picocli's execution-exception handler of {@link #commandLine()}.
     */
    static int runBot(BotCommand bot, PrintWriter err) {
        try {
            return bot.call();
        } catch (RuntimeException e) {
            err.println(BOT_COMMAND + ": " + oneLine(e.getMessage() == null ? e.toString() : e.getMessage()));
            err.flush();
            return exitCodeOf(e);
        }
    }

    /** The configured picocli command line, with every subcommand and the exit code mapping. */
    public static CommandLine commandLine() {
        CommandLine cli = new CommandLine(new Main());
        for (Class<?> command : COMMANDS) {
            cli.addSubcommand(command);
        }
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
            return exitCodeOf(e);
        });
        return cli;
    }

    /** Bad input reported by deia (invalid ids, unknown profiles, bad config files) is bad usage; the rest a failure. */
    static int exitCodeOf(Throwable e) {
        if (e instanceof DeiaException d
                && (d.code() == ErrorCode.INVALID_ARGUMENT || d.code() == ErrorCode.UNPROCESSABLE)) {
            return USAGE;
        }
        return FAILURE;
    }

    private static String oneLine(String message) {
        return message == null ? "" : message.strip().replaceAll("\\s*[\\r\\n]+\\s*", "; ");
    }

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "a command is required");
    }

    /** The version, from the build's {@code version.properties}. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            Properties p = new Properties();
            try (InputStream in = Main.class.getResourceAsStream("version.properties")) {
                if (in != null) {
                    p.load(in);
                }
            } catch (IOException e) {
                return new String[]{"deia (version unknown: " + e.getMessage() + ")"};
            }
            return new String[]{"deia " + p.getProperty("version", "unknown"),
                    "Java " + System.getProperty("java.version") + " (" + System.getProperty("java.vm.name") + ")"};
        }
    }
}
