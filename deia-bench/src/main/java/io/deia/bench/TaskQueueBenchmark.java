package io.deia.bench;

import io.deia.core.HiveLayout;
import io.deia.core.agent.TurnResult;
import io.deia.core.agent.TurnStatus;
import io.deia.core.config.AgentType;
import io.deia.core.config.DeiaConfig;
import io.deia.core.config.Profile;
import io.deia.core.internal.io.AtomicFiles;
import io.deia.core.internal.io.Json;
import io.deia.core.task.FileTaskQueue;
import io.deia.core.task.TaskEvent;
import io.deia.core.task.TaskExecutor;
import io.deia.core.task.TaskQueueMonitor;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
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
 * Task queue figures for docs/benchmarks.md:
 * <ol>
 *   <li>pickup latency: a complete task file renamed into the inbox → the executor invoked (the
 *       claim, a durable rename, is included), p50/p99 over N tasks taken one at a time;</li>
 *   <li>throughput: N tasks whose executor spawns {@code /bin/true} and waits for it, each with its
 *       durable response and archive move, against a bare loop spawning {@code /bin/true} N times.</li>
 * </ol>
 * Usage: {@code TaskQueueBenchmark [tasks=1000] [hive-dir] [throughput-rounds=3]}. Ends with one
 * {@link BenchResult} line (pickup percentiles; throughput and ratio as the median of the rounds).
 * Both are measured in a child JVM with a bot runner's JVM options (where the queue runs in a hive)
 * and then in one with the JVM's defaults (keys ending in {@code _default_jvm}).
 */
public final class TaskQueueBenchmark {
    private static final String BOT = "BENCH-1";
    /** Set in the child JVMs that measure (see {@link #runAsRunnerAndAsDefaultJvm}). */
    private static final String CHILD = "deia.bench.child";

    private TaskQueueBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        if (!Boolean.getBoolean(CHILD)) {
            runAsRunnerAndAsDefaultJvm(args);
            return;
        }
        int n = args.length > 0 ? Integer.parseInt(args[0]) : 1000;
        Path base = args.length > 1 ? Path.of(args[1]) : Files.createTempDirectory("deia-taskq-bench");
        int rounds = args.length > 2 ? Integer.parseInt(args[2]) : 3;
        Profile profile = Profile.builder(AgentType.COMMAND).name("bench").executable("/bin/true").timeoutS(60)
                .maxAttempts(1).retryBackoffMs(0).build();
        DeiaConfig config = DeiaConfig.of(Map.of());
        System.out.printf("deia task queue benchmark: %d tasks, hive %s, %d cores, %s%n", n, base,
                Runtime.getRuntime().availableProcessors(), System.getProperty("java.vm.version"));
        BenchResult result = BenchResult.of("taskqueue").put("tasks", (double) n);
        result.putAll("pickup_", pickup(base.resolve("pickup"), config, profile, n));
        result.putAll("", throughput(base.resolve("throughput"), config, profile, n, rounds));
        result.print();
    }

    /**
     * The queue runs inside a bot runner, whose JVM the launcher starts with
     * {@link Profile#DEFAULT_RUNNER_JVM_OPTIONS} (C1 only, one compiler thread, serial GC, small heap):
     * the figures are measured in such a JVM (a child process), then once more in a JVM with the
     * default options, the way a program embedding the library may run the queue. The one result
     * line holds the first run's figures and the second's with the suffix {@code _default_jvm}.
     */
    private static void runAsRunnerAndAsDefaultJvm(String[] args) throws Exception {
        Map<String, Object> runner = runChild(Profile.DEFAULT_RUNNER_JVM_OPTIONS, "runner JVM options", "runner-jvm", args);
        Map<String, Object> plain = runChild(List.of("-XX:+UseSerialGC"), "default JVM options", "default-jvm", args);
        Map<String, Object> merged = new LinkedHashMap<>(runner);
        plain.forEach((k, v) -> {
            if (!k.equals("benchmark") && !k.equals("tasks")) {
                merged.put(k + "_default_jvm", v);
            }
        });
        System.out.println(BenchResult.PREFIX + Json.write(merged));
    }

    /**
     * Runs this benchmark in a child JVM with {@code jvmOptions}, its hive under {@code folder} of the
     * given hive folder; its output is passed on, its result line returned.
     */
    private static Map<String, Object> runChild(List<String> jvmOptions, String label, String folder, String[] args)
            throws Exception {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(jvmOptions);
        cmd.add("-D" + CHILD + "=true");
        for (String inherited : List.of("java.io.tmpdir", "org.slf4j.simpleLogger.defaultLogLevel")) {
            if (System.getProperty(inherited) != null) {
                cmd.add("-D" + inherited + "=" + System.getProperty(inherited));
            }
        }
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), TaskQueueBenchmark.class.getName()));
        List<String> childArgs = new ArrayList<>(List.of(args));
        if (childArgs.size() > 1) {
            // Each child gets its own hive folder under the one given.
            childArgs.set(1, Path.of(childArgs.get(1)).resolve(folder).toString());
        }
        cmd.addAll(childArgs);
        System.out.println("== in a JVM with the " + label + ": " + String.join(" ", jvmOptions));
        Process child = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String result = null;
        try (BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8))) {
            for (String line; (line = out.readLine()) != null; ) {
                if (line.startsWith(BenchResult.PREFIX)) {
                    result = line.substring(BenchResult.PREFIX.length());
                } else {
                    System.out.println(line);
                }
            }
        }
        int exit = child.waitFor();
        if (exit != 0 || result == null) {
            throw new IllegalStateException("the benchmark in a JVM with the " + label + " failed (exit " + exit + ")");
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> figures = Json.read(result, LinkedHashMap.class, "the benchmark's result");
        return figures;
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
        try (TaskQueueMonitor m = TaskQueueMonitor.builder().botId(BOT).hive(layout).config(config).profile(profile).executor(executor).listener(e -> {
            if (e.event().equals(TaskEvent.COMPLETED)) {
                done.add(e.taskId());
            }
        }).build()) {
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
            try (TaskQueueMonitor m = TaskQueueMonitor.builder().botId(BOT).hive(layout).config(config).profile(profile).executor(spawnTrue).listener(e -> {
                if (e.event().equals(TaskEvent.COMPLETED)) {
                    all.countDown();
                }
            }).build()) {
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
