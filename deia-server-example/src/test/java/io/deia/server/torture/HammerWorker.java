package io.deia.server.torture;

import io.deia.core.HiveLayout;
import io.deia.core.agent.TurnResult;
import io.deia.core.agent.TurnStatus;
import io.deia.core.config.DeiaConfig;
import io.deia.core.registry.BotRecord;
import io.deia.core.registry.BotState;
import io.deia.core.registry.JsonFileServiceRegistry;
import io.deia.core.task.TaskQueueMonitor;
import io.deia.core.testkit.TestProfiles;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;

/**
 * One process of {@link HammerTest}: runs a task monitor on the shared inbox of {@link #BOT} and,
 * meanwhile, registers, heartbeats, updates and deregisters its own bots in the shared registry.
 * Arguments: hive folder, worker number, bots per worker, run log. Exits 0 once its registry work
 * is done and the parent has written {@code stop}.
 */
public final class HammerWorker {
    static final String BOT = "BOT-HAMMER";
    static final String COUNTER = "HAMMER-COUNT";

    private HammerWorker() {
    }

    public static void main(String[] args) throws Exception {
        Path hiveDir = Path.of(args[0]);
        int worker = Integer.parseInt(args[1]);
        int bots = Integer.parseInt(args[2]);
        Path runLog = Path.of(args[3]);
        HiveLayout hive = new HiveLayout(hiveDir);
        DeiaConfig config = DeiaConfig.of(Map.of());
        JsonFileServiceRegistry registry = new JsonFileServiceRegistry(hive, config);
        ProcessHandle self = ProcessHandle.current();
        // The "agent" records each execution with one O_APPEND write (whole lines, never interleaved).
        TaskQueueMonitor monitor = TaskQueueMonitor.builder().botId(BOT).hive(hive).config(config)
                .profile(TestProfiles.command("/bin/true")).executor((task, attempt, timeout, events) -> {
                    try {
                        Files.write(runLog, (task.taskId() + " " + worker + "\n").getBytes(StandardCharsets.UTF_8),
                                StandardOpenOption.CREATE, StandardOpenOption.APPEND);
                        return new TurnResult(TurnStatus.COMPLETED, "done by " + worker, null, null, null, null, 1, 0, null);
                    } catch (java.io.IOException e) {
                        return TurnResult.failed(e.toString(), 1, null);
                    }
                }).build();
        Files.writeString(hiveDir.resolve("ready-" + worker), "ready");
        while (!Files.exists(hiveDir.resolve("go"))) {
            Thread.sleep(5);
        }
        monitor.start();
        for (int i = 0; i < bots; i++) {
            String id = "H" + worker + "-" + i;
            registry.register(BotRecord.builder(id).pid(self.pid()).processStart(self.info().startInstant().orElseThrow())
                    .port(30000 + worker * 1000 + i).profile("hammer").agent("command").build());
            registry.update(COUNTER, r -> r.toBuilder().restarts(r.restarts() + 1).build()).orElseThrow();
            registry.heartbeat(id, BotState.BUSY).orElseThrow();
            if (i % 2 == 1 && !registry.deregister(id)) {
                throw new IllegalStateException(id + " vanished before its deregister");
            }
        }
        Files.writeString(hiveDir.resolve("done-" + worker), "done");
        while (!Files.exists(hiveDir.resolve("stop"))) {
            Thread.sleep(5);
        }
        monitor.close();
    }
}
