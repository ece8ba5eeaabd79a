package io.deia.core.registry;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.HiveLayout;
import io.deia.core.config.DeiaConfig;
import io.deia.core.io.AtomicFiles;
import io.deia.core.io.Json;
import io.deia.core.io.Utf8;
import io.deia.core.testing.ChildJvm;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
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
                    JsonNode root = Json.readTree(Utf8.decodeStrict(bytes, "registry.json"), "registry.json");
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

    /**
     * Cross-process combining under SIGKILL: two processes heartbeat in a tight loop (so at any
     * moment each is leaving a request, waiting for it, or applying other processes' requests in its
     * write) and are killed with SIGKILL mid-way while three others register, heartbeat, count and
     * deregister. Every acknowledged change of the survivors is in the file, the shared counter lost
     * no increment, the file was valid JSON throughout, and no request is left unapplied.
     */
    @Test
    void combinersKilledMidWayLoseNoAcknowledgedUpdate() throws Exception {
        int workers = 3;
        int bots = 60;
        Path hiveDir = tmp.resolve(".deia");
        HiveLayout hive = new HiveLayout(hiveDir);
        JsonFileServiceRegistry registry = new JsonFileServiceRegistry(hive, DeiaConfig.of(Map.of()));
        ProcessHandle self = ProcessHandle.current();
        registry.register(BotRecord.builder(RegistryStressWorker.COUNTER).pid(self.pid())
                .processStart(self.info().startInstant().orElseThrow()).port(1).build());
        List<Process> hammers = new ArrayList<>();
        for (String id : List.of("HAMMER-1", "HAMMER-2")) {
            hammers.add(ChildJvm.start(RegistryHammerWorker.class, tmp.resolve(id + ".log"), hiveDir.toString(), id));
        }
        List<Process> stress = new ArrayList<>();
        for (int w = 0; w < workers; w++) {
            stress.add(ChildJvm.start(RegistryStressWorker.class, tmp.resolve("worker-" + w + ".log"),
                    hiveDir.toString(), Integer.toString(w), Integer.toString(bots)));
        }
        try {
            await().atMost(Duration.ofSeconds(60)).until(() -> Files.exists(hiveDir.resolve("ready-HAMMER-1"))
                    && Files.exists(hiveDir.resolve("ready-HAMMER-2"))
                    && Stream.of(0, 1, 2).allMatch(w -> Files.exists(hiveDir.resolve("ready-" + w))));
            Files.writeString(hiveDir.resolve("go"), "go");
            // Kill each hammer at an arbitrary point of its loop, once the stress workers are under way.
            for (int h = 0; h < hammers.size(); h++) {
                Process hammer = hammers.get(h);
                String id = "HAMMER-" + (h + 1);
                Instant before = registry.get(id).orElseThrow().lastHeartbeat();
                await().atMost(Duration.ofSeconds(60)).until(() -> !registry.get(id).orElseThrow().lastHeartbeat().equals(before));
                hammer.destroyForcibly();
                assertTrue(hammer.waitFor(30, TimeUnit.SECONDS));
            }
            for (int w = 0; w < workers; w++) {
                Process p = stress.get(w);
                assertTrue(p.waitFor(120, TimeUnit.SECONDS), "worker " + w + " did not finish");
                assertEquals(0, p.exitValue(), "worker " + w + " failed:\n" + Files.readString(tmp.resolve("worker-" + w + ".log")));
            }
        } finally {
            hammers.forEach(Process::destroyForcibly);
            stress.forEach(Process::destroyForcibly);
        }
        // One more write: any request a killed hammer left is applied now (or found applied) and removed.
        registry.update(RegistryStressWorker.COUNTER, r -> r);
        registry.heartbeat(RegistryStressWorker.COUNTER, BotState.IDLE);

        Set<String> expected = new TreeSet<>(List.of(RegistryStressWorker.COUNTER, "HAMMER-1", "HAMMER-2"));
        for (int w = 0; w < workers; w++) {
            for (int i = 0; i < bots; i += 2) {
                expected.add(RegistryStressWorker.botId(w, i));
            }
        }
        JsonFileServiceRegistry fresh = new JsonFileServiceRegistry(hive, DeiaConfig.of(Map.of()));
        assertEquals(expected, fresh.list().stream().map(BotRecord::botId).collect(Collectors.toCollection(TreeSet::new)));
        assertEquals(workers * ((bots + 1) / 2), fresh.get(RegistryStressWorker.COUNTER).orElseThrow().restarts(),
                "increments of the shared counter entry were lost");
        for (BotRecord r : fresh.list()) {
            if (r.botId().startsWith("W")) {
                assertEquals(BotState.IDLE, r.state(), r.botId() + " lost its heartbeat");
            }
        }
        try (Stream<Path> files = Files.list(hive.registryPendingDir())) {
            assertEquals(List.of(), files.filter(p -> !AtomicFiles.isTempFile(p)).toList(), "requests left unapplied");
        }
        Json.readTree(Files.readString(hive.registryFile()), "registry.json");
    }
}
