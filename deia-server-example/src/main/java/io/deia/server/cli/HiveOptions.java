package io.deia.server.cli;

import io.deia.core.HiveLayout;
import io.deia.core.config.DeiaConfig;
import io.deia.core.internal.HiveGuard;
import io.deia.core.internal.io.AtomicFiles;
import io.deia.core.internal.io.Json;
import io.deia.core.launch.JvmRunnerCommand;
import io.deia.core.launch.RunnerCommand;
import io.deia.http.bot.BotRunner;
import io.deia.server.DefaultConfig;
import io.deia.server.Main;
import io.deia.server.launch.RunnerClassArchive;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;

/** The options every command takes: where the hive is and which config file to read. */
public final class HiveOptions {
    @Option(names = "--hive", paramLabel = "DIR", defaultValue = BotRunner.DEFAULT_HIVE,
            description = "The hive folder (default: ${DEFAULT-VALUE}).")
    Path hive;

    @Option(names = "--config", paramLabel = "FILE",
            description = "Config file (default: <hive>/deia.json when it exists, else the built-in defaults).")
    Path config;

    /**
     * The hive folder's layout, after {@link HiveGuard#check}: a hive owned by another user, writable
     * by others or holding a planted link is refused (exit 2) before anything in it is read or run.
     */
    public HiveLayout layout() {
        return HiveGuard.check(new HiveLayout(hive));
    }

    /**
     * The config: {@code --config}, else {@code <hive>/deia.json} when present, else {@link DefaultConfig}.
     * A config file owned by another user or writable by others is refused ({@link DeiaConfig#load}).
     */
    public DeiaConfig config() {
        return BotRunner.config(config, layout(), DefaultConfig::config);
    }

    /** The config file {@link #config()} reads (absolute), or null when it is the built-in one. */
    public Path configFile() {
        if (config != null) {
            return config.toAbsolutePath();
        }
        Path inHive = layout().defaultConfigFile();
        return Files.isRegularFile(inHive) ? inHive : null;
    }

    /**
     * How this server starts runners: this jar's {@code bot} command, with a class data sharing
     * archive ({@link RunnerClassArchive}) when the config file says {@code "runner_class_data_sharing": true}.
     */
    public RunnerCommand runnerCommand() {
        JvmRunnerCommand jvm = RunnerCommand.currentJvm(Main.class.getName());
        Path file = configFile();
        boolean sharing = file != null && Boolean.TRUE.equals(Json.read(AtomicFiles.readString(file),
                ServerSettings.class, "config file " + file).runnerClassDataSharing());
        return sharing ? new RunnerClassArchive(jvm, RunnerClassArchive.defaultDir()) : jvm;
    }

    /** The settings of {@code deia.json} that only this server reads ({@link DeiaConfig} ignores them). */
    private record ServerSettings(Boolean runnerClassDataSharing) {
    }
}
