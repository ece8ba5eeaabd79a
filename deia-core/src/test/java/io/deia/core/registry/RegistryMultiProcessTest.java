package io.deia.core.registry;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.HiveLayout;
import io.deia.core.config.DeiaConfig;
import io.deia.core.internal.io.AtomicFiles;
import io.deia.core.internal.io.Json;
import io.deia.core.internal.io.Utf8;
import io.deia.core.testing.ChildJvm;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Acceptance 2: several JVM processes change one registry file at the same time; no update is lost
 * and the file is valid JSON at every instant a reader looks.
 */
class RegistryMultiProcessTest {
    private static final int WORKERS = 4;
    private static final int BOTS_PER_WORKER = 100;

    @TempDir
    Path tmp;

    @Test
    void fourProcessesLoseNoUpdateAndTheFileIsAlwaysValidJson() throws Exception {
        Path hiveDir = tmp.resolve(".deia");
        HiveLayout hive = new HiveLayout(hiveDir);
        JsonFileServiceRegistry registry = new JsonFileServiceRegistry(hive, DeiaConfig.of(Map.of()));
        ProcessHandle self = ProcessHandle.current();
        registry.register(BotRecord.builder(RegistryStressWorker.COUNTER).pid(self.pid())
                .processStart(self.info().startInstant().orElseThrow()).port(1).build());

        List<Process> workers = new ArrayList<>();
        for (int w = 0; w < WORKERS; w++) {
            workers.add(ChildJvm.start(RegistryStressWorker.class, tmp.resolve("worker-" + w + ".log"),
                    hiveDir.toString(), Integer.toString(w), Integer.toString(BOTS_PER_WORKER)));
        }

        AtomicBoolean running = new AtomicBoolean(true);
        AtomicInteger parses = new AtomicInteger();
        List<String> invalid = new CopyOnWriteArrayList<>();
        Thread reader = new Thread(() -> {
            while (running.get()) {
                try {
                    byte[] bytes = Files.readAllBytes(hive.registryFile());
                    JsonNode root = Json.read(Utf8.decodeStrict(bytes, "registry.json"), JsonNode.class, "registry.json");
                    if (root.path("version").asInt() != 1 || !root.path("bots").isObject()) {
                        invalid.add("unexpected document: " + root);
                    }
                    parses.incrementAndGet();
                } catch (NoSuchFileException e) {
                    invalid.add("registry.json missing for a moment: " + e);
                } catch (Exception e) {
                    invalid.add(e.toString());
                }
                try {
                    // Not a synchronisation: a pause between reads leaves the CPU to the writer processes.
                    Thread.sleep(2);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }, "registry-reader");
        reader.start();
        try {
            await().atMost(Duration.ofSeconds(60)).until(() -> {
                for (int w = 0; w < WORKERS; w++) {
                    if (!Files.exists(hiveDir.resolve("ready-" + w))) {
                        return false;
                    }
                }
                return true;
            });
            Files.writeString(hiveDir.resolve("go"), "go");
            for (int w = 0; w < WORKERS; w++) {
                Process p = workers.get(w);
                assertTrue(p.waitFor(120, TimeUnit.SECONDS), "worker " + w + " did not finish");
                assertEquals(0, p.exitValue(), "worker " + w + " failed:\n" + Files.readString(tmp.resolve("worker-" + w + ".log")));
            }
        } finally {
            running.set(false);
            reader.join();
            workers.forEach(Process::destroyForcibly);
        }

        assertEquals(List.of(), invalid, "the reader saw an invalid registry file");
        assertTrue(parses.get() > 0, "the reader never parsed the file");

        Set<String> expected = new TreeSet<>();
        expected.add(RegistryStressWorker.COUNTER);
        for (int w = 0; w < WORKERS; w++) {
            for (int i = 0; i < BOTS_PER_WORKER; i += 2) {
                expected.add(RegistryStressWorker.botId(w, i));
            }
        }
        JsonFileServiceRegistry fresh = new JsonFileServiceRegistry(hive, DeiaConfig.of(Map.of()));
        List<BotRecord> all = fresh.list();
        assertEquals(expected, all.stream().map(BotRecord::botId).collect(Collectors.toCollection(TreeSet::new)));
        assertEquals(WORKERS * ((BOTS_PER_WORKER + 1) / 2), fresh.get(RegistryStressWorker.COUNTER).orElseThrow().restarts(),
                "increments of the shared counter entry were lost");
        for (BotRecord r : all) {
            if (!r.botId().equals(RegistryStressWorker.COUNTER)) {
                assertEquals(BotState.IDLE, r.state(), r.botId() + " lost its heartbeat");
                assertTrue(Files.exists(hive.heartbeatFile(r.botId())), r.botId() + " has no heartbeat file");
            }
        }
        Set<String> heartbeatFiles;
        try (Stream<Path> files = Files.list(hive.heartbeatsDir())) {
            heartbeatFiles = files.map(p -> p.getFileName().toString()).collect(Collectors.toCollection(TreeSet::new));
        }
        Set<String> expectedHeartbeats = expected.stream().filter(id -> !id.equals(RegistryStressWorker.COUNTER))
                .map(id -> id + ".json").collect(Collectors.toCollection(TreeSet::new));
        assertEquals(expectedHeartbeats, heartbeatFiles, "deregistered bots must leave no heartbeat file, live ones one each");
        try (Stream<Path> files = Files.list(hive.hiveDir())) {
            List<String> leftovers = files.map(p -> p.getFileName().toString())
                    .filter(n -> n.contains("corrupt") || AtomicFiles.isTempFile(Path.of(n))).toList();
            assertEquals(List.of(), leftovers);
        }
    }
}
