package io.deia.server.torture;

import io.deia.core.HiveLayout;
import io.deia.core.config.DeiaConfig;
import io.deia.core.internal.io.AtomicFiles;
import io.deia.core.internal.io.Json;
import io.deia.core.internal.process.ProcessTrees;
import io.deia.core.registry.BotRecord;
import io.deia.core.registry.BotState;
import io.deia.core.registry.JsonFileServiceRegistry;
import io.deia.core.task.FileTaskQueue;
import io.deia.core.task.ResponseFiles;
import io.deia.core.task.TaskResponse;
import io.deia.core.testkit.ProcessChecks;
import io.deia.server.dashboard.ServeProcess;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.RepetitionInfo;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The supervision storm of issue 19, run 5 times in a row: 200 tasks over 2 bots while 8 runner
 * {@code kill -9}s and 2 controller {@code kill -9}s land at sub-second spacing, a new controller
 * started after each controller kill (one runner kill falls while no controller runs). No operator
 * step: the controllers alone must bring the hive back. Then every task has exactly one final
 * response, inboxes and claims are empty, both bots run with one runner each, and each bot's
 * restart count in the registry equals the kills of its runner.
 */
class SupervisionStormTest {
    private static final Logger log = LoggerFactory.getLogger(SupervisionStormTest.class);
    private static final List<String> BOTS = List.of("BOT-R1", "BOT-R2");
    private static final int TASKS = 200;
    private static final int RUNNER_KILLS = 8;
    private static final int CONTROLLER_KILLS = 2;

    @TempDir
    Path dir;

    private ServeProcess serve;

    @AfterEach
    void tearDown() throws Exception {
        Torture.endServe(serve, BOTS, dir);
    }

    @RepeatedTest(5)
    void everyTaskAnsweredOnceAndBothBotsBackWithNoOperator(RepetitionInfo run) throws Exception {
        long began = System.nanoTime();
        long seed = Long.getLong("deia.torture.seed", 20261207L) + run.getCurrentRepetition();
        Random random = new Random(seed);
        HiveLayout hive = new HiveLayout(dir.resolve(".deia"));
        int portBase = 25000 + random.nextInt(40) * 100;
        Map<String, Object> profile = new TreeMap<>(Map.of(
                "agent", "command", "executable", "/bin/sh", "args", List.of("-c", "cat >/dev/null; echo done"),
                "timeout_s", 30, "max_attempts", 3, "retry_backoff_ms", 50, "start_timeout_s", 60,
                "runner_jvm_options", List.of("-Xmx64m", "-XX:TieredStopAtLevel=1", "-Xshare:auto"),
                "restart", Map.of("policy", "on-failure", "max_restarts", 1000, "window_s", 60,
                        "backoff_initial_ms", 100, "backoff_max_ms", 400, "stable_after_s", 30)));
        Path configFile = dir.resolve("deia.json");
        AtomicFiles.writeString(configFile, Json.write(Map.of("ports", Map.of("from", portBase, "to", portBase + 99),
                "heartbeat_interval_s", 1, "heartbeat_ttl_s", 10, "profiles", Map.of("storm", profile))));
        DeiaConfig config = DeiaConfig.load(configFile);
        JsonFileServiceRegistry registry = new JsonFileServiceRegistry(hive, config);

        serve = new ServeProcess(hive.root(), configFile, dir.resolve("serve.log"));
        serve.start();
        for (String bot : BOTS) {
            HttpResponse<String> r = serve.post("/api/bot/launch", "{\"bot_id\":\"" + bot + "\",\"profile\":\"storm\"}");
            assertEquals(201, r.statusCode(), r.body());
        }

        FileTaskQueue queue = new FileTaskQueue(hive, config);
        Map<String, Set<String>> expected = new TreeMap<>();
        BOTS.forEach(b -> expected.put(b, new HashSet<>()));
        ExecutorService workload = Executors.newSingleThreadExecutor();
        Future<?> submitter = workload.submit(() -> {
            for (int i = 0; i < TASKS; i++) {
                String bot = BOTS.get(i % BOTS.size());
                String id = "S-" + i;
                queue.submit(bot, "---\ntask_id: " + id + "\ntimeout: 20\n---\nwork " + id + "\n");
                synchronized (expected) {
                    expected.get(bot).add(id);
                }
                pace(20);
            }
            return null;
        });

        // The storm: 10 kills, 250-750 ms apart; controller kills 4th and 8th, each followed at
        // once by a runner kill while no controller runs, then a new controller.
        Map<String, Integer> runnerKills = new TreeMap<>();
        BOTS.forEach(b -> runnerKills.put(b, 0));
        int controllerKills = 0;
        for (int k = 0; k < RUNNER_KILLS + CONTROLLER_KILLS; k++) {
            pace(250 + random.nextInt(500));
            if (k == 3 || k == 7) {
                serve.crash();
                controllerKills++;
                pace(100 + random.nextInt(200));
                killARunner(hive, random, runnerKills);
                k++;
                serve.start();
            } else {
                killARunner(hive, random, runnerKills);
            }
        }
        long stormMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - began);
        submitter.get(120, TimeUnit.SECONDS);
        workload.shutdown();
        assertEquals(CONTROLLER_KILLS, controllerKills);
        assertEquals(RUNNER_KILLS, runnerKills.values().stream().mapToInt(Integer::intValue).sum(), runnerKills.toString());

        try {
            await("every task has its final response").atMost(Duration.ofSeconds(180)).pollInterval(Duration.ofMillis(250))
                    .until(() -> responses(hive) >= TASKS);
            await("both bots run again, one runner each").atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(250))
                    .until(() -> BOTS.stream().allMatch(b -> settled(registry, hive, b)));
        } catch (org.awaitility.core.ConditionTimeoutException e) {
            keepEvidence(hive, run.getCurrentRepetition());
            throw e;
        }
        long settledMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - began);

        Map<String, Integer> statuses = new TreeMap<>();
        try {
            check(hive, registry, expected, runnerKills, statuses);
        } catch (AssertionError e) {
            keepEvidence(hive, run.getCurrentRepetition());
            throw e;
        }
        assertEquals(Map.of("completed", TASKS), statuses);
        Torture.checkHiveFilesWhole(hive);

        String figures = String.format("run=%d seed=%d runner_kills=%s controller_kills=%d storm_ms=%d settled_ms=%d statuses=%s%n",
                run.getCurrentRepetition(), seed, runnerKills, controllerKills, stormMs, settledMs, statuses);
        log.info("supervision storm: {}", figures.strip());
        Files.createDirectories(Path.of("target"));
        Files.writeString(Path.of("target", "torture-supervision-storm.txt"), figures, StandardCharsets.UTF_8,
                StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    }

    /** One response per task, empty inboxes and claims, one runner per bot, restarts equal to kills. */
    private static void check(HiveLayout hive, JsonFileServiceRegistry registry, Map<String, Set<String>> expected,
                              Map<String, Integer> runnerKills, Map<String, Integer> statuses) throws IOException {
        for (String bot : BOTS) {
            Set<String> seen = new HashSet<>();
            for (Path f : Torture.files(hive.responsesDir(bot))) {
                TaskResponse r = ResponseFiles.parse(Files.readString(f, StandardCharsets.UTF_8), f.toString());
                assertTrue(seen.add(r.taskId()), "second response for " + r.taskId());
                statuses.merge(r.status().id(), 1, Integer::sum);
            }
            assertEquals(expected.get(bot), seen, "one response per task of " + bot);
            assertEquals(List.of(), Torture.files(hive.inboxDir(bot)), "inbox of " + bot + " is empty");
            assertEquals(List.of(), Torture.claimFiles(hive.claimedDir(bot)), "no claim is left for " + bot);
            BotRecord r = registry.get(bot).orElseThrow();
            assertTrue(r.wanted(), r.toString());
            assertEquals(List.of(r.pid()), runners(hive, bot), "one runner for " + bot);
            assertEquals((int) runnerKills.get(bot), r.restarts(), "restarts of " + bot + " match its kills: " + r);
        }
    }

    /**
     * Kills the live runner of a random bot among those that have one, waiting only when neither
     * has (both restarting), so that kills stay sub-second apart and the count is exact.
     */
    private static void killARunner(HiveLayout hive, Random random, Map<String, Integer> kills) {
        long[] victim = new long[1];
        String bot = await("a live runner").atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(20))
                .until(() -> {
                    List<String> up = new ArrayList<>();
                    for (String b : BOTS) {
                        if (runners(hive, b).size() == 1) {
                            up.add(b);
                        }
                    }
                    if (up.isEmpty()) {
                        return null;
                    }
                    String chosen = up.get(random.nextInt(up.size()));
                    List<Long> live = runners(hive, chosen);
                    victim[0] = live.isEmpty() ? 0 : live.get(0);
                    return victim[0] > 0 ? chosen : null;
                }, b -> b != null);
        long pid = victim[0];
        if (ProcessHandle.of(pid).map(ProcessHandle::destroyForcibly).orElse(false)) {
            kills.merge(bot, 1, Integer::sum);
            await().atMost(Duration.ofSeconds(10)).until(() -> !ProcessChecks.isRunning(pid));
        }
    }

    private static boolean settled(JsonFileServiceRegistry registry, HiveLayout hive, String bot) {
        BotRecord r = registry.get(bot).orElse(null);
        return r != null && (r.state() == BotState.IDLE || r.state() == BotState.BUSY)
                && ProcessTrees.isSameProcessAlive(r.pid(), r.processStart()) && runners(hive, bot).equals(List.of(r.pid()));
    }

    private static List<Long> runners(HiveLayout hive, String bot) {
        return ProcessChecks.runningWithMarker("io.deia.server.Main bot").stream()
                .filter(pid -> {
                    String cmd = commandLine(pid);
                    return cmd.contains(hive.root().toString()) && cmd.contains("--id " + bot + " ");
                }).toList();
    }

    private static int responses(HiveLayout hive) throws IOException {
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
        } catch (IOException e) {
            return "";
        }
    }

    /** Copies the registry and the logs where a failed run can be read after the temp folder is gone. */
    private void keepEvidence(HiveLayout hive, int run) {
        Path evidence = Path.of("target", "supervision-storm-evidence", "run-" + run + "-" + System.currentTimeMillis());
        try {
            Files.createDirectories(evidence);
            List<Path> sources = new ArrayList<>(List.of(hive.registryFile()));
            try (var files = Files.list(dir)) {
                files.filter(f -> f.getFileName().toString().startsWith("serve.log")).forEach(sources::add);
            }
            sources.addAll(Torture.files(hive.botLogsDir()));
            for (Path source : sources) {
                Files.copy(source, evidence.resolve(source.getFileName()), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            }
            log.error("evidence of the failed run kept in {}", evidence.toAbsolutePath());
        } catch (IOException e) {
            log.error("cannot keep the evidence of the failed run: {}", e.toString());
        }
    }

    private static void pace(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
