package io.deia.server.cli;

import io.deia.core.launch.JvmRunnerCommand;
import io.deia.server.launch.RunnerClassArchive;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertInstanceOf;

/** {@code runner_class_data_sharing} in {@code deia.json}: off unless the config file turns it on. */
class HiveOptionsTest {
    @TempDir
    Path dir;

    private HiveOptions options(Path config) {
        HiveOptions options = new HiveOptions();
        options.hive = dir.resolve(".deia");
        options.config = config;
        return options;
    }

    @Test
    void runnersGetNoClassArchiveUnlessTheConfigAsksForOne() throws Exception {
        assertInstanceOf(JvmRunnerCommand.class, options(null).runnerCommand(), "built-in config");
        Path plain = Files.writeString(dir.resolve("plain.json"),
                "{\"profiles\":{\"echo\":{\"agent\":\"command\",\"executable\":\"/bin/cat\"}}}");
        assertInstanceOf(JvmRunnerCommand.class, options(plain).runnerCommand());
        Path on = Files.writeString(dir.resolve("on.json"), "{\"runner_class_data_sharing\": true,"
                + "\"profiles\":{\"echo\":{\"agent\":\"command\",\"executable\":\"/bin/cat\"}}}");
        assertInstanceOf(RunnerClassArchive.class, options(on).runnerCommand());
    }
}
