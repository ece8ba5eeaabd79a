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
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.WebSocketHandshakeException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.stream.Collectors;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The controller end to end: real HTTP and a real WebSocket client against a {@link ControllerServer}
 * whose bots are real runner processes started by the real {@link BotLauncher}, each running a
 * {@code command} agent ({@code cat} echoes, {@code tr a-z A-Z} shouts, a shell loop streams slowly).
 * One controller for the class, with one resident echo bot ({@code BOT-R}) started before the
 * tests for those that need a running bot to aim at (no test stops it); each test launches any other
 * bot it needs, and none relies on what another test did, so they run in any order.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ControllerServerTest {

    private static final String CONFIG = """
            {"ports": {"from": 8400, "to": 8599}, "max_task_bytes": 32768, "max_body_bytes": 65536, "max_message_bytes": 4096,
             "profiles": {
               "echo":  {"agent": "command", "executable": "/usr/bin/cat", "start_timeout_s": 60},
               "upper": {"agent": "command", "executable": "/usr/bin/tr", "args": ["a-z", "A-Z"], "start_timeout_s": 60},
               "slow":  {"agent": "command", "executable": "/usr/bin/sh",
                         "args": ["-c", "for i in 1 2 3 4 5 6 7 8; do echo line$i; sleep 0.25; done"], "start_timeout_s": 60}
             }}
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
        dir = Files.createTempDirectory("deia-controller-test");
        hive = new HiveLayout(dir.resolve(".deia"));
        Path configFile = dir.resolve("deia.json");
        Files.writeString(configFile, CONFIG);
        DeiaConfig config = DeiaConfig.load(configFile);
        registry = new JsonFileServiceRegistry(hive, config);
        launcher = BotLauncher.builder(hive, config, registry, RunnerCommand.currentJvm())
                .configFile(configFile).stopGrace(Duration.ofSeconds(3)).build();
        router = MessageRouter.builder(registry, new HistoryStore(hive), config).scanInterval(Duration.ofMillis(200))
                .maxPendingPerBot(16).maxBackoff(Duration.ofSeconds(1)).build();
        router.start();
        server = ControllerServer.builder(hive, config, registry, launcher, new FileTaskQueue(hive, config), router)
                .port(0).replayBuffer(500).pingInterval(Duration.ofSeconds(1)).idleTimeout(Duration.ofSeconds(5))
                .build().start();
        base = server.baseUrl();
        token = server.token().reveal();
        HttpResponse<String> resident = call("POST", "/api/bot/launch",
                "{\"bot_id\":\"BOT-R\",\"profile\":\"echo\"}");
        assertEquals(201, resident.statusCode(), resident.body());
    }

    @AfterAll
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

    private HttpResponse<String> call(String method, String path, String body, String tokenToUse) throws Exception {
        return call(method, path, body, tokenToUse, body == null ? null : "application/json");
    }

    private HttpResponse<String> call(String method, String path, String body, String tokenToUse, String contentType)
            throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(90))
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        if (contentType != null) {
            b.header("Content-Type", contentType);
        }
        if (tokenToUse != null) {
            b.header("Authorization", "Bearer " + tokenToUse);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    private HttpResponse<String> call(String method, String path, String body) throws Exception {
        return call(method, path, body, token);
    }

    private static JsonNode json(HttpResponse<String> resp) {
        return Json.read(resp.body(), JsonNode.class, "response");
    }

    private String origin() {
        return "http://127.0.0.1:" + server.port();
    }

    @Test
    void launchesTwoBotsChatsWithEachOverOneSocketRunsATaskAndStopsOne() throws Exception {
        HttpResponse<String> a = call("POST", "/api/bot/launch", "{\"bot_id\":\"BOT-A\",\"profile\":\"echo\"}");
        assertEquals(201, a.statusCode(), a.body());
        assertTrue(json(a).path("pid").asLong() > 0);
        assertEquals("BOT-A", json(a).path("live").path("bot_id").asText(), a.body());
        HttpResponse<String> b = call("POST", "/api/bot/launch", "{\"bot_id\":\"BOT-B\",\"profile\":\"upper\"}");
        assertEquals(201, b.statusCode(), b.body());

        WsClient ws = WsClient.connect(base, null, token, origin());
        ws.send("{\"type\":\"message\",\"bot_id\":\"BOT-A\",\"text\":\"hello from a\",\"client_msg_id\":\"a1\"}");
        ws.send("{\"type\":\"message\",\"bot_id\":\"BOT-B\",\"text\":\"hello from b\",\"client_msg_id\":\"b1\"}");
        JsonNode replyA = ws.waitFor(e -> e.path("type").asText().equals("reply") && e.path("client_msg_id").asText().equals("a1"));
        JsonNode replyB = ws.waitFor(e -> e.path("type").asText().equals("reply") && e.path("client_msg_id").asText().equals("b1"));
        assertEquals("BOT-A", replyA.path("bot_id").asText());
        assertEquals("hello from a", replyA.path("text").asText().trim());
        assertEquals("BOT-B", replyB.path("bot_id").asText());
        assertEquals("HELLO FROM B", replyB.path("text").asText().trim());
        for (JsonNode e : ws.events) {
            if (e.path("client_msg_id").asText().equals("a1")) {
                assertEquals("BOT-A", e.path("bot_id").asText(), e.toString());
                assertFalse(e.toString().contains("HELLO"), e.toString());
            }
            if (e.path("client_msg_id").asText().equals("b1")) {
                assertEquals("BOT-B", e.path("bot_id").asText(), e.toString());
            }
        }
        List<String> a1Types = ws.events.stream().filter(e -> e.path("client_msg_id").asText().equals("a1"))
                .map(e -> e.path("type").asText()).toList();
        assertEquals("ack", a1Types.get(0));
        assertTrue(a1Types.contains("delta"), a1Types.toString());
        assertIncreasingIds(ws.events);

        // REST chat goes the same way.
        HttpResponse<String> rest = call("POST", "/api/bot/BOT-B/message", "{\"text\":\"via rest\"}");
        assertEquals(200, rest.statusCode(), rest.body());
        assertEquals("VIA REST", json(rest).path("reply").asText().trim());

        // A task submitted over the API reaches the bot, and its events reach the socket.
        HttpResponse<String> task = call("POST", "/api/bot/BOT-A/tasks",
                Json.write(java.util.Map.of("task", "---\ntask_id: T-CTL-1\n---\nsay hi\n")));
        assertEquals(201, task.statusCode(), task.body());
        assertEquals("T-CTL-1", json(task).path("task_id").asText());
        JsonNode done = ws.waitFor(e -> e.path("type").asText().equals("task") && e.path("task_id").asText().equals("T-CTL-1")
                && e.path("event").asText().equals("completed"));
        assertEquals("BOT-A", done.path("bot_id").asText());
        HttpResponse<String> tasks = call("GET", "/api/bot/BOT-A/tasks", null);
        assertEquals(200, tasks.statusCode());
        assertEquals("T-CTL-1", json(tasks).path("responses").get(0).path("task_id").asText(), tasks.body());

        HttpResponse<String> hist = call("GET", "/api/bot/BOT-A/history?limit=10", null);
        assertEquals(200, hist.statusCode());
        JsonNode messages = json(hist).path("messages");
        assertEquals("assistant", messages.get(0).path("role").asText(), hist.body());
        assertEquals("user", messages.get(1).path("role").asText());
        assertEquals("hello from a", messages.get(1).path("text").asText());
        HttpResponse<String> older = call("GET", "/api/bot/BOT-A/history?limit=1&before=" + messages.get(0).path("seq").asLong(), null);
        assertEquals("hello from a", json(older).path("messages").get(0).path("text").asText());

        HttpResponse<String> bots = call("GET", "/api/bots", null);
        assertEquals(200, bots.statusCode());
        Set<String> live = new HashSet<>();
        json(bots).path("bots").forEach(n -> {
            if (!n.path("live").isNull()) {
                live.add(n.path("bot_id").asText());
            }
        });
        assertTrue(live.containsAll(Set.of("BOT-A", "BOT-B")), bots.body());
        HttpResponse<String> profiles = call("GET", "/api/profiles", null);
        assertEquals(Set.of("echo", "upper", "slow"), names(json(profiles).path("profiles")));
        HttpResponse<String> projects = call("GET", "/api/projects", null);
        assertEquals(200, projects.statusCode(), projects.body());
        assertEquals("{\"projects\":[]}", projects.body(), "no projects configured");
        assertFalse(json(bots).path("bots").get(0).has("project"), "a bot without a project has no project field");

        HttpResponse<String> statusB = call("GET", "/api/bot/BOT-B/status", null);
        assertEquals(200, statusB.statusCode());
        assertEquals("BOT-B", json(statusB).path("live").path("bot_id").asText(), statusB.body());

        // Stop one: the API answers once it is down, and watchers see the state change.
        long botBPid = json(statusB).path("pid").asLong();
        HttpResponse<String> stopped = call("POST", "/api/bot/BOT-B/stop", null);
        assertEquals(200, stopped.statusCode(), stopped.body());
        assertEquals("stopped", json(stopped).path("state").asText());
        assertFalse(ProcessHandle.of(botBPid).map(ProcessHandle::isAlive).orElse(false));
        ws.waitFor(e -> e.path("type").asText().equals("status") && e.path("bot_id").asText().equals("BOT-B")
                && e.path("state").asText().equals("stopped"));
        HttpResponse<String> after = call("GET", "/api/bot/BOT-B/status", null);
        assertEquals("stopped", json(after).path("state").asText());
        assertTrue(json(after).path("live").isNull(), after.body());
        ws.send("{\"type\":\"message\",\"bot_id\":\"BOT-B\",\"text\":\"anyone?\",\"client_msg_id\":\"b2\"}");
        JsonNode err = ws.waitFor(e -> e.path("type").asText().equals("error") && e.path("client_msg_id").asText().equals("b2"));
        assertEquals("unavailable", err.path("code").asText());
        ws.send("{\"type\":\"interrupt\",\"bot_id\":\"BOT-A\"}");
        ws.send("{\"type\":\"ping\"}");
        ws.waitFor(e -> e.path("type").asText().equals("pong"));
        assertEquals(200, call("POST", "/api/bot/BOT-A/interrupt", null).statusCode());
    }

    @Test
    void reconnectingSocketReceivesTheMissedEventsExactlyOnce() throws Exception {
        HttpResponse<String> s = call("POST", "/api/bot/launch", "{\"bot_id\":\"BOT-S\",\"profile\":\"slow\"}");
        assertEquals(201, s.statusCode(), s.body());
        WsClient observer = WsClient.connect(base, null, token, null);
        WsClient first = WsClient.connect(base, null, token, origin());
        first.send("{\"type\":\"message\",\"bot_id\":\"BOT-S\",\"text\":\"go\",\"client_msg_id\":\"s1\"}");
        first.waitFor(e -> e.path("type").asText().equals("delta") && e.path("client_msg_id").asText().equals("s1"));
        long lastSeen = first.events.stream().mapToLong(e -> e.path("event_id").asLong()).max().orElseThrow();
        first.abort();

        JsonNode reply = observer.waitFor(e -> e.path("type").asText().equals("reply") && e.path("client_msg_id").asText().equals("s1"));
        long replyId = reply.path("event_id").asLong();
        WsClient second = WsClient.connect(base, "last_event_id=" + lastSeen, token, origin());
        second.waitFor(e -> e.path("event_id").asLong() == replyId);

        List<Long> expected = observer.events.stream().map(e -> e.path("event_id").asLong())
                .filter(id -> id > lastSeen && id <= replyId).toList();
        List<Long> replayed = second.events.stream().map(e -> e.path("event_id").asLong())
                .filter(id -> id <= replyId).toList();
        assertEquals(expected, replayed, "the missed events, each once, in order");
        assertTrue(second.events.stream().filter(e -> e.path("event_id").asLong() <= replyId)
                .anyMatch(e -> e.path("type").asText().equals("delta")), "some deltas were missed and replayed");
        assertEquals("line8", reply.path("text").asText().trim().lines().reduce((x, y) -> y).orElse(""));

        WsClient tooOld = WsClient.connect(base, "last_event_id=5", token, origin());
        assertEquals("resync", tooOld.waitFor(e -> true).path("type").asText());
        WsClient future = WsClient.connect(base, "last_event_id=" + (server.lastEventId() + 1000), token, origin());
        assertEquals("resync", future.waitFor(e -> true).path("type").asText());
        WsClient evicted = WsClient.connect(base, "last_event_id=" + (server.lastEventId() - 10_000), token, origin());
        assertEquals("resync", evicted.waitFor(e -> true).path("type").asText());
    }

    @Test
    void refusesBadRequestsWithoutChangingAnything() throws Exception {
        String registryBefore = registryWithoutHeartbeats();
        long childrenBefore = ProcessHandle.current().descendants().count();
        List<String[]> routes = List.of(
                new String[] {"GET", "/api/bots"}, new String[] {"GET", "/api/profiles"}, new String[] {"GET", "/api/projects"},
                new String[] {"POST", "/api/bot/launch"}, new String[] {"POST", "/api/bot/BOT-R/stop"},
                new String[] {"GET", "/api/bot/BOT-R/status"}, new String[] {"POST", "/api/bot/BOT-R/message"},
                new String[] {"POST", "/api/bot/BOT-R/interrupt"}, new String[] {"GET", "/api/bot/BOT-R/tasks"},
                new String[] {"POST", "/api/bot/BOT-R/tasks"}, new String[] {"GET", "/api/bot/BOT-R/history"},
                new String[] {"GET", "/api/unknown"});
        String launchBody = "{\"bot_id\":\"BOT-X\",\"profile\":\"echo\"}";
        for (String[] r : routes) {
            for (String t : Arrays.asList(null, "wrong-token", token + "x", "")) {
                HttpResponse<String> resp = call(r[0], r[1], r[0].equals("POST") ? launchBody : null, t);
                assertEquals(401, resp.statusCode(), r[0] + " " + r[1] + " with token " + t);
                assertEquals("unauthorized", json(resp).path("error").path("code").asText());
            }
        }
        assertEquals(401, handshakeStatus(null, null));
        assertEquals(401, handshakeStatus("wrong", origin()));
        assertEquals(403, handshakeStatus(token, "http://evil.example"));
        assertEquals(403, handshakeStatus(token, "http://127.0.0.1:" + (server.port() + 1)));

        // Over the body limit the server answers 413 from the declared length and closes without reading
        // the body; a client still sending then may get a reset instead of the answer (the JDK client did,
        // now and then), so these are checked over a plain socket that sends the headers only.
        for (String path : List.of("/api/bot/BOT-R/tasks", "/api/bot/BOT-R/message", "/api/bot/launch")) {
            String raw = rawExchange("POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + server.port() + "\r\nAuthorization: Bearer " + token
                    + "\r\nContent-Type: application/json\r\nContent-Length: 70000\r\nConnection: close\r\n\r\n");
            assertTrue(raw.startsWith("HTTP/1.1 413"), path + " -> " + raw);
            assertTrue(raw.contains("\"payload_too_large\""), raw);
        }
        assertEquals(413, call("POST", "/api/bot/BOT-R/message", "{\"text\":\"" + "y".repeat(5000) + "\"}").statusCode());

        for (String path : List.of("/api/bot/..%2F..%2Fetc/status", "/api/bot/%2e%2e/status", "/api/bot/BOT!x/status",
                "/api/bot/" + "a".repeat(65) + "/history", "/api/bot/-lead/status", "/api/bot/a%20b/tasks",
                "/api/bot/%2E%2E%2Fregistry/history")) {
            HttpResponse<String> resp = call("GET", path, null);
            assertEquals(400, resp.statusCode(), path + " -> " + resp.body());
        }
        assertEquals(400, call("POST", "/api/bot/launch", "{\"bot_id\":\"../../x\",\"profile\":\"echo\"}").statusCode());
        assertEquals(400, call("POST", "/api/bot/launch", "not json").statusCode());
        assertEquals(400, call("POST", "/api/bot/launch", "{\"bot_id\":\"BOT-X\"}").statusCode());
        assertEquals(400, call("GET", "/api/bot/BOT-R/history?before=abc", null).statusCode());
        assertEquals(400, call("POST", "/api/bot/BOT-R/message", "{\"text\":\"bell\\u0007\"}").statusCode());

        HttpResponse<String> unknownProfile = call("POST", "/api/bot/launch", "{\"bot_id\":\"BOT-X\",\"profile\":\"rm -rf /\"}");
        assertEquals(422, unknownProfile.statusCode());
        assertEquals("unprocessable", json(unknownProfile).path("error").path("code").asText());
        HttpResponse<String> running = call("POST", "/api/bot/launch", "{\"bot_id\":\"BOT-R\",\"profile\":\"echo\"}");
        assertEquals(409, running.statusCode(), running.body());

        assertEquals(404, call("GET", "/api/bot/NOBODY/status", null).statusCode());
        assertEquals(404, call("POST", "/api/bot/NOBODY/tasks", "do it", token, "text/markdown").statusCode());
        assertEquals(404, call("POST", "/api/bot/NOBODY/message", "{\"text\":\"hi\"}").statusCode());
        assertEquals(404, call("GET", "/api/bot/BOT-R/nothing", null).statusCode());
        assertEquals(405, call("DELETE", "/api/bot/BOT-R/status", null).statusCode());

        WsClient ws = WsClient.connect(base, null, token, origin());
        ws.send("{\"type\":\"message\",\"bot_id\":\"BOT-R\",\"text\":\"" + "z".repeat(5000) + "\",\"client_msg_id\":\"big\"}");
        assertEquals("payload_too_large", ws.waitFor(e -> e.path("client_msg_id").asText().equals("big")).path("code").asText());
        ws.send("{\"type\":\"message\",\"bot_id\":\"../x\",\"text\":\"hi\",\"client_msg_id\":\"trav\"}");
        assertEquals("invalid_argument", ws.waitFor(e -> e.path("client_msg_id").asText().equals("trav")).path("code").asText());
        ws.send("{\"type\":\"message\",\"bot_id\":\"BOT-R\",\"text\":\"nul\\u0000\",\"client_msg_id\":\"ctl\"}");
        assertEquals("invalid_argument", ws.waitFor(e -> e.path("client_msg_id").asText().equals("ctl")).path("code").asText());
        ws.send("{\"type\":\"message\",\"bot_id\":\"BOT-R\",\"client_msg_id\":\"notext\"}");
        assertEquals("invalid_argument", ws.waitFor(e -> e.path("client_msg_id").asText().equals("notext")).path("code").asText());
        ws.send("{\"type\":\"launch\",\"bot_id\":\"BOT-Z\",\"profile\":\"echo\"}");
        ws.send("[not an object");
        await().until(() -> ws.events.stream().filter(e -> e.path("type").asText().equals("error")
                && e.path("client_msg_id").isMissingNode()).count() >= 2);
        // A frame over the WebSocket limit closes the connection with 1009 (message too big).
        ws.send("{\"type\":\"message\",\"bot_id\":\"BOT-R\",\"text\":\"" + "w".repeat(20_000) + "\"}");
        assertEquals(1009, ws.closed.get());

        await().pollDelay(Duration.ofMillis(300)).until(() -> true);
        assertEquals(registryBefore, registryWithoutHeartbeats(), "registry unchanged");
        assertEquals(childrenBefore, ProcessHandle.current().descendants().count(), "no process started");
        HttpResponse<String> hist = call("GET", "/api/bot/BOT-R/history?limit=50", null);
        assertFalse(hist.body().contains("zzzzz") || hist.body().contains("bell"), "refused messages are not recorded");
    }

    /**
     * The registry file without the times the running bots' heartbeats refresh on their own every few
     * seconds ({@code last_heartbeat}, {@code updated_at}): comparing raw bytes failed whenever a
     * heartbeat fell inside the test.
     */
    private String registryWithoutHeartbeats() throws java.io.IOException {
        return Files.readString(hive.registryFile()).replaceAll("\"(last_heartbeat|updated_at)\"\\s*:\\s*(\"[^\"]*\"|null)", "");
    }

    @Test
    void answerBeforeAnUnreadBodyTellsTheClientTheConnectionCloses() throws Exception {
        // The handler answers without the body (it has not even arrived). Jetty then closes the
        // connection; without "Connection: close" in the answer a client reusing the connection sent
        // its next request into the closing socket (FuzzTest: "header parser received no bytes").
        String answer = rawExchange("POST /api/bot/BOT-NOPE/interrupt HTTP/1.1\r\nHost: 127.0.0.1:" + server.port() + "\r\n"
                + "Authorization: Bearer " + token + "\r\nContent-Type: application/json\r\nContent-Length: 64\r\n\r\n");
        String head = answer.substring(0, answer.indexOf("\r\n\r\n")).toLowerCase(java.util.Locale.ROOT);
        assertTrue(head.startsWith("http/1.1 "), answer);
        assertTrue(head.contains("\r\nconnection: close"), answer);

        // A body that did arrive is consumed, and the connection stays usable.
        String body = "{\"x\":1}";
        String twoRequests = "POST /api/bot/BOT-NOPE/interrupt HTTP/1.1\r\nHost: 127.0.0.1:" + server.port() + "\r\nAuthorization: Bearer " + token
                + "\r\nContent-Type: application/json\r\nContent-Length: " + body.length() + "\r\n\r\n" + body
                + "GET /api/bots HTTP/1.1\r\nHost: 127.0.0.1:" + server.port() + "\r\nAuthorization: Bearer " + token + "\r\nConnection: close\r\n\r\n";
        String both = rawExchange(twoRequests);
        assertEquals(2, both.split("HTTP/1.1 ", -1).length - 1, both);
        assertTrue(both.contains("\"bots\""), both);
    }

    /** Sends {@code request} as is over a plain socket and returns everything the server answers. */
    private String rawExchange(String request) throws Exception {
        try (java.net.Socket socket = new java.net.Socket("127.0.0.1", server.port())) {
            socket.setSoTimeout(30_000);
            socket.getOutputStream().write(request.getBytes(java.nio.charset.StandardCharsets.US_ASCII));
            socket.getOutputStream().flush();
            return new String(socket.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        }
    }

    private int handshakeStatus(String tok, String originHeader) throws Exception {
        ExecutionException e = assertThrows(ExecutionException.class, () -> WsClient.connect(base, null, tok, originHeader));
        return assertInstanceOf(WebSocketHandshakeException.class, e.getCause()).getResponse().statusCode();
    }

    @Test
    void servesDashboardAndExchangesTheLinkTokenForACookie() throws Exception {
        HttpResponse<String> health = call("GET", "/health", null, null);
        assertEquals(200, health.statusCode());
        assertEquals("ok", json(health).path("status").asText());
        HttpResponse<String> index = call("GET", "/", null, null);
        assertEquals(200, index.statusCode());
        assertTrue(index.body().toLowerCase().contains("<html"), index.body());
        assertTrue(index.headers().firstValue("Content-Security-Policy").orElse("").startsWith("default-src 'self'"),
                index.headers().map().toString());
        assertEquals("nosniff", index.headers().firstValue("X-Content-Type-Options").orElse(""));

        assertEquals(401, call("GET", "/?token=nope", null, null).statusCode());
        // A browser following a wrong link gets a page that says what to do, without the wrong token.
        HttpResponse<String> page = http.send(HttpRequest.newBuilder(URI.create(base + "/?token=nope"))
                .header("Accept", "text/html").build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(401, page.statusCode());
        assertTrue(page.headers().firstValue("Content-Type").orElse("").startsWith("text/html"), page.headers().map().toString());
        assertTrue(page.body().contains("This dashboard link is not valid") && !page.body().contains("nope"), page.body());
        HttpResponse<String> link = call("GET", "/?token=" + token, null, null);
        assertEquals(303, link.statusCode());
        assertTrue(link.headers().firstValue("Location").orElse("").endsWith("/"));
        String cookie = link.headers().firstValue("Set-Cookie").orElseThrow();
        assertTrue(cookie.startsWith("deia_token=" + token), "cookie carries the token");
        assertTrue(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Path=/"), cookie);
        HttpResponse<String> viaCookie = http.send(HttpRequest.newBuilder(URI.create(base + "/api/bots"))
                .header("Cookie", "deia_token=" + token).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, viaCookie.statusCode());
        HttpResponse<String> badCookie = http.send(HttpRequest.newBuilder(URI.create(base + "/api/bots"))
                .header("Cookie", "deia_token=forged").build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(401, badCookie.statusCode());

        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(hive.tokenFile())));
        assertEquals(token, io.deia.core.HiveToken.loadOrCreate(hive).reveal(), "the token is kept across starts");
        assertFalse(server.token().toString().contains(token));
    }

    @Test
    void idleSocketStaysOpenThroughServerPings() throws Exception {
        WsClient ws = WsClient.connect(base, null, token, origin());
        // Longer than the 5 s idle timeout: only the 1 s server pings (answered by the client) keep it open.
        await().pollDelay(Duration.ofSeconds(7)).atMost(Duration.ofSeconds(10)).until(() -> true);
        assertFalse(ws.closed.isDone(), "closed with " + ws.closed.getNow(null));
        ws.send("{\"type\":\"ping\"}");
        assertNotNull(ws.waitFor(e -> e.path("type").asText().equals("pong")));
    }

    /** A request as a browser would send it for a page: the dashboard cookie, the given headers, the body. */
    private HttpResponse<String> asBrowser(String method, String path, String body, String... headers) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(90))
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body))
                .header("Cookie", AccessGuard.COOKIE + "=" + token);
        for (int i = 0; i + 1 < headers.length; i += 2) {
            b.header(headers[i], headers[i + 1]);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void refusesOtherPagesOfTheSameSiteAndForeignHostsWhateverTheCredentials() throws Exception {
        String registryBefore = registryWithoutHeartbeats();
        long childrenBefore = ProcessHandle.current().descendants().count();
        String launch = "{\"bot_id\":\"BOT-WEB\",\"profile\":\"echo\"}";
        String message = "{\"text\":\"sent by a web page\"}";
        // The reproduction: a page on another port of 127.0.0.1 is the same site, so the
        // browser sends the SameSite=Strict cookie with its simple (text/plain) request.
        for (String origin : List.of("http://127.0.0.1:9999", "http://localhost:9999", "http://evil.example", "null")) {
            for (String type : List.of("text/plain;charset=UTF-8", "application/json")) {
                HttpResponse<String> r = asBrowser("POST", "/api/bot/launch", launch, "Origin", origin, "Content-Type", type);
                assertEquals(403, r.statusCode(), origin + " " + type + ": " + r.body());
                assertEquals("forbidden", json(r).path("error").path("code").asText());
                assertEquals(403, asBrowser("POST", "/api/bot/BOT-R/message", message, "Origin", origin,
                        "Content-Type", type).statusCode());
                // And with the bearer token as well: the Origin alone decides.
                assertEquals(403, asBrowser("POST", "/api/bot/BOT-R/stop", null, "Origin", origin,
                        "Authorization", "Bearer " + token).statusCode());
            }
        }
        // Sent without an Origin (older browsers on a same-site form): no simple content type gets through.
        for (String type : List.of("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=b")) {
            HttpResponse<String> r = asBrowser("POST", "/api/bot/launch", launch, "Content-Type", type);
            assertEquals(415, r.statusCode(), type + ": " + r.body());
            assertEquals("unsupported_media_type", json(r).path("error").path("code").asText());
            assertEquals(415, asBrowser("POST", "/api/bot/BOT-R/message", message, "Content-Type", type).statusCode());
            assertEquals(415, asBrowser("POST", "/api/bot/BOT-R/tasks", "do it", "Content-Type", type).statusCode());
            assertEquals(415, call("POST", "/api/bot/BOT-R/message", message, token, type).statusCode());
        }
        assertEquals(415, call("POST", "/api/bot/BOT-R/message", message, token, "text/markdown").statusCode(),
                "text/markdown is for task files only");
        // The cookie with a JSON body but no Origin: no current browser sends that, so it is not trusted.
        for (String path : List.of("/api/bot/launch", "/api/bot/BOT-R/message", "/api/bot/BOT-R/stop")) {
            HttpResponse<String> r = asBrowser("POST", path, path.endsWith("launch") ? launch : message,
                    "Content-Type", "application/json");
            assertEquals(403, r.statusCode(), path + ": " + r.body());
            assertTrue(json(r).path("error").path("message").asText().contains("Origin"), r.body());
        }
        // A fetch from another page of the same site, even with a JSON body, is refused by Sec-Fetch-Site.
        for (String site : List.of("same-site", "cross-site")) {
            assertEquals(403, asBrowser("POST", "/api/bot/BOT-R/message", message, "Content-Type", "application/json",
                    "Sec-Fetch-Site", site).statusCode());
            assertEquals(403, asBrowser("GET", "/api/bots", null, "Sec-Fetch-Site", site).statusCode());
            // Dashboard pages may be opened from a link elsewhere.
            assertEquals(200, asBrowser("GET", "/", null, "Sec-Fetch-Site", site).statusCode());
        }

        // DNS rebinding: the page's own name in Host, on every path (the token does not help).
        for (String host : List.of("evil.example", "evil.example:" + server.port(), "127.0.0.1:" + (server.port() + 1))) {
            for (String request : List.of("GET /api/bots", "GET /health", "GET /", "POST /api/bot/BOT-R/interrupt")) {
                String raw = rawExchange(request + " HTTP/1.1\r\nHost: " + host + "\r\nAuthorization: Bearer " + token
                        + "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                assertTrue(raw.startsWith("HTTP/1.1 421"), request + " Host " + host + " -> " + raw);
                assertTrue(raw.contains("\"misdirected_request\""), raw);
            }
        }

        await().pollDelay(Duration.ofMillis(300)).until(() -> true);
        assertEquals(registryBefore, registryWithoutHeartbeats(), "nothing launched or stopped");
        assertEquals(childrenBefore, ProcessHandle.current().descendants().count(), "no process started");
        assertFalse(call("GET", "/api/bot/BOT-R/history?limit=50", null).body().contains("sent by a web page"),
                "no refused message reached the bot");
        assertTrue(call("GET", "/api/bot/BOT-R/tasks", null).body().contains("\"pending\":[]"), "no task queued");

        // The dashboard's own requests pass: its Origin, JSON or a task file as text/markdown, the cookie.
        for (String own : List.of(origin(), "http://localhost:" + server.port())) {
            HttpResponse<String> ok = asBrowser("POST", "/api/bot/BOT-R/interrupt", null, "Origin", own,
                    "Sec-Fetch-Site", "same-origin");
            assertEquals(200, ok.statusCode(), ok.body());
        }
        HttpResponse<String> task = asBrowser("POST", "/api/bot/BOT-R/tasks", "---\ntask_id: T-MD-1\n---\nfrom the dashboard\n",
                "Origin", origin(), "Content-Type", "text/markdown; charset=utf-8");
        assertEquals(201, task.statusCode(), task.body());
        assertEquals("T-MD-1", json(task).path("task_id").asText());
        HttpResponse<String> reply = asBrowser("POST", "/api/bot/BOT-R/message", "{\"text\":\"from the dashboard\"}",
                "Origin", origin(), "Content-Type", "application/json", "Sec-Fetch-Site", "same-origin");
        assertEquals(200, reply.statusCode(), reply.body());
        String localhost = rawExchange("GET /api/bots HTTP/1.1\r\nHost: localhost:" + server.port()
                + "\r\nAuthorization: Bearer " + token + "\r\nConnection: close\r\n\r\n");
        assertTrue(localhost.startsWith("HTTP/1.1 200"), localhost);
    }

    @Test
    void aBindAddressIsAnAllowedHostAndOrigin() throws Exception {
        // All of 127.0.0.0/8 is loopback on Linux: a second controller bound to 127.0.0.2.
        try (ControllerServer other = ControllerServer.builder(hive, DeiaConfig.load(dir.resolve("deia.json")), registry,
                launcher, new FileTaskQueue(hive, DeiaConfig.load(dir.resolve("deia.json"))), router)
                .bind("127.0.0.2").port(0).build().start()) {
            String self = "127.0.0.2:" + other.port();
            for (String host : List.of(self, "127.0.0.1:" + other.port(), "localhost:" + other.port())) {
                String raw = exchange("127.0.0.2", other.port(), "GET /api/bots HTTP/1.1\r\nHost: " + host
                        + "\r\nAuthorization: Bearer " + token + "\r\nOrigin: http://" + self + "\r\nConnection: close\r\n\r\n");
                assertTrue(raw.startsWith("HTTP/1.1 200"), host + " -> " + raw);
            }
            String foreign = exchange("127.0.0.2", other.port(), "GET /api/bots HTTP/1.1\r\nHost: 127.0.0.3:" + other.port()
                    + "\r\nAuthorization: Bearer " + token + "\r\nConnection: close\r\n\r\n");
            assertTrue(foreign.startsWith("HTTP/1.1 421"), foreign);
            String otherOrigin = exchange("127.0.0.2", other.port(), "GET /api/bots HTTP/1.1\r\nHost: " + self
                    + "\r\nAuthorization: Bearer " + token + "\r\nOrigin: http://127.0.0.3:" + other.port()
                    + "\r\nConnection: close\r\n\r\n");
            assertTrue(otherOrigin.startsWith("HTTP/1.1 403"), otherOrigin);
        }
    }

    private static String exchange(String address, int toPort, String request) throws Exception {
        try (java.net.Socket socket = new java.net.Socket(address, toPort)) {
            socket.setSoTimeout(30_000);
            socket.getOutputStream().write(request.getBytes(java.nio.charset.StandardCharsets.US_ASCII));
            socket.getOutputStream().flush();
            return new String(socket.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        }
    }

    private static Set<String> names(JsonNode array) {
        List<String> out = new ArrayList<>();
        array.forEach(n -> out.add(n.path("name").asText()));
        return new HashSet<>(out);
    }

    private static void assertIncreasingIds(List<JsonNode> events) {
        List<Long> ids = events.stream().map(e -> e.path("event_id").asLong()).collect(Collectors.toList());
        for (int i = 1; i < ids.size(); i++) {
            assertTrue(ids.get(i) > ids.get(i - 1), "event ids increase: " + ids);
        }
    }
}
