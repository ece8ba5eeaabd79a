import io.deia.core.HiveLayout;
import io.deia.core.config.DeiaConfig;
import io.deia.core.io.AtomicFiles;
import io.deia.core.launch.BotLauncher;
import io.deia.core.launch.JvmRunnerCommand;
import io.deia.core.launch.RunnerCommand;
import io.deia.core.registry.BotRecord;
import io.deia.core.registry.JsonFileServiceRegistry;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Where the CPU of "10 bots launched together" goes: launches ten `command` bots at once as
 * LaunchBenchmark does, and per round prints the wall time until all are healthy, each runner's CPU
 * (utime+stime from /proc) at the moment its launch() returned, this launcher JVM's own CPU over the
 * round, and how many times the runners answered /health with "starting".
 *
 * <p>Run from the repository root, single-file source mode, after `mvn package`:
 * {@code java -cp deia-server-example/target/deia-server.jar bench/ab/TenLaunchCpu.java 3 deia-server-example/target/deia-server.jar 25000}
 * (rounds, the jar the runners start from, first port of a range of 100).
 */
public class TenLaunchCpu {
    public static void main(String[] args) throws Exception {
        int rounds = Integer.parseInt(args[0]);
        Path jar = Path.of(args[1]).toAbsolutePath();
        int portFrom = Integer.parseInt(args[2]);
        Path dir = Files.createTempDirectory("ten-launch-cpu");
        HiveLayout hive = new HiveLayout(dir.resolve(".deia"));
        AtomicFiles.writeString(hive.defaultConfigFile(), "{\"ports\":{\"from\":" + portFrom + ",\"to\":" + (portFrom + 99)
                + "},\"profiles\":{\"echo\":{\"agent\":\"command\",\"executable\":\"/bin/cat\"}}}");
        DeiaConfig config = DeiaConfig.load(hive.defaultConfigFile());
        JsonFileServiceRegistry registry = new JsonFileServiceRegistry(hive, config);
        JvmRunnerCommand current = RunnerCommand.currentJvm("io.deia.server.Main");
        JvmRunnerCommand runner = new JvmRunnerCommand(current.javaCommand(), List.of(jar), "io.deia.server.Main");
        try (BotLauncher launcher = BotLauncher.builder(hive, config, registry, runner).build()) {
            launcher.launch("WARM", "echo");
            launcher.stop("WARM");
            launcher.classArchive().ifPresent(a -> a.create(config.requireProfile("echo"), "WARM"));
            for (int r = 0; r < rounds; r++) {
                long self0 = ticks(ProcessHandle.current().pid());
                long t0 = System.nanoTime();
                Map<String, Long> cpu = Collections.synchronizedMap(new TreeMap<>());
                List<Thread> threads = new ArrayList<>();
                for (int i = 0; i < 10; i++) {
                    String id = "TEN-" + i;
                    Thread t = new Thread(() -> {
                        BotRecord rec = launcher.launch(id, "echo");
                        cpu.put(id, ticks(rec.pid()));
                    });
                    t.start();
                    threads.add(t);
                }
                for (Thread t : threads) {
                    t.join();
                }
                double wall = (System.nanoTime() - t0) / 1e6;
                long launcherTicks = ticks(ProcessHandle.current().pid()) - self0;
                long runnerTicks = cpu.values().stream().mapToLong(Long::longValue).sum();
                long starting = 0;
                for (String id : cpu.keySet()) {
                    Path log = hive.root().resolve("bot-logs").resolve(id + ".log");
                    if (Files.exists(log)) {
                        starting += Files.readAllLines(log).stream().filter(l -> l.contains("is starting")).count();
                    }
                }
                System.out.printf("round %d wall %.0f ms runners_cpu %d ms (each %d) launcher_cpu %d ms starting503 %d load %s%n",
                        r, wall, runnerTicks * 10, runnerTicks, launcherTicks * 10, starting,
                        Files.readString(Path.of("/proc/loadavg")).split(" ")[0]);
                launcher.stopAll();
                for (String id : cpu.keySet()) {
                    Files.deleteIfExists(hive.root().resolve("bot-logs").resolve(id + ".log"));
                }
            }
        }
    }

    /** utime+stime of a process in clock ticks (10 ms here). */
    private static long ticks(long pid) {
        try {
            String s = Files.readString(Path.of("/proc/" + pid + "/stat"));
            String[] f = s.substring(s.lastIndexOf(')') + 2).split(" ");
            return Long.parseLong(f[11]) + Long.parseLong(f[12]);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
