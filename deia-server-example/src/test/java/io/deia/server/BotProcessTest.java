package io.deia.server;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.HiveLayout;
import io.deia.core.HiveToken;
import io.deia.core.config.DeiaConfig;
import io.deia.core.config.Profile;
import io.deia.core.internal.io.Json;
import io.deia.core.registry.BotRecord;
import io.deia.core.registry.JsonFileServiceRegistry;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.lang.management.ManagementFactory;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The {@code bot} command as the launcher runs it: a separate JVM, real HTTP, a real agent process. */
class BotProcessTest {
    @TempDir
    Path dir;

    private final HttpClient http = HttpClient.newHttpClient();
    private Process process;

    @AfterEach
    void killLeftovers() {
        if (process != null && process.isAlive()) {
            process.descendants().forEach(ProcessHandle::destroyForcibly);
            process.destroyForcibly();
        }
    }

    /** Starts {@code bot} in a child JVM with the runner's JVM options (and jacoco, when this JVM has it). */
    private Process spawnBot(HiveLayout hive, String botId, int port) throws Exception {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(Profile.DEFAULT_RUNNER_JVM_OPTIONS);
        ManagementFactory.getRuntimeMXBean().getInputArguments().stream()
                .filter(a -> a.startsWith("-javaagent:") && a.contains("jacoco")).forEach(cmd::add);
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Main.class.getName(), "bot", "--id", botId,
                "--port", String.valueOf(port), "--hive", hive.root().toString(), "--stop-grace", "1"));
        Files.createDirectories(hive.botLogsDir());
        File log = hive.botLogFile(botId).toFile();
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log).start();
    }

    /** The hive's token, as a local script reads it: from the hive's token file. */
    private String bearer() {
        return HiveToken.loadOrCreate(new HiveLayout(dir.resolve(".deia"))).bearer();
    }

    private HttpResponse<String> get(int port, String path) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                .header("Authorization", bearer())
                .timeout(Duration.ofSeconds(10)).GET().build(), HttpResponse.BodyHandlers.ofString());
    }

    private HttpResponse<String> post(int port, String path, String body) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                .header("Authorization", bearer()).header("Content-Type", "application/json")
                .timeout(Duration.ofSeconds(30)).POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    /** Our runner answers: other bots on this shared machine may hold a port for a moment too. */
    private boolean healthy(int port) {
        try {
            HttpResponse<String> r = get(port, "/health");
            return r.statusCode() == 200 && Json.read(r.body(), JsonNode.class, "health").path("pid").asLong() == process.pid();
        } catch (Exception e) {
            return false;
        }
    }

    private record Bot(HiveLayout hive, JsonFileServiceRegistry registry, int port) {
    }

    private Bot launch(String botId) throws Exception {
        HiveLayout hive = new HiveLayout(dir.resolve(".deia"));
        JsonFileServiceRegistry registry = new JsonFileServiceRegistry(hive, DeiaConfig.of(null));
        // As the launcher does: reserve the entry and its port, then spawn the runner on it.
        int port = registry.reserve(botId, "echo", "command").port();
        process = spawnBot(hive, botId, port);
        await().atMost(Duration.ofSeconds(60)).until(() -> healthy(port) || !process.isAlive());
        assertTrue(process.isAlive(), () -> "runner died: " + readLog(hive, botId));
        return new Bot(hive, registry, port);
    }

    private static String readLog(HiveLayout hive, String botId) {
        try {
            return Files.readString(hive.botLogFile(botId));
        } catch (Exception e) {
            return "(no log: " + e + ")";
        }
    }

    @Test
    void runnerServesRepliesAndStopsWithExitZero() throws Exception {
        Bot bot = launch("BOT-001");
        JsonNode health = Json.read(get(bot.port, "/health").body(), JsonNode.class, "health");
        assertEquals("BOT-001", health.path("bot_id").asText());
        assertEquals(process.pid(), health.path("pid").asLong());

        JsonNode status = Json.read(get(bot.port, "/status").body(), JsonNode.class, "status");
        assertEquals("idle", status.path("state").asText());
        assertEquals("echo", status.path("profile").asText());
        assertEquals(bot.port, status.path("port").asInt());

        // Started by hand in a hive without a token, the runner made one (0600) and obeys only it;
        // it never got the token on its command line or in its environment.
        String token = HiveToken.loadOrCreate(bot.hive).reveal();
        assertEquals("rw-------", java.nio.file.attribute.PosixFilePermissions.toString(
                Files.getPosixFilePermissions(bot.hive.tokenFile())));
        HttpResponse<String> noToken = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + bot.port + "/status"))
                .timeout(Duration.ofSeconds(10)).GET().build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(401, noToken.statusCode(), noToken.body());
        String argv = Files.readString(Path.of("/proc/" + process.pid() + "/cmdline"),
                java.nio.charset.StandardCharsets.ISO_8859_1);
        assertTrue(argv.contains("BOT-001") && !argv.contains(token), "argv carries no token");
        assertTrue(!Files.readString(Path.of("/proc/" + process.pid() + "/environ"),
                java.nio.charset.StandardCharsets.ISO_8859_1).contains(token), "environment carries no token");

        BotRecord record = bot.registry.get("BOT-001").orElseThrow();
        assertEquals(process.pid(), record.pid());
        assertEquals(bot.port, record.port());

        HttpResponse<String> reply = post(bot.port, "/message", "{\"text\":\"hello from the test\"}");
        assertEquals(200, reply.statusCode(), reply.body());
        assertEquals("hello from the test", Json.read(reply.body(), JsonNode.class, "reply").path("reply").asText());

        assertEquals(202, post(bot.port, "/stop", "").statusCode());
        assertTrue(process.waitFor(30, TimeUnit.SECONDS), "runner exits after /stop");
        assertEquals(0, process.exitValue(), readLog(bot.hive, "BOT-001"));
        assertTrue(bot.registry.get("BOT-001").isEmpty(), "deregistered");
        String log = readLog(bot.hive, "BOT-001");
        assertTrue(log.contains("[BOT-001] bot runner up"), log);
        assertTrue(log.contains("[BOT-001] stopped and deregistered"), log);
        assertTrue(log.contains("[BOT-001] bot runner exiting with 0"), log);
    }

    @Test
    void sigtermStopsGracefullyWithExitZero() throws Exception {
        Bot bot = launch("BOT-002");
        process.destroy();
        assertTrue(process.waitFor(30, TimeUnit.SECONDS), "runner exits on SIGTERM");
        assertEquals(0, process.exitValue(), readLog(bot.hive, "BOT-002"));
        assertTrue(bot.registry.get("BOT-002").isEmpty(), "deregistered");
        String log = readLog(bot.hive, "BOT-002");
        assertTrue(log.contains("[BOT-002] SIGTERM received"), log);
        assertTrue(log.contains("[BOT-002] stopped and deregistered"), log);
    }
}
