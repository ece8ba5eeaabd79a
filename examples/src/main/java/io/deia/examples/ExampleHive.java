package io.deia.examples;

import io.deia.core.HiveLayout;
import io.deia.core.config.DeiaConfig;
import io.deia.core.launch.BotLauncher;
import io.deia.core.launch.RunnerCommand;
import io.deia.core.registry.JsonFileServiceRegistry;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * What every example needs: a hive folder, a config file with one profile, the registry and a
 * launcher that starts the library's bot runner ({@code io.deia.http.bot.BotRunner}) from this
 * JVM's own class path (so the examples run from the shaded server jar as they are).
 */
final class ExampleHive implements AutoCloseable {
    /** One profile: a {@code command} agent that answers in capitals (the prompt arrives on stdin). */
    static final String CONFIG = """
            {
              "ports": {"from": 8700, "to": 8799},
              "profiles": {
                "shout": {"agent": "command", "executable": "tr", "args": ["a-z", "A-Z"]}
              }
            }
            """;

    final HiveLayout hive;
    final DeiaConfig config;
    final JsonFileServiceRegistry registry;
    final BotLauncher launcher;

    private ExampleHive(Path dir) throws IOException {
        hive = new HiveLayout(dir);
        Path configFile = dir.resolve("deia.json");
        Files.createDirectories(dir);
        Files.writeString(configFile, CONFIG);
        config = DeiaConfig.load(configFile);
        registry = new JsonFileServiceRegistry(hive, config);
        launcher = BotLauncher.builder(hive, config, registry, RunnerCommand.currentJvm())
                .configFile(configFile).build();
    }

    /** The hive in {@code args[0]}, or in a new temp folder. */
    static ExampleHive open(String[] args) throws IOException {
        Path dir = args.length > 0 ? Path.of(args[0]) : Files.createTempDirectory("deia-example-");
        System.out.println("hive: " + dir.toAbsolutePath());
        return new ExampleHive(dir);
    }

    @Override
    public void close() {
        launcher.close();
    }
}
