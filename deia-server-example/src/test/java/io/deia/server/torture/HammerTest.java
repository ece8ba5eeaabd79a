package io.deia.server.torture;

import io.deia.core.HiveLayout;
import io.deia.core.config.DeiaConfig;
import io.deia.core.internal.io.AtomicFiles;
import io.deia.core.registry.BotRecord;
import io.deia.core.registry.JsonFileServiceRegistry;
import io.deia.core.task.FileTaskQueue;
import io.deia.core.task.ResponseFiles;
import io.deia.core.task.TaskResponse;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Eight processes at once on one hive: each runs a task monitor on the same inbox while it
 * registers, heartbeats, updates and deregisters bots in the same registry. Afterwards every task
 * ran exactly once and has exactly one response, and the registry holds exactly what it must.
 */
class HammerTest {
    private static final Logger log = LoggerFactory.getLogger(HammerTest.class);
    private static final int PROCESSES = 8;

    @TempDir
    Path dir;

    private final List<Process> workers = new ArrayList<>();

    @AfterEach
    void killWorkers() {
        workers.forEach(Process::destroyForcibly);
    }

    @Test
    void eightProcessesOnOneRegistryAndOneInboxLoseNothingAndRunNothingTwice() throws Exception {
        int scale = Torture.scale();
        int tasks = 400 * scale;
        int botsPerWorker = 40 * scale;
        Path hiveDir = dir.resolve(".deia");
        HiveLayout hive = new HiveLayout(hiveDir);
        DeiaConfig config = DeiaConfig.of(Map.of());
        JsonFileServiceRegistry registry = new JsonFileServiceRegistry(hive, config);
        ProcessHandle self = ProcessHandle.current();
        registry.register(BotRecord.builder(HammerWorker.COUNTER).pid(self.pid())
                .processStart(self.info().startInstant().orElseThrow()).port(1).build());
        Path runLog = dir.resolve("runs.log");
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        for (int w = 0; w < PROCESSES; w++) {
            workers.add(new ProcessBuilder(java, "-Xmx64m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                    "-cp", System.getProperty("java.class.path"), HammerWorker.class.getName(),
                    hiveDir.toString(), Integer.toString(w), Integer.toString(botsPerWorker), runLog.toString())
                    .redirectErrorStream(true).redirectOutput(dir.resolve("worker-" + w + ".log").toFile()).start());
        }
        await("workers ready").atMost(Duration.ofSeconds(90)).until(() -> allExist(hiveDir, "ready-"));

        // Half the tasks wait in the inbox before the monitors start; the rest arrive while they race.
        FileTaskQueue queue = new FileTaskQueue(hive, config);
        for (int i = 0; i < tasks / 2; i++) {
            queue.submit(HammerWorker.BOT, "---\ntask_id: H-" + i + "\n---\nhammer " + i + "\n");
        }
        Files.writeString(hiveDir.resolve("go"), "go");
        for (int i = tasks / 2; i < tasks; i++) {
            queue.submit(HammerWorker.BOT, "---\ntask_id: H-" + i + "\n---\nhammer " + i + "\n");
        }
        await("registry work done").atMost(Duration.ofSeconds(150)).until(() -> allExist(hiveDir, "done-"));
        await("every task answered").atMost(Duration.ofSeconds(120)).pollInterval(Duration.ofMillis(200))
                .until(() -> Torture.files(hive.responsesDir(HammerWorker.BOT)).size() >= tasks);
        Files.writeString(hiveDir.resolve("stop"), "stop");
        for (int w = 0; w < PROCESSES; w++) {
            Process p = workers.get(w);
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), "worker " + w + " did not finish");
            assertEquals(0, p.exitValue(), "worker " + w + " failed:\n" + Files.readString(dir.resolve("worker-" + w + ".log")));
        }

        // Every task ran exactly once, and some of every process's share shows they really raced.
        Map<String, Integer> runs = new HashMap<>();
        Map<String, Integer> perWorker = new TreeMap<>();
        for (String line : Files.readAllLines(runLog, StandardCharsets.UTF_8)) {
            String[] p = line.split(" ");
            assertEquals(2, p.length, "whole run line: " + line);
            runs.merge(p[0], 1, Integer::sum);
            perWorker.merge(p[1], 1, Integer::sum);
        }
        Set<String> expectedIds = new TreeSet<>();
        for (int i = 0; i < tasks; i++) {
            expectedIds.add("H-" + i);
        }
        assertEquals(expectedIds, runs.keySet(), "every task ran");
        assertEquals(Map.of(), runs.entrySet().stream().filter(e -> e.getValue() != 1)
                .collect(Collectors.toMap(Map.Entry::getKey, Map.Entry::getValue)), "tasks run more than once");
        Set<String> answered = new TreeSet<>();
        for (Path f : Torture.files(hive.responsesDir(HammerWorker.BOT))) {
            TaskResponse r = ResponseFiles.parse(Files.readString(f, StandardCharsets.UTF_8), f.toString());
            assertTrue(answered.add(r.taskId()), "second response for " + r.taskId());
        }
        assertEquals(expectedIds, answered);
        assertEquals(List.of(), Torture.files(hive.inboxDir(HammerWorker.BOT)), "inbox empty");
        assertEquals(List.of(), Torture.claimFiles(hive.claimedDir(HammerWorker.BOT)), "no claim left");

        // The registry: the counter saw every increment, the even bots stay, the odd ones are gone.
        Set<String> expectedBots = new TreeSet<>(Set.of(HammerWorker.COUNTER));
        for (int w = 0; w < PROCESSES; w++) {
            for (int i = 0; i < botsPerWorker; i += 2) {
                expectedBots.add("H" + w + "-" + i);
            }
        }
        List<BotRecord> records = registry.list();
        assertEquals(expectedBots, records.stream().map(BotRecord::botId).collect(Collectors.toCollection(TreeSet::new)));
        assertEquals(PROCESSES * botsPerWorker, registry.get(HammerWorker.COUNTER).orElseThrow().restarts(), "lost updates");
        Torture.HiveScan scan = Torture.checkHiveFilesWhole(hive);
        log.info("hammer: {} processes, {} tasks each run once (per process {}), {} registry updates, hive {}",
                PROCESSES, tasks, perWorker, PROCESSES * botsPerWorker * 4, scan);
        AtomicFiles.writeString(Path.of("target", "torture-hammer.txt"), String.format(
                "processes=%d tasks=%d runs_per_process=%s registry_updates=%d registry_entries=%d hive_scan=%s%n",
                PROCESSES, tasks, perWorker, PROCESSES * botsPerWorker * 4, records.size(), scan));
    }

    private static boolean allExist(Path dir, String prefix) {
        for (int w = 0; w < PROCESSES; w++) {
            if (!Files.exists(dir.resolve(prefix + w))) {
                return false;
            }
        }
        return true;
    }
}
