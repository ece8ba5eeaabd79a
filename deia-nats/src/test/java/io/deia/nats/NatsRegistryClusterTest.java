package io.deia.nats;

import io.deia.core.config.Backend;
import io.deia.core.config.DeiaConfig;
import io.deia.core.registry.BotRecord;
import io.deia.core.registry.BotState;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** The registry on a 3-server cluster: R3 bucket, and it keeps working when a server is killed -9. */
class NatsRegistryClusterTest {
    @TempDir
    Path dir;

    @Test
    void killingTheBucketsLeaderLosesNoUpdateAndTheRegistryKeepsWorking() throws Exception {
        try (NatsServers cluster = NatsServers.cluster(dir, 3)) {
            Backend backend = new Backend("nats", cluster.urls(), "ha", null, null);
            List<NatsHive> hives = new ArrayList<>();
            try {
                // The routes form just after start: wait until the servers know each other (3 replicas).
                await().atMost(Duration.ofSeconds(15)).until(() -> {
                    NatsHive h = NatsHive.connect(backend, "deia-test");
                    if (h.replicas() == 3) {
                        hives.add(h);
                        return true;
                    }
                    h.close();
                    return false;
                });
                NatsServiceRegistry first = new NatsServiceRegistry(hives.get(0), DeiaConfig.of(Map.of()), "node-a");
                var info = hives.get(0).management().getStreamInfo("KV_deia-ha-bots");
                assertEquals(3, info.getConfiguration().getReplicas());
                first.register(BotRecord.builder("COUNTER").pid(ProcessHandle.current().pid()).port(8101)
                        .state(BotState.IDLE).build());

                int writers = 2;
                int each = 100;
                AtomicInteger done = new AtomicInteger();
                List<Throwable> failures = new CopyOnWriteArrayList<>();
                List<Thread> threads = new ArrayList<>();
                for (int w = 0; w < writers; w++) {
                    NatsHive own = NatsHive.connect(backend, "deia-test-" + w);
                    hives.add(own);
                    NatsServiceRegistry r = new NatsServiceRegistry(own, DeiaConfig.of(Map.of()), "node-a");
                    Thread t = new Thread(() -> {
                        try {
                            for (int i = 0; i < each; i++) {
                                r.update("COUNTER", b -> b.toBuilder().restarts(b.restarts() + 1).build());
                                done.incrementAndGet();
                            }
                        } catch (Throwable e) {
                            failures.add(e);
                        }
                    });
                    t.start();
                    threads.add(t);
                }
                await().atMost(Duration.ofSeconds(10)).until(() -> done.get() >= 50);
                String leader = hives.get(0).management().getStreamInfo("KV_deia-ha-bots").getClusterInfo().getLeader();
                int victim = Integer.parseInt(leader.substring(1));
                cluster.kill(victim);
                long killedAt = System.nanoTime();
                int atKill = done.get();
                await().atMost(Duration.ofSeconds(15)).pollInterval(Duration.ofMillis(20)).until(() -> done.get() > atKill + 2);
                long resumedMs = (System.nanoTime() - killedAt) / 1_000_000;
                for (Thread t : threads) {
                    t.join(Duration.ofSeconds(25).toMillis());
                }
                long afterKillMs = (System.nanoTime() - killedAt) / 1_000_000;
                assertEquals(List.of(), failures);
                assertEquals(writers * each, first.get("COUNTER").orElseThrow().restarts(), "no update lost, none applied twice");
                first.heartbeat("COUNTER", BotState.BUSY);
                System.out.println("cluster: leader " + leader + " killed; updates resumed after " + resumedMs
                        + " ms; all " + (writers * each) + " done " + afterKillMs + " ms after the kill");
                cluster.restart(victim);
                assertEquals(BotState.BUSY, first.get("COUNTER").orElseThrow().state());
            } finally {
                hives.forEach(NatsHive::close);
            }
        }
    }
}
