package io.deia.server;

import io.deia.http.bot.BotRunner;
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
import java.util.List;
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
    public static final int OK = BotRunner.OK;
    /** Exit code when the command failed. */
    public static final int FAILURE = BotRunner.FAILURE;
    /** Exit code for bad usage: unknown command or option, invalid value. */
    public static final int USAGE = BotRunner.USAGE;

    /** Every subcommand, one class each: adding a command is adding its class here. */
    static final List<Class<?>> COMMANDS = List.of(
            BotRunner.class, LaunchCommand.class, StopCommand.class, StatusCommand.class, TaskCommand.class,
            ServeCommand.class);

    @Spec
    CommandSpec spec;

    /** Runs the command line and exits the JVM with its exit code. */
    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the command line and returns the exit code (no {@code System.exit}). */
    public static int run(String... args) {
        return commandLine().execute(args);
    }

    /**
     * The configured picocli command line, with every subcommand and the exit code mapping. Its
     * {@code bot} is the library's runner with this server's built-in config ({@link DefaultConfig}).
     */
    public static CommandLine commandLine() {
        CommandLine cli = new CommandLine(new Main());
        for (Class<?> command : COMMANDS) {
            cli.addSubcommand(command == BotRunner.class ? new BotRunner(DefaultConfig::config) : command);
        }
        return BotRunner.exitCodes(cli);
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
