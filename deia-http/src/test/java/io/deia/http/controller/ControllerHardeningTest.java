package io.deia.http.controller;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.HiveLayout;
import io.deia.core.chat.ChatEvent;
import io.deia.core.chat.HistoryStore;
import io.deia.core.chat.MessageRouter;
import io.deia.core.config.DeiaConfig;
import io.deia.core.internal.io.AtomicFiles;
import io.deia.core.internal.io.Json;
import io.deia.core.launch.BotLauncher;
import io.deia.core.launch.RunnerCommand;
import io.deia.core.registry.JsonFileServiceRegistry;
import io.deia.core.task.FileTaskQueue;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.WebSocketHandshakeException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ThreadLocalRandom;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The controller under hostile input, end to end over real HTTP and real WebSockets against real
 * bot runner processes: unknown ids must not leak descriptors, a flood of chat must not take the
 * server's threads, slow WebSocket readers are dropped by bytes and connections are capped, deny
 * patterns hold on every way a prompt enters, one bad response file does not break the task list,
 * JSON is parsed strictly and nothing from outside reaches a log line raw.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ControllerHardeningTest {
    private static final int LANE = 16;
    private static final int MAX_SOCKETS = 4;
    private static final long MAX_QUEUED_BYTES = 256 * 1024;

    private Path dir;
    private Path ranLog;
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
        dir = Files.createTempDirectory("deia-hardening-test");
        hive = new HiveLayout(dir.resolve(".deia"));
        ranLog = dir.resolve("ran.log");
        // "guarded" appends every prompt that reaches it to ran.log: the proof an agent never ran.
        String guardedScript = "p=$(cat); printf '%s\\n' \"$p\" >> '" + ranLog + "'; printf 'ok:%s' \"$p\"";
        Map<String, Object> profiles = new LinkedHashMap<>();
        profiles.put("guarded", Map.of("agent", "command", "executable", "/bin/sh", "args", List.of("-c", guardedScript),
                "deny_patterns", List.of("(?i)rm\\s+-rf"), "start_timeout_s", 60));
        profiles.put("sleepy", Map.of("agent", "command", "executable", "/bin/sh",
                "args", List.of("-c", "sleep 2; cat"), "start_timeout_s", 60, "message_queue_capacity", 64));
        Map<String, Object> cfg = new LinkedHashMap<>();
        cfg.put("ports", Map.of("from", 8600, "to", 8699));
        cfg.put("max_body_bytes", 65536);
        cfg.put("max_message_bytes", 4096);
        cfg.put("profiles", profiles);
        Path configFile = dir.resolve("deia.json");
        Files.writeString(configFile, Json.writePretty(cfg));
        DeiaConfig config = DeiaConfig.load(configFile);
        registry = new JsonFileServiceRegistry(hive, config);
        launcher = BotLauncher.builder(hive, config, registry, RunnerCommand.currentJvm())
                .configFile(configFile).stopGrace(Duration.ofSeconds(3)).build();
        router = MessageRouter.builder(registry, new HistoryStore(hive), config).scanInterval(Duration.ofMillis(200))
                .maxPendingPerBot(LANE).maxBackoff(Duration.ofSeconds(1)).build();
        router.start();
        server = ControllerServer.builder(hive, config, registry, launcher, new FileTaskQueue(hive, config), router)
                .port(0).maxThreads(20).wsMaxConnections(MAX_SOCKETS).wsMaxQueuedBytes(MAX_QUEUED_BYTES)
                .pingInterval(Duration.ofSeconds(1)).idleTimeout(Duration.ofSeconds(5))
                .build().start();
        base = server.baseUrl();
        token = server.token().reveal();
        assertEquals(201, call("POST", "/api/bot/launch", "{\"bot_id\":\"BOT-G\",\"profile\":\"guarded\"}").statusCode());
        assertEquals(201, call("POST", "/api/bot/launch", "{\"bot_id\":\"BOT-Z\",\"profile\":\"sleepy\"}").statusCode());
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

    private HttpResponse<String> call(String method, String path, String body) throws Exception {
        return send(base, method, path, body);
    }

    private HttpResponse<String> send(String url, String method, String path, String body) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url + path)).timeout(Duration.ofSeconds(90))
                .header("Authorization", "Bearer " + token)
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        if (body != null) {
            b.header("Content-Type", "application/json");
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    private static JsonNode json(HttpResponse<String> resp) {
        return Json.read(resp.body(), JsonNode.class, "response");
    }

    private static String errorCode(HttpResponse<String> resp) {
        return json(resp).path("error").path("code").asText();
    }

    private List<String> ran() throws Exception {
        return Files.exists(ranLog) ? Files.readAllLines(ranLog) : List.of();
    }

    private static long openFds() throws Exception {
        try (var fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.count();
        }
    }

    private String origin() {
        return "http://127.0.0.1:" + server.port();
    }

    // ---- 3: descriptor leak -----------------------------------------------------------------

    @Test
    void historyOfUnknownBotsIsNotFoundCreatesNothingAndLeaksNoDescriptor() throws Exception {
        assertEquals(200, call("GET", "/api/bot/BOT-G/history", null).statusCode());
        call("GET", "/api/bot/NEVER-0/history", null);
        long before = openFds();
        for (int i = 0; i < 300; i++) {
            HttpResponse<String> resp = call("GET", "/api/bot/NEVER-" + i + "/history?limit=5", null);
            assertEquals(404, resp.statusCode(), resp.body());
            assertEquals("not_found", errorCode(resp));
        }
        assertFalse(Files.exists(hive.historyFile("NEVER-7")), "no history file for an unknown id");
        Path historyDir = hive.historyFile("NEVER-7").getParent();
        if (Files.isDirectory(historyDir)) {
            try (var files = Files.list(historyDir)) {
                assertTrue(files.noneMatch(p -> p.getFileName().toString().startsWith("NEVER")));
            }
        }
        // Before the fix: two descriptors per id, for good (600 here).
        long after = openFds();
        assertTrue(after < before + 40, "descriptors grew from " + before + " to " + after);
    }

    // ---- 4: thread exhaustion ---------------------------------------------------------------

    @Test
    void aChatFloodHoldsNoServerThreadAnswers429PastTheLaneAndHealthStaysFast() throws Exception {
        HttpClient flood = HttpClient.newHttpClient();
        int over = 8;
        List<CompletableFuture<HttpResponse<String>>> pending = new ArrayList<>();
        for (int i = 0; i < LANE + over; i++) {
            HttpRequest req = HttpRequest.newBuilder(URI.create(base + "/api/bot/BOT-Z/message"))
                    .timeout(Duration.ofSeconds(120)).header("Authorization", "Bearer " + token)
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString("{\"text\":\"flood " + i + "\",\"client_msg_id\":\"f" + i + "\"}"))
                    .build();
            pending.add(flood.sendAsync(req, HttpResponse.BodyHandlers.ofString()));
        }
        // 20 server threads, 24 waiting messages: past the lane of 16 the answer is 429 at once,
        // while the first turns (2 s each) are still running.
        await().atMost(Duration.ofSeconds(20)).until(() -> pending.stream()
                .filter(f -> f.isDone() && f.join().statusCode() == 429).count() == over);
        assertTrue(pending.stream().filter(CompletableFuture::isDone).allMatch(f -> f.join().statusCode() == 429
                || f.join().statusCode() == 200), "only 429s (and replies) so far");
        assertEquals("too_many_requests", errorCode(pending.stream().filter(CompletableFuture::isDone)
                .filter(f -> f.join().statusCode() == 429).findFirst().orElseThrow().join()));
        long stillWaiting = pending.stream().filter(f -> !f.isDone()).count();
        assertTrue(stillWaiting >= LANE - 3, "messages are still waiting for the bot: " + stillWaiting);

        call("GET", "/health", null);
        List<Long> millis = new ArrayList<>();
        for (int i = 0; i < 11; i++) {
            long t0 = System.nanoTime();
            HttpResponse<String> health = call("GET", "/health", null);
            millis.add((System.nanoTime() - t0) / 1_000_000);
            assertEquals(200, health.statusCode());
        }
        assertTrue(pending.stream().filter(f -> !f.isDone()).count() >= LANE - 6, "the load was still held while measuring");
        List<Long> sorted = millis.stream().sorted().toList();
        assertTrue(sorted.get(sorted.size() / 2) < 50, "median /health under load: " + millis);
        assertTrue(sorted.get(sorted.size() - 1) < 1000, "slowest /health under load: " + millis);
        // Other endpoints answer too, and the waiting messages are answered in the end.
        assertEquals(200, call("GET", "/api/bots", null).statusCode());
        await().atMost(Duration.ofSeconds(30)).until(() -> pending.stream()
                .anyMatch(f -> f.isDone() && f.join().statusCode() == 200));
        HttpResponse<String> answered = pending.stream().filter(f -> f.isDone() && f.join().statusCode() == 200)
                .findFirst().orElseThrow().join();
        assertTrue(json(answered).path("reply").asText().startsWith("flood "), answered.body());
    }

    // ---- 5: log injection ---------------------------------------------------------------------

    @Test
    void controlCharactersFromOutsideNeverReachALogRaw() throws Exception {
        for (String id : List.of("a\\nINFO forged", "\\u001b]0;owned\\u0007", "tab\\there", "caf\\u00e9")) {
            HttpResponse<String> resp = call("POST", "/api/bot/BOT-G/message", "{\"text\":\"hi\",\"client_msg_id\":\"" + id + "\"}");
            assertEquals(400, resp.statusCode(), id + " -> " + resp.body());
            assertTrue(json(resp).path("error").path("message").asText().contains("printable ASCII"), resp.body());
        }
        // An inbox file whose name would forge a log line and retitle the terminal.
        String evil = "evil\n[BOT-G] INFO forged line\u001b]0;owned\u0007\u001b[2J.md";
        AtomicFiles.write(hive.inboxDir("BOT-G").resolve(evil), "say hello\n".getBytes(StandardCharsets.UTF_8));
        Path botLog = hive.botLogFile("BOT-G");
        await().atMost(Duration.ofSeconds(30)).until(() -> Files.exists(botLog)
                && Files.readString(botLog).contains("evil\\u000a[BOT-G] INFO forged line\\u001b]0;owned\\u0007"));
        byte[] log = Files.readAllBytes(botLog);
        for (byte b : log) {
            assertTrue(b != 0x1b && b != 0x07, "a raw escape character reached the bot log");
        }
        assertTrue(Files.readAllLines(botLog).stream().noneMatch(l -> l.startsWith("[BOT-G] INFO forged")), "no forged line");
    }

    // ---- 6: WebSocket limits --------------------------------------------------------------------

    @Test
    void aWebSocketThatDoesNotReadIsDroppedByBytesWhileAReadingOneKeepsUp() throws Exception {
        int baseline = server.hub().clientCount();
        WsClient reader = WsClient.connect(base, null, token, origin());
        try (Socket stalled = new Socket()) {
            stalled.setReceiveBufferSize(4096);
            stalled.connect(new InetSocketAddress("127.0.0.1", server.port()), 5000);
            handshake(stalled);
            await().atMost(Duration.ofSeconds(10)).until(() -> server.hub().clientCount() == baseline + 2);

            // A flood of 64 KB events, far less than the old cap of 10,000 events but many times the byte limit.
            String big = "x".repeat(64 * 1024);
            int sent = 0;
            while (sent < 400 && server.hub().clientCount() == baseline + 2) {
                server.hub().onEvent(ChatEvent.of("agent", "BOT-FLOOD", "n", sent, "blob", big));
                sent++;
                // Paced to what a reading client takes: only the one that does not read falls behind.
                int expected = sent;
                await().atMost(Duration.ofSeconds(10)).until(() -> floodSeen(reader) == expected);
            }
            int floodSize = sent;
            await().atMost(Duration.ofSeconds(20)).until(() -> server.hub().clientCount() == baseline + 1);
            assertTrue(floodSize < 400, "dropped during the flood, after " + floodSize + " events");
            // The reading client got every event and stays connected.
            assertEquals(floodSize, floodSeen(reader));
            assertFalse(reader.closed.isDone(), "the reading client is still connected");
            // The stalled connection is closed by the server (it cannot even read the close frame in time).
            InputStream in = stalled.getInputStream();
            stalled.setSoTimeout(30_000);
            byte[] buf = new byte[65536];
            long total = 0;
            int n;
            try {
                while ((n = in.read(buf)) >= 0) {
                    total += n;
                }
            } catch (java.net.SocketException reset) {
                // cut by the server: as good as end of stream
            }
            assertTrue(total < 64L * 1024 * 400, "the server stopped sending: " + total + " bytes");
        } finally {
            reader.socket.sendClose(1000, "bye");
        }
    }

    private static long floodSeen(WsClient client) {
        return client.events.stream().filter(e -> e.path("bot_id").asText().equals("BOT-FLOOD")).count();
    }

    /** A WebSocket upgrade over a plain socket; the response headers are read, nothing after. */
    private void handshake(Socket socket) throws Exception {
        byte[] key = new byte[16];
        ThreadLocalRandom.current().nextBytes(key);
        String request = "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:" + server.port() + "\r\nUpgrade: websocket\r\n"
                + "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "
                + Base64.getEncoder().encodeToString(key) + "\r\nAuthorization: Bearer " + token + "\r\n\r\n";
        OutputStream out = socket.getOutputStream();
        out.write(request.getBytes(StandardCharsets.US_ASCII));
        out.flush();
        InputStream in = socket.getInputStream();
        StringBuilder head = new StringBuilder();
        while (!head.toString().endsWith("\r\n\r\n")) {
            int c = in.read();
            if (c < 0) {
                break;
            }
            head.append((char) c);
        }
        assertTrue(head.toString().startsWith("HTTP/1.1 101"), head.toString());
    }

    @Test
    void connectionsOverTheLimitAreRefusedWith429() throws Exception {
        await().atMost(Duration.ofSeconds(20)).until(() -> server.hub().clientCount() == 0);
        List<WsClient> open = new ArrayList<>();
        try {
            for (int i = 0; i < MAX_SOCKETS; i++) {
                open.add(WsClient.connect(base, null, token, origin()));
            }
            ExecutionException e = assertThrows(ExecutionException.class, () -> WsClient.connect(base, null, token, origin()));
            assertEquals(429, assertInstanceOf(WebSocketHandshakeException.class, e.getCause()).getResponse().statusCode());
            // A place freed is a place taken again.
            open.remove(0).socket.sendClose(1000, "bye").join();
            await().atMost(Duration.ofSeconds(10)).until(() -> {
                try {
                    open.add(WsClient.connect(base, null, token, origin()));
                    return true;
                } catch (ExecutionException refused) {
                    return false;
                }
            });
            assertEquals(MAX_SOCKETS, open.size());
        } finally {
            for (WsClient c : open) {
                c.socket.sendClose(1000, "bye");
            }
        }
    }

    // ---- 7: deny patterns everywhere ----------------------------------------------------------

    @Test
    void denyPatternsHoldForChatTasksInboxFilesAndTheBotPort() throws Exception {
        HttpResponse<String> chat = call("POST", "/api/bot/BOT-G/message", "{\"text\":\"please rm -rf /\"}");
        assertEquals(422, chat.statusCode(), chat.body());
        HttpResponse<String> task = call("POST", "/api/bot/BOT-G/tasks",
                "{\"task\":\"---\\ntask_id: T-DENY-API\\n---\\nrm  -rf the disk\\n\"}");
        assertEquals(201, task.statusCode(), task.body());
        AtomicFiles.write(hive.inboxDir("BOT-G").resolve("dropped.md"),
                "---\ntask_id: T-DENY-FILE\n---\nthen RM -RF ~\n".getBytes(StandardCharsets.UTF_8));
        String botUrl = "http://127.0.0.1:" + registry.get("BOT-G").orElseThrow().port();
        HttpResponse<String> direct = send(botUrl, "POST", "/message", "{\"text\":\"rm -rf / straight to the bot\"}");
        assertEquals(422, direct.statusCode(), direct.body());
        assertEquals("unprocessable", errorCode(direct));

        for (String id : List.of("T-DENY-API", "T-DENY-FILE")) {
            await().atMost(Duration.ofSeconds(30)).until(() -> json(call("GET", "/api/bot/BOT-G/tasks", null))
                    .path("responses").findValuesAsText("task_id").contains(id));
        }
        JsonNode responses = json(call("GET", "/api/bot/BOT-G/tasks", null)).path("responses");
        for (JsonNode r : responses) {
            if (r.path("task_id").asText().startsWith("T-DENY")) {
                assertEquals("rejected", r.path("status").asText(), r.toString());
                assertTrue(r.path("error").asText().contains("deny pattern"), r.toString());
            }
        }
        // An allowed message runs, and it is the only deny-test prompt the agent ever saw.
        HttpResponse<String> ok = call("POST", "/api/bot/BOT-G/message", "{\"text\":\"benign\"}");
        assertEquals(200, ok.statusCode(), ok.body());
        assertTrue(ran().stream().noneMatch(l -> l.toLowerCase().contains("rm -") || l.toLowerCase().contains("rm  -")), ran().toString());
        assertTrue(ran().contains("benign"), ran().toString());
    }

    // ---- 8: bad response files --------------------------------------------------------------

    @Test
    void oneBadResponseFileIsSkippedAndNamedWithoutTheHivesPath() throws Exception {
        Path responses = hive.responsesDir("BOT-G");
        Files.createDirectories(responses);
        Files.writeString(responses.resolve("T-WEIRD.response.md"), "---\ntask_id: T-WEIRD\nstatus: exploded\n---\n");
        Files.writeString(responses.resolve("T-PLAIN.response.md"), "no front matter at all\n");
        try {
            HttpResponse<String> list = call("GET", "/api/bot/BOT-G/tasks", null);
            assertEquals(200, list.statusCode(), list.body());
            JsonNode skipped = json(list).path("skipped");
            assertEquals(List.of("T-PLAIN.response.md", "T-WEIRD.response.md"),
                    skipped.findValuesAsText("file").stream().sorted().toList(), list.body());
            assertFalse(list.body().contains(dir.toString()), "no absolute path: " + list.body());
            assertFalse(list.body().contains(dir.toRealPath().toString()), list.body());
        } finally {
            Files.delete(responses.resolve("T-WEIRD.response.md"));
            Files.delete(responses.resolve("T-PLAIN.response.md"));
        }
    }

    @Test
    void fileErrorsReachingTheApiNameHiveFilesRelativeToTheHive() throws Exception {
        registry.reserve("BOT-R", "guarded", "command");
        Path history = hive.historyFile("BOT-R");
        Files.createDirectories(history); // a folder where the history file should be: opening it fails
        try {
            HttpResponse<String> resp = call("GET", "/api/bot/BOT-R/history", null);
            assertEquals(500, resp.statusCode(), resp.body());
            String message = json(resp).path("error").path("message").asText();
            assertTrue(message.contains("cannot open history history/BOT-R.jsonl"), message);
            assertFalse(resp.body().contains(dir.toString()) || resp.body().contains(dir.toRealPath().toString()), resp.body());
        } finally {
            registry.deregister("BOT-R");
            Files.delete(history);
        }
        assertEquals("hive/tasks/B/x.md: broken", new io.deia.http.internal.HivePathRedactor(hive.root())
                .apply(hive.root().toAbsolutePath() + "/hive/tasks/B/x.md: broken"));
        assertEquals("in . itself", new io.deia.http.internal.HivePathRedactor(hive.root()).apply("in " + hive.root().toAbsolutePath() + " itself"));
    }

    // ---- 9: strict JSON, one validator ----------------------------------------------------------

    @Test
    void restAndWebSocketParseStrictlyAndValidateAlike() throws Exception {
        for (String body : List.of("{\"text\":\"ok\"} junk", "{\"text\":\"a\"}{\"text\":\"b\"}",
                "{\"text\":\"harmless\",\"text\":\"rm -rf /\"}", "{\"text\":\"hi\",\"client_msg_id\":42}")) {
            HttpResponse<String> resp = call("POST", "/api/bot/BOT-G/message", body);
            assertEquals(400, resp.statusCode(), body + " -> " + resp.body());
            HttpResponse<String> launch = call("POST", "/api/bot/launch",
                    body.replace("\"text\"", "\"bot_id\"").replace("\"client_msg_id\"", "\"profile\""));
            assertEquals(400, launch.statusCode(), body + " -> " + launch.body());
        }
        WsClient ws = WsClient.connect(base, null, token, origin());
        try {
            ws.send("{\"type\":\"message\",\"bot_id\":\"BOT-G\",\"text\":\"hi\",\"client_msg_id\":42}");
            ws.send("{\"type\":\"message\",\"bot_id\":\"BOT-G\",\"text\":\"hi\",\"client_msg_id\":\"w1\"} junk");
            ws.send("{\"type\":\"message\",\"bot_id\":\"BOT-G\",\"text\":\"a\",\"text\":\"b\",\"client_msg_id\":\"w2\"}");
            ws.send("{\"type\":\"message\",\"bot_id\":\"BOT-G\",\"text\":\"hi\",\"client_msg_id\":\"w\\u001b[2J\"}");
            ws.send("{\"type\":\"message\",\"bot_id\":7,\"text\":\"hi\"}");
            ws.send("{\"type\":\"ping\"}");
            ws.waitFor(e -> e.path("type").asText().equals("pong"));
            List<JsonNode> errors = ws.events.stream().filter(e -> e.path("type").asText().equals("error")).toList();
            assertEquals(5, errors.size(), ws.events.toString());
            assertTrue(errors.stream().allMatch(e -> e.path("code").asText().equals("invalid_argument")), errors.toString());
            assertTrue(errors.get(0).path("message").asText().contains("'client_msg_id' must be a string"), errors.toString());
            assertTrue(errors.get(3).path("message").asText().contains("printable ASCII"), errors.toString());
            assertTrue(ws.events.stream().noneMatch(e -> e.path("type").asText().equals("ack")), "nothing was accepted");
        } finally {
            ws.socket.sendClose(1000, "bye");
        }
    }
}
