package io.deia.server.launch;

import io.deia.core.HiveLayout;
import io.deia.core.config.DeiaConfig;
import io.deia.core.internal.io.AtomicFiles;
import io.deia.core.launch.BotLauncher;
import io.deia.core.launch.RunnerCommand;
import io.deia.core.registry.JsonFileServiceRegistry;
import io.deia.server.Main;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A launcher in a JVM of its own, for the test that kills a launcher with SIGKILL:
 * {@code LauncherHostMain HIVE PROFILE BOT-ID...} launches the bots with the real runner, writes
 * {@code <hive>/launcher-ready}, then supervises them until it is killed.
 */
public final class LauncherHostMain {
    private LauncherHostMain() {
    }

    public static void main(String[] args) throws Exception {
        HiveLayout hive = new HiveLayout(Path.of(args[0]));
        DeiaConfig config = DeiaConfig.load(hive.defaultConfigFile());
        BotLauncher launcher = BotLauncher.builder(hive, config, new JsonFileServiceRegistry(hive, config),
                RunnerCommand.currentJvm(Main.class.getName())).build();
        Map<String, String> bots = new LinkedHashMap<>();
        for (int i = 2; i < args.length; i++) {
            bots.put(args[i], args[1]);
        }
        launcher.launchAll(bots);
        AtomicFiles.writeString(hive.root().resolve("launcher-ready"), Long.toString(ProcessHandle.current().pid()));
        Thread.currentThread().join();
    }
}
