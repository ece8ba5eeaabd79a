package io.deia.core.registry;

import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;
import io.deia.core.config.DeiaConfig;
import io.deia.core.testkit.ProcessChecks;
import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What every {@link ServiceRegistry} must do, whatever stores it: a subclass supplies instances on
 * one shared store (the file registry on a hive folder, the NATS registry on a KV bucket), each as a
 * separate component or process would have its own. Store-specific behaviour (files, damage
 * repair, bucket TTL) is tested beside each implementation.
 */
public abstract class ServiceRegistryContract {

    /** A new instance on the shared store of this test, with {@code config}'s ports and TTLs. */
    protected abstract ServiceRegistry registry(DeiaConfig config);

    protected ServiceRegistry registry() {
        return registry(DeiaConfig.of(Map.of()));
    }

    private static BotRecord.Builder self(String botId) {
        ProcessHandle me = ProcessHandle.current();
        return BotRecord.builder(botId).pid(me.pid()).processStart(me.info().startInstant().orElseThrow()).port(8101)
                .state(BotState.IDLE).profile("echo").agent("command");
    }

    @Test
    public void anEmptyStoreHasNoEntries() {
        ServiceRegistry r = registry();
        assertEquals(List.of(), r.list());
        assertEquals(Optional.empty(), r.get("BOT-001"));
    }

    @Test
    public void entriesAreSharedByInstancesAndListedByBotId() {
        ServiceRegistry first = registry();
        first.register(self("BOT-002").port(8102).build());
        BotRecord stored = first.register(self("BOT-001").lastExitCode(3).lastError("boom").build());

        ServiceRegistry second = registry();
        assertEquals(List.of("BOT-001", "BOT-002"), second.list().stream().map(BotRecord::botId).toList());
        assertEquals(stored, second.get("BOT-001").orElseThrow());
        assertEquals("boom", second.get("BOT-001").orElseThrow().lastError());
    }

    @Test
    public void registerFillsInTheStartInstantOfAPidGivenWithoutOne() {
        ProcessHandle me = ProcessHandle.current();
        BotRecord r = registry().register(BotRecord.builder("BOT-001").pid(me.pid()).port(8101).build());
        assertEquals(me.info().startInstant().orElseThrow().toEpochMilli(), r.processStart().toEpochMilli());
    }

    @Test
    public void aLiveIdIsRefusedButTheSameProcessMayRegisterAgain() throws Exception {
        ServiceRegistry r = registry();
        r.register(self("BOT-001").build());
        r.register(self("BOT-001").state(BotState.BUSY).build());
        Process other = new ProcessBuilder("sleep", "30").start();
        try {
            BotRecord intruder = BotRecord.builder("BOT-001").pid(other.pid())
                    .processStart(other.info().startInstant().orElseThrow()).port(8109).build();
            DeiaException e = assertThrows(DeiaException.class, () -> registry().register(intruder));
            assertEquals(ErrorCode.CONFLICT, e.code());
            assertTrue(e.getMessage().contains("BOT-001") && e.getMessage().contains(Long.toString(ProcessHandle.current().pid())),
                    e.getMessage());
            assertEquals(BotState.BUSY, r.get("BOT-001").orElseThrow().state());
            assertEquals(ErrorCode.CONFLICT, assertThrows(DeiaException.class, () -> r.reserve("BOT-001", "echo", "command")).code());
        } finally {
            other.destroyForcibly().waitFor();
        }
    }

    @Test
    public void aStaleEntryIsTakenOverByANewProcess() throws Exception {
        ServiceRegistry r = registry();
        Process dead = new ProcessBuilder("true").start();
        Instant deadStart = dead.info().startInstant().orElse(Instant.now());
        assertTrue(dead.waitFor(10, TimeUnit.SECONDS));
        r.register(BotRecord.builder("BOT-001").pid(dead.pid()).processStart(deadStart).port(8101).build());
        BotRecord mine = r.register(self("BOT-001").build());
        assertEquals(mine, r.get("BOT-001").orElseThrow());
        assertEquals(ProcessHandle.current().pid(), mine.pid());
    }

    @Test
    public void heartbeatRecordsTheStateAndDeregisterRemovesTheEntry() {
        ServiceRegistry r = registry();
        assertEquals(Optional.empty(), r.heartbeat("NOBODY", BotState.IDLE));
        assertEquals(Optional.empty(), r.get("NOBODY"), "a heartbeat creates no entry");
        BotRecord registered = r.register(self("BOT-001").state(BotState.STARTING).build());
        BotRecord beat = r.heartbeat("BOT-001", BotState.BUSY).orElseThrow();
        assertEquals(BotState.BUSY, beat.state());
        assertTrue(!beat.lastHeartbeat().isBefore(registered.lastHeartbeat()));
        assertEquals(beat, registry().get("BOT-001").orElseThrow());
        assertTrue(r.deregister("BOT-001"));
        assertEquals(Optional.empty(), r.get("BOT-001"));
        assertTrue(!r.deregister("BOT-001"));
        assertEquals(List.of(), r.list());
        r.register(self("BOT-001").build());
        assertTrue(r.get("BOT-001").isPresent(), "an id can be registered again after it was removed");
    }

    @Test
    public void updateAppliesTheChangeAndRefusesToRenameTheBot() {
        ServiceRegistry r = registry();
        assertEquals(Optional.empty(), r.update("BOT-001", b -> b));
        r.register(self("BOT-001").build());
        BotRecord changed = r.update("BOT-001", b -> b.toBuilder().restarts(b.restarts() + 2).state(BotState.RESTARTING).build())
                .orElseThrow();
        assertEquals(2, changed.restarts());
        assertEquals(changed, registry().get("BOT-001").orElseThrow());
        DeiaException e = assertThrows(DeiaException.class, () -> r.update("BOT-001", b -> b.toBuilder().botId("BOT-002").build()));
        assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
        assertEquals(Optional.empty(), r.get("BOT-002"));
    }

    @Test
    public void reserveSkipsPortsHeldByBotsAndByOtherPrograms() throws Exception {
        try (ServerSocket foreign = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
            int busy = foreign.getLocalPort();
            int from = busy - 1;
            ServiceRegistry r = registry(DeiaConfig.builder().ports(new DeiaConfig.PortRange(from, busy + 1)).build());
            r.register(BotRecord.builder("HOLDER").port(from).state(BotState.IDLE).build());

            BotRecord reserved = r.reserve("BOT-001", "echo", "command");
            assertEquals(busy + 1, reserved.port(), "neither the registry's port nor the foreign listener's");
            assertEquals(BotState.STARTING, reserved.state());
            assertEquals(0, reserved.pid());
            assertEquals("echo", reserved.profile());
            assertTrue(reserved.wanted(), "a reservation is for a launch: wanted running");
            assertEquals(reserved, r.get("BOT-001").orElseThrow());
            assertEquals(ErrorCode.CONFLICT, assertThrows(DeiaException.class, () -> r.reserve("BOT-001", "echo", "command")).code());
            DeiaException full = assertThrows(DeiaException.class, () -> r.reserve("BOT-002", "echo", "command"));
            assertEquals(ErrorCode.UNAVAILABLE, full.code());
            assertEquals("no free port for BOT-002 in " + from + ".." + (busy + 1) + ": 2 held by bots, 1 in use by other programs",
                    full.getMessage());
        }
    }

    @Test
    public void aStoppedOrFailedBotFreesItsPortAndARelaunchGetsItBack() throws Exception {
        int port;
        try (ServerSocket probe = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
            port = probe.getLocalPort();
        }
        ServiceRegistry r = registry(DeiaConfig.builder().ports(new DeiaConfig.PortRange(port, port)).build());
        r.register(BotRecord.builder("BOT-001").port(port).state(BotState.STOPPED).restarts(4).build());
        BotRecord again = r.reserve("BOT-001", "echo", "command", "shop");
        assertEquals(port, again.port());
        assertEquals(4, again.restarts(), "the restart count belongs to the bot");
        assertEquals("shop", again.project());
        assertEquals(ErrorCode.UNAVAILABLE, assertThrows(DeiaException.class, () -> r.reserve("BOT-002", "echo", "command")).code());
        r.update("BOT-001", x -> x.toBuilder().state(BotState.FAILED).build());
        assertEquals(port, r.reserve("BOT-002", "echo", "command").port(), "a failed bot's port is free for others");
    }

    @Test
    public void aReservationIsTakenUpByTheRegisteringProcess() {
        ServiceRegistry r = registry();
        BotRecord reserved = r.reserve("BOT-001", "echo", "command");
        BotRecord running = r.register(self("BOT-001").port(reserved.port()).state(BotState.IDLE).build());
        assertEquals(ProcessHandle.current().pid(), running.pid());
        assertNotEquals(0, running.port());
        assertEquals(running, r.get("BOT-001").orElseThrow());
    }

    @Test
    public void aReservationOfALauncherThatDiedIsTakenOverAtOnceAndReaped() throws Exception {
        ServiceRegistry r = registry();
        BotRecord mine = r.reserve("BOT-LIVE", "echo", "command");
        assertEquals(ProcessHandle.current().pid(), mine.launcherPid(), "the reserving process is recorded");
        assertEquals(ErrorCode.CONFLICT, assertThrows(DeiaException.class, () -> r.reserve("BOT-LIVE", "echo", "command")).code());

        ProcessChecks.Ended dead = ProcessChecks.endedProcess();
        r.register(BotRecord.builder("BOT-ORPHAN").port(8150).state(BotState.STARTING).profile("echo").agent("command")
                .launcherPid(dead.pid()).launcherStart(dead.start()).build());
        r.register(BotRecord.builder("BOT-GONE").port(8151).state(BotState.STARTING).profile("echo").agent("command")
                .launcherPid(dead.pid()).launcherStart(dead.start()).build());
        BotRecord taken = r.reserve("BOT-ORPHAN", "echo", "command");
        assertEquals(ProcessHandle.current().pid(), taken.launcherPid());

        List<BotRecord> reaped = r.reapStale();
        assertEquals(List.of("BOT-GONE"), reaped.stream().map(BotRecord::botId).toList());
        assertTrue(reaped.get(0).lastError().contains("launcher (pid " + dead.pid() + ") exited"), reaped.toString());
        assertEquals(taken, registry().get("BOT-ORPHAN").orElseThrow());
        assertTrue(r.get("BOT-LIVE").isPresent());
    }

    @Test
    public void reapRemovesGoneReusedAndSilentBotsAndOldReservationsButKeepsStoppedAndWantedOnes() throws Exception {
        ServiceRegistry r = registry();
        ProcessChecks.Ended exited = ProcessChecks.endedProcess();
        ProcessHandle me = ProcessHandle.current();
        Instant myStart = me.info().startInstant().orElseThrow();
        r.register(BotRecord.builder("GONE").pid(exited.pid()).processStart(exited.start()).port(8101).state(BotState.IDLE).build());
        r.register(BotRecord.builder("WANTED").pid(exited.pid()).processStart(exited.start()).port(8108)
                .state(BotState.IDLE).wanted(true).build());
        r.register(BotRecord.builder("REUSED").pid(me.pid()).processStart(myStart.minusSeconds(3600)).port(8102)
                .state(BotState.BUSY).build());
        r.register(self("SILENT").port(8103).build());
        r.update("SILENT", b -> b.toBuilder().lastHeartbeat(Instant.now().minus(Duration.ofMinutes(5))).build());
        r.register(self("FRESH").port(8104).build());
        r.register(BotRecord.builder("STOPPED").pid(exited.pid()).processStart(exited.start()).port(8105)
                .state(BotState.STOPPED).lastError("stopped by request").build());
        r.register(BotRecord.builder("OLD-RESERVATION").port(8106).state(BotState.STARTING)
                .registeredAt(Instant.now().minus(JsonFileServiceRegistry.RESERVATION_TTL).minusSeconds(5)).build());
        r.register(BotRecord.builder("NEW-RESERVATION").port(8107).state(BotState.STARTING).build());

        List<BotRecord> reaped = r.reapStale();

        assertEquals(List.of("GONE", "OLD-RESERVATION", "REUSED", "SILENT"), reaped.stream().map(BotRecord::botId).sorted().toList());
        reaped.forEach(b -> assertEquals(BotState.STALE, b.state()));
        assertTrue(reaped.stream().filter(b -> b.botId().equals("REUSED")).findFirst().orElseThrow().lastError().contains("another process"));
        assertTrue(reaped.stream().filter(b -> b.botId().equals("SILENT")).findFirst().orElseThrow().lastError().contains("no heartbeat"));
        assertEquals(List.of("FRESH", "NEW-RESERVATION", "STOPPED", "WANTED"), r.list().stream().map(BotRecord::botId).toList());
        assertEquals(List.of(), r.reapStale());
    }

    @Test
    public void fourInstancesUpdatingOneEntryLoseNoUpdate() throws Exception {
        ServiceRegistry r = registry();
        r.register(self("COUNTER").build());
        int threads = 4;
        int each = 25;
        Thread[] workers = new Thread[threads];
        Throwable[] failures = new Throwable[threads];
        for (int t = 0; t < threads; t++) {
            ServiceRegistry own = registry();
            int slot = t;
            workers[t] = new Thread(() -> {
                try {
                    for (int i = 0; i < each; i++) {
                        own.update("COUNTER", b -> b.toBuilder().restarts(b.restarts() + 1).build());
                    }
                } catch (Throwable e) {
                    failures[slot] = e;
                }
            });
            workers[t].start();
        }
        for (Thread w : workers) {
            w.join();
        }
        for (Throwable f : failures) {
            if (f != null) {
                throw new AssertionError("a writer failed", f);
            }
        }
        assertEquals(threads * each, r.get("COUNTER").orElseThrow().restarts());
    }

    @Test
    public void invalidIdsAreRefused() {
        ServiceRegistry r = registry();
        for (String id : List.of("../x", "a/b", "a.b", "-lead", "bot id", "")) {
            for (var call : List.<org.junit.jupiter.api.function.Executable>of(
                    () -> r.reserve(id, "echo", "command"), () -> r.deregister(id), () -> r.heartbeat(id, BotState.IDLE),
                    () -> r.update(id, b -> b), () -> r.get(id))) {
                DeiaException e = assertThrows(DeiaException.class, call);
                assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
            }
        }
    }
}
