package io.deia.server.launch;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;
import io.deia.core.internal.io.Json;
import io.deia.core.internal.process.ProcessTrees;
import io.deia.core.launch.BotLauncher;
import io.deia.core.launch.RunnerCommand;
import io.deia.core.registry.BotRecord;
import io.deia.core.registry.BotState;
import io.deia.core.registry.JsonFileServiceRegistry;
import io.deia.core.task.FileTaskQueue;
import io.deia.core.testkit.ProcessChecks;
import io.deia.server.Main;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Issue 3 acceptance for the launcher, with the real {@code bot} runner of this jar. */
class LauncherAcceptanceTest {
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    @TempDir
    Path dir;

    private final String sleepTag = "300." + Math.abs(UUID.randomUUID().getMostSignificantBits() % 100_000_000L);
    private final List<BotLauncher> launchers = new ArrayList<>();
    private final List<Process> hosts = new ArrayList<>();
    private TestHive hive;
    private JsonFileServiceRegistry registry;

    private void setUp() {
        hive = new TestHive(dir, sleepTag);
        registry = new JsonFileServiceRegistry(hive.layout, hive.config);
    }

    private BotLauncher launcher(Duration stopGrace) {
        BotLauncher l = BotLauncher.builder(hive.layout, hive.config, registry, RunnerCommand.currentJvm(Main.class.getName()))
                .stopGrace(stopGrace).killGrace(Duration.ofSeconds(2)).build();
        launchers.add(l);
        return l;
    }

    @AfterEach
    void tearDown() {
        launchers.forEach(BotLauncher::close);
        hosts.forEach(p -> ProcessTrees.kill(p.toHandle()));
        if (hive != null) {
            for (String m : List.of(hive.marker, sleepTag)) {
                ProcessChecks.runningWithMarker(m).forEach(pid -> ProcessHandle.of(pid).ifPresent(ProcessTrees::kill));
            }
        }
    }

    /** A request to a bot's port with the hive's token, read from the hive's token file as a local script would. */
    private HttpResponse<String> send(String method, String url, String body) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(30))
                .header("Authorization", io.deia.core.HiveToken.loadOrCreate(hive.layout).bearer())
                .header("Content-Type", "application/json");
        b.method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void twoBotsRunWithRealPidsAndAnswerHealthStatusAndMessages() throws Exception {
        setUp();
        BotLauncher launcher = launcher(Duration.ofSeconds(10));
        Map<String, String> bots = new LinkedHashMap<>();
        bots.put("BOT-001", "echo");
        bots.put("BOT-002", "echo");
        List<BotRecord> launched = launcher.launchAll(bots);
        for (BotRecord r : launched) {
            BotRecord stored = registry.get(r.botId()).orElseThrow();
            assertTrue(ProcessChecks.isRunning(stored.pid()));
            assertEquals(ProcessTrees.startInstant(stored.pid()).orElseThrow(), stored.processStart());
            JsonNode health = Json.read(send("GET", r.url() + "/health", null).body(), JsonNode.class, "health");
            assertEquals(r.botId(), health.get("bot_id").asText());
            assertEquals(stored.pid(), health.get("pid").asLong());
            HttpResponse<String> status = send("GET", r.url() + "/status", null);
            assertEquals(200, status.statusCode());
            assertEquals(r.botId(), Json.read(status.body(), JsonNode.class, "status").get("bot_id").asText());
            HttpResponse<String> reply = send("POST", r.url() + "/message", "{\"text\":\"hello " + r.botId() + "\"}");
            assertEquals(200, reply.statusCode(), reply.body());
            assertTrue(Json.read(reply.body(), JsonNode.class, "reply").get("reply").asText().contains("hello " + r.botId()));
        }
        assertEquals(2, ProcessChecks.runningWithMarker(hive.marker).size());
        launcher.stopAll();
        assertTrue(ProcessChecks.runningWithMarker(hive.marker).isEmpty());
        assertEquals(BotState.STOPPED, registry.get("BOT-001").orElseThrow().state());
    }

    @Test
    void runnerThatDiesAtOnceOrStaysDeafFailsTheLaunchAndLeavesNothing() {
        setUp();
        BotLauncher launcher = launcher(Duration.ofSeconds(5));
        DeiaException dies = assertThrows(DeiaException.class, () -> launcher.launch("BOT-X", "badjvm"));
        assertEquals(ErrorCode.UNAVAILABLE, dies.code());
        assertTrue(dies.getMessage().contains("exited with code 1"), dies.getMessage());
        assertTrue(dies.getMessage().contains("NoSuchDeiaOption"), "log tail quoted: " + dies.getMessage());
        assertTrue(registry.get("BOT-X").isEmpty());

        DeiaException deaf = assertThrows(DeiaException.class, () -> launcher.launch("BOT-Y", "deaf"));
        assertTrue(deaf.getMessage().contains("did not answer /health"), deaf.getMessage());
        assertTrue(deaf.getMessage().contains("Listening for transport dt_socket"), deaf.getMessage());
        assertTrue(registry.get("BOT-Y").isEmpty());
        assertTrue(ProcessChecks.runningWithMarker(hive.marker).isEmpty());
        assertTrue(registry.list().isEmpty());
    }

    @Test
    void killedBotRestartsAndRepeatedCrashesEndInFailed() throws Exception {
        setUp();
        BotLauncher launcher = launcher(Duration.ofSeconds(5));
        BotRecord first = launcher.launch("BOT-K", "echo");
        Set<Long> pids = new HashSet<>(List.of(first.pid()));
        BotRecord current = first;
        for (int restart = 1; restart <= 2; restart++) {
            long dead = current.pid();
            ProcessHandle.of(dead).orElseThrow().destroyForcibly();
            current = await().atMost(Duration.ofSeconds(30)).until(() -> registry.get("BOT-K").orElseThrow(),
                    r -> r.pid() > 0 && r.pid() != dead && r.state() == BotState.IDLE);
            assertTrue(pids.add(current.pid()));
            assertEquals(restart, current.restarts());
            assertEquals(137, current.lastExitCode());
            assertEquals(200, send("GET", current.url() + "/health", null).statusCode());
        }
        ProcessHandle.of(current.pid()).orElseThrow().destroyForcibly();
        BotRecord failed = await().atMost(Duration.ofSeconds(30)).until(() -> registry.get("BOT-K").orElseThrow(),
                r -> r.state() == BotState.FAILED);
        assertEquals("exited 3 times in 60 s; last exit code 137", failed.lastError());
        assertTrue(ProcessChecks.runningWithMarker(hive.marker).isEmpty(), "no restart storm");
        assertTrue(launcher.supervised().isEmpty());
    }

    @Test
    void anAgentDoesNotOutliveItsKilledRunner() throws Exception {
        // Agents run in their own session, so a runner killed with -9 would leave its agent working
        // on the task that the restarted runner retries: the launcher must end it.
        setUp();
        BotLauncher launcher = launcher(Duration.ofMillis(500));
        BotRecord first = launcher.launch("BOT-O", "spawner");
        new FileTaskQueue(hive.layout, hive.config).submit("BOT-O", "spawn two sleeps and wait for them\n");
        await().atMost(Duration.ofSeconds(30)).until(() -> ProcessChecks.runningWithMarker(sleepTag).size() >= 3);
        Set<Long> oldAgent = new HashSet<>(ProcessChecks.runningWithMarker(sleepTag));

        ProcessHandle.of(first.pid()).orElseThrow().destroyForcibly();
        BotRecord restarted = await().atMost(Duration.ofSeconds(30)).until(() -> registry.get("BOT-O").orElseThrow(),
                r -> r.pid() > 0 && r.pid() != first.pid() && r.state().isLive());
        await().atMost(Duration.ofSeconds(10)).until(() -> oldAgent.stream().noneMatch(ProcessChecks::isRunning));
        // The restarted runner retries the task with an agent of its own: one agent, not two.
        await().atMost(Duration.ofSeconds(30)).until(() -> ProcessChecks.runningWithMarker(sleepTag).size() >= 3);
        Set<Long> now = new HashSet<>(ProcessChecks.runningWithMarker(sleepTag));
        assertEquals(3, now.size(), "one agent shell and its two sleeps: " + now);
        assertTrue(now.stream().noneMatch(oldAgent::contains));
        assertEquals(1, restarted.restarts());
        launcher.stop("BOT-O");
        assertTrue(ProcessChecks.runningWithMarker(sleepTag).isEmpty());
    }

    @Test
    void stoppingBotsWhoseAgentSpawnedGrandchildrenLeavesNothing() {
        setUp();
        BotLauncher launcher = launcher(Duration.ofMillis(500));
        FileTaskQueue tasks = new FileTaskQueue(hive.layout, hive.config);
        int cycles = 0;
        for (int round = 0; round < 5; round++) {
            Map<String, String> bots = new LinkedHashMap<>();
            for (int i = 0; i < 4; i++) {
                bots.put("BOT-S" + i, "spawner");
            }
            List<BotRecord> launched = launcher.launchAll(bots);
            for (BotRecord r : launched) {
                tasks.submit(r.botId(), "round " + round + ": spawn two sleeps and wait for them\n");
            }
            // Each bot: its agent's shell plus two sleeps, all carrying the tag.
            await().atMost(Duration.ofSeconds(30)).until(() -> ProcessChecks.runningWithMarker(sleepTag).size() >= 12);
            Set<Long> recorded = new HashSet<>();
            for (BotRecord r : launched) {
                ProcessHandle.of(r.pid()).ifPresent(h -> ProcessTrees.tree(h).forEach(p -> recorded.add(p.pid())));
            }
            assertTrue(recorded.containsAll(ProcessChecks.runningWithMarker(sleepTag)), "grandchildren are in the trees");

            launcher.stopAll();
            cycles += launched.size();
            assertTrue(recorded.stream().noneMatch(ProcessChecks::isRunning), "left running: " + recorded);
            assertTrue(ProcessChecks.runningWithMarker(sleepTag).isEmpty());
            assertTrue(ProcessChecks.runningWithMarker(hive.marker).isEmpty());
            for (BotRecord r : launched) {
                assertEquals(BotState.STOPPED, registry.get(r.botId()).orElseThrow().state());
            }
        }
        assertEquals(20, cycles);
    }

    @Test
    void botsOutliveAKilledLauncherAndAreAdoptedByTheNextOne() throws Exception {
        setUp();
        String java = ProcessHandle.current().info().command().orElseThrow();
        Process host = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"),
                "-Ddeia.test.marker=" + hive.marker, LauncherHostMain.class.getName(),
                hive.layout.root().toString(), "echo", "BOT-A1", "BOT-A2")
                .redirectErrorStream(true).redirectOutput(dir.resolve("host.log").toFile()).start();
        hosts.add(host);
        Path ready = hive.layout.root().resolve("launcher-ready");
        await().atMost(Duration.ofSeconds(60)).until(() -> Files.exists(ready) || !host.isAlive());
        assertTrue(host.isAlive(), () -> "launcher host died: " + readQuietly(dir.resolve("host.log")));
        List<BotRecord> before = registry.list();
        assertEquals(List.of("BOT-A1", "BOT-A2"), before.stream().map(BotRecord::botId).toList());

        host.destroyForcibly().waitFor();
        for (BotRecord r : before) {
            assertTrue(ProcessChecks.isRunning(r.pid()), "bot outlived its launcher");
            assertEquals(200, send("GET", r.url() + "/health", null).statusCode());
        }

        BotLauncher next = launcher(Duration.ofSeconds(10));
        List<BotRecord> adopted = next.adopt();
        assertEquals(before.stream().map(BotRecord::pid).toList(), adopted.stream().map(BotRecord::pid).toList());
        assertEquals(Set.of("BOT-A1", "BOT-A2"), next.supervised());
        assertEquals(ErrorCode.CONFLICT, assertThrows(DeiaException.class, () -> next.launch("BOT-A1", "echo")).code());
        assertEquals(2, ProcessChecks.runningWithMarker(hive.marker).size(), "no duplicates");

        next.stopAll();
        assertTrue(ProcessChecks.runningWithMarker(hive.marker).isEmpty());
        for (BotRecord r : before) {
            assertFalse(ProcessChecks.isRunning(r.pid()));
        }
    }

    private static String readQuietly(Path file) {
        try {
            return Files.readString(file);
        } catch (java.io.IOException e) {
            return e.toString();
        }
    }
}
