package io.deia.bench;

import io.deia.core.HiveLayout;
import io.deia.core.config.DeiaConfig;
import io.deia.core.config.Profile;
import io.deia.core.internal.io.AtomicFiles;
import io.deia.core.registry.BotRecord;
import io.deia.core.registry.BotState;
import io.deia.core.registry.JsonFileServiceRegistry;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Durable registry updates per second, with 1 and with 4 processes sharing one hive.
 *
 * <p>The worker processes run with a bot runner's JVM options ({@link Profile#DEFAULT_RUNNER_JVM_OPTIONS}),
 * since bot runners are the processes that update a hive's registry side by side; the 4-process
 * case is measured once more with the JVM's default options ({@code updates_per_s_4_proc_default_jvm}).
 *
 * <p>Each run makes a fresh hive in a temp folder and starts N child JVMs (this class in worker
 * mode). Every worker registers its own bot, waits for a common start signal, then calls
 * {@link JsonFileServiceRegistry#heartbeat} in a loop for a fixed time. Each heartbeat is a full
 * locked read-modify-write of {@code registry.json}, written durably (fsync of file and folder)
 * before the call returns, plus the bot's heartbeat file (atomic; fsynced when new, a refresh of
 * state and time is not, see {@code RegistryFile.writeHeartbeat}). The run's figure is the sum of all workers' updates divided
 * by the measured time. Five runs per process count; the median, min and max are printed.
 *
 * <pre>
 * mvn -B -q -pl deia-bench -am package -DskipTests
 * java -cp "deia-bench/target/deia-bench.jar:deia-bench/target/lib/*" io.deia.bench.RegistryBenchmark [seconds] [bots]
 * </pre>
 * or {@code scripts/bench-registry.sh}. {@code -Ddeia.bench.dir=DIR} puts the hives under DIR. {@code seconds} is the measured time per run (default 3),
 * {@code bots} how many other entries sit in the registry during the run (default 16), because the
 * cost of an update grows with the file.
 */
public final class RegistryBenchmark {
    /** Runs per process count; {@code -Ddeia.bench.runs=1} when a harness repeats the whole main itself. */
    private static final int RUNS = Integer.getInteger("deia.bench.runs", 5);
    /** Unmeasured heartbeats per worker before the start signal ({@code -Ddeia.bench.warmupMs}, 5000). */
    private static final long WARMUP_MS = Long.getLong("deia.bench.warmupMs", 5000);
    /**
     * A bot runner's JVM: the registry's concurrent writers in a hive are the bot runners, and the
     * launcher starts them with these options (C1 only, one compiler thread, serial GC, small heap).
     */
    private static final List<String> RUNNER_JVM = Profile.DEFAULT_RUNNER_JVM_OPTIONS;
    /**
     * The JVM's defaults (tiered C1+C2), as in a program embedding the library. With 4 such JVMs on
     * 2 cores, C2 is still compiling seconds into a run, so this figure moves with the warm-up.
     */
    private static final List<String> DEFAULT_JVM = List.of("-XX:+UseSerialGC", "-Xmx128m");

    private RegistryBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        // Per-update log lines would be measured too; the figures are the output that matters here.
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        if (args.length > 0 && args[0].equals("worker")) {
            worker(Path.of(args[1]), args[2], Long.parseLong(args[3]));
            return;
        }
        int seconds = args.length > 0 ? Integer.parseInt(args[0]) : 3;
        int extraBots = args.length > 1 ? Integer.parseInt(args[1]) : 16;
        System.out.printf("registry benchmark: %d s per run, %d runs, %d other entries, %d cores, Java %s, %s%n",
                seconds, RUNS, extraBots, Runtime.getRuntime().availableProcessors(), System.getProperty("java.version"),
                System.getProperty("os.name") + " " + System.getProperty("os.arch"));
        System.out.printf("load average before the runs: %s%n", loadAverage());
        System.out.printf("hive parent folder %s; one durable 1 KB AtomicFiles.write there takes %.2f ms now (median of 200)%n",
                baseDir(), durableWriteMillis());
        BenchResult result = BenchResult.of("registry").put("runs_per_process_count", (double) RUNS);
        // The workers run as bot runners do (the runner's default JVM options), then 4 of them once
        // more with the JVM's own defaults, the way a program embedding the library may run.
        record Series(int processes, List<String> jvmOptions, String label, String key) {
        }
        for (Series series : List.of(
                new Series(1, RUNNER_JVM, "runner JVM options", "updates_per_s_1_proc"),
                new Series(4, RUNNER_JVM, "runner JVM options", "updates_per_s_4_proc"),
                new Series(4, DEFAULT_JVM, "default JVM options", "updates_per_s_4_proc_default_jvm"))) {
            int processes = series.processes();
            double[] rates = new double[RUNS];
            for (int run = 0; run < RUNS; run++) {
                rates[run] = run(processes, series.jvmOptions(), seconds, extraBots);
                System.out.printf("  %d process(es), %s, run %d: %.0f updates/s%n", processes, series.label(), run + 1, rates[run]);
            }
            double[] sorted = rates.clone();
            Arrays.sort(sorted);
            System.out.printf("load average after the runs: %s%n", loadAverage());
            System.out.printf("%d process(es), %s: median %.0f durable updates/s (min %.0f, max %.0f)%n",
                    processes, series.label(), sorted[RUNS / 2], sorted[0], sorted[RUNS - 1]);
            result.put(series.key(), sorted[RUNS / 2]);
        }
        result.print();
    }

    /** One run: a fresh hive, {@code processes} workers, the summed rate in updates per second. */
    private static double run(int processes, List<String> jvmOptions, int seconds, int extraBots) throws Exception {
        Path hiveDir = Files.createTempDirectory(baseDir(), "deia-bench-registry-");
        try {
            HiveLayout hive = new HiveLayout(hiveDir);
            JsonFileServiceRegistry registry = new JsonFileServiceRegistry(hive, DeiaConfig.of(Map.of()));
            for (int i = 0; i < extraBots; i++) {
                registry.register(BotRecord.builder("OTHER-" + i).port(9000 + i).state(BotState.STOPPED)
                        .profile("bench").agent("command").build());
            }
            List<Process> workers = new ArrayList<>();
            for (int w = 0; w < processes; w++) {
                workers.add(startWorker(hiveDir, jvmOptions, "BENCH-" + w, seconds * 1000L));
            }
            waitForAll(hiveDir, processes);
            Files.writeString(hiveDir.resolve("go"), "go");
            double total = 0;
            for (Process p : workers) {
                String last = null;
                try (BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                    for (String line; (line = out.readLine()) != null; ) {
                        last = line;
                    }
                }
                if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0 || last == null || !last.startsWith("updates ")) {
                    throw new IllegalStateException("worker failed (exit " + p.exitValue() + "): " + last);
                }
                String[] parts = last.split(" ");
                long updates = Long.parseLong(parts[1]);
                long nanos = Long.parseLong(parts[2]);
                total += updates / (nanos / 1e9);
            }
            return total;
        } finally {
            deleteTree(hiveDir);
        }
    }

    /**
     * Where the run hives go: {@code -Ddeia.bench.dir=…}, default the system temp folder. Pointing it
     * at a tmpfs (/dev/shm), where fsync costs nothing, shows the CPU-bound ceiling of the code.
     */
    private static Path baseDir() {
        return Path.of(System.getProperty("deia.bench.dir", System.getProperty("java.io.tmpdir")));
    }

    /** The 1/5/15-minute load averages (Linux), since other work on the machine moves the figures. */
    private static String loadAverage() {
        try {
            String[] f = Files.readString(Path.of("/proc/loadavg")).trim().split(" ");
            return f[0] + " " + f[1] + " " + f[2];
        } catch (IOException e) {
            return "unknown";
        }
    }

    /** The cost of the primitive every update pays for, measured alongside so figures can be compared. */
    private static double durableWriteMillis() throws IOException {
        Path dir = Files.createTempDirectory(baseDir(), "deia-bench-fsync-");
        try {
            byte[] kb = new byte[1024];
            long[] nanos = new long[200];
            for (int i = 0; i < nanos.length; i++) {
                long t = System.nanoTime();
                AtomicFiles.write(dir.resolve("probe.json"), kb);
                nanos[i] = System.nanoTime() - t;
            }
            Arrays.sort(nanos);
            return nanos[nanos.length / 2] / 1e6;
        } finally {
            deleteTree(dir);
        }
    }

    private static Process startWorker(Path hiveDir, List<String> jvmOptions, String botId, long millis) throws IOException {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(jvmOptions);
        cmd.addAll(List.of("-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
                "-Ddeia.bench.dir=" + baseDir(), "-Ddeia.bench.warmupMs=" + WARMUP_MS,
                "-cp", System.getProperty("java.class.path"), RegistryBenchmark.class.getName(),
                "worker", hiveDir.toString(), botId, Long.toString(millis)));
        return new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
    }

    private static void waitForAll(Path hiveDir, int processes) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (true) {
            long ready;
            try (Stream<Path> files = Files.list(hiveDir)) {
                ready = files.filter(p -> p.getFileName().toString().startsWith("ready-")).count();
            }
            if (ready == processes) {
                return;
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("workers did not start within 60 s");
            }
            Thread.sleep(10);
        }
    }

    /**
     * Worker mode: register {@code botId} with this process's pid, warm up, signal ready, wait for
     * the start signal, then heartbeat for {@code millis}. Prints {@code updates <count> <nanos>}.
     */
    private static void worker(Path hiveDir, String botId, long millis) throws Exception {
        HiveLayout hive = new HiveLayout(hiveDir);
        JsonFileServiceRegistry registry = new JsonFileServiceRegistry(hive, DeiaConfig.of(Map.of()));
        ProcessHandle self = ProcessHandle.current();
        registry.register(BotRecord.builder(botId).pid(self.pid()).processStart(self.info().startInstant().orElse(null))
                .port(0).state(BotState.IDLE).profile("bench").agent("command").build());
        // Warm-up outside the measured time, so JIT compilation is not what gets measured. The
        // workers warm up together, so the path taken when another process changed the file (read
        // and parse it again) gets compiled too; 1.5 s was too short for that with 4 JVMs on 2 cores
        // (3 s runs measured 190-250 /s, 10 s runs 455 /s on the same build).
        long warmEnd = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(WARMUP_MS);
        while (System.nanoTime() < warmEnd) {
            registry.heartbeat(botId, BotState.IDLE);
        }
        Files.writeString(hiveDir.resolve("ready-" + botId), "ready");
        Path go = hiveDir.resolve("go");
        while (!Files.exists(go)) {
            Thread.sleep(1);
        }
        long start = System.nanoTime();
        long end = start + TimeUnit.MILLISECONDS.toNanos(millis);
        long updates = 0;
        long now;
        do {
            registry.heartbeat(botId, updates % 2 == 0 ? BotState.BUSY : BotState.IDLE);
            updates++;
            now = System.nanoTime();
        } while (now < end);
        System.out.println("updates " + updates + " " + (now - start));
    }

    private static void deleteTree(Path dir) throws IOException {
        try (Stream<Path> all = Files.walk(dir)) {
            for (Path p : all.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
