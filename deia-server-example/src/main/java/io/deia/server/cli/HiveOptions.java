package io.deia.server.cli;

import io.deia.core.DeiaException;
import io.deia.core.HiveGuard;
import io.deia.core.HiveLayout;
import io.deia.core.config.DeiaConfig;
import io.deia.server.DefaultConfig;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;

/** The options every command takes: where the hive is and which config file to read. */
public final class HiveOptions {
    /** The hive folder when {@code --hive} is not given. */
    static final String DEFAULT_HIVE = "./.deia";

    @Option(names = "--hive", paramLabel = "DIR", defaultValue = DEFAULT_HIVE,
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
        if (config != null) {
            if (!Files.isRegularFile(config)) {
                throw DeiaException.invalid("config file %s does not exist", config);
            }
            return DeiaConfig.load(config);
        }
        Path inHive = layout().defaultConfigFile();
        return Files.isRegularFile(inHive) ? DeiaConfig.load(inHive) : DefaultConfig.config();
    }
}
