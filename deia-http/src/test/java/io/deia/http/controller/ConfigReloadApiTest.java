package io.deia.http.controller;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.HiveLayout;
import io.deia.core.chat.HistoryStore;
import io.deia.core.chat.MessageRouter;
import io.deia.core.config.DeiaConfig;
import io.deia.core.config.HiveSettings;
import io.deia.core.config.LiveConfig;
import io.deia.core.internal.io.Json;
import io.deia.core.launch.BotLauncher;
import io.deia.core.launch.RunnerCommand;
import io.deia.core.registry.BotRecord;
import io.deia.core.registry.BotState;
import io.deia.core.registry.JsonFileServiceRegistry;
import io.deia.core.schedule.SlotLease;
import io.deia.core.schedule.TurnOrder;
import io.deia.core.schedule.TurnSlots;
import io.deia.core.task.FileTaskQueue;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code POST /api/config/reload} over real HTTP: a good file is read and published, a bad one is
 * refused with 422 naming the file and the field and changes nothing; the attacks every endpoint must
 * refuse; and {@code queue_position} in {@code GET /api/bots} from the hive's waiting line.
 */
class ConfigReloadApiTest {
    private static final String PROFILES = "\"profiles\": {\"echo\": {\"agent\": \"command\", \"executable\": \"/bin/cat\"}}";

    @TempDir
    Path dir;

    private HiveLayout hive;
    private Path configFile;
    private LiveConfig live;
    private JsonFileServiceRegistry registry;
    private BotLauncher launcher;
    private MessageRouter router;
    private ControllerServer server;
    private String token;
    private final List<SlotLease> leases = new ArrayList<>();
    private final HttpClient http = HttpClient.newBuilder().followRedirects(HttpClient.Redirect.NEVER).build();

    private void start(boolean withFile) throws Exception {
        hive = new HiveLayout(dir.resolve(".deia"));
        configFile = dir.resolve("deia.json");
        writeConfig("{\"max_concurrent_turns\": 1, \"max_body_bytes\": 4096, " + PROFILES + "}");
        DeiaConfig config = DeiaConfig.load(configFile);
        live = new LiveConfig(hive, withFile ? configFile : null, config);
        live.publish();
        registry = new JsonFileServiceRegistry(hive, config);
        launcher = BotLauncher.builder(hive, config, registry, RunnerCommand.currentJvm()).build();
        router = MessageRouter.builder(registry, new HistoryStore(hive), config).build();
        router.start();
        server = ControllerServer.builder(hive, config, registry, launcher, new FileTaskQueue(hive, config), router)
                .port(0).maxThreads(20).liveConfig(live).build().start();
        token = server.token().reveal();
    }

    private void writeConfig(String json) throws Exception {
        Files.writeString(configFile, json);
        Files.setPosixFilePermissions(configFile, PosixFilePermissions.fromString("rw-------"));
    }

    @AfterEach
    void stop() {
        leases.forEach(SlotLease::close);
        if (server != null) {
            server.close();
        }
        if (router != null) {
            router.close();
            router.history().close();
        }
        if (launcher != null) {
            launcher.close();
        }
    }

    private HttpResponse<String> call(String method, String path, String body, String... headers) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(server.baseUrl() + path)).timeout(Duration.ofSeconds(30))
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        List<String> h = List.of(headers);
        if (!h.contains("Authorization")) {
            b.header("Authorization", "Bearer " + token);
        }
        if (body != null && !h.contains("Content-Type")) {
            b.header("Content-Type", "application/json");
        }
        for (int i = 0; i + 1 < h.size(); i += 2) {
            b.header(h.get(i), h.get(i + 1));
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
    }

    private static JsonNode json(HttpResponse<String> r) {
        return Json.read(r.body(), JsonNode.class, "response");
    }

    @Test
    void aGoodFileIsReadAndItsSettingsPublished() throws Exception {
        start(true);
        assertEquals(1, HiveSettings.read(hive).orElseThrow().maxConcurrentTurns(), "published at start");
        writeConfig("{\"max_concurrent_turns\": 3, \"max_body_bytes\": 4096, \"profiles\": {\"echo\": {\"agent\": \"command\","
                + " \"executable\": \"/bin/cat\", \"max_concurrent\": 2}}}");

        HttpResponse<String> r = call("POST", "/api/config/reload", "{}");

        assertEquals(200, r.statusCode(), r.body());
        JsonNode body = json(r);
        assertTrue(body.get("reloaded").asBoolean());
        assertEquals(3, body.get("settings").get("max_concurrent_turns").asInt());
        assertEquals(2, body.get("settings").get("profiles").get("echo").get("max_concurrent").asInt());
        assertTrue(body.get("settings").hasNonNull("published_at"));
        assertEquals(3, HiveSettings.read(hive).orElseThrow().maxConcurrentTurns());
        assertEquals(3, live.get().maxConcurrentTurns());
        // No body at all is a reload too.
        assertEquals(200, call("POST", "/api/config/reload", null).statusCode());
    }

    @Test
    void aBadFileIsRefusedWith422NamingFileAndFieldAndChangesNothing() throws Exception {
        start(true);
        HiveSettings before = HiveSettings.read(hive).orElseThrow();
        writeConfig("{\"max_concurrent_turns\": 0, " + PROFILES + "}");

        HttpResponse<String> r = call("POST", "/api/config/reload", "{}");

        assertEquals(422, r.statusCode(), r.body());
        JsonNode error = json(r).get("error");
        assertEquals("unprocessable", error.get("code").asText());
        String message = error.get("message").asText();
        assertTrue(message.contains("deia.json") && message.contains("max_concurrent_turns"), message);
        assertEquals(before, HiveSettings.read(hive).orElseThrow(), "nothing published");
        assertEquals(1, live.get().maxConcurrentTurns(), "the config in force is kept");

        writeConfig("{\"max_concurrent_turns\": ");
        HttpResponse<String> broken = call("POST", "/api/config/reload", "{}");
        assertEquals(422, broken.statusCode(), broken.body());
        assertTrue(json(broken).get("error").get("message").asText().contains("deia.json"), broken.body());
        assertEquals(before, HiveSettings.read(hive).orElseThrow());
    }

    @Test
    void withoutAConfigFileAReloadSaysSo() throws Exception {
        start(false);
        HttpResponse<String> r = call("POST", "/api/config/reload", "{}");
        assertEquals(422, r.statusCode(), r.body());
        assertTrue(r.body().contains("no config file"), r.body());
    }

    @Test
    void attacksAreRefused() throws Exception {
        start(true);
        String path = "/api/config/reload";
        assertEquals(401, call("POST", path, "{}", "Authorization", "Bearer wrong").statusCode());
        assertEquals(403, call("POST", path, "{}", "Origin", "http://evil.example").statusCode());
        assertEquals(415, call("POST", path, "{}", "Content-Type", "text/plain").statusCode());
        assertEquals(415, call("POST", path, "a=b", "Content-Type", "application/x-www-form-urlencoded").statusCode());
        assertEquals(413, call("POST", path, "{\"pad\":\"" + "x".repeat(10_000) + "\"}").statusCode());
        assertEquals(400, call("POST", path, "[1]").statusCode());
        assertEquals(405, call("GET", path, null).statusCode());
        HttpResponse<String> traversal = call("POST", "/api/config/reload/..%2F..%2Ftoken", "{}");
        assertEquals(400, traversal.statusCode(), traversal.body());
        assertFalse(traversal.body().contains(token));
        assertEquals(404, call("POST", "/api/config/reload/extra", "{}").statusCode());
    }

    @Test
    void botsListTheirPlaceInTheLine() throws Exception {
        start(true);
        registry.register(BotRecord.builder("BOT-Q").registeredAt(Instant.now()).state(BotState.QUEUED).profile("echo").build());
        leases.add(new TurnSlots(hive, "HOLDER", "echo", () -> HiveSettings.read(hive).orElseThrow())
                .acquire(TurnOrder.chat(Instant.now()), null, () -> false, () -> { }));
        TurnSlots queued = new TurnSlots(hive, "BOT-Q", "echo", () -> HiveSettings.read(hive).orElseThrow());
        CompletableFuture<SlotLease> waiting = CompletableFuture.supplyAsync(() -> {
            try {
                return queued.acquire(TurnOrder.chat(Instant.now()), null, () -> false, () -> { });
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        await().atMost(Duration.ofSeconds(5)).until(() -> queued.queuePosition() != null);

        JsonNode bots = json(call("GET", "/api/bots", null)).get("bots");

        assertEquals(1, bots.size());
        assertEquals("queued", bots.get(0).get("state").asText());
        assertEquals(1, bots.get(0).get("queue_position").asInt());
        leases.forEach(SlotLease::close);
        leases.add(waiting.join());
        assertFalse(json(call("GET", "/api/bots", null)).get("bots").get(0).has("queue_position"));
    }
}
