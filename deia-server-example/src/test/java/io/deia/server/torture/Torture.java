package io.deia.server.torture;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.HiveLayout;
import io.deia.core.internal.io.Json;
import io.deia.core.internal.io.Utf8;
import io.deia.core.internal.process.ProcessTrees;
import io.deia.core.task.ResponseFiles;
import io.deia.core.testkit.ProcessChecks;
import io.deia.server.dashboard.ServeProcess;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * Shared pieces of the torture suite: the size knob and the "is every file in the hive whole?" scan.
 * The CI size is 1; {@code -Ddeia.torture.scale=10} multiplies workloads, kills and fuzz budgets.
 */
public final class Torture {
    private Torture() {
    }

    /** The size multiplier: 1 in CI, larger on demand. */
    static int scale() {
        return Math.max(1, Integer.getInteger("deia.torture.scale", 1));
    }

    /** Files found by {@link #checkHiveFilesWhole}, per kind, for the report. */
    record HiveScan(int registry, int responses, int heartbeats, int historyLines) {
    }

    /**
     * Parses every file of the hive whose format is known: registry.json, every response, every
     * heartbeat, every history line. Any partial or unparseable file throws with its name.
     */
    static HiveScan checkHiveFilesWhole(HiveLayout hive) throws IOException {
        int registry = 0;
        if (Files.exists(hive.registryFile())) {
            JsonNode reg = Json.read(Utf8.decodeStrict(Files.readAllBytes(hive.registryFile()), hive.registryFile().toString()), JsonNode.class,
                    hive.registryFile().toString());
            if (!reg.isObject()) {
                throw new AssertionError("registry.json is not an object: " + reg);
            }
            registry = 1;
        }
        int responses = 0;
        for (Path f : files(hive.hiveDir().resolve("responses"))) {
            if (f.getFileName().toString().endsWith(ResponseFiles.SUFFIX)) {
                ResponseFiles.parse(Utf8.decodeStrict(Files.readAllBytes(f), f.toString()), f.toString());
                responses++;
            }
        }
        int heartbeats = 0;
        for (Path f : files(hive.heartbeatsDir())) {
            if (f.getFileName().toString().endsWith(".json")) {
                Json.read(Utf8.decodeStrict(Files.readAllBytes(f), f.toString()), JsonNode.class, f.toString());
                heartbeats++;
            }
        }
        int historyLines = 0;
        for (Path f : files(hive.root().resolve("history"))) {
            if (f.getFileName().toString().endsWith(".jsonl")) {
                for (String line : Utf8.decodeStrict(Files.readAllBytes(f), f.toString()).split("\n")) {
                    if (!line.isBlank()) {
                        Json.read(line, JsonNode.class, f.toString());
                        historyLines++;
                    }
                }
            }
        }
        return new HiveScan(registry, responses, heartbeats, historyLines);
    }

    static List<Path> files(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> s = Files.walk(dir)) {
            return s.filter(Files::isRegularFile).toList();
        }
    }

    /**
     * The claimed tasks and claim state files under a bot's {@code claimed} folder: every file but
     * a monitor's {@code started.log} (the attempts it started, appended to while the monitor runs;
     * not a claim).
     */
    static List<Path> claimFiles(Path claimedDir) throws IOException {
        return files(claimedDir).stream().filter(p -> !p.getFileName().toString().equals("started.log")).toList();
    }

    /** Running processes whose command line or working directory points into {@code dir}. */
    static List<Long> processesInto(Path dir) {
        String marker = dir.toAbsolutePath().toString();
        List<Long> pids = new ArrayList<>(ProcessChecks.runningWithMarker(marker));
        try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
            procs.filter(p -> p.getFileName().toString().chars().allMatch(Character::isDigit)).forEach(p -> {
                try {
                    long pid = Long.parseLong(p.getFileName().toString());
                    if (!pids.contains(pid) && pid != ProcessHandle.current().pid()
                            && Files.readSymbolicLink(p.resolve("cwd")).toString().startsWith(marker)
                            && ProcessHandle.of(pid).map(ProcessTrees::isRunning).orElse(false)) {
                        pids.add(pid);
                    }
                } catch (IOException | RuntimeException e) {
                    // the process ended while we looked
                }
            });
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        return pids;
    }

    /**
     * Teardown of a test that started {@code serve} (null when it never got that far): stops its
     * bots and the controller, then ends whatever still points into {@code dir}.
     */
    static void endServe(ServeProcess serve, List<String> bots, Path dir) throws InterruptedException {
        if (serve != null) {
            serve.stopBots(bots);
            serve.close();
        }
        killAllInto(dir);
    }

    /** Ends every process that points into {@code dir} (test teardown: nothing outlives a test). */
    public static void killAllInto(Path dir) {
        for (long pid : processesInto(dir)) {
            ProcessHandle.of(pid).ifPresent(ProcessTrees::kill);
        }
    }

    /** VmRSS of a process in kB, from /proc; 0 when it is gone (callers assert on what they sampled). */
    static long rssKb(long pid) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"))) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", ""));
                }
            }
        } catch (IOException | RuntimeException e) {
            // gone: the caller's assertions say so
        }
        return 0;
    }
}
