package io.deia.bench;

import io.deia.core.HiveLayout;
import io.deia.core.agent.TurnResult;
import io.deia.core.agent.TurnStatus;
import io.deia.core.config.AgentType;
import io.deia.core.config.DeiaConfig;
import io.deia.core.config.Profile;
import io.deia.core.io.AtomicFiles;
import io.deia.core.task.FileTaskQueue;
import io.deia.core.task.TaskEvent;
import io.deia.core.task.TaskExecutor;
import io.deia.core.task.TaskQueueMonitor;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Task queue figures for docs/benchmarks.md:
 * <ol>
 *   <li>pickup latency: a complete task file renamed into the inbox → the executor invoked (the
 *       claim, a durable rename, is included), p50/p99 over N tasks taken one at a time;</li>
 *   <li>throughput: N tasks whose executor spawns {@code /bin/true} and waits for it, each with its
 *       durable response and archive move, against a bare loop spawning {@code /bin/true} N times.</li>
 * </ol>
 * Usage: {@code TaskQueueBenchmark [tasks=1000] [hive-dir] [throughput-rounds=3]}. Ends with one
 * {@link BenchResult} line (pickup percentiles; throughput and ratio as the median of the rounds).
 */
public final class TaskQueueBenchmark {
    private static final String BOT = "BENCH-1";

    private TaskQueueBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        int n = args.length > 0 ? Integer.parseInt(args[0]) : 1000;
        Path base = args.length > 1 ? Path.of(args[1]) : Files.createTempDirectory("deia-taskq-bench");
        int rounds = args.length > 2 ? Integer.parseInt(args[2]) : 3;
        Profile profile = new Profile("bench", AgentType.COMMAND, "/bin/true", null, null, null, null, null, null,
                null, null, 60, 1, 0, null, null, null, null, null);
        DeiaConfig config = DeiaConfig.of(Map.of());
        System.out.printf("deia task queue benchmark: %d tasks, hive %s, %d cores, %s%n", n, base,
                Runtime.getRuntime().availableProcessors(), System.getProperty("java.vm.version"));
        BenchResult result = BenchResult.of("taskqueue").put("tasks", (double) n);
        result.putAll("pickup_", pickup(base.resolve("pickup"), config, profile, n));
        result.putAll("", throughput(base.resolve("throughput"), config, profile, n, rounds));
        result.print();
    }

    private static Map<String, Double> pickup(Path root, DeiaConfig config, Profile profile, int n) throws Exception {
        HiveLayout layout = new HiveLayout(root);
        BlockingQueue<Long> invoked = new ArrayBlockingQueue<>(4);
        BlockingQueue<String> done = new ArrayBlockingQueue<>(4);
        TaskExecutor executor = (task, attempt, timeout, events) -> {
            invoked.add(System.nanoTime());
            return new TurnResult(TurnStatus.COMPLETED, "ok", null, null, null, null, 0, 0, null);
        };
        int warmup = 200;
        long[] lat = new long[n];
        try (TaskQueueMonitor m = new TaskQueueMonitor(BOT, layout, config, profile, executor, e -> {
            if (e.event().equals(TaskEvent.COMPLETED)) {
                done.add(e.taskId());
            }
        })) {
            m.start();
            Path inbox = layout.inboxDir(BOT);
            for (int i = 0; i < warmup + n; i++) {
                Path staged = layout.stagingDir().resolve("p" + i + ".md");
                AtomicFiles.write(staged, ("---\ntask_id: P" + i + "\n---\nhello\n").getBytes(StandardCharsets.UTF_8));
                long t0 = System.nanoTime();
                Files.move(staged, inbox.resolve("P" + i + ".md"), StandardCopyOption.ATOMIC_MOVE);
                long t1 = invoked.poll(30, TimeUnit.SECONDS);
                done.poll(30, TimeUnit.SECONDS);
                if (i >= warmup) {
                    lat[i - warmup] = t1 - t0;
                }
            }
        }
        Arrays.sort(lat);
        System.out.printf("pickup latency (rename into inbox -> executor invoked), %d tasks: p50 %.3f ms, p90 %.3f ms, "
                        + "p99 %.3f ms, max %.3f ms%n", n, ms(lat[n / 2]), ms(lat[(int) (n * 0.9)]), ms(lat[(int) (n * 0.99)]),
                ms(lat[n - 1]));
        return Map.of("p50_ms", ms(lat[n / 2]), "p90_ms", ms(lat[(int) (n * 0.9)]), "p99_ms", ms(lat[(int) (n * 0.99)]),
                "max_ms", ms(lat[n - 1]));
    }

    private static Map<String, Double> throughput(Path root, DeiaConfig config, Profile profile, int n, int rounds)
            throws Exception {
        List<Double> queueRates = new ArrayList<>();
        List<Double> bareRates = new ArrayList<>();
        List<Double> ratios = new ArrayList<>();
        for (int round = 1; round <= rounds; round++) {
            long bare = System.nanoTime();
            for (int i = 0; i < n; i++) {
                new ProcessBuilder("/bin/true").start().waitFor();
            }
            double bareS = (System.nanoTime() - bare) / 1e9;

            HiveLayout layout = new HiveLayout(root.resolve("r" + round));
            FileTaskQueue queue = new FileTaskQueue(layout, config);
            Files.createDirectories(layout.controlsDir());
            AtomicFiles.writeString(layout.pauseFile(BOT), "");
            for (int i = 0; i < n; i++) {
                queue.submit(BOT, "---\ntask_id: T" + i + "\n---\nrun\n");
            }
            CountDownLatch all = new CountDownLatch(n);
            TaskExecutor spawnTrue = (task, attempt, timeout, events) -> {
                try {
                    int exit = new ProcessBuilder("/bin/true").start().waitFor();
                    return new TurnResult(TurnStatus.COMPLETED, "", null, null, null, null, 0, exit, null);
                } catch (Exception e) {
                    return TurnResult.failed(e.toString(), 0, null);
                }
            };
            double queueS;
            try (TaskQueueMonitor m = new TaskQueueMonitor(BOT, layout, config, profile, spawnTrue, e -> {
                if (e.event().equals(TaskEvent.COMPLETED)) {
                    all.countDown();
                }
            })) {
                m.start();
                while (m.pendingCount() < n) {
                    Thread.sleep(10);
                }
                long t0 = System.nanoTime();
                Files.delete(layout.pauseFile(BOT));
                if (!all.await(600, TimeUnit.SECONDS)) {
                    throw new IllegalStateException("tasks did not finish");
                }
                queueS = (System.nanoTime() - t0) / 1e9;
            }
            System.out.printf("throughput round %d, %d tasks: queue %.0f tasks/s (spawn /bin/true + durable response + "
                            + "archive), bare spawn loop %.0f spawns/s, ratio %.2f%n", round, n, n / queueS, n / bareS,
                    bareS / queueS);
            queueRates.add(n / queueS);
            bareRates.add(n / bareS);
            ratios.add(bareS / queueS);
        }
        return Map.of("queue_tasks_per_s", BenchResult.median(queueRates), "bare_spawns_per_s", BenchResult.median(bareRates),
                "queue_bare_ratio", BenchResult.median(ratios));
    }

    private static double ms(long nanos) {
        return nanos / 1e6;
    }
}
