package io.deia.core.registry;

import io.deia.core.HiveLayout;
import io.deia.core.config.DeiaConfig;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * One process of {@link RegistryMultiProcessTest}: registers, heartbeats and deregisters its own
 * bots and increments a shared counter entry, all against one registry file shared with the other
 * worker processes. Arguments: hive folder, worker number, bots per worker.
 */
public final class RegistryStressWorker {
    static final String COUNTER = "COUNTER";

    private RegistryStressWorker() {
    }

    public static void main(String[] args) throws Exception {
        Path hiveDir = Path.of(args[0]);
        int worker = Integer.parseInt(args[1]);
        int count = Integer.parseInt(args[2]);
        JsonFileServiceRegistry registry = new JsonFileServiceRegistry(new HiveLayout(hiveDir), DeiaConfig.of(Map.of()));
        ProcessHandle self = ProcessHandle.current();
        // Start together with the others so the processes really overlap: announce, then wait for "go".
        Files.writeString(hiveDir.resolve("ready-" + worker), "ready");
        Path go = hiveDir.resolve("go");
        while (!Files.exists(go)) {
            Thread.sleep(5);
        }
        long started = System.nanoTime();
        for (int i = 0; i < count; i++) {
            String id = botId(worker, i);
            registry.register(BotRecord.builder(id).pid(self.pid()).processStart(self.info().startInstant().orElseThrow())
                    .port(20000 + worker * 1000 + i).profile("stress").agent("command").build());
            registry.update(COUNTER, r -> r.toBuilder().restarts(r.restarts() + 1).build()).orElseThrow();
            registry.heartbeat(id, BotState.IDLE).orElseThrow();
            if (i % 2 == 1) {
                if (!registry.deregister(id)) {
                    throw new IllegalStateException(id + " vanished before its deregister");
                }
            }
        }
        System.out.printf("worker %d: %d bots in %d ms%n", worker, count, (System.nanoTime() - started) / 1_000_000);
    }

    static String botId(int worker, int i) {
        return "W" + worker + "-" + i;
    }
}
