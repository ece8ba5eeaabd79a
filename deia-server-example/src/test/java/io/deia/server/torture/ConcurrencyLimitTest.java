package io.deia.server.torture;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.HiveLayout;
import io.deia.core.config.DeiaConfig;
import io.deia.core.config.HiveSettings;
import io.deia.core.config.Profile;
import io.deia.core.internal.io.AtomicFiles;
import io.deia.core.internal.io.Json;
import io.deia.core.schedule.WaitingLine;
import io.deia.core.task.FileTaskQueue;
import io.deia.core.task.ResponseFiles;
import io.deia.core.task.TaskResponse;
import io.deia.core.testkit.ProcessChecks;
import io.deia.server.dashboard.ServeProcess;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.http.HttpResponse;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.IntStream;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The hive's turn limit under fire: 10 bots of a real {@code serve}, {@code max_concurrent_turns} 3,
 * 50 tasks, and bot runners killed with -9 while they work (the launcher restarts them). The agents
 * mark their own start and end in a file (a TERM from a restarted runner ending a leftover agent marks
 * the end too); from those marks, never more than 3 turns ran at once. Every task ends with a response,
 * and no slot is left held. Then the limit is lowered to 1 in the config file and {@code serve} gets
 * SIGHUP: the same bots, not restarted, run one turn at a time.
 */
class ConcurrencyLimitTest {
    private static final Logger log = LoggerFactory.getLogger(ConcurrencyLimitTest.class);
    private static final List<String> BOTS = IntStream.rangeClosed(1, 10).mapToObj(i -> String.format("BOT-L%02d", i)).toList();
    private static final int LIMIT = 3;

    @TempDir
    Path dir;

    private ServeProcess serve;

    @AfterEach
    void tearDown() throws Exception {
        Torture.endServe(serve, BOTS, dir);
    }

    @Test
    void neverMoreTurnsThanTheLimitAcrossRunnersKilledWithMinus9() throws Exception {
        int tasks = 50;
        long seed = Long.getLong("deia.torture.seed", 20261208L);
        Random random = new Random(seed);
        HiveLayout hive = new HiveLayout(dir.resolve(".deia"));
        Path marks = dir.resolve("marks.log");
        String script = "trap 'echo \"end $(date +%s%N) $$\" >> \"$1\"; exit 143' TERM; "
                + "echo \"start $(date +%s%N) $$\" >> \"$1\"; sleep 0.5; "
                + "echo \"end $(date +%s%N) $$\" >> \"$1\"; echo done";
        int portBase = 23000 + random.nextInt(40) * 100;
        Map<String, Object> profile = new TreeMap<>(Map.of(
                "agent", "command", "executable", "/bin/sh", "args", List.of("-c", script, "sh", marks.toString()),
                "timeout_s", 30, "max_attempts", 5, "retry_backoff_ms", 50, "start_timeout_s", 60,
                "runner_jvm_options", new ArrayList<>(Profile.DEFAULT_RUNNER_JVM_OPTIONS),
                "restart", Map.of("policy", "on-failure", "max_restarts", 1000, "window_s", 60,
                        "backoff_initial_ms", 100, "backoff_max_ms", 400, "stable_after_s", 30)));
        Path configFile = dir.resolve("deia.json");
        writeConfig(configFile, portBase, profile, LIMIT);
        DeiaConfig config = DeiaConfig.load(configFile);

        ExecutorService launcher = Executors.newFixedThreadPool(BOTS.size());
        serve = new ServeProcess(hive.root(), configFile, dir.resolve("serve.log"));
        serve.start();
        assertEquals(LIMIT, HiveSettings.read(hive).orElseThrow().maxConcurrentTurns(), "serve publishes the limit at start");
        // Launched side by side: ten runner JVMs starting one after the other would take most of the time budget.
        List<CompletableFuture<HttpResponse<String>>> launches = new ArrayList<>();
        for (String bot : BOTS) {
            launches.add(CompletableFuture.supplyAsync(() -> {
                try {
                    return serve.post("/api/bot/launch", "{\"bot_id\":\"" + bot + "\",\"profile\":\"limited\"}");
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            }, launcher));
        }
        for (CompletableFuture<HttpResponse<String>> launch : launches) {
            HttpResponse<String> r = launch.join();
            assertEquals(201, r.statusCode(), r.body());
        }
        launcher.shutdown();
        FileTaskQueue queue = new FileTaskQueue(hive, config);
        for (int i = 0; i < tasks; i++) {
            queue.submit(BOTS.get(i % BOTS.size()), "---\ntask_id: T-" + i + "\npriority: P" + random.nextInt(4)
                    + "\n---\nwork " + i + "\n");
        }

        // While they work: runner kills, and the controller's view of the line.
        int kills = 0;
        int maxPosition = 0;
        long deadline = System.nanoTime() + Duration.ofSeconds(40).toNanos();
        while (responses(hive) < tasks && System.nanoTime() < deadline) {
            JsonNode bots = Json.read(serve.get("/api/bots", true).body(), JsonNode.class, "bots").get("bots");
            for (JsonNode b : bots) {
                maxPosition = Math.max(maxPosition, b.path("queue_position").asInt(0));
            }
            if (kills < 5) {
                List<Long> runners = ProcessChecks.runningWithMarker("io.deia.server.Main bot").stream()
                        .filter(pid -> commandLine(pid).contains(hive.root().toString())).toList();
                if (!runners.isEmpty() && ProcessHandle.of(runners.get(random.nextInt(runners.size())))
                        .map(ProcessHandle::destroyForcibly).orElse(false)) {
                    kills++;
                }
            }
            Thread.sleep(400 + random.nextInt(400));
        }
        await("every task has its response").atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(200))
                .until(() -> responses(hive) >= tasks);
        Map<String, Integer> statuses = new TreeMap<>();
        for (String bot : BOTS) {
            for (Path f : Torture.files(hive.responsesDir(bot))) {
                TaskResponse r = ResponseFiles.parse(Files.readString(f, StandardCharsets.UTF_8), f.toString());
                statuses.merge(r.status().id(), 1, Integer::sum);
            }
        }
        int peak = peakConcurrency(marks);
        log.info("turn limit torture: kills={} statuses={} peak={} max_queue_position={} agent_runs={}", kills, statuses,
                peak, maxPosition, Files.readAllLines(marks).stream().filter(l -> l.startsWith("start")).count());
        assertEquals(Map.of("completed", tasks), statuses);
        assertTrue(kills >= 3, "runners were killed while they worked: " + kills);
        assertTrue(peak <= LIMIT, "at most " + LIMIT + " turns at once, the agents' marks say " + peak);
        assertEquals(LIMIT, peak, "the limit was reached (enough work to queue)");
        assertTrue(maxPosition >= 1, "the controller showed bots queued with their place in line");
        awaitNoSlotHeld(hive);

        // Lower the limit in the file, SIGHUP: the running bots follow without a restart.
        writeConfig(configFile, portBase, profile, 1);
        new ProcessBuilder("kill", "-HUP", Long.toString(serve.pid())).start().waitFor();
        await("SIGHUP publishes the new limit").atMost(Duration.ofSeconds(10))
                .until(() -> HiveSettings.read(hive).orElseThrow().maxConcurrentTurns() == 1);
        long before = Files.readAllLines(marks).size();
        for (int i = 0; i < 6; i++) {
            queue.submit(BOTS.get(i), "---\ntask_id: R-" + i + "\n---\nwork again " + i + "\n");
        }
        await("the tasks after the reload end").atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(200))
                .until(() -> responses(hive) >= tasks + 6);
        List<String> after = Files.readAllLines(marks);
        Path reloadMarks = dir.resolve("marks-after-reload.log");
        Files.write(reloadMarks, after.subList((int) before, after.size()));
        assertEquals(1, peakConcurrency(reloadMarks), "one turn at a time after the reload");
        awaitNoSlotHeld(hive);
        AtomicFiles.writeString(Path.of("target", "torture-concurrency-limit.txt"), String.format(
                "seed=%d bots=%d limit=%d tasks=%d kills=%d statuses=%s peak=%d max_queue_position=%d%n",
                seed, BOTS.size(), LIMIT, tasks, kills, statuses, peak, maxPosition));
    }

    private static void writeConfig(Path file, int portBase, Map<String, Object> profile, int limit) {
        AtomicFiles.writeString(file, Json.write(Map.of("ports", Map.of("from", portBase, "to", portBase + 99),
                "max_concurrent_turns", limit, "profiles", Map.of("limited", profile))));
    }

    /** The most agent turns running at one instant, from the start/end marks (an end before a start at the same nanosecond). */
    static int peakConcurrency(Path marks) throws Exception {
        List<long[]> events = new ArrayList<>();
        for (String line : Files.readAllLines(marks)) {
            String[] f = line.trim().split(" ");
            if (f.length == 3) {
                events.add(new long[]{Long.parseLong(f[1]), f[0].equals("start") ? 1 : -1});
            }
        }
        events.sort((a, b) -> a[0] != b[0] ? Long.compare(a[0], b[0]) : Long.compare(a[1], b[1]));
        int running = 0;
        int peak = 0;
        for (long[] e : events) {
            running += (int) e[1];
            peak = Math.max(peak, running);
        }
        return peak;
    }

    /** Every slot file can be locked (no turn holds it) and the line is empty, once the bots are idle. */
    private static void awaitNoSlotHeld(HiveLayout hive) {
        AtomicInteger held = new AtomicInteger();
        await("no slot is left held").atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(200)).until(() -> {
            held.set(0);
            try (var files = Files.list(hive.slotsDir())) {
                for (Path f : files.filter(p -> p.getFileName().toString().matches("(hive|profile)-.*\\.lock")).toList()) {
                    try (FileChannel ch = FileChannel.open(f, StandardOpenOption.WRITE)) {
                        FileLock lock = ch.tryLock();
                        if (lock == null) {
                            held.incrementAndGet();
                        } else {
                            lock.release();
                        }
                    }
                }
            }
            return held.get() == 0 && new WaitingLine(hive).entries().isEmpty();
        });
    }

    private static int responses(HiveLayout hive) throws java.io.IOException {
        int n = 0;
        for (String bot : BOTS) {
            n += Torture.files(hive.responsesDir(bot)).size();
        }
        return n;
    }

    private static String commandLine(long pid) {
        try {
            return new String(Files.readAllBytes(Path.of("/proc", Long.toString(pid), "cmdline")), StandardCharsets.UTF_8)
                    .replace('\0', ' ');
        } catch (java.io.IOException e) {
            return "";
        }
    }
}
