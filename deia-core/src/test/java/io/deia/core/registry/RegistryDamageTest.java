package io.deia.core.registry;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.HiveLayout;
import io.deia.core.config.DeiaConfig;
import io.deia.core.internal.io.AtomicFiles;
import io.deia.core.internal.io.Json;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A damaged registry file is kept aside as evidence and rebuilt from whatever can still be read. */
class RegistryDamageTest {
    @TempDir
    Path tmp;

    private HiveLayout hive() {
        return new HiveLayout(tmp.resolve(".deia"));
    }

    private JsonFileServiceRegistry registry() {
        return new JsonFileServiceRegistry(hive(), DeiaConfig.of(Map.of()));
    }

    private List<Path> evidence() throws Exception {
        try (Stream<Path> files = Files.list(hive().hiveDir())) {
            return files.filter(p -> p.getFileName().toString().startsWith("registry.json.corrupt-")).toList();
        }
    }

    private List<String> ids(JsonFileServiceRegistry r) {
        return r.list().stream().map(BotRecord::botId).toList();
    }

    private void seed(String... ids) {
        JsonFileServiceRegistry r = registry();
        for (String id : ids) {
            r.register(BotRecord.builder(id).port(8101).state(BotState.STOPPED).lastError("kept for " + id).build());
        }
    }

    @Test
    void aBadEntryIsDroppedAndEveryOtherEntryKept() throws Exception {
        seed("A", "B", "C");
        Path file = hive().registryFile();
        String text = AtomicFiles.readString(file).replaceFirst("\"pid\" : 0", "\"pid\" : \"not a number\"");
        Files.writeString(file, text);
        byte[] damaged = Files.readAllBytes(file);

        JsonFileServiceRegistry r = registry();
        assertEquals(List.of("B", "C"), ids(r));
        assertEquals("kept for C", r.get("C").orElseThrow().lastError());
        List<Path> kept = evidence();
        assertEquals(1, kept.size());
        assertArrayEquals(damaged, Files.readAllBytes(kept.get(0)), "the evidence is the damaged file as it was");
        Json.read(AtomicFiles.readString(file), JsonNode.class, "rebuilt registry");
        assertEquals(List.of("B", "C"), ids(registry()));
    }

    @Test
    void aTruncatedFileKeepsTheEntriesBeforeTheCutAndRefillsTheRestFromHeartbeats() throws Exception {
        JsonFileServiceRegistry r = registry();
        ProcessHandle me = ProcessHandle.current();
        for (String id : List.of("A", "B", "C")) {
            r.register(BotRecord.builder(id).pid(me.pid()).port(8101).build());
            r.heartbeat(id, BotState.IDLE);
        }
        Path file = hive().registryFile();
        String text = AtomicFiles.readString(file);
        Files.writeString(file, text.substring(0, text.indexOf("\"B\"") + 30));

        List<String> seen = ids(registry());
        assertEquals(List.of("A", "B", "C"), seen, "A from the file; B and C from their heartbeat files");
        assertEquals(BotState.IDLE, r.get("C").orElseThrow().state());
        assertEquals(1, evidence().size());
    }

    @Test
    void garbageIsKeptAsideAndRebuiltFromHeartbeatsWithoutFailingTheCaller() throws Exception {
        JsonFileServiceRegistry r = registry();
        r.register(BotRecord.builder("A").pid(ProcessHandle.current().pid()).port(8101).build());
        r.heartbeat("A", BotState.BUSY);
        r.register(BotRecord.builder("B").port(8102).state(BotState.STOPPED).build());
        Files.write(hive().registryFile(), new byte[] {(byte) 0xff, 0x00, 'g', 'a', 'r', 'b'});
        Files.writeString(hive().heartbeatFile("ZZ"), "{ not json");

        BotRecord a = registry().get("A").orElseThrow();
        assertEquals(BotState.BUSY, a.state());
        assertEquals(List.of("A"), ids(r), "B had no heartbeat file, so nothing could be read of it");
        assertEquals(1, evidence().size());
        r.register(BotRecord.builder("C").port(8103).build());
        assertEquals(List.of("A", "C"), ids(registry()));
    }

    @Test
    void otherDamageIsRecognisedToo() throws Exception {
        Path file = hive().registryFile();
        for (String bad : List.of("", "[1,2]", "{\"version\":1}", "{\"version\":1,\"bots\":{}} trailing",
                "{\"version\":1,\"bots\":{\"../x\":{\"port\":1,\"state\":\"idle\"}}}",
                "{\"version\":1,\"bots\":{\"A\":{\"bot_id\":\"B\",\"state\":\"idle\"}}}",
                "{\"version\":1,\"bots\":{\"A\":[]}}")) {
            Files.createDirectories(file.getParent());
            Files.write(file, bad.getBytes(StandardCharsets.UTF_8));
            int before = evidence().size();
            assertEquals(List.of(), registry().list(), bad);
            assertEquals(before + 1, evidence().size(), "kept aside: " + bad);
        }
    }

    @Test
    void anEntryWithoutBotIdTakesItsKeyAndNewerFieldsAreIgnored() throws Exception {
        Path file = hive().registryFile();
        Files.createDirectories(file.getParent());
        Files.writeString(file, "{\"version\":2,\"future\":{\"x\":[1]},\"bots\":{\"A\":{\"port\":8101,\"state\":\"idle\",\"shiny\":true}}}");
        assertEquals(8101, registry().get("A").orElseThrow().port());
        assertEquals(List.of(), evidence());
    }

    @Test
    void tempFilesOfAnInterruptedWriteAreRemoved() throws Exception {
        seed("A");
        Path leftover = hive().hiveDir().resolve(AtomicFiles.TEMP_PREFIX + "registry.json.deadbeef");
        Files.writeString(leftover, "{\"half");
        registry().register(BotRecord.builder("B").port(1).build());
        assertTrue(Files.notExists(leftover));
        assertEquals(List.of("A", "B"), ids(registry()));
    }

    @Test
    void tempFilesAreRemovedOnlyWhenTheirProcessIsGone() throws Exception {
        seed("A");
        Process dead = new ProcessBuilder("true").start();
        dead.waitFor();
        // Temp file names carry their writer's pid and start instant (see AtomicFiles#isTempOfLiveProcess).
        String gone = dead.pid() + "-" + dead.toHandle().info().startInstant().map(java.time.Instant::toEpochMilli).orElse(1L);
        ProcessHandle me = ProcessHandle.current();
        String self = me.pid() + "-" + me.info().startInstant().orElseThrow().toEpochMilli();
        Path hiveDir = hive().hiveDir();
        Path heartbeats = hive().heartbeatsDir();
        Files.createDirectories(heartbeats);
        Path deadRegistryTemp = hiveDir.resolve(AtomicFiles.TEMP_PREFIX + "registry.json.pid" + gone + ".ab12");
        Path liveRegistryTemp = hiveDir.resolve(AtomicFiles.TEMP_PREFIX + "registry.json.pid" + self + ".cd34");
        Path deadHeartbeatTemp = heartbeats.resolve(AtomicFiles.TEMP_PREFIX + "A.json.pid" + gone + ".ef56");
        Path liveHeartbeatTemp = heartbeats.resolve(AtomicFiles.TEMP_PREFIX + "A.json.pid" + self + ".0789");
        Path interruptedHeartbeatTemp = heartbeats.resolve(AtomicFiles.TEMP_PREFIX + "A.json.1f2e");
        for (Path p : List.of(deadRegistryTemp, liveRegistryTemp, deadHeartbeatTemp, liveHeartbeatTemp, interruptedHeartbeatTemp)) {
            Files.writeString(p, "{\"half");
        }
        registry().register(BotRecord.builder("B").port(1).build());
        assertTrue(Files.notExists(deadRegistryTemp));
        assertTrue(Files.notExists(deadHeartbeatTemp));
        assertTrue(Files.notExists(interruptedHeartbeatTemp), "heartbeat files are written under the lock: a plain temp one is a dead writer's");
        assertTrue(Files.exists(liveRegistryTemp), "a running process may still commit it");
        assertTrue(Files.exists(liveHeartbeatTemp), "a running process may still commit it");
        assertEquals(List.of("A", "B"), ids(registry()));
    }

    /**
     * A lock file removed under load lets two processes in at once: the cleanup of one must not
     * delete the temp files another running process is writing (they carry its pid and start).
     */
    @Test
    void tempFilesOfAnotherRunningProcessSurviveTheCleanUpEvenUnderTheLock() throws Exception {
        seed("A");
        Process other = new ProcessBuilder("sleep", "60").start();
        try {
            long start = other.toHandle().info().startInstant().orElseThrow().toEpochMilli();
            String tag = ".pid" + other.pid() + "-" + start + ".";
            Path hiveDir = hive().hiveDir();
            Path heartbeats = hive().heartbeatsDir();
            Files.createDirectories(heartbeats);
            Path registryTemp = hiveDir.resolve(AtomicFiles.TEMP_PREFIX + "registry.json" + tag + "ab12");
            Path heartbeatTemp = heartbeats.resolve(AtomicFiles.TEMP_PREFIX + "A.json" + tag + "cd34");
            Path reused = heartbeats.resolve(AtomicFiles.TEMP_PREFIX + "A.json.pid" + other.pid() + "-" + (start - 9000) + ".ef56");
            for (Path p : List.of(registryTemp, heartbeatTemp, reused)) {
                Files.writeString(p, "{\"half");
            }
            registry().register(BotRecord.builder("B").port(1).build());
            assertTrue(Files.exists(registryTemp), "a running process's write in progress");
            assertTrue(Files.exists(heartbeatTemp), "a running process's write in progress");
            assertTrue(Files.notExists(reused), "its pid runs, but it is a later process: the writer is gone");
            assertEquals(List.of("A", "B"), ids(registry()));
        } finally {
            other.destroyForcibly().waitFor();
        }
    }
}
