package io.deia.http.bot;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.HiveLayout;
import io.deia.core.HiveToken;
import io.deia.core.agent.AgentContext;
import io.deia.core.agent.Agents;
import io.deia.core.bot.BotRuntime;
import io.deia.core.config.AgentType;
import io.deia.core.config.DeiaConfig;
import io.deia.core.config.Profile;
import io.deia.core.internal.io.Json;
import io.deia.core.registry.JsonFileServiceRegistry;
import io.deia.core.task.FileTaskQueue;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The per-bot HTTP contract over real HTTP, against a real runtime with a real command agent. */
class BotHttpServiceTest {
    /** Every turn appends a line to {@code <gate>.turns}; "wait…" holds the turn until the gate file exists, "fail…" exits 3, "slow…" outlives the 1 s turn timeout. */
    private static final String SCRIPT = "p=$(cat); echo turn >> \"$1.turns\"; "
            + "case \"$p\" in wait*) while [ ! -e \"$1\" ]; do sleep 0.02; done;; fail*) echo \"broken: $p\" >&2; exit 3;; "
            + "slow*) sleep 5;; esac; printf '%s\\n' \"line1:$p\"; printf 'line2'";

    @TempDir
    Path dir;

    private final HttpClient http = HttpClient.newHttpClient();
    private BotRuntime runtime;
    private BotHttpService service;
    private Path gate;
    private HiveLayout hive;
    private HiveToken token;

    @AfterEach
    void tearDown() {
        if (runtime != null) {
            runtime.close();
        }
        if (service != null) {
            service.close();
        }
    }

    private void start(int queueCapacity, int timeoutS) {
        serveBeforeStart(queueCapacity, timeoutS);
        runtime.start();
    }

    /** The HTTP service up and the runtime built but not started: the bot is {@code starting}. */
    private void serveBeforeStart(int queueCapacity, int timeoutS) {
        hive = new HiveLayout(dir.resolve("hive"));
        gate = dir.resolve("gate");
        Profile profile = Profile.builder(AgentType.COMMAND).executable("/bin/sh")
                .args(List.of("-c", SCRIPT, "sh", gate.toString())).promptMode("stdin").timeoutS(timeoutS)
                .maxAttempts(1).retryBackoffMs(10).messageQueueCapacity(queueCapacity).build();
        DeiaConfig config = DeiaConfig.builder().maxTaskBytes(4096).maxMessageBytes(1000).maxBodyBytes(2000)
                .profiles(Map.of("scripted", profile)).build();
        Profile named = config.requireProfile("scripted");
        runtime = BotRuntime.builder().botId("BOT-007").profile(named).config(config).hive(hive)
                .registry(new JsonFileServiceRegistry(hive, config))
                .agent(Agents.create(new AgentContext("BOT-007", named, hive, System.getenv()))).port(0).build();
        token = HiveToken.loadOrCreate(hive);
        service = BotHttpService.builder(runtime).token(token).port(0).stopGrace(Duration.ofMillis(200))
                .idleTimeout(Duration.ofMillis(700)).build().start();
    }

    /** A request to the bot with the hive's token and a JSON content type, as the controller sends it. */
    private HttpRequest.Builder req(String path) {
        return HttpRequest.newBuilder(URI.create(service.url() + path))
                .header("Authorization", "Bearer " + token.reveal())
                .header("Content-Type", "application/json");
    }

    private HttpResponse<String> get(String path) throws Exception {
        return http.send(req(path).GET().build(),
                HttpResponse.BodyHandlers.ofString());
    }

    private HttpResponse<String> post(String path, String body) throws Exception {
        return http.send(req(path)
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    private HttpResponse<String> postBytes(String path, byte[] body) throws Exception {
        return http.send(req(path)
                .POST(HttpRequest.BodyPublishers.ofByteArray(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    /** Sends {@code request} as is over a plain socket and returns everything the server answers. */
    private String rawExchange(String request) throws Exception {
        try (java.net.Socket socket = new java.net.Socket("127.0.0.1", service.port())) {
            socket.setSoTimeout(30_000);
            socket.getOutputStream().write(request.getBytes(StandardCharsets.US_ASCII));
            socket.getOutputStream().flush();
            return new String(socket.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    private static JsonNode json(HttpResponse<String> r) {
        return Json.read(r.body(), JsonNode.class, "response");
    }

    private static void assertError(HttpResponse<String> r, int status, String code) {
        assertEquals(status, r.statusCode(), r.body());
        assertTrue(r.headers().firstValue("content-type").orElse("").startsWith("application/json"));
        assertEquals(code, json(r).path("error").path("code").asText(), r.body());
        assertFalse(json(r).path("error").path("message").asText().isEmpty());
    }

    @Test
    void healthAndStatus() throws Exception {
        start(4, 30);
        HttpResponse<String> health = get("/health");
        assertEquals(200, health.statusCode());
        assertEquals("ok", json(health).path("status").asText());
        assertEquals("BOT-007", json(health).path("bot_id").asText());
        assertEquals(ProcessHandle.current().pid(), json(health).path("pid").asLong());

        JsonNode status = json(get("/status"));
        for (String field : List.of("bot_id", "state", "current_task", "queue_depth", "messages_waiting", "pid", "port",
                "uptime_s", "profile", "agent", "tasks_completed", "tasks_failed", "tasks_rejected",
                "messages_completed", "cost_usd", "input_tokens", "output_tokens", "started_at", "agent_health", "degraded")) {
            assertTrue(status.has(field), "status has " + field + ": " + status);
        }
        assertEquals("idle", status.path("state").asText());
        assertTrue(status.path("current_task").isNull());
        assertTrue(status.path("degraded").isNull(), "not degraded: " + status);
        assertEquals("scripted", status.path("profile").asText());
        assertEquals("command", status.path("agent_health").path("type").asText());
    }

    @Test
    void messageRepliesWithTheAgentsText() throws Exception {
        start(4, 30);
        HttpResponse<String> r = post("/message", "{\"text\":\"hi there\",\"client_msg_id\":\"c-1\"}");
        assertEquals(200, r.statusCode(), r.body());
        JsonNode body = json(r);
        assertEquals("line1:hi there\nline2", body.path("reply").asText());
        assertEquals("completed", body.path("result").path("status").asText());
        assertEquals(0, body.path("result").path("exit_code").asInt());
        assertEquals(1, json(get("/status")).path("messages_completed").asInt());
    }

    @Test
    void messageStreamsEventsAsNdjsonWithTheResultLast() throws Exception {
        start(4, 30);
        HttpResponse<java.util.stream.Stream<String>> r = http.send(
                req("/message?stream=true")
                        .POST(HttpRequest.BodyPublishers.ofString("{\"text\":\"streamed\"}")).build(),
                HttpResponse.BodyHandlers.ofLines());
        assertEquals(200, r.statusCode());
        assertTrue(r.headers().firstValue("content-type").orElse("").startsWith("application/x-ndjson"));
        List<JsonNode> lines = r.body().map(l -> Json.read(l, JsonNode.class, "line")).toList();
        assertTrue(lines.size() >= 2, lines.toString());
        assertEquals("text_delta", lines.get(0).path("type").asText());
        assertEquals("line1:streamed\n", lines.get(0).path("text").asText());
        JsonNode last = lines.get(lines.size() - 1);
        assertEquals("result", last.path("type").asText());
        assertEquals("completed", last.path("result").path("status").asText());
        assertEquals("line1:streamed\nline2", last.path("result").path("text").asText());
        assertEquals(1, lines.stream().filter(l -> "result".equals(l.path("type").asText())).count());
    }

    @Test
    void streamedFailureStillEndsWithTheResultLine() throws Exception {
        start(4, 30);
        HttpResponse<String> r = post("/message?stream=true", "{\"text\":\"fail hard\"}");
        assertEquals(200, r.statusCode());
        String[] lines = r.body().strip().split("\n");
        JsonNode last = Json.read(lines[lines.length - 1], JsonNode.class, "line");
        assertEquals("failed", last.path("result").path("status").asText());
    }

    @Test
    void badRequestsAreRefusedWithTheRightStatus() throws Exception {
        start(4, 30);
        assertError(post("/message", "{not json"), 400, "invalid_argument");
        assertError(post("/message", "{\"client_msg_id\":\"x\"}"), 400, "invalid_argument");
        assertError(post("/message", "{\"text\":42}"), 400, "invalid_argument");
        assertError(post("/message", "[1,2]"), 400, "invalid_argument");
        assertError(post("/message", ""), 400, "invalid_argument");
        assertError(post("/message", "{\"text\":\"   \"}"), 400, "invalid_argument");
        assertError(postBytes("/message", new byte[]{'{', '"', 't', 'e', 'x', 't', '"', ':', '"', (byte) 0xC3, (byte) 0x28, '"', '}'}),
                400, "invalid_argument");
        assertError(post("/message", "{\"text\":\"" + "a".repeat(1001) + "\"}"), 413, "payload_too_large");
        // Over the body limit the server answers from the declared length, before reading the body.
        String raw = rawExchange("POST /message HTTP/1.1\r\nHost: 127.0.0.1:" + service.port() + "\r\nContent-Type: application/json\r\n"
                + "Authorization: Bearer " + token.reveal() + "\r\n"
                + "Content-Length: 3000\r\nConnection: close\r\n\r\n");
        assertTrue(raw.startsWith("HTTP/1.1 413"), raw);
        assertTrue(raw.contains("\"payload_too_large\""), raw);
        assertError(post("/message?stream=true", "{\"text\":\"" + "a".repeat(1001) + "\"}"), 413, "payload_too_large");
        assertError(get("/nowhere"), 404, "not_found");
        HttpResponse<String> wrongMethod = get("/message");
        assertError(wrongMethod, 405, "method_not_allowed");
        assertEquals("POST", wrongMethod.headers().firstValue("allow").orElse(""));
        assertError(post("/health", "{}"), 405, "method_not_allowed");
        assertError(get("/events?after=abc"), 400, "invalid_argument");
    }

    @Test
    void healthOfAStartingBotWaitsForTheStartWhenAskedTo() throws Exception {
        serveBeforeStart(4, 5);
        assertError(get("/health"), 503, "unavailable");
        assertError(get("/health?wait_ms=50"), 503, "unavailable");
        assertError(get("/health?wait_ms=soon"), 400, "invalid_argument");
        assertError(get("/health?wait_ms=-1"), 400, "invalid_argument");
        assertError(get("/health?wait_ms=" + (BotHttpService.MAX_HEALTH_WAIT.toMillis() + 1)), 400, "invalid_argument");

        // Longer than the connector's idle timeout (700 ms), which must not cut the wait short.
        java.util.concurrent.CompletableFuture<HttpResponse<String>> waiting = http.sendAsync(
                req("/health?wait_ms=10000").GET().build(),
                HttpResponse.BodyHandlers.ofString());
        Thread.sleep(1000);
        assertFalse(waiting.isDone(), "answered before the start ended: " + (waiting.isDone() ? waiting.get().body() : ""));
        runtime.start();
        HttpResponse<String> health = waiting.get(30, java.util.concurrent.TimeUnit.SECONDS);
        assertEquals(200, health.statusCode(), health.body());
        assertEquals("BOT-007", json(health).path("bot_id").asText());
        assertEquals(200, get("/health?wait_ms=10000").statusCode(), "a started bot answers at once");
        assertError(get("/health?wait_ms=soon"), 400, "invalid_argument");
    }

    @Test
    void agentFailureIs500WithTheReasonAndTimeoutIs504() throws Exception {
        start(4, 1);
        HttpResponse<String> failed = post("/message", "{\"text\":\"fail please\"}");
        assertError(failed, 500, "internal");
        assertTrue(json(failed).path("error").path("message").asText().contains("broken: fail please"), failed.body());
        assertEquals("failed", json(failed).path("result").path("status").asText());

        HttpResponse<String> slow = post("/message", "{\"text\":\"slow one\"}");
        assertError(slow, 504, "timeout");
        assertEquals("timeout", json(slow).path("result").path("status").asText());
    }

    @Test
    void fullQueueIs429AndInterruptEndsTheTurn() throws Exception {
        start(1, 30);
        CompletableFuture<HttpResponse<String>> first = http.sendAsync(
                req("/message")
                        .POST(HttpRequest.BodyPublishers.ofString("{\"text\":\"wait here\"}")).build(),
                HttpResponse.BodyHandlers.ofString());
        await().until(() -> "busy".equals(json(get("/status")).path("state").asText())
                && json(get("/status")).path("agent_health").has("pid"));
        CompletableFuture<HttpResponse<String>> second = http.sendAsync(
                req("/message")
                        .POST(HttpRequest.BodyPublishers.ofString("{\"text\":\"queued\"}")).build(),
                HttpResponse.BodyHandlers.ofString());
        await().until(() -> json(get("/status")).path("messages_waiting").asInt() == 1);
        assertError(post("/message", "{\"text\":\"one too many\"}"), 429, "too_many_requests");

        HttpResponse<String> interrupted = post("/interrupt", "");
        assertEquals(200, interrupted.statusCode());
        assertTrue(json(interrupted).path("interrupted").asBoolean());
        HttpResponse<String> firstReply = first.get();
        assertEquals(200, firstReply.statusCode(), firstReply.body());
        assertEquals("interrupted", json(firstReply).path("result").path("status").asText());
        assertEquals("line1:queued\nline2", json(second.get()).path("reply").asText());
        assertFalse(json(post("/interrupt", "")).path("interrupted").asBoolean());
    }

    @Test
    void longTurnOutlivesTheIdleTimeout() throws Exception {
        start(4, 30);
        CompletableFuture<HttpResponse<String>> reply = http.sendAsync(
                req("/message")
                        .POST(HttpRequest.BodyPublishers.ofString("{\"text\":\"wait past idle\"}")).build(),
                HttpResponse.BodyHandlers.ofString());
        await().until(() -> "busy".equals(json(get("/status")).path("state").asText()));
        // The connector's idle timeout is 700 ms: open the gate only after two of them have passed.
        long busySince = System.nanoTime();
        await().pollDelay(Duration.ofMillis(1500)).until(() -> System.nanoTime() - busySince > 1_400_000_000L);
        Files.createFile(gate);
        assertEquals(200, reply.get().statusCode(), reply.get().body());
    }

    @Test
    void pauseResumeAndEventsReplay() throws Exception {
        start(4, 30);
        HttpResponse<String> paused = post("/pause", "");
        assertEquals(200, paused.statusCode());
        assertEquals("paused", json(paused).path("state").asText());
        assertTrue(Files.exists(hive.pauseFile("BOT-007")));
        HttpResponse<String> resumed = post("/resume", "");
        assertEquals("idle", json(resumed).path("state").asText());
        assertFalse(Files.exists(hive.pauseFile("BOT-007")));

        new FileTaskQueue(hive, runtime.config()).submit("BOT-007", "---\ntask_id: t-ev\n---\nevent task\n");
        await().until(() -> json(get("/status")).path("tasks_completed").asInt() == 1);

        // Replay from the start: status changes and the task's life, in order, with increasing seq.
        HttpRequest eventsRequest = req("/events?after=0").GET().build();
        HttpResponse<InputStream> events = http.send(eventsRequest, HttpResponse.BodyHandlers.ofInputStream());
        assertEquals(200, events.statusCode());
        assertTrue(events.headers().firstValue("content-type").orElse("").startsWith("application/x-ndjson"));
        List<JsonNode> seen = new ArrayList<>();
        try (BufferedReader reader = new BufferedReader(new InputStreamReader(events.body(), StandardCharsets.UTF_8))) {
            String line;
            while ((line = reader.readLine()) != null) {
                JsonNode e = Json.read(line, JsonNode.class, "event");
                seen.add(e);
                if ("task".equals(e.path("type").asText()) && "completed".equals(e.path("event").asText())) {
                    break;
                }
            }
            List<String> states = seen.stream().filter(e -> "status".equals(e.path("type").asText()))
                    .map(e -> e.path("state").asText()).toList();
            assertTrue(states.containsAll(List.of("starting", "idle", "paused")), states.toString());
            List<String> taskEvents = seen.stream().filter(e -> "t-ev".equals(e.path("task_id").asText()))
                    .map(e -> e.path("event").asText()).toList();
            assertEquals(List.of("claimed", "started", "completed"), taskEvents);
            long previous = 0;
            for (JsonNode e : seen) {
                assertEquals("BOT-007", e.path("bot_id").asText());
                assertTrue(e.path("seq").asLong() > previous, seen.toString());
                previous = e.path("seq").asLong();
            }

            // Live: a new event reaches the open stream; a stop ends it.
            post("/pause", "");
            JsonNode live = Json.read(reader.readLine(), JsonNode.class, "event");
            assertEquals("paused", live.path("state").asText());
            assertEquals(previous + 1, live.path("seq").asLong());

            HttpResponse<String> stop = post("/stop", "");
            assertEquals(202, stop.statusCode());
            assertTrue(json(stop).path("stopping").asBoolean());
            List<String> rest = new ArrayList<>();
            while ((line = reader.readLine()) != null) {
                rest.add(line);
            }
            assertTrue(rest.stream().anyMatch(l -> l.contains("\"stopping\"")), rest.toString());
        }
        runtime.stopped().get();
        assertError(post("/message", "{\"text\":\"late\"}"), 503, "unavailable");
        assertError(post("/pause", ""), 503, "unavailable");
    }
    // ---------------------------------------------------------------- the port obeys the token, never a browser

    /** Every endpoint but /health: method, path, body. */
    private static final List<String[]> GUARDED = List.of(
            new String[] {"GET", "/status", null},
            new String[] {"POST", "/message", "{\"text\":\"write pwned.txt: owned\"}"},
            new String[] {"POST", "/interrupt", ""},
            new String[] {"POST", "/pause", ""},
            new String[] {"POST", "/resume", ""},
            new String[] {"POST", "/stop", ""},
            new String[] {"GET", "/events?after=0", null});

    private HttpResponse<String> send(String method, String path, String body, Map<String, String> headers)
            throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(service.url() + path)).timeout(Duration.ofSeconds(30))
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        headers.forEach(b::header);
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    /** Nothing a refused request could have done happened: no agent turn, no pause, no stop. */
    private void assertNothingHappened() throws Exception {
        assertFalse(Files.exists(Path.of(gate + ".turns")), "the agent ran a turn");
        assertFalse(Files.exists(hive.pauseFile("BOT-007")), "the bot was paused");
        assertFalse(runtime.isStopping(), "the bot was stopped");
        JsonNode status = json(get("/status"));
        assertEquals("idle", status.path("state").asText(), status.toString());
        assertEquals(0, status.path("messages_completed").asInt(), status.toString());
    }

    @Test
    void everyEndpointButHealthRefusesAMissingOrWrongToken() throws Exception {
        start(4, 30);
        String wrong = token.reveal().substring(1) + "x";
        List<Map<String, String>> refused = List.of(
                Map.of("Content-Type", "application/json"),
                Map.of("Content-Type", "application/json", "Authorization", "Bearer " + wrong),
                Map.of("Content-Type", "application/json", "Authorization", "Bearer " + token.reveal() + "x"),
                Map.of("Content-Type", "application/json", "Authorization", token.reveal()),
                Map.of("Content-Type", "application/json", "Authorization", "Basic " + token.reveal()),
                Map.of("Content-Type", "application/json", "Cookie", "deia_token=" + token.reveal()));
        for (String[] endpoint : GUARDED) {
            for (Map<String, String> headers : refused) {
                HttpResponse<String> r = send(endpoint[0], endpoint[1], endpoint[2], headers);
                assertError(r, 401, "unauthorized");
                assertEquals("Bearer realm=\"deia\"", r.headers().firstValue("www-authenticate").orElse(""));
            }
        }
        assertNothingHappened();
        assertEquals(200, send("GET", "/health", null, Map.of()).statusCode(), "/health needs no token");

        // With the token each one works.
        Map<String, String> good = Map.of("Content-Type", "application/json", "Authorization", token.bearer());
        assertEquals(200, send("GET", "/status", null, good).statusCode());
        assertEquals("paused", json(send("POST", "/pause", "", good)).path("state").asText());
        assertEquals("idle", json(send("POST", "/resume", "", good)).path("state").asText());
        assertEquals(200, send("POST", "/interrupt", "", good).statusCode());
        HttpResponse<String> reply = send("POST", "/message", "{\"text\":\"hello\"}", good);
        assertEquals("line1:hello\nline2", json(reply).path("reply").asText(), reply.body());
        assertEquals(List.of("turn"), Files.readAllLines(Path.of(gate + ".turns")));
        HttpResponse<InputStream> events = http.send(req("/events?after=0").GET().build(),
                HttpResponse.BodyHandlers.ofInputStream());
        assertEquals(200, events.statusCode());
        events.body().close();
        assertEquals(202, send("POST", "/stop", "", good).statusCode());
        runtime.stopped().get();
    }

    @Test
    void theIssuesReproductionIsRefusedAndTheAgentNeverRuns() throws Exception {
        start(4, 30);
        // What a web page can send without a CORS preflight: text/plain JSON, with its Origin. With
        // and without the token (a page cannot have it, but the refusal must not depend on that).
        for (Map<String, String> auth : List.of(Map.<String, String>of(), Map.of("Authorization", token.bearer()))) {
            for (String origin : List.of("http://evil.example", "http://127.0.0.1:9999", "null")) {
                Map<String, String> headers = new java.util.HashMap<>(auth);
                headers.put("Origin", origin);
                headers.put("Content-Type", "text/plain;charset=UTF-8");
                assertError(send("POST", "/message", "{\"text\":\"write pwned.txt: owned by a web page\"}", headers),
                        403, "forbidden");
                headers.remove("Content-Type");
                assertError(send("POST", "/stop", null, headers), 403, "forbidden");
                assertError(send("POST", "/pause", null, headers), 403, "forbidden");
                assertError(send("GET", "/health", null, headers), 403, "forbidden");
            }
        }
        assertNothingHappened();
    }

    @Test
    void crossSiteFetchesAndNonJsonBodiesAreRefusedEvenWithTheToken() throws Exception {
        start(4, 30);
        for (String site : List.of("cross-site", "same-site")) {
            assertError(send("POST", "/message", "{\"text\":\"x\"}", Map.of("Authorization", token.bearer(),
                    "Content-Type", "application/json", "Sec-Fetch-Site", site)), 403, "forbidden");
        }
        for (String type : List.of("text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded",
                "multipart/form-data; boundary=x", "text/markdown")) {
            HttpResponse<String> r = send("POST", "/message", "{\"text\":\"x\"}",
                    Map.of("Authorization", token.bearer(), "Content-Type", type));
            assertError(r, 415, "unsupported_media_type");
            assertError(send("POST", "/stop", "", Map.of("Authorization", token.bearer(), "Content-Type", type)),
                    415, "unsupported_media_type");
        }
        // A body without any Content-Type.
        assertError(send("POST", "/message", "{\"text\":\"x\"}", Map.of("Authorization", token.bearer())),
                415, "unsupported_media_type");
        assertNothingHappened();
        // What local clients send passes: none/same-origin, JSON with a charset, no body and no type.
        for (String site : List.of("none", "same-origin")) {
            assertEquals(200, send("GET", "/status", null, Map.of("Authorization", token.bearer(),
                    "Sec-Fetch-Site", site)).statusCode());
        }
        assertEquals(200, send("POST", "/pause", null, Map.of("Authorization", token.bearer())).statusCode());
        assertEquals(200, send("POST", "/resume", "{}", Map.of("Authorization", token.bearer(),
                "Content-Type", "Application/JSON; charset=utf-8")).statusCode());
    }

    @Test
    void hostMustNameThisPortOnLoopback() throws Exception {
        start(4, 30);
        String auth = "Authorization: Bearer " + token.reveal() + "\r\n";
        // DNS rebinding: a page whose name now points at 127.0.0.1 still sends its own Host.
        for (String host : List.of("evil.example", "evil.example:" + service.port(), "127.0.0.1:1",
                "127.0.0.2:" + service.port())) {
            String raw = rawExchange("POST /message HTTP/1.1\r\nHost: " + host + "\r\n" + auth
                    + "Content-Type: application/json\r\nContent-Length: 12\r\nConnection: close\r\n\r\n{\"text\":\"x\"}");
            assertTrue(raw.startsWith("HTTP/1.1 421"), host + ": " + raw);
            assertTrue(raw.contains("\"misdirected_request\""), raw);
            assertTrue(rawExchange("GET /health HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n")
                    .startsWith("HTTP/1.1 421"), host);
        }
        assertNothingHappened();
        for (String host : List.of("127.0.0.1:" + service.port(), "localhost:" + service.port(),
                "LocalHost:" + service.port())) {
            String raw = rawExchange("GET /status HTTP/1.1\r\nHost: " + host + "\r\n" + auth
                    + "Connection: close\r\n\r\n");
            assertTrue(raw.startsWith("HTTP/1.1 200"), host + ": " + raw);
        }
    }
}
