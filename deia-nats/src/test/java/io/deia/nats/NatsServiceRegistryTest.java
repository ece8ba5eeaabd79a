package io.deia.nats;

import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;
import io.deia.core.config.Backend;
import io.deia.core.config.DeiaConfig;
import io.deia.core.registry.BotRecord;
import io.deia.core.registry.BotState;
import io.nats.client.api.KeyValueStatus;
import io.nats.client.api.StorageType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What only the NATS registry does: the bucket and its TTL, nodes, ports per node under concurrency. */
class NatsServiceRegistryTest {
    private static final AtomicInteger HIVES = new AtomicInteger();

    @TempDir
    static Path dir;
    static NatsServers nats;

    private final List<NatsHive> connections = new ArrayList<>();
    private String hiveName;

    @BeforeAll
    static void startServer() throws Exception {
        nats = NatsServers.single(dir);
    }

    @AfterAll
    static void stopServer() {
        nats.close();
    }

    @BeforeEach
    void newHive() {
        hiveName = "reg" + HIVES.incrementAndGet();
    }

    @AfterEach
    void closeConnections() {
        connections.forEach(NatsHive::close);
    }

    private NatsHive connect() {
        NatsHive hive = NatsHive.connect(new Backend("nats", nats.urls(), hiveName, null, null), "deia-test");
        connections.add(hive);
        return hive;
    }

    private NatsServiceRegistry registry(DeiaConfig config, String node) {
        return new NatsServiceRegistry(connect(), config, node);
    }

    private static DeiaConfig ttl(int seconds) {
        return DeiaConfig.builder().heartbeatIntervalS(1).heartbeatTtlS(seconds).build();
    }

    @Test
    void theBucketIsNamedAfterTheHiveStoredOnFileWithTheHeartbeatTtlWhichFollowsTheConfig() throws Exception {
        registry(ttl(45), "node-a");
        KeyValueStatus status = connect().keyValueManagement().getStatus("deia-" + hiveName + "-bots");
        assertEquals(Duration.ofSeconds(45), status.getTtl());
        assertEquals(StorageType.File, status.getStorageType());
        assertEquals(1, status.getReplicas());
        assertEquals(1, status.getMaxHistoryPerKey());

        registry(ttl(30), "node-a");
        assertEquals(Duration.ofSeconds(30), connect().keyValueManagement().getStatus("deia-" + hiveName + "-bots").getTtl());
        assertEquals("deia-x-bots", NatsServiceRegistry.bucketName("x"));
    }

    @Test
    void anEntryNobodyWritesExpiresAfterTheTtlWhileABeatingOneStays() {
        NatsServiceRegistry r = registry(ttl(2), "node-a");
        ProcessHandle me = ProcessHandle.current();
        r.register(BotRecord.builder("SILENT").pid(me.pid()).port(8101).state(BotState.IDLE).build());
        r.register(BotRecord.builder("BEATING").pid(me.pid()).port(8102).state(BotState.IDLE).build());
        Instant start = Instant.now();
        await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(300)).until(() -> {
            r.heartbeat("BEATING", BotState.BUSY);
            return r.get("SILENT").isEmpty();
        });
        assertTrue(Duration.between(start, Instant.now()).toMillis() >= 1500, "not before the TTL");
        assertEquals(List.of("BEATING"), r.list().stream().map(BotRecord::botId).toList());
        assertEquals(BotState.BUSY, r.get("BEATING").orElseThrow().state());
        assertEquals(Optional.empty(), r.heartbeat("SILENT", BotState.IDLE), "an expired bot must register again");
    }

    @Test
    void entriesCarryTheirNodeAndAPidIsCheckedOnlyOnItsOwnNode() throws Exception {
        NatsServiceRegistry a = registry(ttl(45), "node-a");
        NatsServiceRegistry b = registry(ttl(45), "node-b");
        assertEquals("node-b", b.node());
        // A pid that is dead here but beats on node b: from node a it is alive by its heartbeat.
        Process gone = new ProcessBuilder("true").start();
        gone.waitFor();
        BotRecord onB = b.register(BotRecord.builder("REMOTE").pid(gone.pid()).port(8101).state(BotState.IDLE).build());
        assertEquals("node-b", onB.node());
        assertEquals("node-b", a.get("REMOTE").orElseThrow().node());
        DeiaException taken = assertThrows(DeiaException.class, () -> a.reserve("REMOTE", "echo", "command"));
        assertEquals(ErrorCode.CONFLICT, taken.code());
        assertTrue(taken.getMessage().contains("node-b"), taken.getMessage());
        assertEquals(List.of(), a.reapStale(), "a beating bot of another node is not reaped");

        // Silent for longer than the TTL: node a takes it over.
        a.update("REMOTE", x -> x.toBuilder().lastHeartbeat(Instant.now().minusSeconds(120)).build());
        BotRecord relaunched = a.reserve("REMOTE", "echo", "command");
        assertEquals("node-a", relaunched.node());
    }

    @Test
    void portsArePerNode() throws Exception {
        int port;
        try (ServerSocket probe = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
            port = probe.getLocalPort();
        }
        DeiaConfig one = DeiaConfig.builder().ports(new DeiaConfig.PortRange(port, port)).build();
        NatsServiceRegistry a = registry(one, "node-a");
        NatsServiceRegistry b = registry(one, "node-b");
        assertEquals(port, a.reserve("BOT-A", "echo", "command").port());
        assertEquals(port, b.reserve("BOT-B", "echo", "command").port(), "the same port on another machine");
        assertEquals(ErrorCode.UNAVAILABLE, assertThrows(DeiaException.class, () -> a.reserve("BOT-C", "echo", "command")).code());
    }

    @Test
    void fourLaunchersReservingAtOnceOnOneNodeGetFourDifferentPorts() throws Exception {
        int from = freeRangeOf(4);
        DeiaConfig four = DeiaConfig.builder().ports(new DeiaConfig.PortRange(from, from + 3)).build();
        List<NatsServiceRegistry> launchers = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            launchers.add(registry(four, "node-a"));
        }
        CountDownLatch go = new CountDownLatch(1);
        List<Integer> ports = new CopyOnWriteArrayList<>();
        List<Throwable> failures = new CopyOnWriteArrayList<>();
        List<Thread> threads = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            NatsServiceRegistry r = launchers.get(i);
            String bot = "BOT-" + i;
            Thread t = new Thread(() -> {
                try {
                    go.await();
                    ports.add(r.reserve(bot, "echo", "command").port());
                } catch (Throwable e) {
                    failures.add(e);
                }
            });
            t.start();
            threads.add(t);
        }
        go.countDown();
        for (Thread t : threads) {
            t.join();
        }
        assertEquals(List.of(), failures);
        Set<Integer> distinct = new TreeSet<>(ports);
        assertEquals(4, distinct.size(), ports.toString());
        assertEquals(ErrorCode.UNAVAILABLE,
                assertThrows(DeiaException.class, () -> launchers.get(0).reserve("BOT-5", "echo", "command")).code());
    }

    @Test
    void aNodeNameThatIsNotATokenIsRefused() {
        NatsHive hive = connect();
        for (String bad : new String[] {null, "", "a.b", "host a", "x/y"}) {
            DeiaException e = assertThrows(DeiaException.class, () -> new NatsServiceRegistry(hive, ttl(45), bad));
            assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
        }
    }

    /** The first port of {@code n} consecutive ports that can be bound now. */
    private static int freeRangeOf(int n) throws Exception {
        for (int attempt = 0; attempt < 50; attempt++) {
            int from;
            try (ServerSocket probe = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
                from = probe.getLocalPort();
            }
            boolean all = from + n < 65535;
            for (int p = from; all && p < from + n; p++) {
                try (ServerSocket s = new ServerSocket(p, 1, InetAddress.getByName("127.0.0.1"))) {
                    s.getLocalPort();
                } catch (java.io.IOException e) {
                    all = false;
                }
            }
            if (all) {
                return from;
            }
        }
        throw new IllegalStateException("no free range of " + n + " ports");
    }
}
