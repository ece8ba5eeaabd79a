package io.deia.bench;

import io.deia.core.HiveLayout;
import io.deia.core.agent.TurnResult;
import io.deia.core.agent.TurnStatus;
import io.deia.core.config.AgentType;
import io.deia.core.config.DeiaConfig;
import io.deia.core.config.Profile;
import io.deia.core.task.FileTaskQueue;
import io.deia.core.task.TaskEvent;
import io.deia.core.task.TaskExecutor;
import io.deia.core.task.TaskQueue;
import io.deia.core.task.TaskQueueMonitor;
import io.deia.nats.NatsTaskQueue;
import io.deia.nats.NatsTaskStreams;
import io.deia.nats.NatsTaskWorker;
import io.nats.client.Connection;
import io.nats.client.Nats;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * The NATS JetStream task queue beside the file inbox, in one run, with a trivial executor:
 * <ol>
 *   <li>claim + ack: N tasks queued for 4 bots, then one worker per bot, each on its own
 *       connection (NATS: {@link NatsTaskWorker}; file: {@link TaskQueueMonitor}), each task
 *       ending with its durable response; tasks/s from the workers' start to the last response;</li>
 *   <li>pickup: one task at a time, from the submit call ({@link TaskQueue#submit}) to the
 *       executor invoked, p50/p99.</li>
 * </ol>
 * Usage: {@code NatsQueueBenchmark [tasks=10000] [pickups=1000] [nats-url]}; without a URL it starts
 * a {@code nats-server} (JetStream, file store in a temp folder) on a free port. Ends with one
 * {@link BenchResult} line.
 */
public final class NatsQueueBenchmark {
    private static final int WORKERS = 4;
    private static final String HIVE = "bench";

    private NatsQueueBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        if (System.getProperty("org.slf4j.simpleLogger.defaultLogLevel") == null) {
            // One log line per claim and outcome would measure the console.
            System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        }
        int n = args.length > 0 ? Integer.parseInt(args[0]) : 10_000;
        int pickups = args.length > 1 ? Integer.parseInt(args[1]) : 1000;
        Path base = Files.createTempDirectory("deia-natsq-bench");
        Process server = null;
        String url;
        if (args.length > 2) {
            url = args[2];
        } else {
            int port = freePort();
            server = new ProcessBuilder("nats-server", "-a", "127.0.0.1", "-p", String.valueOf(port), "-js", "-sd",
                    base.resolve("nats").toString()).redirectErrorStream(true)
                    .redirectOutput(base.resolve("nats-server.log").toFile()).start();
            url = "nats://127.0.0.1:" + port;
            awaitPort(port);
        }
        Profile profile = Profile.builder(AgentType.COMMAND).name("bench").executable("/bin/true").timeoutS(60)
                .maxAttempts(1).retryBackoffMs(0).build();
        DeiaConfig config = DeiaConfig.of(Map.of());
        System.out.printf("deia NATS task queue benchmark: %d tasks on %d workers, %d pickups, %s, %d cores%n", n, WORKERS,
                pickups, url, Runtime.getRuntime().availableProcessors());
        BenchResult result = BenchResult.of("natsqueue").put("tasks", (double) n);
        try {
            List<Connection> conns = new ArrayList<>();
            for (int i = 0; i < WORKERS; i++) {
                conns.add(Nats.connect(url));
            }
            NatsTaskStreams.ensure(conns.get(0), HIVE, 1);
            result.put("nats_tasks_per_s", throughput("nats", n, new NatsTaskQueue(conns.get(0), HIVE, config),
                    (bot, exec, done) -> nats(conns.get(Integer.parseInt(bot.substring(4))), bot, config, profile, exec, done)));
            HiveLayout layout = new HiveLayout(base.resolve("hive"));
            result.put("file_tasks_per_s", throughput("file", n, new FileTaskQueue(layout, config),
                    (bot, exec, done) -> file(layout, bot, config, profile, exec, done)));
            result.putAll("nats_pickup_", pickup("nats", pickups, new NatsTaskQueue(conns.get(0), HIVE, config),
                    (bot, exec, done) -> nats(conns.get(1), bot, config, profile, exec, done)));
            result.putAll("file_pickup_", pickup("file", pickups, new FileTaskQueue(layout, config),
                    (bot, exec, done) -> file(layout, bot, config, profile, exec, done)));
            for (Connection c : conns) {
                c.close();
            }
        } finally {
            if (server != null) {
                server.destroy();
                server.waitFor(10, TimeUnit.SECONDS);
            }
        }
        result.print();
    }

    /** Starts a worker of {@code bot} that counts down {@code done} on each completed task. */
    @FunctionalInterface
    private interface Workers {
        AutoCloseable start(String bot, TaskExecutor executor, CountDownLatch done) throws Exception;
    }

    private static AutoCloseable nats(Connection nc, String bot, DeiaConfig config, Profile profile, TaskExecutor exec,
                                      CountDownLatch done) {
        NatsTaskWorker w = NatsTaskWorker.builder().botId(bot).connection(nc).hive(HIVE).config(config).profile(profile)
                .executor(exec).listener(e -> {
                    if (e.event().equals(TaskEvent.COMPLETED)) {
                        done.countDown();
                    }
                }).build();
        w.start();
        return w;
    }

    private static AutoCloseable file(HiveLayout layout, String bot, DeiaConfig config, Profile profile, TaskExecutor exec,
                                      CountDownLatch done) {
        TaskQueueMonitor m = TaskQueueMonitor.builder().botId(bot).hive(layout).config(config).profile(profile).executor(exec)
                .listener(e -> {
                    if (e.event().equals(TaskEvent.COMPLETED)) {
                        done.countDown();
                    }
                }).build();
        m.start();
        return m;
    }

    private static double throughput(String name, int n, TaskQueue queue, Workers workers) throws Exception {
        for (int i = 0; i < n; i++) {
            queue.submit("BOT-" + (i % WORKERS), "---\ntask_id: T" + i + "\n---\nrun\n");
        }
        CountDownLatch done = new CountDownLatch(n);
        TaskExecutor trivial = (task, attempt, timeout, events) -> ok();
        List<AutoCloseable> started = new ArrayList<>();
        long t0 = System.nanoTime();
        for (int i = 0; i < WORKERS; i++) {
            started.add(workers.start("BOT-" + i, trivial, done));
        }
        if (!done.await(600, TimeUnit.SECONDS)) {
            throw new IllegalStateException(name + ": tasks did not finish");
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        for (AutoCloseable c : started) {
            c.close();
        }
        System.out.printf("%s claim + ack, %d tasks, %d workers: %.0f tasks/s%n", name, n, WORKERS, n / seconds);
        return n / seconds;
    }

    private static Map<String, Double> pickup(String name, int n, TaskQueue queue, Workers workers) throws Exception {
        BlockingQueue<Long> invoked = new ArrayBlockingQueue<>(4);
        CountDownLatch never = new CountDownLatch(Integer.MAX_VALUE);
        int warmup = 200;
        long[] lat = new long[n];
        try (AutoCloseable w = workers.start("PICK", (task, attempt, timeout, events) -> {
            invoked.add(System.nanoTime());
            return ok();
        }, never)) {
            for (int i = 0; i < warmup + n; i++) {
                long t0 = System.nanoTime();
                queue.submit("PICK", "---\ntask_id: P" + i + "\n---\nhello\n");
                Long t1 = invoked.poll(30, TimeUnit.SECONDS);
                if (t1 == null) {
                    throw new IllegalStateException(name + ": task P" + i + " was not picked up");
                }
                if (i >= warmup) {
                    lat[i - warmup] = t1 - t0;
                }
                // The next task goes in once this one's response is stored, so pickups do not queue.
                while (queue.response("PICK", "P" + i).isEmpty()) {
                    Thread.onSpinWait();
                }
            }
        }
        Arrays.sort(lat);
        Map<String, Double> out = new LinkedHashMap<>();
        out.put("p50_ms", lat[n / 2] / 1e6);
        out.put("p99_ms", lat[(int) (n * 0.99)] / 1e6);
        out.put("max_ms", lat[n - 1] / 1e6);
        System.out.printf("%s pickup (submit -> executor invoked), %d tasks: p50 %.3f ms, p99 %.3f ms, max %.3f ms%n", name,
                n, out.get("p50_ms"), out.get("p99_ms"), out.get("max_ms"));
        return out;
    }

    private static TurnResult ok() {
        return new TurnResult(TurnStatus.COMPLETED, "ok", null, null, null, null, 0, 0, null);
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    private static void awaitPort(int port) throws Exception {
        for (int i = 0; i < 500; i++) {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", port), 200);
                return;
            } catch (IOException e) {
                Thread.sleep(20);
            }
        }
        throw new IllegalStateException("nats-server did not start on port " + port);
    }
}
