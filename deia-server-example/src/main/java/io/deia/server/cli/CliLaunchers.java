package io.deia.server.cli;

import io.deia.core.config.DeiaConfig;
import io.deia.core.launch.BotLauncher;
import io.deia.core.launch.RunnerCommand;
import io.deia.core.registry.JsonFileServiceRegistry;
import io.deia.server.Main;

/** The launcher the one-shot commands use: runners are this jar's {@code bot} command, unsupervised. */
final class CliLaunchers {
    private CliLaunchers() {
    }

    /**
     * A launcher that does not supervise: the command exits right after its work, and the bots it
     * started run on until a {@code serve} adopts them.
     */
    static BotLauncher unsupervised(HiveOptions options) {
        DeiaConfig config = options.config();
        return BotLauncher.builder(options.layout(), config, new JsonFileServiceRegistry(options.layout(), config),
                        RunnerCommand.currentJvm(Main.class.getName()))
                .configFile(options.config == null ? null : options.config.toAbsolutePath())
                .supervise(false)
                .build();
    }
}
