package io.deia.http.bot;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.HiveLayout;
import io.deia.core.HiveToken;
import io.deia.core.agent.TurnResult;
import io.deia.core.bot.BotRuntime;
import io.deia.core.config.AgentType;
import io.deia.core.config.DeiaConfig;
import io.deia.core.config.Profile;
import io.deia.core.internal.io.Json;
import io.deia.core.permission.ApprovalPolicy;
import io.deia.core.registry.JsonFileServiceRegistry;
import io.deia.core.testkit.AskingAgent;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code GET /permissions} and {@code POST /permissions/{request_id}} of a bot port over real HTTP,
 * against a real runtime whose test agent asks its gate as a CLI does; with the attacks every
 * endpoint of a bot port must refuse.
 */
class PermissionEndpointsTest {
    @TempDir
    Path dir;

    private final HttpClient http = HttpClient.newHttpClient();
    private BotRuntime runtime;
    private BotHttpService service;
    private HiveToken token;

    @BeforeEach
    void start() {
        HiveLayout hive = new HiveLayout(dir.resolve("hive"));
        Profile profile = Profile.builder(AgentType.CLAUDE_CODE).timeoutS(60).maxAttempts(1)
                .approval(new ApprovalPolicy("ask", 600, List.of("Read"), null)).build();
        DeiaConfig config = DeiaConfig.builder().maxBodyBytes(2000).profiles(Map.of("asking", profile)).build();
        runtime = BotRuntime.builder().botId("BOT-010").profile(config.requireProfile("asking")).config(config).hive(hive)
                .registry(new JsonFileServiceRegistry(hive, config)).agent(new AskingAgent("S-1")).port(0).build().start();
        token = HiveToken.loadOrCreate(hive);
        service = BotHttpService.builder(runtime).token(token).port(0).stopGrace(Duration.ofMillis(200)).build().start();
    }

    @AfterEach
    void stop() {
        runtime.close();
        service.close();
    }

    private HttpRequest.Builder req(String path) {
        return HttpRequest.newBuilder(URI.create(service.url() + path)).timeout(Duration.ofSeconds(30))
                .header("Authorization", "Bearer " + token.reveal()).header("Content-Type", "application/json");
    }

    private HttpResponse<String> send(HttpRequest.Builder b) throws Exception {
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    private HttpResponse<String> answer(String requestId, String body) throws Exception {
        return send(req("/permissions/" + requestId).POST(HttpRequest.BodyPublishers.ofString(body)));
    }

    private static JsonNode json(HttpResponse<String> r) {
        return Json.read(r.body(), JsonNode.class, "response");
    }

    private static void assertError(HttpResponse<String> r, int status, String code) {
        assertEquals(status, r.statusCode(), r.body());
        assertEquals(code, json(r).path("error").path("code").asText(), r.body());
    }

    /** Asks in a chat turn and returns the request as {@code GET /permissions} lists it. */
    private JsonNode ask(String prompt, CompletableFuture<TurnResult>[] turn) throws Exception {
        int before = json(send(req("/permissions").GET())).path("permissions").size();
        turn[0] = runtime.submitMessage(prompt, null, null);
        await().atMost(Duration.ofSeconds(20)).until(() -> json(send(req("/permissions").GET())).path("permissions").size() > before);
        JsonNode list = json(send(req("/permissions").GET())).path("permissions");
        return list.get(list.size() - 1);
    }

    @Test
    @SuppressWarnings("unchecked")
    void aPendingRequestIsListedAnsweredOnceAndStreamedAsEvents() throws Exception {
        HttpResponse<String> empty = send(req("/permissions").GET());
        assertEquals(200, empty.statusCode());
        assertEquals("{\"permissions\":[]}", empty.body());

        CompletableFuture<TurnResult>[] turn = new CompletableFuture[1];
        JsonNode p = ask("ask Bash git push", turn);
        String id = p.path("request_id").asText();
        assertTrue(id.matches("perm-[0-9a-f]{24}"), id);
        assertEquals("Bash", p.path("tool").asText());
        assertEquals("git push", p.path("summary").asText());
        assertEquals("{\"command\":\"git push\"}", p.path("input").asText());
        assertEquals("Bash(git push)", p.path("suggestions").get(0).asText());
        assertFalse(p.has("task_id"), "a chat turn has no task: " + p);
        assertTrue(p.has("created_at") && p.has("expires_at"), p.toString());
        assertEquals("waiting_approval", json(send(req("/status").GET())).path("state").asText());

        HttpResponse<String> ok = answer(id, "{\"decision\":\"deny\",\"message\":\"not on main\"}");
        assertEquals(200, ok.statusCode(), ok.body());
        assertEquals(id, json(ok).path("request_id").asText());
        assertEquals("deny", json(ok).path("decision").asText());
        assertEquals("user", json(ok).path("by").asText());
        assertFalse(json(ok).path("at").asText().isEmpty());
        assertEquals("denied: not on main", turn[0].get(20, TimeUnit.SECONDS).text());
        assertError(answer(id, "{\"decision\":\"allow\"}"), 409, "conflict");
        assertEquals("{\"permissions\":[]}", send(req("/permissions").GET()).body());

        // Both events on the bot's stream, in order, with the contract's fields.
        List<JsonNode> seen = new ArrayList<>();
        HttpResponse<Stream<String>> events = http.send(req("/events?after=0").GET().build(), HttpResponse.BodyHandlers.ofLines());
        try (Stream<String> lines = events.body()) {
            Iterator<String> it = lines.iterator();
            while (it.hasNext()) {
                JsonNode e = Json.read(it.next(), JsonNode.class, "event");
                if (e.path("type").asText().startsWith("permission_")) {
                    seen.add(e);
                }
                if (e.path("type").asText().equals("permission_resolved")) {
                    break;
                }
            }
        }
        assertEquals("permission_request", seen.get(0).path("type").asText());
        assertEquals("BOT-010", seen.get(0).path("bot_id").asText());
        assertEquals(id, seen.get(0).path("request_id").asText());
        assertEquals("Bash", seen.get(0).path("tool").asText());
        assertEquals("git push", seen.get(0).path("summary").asText());
        assertTrue(seen.get(0).has("expires_at") && seen.get(0).has("input") && seen.get(0).has("suggestions"), seen.get(0).toString());
        assertEquals("permission_resolved", seen.get(1).path("type").asText());
        assertEquals(id, seen.get(1).path("request_id").asText());
        assertEquals("deny", seen.get(1).path("decision").asText());
        assertEquals("user", seen.get(1).path("by").asText());
        assertEquals("not on main", seen.get(1).path("message").asText());
        assertTrue(seen.get(1).has("at"), seen.get(1).toString());
    }

    @Test
    @SuppressWarnings("unchecked")
    void twoAnswersAtTheSameMomentGetExactlyOne200AndOne409() throws Exception {
        for (int round = 0; round < 5; round++) {
            CompletableFuture<TurnResult>[] turn = new CompletableFuture[1];
            String id = ask("ask Bash deploy " + round, turn).path("request_id").asText();
            CountDownLatch go = new CountDownLatch(1);
            List<CompletableFuture<HttpResponse<String>>> both = new ArrayList<>();
            for (String decision : List.of("allow", "deny")) {
                both.add(CompletableFuture.supplyAsync(() -> {
                    try {
                        go.await();
                        return answer(id, "{\"decision\":\"" + decision + "\"}");
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                }));
            }
            go.countDown();
            List<Integer> statuses = new ArrayList<>();
            for (CompletableFuture<HttpResponse<String>> f : both) {
                statuses.add(f.get(30, TimeUnit.SECONDS).statusCode());
            }
            statuses.sort(Integer::compareTo);
            assertEquals(List.of(200, 409), statuses, "round " + round);
            turn[0].get(20, TimeUnit.SECONDS);
        }
    }

    @Test
    @SuppressWarnings("unchecked")
    void attacksAndBadAnswersAreRefused() throws Exception {
        CompletableFuture<TurnResult>[] turn = new CompletableFuture[1];
        String id = ask("ask Bash make release", turn).path("request_id").asText();
        String allow = "{\"decision\":\"allow\"}";

        // No token, a wrong token, a browser's Origin, a cross-site fetch: nothing is answered.
        assertError(send(HttpRequest.newBuilder(URI.create(service.url() + "/permissions")).GET()), 401, "unauthorized");
        assertError(send(HttpRequest.newBuilder(URI.create(service.url() + "/permissions/" + id))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(allow))), 401, "unauthorized");
        assertError(send(req("/permissions/" + id).setHeader("Authorization", "Bearer nope")
                .POST(HttpRequest.BodyPublishers.ofString(allow))), 401, "unauthorized");
        assertError(send(req("/permissions/" + id).header("Origin", "http://evil.example")
                .POST(HttpRequest.BodyPublishers.ofString(allow))), 403, "forbidden");
        assertError(send(req("/permissions").header("Sec-Fetch-Site", "cross-site").GET()), 403, "forbidden");
        // Not JSON, too large, not an object, a bad or missing decision, a message that is not text.
        assertError(send(req("/permissions/" + id).setHeader("Content-Type", "text/plain")
                .POST(HttpRequest.BodyPublishers.ofString(allow))), 415, "unsupported_media_type");
        assertError(answer(id, "{\"decision\":\"allow\",\"message\":\"" + "x".repeat(3000) + "\"}"), 413, "payload_too_large");
        assertError(answer(id, "[\"allow\"]"), 400, "invalid_argument");
        assertError(answer(id, "{\"decision\":\"yes\"}"), 400, "invalid_argument");
        assertError(answer(id, "{\"decision\":\"ALLOW\"}"), 400, "invalid_argument");
        assertError(answer(id, "{}"), 400, "invalid_argument");
        assertError(answer(id, "{\"decision\":\"allow\",\"message\":42}"), 400, "invalid_argument");
        // Ids that are not one: traversal, escapes, extra segments, a wrong shape; and an unknown one.
        for (String bad : List.of("..%2Fstatus", "%2e%2e", "perm-" + id.substring(5).toUpperCase(), id + "%00", id + "/x",
                "perm-1", "x".repeat(300))) {
            assertError(answer(bad, allow), 400, "invalid_argument");
        }
        assertError(answer("perm-000000000000000000000000", allow), 404, "not_found");
        assertError(send(req("/permissions/" + id).GET()), 405, "method_not_allowed");
        assertError(send(req("/permissions").POST(HttpRequest.BodyPublishers.ofString(allow))), 405, "method_not_allowed");

        // After all that the request still waits, and a proper answer goes through.
        assertEquals(id, json(send(req("/permissions").GET())).path("permissions").get(0).path("request_id").asText());
        assertEquals(200, answer(id, "{\"decision\":\"allow_session\"}").statusCode());
        assertEquals("ran: make release", turn[0].get(20, TimeUnit.SECONDS).text());
        // Remembered for the session: the same call is not asked again.
        assertEquals("ran: make release", runtime.sendMessage("ask Bash make release", null, null).text());
    }
}
