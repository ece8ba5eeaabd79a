package io.deia.bench;

import com.sun.net.httpserver.HttpServer;
import io.deia.core.HiveLayout;
import io.deia.core.config.DeiaConfig;
import io.deia.core.config.HiveSettings;
import io.deia.core.config.Webhook;
import io.deia.core.webhook.DispatcherOptions;
import io.deia.core.webhook.WebhookDispatcher;
import io.deia.core.webhook.WebhookOutbox;

import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The webhook outbox: durable event writes per second from 4 threads ({@link WebhookOutbox#publish},
 * one atomic, fsynced file per event, as the bots write them), then how fast the dispatcher
 * ({@link WebhookDispatcher}, serve's) delivers them to a receiver on 127.0.0.1 that answers 204 at once.
 *
 * <pre>
 * mvn -B -q -pl deia-bench -am package -DskipTests
 * java -cp "deia-bench/target/deia-bench.jar:deia-bench/target/lib/*" io.deia.bench.WebhookOutboxBenchmark [events] [threads]
 * </pre>
 * {@code -Ddeia.bench.dir=DIR} puts the hive under DIR. Target (issue 24): at least 500 durable events/s.
 */
public final class WebhookOutboxBenchmark {
    private WebhookOutboxBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        int events = args.length > 0 ? Integer.parseInt(args[0]) : 4000;
        int threads = args.length > 1 ? Integer.parseInt(args[1]) : 4;
        String base = System.getProperty("deia.bench.dir");
        Path root = base == null ? Files.createTempDirectory("deia-bench-webhooks")
                : Files.createTempDirectory(Files.createDirectories(Path.of(base)), "deia-bench-webhooks");
        System.out.printf("webhook outbox benchmark: %d events from %d threads, hive %s, %d cores, Java %s%n", events,
                threads, root, Runtime.getRuntime().availableProcessors(), System.getProperty("java.version"));

        AtomicLong received = new AtomicLong();
        HttpServer receiver = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 200);
        receiver.createContext("/", exchange -> {
            try (InputStream in = exchange.getRequestBody()) {
                in.readAllBytes();
            }
            received.incrementAndGet();
            exchange.sendResponseHeaders(204, -1);
            exchange.close();
        });
        receiver.setExecutor(Executors.newFixedThreadPool(4));
        receiver.start();
        String url = "http://127.0.0.1:" + receiver.getAddress().getPort() + "/hook";
        DeiaConfig config = DeiaConfig.builder().webhooks(List.of(new Webhook(url, null, null))).build();
        HiveLayout hive = new HiveLayout(root.resolve(".deia"));
        Files.createDirectories(hive.root());
        WebhookOutbox outbox = new WebhookOutbox(hive, () -> HiveSettings.of(config));

        // Warm-up outside the measurement (class loading, JIT), then cleared.
        for (int i = 0; i < 50; i++) {
            outbox.publish("task.completed", "BOT-WARM", Map.of("task_id", "W-" + i));
        }
        try (var s = Files.list(hive.webhookOutboxDir())) {
            for (Path p : (Iterable<Path>) s::iterator) {
                Files.delete(p);
            }
        }

        int perThread = events / threads;
        List<Thread> writers = new ArrayList<>();
        long start = System.nanoTime();
        for (int t = 0; t < threads; t++) {
            String bot = "BOT-" + (t + 1);
            Thread w = new Thread(() -> {
                for (int i = 0; i < perThread; i++) {
                    outbox.publish("task.completed", bot, Map.of("task_id", "T-" + i, "status", "completed",
                            "attempt", 1, "duration_ms", 1234));
                }
            });
            writers.add(w);
            w.start();
        }
        for (Thread w : writers) {
            w.join();
        }
        double writeS = (System.nanoTime() - start) / 1e9;
        int written = perThread * threads;
        double writesPerS = written / writeS;
        System.out.printf("durable writes: %d events in %.2f s = %.0f events/s (target >= 500)%n", written, writeS, writesPerS);

        long deliverStart = System.nanoTime();
        double deliveriesPerS;
        try (WebhookDispatcher dispatcher = new WebhookDispatcher(hive, () -> config,
                DispatcherOptions.builder().perWebhook(Integer.getInteger("deia.bench.perWebhook", 1)).build()).start()) {
            long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(5);
            while (dispatcher.stats().deliveredTotal() < written && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            double deliverS = (System.nanoTime() - deliverStart) / 1e9;
            long delivered = dispatcher.stats().deliveredTotal();
            deliveriesPerS = delivered / deliverS;
            System.out.printf("delivery: %d events delivered (receiver saw %d) in %.2f s = %.0f events/s, failed attempts %d%n",
                    delivered, received.get(), deliverS, deliveriesPerS, dispatcher.stats().failedTotal());
        } finally {
            receiver.stop(0);
        }
        BenchResult.of("webhooks").put("events", (double) written).put("threads", (double) threads)
                .put("outbox_writes_per_s", writesPerS).put("deliveries_per_s", deliveriesPerS).print();
        System.exit(0);
    }
}
