package io.deia.bench;

import io.deia.core.HiveLayout;
import io.deia.core.config.HiveSettings;
import io.deia.core.config.HiveSettingsFile;
import io.deia.core.schedule.SlotLease;
import io.deia.core.schedule.TurnOrder;
import io.deia.core.schedule.TurnSlots;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Scheduling overhead per turn, for docs/benchmarks.md (issue 24's target: slot acquire + release
 * p50 ≤ 2 ms): what {@code Turns} adds before and after every agent turn when turn limits are set.
 *
 * <p>A hive with {@code max_concurrent_turns} 3 and the profile's {@code max_concurrent} 2, published
 * in {@code hive/settings.json} and read through {@link HiveSettingsFile} as a runner does; another
 * bot holds one hive slot for the whole run, so the probe of the slot files meets a held one. Each
 * sample is one {@link TurnSlots#acquire} (free slots: no wait) plus {@link SlotLease#close()}: the
 * line lock, the line read, the slot probes, the two slot files locked and written, their release
 * and the wake-up marker. The same is measured without any limit (the zero-overhead path).
 *
 * <p>Run: {@code java -cp "deia-bench/target/deia-bench.jar:deia-bench/target/lib/*" io.deia.bench.SchedulingBenchmark [samples]}
 * ({@code -Ddeia.bench.dir=DIR} puts the hive under DIR).
 */
public final class SchedulingBenchmark {
    private SchedulingBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        int samples = args.length > 0 ? Integer.parseInt(args[0]) : 5000;
        String parent = System.getProperty("deia.bench.dir");
        Path dir = parent == null ? Files.createTempDirectory("deia-scheduling-bench")
                : Files.createTempDirectory(Files.createDirectories(Path.of(parent)), "deia-scheduling-bench");
        HiveLayout hive = new HiveLayout(dir.resolve(".deia"));
        Files.createDirectories(hive.hiveDir());
        new HiveSettings(3, null, Map.of("bench", new HiveSettings.ProfileSettings(2, null, null)), List.of(), null)
                .publish(hive);
        HiveSettingsFile settings = new HiveSettingsFile(hive, HiveSettings.NONE);
        SlotLease other = new TurnSlots(hive, "OTHER", "other", settings::current)
                .acquire(TurnOrder.chat(Instant.now()), null, () -> false, () -> { });
        TurnSlots slots = new TurnSlots(hive, "BENCH", "bench", settings::current);
        long[] limited = measure(slots, samples);
        other.close();
        long[] unlimited = measure(new TurnSlots(hive, "BENCH", "bench", () -> HiveSettings.NONE), samples);
        System.out.printf("scheduling benchmark: %d samples, %d cores, Java %s%n", samples,
                Runtime.getRuntime().availableProcessors(), System.getProperty("java.version"));
        String withLimits = summary(limited);
        String noLimits = summary(unlimited);
        System.out.println("slot acquire + release, hive limit 3 (one slot held by another bot) and profile limit 2: " + withLimits);
        System.out.println("the same without any limit (nothing touched): " + noLimits);
        BenchResult.of("scheduling").putAll("acquire_release_", BenchResult.numbers(withLimits))
                .putAll("unlimited_", BenchResult.numbers(noLimits)).print();
        System.exit(0);
    }

    /** Acquire + release times in microseconds, after an unmeasured warm-up of half as many. */
    private static long[] measure(TurnSlots slots, int samples) throws InterruptedException {
        long[] micros = new long[samples];
        for (int i = -samples / 2; i < samples; i++) {
            long start = System.nanoTime();
            SlotLease lease = slots.acquire(TurnOrder.chat(Instant.now()), null, () -> false, () -> { });
            lease.close();
            long took = (System.nanoTime() - start) / 1000;
            if (i >= 0) {
                micros[i] = took;
            }
        }
        return micros;
    }

    private static String summary(long[] micros) {
        long[] sorted = micros.clone();
        Arrays.sort(sorted);
        int n = sorted.length;
        return String.format("n=%d p50=%.3f ms p90=%.3f ms p99=%.3f ms max=%.3f ms", n, sorted[n / 2] / 1000.0,
                sorted[(int) (n * 0.90)] / 1000.0, sorted[(int) (n * 0.99)] / 1000.0, sorted[n - 1] / 1000.0);
    }
}
