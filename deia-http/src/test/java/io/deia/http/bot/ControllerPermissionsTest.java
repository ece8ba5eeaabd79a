package io.deia.http.bot;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.HiveLayout;
import io.deia.core.HiveToken;
import io.deia.core.agent.TurnResult;
import io.deia.core.bot.BotRuntime;
import io.deia.core.chat.HistoryStore;
import io.deia.core.chat.MessageRouter;
import io.deia.core.config.AgentType;
import io.deia.core.config.DeiaConfig;
import io.deia.core.config.Profile;
import io.deia.core.internal.io.Json;
import io.deia.core.launch.BotLauncher;
import io.deia.core.launch.RunnerCommand;
import io.deia.core.permission.ApprovalPolicy;
import io.deia.core.registry.JsonFileServiceRegistry;
import io.deia.core.task.FileTaskQueue;
import io.deia.core.testkit.AskingAgent;
import io.deia.http.controller.ControllerServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.WebSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The controller's {@code /api/bot/{id}/permissions} endpoints and WebSocket events against a real
 * bot port. The bot is hosted in this JVM (its runtime, its HTTP service, registered in the real
 * registry) so that its agent can be the test agent that asks its gate; hence this package.
 */
class ControllerPermissionsTest {
    private static final String BOT = "BOT-011";

    @TempDir
    Path dir;

    private final HttpClient http = HttpClient.newHttpClient();
    private final List<JsonNode> wsEvents = new CopyOnWriteArrayList<>();
    private BotRuntime runtime;
    private BotHttpService service;
    private MessageRouter router;
    private BotLauncher launcher;
    private ControllerServer server;
    private WebSocket socket;
    private String token;

    @BeforeEach
    void start() throws Exception {
        HiveLayout hive = new HiveLayout(dir.resolve("hive"));
        Profile profile = Profile.builder(AgentType.CLAUDE_CODE).timeoutS(60).maxAttempts(1)
                .approval(new ApprovalPolicy("ask", 600, null, null)).build();
        DeiaConfig config = DeiaConfig.builder().maxBodyBytes(2000).heartbeatIntervalS(1).heartbeatTtlS(30)
                .profiles(Map.of("asking", profile)).build();
        JsonFileServiceRegistry registry = new JsonFileServiceRegistry(hive, config);
        int port;
        try (ServerSocket free = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            port = free.getLocalPort();
        }
        runtime = BotRuntime.builder().botId(BOT).profile(config.requireProfile("asking")).config(config).hive(hive)
                .registry(registry).agent(new AskingAgent("S-1")).port(port).build().start();
        service = BotHttpService.builder(runtime).token(HiveToken.loadOrCreate(hive)).port(port).build().start();
        router = MessageRouter.builder(registry, new HistoryStore(hive), config).scanInterval(Duration.ofMillis(200)).build();
        router.start();
        launcher = BotLauncher.builder(hive, config, registry, RunnerCommand.currentJvm()).build();
        server = ControllerServer.builder(hive, config, registry, launcher, new FileTaskQueue(hive, config), router)
                .port(0).build().start();
        token = server.token().reveal();
        socket = http.newWebSocketBuilder().header("Authorization", "Bearer " + token)
                .buildAsync(URI.create(server.baseUrl().replace("http://", "ws://") + "/ws"), new WebSocket.Listener() {
                    private final StringBuilder partial = new StringBuilder();

                    @Override
                    public CompletionStage<?> onText(WebSocket ws, CharSequence data, boolean last) {
                        partial.append(data);
                        if (last) {
                            wsEvents.add(Json.read(partial.toString(), JsonNode.class, "ws event"));
                            partial.setLength(0);
                        }
                        ws.request(1);
                        return null;
                    }
                }).get(10, TimeUnit.SECONDS);
    }

    @AfterEach
    void stop() {
        if (socket != null) {
            socket.abort();
        }
        server.close();
        router.close();
        router.history().close();
        runtime.close();
        service.close();
        launcher.close();
    }

    private HttpRequest.Builder req(String path) {
        return HttpRequest.newBuilder(URI.create(server.baseUrl() + path)).timeout(Duration.ofSeconds(30))
                .header("Authorization", "Bearer " + token).header("Content-Type", "application/json");
    }

    private HttpResponse<String> send(HttpRequest.Builder b) throws Exception {
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    private HttpResponse<String> answer(String requestId, String body) throws Exception {
        return send(req("/api/bot/" + BOT + "/permissions/" + requestId).POST(HttpRequest.BodyPublishers.ofString(body)));
    }

    private JsonNode pending() throws Exception {
        HttpResponse<String> r = send(req("/api/bot/" + BOT + "/permissions").GET());
        assertEquals(200, r.statusCode(), r.body());
        return json(r).path("permissions");
    }

    private static JsonNode json(HttpResponse<String> r) {
        return Json.read(r.body(), JsonNode.class, "response");
    }

    private static void assertError(HttpResponse<String> r, int status, String code) {
        assertEquals(status, r.statusCode(), r.body());
        assertEquals(code, json(r).path("error").path("code").asText(), r.body());
    }

    private JsonNode awaitWs(String type, String requestId) {
        await().atMost(Duration.ofSeconds(30)).until(() -> wsEvents.stream().anyMatch(e -> e.path("type").asText().equals(type)
                && e.path("request_id").asText().equals(requestId)));
        return wsEvents.stream().filter(e -> e.path("type").asText().equals(type)
                && e.path("request_id").asText().equals(requestId)).findFirst().orElseThrow();
    }

    private String ask(String prompt, CompletableFuture<TurnResult>[] turn) throws Exception {
        int before = pending().size();
        turn[0] = runtime.submitMessage(prompt, null, null);
        await().atMost(Duration.ofSeconds(20)).until(() -> pending().size() > before);
        JsonNode list = pending();
        return list.get(list.size() - 1).path("request_id").asText();
    }

    @Test
    @SuppressWarnings("unchecked")
    void aRequestIsRelayedAnsweredThroughTheControllerAndRecordedInHistory() throws Exception {
        assertEquals(0, pending().size());
        CompletableFuture<TurnResult>[] turn = new CompletableFuture[1];
        String id = ask("ask Bash git push --force", turn);
        JsonNode asked = awaitWs("permission_request", id);
        assertEquals(BOT, asked.path("bot_id").asText());
        assertEquals("Bash", asked.path("tool").asText());
        assertEquals("git push --force", asked.path("summary").asText());
        assertTrue(asked.has("event_id") && asked.has("expires_at"), asked.toString());
        await().atMost(Duration.ofSeconds(30)).until(() -> wsEvents.stream().anyMatch(e -> e.path("type").asText().equals("status")
                && e.path("state").asText().equals("waiting_approval")));

        HttpResponse<String> ok = answer(id, "{\"decision\":\"allow\",\"message\":\"once\"}");
        assertEquals(200, ok.statusCode(), ok.body());
        assertEquals("allow", json(ok).path("decision").asText());
        assertEquals("user", json(ok).path("by").asText());
        assertEquals(id, json(ok).path("request_id").asText());
        assertEquals("ran: git push --force", turn[0].get(20, TimeUnit.SECONDS).text());
        JsonNode resolved = awaitWs("permission_resolved", id);
        assertEquals("allow", resolved.path("decision").asText());
        assertEquals("user", resolved.path("by").asText());
        assertTrue(asked.path("event_id").asLong() < resolved.path("event_id").asLong());
        assertError(answer(id, "{\"decision\":\"deny\"}"), 409, "conflict");

        // The history keeps who decided what, and when.
        await().atMost(Duration.ofSeconds(20)).until(() -> router.history().read(BOT, null, 50).messages().size() >= 2);
        List<HistoryStore.Entry> history = new ArrayList<>(router.history().read(BOT, null, 50).messages());
        java.util.Collections.reverse(history);
        assertEquals(HistoryStore.PERMISSION, history.get(0).role());
        assertEquals(id, history.get(0).clientMsgId());
        assertEquals("asked: Bash git push --force (chat)", history.get(0).text());
        assertEquals("allow by user: once", history.get(1).text());
        assertEquals(id, history.get(1).clientMsgId());
        JsonNode overApi = json(send(req("/api/bot/" + BOT + "/history").GET())).path("messages");
        assertEquals("permission", overApi.get(0).path("role").asText());
    }

    @Test
    @SuppressWarnings("unchecked")
    void twoDashboardsAnsweringAtOnceGetOne200AndOne409() throws Exception {
        CompletableFuture<TurnResult>[] turn = new CompletableFuture[1];
        String id = ask("ask Bash deploy", turn);
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
        assertEquals(List.of(200, 409), statuses);
        turn[0].get(20, TimeUnit.SECONDS);
    }

    @Test
    @SuppressWarnings("unchecked")
    void attacksAndErrorsAreRefusedBeforeTheBotIsCalled() throws Exception {
        CompletableFuture<TurnResult>[] turn = new CompletableFuture[1];
        String id = ask("ask Bash rm build", turn);
        String allow = "{\"decision\":\"allow\"}";
        String path = "/api/bot/" + BOT + "/permissions/" + id;
        assertError(send(HttpRequest.newBuilder(URI.create(server.baseUrl() + path)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(allow))), 401, "unauthorized");
        assertError(send(HttpRequest.newBuilder(URI.create(server.baseUrl() + "/api/bot/" + BOT + "/permissions")).GET()),
                401, "unauthorized");
        assertError(send(req(path).header("Origin", "http://evil.example").POST(HttpRequest.BodyPublishers.ofString(allow))),
                403, "forbidden");
        assertError(send(req(path).header("Sec-Fetch-Site", "cross-site").POST(HttpRequest.BodyPublishers.ofString(allow))),
                403, "forbidden");
        assertError(send(req(path).setHeader("Content-Type", "text/plain").POST(HttpRequest.BodyPublishers.ofString(allow))),
                415, "unsupported_media_type");
        assertError(answer(id, "{\"decision\":\"allow\",\"message\":\"" + "x".repeat(3000) + "\"}"), 413, "payload_too_large");
        assertError(answer(id, "{\"decision\":\"maybe\"}"), 400, "invalid_argument");
        assertError(answer(id, "not json"), 400, "invalid_argument");
        for (String bad : List.of("..%2F..%2Fstatus", "%2e%2e", id + "%2Fx", "perm-XYZ", id.toUpperCase())) {
            assertError(answer(bad, allow), 400, "invalid_argument");
        }
        assertError(send(req("/api/bot/..%2Fbots/permissions").GET()), 400, "invalid_argument");
        assertError(send(req("/api/bot/BOT-NONE/permissions").GET()), 404, "not_found");
        assertError(answer("perm-000000000000000000000000", allow), 404, "not_found");
        assertError(send(req(path).GET()), 405, "method_not_allowed");
        assertFalse(pending().isEmpty(), "still waiting after every refused attempt");
        assertEquals(200, answer(id, "{\"decision\":\"deny\",\"message\":\"no\"}").statusCode());
        assertEquals("denied: no", turn[0].get(20, TimeUnit.SECONDS).text());
    }
}
