package io.deia.core.registry;

import io.deia.core.HiveLayout;
import io.deia.core.config.DeiaConfig;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * A process of {@link RegistryMultiProcessTest} that is killed with SIGKILL mid-way: registers its
 * bot, then heartbeats it in a loop until it is killed, so that it is at any moment leaving a
 * request, waiting, or combining other processes' requests into its write. Arguments: hive folder,
 * bot id.
 */
public final class RegistryHammerWorker {
    private RegistryHammerWorker() {
    }

    public static void main(String[] args) throws Exception {
        Path hiveDir = Path.of(args[0]);
        String botId = args[1];
        JsonFileServiceRegistry registry = new JsonFileServiceRegistry(new HiveLayout(hiveDir), DeiaConfig.of(Map.of()));
        ProcessHandle self = ProcessHandle.current();
        registry.register(BotRecord.builder(botId).pid(self.pid()).processStart(self.info().startInstant().orElseThrow())
                .port(0).profile("hammer").agent("command").build());
        Files.writeString(hiveDir.resolve("ready-" + botId), "ready");
        for (long n = 0; ; n++) {
            registry.heartbeat(botId, n % 2 == 0 ? BotState.BUSY : BotState.IDLE).orElseThrow();
        }
    }
}
