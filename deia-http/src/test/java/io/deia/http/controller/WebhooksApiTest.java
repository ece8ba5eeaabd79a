package io.deia.http.controller;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.HiveLayout;
import io.deia.core.chat.HistoryStore;
import io.deia.core.chat.MessageRouter;
import io.deia.core.config.DeiaConfig;
import io.deia.core.config.HiveSettings;
import io.deia.core.config.Webhook;
import io.deia.core.internal.io.Json;
import io.deia.core.launch.BotLauncher;
import io.deia.core.launch.RunnerCommand;
import io.deia.core.registry.JsonFileServiceRegistry;
import io.deia.core.task.FileTaskQueue;
import io.deia.core.testkit.WebhookReceiver;
import io.deia.core.webhook.DispatcherOptions;
import io.deia.core.webhook.RetrySchedule;
import io.deia.core.webhook.WebhookEvent;
import io.deia.core.webhook.WebhookOutbox;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code GET /api/webhooks} over real HTTP: the figures and the dead deliveries of a dispatcher
 * delivering to a real receiver (one webhook answers 200, one 410 with a zero retry window), and the
 * attacks every endpoint must refuse.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class WebhooksApiTest {
    private Path dir;
    private HiveLayout hive;
    private BotLauncher launcher;
    private MessageRouter router;
    private ControllerServer server;
    private WebhookReceiver ok;
    private WebhookReceiver gone;
    private DeiaConfig config;
    private String token;
    private final HttpClient http = HttpClient.newBuilder().followRedirects(HttpClient.Redirect.NEVER).build();

    @BeforeAll
    void start() throws Exception {
        dir = Files.createTempDirectory("deia-webhooks-api-test");
        hive = new HiveLayout(dir.resolve(".deia"));
        ok = WebhookReceiver.start();
        gone = WebhookReceiver.start().status(410);
        config = DeiaConfig.builder().maxBodyBytes(4096).webhooks(List.of(
                new Webhook(ok.url("/ok"), null, null),
                new Webhook(gone.url("/gone?key=secret-in-url"), List.of("bot.failed"), null))).build();
        JsonFileServiceRegistry registry = new JsonFileServiceRegistry(hive, config);
        launcher = BotLauncher.builder(hive, config, registry, RunnerCommand.currentJvm()).build();
        router = MessageRouter.builder(registry, new HistoryStore(hive), config).build();
        router.start();
        server = ControllerServer.builder(hive, config, registry, launcher, new FileTaskQueue(hive, config), router)
                .port(0).webhookOptions(DispatcherOptions.builder().rescanEvery(Duration.ofMillis(200))
                        .retry(new RetrySchedule(Duration.ofMillis(50), Duration.ofMillis(100), Duration.ZERO, () -> 0.5))
                        .build()).build().start();
        token = server.token().reveal();
    }

    @AfterAll
    void stop() {
        server.close();
        router.close();
        router.history().close();
        launcher.close();
        ok.close();
        gone.close();
    }

    private HttpResponse<String> get(String path, String... headers) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(server.baseUrl() + path)).timeout(Duration.ofSeconds(30));
        boolean authorized = false;
        for (int i = 0; i + 1 < headers.length; i += 2) {
            authorized |= headers[i].equalsIgnoreCase("Authorization");
            if (headers[i + 1] != null) {
                b.header(headers[i], headers[i + 1]);
            }
        }
        if (!authorized) {
            b.header("Authorization", "Bearer " + token);
        }
        return http.send(b.GET().build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void listsFiguresAndDeadDeliveries() throws Exception {
        WebhookOutbox outbox = new WebhookOutbox(hive, () -> HiveSettings.of(config));
        WebhookEvent done = outbox.publish("task.completed", "BOT-001", Map.of("task_id", "T-1", "status", "completed"));
        WebhookEvent dead = outbox.publish("bot.failed", "BOT-002", Map.of("reason", "exited 5 times"));
        await().atMost(Duration.ofSeconds(15)).until(() -> {
            JsonNode body = Json.read(get("/api/webhooks").body(), JsonNode.class, "webhooks");
            return body.path("delivered_total").asLong() == 2 && body.path("dead").size() == 1 && body.path("pending").asLong() == 0;
        });
        HttpResponse<String> resp = get("/api/webhooks");
        assertEquals(200, resp.statusCode());
        JsonNode body = Json.read(resp.body(), JsonNode.class, "webhooks");
        assertEquals(1, body.path("failed_total").asLong());
        assertEquals(1, body.path("dead_total").asLong());
        JsonNode d = body.path("dead").get(0);
        assertEquals(dead.id(), d.path("id").asText());
        assertEquals("bot.failed", d.path("type").asText());
        assertEquals("BOT-002", d.path("bot_id").asText());
        assertEquals(gone.url("/gone?key=secret-in-url"), d.path("url").asText());
        assertEquals(1, d.path("attempts").asInt());
        assertEquals("HTTP 410", d.path("last_error").asText());
        assertTrue(d.hasNonNull("first_at") && d.hasNonNull("dead_at"), resp.body());
        assertEquals(1, ok.countsByEventId().get(done.id()));
        assertEquals(1, ok.countsByEventId().get(dead.id()));
        assertEquals(0, server.webhooks().stats().pending());

        assertEquals(1, Json.read(get("/api/webhooks?limit=1").body(), JsonNode.class, "w").path("dead").size());
        for (String bad : List.of("0", "1001", "x", "-1")) {
            HttpResponse<String> r = get("/api/webhooks?limit=" + bad);
            assertEquals(400, r.statusCode(), bad + ": " + r.body());
        }
    }

    @Test
    void refusesMissingTokensForeignOriginsOtherMethodsTraversalAndOversize() throws Exception {
        for (String t : new String[]{null, "Bearer wrong", "Bearer " + token + "x", "Bearer "}) {
            HttpResponse<String> r = get("/api/webhooks", "Authorization", t);
            assertEquals(401, r.statusCode(), t + ": " + r.body());
            assertEquals("unauthorized", Json.read(r.body(), JsonNode.class, "e").path("error").path("code").asText());
        }
        for (String origin : List.of("http://evil.example", "http://127.0.0.1:" + (server.port() + 1), "null")) {
            assertEquals(403, get("/api/webhooks", "Origin", origin).statusCode(), origin);
        }
        assertEquals(403, get("/api/webhooks", "Sec-Fetch-Site", "cross-site").statusCode());
        HttpResponse<String> post = http.send(HttpRequest.newBuilder(URI.create(server.baseUrl() + "/api/webhooks"))
                .header("Authorization", "Bearer " + token).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{}")).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(405, post.statusCode(), post.body());
        HttpResponse<String> form = http.send(HttpRequest.newBuilder(URI.create(server.baseUrl() + "/api/webhooks"))
                .header("Authorization", "Bearer " + token).header("Content-Type", "text/plain")
                .POST(HttpRequest.BodyPublishers.ofString("x")).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(415, form.statusCode(), form.body());
        for (String path : List.of("/api/webhooks/..%2F..%2Fdead", "/api/webhooks%2F..%2Fbots", "/api/webhooks/dead/x")) {
            HttpResponse<String> r = get(path);
            assertTrue(r.statusCode() == 400 || r.statusCode() == 404, path + " -> " + r.statusCode());
        }
        String big;
        try (Socket socket = new Socket("127.0.0.1", server.port())) {
            socket.setSoTimeout(30_000);
            socket.getOutputStream().write(("POST /api/webhooks HTTP/1.1\r\nHost: 127.0.0.1:" + server.port()
                    + "\r\nAuthorization: Bearer " + token + "\r\nContent-Type: application/json\r\nContent-Length: 5000"
                    + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            big = new String(socket.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        }
        // The endpoint reads no body: an oversize one is refused before it is read (405 for POST).
        assertTrue(big.startsWith("HTTP/1.1 405") || big.startsWith("HTTP/1.1 413"), big);
    }
}
