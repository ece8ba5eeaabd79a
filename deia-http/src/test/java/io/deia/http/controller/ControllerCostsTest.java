package io.deia.http.controller;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.HiveLayout;
import io.deia.core.chat.HistoryStore;
import io.deia.core.chat.MessageRouter;
import io.deia.core.config.DeiaConfig;
import io.deia.core.config.HiveSettings;
import io.deia.core.internal.io.Json;
import io.deia.core.internal.process.ProcessTrees;
import io.deia.core.launch.BotLauncher;
import io.deia.core.launch.RunnerCommand;
import io.deia.core.registry.BotRecord;
import io.deia.core.registry.JsonFileServiceRegistry;
import io.deia.core.task.FileTaskQueue;
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
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Costs and budgets over the controller, real HTTP and WebSockets against real runner processes:
 * {@code GET /api/costs}, the {@code cost} of {@code /api/bots} entries, an over-budget bot's chat
 * answered 402 {@code budget_exceeded} through {@code POST /api/bot/{id}/message} and the WebSocket,
 * and the attacks on the new endpoint.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ControllerCostsTest {
    /** A stand-in for the claude CLI's stream-json: every turn costs 0.25 USD more of the process's running total. */
    private static final String STAND_IN = """
            #!/bin/sh
            n=0
            while IFS= read -r line; do
              case "$line" in *'"type":"user"'*) ;; *) continue;; esac
              n=$((n+1))
              printf '{"type":"result","subtype":"success","is_error":false,"result":"paid %d","session_id":"s-%s","total_cost_usd":%d.%02d,"usage":{"input_tokens":100,"output_tokens":20}}\\n' "$n" "$$" $((n*25/100)) $((n*25%100))
            done
            """;

    private Path dir;
    private HiveLayout hive;
    private JsonFileServiceRegistry registry;
    private BotLauncher launcher;
    private MessageRouter router;
    private ControllerServer server;
    private String base;
    private String token;
    private final HttpClient http = HttpClient.newBuilder().followRedirects(HttpClient.Redirect.NEVER).build();

    @BeforeAll
    void start() throws Exception {
        dir = Files.createTempDirectory("deia-controller-costs-test");
        hive = new HiveLayout(dir.resolve(".deia"));
        Path script = dir.resolve("claude-stand-in.sh");
        Files.writeString(script, STAND_IN);
        Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwx------"));
        Map<String, Object> profiles = new LinkedHashMap<>();
        profiles.put("paid", Map.of("agent", "claude-code", "executable", script.toString(), "start_timeout_s", 60,
                "budget", Map.of("usd_total", 0.5)));
        profiles.put("free", Map.of("agent", "command", "executable", "/bin/cat", "start_timeout_s", 60));
        Map<String, Object> cfg = new LinkedHashMap<>();
        cfg.put("ports", Map.of("from", 25300, "to", 25399));
        cfg.put("max_body_bytes", 4096);
        cfg.put("budget", Map.of("usd_per_day", 20, "usd_total", 200));
        cfg.put("profiles", profiles);
        Path configFile = dir.resolve("deia.json");
        Files.writeString(configFile, Json.writePretty(cfg));
        DeiaConfig config = DeiaConfig.load(configFile);
        HiveSettings.of(config).publish(hive);
        registry = new JsonFileServiceRegistry(hive, config);
        launcher = BotLauncher.builder(hive, config, registry, RunnerCommand.currentJvm())
                .configFile(configFile).stopGrace(Duration.ofSeconds(3)).build();
        router = MessageRouter.builder(registry, new HistoryStore(hive), config).scanInterval(Duration.ofMillis(200)).build();
        router.start();
        server = ControllerServer.builder(hive, config, registry, launcher, new FileTaskQueue(hive, config), router)
                .port(0).build().start();
        base = server.baseUrl();
        token = server.token().reveal();
    }

    @AfterAll
    void stop() {
        if (launcher != null) {
            launcher.stopAll();
            launcher.close();
        }
        for (BotRecord r : registry.list()) {
            if (r.pid() > 0) {
                ProcessHandle.of(r.pid()).ifPresent(ProcessTrees::kill);
            }
        }
        if (server != null) {
            server.close();
        }
        if (router != null) {
            router.close();
            router.history().close();
        }
    }

    private HttpResponse<String> call(String method, String path, String body, String... headers) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(60))
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        boolean typed = false;
        boolean authorized = false;
        for (int i = 0; i + 1 < headers.length; i += 2) {
            typed |= headers[i].equalsIgnoreCase("Content-Type");
            authorized |= headers[i].equalsIgnoreCase("Authorization");
            if (headers[i + 1] != null) {
                b.header(headers[i], headers[i + 1]);
            }
        }
        if (body != null && !typed) {
            b.header("Content-Type", "application/json");
        }
        if (!authorized) {
            b.header("Authorization", "Bearer " + token);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    private static JsonNode json(HttpResponse<String> resp) {
        return Json.read(resp.body(), JsonNode.class, "response");
    }

    private JsonNode botEntry(String botId) throws Exception {
        for (JsonNode b : json(call("GET", "/api/bots", null)).path("bots")) {
            if (b.path("bot_id").asText().equals(botId)) {
                return b;
            }
        }
        throw new AssertionError("no " + botId + " in /api/bots");
    }

    @Test
    void spendIsListedPerBotProfileAndHiveAndAnOverBudgetBotAnswers402EverywhereItIsAsked() throws Exception {
        assertEquals(201, call("POST", "/api/bot/launch", "{\"bot_id\":\"BOT-PAID\",\"profile\":\"paid\"}").statusCode());
        assertEquals(201, call("POST", "/api/bot/launch", "{\"bot_id\":\"BOT-FREE\",\"profile\":\"free\"}").statusCode());
        for (String text : List.of("one", "two")) {
            HttpResponse<String> ok = call("POST", "/api/bot/BOT-PAID/message", "{\"text\":\"" + text + "\"}");
            assertEquals(200, ok.statusCode(), ok.body());
        }
        assertEquals(200, call("POST", "/api/bot/BOT-FREE/message", "{\"text\":\"hello\"}").statusCode());

        // The profile's budget (0.5 USD in all) is reached: the bot says so, and chat is refused honestly.
        await().atMost(Duration.ofSeconds(20)).until(() -> "over_budget".equals(botEntry("BOT-PAID").path("live").path("state").asText()));
        JsonNode live = botEntry("BOT-PAID").path("live");
        assertTrue(live.path("budget").path("over").asBoolean(), live.toString());
        assertTrue(live.path("budget").path("reason").asText().contains("profile"), live.toString());
        assertEquals(0.5, live.path("cost").path("total_usd").asDouble(), 1e-9);
        HttpResponse<String> refused = call("POST", "/api/bot/BOT-PAID/message", "{\"text\":\"three\"}");
        assertEquals(402, refused.statusCode(), refused.body());
        assertEquals("budget_exceeded", json(refused).path("error").path("code").asText());
        assertTrue(json(refused).path("error").path("message").asText().contains("budget"), refused.body());

        WsClient ws = WsClient.connect(base, null, token, "http://127.0.0.1:" + server.port());
        ws.send("{\"type\":\"message\",\"bot_id\":\"BOT-PAID\",\"text\":\"over the socket\",\"client_msg_id\":\"w1\"}");
        JsonNode error = ws.waitFor(e -> e.path("type").asText().equals("error") && e.path("client_msg_id").asText().equals("w1"));
        assertEquals("budget_exceeded", error.path("code").asText(), error.toString());
        ws.abort();

        JsonNode paid = botEntry("BOT-PAID").path("cost");
        assertEquals(0.5, paid.path("today_usd").asDouble(), 1e-9);
        assertEquals(0.5, paid.path("total_usd").asDouble(), 1e-9);
        assertEquals(200, paid.path("input_tokens").asLong());
        JsonNode free = botEntry("BOT-FREE").path("cost");
        assertEquals(1, free.path("unknown_cost_turns").asLong(), free.toString());
        assertEquals(0.0, free.path("total_usd").asDouble());

        HttpResponse<String> costs = call("GET", "/api/costs", null);
        assertEquals(200, costs.statusCode(), costs.body());
        JsonNode c = json(costs);
        assertEquals(0.5, c.path("today_usd").asDouble(), 1e-9);
        assertEquals(0.5, c.path("total_usd").asDouble(), 1e-9);
        assertEquals(1, c.path("unknown_cost_turns").asLong());
        assertEquals(20.0, c.path("budget").path("usd_per_day").asDouble());
        assertEquals(200.0, c.path("budget").path("usd_total").asDouble());
        assertEquals(0.5, c.path("bots").path("BOT-PAID").path("total_usd").asDouble(), 1e-9);
        assertEquals(1, c.path("bots").path("BOT-FREE").path("unknown_cost_turns").asLong());
        assertEquals(0.5, c.path("profiles").path("paid").path("budget").path("usd_total").asDouble());
        assertTrue(c.path("profiles").path("paid").path("budget").has("usd_per_day"), c.toString());
        assertTrue(c.path("profiles").path("free").has("budget") && c.path("profiles").path("free").path("budget").isNull(), c.toString());
        assertEquals(0.5, c.path("profiles").path("paid").path("total_usd").asDouble(), 1e-9);

        // A raised budget published by serve (what POST /api/config/reload does) lets the bot chat again.
        DeiaConfig raised = DeiaConfig.load(dir.resolve("deia.json"));
        HiveSettings s = HiveSettings.of(raised);
        Map<String, HiveSettings.ProfileSettings> p = new LinkedHashMap<>(s.profiles());
        p.put("paid", new HiveSettings.ProfileSettings(null, new io.deia.core.config.Budget(null, 5.0), null));
        new HiveSettings(s.maxConcurrentTurns(), s.budget(), p, s.webhookEvents(), null).publish(hive);
        await().atMost(Duration.ofSeconds(20)).until(() -> "idle".equals(botEntry("BOT-PAID").path("live").path("state").asText()));
        HttpResponse<String> again = call("POST", "/api/bot/BOT-PAID/message", "{\"text\":\"four\"}");
        assertEquals(200, again.statusCode(), again.body());
        assertEquals(5.0, json(call("GET", "/api/costs", null)).path("profiles").path("paid").path("budget").path("usd_total").asDouble());
    }

    @Test
    void theCostsEndpointRefusesMissingTokensForeignOriginsOtherMethodsAndTraversal() throws Exception {
        for (String t : new String[]{null, "Bearer wrong", "Bearer " + token + "x", "Bearer "}) {
            HttpResponse<String> resp = call("GET", "/api/costs", null, "Authorization", t);
            assertEquals(401, resp.statusCode(), t + ": " + resp.body());
            assertEquals("unauthorized", json(resp).path("error").path("code").asText());
        }
        for (String origin : List.of("http://evil.example", "http://127.0.0.1:" + (server.port() + 1), "null")) {
            HttpResponse<String> resp = call("GET", "/api/costs", null, "Origin", origin);
            assertEquals(403, resp.statusCode(), origin + ": " + resp.body());
            assertEquals("forbidden", json(resp).path("error").path("code").asText());
        }
        assertEquals(403, call("GET", "/api/costs", null, "Sec-Fetch-Site", "cross-site").statusCode());
        assertEquals(405, call("POST", "/api/costs", "{}").statusCode(), "read only");
        assertEquals(415, call("POST", "/api/costs", "x", "Content-Type", "text/plain").statusCode());
        String big = rawExchange("POST /api/costs HTTP/1.1\r\nHost: 127.0.0.1:" + server.port()
                + "\r\nAuthorization: Bearer " + token + "\r\nContent-Type: application/json\r\nContent-Length: 5000"
                + "\r\nConnection: close\r\n\r\n");
        assertTrue(big.startsWith("HTTP/1.1 413") || big.startsWith("HTTP/1.1 405"), big);
        for (String path : List.of("/api/costs/..%2F..%2Ftoken", "/api/costs%2F..%2Fbots", "/api/costs/BOT-PAID", "/api/costs/../token")) {
            HttpResponse<String> resp = call("GET", path, null);
            assertTrue(resp.statusCode() == 400 || resp.statusCode() == 404, path + " -> " + resp.statusCode() + " " + resp.body());
            assertFalse(resp.body().contains(token), "the token never leaks");
        }
    }

    private String rawExchange(String request) throws Exception {
        try (Socket socket = new Socket("127.0.0.1", server.port())) {
            socket.setSoTimeout(30_000);
            socket.getOutputStream().write(request.getBytes(StandardCharsets.US_ASCII));
            socket.getOutputStream().flush();
            return new String(socket.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        }
    }
}
