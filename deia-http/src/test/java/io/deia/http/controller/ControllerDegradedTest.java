package io.deia.http.controller;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.HiveLayout;
import io.deia.core.chat.HistoryStore;
import io.deia.core.chat.MessageRouter;
import io.deia.core.config.DeiaConfig;
import io.deia.core.internal.io.Json;
import io.deia.core.launch.BotLauncher;
import io.deia.core.launch.RunnerCommand;
import io.deia.core.registry.JsonFileServiceRegistry;
import io.deia.core.task.FileTaskQueue;
import io.deia.core.task.TaskResponse;
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

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A real runner process whose task responses cannot be written shows {@code degraded}, with the
 * reason, in the controller's {@code GET /api/bots}, and recovers by itself once they can.
 */
class ControllerDegradedTest {
    private static final String CONFIG = """
            {"ports": {"from": 8600, "to": 8699},
             "profiles": {"echo": {"agent": "command", "executable": "/usr/bin/cat", "start_timeout_s": 60}}}
            """;

    @TempDir
    Path dir;

    private BotLauncher launcher;
    private MessageRouter router;
    private ControllerServer server;
    private final HttpClient http = HttpClient.newHttpClient();

    @AfterEach
    void stop() {
        if (launcher != null) {
            launcher.stopAll();
            launcher.close();
        }
        if (server != null) {
            server.close();
        }
        if (router != null) {
            router.close();
            router.history().close();
        }
    }

    @Test
    void aBotThatCannotWriteResponsesIsDegradedInApiBotsUntilItCan() throws Exception {
        HiveLayout hive = new HiveLayout(dir.resolve(".deia"));
        Path configFile = dir.resolve("deia.json");
        Files.writeString(configFile, CONFIG);
        DeiaConfig config = DeiaConfig.load(configFile);
        JsonFileServiceRegistry registry = new JsonFileServiceRegistry(hive, config);
        launcher = BotLauncher.builder(hive, config, registry, RunnerCommand.currentJvm())
                .configFile(configFile).stopGrace(Duration.ofSeconds(3)).build();
        router = MessageRouter.builder(registry, new HistoryStore(hive), config).build();
        router.start();
        FileTaskQueue queue = new FileTaskQueue(hive, config);
        server = ControllerServer.builder(hive, config, registry, launcher, queue, router).port(0).build().start();
        String token = server.token().reveal();

        assertEquals(201, call("POST", "/api/bot/launch", "{\"bot_id\":\"BOT-D\",\"profile\":\"echo\"}", token).statusCode());
        Path responses = hive.responsesDir("BOT-D");
        await().atMost(Duration.ofSeconds(30)).until(() -> Files.isDirectory(responses));
        Path aside = dir.resolve("responses-aside");
        Files.move(responses, aside);
        Files.writeString(responses, "in the way");
        assertEquals(201, call("POST", "/api/bot/BOT-D/tasks", "---\ntask_id: T-D1\n---\nhello\n", token).statusCode());

        await().atMost(Duration.ofSeconds(60)).until(() -> "degraded".equals(live(token).path("state").asText()));
        JsonNode degraded = live(token);
        assertTrue(degraded.path("degraded").asText().contains("cannot write task responses"), degraded.toString());
        assertEquals(1, degraded.path("queue_depth").asInt(), "the kept task is still pending: " + degraded);

        Files.delete(responses);
        Files.move(aside, responses);
        await().atMost(Duration.ofSeconds(60)).until(() -> "idle".equals(live(token).path("state").asText()));
        assertTrue(live(token).path("degraded").isNull(), live(token).toString());
        TaskResponse r = queue.response("BOT-D", "T-D1").orElseThrow();
        assertEquals(1, r.attempt());
        assertEquals("hello", r.output().strip());
    }

    private JsonNode live(String token) throws Exception {
        HttpResponse<String> bots = call("GET", "/api/bots", null, token);
        assertEquals(200, bots.statusCode(), bots.body());
        for (JsonNode b : Json.read(bots.body(), JsonNode.class, "response").path("bots")) {
            if (b.path("bot_id").asText().equals("BOT-D")) {
                return b.path("live");
            }
        }
        throw new AssertionError("BOT-D not listed: " + bots.body());
    }

    private HttpResponse<String> call(String method, String path, String body, String token) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(server.baseUrl() + path)).timeout(Duration.ofSeconds(90))
                .header("Authorization", "Bearer " + token)
                .header("Content-Type", path.endsWith("/tasks") ? "text/markdown" : "application/json")
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }
}
