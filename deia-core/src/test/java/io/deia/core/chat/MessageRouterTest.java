package io.deia.core.chat;

import com.fasterxml.jackson.databind.JsonNode;
import com.sun.net.httpserver.Filter;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;
import io.deia.core.HiveLayout;
import io.deia.core.HiveToken;
import io.deia.core.agent.TurnResult;
import io.deia.core.agent.TurnStatus;
import io.deia.core.config.DeiaConfig;
import io.deia.core.internal.io.Json;
import io.deia.core.registry.BotRecord;
import io.deia.core.registry.BotState;
import io.deia.core.registry.JsonFileServiceRegistry;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The router against the per-bot HTTP contract. The bot side here is a small JDK HttpServer that
 * speaks the contract's wire format (the real bot runner is exercised end to end by the controller
 * acceptance tests in deia-server-example), so that broken bots can be simulated precisely.
 */
class MessageRouterTest {
    @TempDir
    Path dir;

    private HiveLayout hive;
    private JsonFileServiceRegistry registry;
    private HistoryStore history;
    private MessageRouter router;
    private HttpServer bot;
    private final List<ChatEvent> events = new CopyOnWriteArrayList<>();
    private final List<String> received = new CopyOnWriteArrayList<>();
    /** "<path> <whether the request carried the hive's token>" of every request the bot got. */
    private final List<String> authorized = new CopyOnWriteArrayList<>();
    private final CountDownLatch eventsOpen = new CountDownLatch(1);
    private final CountDownLatch release = new CountDownLatch(1);

    @BeforeEach
    void setUp() throws IOException {
        hive = new HiveLayout(dir);
        DeiaConfig config = Json.read("{\"max_message_bytes\":100,\"profiles\":{\"echo\":{\"agent\":\"command\","
                + "\"executable\":\"/bin/cat\",\"deny_patterns\":[\"rm\\\\s+-rf\",\"sudo\"]}}}", DeiaConfig.class, "test config");
        registry = new JsonFileServiceRegistry(hive, config);
        history = new HistoryStore(hive);
        router = MessageRouter.builder(registry, history, config).connectTimeout(Duration.ofSeconds(1))
                .scanInterval(Duration.ofMillis(100)).maxPendingPerBot(2).maxBackoff(Duration.ofMillis(300)).build();
        router.subscribeAll(events::add);
        bot = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        bot.setExecutor(Executors.newCachedThreadPool());
        String expected = "Bearer " + HiveToken.loadOrCreate(hive).reveal();
        // Like a real bot port: nothing but the hive's token gets an answer.
        Filter tokenOnly = new Filter() {
            @Override
            public void doFilter(HttpExchange ex, Chain chain) throws IOException {
                String given = ex.getRequestHeaders().getFirst("Authorization");
                authorized.add(ex.getRequestURI().getPath() + " " + expected.equals(given));
                if (!expected.equals(given)) {
                    respond(ex, 401, "{\"error\":{\"code\":\"unauthorized\",\"message\":\"a valid token is required\"}}");
                    return;
                }
                chain.doFilter(ex);
            }

            @Override
            public String description() {
                return "the hive's token";
            }
        };
        bot.createContext("/message", this::message).getFilters().add(tokenOnly);
        bot.createContext("/interrupt", ex -> respond(ex, 200, "{\"interrupted\":true}")).getFilters().add(tokenOnly);
        bot.createContext("/status", ex -> respond(ex, 200, "{\"bot_id\":\"BOT-1\",\"state\":\"idle\"}"))
                .getFilters().add(tokenOnly);
        bot.createContext("/events", this::events).getFilters().add(tokenOnly);
        bot.start();
    }

    @AfterEach
    void tearDown() {
        router.close();
        history.close();
        bot.stop(0);
    }

    private void message(HttpExchange ex) throws IOException {
        String text = Json.read(new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8), JsonNode.class, "body")
                .path("text").asText();
        received.add(text);
        if (text.equals("busy")) {
            respond(ex, 429, "{\"error\":{\"code\":\"too_many_requests\",\"message\":\"queue full\"}}");
            return;
        }
        if (text.equals("hold")) {
            try {
                release.await(20, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        if (text.equals("garbage")) {
            respond(ex, 500, "<html>oops</html>");
            return;
        }
        ex.getResponseHeaders().add("Content-Type", "application/x-ndjson");
        ex.sendResponseHeaders(200, 0);
        try (OutputStream out = ex.getResponseBody()) {
            if (text.equals("cut")) {
                out.write("{\"type\":\"text_delta\",\"text\":\"par\"}\n".getBytes(StandardCharsets.UTF_8));
                return;
            }
            String upper = text.toUpperCase();
            out.write(("{\"type\":\"text_delta\",\"text\":\"" + upper + "\"}\n").getBytes(StandardCharsets.UTF_8));
            out.write("{\"type\":\"tool_use\",\"id\":\"t1\",\"name\":\"Read\",\"input\":\"{}\"}\n".getBytes(StandardCharsets.UTF_8));
            out.write(("{\"type\":\"result\",\"result\":{\"status\":\"completed\",\"text\":\"" + upper
                    + "\",\"cost_usd\":0.5,\"duration_ms\":3}}\n").getBytes(StandardCharsets.UTF_8));
        }
    }

    private void events(HttpExchange ex) throws IOException {
        ex.getResponseHeaders().add("Content-Type", "application/x-ndjson");
        ex.sendResponseHeaders(200, 0);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(("{\"seq\":1,\"type\":\"task\",\"bot_id\":\"BOT-1\",\"task_id\":\"T1\",\"event\":\"completed\","
                    + "\"status\":\"completed\"}\n{\"seq\":2,\"type\":\"status\",\"bot_id\":\"BOT-1\",\"state\":\"idle\"}\n"
                    + "not json\n{\"seq\":3,\"type\":\"other\"}\n").getBytes(StandardCharsets.UTF_8));
            out.flush();
            eventsOpen.countDown();
        }
    }

    private static void respond(HttpExchange ex, int status, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().add("Content-Type", "application/json");
        ex.sendResponseHeaders(status, bytes.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(bytes);
        }
    }

    private BotRecord register(String id, int port, BotState state) {
        long pid = ProcessHandle.current().pid();
        return registry.register(BotRecord.builder(id).pid(pid).port(port).state(state).profile("echo").agent("command").build());
    }

    private static DeiaException failure(CompletableFuture<?> f) {
        ExecutionException e = assertThrows(ExecutionException.class, () -> f.get(10, TimeUnit.SECONDS));
        return assertInstanceOf(DeiaException.class, e.getCause());
    }

    @Test
    void aReplyIsInTheHistoryBeforeAnyoneSeesIt() throws Exception {
        register("BOT-1", bot.getAddress().getPort(), BotState.IDLE);
        // What a subscriber finds in the history at the moment a reply reaches it (the controller
        // could die right after a client saw the reply).
        CompletableFuture<String> newestWhenShown = new CompletableFuture<>();
        router.subscribe("BOT-1", e -> {
            if (e.type().equals(ChatEvent.REPLY)) {
                var newest = history.read("BOT-1", null, 1).messages();
                newestWhenShown.complete(newest.isEmpty() ? "nothing" : newest.get(0).role() + ":" + newest.get(0).text());
            }
        });
        assertEquals("HELLO", router.send("BOT-1", "hello", "m1").get(10, TimeUnit.SECONDS).text());
        assertEquals("assistant:HELLO", newestWhenShown.get(10, TimeUnit.SECONDS));
    }

    @Test
    void relaysStreamToSubscribersInOrderAndRecordsHistory() throws Exception {
        register("BOT-1", bot.getAddress().getPort(), BotState.IDLE);
        List<ChatEvent> mine = new CopyOnWriteArrayList<>();
        router.subscribe("BOT-1", mine::add);
        router.subscribe("BOT-2", e -> mine.add(new ChatEvent("wrong", "BOT-2", java.util.Map.of())));
        CompletableFuture<TurnResult> a = router.send("BOT-1", "hello", "m1");
        CompletableFuture<TurnResult> b = router.send("BOT-1", "world", null);
        assertEquals("HELLO", a.get(10, TimeUnit.SECONDS).text());
        assertEquals(TurnStatus.COMPLETED, b.get(10, TimeUnit.SECONDS).status());
        assertEquals(List.of("hello", "world"), received);
        await().until(() -> mine.stream().filter(e -> e.type().equals(ChatEvent.REPLY)).count() == 2);
        List<String> types = mine.stream().filter(e -> "m1".equals(e.data().get("client_msg_id"))).map(ChatEvent::type).toList();
        assertEquals(List.of("ack", "delta", "agent", "reply"), types);
        assertTrue(mine.stream().noneMatch(e -> e.type().equals("wrong")));
        var page = history.read("BOT-1", null, 10).messages();
        assertEquals(4, page.size());
        assertEquals("assistant", page.get(0).role());
        assertEquals("WORLD", page.get(0).text());
        assertEquals(0.5, page.get(0).costUsd());
        assertEquals("user", page.get(3).role());
        assertEquals("m1", page.get(3).clientMsgId());
    }

    @Test
    void unknownBotIsNotFound() {
        DeiaException e = assertThrows(DeiaException.class, () -> router.send("NOPE", "hi", null));
        assertEquals(ErrorCode.NOT_FOUND, e.code());
        assertEquals(ErrorCode.INVALID_ARGUMENT, assertThrows(DeiaException.class, () -> router.send("../x", "hi", null)).code());
        assertTrue(history.read("NOPE", null, 10).messages().isEmpty());
    }

    @Test
    void registeredButNotRunningIsUnavailable() {
        register("BOT-1", bot.getAddress().getPort(), BotState.STOPPED);
        DeiaException e = assertThrows(DeiaException.class, () -> router.send("BOT-1", "hi", null));
        assertEquals(ErrorCode.UNAVAILABLE, e.code());
        assertTrue(e.getMessage().contains("stopped"), e.getMessage());
        assertEquals(ErrorCode.UNAVAILABLE, assertThrows(DeiaException.class, () -> router.interrupt("BOT-1")).code());
    }

    @Test
    void registeredButNotAnsweringIsBadGateway() throws Exception {
        int deadPort;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            deadPort = s.getLocalPort();
        }
        register("BOT-1", deadPort, BotState.IDLE);
        DeiaException e = failure(router.send("BOT-1", "hi", "x1"));
        assertEquals(ErrorCode.BAD_GATEWAY, e.code());
        assertTrue(e.getMessage().contains("does not answer"), e.getMessage());
        await().until(() -> events.stream().anyMatch(ev -> ev.type().equals("error") && "x1".equals(ev.data().get("client_msg_id"))));
        var page = history.read("BOT-1", null, 10).messages();
        assertEquals(List.of("error", "user"), page.stream().map(HistoryStore.Entry::role).toList());
        assertEquals(ErrorCode.BAD_GATEWAY, assertThrows(DeiaException.class, () -> router.interrupt("BOT-1")).code());
    }

    @Test
    void botErrorsKeepTheirCodeAndBrokenAnswersAreBadGateway() throws Exception {
        register("BOT-1", bot.getAddress().getPort(), BotState.BUSY);
        assertEquals(ErrorCode.TOO_MANY_REQUESTS, failure(router.send("BOT-1", "busy", null)).code());
        assertEquals(ErrorCode.BAD_GATEWAY, failure(router.send("BOT-1", "garbage", null)).code());
        DeiaException cut = failure(router.send("BOT-1", "cut", null));
        assertEquals(ErrorCode.BAD_GATEWAY, cut.code());
        assertTrue(cut.getMessage().contains("without a result"), cut.getMessage());
    }

    @Test
    void validatesBeforeAnythingReachesTheBot() {
        register("BOT-1", bot.getAddress().getPort(), BotState.IDLE);
        assertEquals(ErrorCode.INVALID_ARGUMENT, assertThrows(DeiaException.class, () -> router.send("BOT-1", "a\u0007b", null)).code());
        assertEquals(ErrorCode.INVALID_ARGUMENT, assertThrows(DeiaException.class, () -> router.send("BOT-1", " ", null)).code());
        assertEquals(ErrorCode.INVALID_ARGUMENT, assertThrows(DeiaException.class, () -> router.send("BOT-1", "bad \ud800", null)).code());
        assertEquals(ErrorCode.PAYLOAD_TOO_LARGE, assertThrows(DeiaException.class, () -> router.send("BOT-1", "x".repeat(101), null)).code());
        assertEquals(ErrorCode.UNPROCESSABLE, assertThrows(DeiaException.class, () -> router.send("BOT-1", "please rm  -rf /", null)).code());
        assertEquals(ErrorCode.INVALID_ARGUMENT, assertThrows(DeiaException.class, () -> router.send("BOT-1", "ok", "i".repeat(200))).code());
        assertTrue(received.isEmpty());
        assertTrue(history.read("BOT-1", null, 10).messages().isEmpty());
    }

    @Test
    void interruptAndLiveStatusCallTheBot() throws Exception {
        BotRecord rec = register("BOT-1", bot.getAddress().getPort(), BotState.IDLE);
        assertTrue(router.interrupt("BOT-1"));
        assertEquals("idle", router.liveStatus(rec, Duration.ofSeconds(2)).get().map(s -> Json.read(s, JsonNode.class, "status")).orElseThrow().path("state").asText());
        BotRecord stopped = rec.toBuilder().state(BotState.STOPPED).build();
        assertFalse(router.liveStatus(stopped, Duration.ofSeconds(2)).get().isPresent());
        BotRecord wrongPort = rec.toBuilder().port(1).build();
        assertFalse(router.liveStatus(wrongPort, Duration.ofSeconds(2)).get().isPresent());
    }

    @Test
    void everyCallToTheBotCarriesTheHivesToken() throws Exception {
        BotRecord rec = register("BOT-1", bot.getAddress().getPort(), BotState.IDLE);
        assertEquals("HI", router.send("BOT-1", "hi", "t1").get(10, TimeUnit.SECONDS).text());
        assertTrue(router.interrupt("BOT-1"));
        assertTrue(router.liveStatus(rec, Duration.ofSeconds(2)).get().isPresent());
        router.start();
        assertTrue(eventsOpen.await(10, TimeUnit.SECONDS));
        assertTrue(authorized.containsAll(List.of("/message true", "/interrupt true", "/status true", "/events true")),
                authorized.toString());
        assertTrue(authorized.stream().allMatch(a -> a.endsWith(" true")), authorized.toString());
        assertEquals("rw-------", java.nio.file.attribute.PosixFilePermissions.toString(
                java.nio.file.Files.getPosixFilePermissions(hive.tokenFile())));
    }

    @Test
    void relaysBotEventsAndRegistryStateChanges() throws Exception {
        register("BOT-1", bot.getAddress().getPort(), BotState.IDLE);
        router.start();
        assertTrue(eventsOpen.await(10, TimeUnit.SECONDS));
        await().until(() -> events.stream().anyMatch(e -> e.type().equals("task") && "T1".equals(e.data().get("task_id"))));
        await().until(() -> events.stream().anyMatch(e -> e.type().equals("status") && "registry".equals(e.data().get("source"))));
        registry.update("BOT-1", r -> r.toBuilder().state(BotState.STOPPED).build());
        await().until(() -> events.stream().anyMatch(e -> e.type().equals("status") && "stopped".equals(e.data().get("state"))));
        registry.deregister("BOT-1");
        await().until(() -> events.stream().anyMatch(e -> e.type().equals("status") && "removed".equals(e.data().get("state"))));
    }

    @Test
    void unreachableEventStreamIsReported() throws Exception {
        int deadPort;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            deadPort = s.getLocalPort();
        }
        register("BOT-9", deadPort, BotState.IDLE);
        router.follow("BOT-9");
        await().until(() -> events.stream().anyMatch(e -> e.botId().equals("BOT-9") && "unreachable".equals(e.data().get("state"))));
    }

    @Test
    void laneRefusesWhenFullAndAfterClose() throws Exception {
        register("BOT-1", bot.getAddress().getPort(), BotState.IDLE);
        CompletableFuture<TurnResult> first = router.send("BOT-1", "hold", null);
        CompletableFuture<TurnResult> second = router.send("BOT-1", "hold", null);
        assertEquals(ErrorCode.TOO_MANY_REQUESTS, assertThrows(DeiaException.class, () -> router.send("BOT-1", "third", null)).code());
        release.countDown();
        assertEquals("HOLD", first.get(10, TimeUnit.SECONDS).text());
        assertEquals("HOLD", second.get(10, TimeUnit.SECONDS).text());
        assertEquals("THIRD", router.send("BOT-1", "third", null).get(10, TimeUnit.SECONDS).text());
        router.close();
        assertEquals(ErrorCode.UNAVAILABLE, assertThrows(DeiaException.class, () -> router.send("BOT-1", "hi", null)).code());
    }

    @Test
    void aRetriedClientMsgIdNeverStartsASecondTurn() throws Exception {
        register("BOT-1", bot.getAddress().getPort(), BotState.IDLE);
        // While the first turn runs: the retry joins it.
        CompletableFuture<TurnResult> first = router.send("BOT-1", "hold", "r1", MessageRouter.SOURCE_WEBSOCKET);
        CompletableFuture<TurnResult> retry = router.send("BOT-1", "hold", "r1", MessageRouter.SOURCE_WEBSOCKET);
        release.countDown();
        assertEquals("HOLD", retry.get(10, TimeUnit.SECONDS).text());
        assertEquals("HOLD", first.get(10, TimeUnit.SECONDS).text());
        // After it ended: the retrying client gets the reply again, still without a turn.
        assertEquals("HOLD", router.send("BOT-1", "hold", "r1").get(10, TimeUnit.SECONDS).text());
        await().until(() -> events.stream().filter(e -> e.type().equals("reply") && "r1".equals(e.data().get("client_msg_id"))).count() == 2);
        assertEquals(List.of("hold"), received);
        assertEquals(1, history.read("BOT-1", null, 10).messages().stream().filter(m -> m.role().equals("user")).count());
        List<ChatEvent> acks = events.stream().filter(e -> e.type().equals("ack") && "r1".equals(e.data().get("client_msg_id"))).toList();
        assertEquals(3, acks.size());
        assertEquals("ws", acks.get(0).data().get("source"));
        assertEquals(null, acks.get(0).data().get("duplicate"));
        assertEquals(Boolean.TRUE, acks.get(2).data().get("duplicate"));
        assertEquals("api", acks.get(2).data().get("source"));

        // A failed turn is not run again either: the retry reports the first failure.
        int deadPort;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            deadPort = s.getLocalPort();
        }
        register("BOT-2", deadPort, BotState.IDLE);
        assertEquals(ErrorCode.BAD_GATEWAY, failure(router.send("BOT-2", "hi", "r2")).code());
        assertEquals(ErrorCode.BAD_GATEWAY, failure(router.send("BOT-2", "hi", "r2")).code());
        await().until(() -> events.stream().filter(e -> e.type().equals("error") && "r2".equals(e.data().get("client_msg_id"))).count() == 2);
        assertEquals(1, history.read("BOT-2", null, 10).messages().stream().filter(m -> m.role().equals("user")).count());
    }

    @Test
    void aMessageRefusedBeforeItWasQueuedCanBeRetried() throws Exception {
        register("BOT-1", bot.getAddress().getPort(), BotState.IDLE);
        CompletableFuture<TurnResult> a = router.send("BOT-1", "hold", null);
        CompletableFuture<TurnResult> b = router.send("BOT-1", "hold", null);
        // The lane is full: refused (429), and not remembered, so the same id is accepted later.
        assertEquals(ErrorCode.TOO_MANY_REQUESTS, assertThrows(DeiaException.class, () -> router.send("BOT-1", "later", "q1")).code());
        release.countDown();
        a.get(10, TimeUnit.SECONDS);
        b.get(10, TimeUnit.SECONDS);
        assertEquals("LATER", router.send("BOT-1", "later", "q1").get(10, TimeUnit.SECONDS).text());
        assertEquals(List.of("hold", "hold", "later"), received);
    }
}
