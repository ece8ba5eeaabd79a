package io.deia.server.cli;

import io.deia.core.launch.BotLauncher;
import io.deia.core.registry.BotRecord;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.util.concurrent.Callable;

/** {@code stop BOT-ID}: stops a bot and its whole process tree; the registry keeps it as stopped. */
@Command(name = "stop", mixinStandardHelpOptions = true,
        description = "Stop a bot: POST /stop, a grace period, then SIGTERM and SIGKILL to its whole process tree.")
public final class StopCommand implements Callable<Integer> {
    @Mixin
    HiveOptions hiveOptions;

    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "BOT-ID", description = "The bot to stop.")
    String botId;

    @Override
    public Integer call() {
        try (BotLauncher launcher = CliLaunchers.unsupervised(hiveOptions)) {
            BotRecord r = launcher.stop(botId);
            spec.commandLine().getOut().println(r.botId() + " stopped"
                    + (r.lastExitCode() == null ? "" : " (exit code " + r.lastExitCode() + ")"));
            spec.commandLine().getOut().flush();
        }
        return 0;
    }
}
