package io.deia.server;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.HiveLayout;
import io.deia.core.config.DeiaConfig;
import io.deia.core.internal.io.Json;
import io.deia.core.internal.process.ProcessTrees;
import io.deia.core.task.FileTaskQueue;
import io.deia.core.task.TaskResponse;
import io.deia.core.task.TaskStatus;
import io.deia.server.dashboard.ServeProcess;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The front door, as the README runs it: {@code serve --demo} with no config file and no API key
 * must leave two live, registered bots that each processed their sample task (the original DEIA
 * fire drill "Launch 2 test bots"), visible through the controller too.
 */
class DemoPathTest {
    private static final List<String> DEMO_BOTS = List.of("BOT-001", "BOT-002");

    @TempDir
    Path dir;

    @Test
    void serveDemoRunsTwoLiveBotsThatEachCompleteTheirSampleTask() throws Exception {
        Path hiveDir = dir.resolve(".deia");
        HiveLayout hive = new HiveLayout(hiveDir);
        FileTaskQueue tasks = new FileTaskQueue(hive, DeiaConfig.of(Map.of()));
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
        try (ServeProcess serve = new ServeProcess(hiveDir, null, dir.resolve("serve.log"), "--demo")) {
            serve.start();
            String serveOutput = Files.readString(dir.resolve("serve.log.1"), StandardCharsets.UTF_8);

            JsonNode registry = Json.read(Files.readString(hive.registryFile(), StandardCharsets.UTF_8), JsonNode.class, "registry.json");
            for (String bot : DEMO_BOTS) {
                assertTrue(serveOutput.contains("demo: launched " + bot), serveOutput);
                JsonNode entry = registry.path("bots").path(bot);
                long pid = entry.path("pid").asLong();
                int port = entry.path("port").asInt();
                assertEquals("demo", entry.path("profile").asText(), entry.toString());
                assertTrue(pid > 0 && port > 0, entry.toString());
                assertTrue(ProcessTrees.isSameProcessAlive(pid, Instant.parse(entry.path("process_start").asText())),
                        bot + " is registered with a live process");

                HttpResponse<String> health = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/health"))
                        .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString());
                assertEquals(200, health.statusCode());
                assertEquals(bot, Json.read(health.body(), JsonNode.class, "health").path("bot_id").asText());

                await(bot + " completes its sample task").atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(200))
                        .until(() -> tasks.responses(bot, 10).stream().anyMatch(r -> r.status() == TaskStatus.COMPLETED));
                TaskResponse response = tasks.responses(bot, 10).get(0);
                assertTrue(response.output().contains("offline demo agent") || response.output().contains("wrote"), response.output());
                assertTrue(Files.exists(hive.responsesDir(bot).resolve(response.taskId() + ".response.md")));
                assertTrue(Files.exists(hive.archiveDir(bot).resolve(response.taskId() + ".md")));
                assertTrue(tasks.pending(bot).isEmpty());

                JsonNode status = Json.read(http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/status"))
                        .header("Authorization", io.deia.core.HiveToken.loadOrCreate(hive).bearer())
                        .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString()).body(), JsonNode.class, "status");
                assertEquals(bot, status.path("bot_id").asText());
                assertEquals(1, status.path("tasks_completed").asInt(), status.toString());
                assertEquals(pid, status.path("pid").asLong());

                String log = Files.readString(hive.botLogFile(bot), StandardCharsets.UTF_8);
                assertTrue(log.contains("[" + bot + "]"), "the bot's log names it: " + log);
            }
            assertTrue(Files.readString(hive.workspaceDir("BOT-002").resolve("hello.txt"), StandardCharsets.UTF_8)
                    .contains("Hello from the deia demo"));

            JsonNode bots = Json.read(serve.get("/api/bots", true).body(), JsonNode.class, "api/bots").path("bots");
            assertEquals(2, bots.size(), bots.toString());
            for (JsonNode b : bots) {
                assertFalse(b.path("live").isNull(), "the controller shows live status: " + b);
            }
            serve.stopBots(DEMO_BOTS);
        }
        assertHiveIsPrivate(hiveDir);
    }

    /** After a demo run under umask 022 nothing in the hive is readable by others: folders 0700, files 0600. */
    private static void assertHiveIsPrivate(Path hiveDir) throws Exception {
        List<String> wrong = new java.util.ArrayList<>();
        List<String> seen = new java.util.ArrayList<>();
        int files = 0;
        try (java.util.stream.Stream<Path> all = Files.walk(hiveDir)) {
            for (Path p : (Iterable<Path>) all::iterator) {
                boolean folder = Files.isDirectory(p, java.nio.file.LinkOption.NOFOLLOW_LINKS);
                files += folder ? 0 : 1;
                seen.add(hiveDir.relativize(p).toString());
                String mode = java.nio.file.attribute.PosixFilePermissions.toString(
                        Files.getPosixFilePermissions(p, java.nio.file.LinkOption.NOFOLLOW_LINKS));
                if (!mode.equals(folder ? "rwx------" : "rw-------")) {
                    wrong.add(hiveDir.relativize(p) + " " + mode);
                }
            }
        }
        assertTrue(files >= 8, "the demo wrote its registry, tasks, responses, logs, token: " + seen);
        assertEquals(List.of(), wrong, "every folder 0700 and every file 0600");
    }
}
