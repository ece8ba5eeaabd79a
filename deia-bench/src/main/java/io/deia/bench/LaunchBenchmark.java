package io.deia.bench;

import io.deia.core.HiveLayout;
import io.deia.core.config.DeiaConfig;
import io.deia.core.internal.io.AtomicFiles;
import io.deia.core.launch.BotLauncher;
import io.deia.core.launch.JvmRunnerCommand;
import io.deia.core.launch.RunnerCommand;
import io.deia.core.registry.BotRecord;
import io.deia.core.registry.BotState;
import io.deia.core.registry.JsonFileServiceRegistry;
import io.deia.server.Main;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Launcher figures for docs/benchmarks.md: launch-to-healthy p50 for one bot and for ten bots
 * launched together, idle RSS of one runner, and crash-to-healthy restart time.
 *
 * <p>Run: {@code mvn -B -q -o package -pl deia-bench -am -DskipTests} then
 * {@code java -cp deia-server-example/target/deia-server.jar:deia-bench/target/classes io.deia.bench.LaunchBenchmark [rounds]}.
 * Runners use the echo profile ({@code /bin/cat}) and {@code Profile.DEFAULT_RUNNER_JVM_OPTIONS}.
 */
public final class LaunchBenchmark {
    private LaunchBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 5;
        Path dir = Files.createTempDirectory("deia-launch-bench");
        HiveLayout hive = new HiveLayout(dir.resolve(".deia"));
        // A port range of its own: other programs on this machine use the default 8101-8299.
        AtomicFiles.writeString(hive.defaultConfigFile(), "{\"ports\":{\"from\":19100,\"to\":19199},\"profiles\":{"
                + "\"echo\":{\"agent\":\"command\",\"executable\":\"/bin/cat\","
                + "\"restart\":{\"policy\":\"on-failure\",\"max_restarts\":100,\"window_s\":60,"
                + "\"backoff_initial_ms\":0,\"backoff_max_ms\":0}}}}");
        DeiaConfig config = DeiaConfig.load(hive.defaultConfigFile());
        JsonFileServiceRegistry registry = new JsonFileServiceRegistry(hive, config);
        try (BotLauncher launcher = BotLauncher.builder(hive, config, registry,
                runnerCommand()).build()) {
            System.out.printf("cores %d, java %s, runner JVM options %s%n", Runtime.getRuntime().availableProcessors(),
                    System.getProperty("java.version"), config.requireProfile("echo").runnerJvmOptions());

            // Warm the page cache once so the first figure is not a cold-disk outlier.
            launcher.launch("WARM", "echo");
            launcher.stop("WARM");
            List<Double> single = new ArrayList<>();
            for (int i = 0; i < rounds; i++) {
                long t0 = System.nanoTime();
                launcher.launch("ONE", "echo");
                single.add(ms(t0));
                launcher.stop("ONE");
            }
            System.out.printf("1 bot launch-to-healthy: p50 %.0f ms, min %.0f, max %.0f (n=%d)%n", p50(single),
                    Collections.min(single), Collections.max(single), rounds);

            List<Double> allTen = new ArrayList<>();
            List<Double> perBot = Collections.synchronizedList(new ArrayList<>());
            for (int r = 0; r < Math.max(1, rounds / 2); r++) {
                Map<String, String> ten = new LinkedHashMap<>();
                for (int i = 0; i < 10; i++) {
                    ten.put("TEN-" + i, "echo");
                }
                long t0 = System.nanoTime();
                List<Thread> threads = new ArrayList<>();
                for (String id : ten.keySet()) {
                    Thread t = new Thread(() -> {
                        long s = System.nanoTime();
                        launcher.launch(id, "echo");
                        perBot.add(ms(s));
                    });
                    t.start();
                    threads.add(t);
                }
                for (Thread t : threads) {
                    t.join();
                }
                allTen.add(ms(t0));
                launcher.stopAll();
            }
            System.out.printf("10 bots together: all healthy after p50 %.0f ms (max %.0f); per-bot p50 %.0f ms%n",
                    p50(allTen), Collections.max(allTen), p50(perBot));

            BotRecord idle = launcher.launch("IDLE", "echo");
            TimeUnit.SECONDS.sleep(5);
            long idleRssKb = statusKb(idle.pid(), "VmRSS");
            System.out.printf("idle runner RSS after 5 s: %d MB (VmHWM %d MB)%n", idleRssKb / 1024,
                    statusKb(idle.pid(), "VmHWM") / 1024);

            List<Double> restarts = new ArrayList<>();
            BotRecord current = idle;
            for (int i = 0; i < rounds; i++) {
                long dead = current.pid();
                long t0 = System.nanoTime();
                ProcessHandle.of(dead).orElseThrow().destroyForcibly();
                while (true) {
                    BotRecord r = registry.get("IDLE").orElseThrow();
                    if (r.pid() > 0 && r.pid() != dead && r.state() != BotState.STARTING && r.state() != BotState.RESTARTING) {
                        current = r;
                        break;
                    }
                    TimeUnit.MILLISECONDS.sleep(10);
                }
                restarts.add(ms(t0));
            }
            System.out.printf("kill -9 to healthy again (backoff 0 ms): p50 %.0f ms, max %.0f (n=%d)%n", p50(restarts),
                    Collections.max(restarts), rounds);
            launcher.stopAll();
            BenchResult.of("launch").put("rounds", (double) rounds).put("launch_1_bot_p50_ms", p50(single))
                    .put("launch_10_bots_all_healthy_ms", p50(allTen)).put("launch_10_bots_per_bot_p50_ms", p50(perBot))
                    .put("runner_idle_rss_mb", idleRssKb / 1024.0).put("restart_p50_ms", p50(restarts))
                    .put("restart_max_ms", Collections.max(restarts)).print();
        }
    }

    /**
     * The runner as {@code serve} starts it from the shaded jar: this JVM's java, the jar that holds
     * {@link Main} as the whole class path (the benchmark's own classes are not the runner's).
     */
    private static JvmRunnerCommand runnerCommand() throws Exception {
        JvmRunnerCommand current = RunnerCommand.currentJvm(Main.class.getName());
        Path jar = Path.of(Main.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        return new JvmRunnerCommand(current.javaCommand(), List.of(jar), Main.class.getName());
    }

    private static double ms(long since) {
        return (System.nanoTime() - since) / 1e6;
    }

    private static double p50(List<Double> values) {
        List<Double> sorted = new ArrayList<>(values);
        Collections.sort(sorted);
        return sorted.get(sorted.size() / 2);
    }

    private static long statusKb(long pid, String field) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"))) {
            if (line.startsWith(field + ":")) {
                return Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        return -1;
    }
}
