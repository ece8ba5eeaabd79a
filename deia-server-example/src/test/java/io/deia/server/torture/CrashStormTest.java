package io.deia.server.torture;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.HiveLayout;
import io.deia.core.config.DeiaConfig;
import io.deia.core.config.Profile;
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
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Crash storm: 4 bots (command agents running {@code sh -c}) launched by a real {@code serve}
 * (controller + BotLauncher in its own JVM) work through tasks and chat while {@code kill -9} hits
 * bot runners, agent processes and the controller. Afterwards nothing is lost or doubled.
 *
 * <p>The agent takes a per-task {@code flock} before it works: the kernel drops the lock when the
 * holder dies (even by SIGKILL), so a "CONCURRENT" line in the log means two live agents worked on
 * the same task at the same time.
 */
class CrashStormTest {
    private static final Logger log = LoggerFactory.getLogger(CrashStormTest.class);
    private static final List<String> BOTS = List.of("BOT-S1", "BOT-S2", "BOT-S3", "BOT-S4");

    @TempDir
    Path dir;

    private ServeProcess serve;

    @AfterEach
    void tearDown() throws Exception {
        Torture.endServe(serve, BOTS, dir);
    }

    @Test
    void nothingIsLostOrDoubledUnderKillNine() throws Exception {
        int scale = Torture.scale();
        int tasks = 200 * scale;
        int chats = 40 * scale;
        int kills = 20 * scale;
        long seed = Long.getLong("deia.torture.seed", 20261126L);
        Random random = new Random(seed);

        HiveLayout hive = new HiveLayout(dir.resolve(".deia"));
        Path work = dir.resolve("agent");
        Files.createDirectories(work.resolve("locks"));
        Path agentLog = work.resolve("runs.log");
        // The prompt carries "TORTURE-ID:<id>" for tasks; chat prompts do not.
        String script = "id=$(grep -o 'TORTURE-ID:[A-Za-z0-9_-]*' | head -n 1 | cut -d: -f2); "
                + "if [ -z \"$id\" ]; then echo chat-ok; exit 0; fi; "
                + "exec 9>>'" + work + "/locks/'\"$id\"; "
                + "flock -n 9 || echo \"CONCURRENT $id $$\" >> '" + agentLog + "'; "
                + "echo \"start $id $$\" >> '" + agentLog + "'; "
                + "sleep 0.05 9>&-; "
                + "echo \"end $id $$\" >> '" + agentLog + "'; echo \"done $id\"";
        List<String> jvm = new ArrayList<>(Profile.DEFAULT_RUNNER_JVM_OPTIONS);
        int portBase = 21000 + random.nextInt(40) * 100;
        Map<String, Object> profile = new TreeMap<>(Map.of(
                "agent", "command", "executable", "/bin/sh", "args", List.of("-c", script),
                "timeout_s", 30, "max_attempts", 3, "retry_backoff_ms", 50, "start_timeout_s", 60,
                "runner_jvm_options", jvm,
                "restart", Map.of("policy", "on-failure", "max_restarts", 1000, "window_s", 60,
                        "backoff_initial_ms", 100, "backoff_max_ms", 400, "stable_after_s", 30)));
        Path configFile = dir.resolve("deia.json");
        AtomicFiles.writeString(configFile, Json.write(Map.of(
                "ports", Map.of("from", portBase, "to", portBase + 99), "profiles", Map.of("storm", profile))));
        DeiaConfig config = DeiaConfig.load(configFile);

        serve = new ServeProcess(hive.root(), configFile, dir.resolve("serve.log"));
        serve.start();
        for (String bot : BOTS) {
            HttpResponse<String> r = serve.post("/api/bot/launch", "{\"bot_id\":\"" + bot + "\",\"profile\":\"storm\"}");
            assertEquals(201, r.statusCode(), r.body());
        }

        FileTaskQueue queue = new FileTaskQueue(hive, config);
        Map<String, Set<String>> expected = new ConcurrentHashMap<>();
        BOTS.forEach(b -> expected.put(b, ConcurrentHashMap.newKeySet()));
        ExecutorService workload = Executors.newFixedThreadPool(2);
        Future<?> submitter = workload.submit(() -> {
            for (int i = 0; i < tasks; i++) {
                String bot = BOTS.get(i % BOTS.size());
                String id = "T-" + i;
                queue.submit(bot, "---\ntask_id: " + id + "\ntimeout: 20\n---\nwork TORTURE-ID:" + id + "\n");
                expected.get(bot).add(id);
                pace(5);
            }
            return null;
        });
        Map<Integer, AtomicInteger> chatStatuses = new ConcurrentHashMap<>();
        Map<Integer, String> chatSamples = new ConcurrentHashMap<>();
        Future<?> chatter = workload.submit(() -> {
            for (int i = 0; i < chats; i++) {
                int status;
                try {
                    HttpResponse<String> r = serve.post("/api/bot/" + BOTS.get(i % BOTS.size()) + "/message",
                            "{\"text\":\"hello " + i + "\"}");
                    status = r.statusCode();
                    chatSamples.putIfAbsent(status, r.body().length() > 200 ? r.body().substring(0, 200) : r.body());
                } catch (java.io.IOException e) {
                    status = 0; // the controller was down at that moment (it is killed once on purpose)
                }
                chatStatuses.computeIfAbsent(status, k -> new AtomicInteger()).incrementAndGet();
            }
            return null;
        });

        // The storm: SIGKILL at random moments; the controller once, halfway.
        Map<String, Integer> killed = new TreeMap<>();
        int done = 0;
        boolean controllerKilled = false;
        long stormEnd = System.nanoTime() + TimeUnit.SECONDS.toNanos(240L * scale);
        while (done < kills && System.nanoTime() < stormEnd) {
            pace(150 + random.nextInt(500));
            if (!controllerKilled && done >= kills / 2) {
                serve.crash();
                killed.merge("controller", 1, Integer::sum);
                done++;
                controllerKilled = true;
                serve.start();
                relaunchMissing(hive, config);
                continue;
            }
            boolean runner = random.nextBoolean();
            List<Long> victims = runner
                    ? ProcessChecks.runningWithMarker("io.deia.server.Main bot").stream()
                    .filter(pid -> commandLine(pid).contains(hive.root().toString())).toList()
                    : ProcessChecks.runningWithMarker(agentLog.toString()).stream()
                    .filter(pid -> commandLine(pid).startsWith("/bin/sh")).toList();
            if (victims.isEmpty()) {
                continue;
            }
            long pid = victims.get(random.nextInt(victims.size()));
            if (ProcessHandle.of(pid).map(ProcessHandle::destroyForcibly).orElse(false)) {
                killed.merge(runner ? "bot runner" : "agent", 1, Integer::sum);
                done++;
            }
        }
        submitter.get(120L * scale, TimeUnit.SECONDS);
        chatter.get(300L * scale, TimeUnit.SECONDS);
        workload.shutdown();
        assertEquals(kills, done, "kills delivered: " + killed);
        assertTrue(controllerKilled, "the controller was killed");

        // Recovery: bots whose restart budget or launcher went away are launched again by the operator.
        long recoveryStart = System.nanoTime();
        try {
            await("every bot runs again").atMost(Duration.ofSeconds(120)).pollInterval(Duration.ofMillis(500))
                    .until(() -> relaunchMissing(hive, config) == 0);
        } catch (org.awaitility.core.ConditionTimeoutException e) {
            keepEvidence(hive);
            throw e;
        }
        long recoveryMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - recoveryStart);
        await("every task has its final response").atMost(Duration.ofSeconds(180L * scale)).pollInterval(Duration.ofMillis(500))
                .until(() -> responseFiles(hive) >= tasks);

        // Exactly one response per task, none extra (a duplicate would get a suffixed id).
        int checked = 0;
        Map<String, Integer> statuses = new TreeMap<>();
        for (String bot : BOTS) {
            Set<String> seen = new HashSet<>();
            for (Path f : Torture.files(hive.responsesDir(bot))) {
                TaskResponse r = ResponseFiles.parse(Files.readString(f, StandardCharsets.UTF_8), f.toString());
                assertTrue(seen.add(r.taskId()), "second response for " + r.taskId());
                statuses.merge(r.status().id(), 1, Integer::sum);
                checked++;
            }
            assertEquals(expected.get(bot), seen, "responses of " + bot);
            assertEquals(List.of(), Torture.files(hive.inboxDir(bot)), "inbox of " + bot + " is empty");
            assertEquals(List.of(), Torture.claimFiles(hive.claimedDir(bot)), "no claim is left for " + bot);
        }
        assertEquals(tasks, checked);

        // No task ran twice at the same time; every finished run had started.
        List<String> runs = Files.readAllLines(agentLog, StandardCharsets.UTF_8);
        assertEquals(List.of(), runs.stream().filter(l -> l.startsWith("CONCURRENT")).toList(), "concurrent runs");
        Map<String, Integer> starts = new HashMap<>();
        for (String line : runs) {
            String[] p = line.split(" ");
            assertEquals(3, p.length, "whole log line: " + line);
            if (p[0].equals("start")) {
                starts.merge(p[1] + " " + p[2], 1, Integer::sum);
            } else {
                assertEquals(1, starts.getOrDefault(p[1] + " " + p[2], 0), "end after start: " + line);
            }
        }

        Torture.HiveScan scan = Torture.checkHiveFilesWhole(hive);

        // The registry matches the live processes.
        JsonFileServiceRegistry registry = new JsonFileServiceRegistry(hive, config);
        List<BotRecord> records = registry.list();
        assertEquals(BOTS.size(), records.size(), records.toString());
        for (BotRecord r : records) {
            assertTrue(r.state() == BotState.IDLE || r.state() == BotState.BUSY, r.toString());
            assertTrue(ProcessTrees.isSameProcessAlive(r.pid(), r.processStart()), "registered pid runs: " + r);
        }
        Set<Long> runners = new HashSet<>(ProcessChecks.runningWithMarker("io.deia.server.Main bot").stream()
                .filter(pid -> commandLine(pid).contains(hive.root().toString())).toList());
        assertEquals(records.stream().map(BotRecord::pid).collect(java.util.stream.Collectors.toSet()), runners,
                "no runner outside the registry");

        // No orphan: once the bots and the controller stop, nothing points into the test folder.
        serve.stopBots(BOTS);
        serve.stop();
        await("no orphan process").atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(250))
                .until(() -> Torture.processesInto(dir).isEmpty());

        log.info("crash storm: scale {}, seed {}, kills {}, tasks checked {} {}, chat statuses {}, agent runs {}, hive scan {}, "
                + "bots running again after {} ms", scale, seed, killed, checked, statuses, chatStatuses, starts.size(), scan,
                recoveryMs);
        log.info("crash storm chat samples {}", chatSamples);
        AtomicFiles.writeString(Path.of("target", "torture-crash-storm.txt"), String.format(
                "scale=%d seed=%d kills=%s tasks_checked=%d statuses=%s chat_statuses=%s agent_runs=%d hive_scan=%s recovery_ms=%d%n",
                scale, seed, killed, checked, statuses, chatStatuses, starts.size(), scan, recoveryMs));
    }

    /** Launches through the controller every bot that is not running; returns how many it launched. */
    private int relaunchMissing(HiveLayout hive, DeiaConfig config) throws Exception {
        int launched = 0;
        Map<String, BotRecord> byId = new HashMap<>();
        new JsonFileServiceRegistry(hive, config).list().forEach(r -> byId.put(r.botId(), r));
        for (String bot : BOTS) {
            BotRecord r = byId.get(bot);
            if (r == null || r.state() == BotState.FAILED || r.state() == BotState.STOPPED || r.state() == BotState.STALE) {
                HttpResponse<String> resp = serve.post("/api/bot/launch", "{\"bot_id\":\"" + bot + "\",\"profile\":\"storm\"}");
                log.info("relaunch {} -> {} {}", bot, resp.statusCode(), resp.body());
                launched++;
            } else if (r.state() == BotState.STARTING || !r.state().isLive()
                    || !ProcessTrees.isSameProcessAlive(r.pid(), r.processStart())) {
                launched++; // starting or restarting: not yet settled
            }
        }
        return launched;
    }

    /**
     * Copies the registry, the controller's logs (one per start) and the bot logs where a failed run
     * can be read after the temp folder is gone; one folder per failure, so a rerun keeps it.
     */
    private void keepEvidence(HiveLayout hive) {
        Path evidence = Path.of("target", "crash-storm-evidence", "failure-" + System.currentTimeMillis());
        try {
            Files.createDirectories(evidence);
        } catch (java.io.IOException e) {
            log.error("cannot keep the evidence of the failed run: {}", e.toString());
            return;
        }
        List<Path> sources = new ArrayList<>(List.of(hive.registryFile()));
        try (var files = Files.list(dir)) {
            files.filter(f -> f.getFileName().toString().startsWith("serve.log")).forEach(sources::add);
        } catch (java.io.IOException e) {
            log.error("cannot list the controller logs: {}", e.toString());
        }
        try {
            sources.addAll(Torture.files(hive.botLogsDir()));
        } catch (java.io.IOException e) {
            log.error("cannot list the bot logs: {}", e.toString());
        }
        for (Path source : sources) {
            try {
                Files.copy(source, evidence.resolve(source.getFileName()), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            } catch (java.io.IOException e) {
                log.error("cannot keep {}: {}", source, e.toString());
            }
        }
        log.error("evidence of the failed run kept in {}", evidence.toAbsolutePath());
    }

    private static int responseFiles(HiveLayout hive) throws java.io.IOException {
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

    /** Spreads load and kills over time (pacing, not synchronisation). */
    private static void pace(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
