package io.deia.bench;

import io.deia.core.HiveLayout;
import io.deia.core.config.Backend;
import io.deia.core.config.DeiaConfig;
import io.deia.core.registry.BotRecord;
import io.deia.core.registry.BotState;
import io.deia.core.registry.JsonFileServiceRegistry;
import io.deia.core.registry.ServiceRegistry;
import io.deia.nats.NatsHive;
import io.deia.nats.NatsServiceRegistry;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;
import java.util.stream.Stream;

/**
 * Registry updates per second on NATS JetStream (KV bucket {@code deia-H-bots}) beside the file
 * registry, in one run: 1 and 4 writers, each with its own registry instance (for NATS its own
 * connection, as separate processes would have), each heartbeating its own bot in a loop for a
 * fixed time. A NATS update is a read of the bucket's sequence and the entry, then a
 * compare-and-set publish acknowledged once stored (on a single server, in its file store; the
 * server fsyncs every 2 min unless {@code sync_interval: always}); a file update is a locked
 * read-modify-write of {@code registry.json} with fsync. Median of {@code deia.bench.runs} runs (5).
 *
 * <pre>
 * mvn -B -q -pl deia-bench -am package -DskipTests
 * java -cp "deia-bench/target/deia-bench.jar:deia-bench/target/lib/*" io.deia.bench.NatsRegistryBenchmark [seconds] [nats-url]
 * </pre>
 * Without {@code nats-url} it starts its own {@code nats-server -js} on 127.0.0.1 with a store in a
 * temp folder, and stops it at the end.
 */
public final class NatsRegistryBenchmark {
    private static final int RUNS = Integer.getInteger("deia.bench.runs", 5);
    private static final long WARMUP_MS = Long.getLong("deia.bench.warmupMs", 2000);

    private NatsRegistryBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        int seconds = args.length > 0 ? Integer.parseInt(args[0]) : 3;
        Path base = Files.createTempDirectory("deia-bench-nats-registry-");
        Process server = null;
        try {
            String url;
            if (args.length > 1) {
                url = args[1];
            } else {
                int port = freePort();
                server = new ProcessBuilder("nats-server", "-a", "127.0.0.1", "-p", Integer.toString(port), "-js",
                        "-sd", base.resolve("store").toString()).redirectErrorStream(true)
                        .redirectOutput(base.resolve("server.log").toFile()).start();
                awaitPort(port);
                url = "nats://127.0.0.1:" + port;
            }
            System.out.printf("NATS registry benchmark: %d s per run, %d runs, %d cores, Java %s, server %s%n", seconds, RUNS,
                    Runtime.getRuntime().availableProcessors(), System.getProperty("java.version"), url);
            BenchResult result = BenchResult.of("nats_registry").put("runs", (double) RUNS);
            List<AutoCloseable> open = new ArrayList<>();
            int[] hiveCounter = {0};
            for (int writers : new int[] {1, 4}) {
                double nats = median(writers, seconds, () -> {
                    String hive = "bench" + (++hiveCounter[0]);
                    return () -> {
                        NatsHive h = NatsHive.connect(new Backend("nats", List.of(url), hive, null, null), "deia-bench");
                        open.add(h);
                        return new NatsServiceRegistry(h, DeiaConfig.of(Map.of()), "bench");
                    };
                }, "nats");
                double file = median(writers, seconds, () -> {
                    Path dir = base.resolve("hive" + (++hiveCounter[0]));
                    return () -> new JsonFileServiceRegistry(new HiveLayout(dir), DeiaConfig.of(Map.of()));
                }, "file");
                for (AutoCloseable c : open) {
                    c.close();
                }
                open.clear();
                System.out.printf("%d writer(s): NATS median %.0f updates/s, file registry median %.0f updates/s%n",
                        writers, nats, file);
                result.put("nats_updates_per_s_" + writers + "_conn", nats);
                result.put("file_updates_per_s_" + writers + "_writer", file);
            }
            result.print();
        } finally {
            if (server != null) {
                server.destroyForcibly().waitFor();
            }
            deleteTree(base);
        }
    }

    /** The median rate of {@link #RUNS} runs; {@code perRun} gives each run a fresh store and an instance factory. */
    private static double median(int writers, int seconds, Supplier<Supplier<ServiceRegistry>> perRun, String label)
            throws Exception {
        double[] rates = new double[RUNS];
        for (int run = 0; run < RUNS; run++) {
            rates[run] = run(writers, seconds, perRun.get());
            System.out.printf("  %s, %d writer(s), run %d: %.0f updates/s%n", label, writers, run + 1, rates[run]);
        }
        Arrays.sort(rates);
        return rates[RUNS / 2];
    }

    /** One run: {@code writers} instances, each heartbeating its own bot; the summed rate. */
    private static double run(int writers, int seconds, Supplier<ServiceRegistry> instances) throws Exception {
        List<ServiceRegistry> registries = new ArrayList<>();
        for (int w = 0; w < writers; w++) {
            ServiceRegistry r = instances.get();
            ProcessHandle self = ProcessHandle.current();
            r.register(BotRecord.builder("BENCH-" + w).pid(self.pid()).processStart(self.info().startInstant().orElse(null))
                    .port(9000 + w).state(BotState.IDLE).profile("bench").agent("command").build());
            registries.add(r);
        }
        CountDownLatch ready = new CountDownLatch(writers);
        CountDownLatch go = new CountDownLatch(1);
        AtomicLong total = new AtomicLong();
        List<Thread> threads = new ArrayList<>();
        long[] elapsed = new long[writers];
        for (int w = 0; w < writers; w++) {
            ServiceRegistry r = registries.get(w);
            String bot = "BENCH-" + w;
            int slot = w;
            Thread t = new Thread(() -> {
                long warmEnd = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(WARMUP_MS);
                while (System.nanoTime() < warmEnd) {
                    r.heartbeat(bot, BotState.IDLE);
                }
                ready.countDown();
                try {
                    go.await();
                } catch (InterruptedException e) {
                    return;
                }
                long start = System.nanoTime();
                long end = start + TimeUnit.SECONDS.toNanos(seconds);
                long n = 0;
                long now;
                do {
                    r.heartbeat(bot, n % 2 == 0 ? BotState.BUSY : BotState.IDLE);
                    n++;
                    now = System.nanoTime();
                } while (now < end);
                elapsed[slot] = now - start;
                total.addAndGet(n);
            });
            t.start();
            threads.add(t);
        }
        ready.await();
        go.countDown();
        for (Thread t : threads) {
            t.join();
        }
        long longest = Arrays.stream(elapsed).max().orElse(1);
        return total.get() / (longest / 1e9);
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    private static void awaitPort(int port) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
        while (System.nanoTime() < deadline) {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", port), 200);
                return;
            } catch (IOException e) {
                Thread.sleep(20);
            }
        }
        throw new IllegalStateException("nats-server did not start on port " + port);
    }

    private static void deleteTree(Path dir) throws IOException {
        try (Stream<Path> all = Files.walk(dir)) {
            for (Path p : all.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
