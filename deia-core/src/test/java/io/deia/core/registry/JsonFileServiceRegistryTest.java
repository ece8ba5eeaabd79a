package io.deia.core.registry;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;
import io.deia.core.HiveLayout;
import io.deia.core.config.DeiaConfig;
import io.deia.core.internal.io.AtomicFiles;
import io.deia.core.internal.io.Json;
import io.deia.core.testkit.ProcessChecks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.NullAndEmptySource;
import org.junit.jupiter.params.provider.ValueSource;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class JsonFileServiceRegistryTest {
    @TempDir
    Path tmp;

    private HiveLayout hive() {
        return new HiveLayout(tmp.resolve(".deia"));
    }

    private JsonFileServiceRegistry registry() {
        return new JsonFileServiceRegistry(hive(), DeiaConfig.of(Map.of()));
    }

    private static BotRecord.Builder self(String botId) {
        ProcessHandle me = ProcessHandle.current();
        return BotRecord.builder(botId).pid(me.pid()).processStart(me.info().startInstant().orElseThrow()).port(8101)
                .state(BotState.IDLE).profile("echo").agent("command");
    }

    @Test
    void anEmptyHiveHasNoEntriesAndCreatesNoFileOnRead() {
        JsonFileServiceRegistry r = registry();
        assertEquals(List.of(), r.list());
        assertEquals(Optional.empty(), r.get("BOT-001"));
        assertFalse(Files.exists(hive().registryFile()));
    }

    @Test
    void entriesSurviveANewInstanceOnTheSameHive() {
        JsonFileServiceRegistry first = registry();
        BotRecord stored = first.register(self("BOT-001").lastExitCode(3).lastError("boom").build());
        first.register(self("BOT-002").port(8102).build());

        JsonFileServiceRegistry second = registry();
        assertEquals(List.of("BOT-001", "BOT-002"), second.list().stream().map(BotRecord::botId).toList());
        assertEquals(stored, second.get("BOT-001").orElseThrow());
        assertEquals(stored.registeredAt(), second.get("BOT-001").orElseThrow().registeredAt());
    }

    @Test
    void theFileIsVersionedSnakeCaseWithStatusAndWithoutUrl() {
        registry().register(self("BOT-001").state(BotState.BUSY).build());
        JsonNode root = Json.read(AtomicFiles.readString(hive().registryFile()), JsonNode.class, "registry");
        assertEquals(1, root.get("version").asInt());
        assertTrue(Instant.parse(root.get("updated_at").asText()).isAfter(Instant.now().minusSeconds(60)));
        JsonNode bot = root.get("bots").get("BOT-001");
        assertEquals("BOT-001", bot.get("bot_id").asText());
        assertEquals("busy", bot.get("state").asText());
        assertEquals("busy", bot.get("status").asText());
        assertEquals(ProcessHandle.current().pid(), bot.get("pid").asLong());
        assertTrue(bot.has("process_start") && bot.has("last_heartbeat") && bot.has("registered_at"));
        assertFalse(bot.has("url"));
        assertFalse(bot.has("botId"));
    }

    @Test
    void registerFillsInTheStartInstantOfAPidGivenWithoutOne() {
        ProcessHandle me = ProcessHandle.current();
        BotRecord r = registry().register(BotRecord.builder("BOT-001").pid(me.pid()).port(8101).build());
        assertEquals(me.info().startInstant().orElseThrow(), r.processStart());
    }

    @Test
    void aLiveIdIsRefusedButTheSameProcessMayRegisterAgain() throws Exception {
        JsonFileServiceRegistry r = registry();
        r.register(self("BOT-001").build());
        r.register(self("BOT-001").state(BotState.BUSY).build());

        Process other = new ProcessBuilder("sleep", "30").start();
        try {
            BotRecord intruder = BotRecord.builder("BOT-001").pid(other.pid())
                    .processStart(other.info().startInstant().orElseThrow()).port(8109).build();
            DeiaException e = assertThrows(DeiaException.class, () -> r.register(intruder));
            assertEquals(ErrorCode.CONFLICT, e.code());
            assertTrue(e.getMessage().contains("BOT-001") && e.getMessage().contains(Long.toString(ProcessHandle.current().pid())), e.getMessage());
            assertEquals(BotState.BUSY, r.get("BOT-001").orElseThrow().state());
            assertThrows(DeiaException.class, () -> r.reserve("BOT-001", "echo", "command"));
        } finally {
            other.destroyForcibly().waitFor();
        }
    }

    @Test
    void aStaleEntryIsTakenOverByANewProcess() throws Exception {
        JsonFileServiceRegistry r = registry();
        Process dead = new ProcessBuilder("true").start();
        Instant deadStart = dead.info().startInstant().orElse(Instant.now());
        assertTrue(dead.waitFor(10, TimeUnit.SECONDS));
        r.register(BotRecord.builder("BOT-001").pid(dead.pid()).processStart(deadStart).port(8101).build());

        BotRecord mine = r.register(self("BOT-001").build());
        assertEquals(ProcessHandle.current().pid(), r.get("BOT-001").orElseThrow().pid());
        assertEquals(mine, r.get("BOT-001").orElseThrow());
    }

    @Test
    void reapKeepsAWantedBotAndOneWhoseInboxOrClaimsHoldTasks() throws Exception {
        HiveLayout hive = hive();
        JsonFileServiceRegistry r = registry();
        Process exited = new ProcessBuilder("true").start();
        Instant exitedStart = exited.info().startInstant().orElse(Instant.now());
        assertTrue(exited.waitFor(10, TimeUnit.SECONDS));
        for (String id : List.of("WANTED", "INBOX", "CLAIMED", "GONE")) {
            r.register(BotRecord.builder(id).pid(exited.pid()).processStart(exitedStart).port(8101 + id.length())
                    .state(BotState.IDLE).wanted(id.equals("WANTED")).build());
        }
        Files.createDirectories(hive.inboxDir("INBOX"));
        Files.writeString(hive.inboxDir("INBOX").resolve("t.md"), "work");
        Files.createDirectories(hive.claimedDir("CLAIMED"));
        Files.writeString(hive.claimedDir("CLAIMED").resolve("t.md"), "work");

        List<BotRecord> reaped = r.reapStale();

        assertEquals(List.of("GONE"), reaped.stream().map(BotRecord::botId).toList());
        assertEquals(List.of("CLAIMED", "INBOX", "WANTED"), r.list().stream().map(BotRecord::botId).toList());
        assertTrue(r.get("WANTED").orElseThrow().wanted());
        assertTrue(r.reserve("FRESH", "p", "command").wanted(), "a reservation is for a launch: wanted running");
    }

    @Test
    void reapRemovesAGonePidAReusedPidAndASilentBotButKeepsStoppedOnes() throws Exception {
        HiveLayout hive = hive();
        JsonFileServiceRegistry r = registry();
        Process exited = new ProcessBuilder("true").start();
        Instant exitedStart = exited.info().startInstant().orElse(Instant.now());
        assertTrue(exited.waitFor(10, TimeUnit.SECONDS));
        ProcessHandle me = ProcessHandle.current();
        Instant myStart = me.info().startInstant().orElseThrow();

        r.register(BotRecord.builder("GONE").pid(exited.pid()).processStart(exitedStart).port(8101).state(BotState.IDLE).build());
        r.register(BotRecord.builder("REUSED").pid(me.pid()).processStart(myStart.minusSeconds(3600)).port(8102)
                .state(BotState.BUSY).build());
        r.register(self("SILENT").port(8103).lastHeartbeat(Instant.now().minus(Duration.ofMinutes(5))).build());
        r.register(self("FRESH").port(8104).build());
        r.heartbeat("FRESH", BotState.IDLE);
        r.heartbeat("SILENT", BotState.IDLE);
        r.update("SILENT", b -> b.toBuilder().lastHeartbeat(Instant.now().minusSeconds(300)).build());
        r.register(BotRecord.builder("STOPPED").pid(exited.pid()).processStart(exitedStart).port(8105)
                .state(BotState.STOPPED).lastError("stopped by request").build());
        r.register(BotRecord.builder("OLD-RESERVATION").port(8106).state(BotState.STARTING)
                .registeredAt(Instant.now().minus(JsonFileServiceRegistry.RESERVATION_TTL).minusSeconds(5)).build());
        r.register(BotRecord.builder("NEW-RESERVATION").port(8107).state(BotState.STARTING).build());
        assertTrue(Files.exists(hive.heartbeatFile("SILENT")));

        List<BotRecord> reaped = r.reapStale();

        assertEquals(List.of("GONE", "OLD-RESERVATION", "REUSED", "SILENT"), reaped.stream().map(BotRecord::botId).sorted().toList());
        reaped.forEach(b -> assertEquals(BotState.STALE, b.state()));
        assertTrue(reaped.stream().filter(b -> b.botId().equals("REUSED")).findFirst().orElseThrow().lastError().contains("another process"));
        assertTrue(reaped.stream().filter(b -> b.botId().equals("GONE")).findFirst().orElseThrow().lastError().contains("gone"));
        assertTrue(reaped.stream().filter(b -> b.botId().equals("SILENT")).findFirst().orElseThrow().lastError().contains("no heartbeat"));
        assertEquals(List.of("FRESH", "NEW-RESERVATION", "STOPPED"), r.list().stream().map(BotRecord::botId).toList());
        assertFalse(Files.exists(hive.heartbeatFile("SILENT")), "a reaped bot's heartbeat file goes with it");
        assertEquals(List.of(), r.reapStale());
    }

    @Test
    void heartbeatUpdatesStateAndWritesTheHeartbeatFile() {
        HiveLayout hive = hive();
        JsonFileServiceRegistry r = registry();
        assertEquals(Optional.empty(), r.heartbeat("NOBODY", BotState.IDLE));
        assertFalse(Files.exists(hive.heartbeatFile("NOBODY")));
        BotRecord registered = r.register(self("BOT-001").state(BotState.STARTING).build());

        BotRecord beat = r.heartbeat("BOT-001", BotState.BUSY).orElseThrow();
        assertEquals(BotState.BUSY, beat.state());
        assertFalse(beat.lastHeartbeat().isBefore(registered.lastHeartbeat()));
        assertEquals(beat, r.get("BOT-001").orElseThrow());
        BotRecord onDisk = Json.read(AtomicFiles.readString(hive.heartbeatFile("BOT-001")), BotRecord.class, "heartbeat");
        assertEquals(beat, onDisk);

        assertTrue(r.deregister("BOT-001"));
        assertFalse(Files.exists(hive.heartbeatFile("BOT-001")));
        assertFalse(r.deregister("BOT-001"));
        assertEquals(Optional.empty(), r.get("BOT-001"));
    }

    @Test
    void updateAppliesTheChangeAndRefusesToRenameTheBot() {
        JsonFileServiceRegistry r = registry();
        assertEquals(Optional.empty(), r.update("BOT-001", b -> b));
        r.register(self("BOT-001").build());
        BotRecord changed = r.update("BOT-001", b -> b.toBuilder().restarts(b.restarts() + 2).state(BotState.RESTARTING).build())
                .orElseThrow();
        assertEquals(2, changed.restarts());
        assertEquals(changed, registry().get("BOT-001").orElseThrow());
        DeiaException e = assertThrows(DeiaException.class,
                () -> r.update("BOT-001", b -> b.toBuilder().botId("BOT-002").build()));
        assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
        assertEquals(Optional.empty(), r.get("BOT-002"));
    }

    @Test
    void reserveSkipsPortsHeldByBotsAndByOtherPrograms() throws Exception {
        try (ServerSocket foreign = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
            int busy = foreign.getLocalPort();
            int from = busy - 1;
            DeiaConfig config = DeiaConfig.builder().ports(new DeiaConfig.PortRange(from, busy + 1)).build();
            JsonFileServiceRegistry r = new JsonFileServiceRegistry(hive(), config);
            r.register(BotRecord.builder("HOLDER").port(from).state(BotState.IDLE).build());

            BotRecord reserved = r.reserve("BOT-001", "echo", "command");
            assertEquals(busy + 1, reserved.port(), "neither the registry's port nor the foreign listener's");
            assertEquals(BotState.STARTING, reserved.state());
            assertEquals(0, reserved.pid());
            assertEquals("echo", reserved.profile());
            assertEquals(reserved, r.get("BOT-001").orElseThrow());

            DeiaException again = assertThrows(DeiaException.class, () -> r.reserve("BOT-001", "echo", "command"));
            assertEquals(ErrorCode.CONFLICT, again.code());

            DeiaException full = assertThrows(DeiaException.class, () -> r.reserve("BOT-002", "echo", "command"));
            assertEquals(ErrorCode.UNAVAILABLE, full.code());
            assertEquals("no free port for BOT-002 in " + from + ".." + (busy + 1) + ": 2 held by bots, 1 in use by other programs",
                    full.getMessage());
        }
    }

    @Test
    void aStoppedOrFailedBotFreesItsPortAndARelaunchGetsItBack() throws Exception {
        int port;
        try (ServerSocket probe = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
            port = probe.getLocalPort();
        }
        DeiaConfig config = DeiaConfig.builder().ports(new DeiaConfig.PortRange(port, port)).build();
        JsonFileServiceRegistry r = new JsonFileServiceRegistry(hive(), config);
        r.register(BotRecord.builder("BOT-001").port(port).state(BotState.STOPPED).restarts(4).build());
        BotRecord again = r.reserve("BOT-001", "echo", "command");
        assertEquals(port, again.port());
        assertEquals(4, again.restarts(), "the restart count belongs to the bot");
        assertEquals(ErrorCode.UNAVAILABLE,
                assertThrows(DeiaException.class, () -> r.reserve("BOT-002", "echo", "command")).code());
        r.update("BOT-001", x -> x.toBuilder().state(BotState.FAILED).build());
        assertEquals(port, r.reserve("BOT-002", "echo", "command").port(), "a failed bot's port is free for others");
    }

    @ParameterizedTest
    @NullAndEmptySource
    @ValueSource(strings = {"../x", "a/b", "-lead", "BÖT", "bot id", "x\u0000y",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"})
    void invalidIdsAreRefusedBeforeAnyFileIsTouched(String id) {
        JsonFileServiceRegistry r = registry();
        for (var call : List.<org.junit.jupiter.api.function.Executable>of(
                () -> r.reserve(id, "echo", "command"),
                () -> r.deregister(id),
                () -> r.heartbeat(id, BotState.IDLE),
                () -> r.update(id, b -> b),
                () -> r.get(id),
                () -> BotRecord.builder(id).build())) {
            DeiaException e = assertThrows(DeiaException.class, call);
            assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
            assertTrue(e.getMessage().contains("bot id"), e.getMessage());
        }
        assertFalse(Files.exists(hive().root()), "nothing may be created for an invalid id");
    }

    @Test
    void theIdLengthIsNamedInTheMessage() {
        DeiaException e = assertThrows(DeiaException.class, () -> registry().get("A".repeat(65)));
        assertEquals("bot id is 65 characters long; at most 64 are allowed", e.getMessage());
        assertEquals("A".repeat(64), registry().register(BotRecord.builder("A".repeat(64)).build()).botId());
    }

    @Test
    void parallelThreadsOfOneJvmLoseNoUpdate() throws Exception {
        JsonFileServiceRegistry r = registry();
        r.register(self("COUNTER").build());
        int threads = 4;
        int each = 25;
        Thread[] workers = new Thread[threads];
        for (int t = 0; t < threads; t++) {
            // Separate instances, as separate components of one JVM would have: they share the in-JVM lock.
            JsonFileServiceRegistry own = registry();
            workers[t] = new Thread(() -> {
                for (int i = 0; i < each; i++) {
                    own.update("COUNTER", b -> b.toBuilder().restarts(b.restarts() + 1).build());
                }
            });
            workers[t].start();
        }
        for (Thread w : workers) {
            w.join();
        }
        assertEquals(threads * each, r.get("COUNTER").orElseThrow().restarts());
    }

    @Test
    void aReservationIsTakenUpByTheRegisteringProcess() {
        JsonFileServiceRegistry r = registry();
        BotRecord reserved = r.reserve("BOT-001", "echo", "command");
        BotRecord running = r.register(self("BOT-001").port(reserved.port()).state(BotState.IDLE).build());
        assertEquals(ProcessHandle.current().pid(), running.pid());
        assertNotEquals(0, running.port());
        assertEquals(running, r.get("BOT-001").orElseThrow());
    }

    @Test
    void aReservationOfALauncherThatDiedIsTakenOverAtOnceAndReaped() throws Exception {
        JsonFileServiceRegistry r = registry();
        BotRecord mine = r.reserve("BOT-LIVE", "echo", "command");
        assertEquals(ProcessHandle.current().pid(), mine.launcherPid(), "the reserving process is recorded");
        assertTrue(mine.launcherRuns());
        // A live launcher's reservation is honoured.
        assertEquals(ErrorCode.CONFLICT,
                assertThrows(DeiaException.class, () -> r.reserve("BOT-LIVE", "echo", "command")).code());

        // A launcher killed between reserving and spawning: nobody will take the reservation up.
        ProcessChecks.Ended dead = ProcessChecks.endedProcess();
        r.register(BotRecord.builder("BOT-ORPHAN").port(8150).state(BotState.STARTING).profile("echo").agent("command")
                .launcherPid(dead.pid()).launcherStart(dead.start()).build());
        r.register(BotRecord.builder("BOT-GONE").port(8151).state(BotState.STARTING).profile("echo").agent("command")
                .launcherPid(dead.pid()).launcherStart(dead.start()).build());
        assertTrue(r.get("BOT-ORPHAN").orElseThrow().launcherGone());
        BotRecord taken = r.reserve("BOT-ORPHAN", "echo", "command");
        assertEquals(ProcessHandle.current().pid(), taken.launcherPid());

        List<BotRecord> reaped = r.reapStale();
        assertEquals(List.of("BOT-GONE"), reaped.stream().map(BotRecord::botId).toList());
        assertTrue(reaped.get(0).lastError().contains("launcher (pid " + dead.pid() + ") exited"), reaped.toString());
        assertTrue(r.get("BOT-LIVE").isPresent() && r.get("BOT-ORPHAN").isPresent(), "live reservations stay");
        // The launcher fields survive a new instance (they are in the file).
        assertEquals(taken, registry().get("BOT-ORPHAN").orElseThrow());
    }
}
