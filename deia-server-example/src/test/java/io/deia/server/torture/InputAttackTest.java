package io.deia.server.torture;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.HiveLayout;
import io.deia.core.internal.io.AtomicFiles;
import io.deia.core.internal.io.Json;
import io.deia.server.dashboard.ServeProcess;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.WebSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The input half of the security review against a real {@code serve} JVM and a real bot runner:
 * history requests for unknown ids leak no descriptor of the controller process, nothing from
 * outside reaches {@code serve.log} or the bot log raw, request JSON is strict, deny patterns hold
 * for tasks and for the bot's own port, and a bad response file does not break the task list.
 */
class InputAttackTest {
    private static final String BOT = "BOT-IN1";

    @TempDir
    Path dir;

    private ServeProcess serve;
    private HiveLayout hive;
    private Path ranLog;
    private final HttpClient http = HttpClient.newHttpClient();

    @AfterEach
    void tearDown() throws Exception {
        Torture.endServe(serve, List.of(BOT), dir);
    }

    @Test
    void hostileInputIsRefusedEscapedOrSkippedAndLeaksNothing() throws Exception {
        hive = new HiveLayout(dir.resolve(".deia"));
        ranLog = dir.resolve("ran.log");
        Path configFile = dir.resolve("deia.json");
        int portBase = 21000 + new Random().nextInt(40) * 100;
        String script = "p=$(cat); printf '%s\\n' \"$p\" >> '" + ranLog + "'; printf 'ok:%s' \"$p\"";
        AtomicFiles.writeString(configFile, Json.write(Map.of("ports", Map.of("from", portBase, "to", portBase + 99),
                "profiles", Map.of("guarded", Map.of("agent", "command", "executable", "/bin/sh",
                        "args", List.of("-c", script), "deny_patterns", List.of("(?i)rm\\s+-rf"), "start_timeout_s", 60)))));
        serve = new ServeProcess(hive.root(), configFile, dir.resolve("serve.log"));
        serve.start();
        HttpResponse<String> launched = serve.post("/api/bot/launch", "{\"bot_id\":\"" + BOT + "\",\"profile\":\"guarded\"}");
        assertEquals(201, launched.statusCode(), launched.body());

        // 3. Unknown ids: 404, no file, and the controller's descriptors do not grow (2 per id before).
        serve.get("/api/bot/NOPE-0/history", true);
        long fdsBefore = fds(serve.pid());
        for (int i = 0; i < 1000; i++) {
            HttpResponse<String> h = serve.get("/api/bot/NOPE-" + i + "/history", true);
            assertEquals(404, h.statusCode(), h.body());
        }
        assertFalse(Files.exists(hive.historyFile("NOPE-5")));
        long fdsAfter = fds(serve.pid());
        assertTrue(fdsAfter < fdsBefore + 50, "controller descriptors " + fdsBefore + " -> " + fdsAfter);

        // 9. Strict JSON: trailing content and duplicate keys are refused, nothing runs.
        for (String body : List.of("{\"text\":\"ok\"} junk", "{\"text\":\"a\"}{\"text\":\"b\"}", "{\"text\":\"a\",\"text\":\"b\"}")) {
            assertEquals(400, serve.post("/api/bot/" + BOT + "/message", body).statusCode(), body);
        }

        // 5. A client_msg_id that would forge a serve.log line or send escapes: refused on REST and WebSocket.
        String forged = "x\\n2026-01-01 [main] INFO forged\\u001b]0;owned\\u0007";
        HttpResponse<String> rest = serve.post("/api/bot/" + BOT + "/message",
                "{\"text\":\"hello\",\"client_msg_id\":\"" + forged + "\"}");
        assertEquals(400, rest.statusCode(), rest.body());
        List<JsonNode> events = new CopyOnWriteArrayList<>();
        WebSocket ws = http.newWebSocketBuilder().header("Authorization", "Bearer " + serve.token())
                .buildAsync(URI.create(serve.baseUrl().replace("http://", "ws://") + "/ws"), new Collector(events))
                .get(10, TimeUnit.SECONDS);
        ws.sendText("{\"type\":\"message\",\"bot_id\":\"" + BOT + "\",\"text\":\"hello\",\"client_msg_id\":\"" + forged + "\"}", true).join();
        ws.sendText("{\"type\":\"message\",\"bot_id\":\"" + BOT + "\",\"text\":\"hello\",\"client_msg_id\":12345}", true).join();
        await().atMost(Duration.ofSeconds(10)).until(() -> events.stream().filter(e -> e.path("type").asText().equals("error")).count() == 2);
        assertTrue(events.stream().noneMatch(e -> e.path("type").asText().equals("ack")), events.toString());
        ws.sendClose(1000, "bye").join();

        // An inbox file whose name carries a forged line and terminal escapes: the bot log gets it escaped.
        String evilName = "evil\n[" + BOT + "] INFO forged\u001b]0;owned\u0007\u001b[2J.md";
        AtomicFiles.write(hive.inboxDir(BOT).resolve(evilName), "say hello\n".getBytes(StandardCharsets.UTF_8));
        Path botLog = hive.botLogFile(BOT);
        await().atMost(Duration.ofSeconds(30)).until(() -> Files.readString(botLog).contains("evil\\u000a[" + BOT + "] INFO forged\\u001b"));

        // 7. Deny patterns: a task over the API and the bot's own /message never reach the agent.
        HttpResponse<String> task = serve.post("/api/bot/" + BOT + "/tasks",
                "{\"task\":\"---\\ntask_id: T-RM\\n---\\nrm -rf /\\n\"}");
        assertEquals(201, task.statusCode(), task.body());
        int botPort = Json.read(serve.get("/api/bot/" + BOT + "/status", true).body(), JsonNode.class, "status").path("port").asInt();
        HttpResponse<String> direct = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + botPort + "/message"))
                .header("Authorization", "Bearer " + serve.token()).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"text\":\"RM -RF ~\"}")).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(422, direct.statusCode(), direct.body());
        await().atMost(Duration.ofSeconds(30)).until(() -> tasks().path("responses").findValuesAsText("task_id").contains("T-RM"));

        // 8. A bad response file is skipped and named; the hive's path is in no answer.
        Files.writeString(hive.responsesDir(BOT).resolve("T-BAD.response.md"), "---\nstatus: exploded\n---\n");
        HttpResponse<String> list = serve.get("/api/bot/" + BOT + "/tasks", true);
        assertEquals(200, list.statusCode(), list.body());
        JsonNode listing = Json.read(list.body(), JsonNode.class, "tasks");
        assertEquals(List.of("T-BAD.response.md"), listing.path("skipped").findValuesAsText("file"));
        assertFalse(list.body().contains(dir.toString()), list.body());
        for (JsonNode r : listing.path("responses")) {
            if (r.path("task_id").asText().equals("T-RM")) {
                assertEquals("rejected", r.path("status").asText(), r.toString());
            }
        }
        List<String> ran = Files.exists(ranLog) ? Files.readAllLines(ranLog) : List.of();
        assertTrue(ran.stream().noneMatch(l -> l.toLowerCase().contains("rm -")), "the agent never saw a denied prompt: " + ran);
        assertTrue(ran.contains("say hello"), ran.toString());

        // Nothing raw in either log: no ESC, no BEL, no line forged from outside.
        for (Path logFile : List.of(dir.resolve("serve.log.1"), botLog)) {
            byte[] bytes = Files.readAllBytes(logFile);
            for (byte b : bytes) {
                assertTrue(b != 0x1b && b != 0x07, "raw escape in " + logFile);
            }
            try (Stream<String> lines = Files.lines(logFile)) {
                assertTrue(lines.noneMatch(l -> l.startsWith("2026-01-01 [main] INFO forged") || l.startsWith("[" + BOT + "] INFO forged")),
                        "forged line in " + logFile);
            }
        }
    }

    private JsonNode tasks() throws Exception {
        return Json.read(serve.get("/api/bot/" + BOT + "/tasks", true).body(), JsonNode.class, "tasks");
    }

    private static long fds(long pid) throws Exception {
        try (Stream<Path> s = Files.list(Path.of("/proc", Long.toString(pid), "fd"))) {
            return s.count();
        }
    }

    /** Collects every WebSocket event. */
    private static final class Collector implements WebSocket.Listener {
        private final List<JsonNode> events;
        private final StringBuilder partial = new StringBuilder();

        Collector(List<JsonNode> events) {
            this.events = events;
        }

        @Override
        public CompletionStage<?> onText(WebSocket webSocket, CharSequence data, boolean last) {
            partial.append(data);
            if (last) {
                events.add(Json.read(partial.toString(), JsonNode.class, "event"));
                partial.setLength(0);
            }
            webSocket.request(1);
            return null;
        }
    }
}
