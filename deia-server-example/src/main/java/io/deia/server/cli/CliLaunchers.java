package io.deia.server.cli;

import io.deia.core.config.DeiaConfig;
import io.deia.core.launch.BotLauncher;
import io.deia.core.registry.JsonFileServiceRegistry;

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
                        options.runnerCommand())
                .configFile(options.configFile())
                .supervise(false)
                .build();
    }
}
