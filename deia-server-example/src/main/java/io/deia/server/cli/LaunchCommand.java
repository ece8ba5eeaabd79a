package io.deia.server.cli;

import io.deia.core.internal.io.Json;
import io.deia.core.launch.BotLauncher;
import io.deia.core.registry.BotRecord;
import io.deia.server.DefaultConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.util.concurrent.Callable;

/**
 * {@code launch BOT-ID [--profile NAME] [--project NAME] [--json]}: starts one bot runner and waits until it
 * answers /health. With {@code --project} the bot works in its own git worktree of that configured
 * repository; an unknown project, or one whose repository or base branch is missing, exits with 2.
 */
@Command(name = "launch", mixinStandardHelpOptions = true,
        description = {"Launch one bot runner process and wait until it answers /health.",
                "The bot keeps running after this command exits. Nobody restarts it if it crashes until a "
                        + "'serve' on the same hive adopts it; stop it with 'stop BOT-ID'."})
public final class LaunchCommand implements Callable<Integer> {
    @Mixin
    HiveOptions hiveOptions;

    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "BOT-ID", description = "The bot's id, e.g. BOT-001.")
    String botId;

    @Option(names = "--profile", paramLabel = "NAME", defaultValue = DefaultConfig.DEFAULT_PROFILE,
            description = "The profile from the config file (default: ${DEFAULT-VALUE}).")
    String profile;

    @Option(names = "--project", paramLabel = "NAME",
            description = "A project from the config file: the bot works in its own git worktree of that repository"
                    + " (default: none, a private workspace).")
    String project;

    @Option(names = "--json", description = "Print the registry entry as JSON instead of one line.")
    boolean json;

    @Override
    public Integer call() {
        try (BotLauncher launcher = CliLaunchers.unsupervised(hiveOptions)) {
            BotRecord r = launcher.launch(botId, profile, project);
            spec.commandLine().getOut().println(json ? Json.write(r)
                    : String.format("%s launched: pid %d, port %d, profile %s%s, log %s", r.botId(), r.pid(), r.port(),
                    r.profile(), r.project() == null ? "" : ", project " + r.project(),
                    hiveOptions.layout().botLogFile(r.botId())));
            spec.commandLine().getOut().flush();
        }
        return 0;
    }
}
