package io.deia.server.torture;

import io.deia.core.HiveLayout;
import io.deia.core.config.DeiaConfig;
import io.deia.core.internal.io.AtomicFiles;
import io.deia.core.internal.io.Json;
import io.deia.core.launch.BotLauncher;
import io.deia.core.launch.RunnerCommand;
import io.deia.core.registry.BotRecord;
import io.deia.core.registry.JsonFileServiceRegistry;
import io.deia.core.task.FileTaskQueue;
import io.deia.core.task.TaskResponse;
import io.deia.core.task.TaskStatus;
import io.deia.core.testkit.ProcessChecks;
import io.deia.server.Main;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Agents that misbehave, each in a real bot runner: one never answers (the turn times out and its
 * tree is killed), one floods hundreds of MB (the runner's resident memory stays bounded and the
 * turn ends), one ignores SIGTERM and SIGINT (it is killed with SIGKILL). No process is left.
 */
class SlowAgentsTest {
    private static final Logger log = LoggerFactory.getLogger(SlowAgentsTest.class);
    /** The runner's resident memory must stay under this while it reads a flood (its heap is capped at 64 MB). */
    private static final long MAX_RUNNER_RSS_KB = 300 * 1024;

    @TempDir
    Path dir;

    private BotLauncher launcher;

    @AfterEach
    void tearDown() {
        if (launcher != null) {
            launcher.stopAll();
            launcher.close();
        }
        Torture.killAllInto(dir);
    }

    @Test
    void hungFloodingAndDeafAgentsEndTheirTurnsAndLeaveNothing() throws Exception {
        long floodBytes = 300L * 1024 * 1024 * Torture.scale();
        String tag = "1000." + Math.abs(new Random().nextInt(1_000_000)); // a sleep argument only this test uses
        HiveLayout hive = new HiveLayout(dir.resolve(".deia"));
        int portBase = 29000 + new Random().nextInt(40) * 20;
        Path configFile = hive.root().resolve("deia.json");
        AtomicFiles.writeString(configFile, Json.write(Map.of("ports", Map.of("from", portBase, "to", portBase + 19),
                "profiles", Map.of(
                        "hung", Map.of("agent", "command", "executable", "/bin/sh", "args", List.of("-c", "sleep " + tag),
                                "timeout_s", 3, "max_attempts", 1, "start_timeout_s", 60),
                        "flood", Map.of("agent", "command", "executable", "/bin/sh", "args", List.of("-c",
                                        "yes torture-flood-line | head -c " + floodBytes + "; head -c " + floodBytes / 4
                                                + " /dev/zero | tr '\\000' x"),
                                "timeout_s", 600, "max_attempts", 1, "start_timeout_s", 60),
                        "deaf", Map.of("agent", "command", "executable", "/bin/sh", "args", List.of("-c",
                                        "trap '' TERM INT; sleep " + tag + " & sleep " + tag + "; wait"),
                                "timeout_s", 3, "max_attempts", 1, "start_timeout_s", 60)))));
        DeiaConfig config = DeiaConfig.load(configFile);
        JsonFileServiceRegistry registry = new JsonFileServiceRegistry(hive, config);
        launcher = BotLauncher.builder(hive, config, registry, RunnerCommand.currentJvm(Main.class.getName()))
                .configFile(configFile).stopGrace(Duration.ofSeconds(3)).build();
        Map<String, String> bots = new LinkedHashMap<>();
        bots.put("BOT-HUNG", "hung");
        bots.put("BOT-FLOOD", "flood");
        bots.put("BOT-DEAF", "deaf");
        List<BotRecord> launched = launcher.launchAll(bots);
        long floodPid = launched.get(1).pid();

        AtomicLong maxRssKb = new AtomicLong();
        ScheduledExecutorService sampler = Executors.newSingleThreadScheduledExecutor();
        sampler.scheduleAtFixedRate(() -> maxRssKb.accumulateAndGet(Torture.rssKb(floodPid), Math::max), 0, 100, TimeUnit.MILLISECONDS);
        FileTaskQueue queue = new FileTaskQueue(hive, config);
        for (String bot : bots.keySet()) {
            queue.submit(bot, "---\ntask_id: T-" + bot + "\n---\nmisbehave\n");
        }
        Map<String, TaskResponse> responses = new LinkedHashMap<>();
        try {
            await("every misbehaving turn ends").atMost(Duration.ofSeconds(300L * Torture.scale())).pollInterval(Duration.ofMillis(250))
                    .until(() -> {
                        for (String bot : bots.keySet()) {
                            queue.response(bot, "T-" + bot).ifPresent(r -> responses.put(bot, r));
                        }
                        return responses.size() == bots.size();
                    });
        } finally {
            sampler.shutdownNow();
        }
        assertEquals(TaskStatus.TIMEOUT, responses.get("BOT-HUNG").status(), responses.get("BOT-HUNG").toString());
        assertEquals(TaskStatus.TIMEOUT, responses.get("BOT-DEAF").status(), responses.get("BOT-DEAF").toString());
        TaskResponse flood = responses.get("BOT-FLOOD");
        assertEquals(TaskStatus.COMPLETED, flood.status(), flood.error());
        assertTrue(flood.output().length() <= 2 * 1024 * 1024, "the kept reply is bounded: " + flood.output().length());
        assertTrue(maxRssKb.get() > 0, "the runner's memory was sampled");
        assertTrue(maxRssKb.get() < MAX_RUNNER_RSS_KB, "runner VmRSS peaked at " + maxRssKb.get() + " kB");

        // The trees are gone: no sleep of this test runs, no agent shell, and every bot is still up and idle.
        await("no agent process is left").atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(200))
                .until(() -> ProcessChecks.runningWithMarker(tag).isEmpty() && ProcessChecks.runningWithMarker("torture-flood").isEmpty());
        for (BotRecord r : launched) {
            assertTrue(ProcessChecks.isRunning(r.pid()), r.botId() + " survived its agent");
        }
        launcher.stopAll();
        await("nothing of the test runs").atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(250))
                .until(() -> Torture.processesInto(dir).isEmpty());
        log.info("slow agents: hung -> {} after {} ms, deaf -> {} after {} ms, flood of {} MB -> {} in {} ms, runner peak VmRSS {} kB",
                responses.get("BOT-HUNG").status(), responses.get("BOT-HUNG").durationMs(),
                responses.get("BOT-DEAF").status(), responses.get("BOT-DEAF").durationMs(),
                floodBytes * 5 / 4 / (1024 * 1024), flood.status(), flood.durationMs(), maxRssKb.get());
        AtomicFiles.writeString(Path.of("target", "torture-slow-agents.txt"), String.format(
                "hung=%s/%dms deaf=%s/%dms flood_mb=%d flood=%s/%dms runner_peak_rss_kb=%d%n",
                responses.get("BOT-HUNG").status(), responses.get("BOT-HUNG").durationMs(),
                responses.get("BOT-DEAF").status(), responses.get("BOT-DEAF").durationMs(),
                floodBytes * 5 / 4 / (1024 * 1024), flood.status(), flood.durationMs(), maxRssKb.get()));
    }
}
