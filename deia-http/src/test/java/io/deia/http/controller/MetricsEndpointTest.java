package io.deia.http.controller;

import io.deia.core.HiveLayout;
import io.deia.core.chat.HistoryStore;
import io.deia.core.chat.MessageRouter;
import io.deia.core.config.DeiaConfig;
import io.deia.core.launch.BotLauncher;
import io.deia.core.launch.RunnerCommand;
import io.deia.core.ledger.Ledger;
import io.deia.core.ledger.LedgerEntry;
import io.deia.core.registry.BotRecord;
import io.deia.core.registry.BotState;
import io.deia.core.registry.JsonFileServiceRegistry;
import io.deia.core.task.FileTaskQueue;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code GET /metrics} through real HTTP against a {@link ControllerServer}: a registry with bots in
 * several states, ledgers written with {@link Ledger#append}, webhook events as files; the body
 * checked line by line ({@link PrometheusText}) and its values asserted exactly.
 */
class MetricsEndpointTest {
    private static final String CONFIG = """
            {"ports": {"from": 8700, "to": 8799},
             "profiles": {"echo": {"agent": "command", "executable": "/usr/bin/cat"}}}
            """;
    private static final Instant AT = Instant.parse("2026-12-08T10:00:00Z");

    @TempDir
    Path dir;

    private HiveLayout hive;
    private DeiaConfig config;
    private JsonFileServiceRegistry registry;
    private BotLauncher launcher;
    private MessageRouter router;
    private final List<ControllerServer> servers = new ArrayList<>();
    private ControllerServer server;
    private Ledger ledger;
    private final HttpClient http = HttpClient.newBuilder().followRedirects(HttpClient.Redirect.NEVER).build();

    @BeforeEach
    void start() throws Exception {
        hive = new HiveLayout(dir.resolve(".deia"));
        Path configFile = dir.resolve("deia.json");
        Files.writeString(configFile, CONFIG);
        config = DeiaConfig.load(configFile);
        registry = new JsonFileServiceRegistry(hive, config);
        launcher = BotLauncher.builder(hive, config, registry, RunnerCommand.currentJvm()).supervise(false).build();
        router = MessageRouter.builder(registry, new HistoryStore(hive), config).build();
        router.start();
        ledger = new Ledger(hive);
    }

    private ControllerServer startServer(WebhookFigures stats) {
        ControllerServer.Builder b = ControllerServer.builder(hive, config, registry, launcher, new FileTaskQueue(hive, config), router)
                .port(0);
        if (stats != null) {
            b.webhookStats(stats);
        }
        ControllerServer s = b.build().start();
        servers.add(s);
        return s;
    }

    @AfterEach
    void stop() {
        servers.forEach(ControllerServer::close);
        launcher.close();
        router.close();
        router.history().close();
    }

    private void bot(String id, BotState state, int restarts) {
        registry.register(BotRecord.builder(id).port(0).state(state).profile("echo").agent("command")
                .restarts(restarts).build());
    }

    private static LedgerEntry turn(String bot, String source, String status, long durationMs, Double costUsd,
                                    Long in, Long out, Long pickupMs, Integer exitCode) {
        return new LedgerEntry(LedgerEntry.TURN, AT, bot, "echo", source, source.equals("task") ? "T-1" : null,
                source.equals("task") ? 1 : null, status, durationMs, costUsd, costUsd != null, in, out, pickupMs, exitCode);
    }

    private HttpResponse<String> get(String path, String... headers) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(server.baseUrl() + path)).timeout(Duration.ofSeconds(30)).GET();
        for (int i = 0; i < headers.length; i += 2) {
            b.header(headers[i], headers[i + 1]);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    private PrometheusText scrape() throws Exception {
        HttpResponse<String> r = get("/metrics", "Authorization", "Bearer " + server.token().reveal());
        assertEquals(200, r.statusCode(), r.body());
        assertEquals("text/plain; version=0.0.4; charset=utf-8", r.headers().firstValue("Content-Type").orElse(""));
        assertEquals("no-store", r.headers().firstValue("Cache-Control").orElse(""));
        return PrometheusText.parse(r.body());
    }

    @Test
    void aScrapeShowsTheRegistryTheLedgersAndTheWebhookFiles() throws Exception {
        bot("BOT-A", BotState.IDLE, 2);
        bot("BOT-B", BotState.BUSY, 0);
        bot("BOT-C", BotState.QUEUED, 0);
        bot("BOT-D", BotState.WAITING_APPROVAL, 0);
        bot("BOT-E", BotState.OVER_BUDGET, 0);
        bot("BOT-F", BotState.FAILED, 5);
        ledger.append(turn("BOT-A", "task", "completed", 1500, 0.25, 1000L, 200L, 40L, null));
        ledger.append(turn("BOT-A", "chat", "completed", 500, 0.05, 300L, 100L, null, 0));
        ledger.append(LedgerEntry.task(AT, "BOT-A", "echo", "T-1", 1, "completed"));
        ledger.append(turn("BOT-B", "task", "failed", 70_000, null, 300L, null, 2_000L, 137));
        ledger.append(LedgerEntry.task(AT, "BOT-B", "echo", "T-1", 1, "failed"));
        ledger.append(LedgerEntry.task(AT, "BOT-B", "echo", "T-2", 1, "rejected"));
        // The figures of a hive whose webhooks another controller delivers (this one's own dispatcher
        // would take these files in): counted from its folders.
        HiveLayout delivered = new HiveLayout(dir.resolve("delivered-elsewhere"));
        Files.createDirectories(delivered.webhookOutboxDir());
        Files.createDirectories(delivered.webhookDeadDir());
        Files.writeString(delivered.webhookOutboxDir().resolve("0000000000001-a.json"), "{}");
        Files.writeString(delivered.webhookOutboxDir().resolve("0000000000002-b.json"), "{}");
        Files.writeString(delivered.webhookOutboxDir().resolve(".deia-tmp-0000000000003-c.json.pid1-2.3"), "{");
        Files.writeString(delivered.webhookDeadDir().resolve("0000000000000-z.json"), "{}");
        server = startServer(WebhookFigures.fromFiles(delivered));

        PrometheusText m = scrape();

        for (BotState s : BotState.values()) {
            double expected = switch (s) {
                case IDLE, BUSY, QUEUED, WAITING_APPROVAL, OVER_BUDGET, FAILED -> 1;
                default -> 0;
            };
            assertEquals(expected, m.value("deia_bots", "state", s.id()), s.id());
        }
        assertEquals("gauge", m.types.get("deia_bots"));
        assertEquals(2.0, m.value("deia_turns_running"));
        assertEquals(1.0, m.value("deia_turns_queued"));
        assertEquals(1.0, m.value("deia_permission_waiting_bots"));
        assertEquals(2.0, m.value("deia_bot_restarts_total", "bot", "BOT-A"));
        assertEquals(5.0, m.value("deia_bot_restarts_total", "bot", "BOT-F"));

        assertEquals("counter", m.types.get("deia_tasks_total"));
        assertEquals(1.0, m.value("deia_tasks_total", "bot", "BOT-A", "status", "completed"));
        assertEquals(1.0, m.value("deia_tasks_total", "bot", "BOT-B", "status", "failed"));
        assertEquals(1.0, m.value("deia_tasks_total", "bot", "BOT-B", "status", "rejected"));
        assertEquals(0.0, m.value("deia_tasks_total", "bot", "BOT-A", "status", "failed"), "registered bots start at 0");
        assertEquals(0.0, m.value("deia_tasks_total", "bot", "BOT-F", "status", "completed"));
        assertEquals(1.0, m.value("deia_turns_total", "bot", "BOT-A", "source", "chat", "status", "completed"));
        assertEquals(1.0, m.value("deia_turns_total", "bot", "BOT-B", "source", "task", "status", "failed"));

        assertEquals("histogram", m.types.get("deia_turn_duration_seconds"));
        assertEquals(1.0, m.value("deia_turn_duration_seconds_count", "source", "chat"));
        assertEquals(0.5, m.value("deia_turn_duration_seconds_sum", "source", "chat"));
        assertEquals(2.0, m.value("deia_turn_duration_seconds_count", "source", "task"));
        assertEquals(71.5, m.value("deia_turn_duration_seconds_sum", "source", "task"), 1e-9);
        assertEquals(0.0, m.bucket("deia_turn_duration_seconds", "1.0", "source", "task"));
        assertEquals(1.0, m.bucket("deia_turn_duration_seconds", "2.0", "source", "task"));
        assertEquals(1.0, m.bucket("deia_turn_duration_seconds", "60.0", "source", "task"));
        assertEquals(2.0, m.bucket("deia_turn_duration_seconds", "120.0", "source", "task"));
        assertEquals(2.0, m.bucket("deia_turn_duration_seconds", "+Inf", "source", "task"));
        assertEquals(2.0, m.value("deia_task_pickup_seconds_count"));
        assertEquals(2.04, m.value("deia_task_pickup_seconds_sum"), 1e-9);
        assertEquals(1.0, m.bucket("deia_task_pickup_seconds", "0.05"));
        assertEquals(1.0, m.bucket("deia_task_pickup_seconds", "1.0"));
        assertEquals(2.0, m.bucket("deia_task_pickup_seconds", "2.5"));

        assertEquals(1.0, m.value("deia_agent_crashes_total", "bot", "BOT-B"));
        assertEquals(0.0, m.value("deia_agent_crashes_total", "bot", "BOT-A"), "exit code 0 is no crash");
        assertEquals(0.30, m.value("deia_cost_usd_total", "bot", "BOT-A"), 1e-9);
        assertNull(m.value("deia_cost_usd_total", "bot", "BOT-B"), "an unknown cost is never shown as 0");
        assertEquals(1.0, m.value("deia_unknown_cost_turns_total", "bot", "BOT-B"));
        assertNull(m.value("deia_unknown_cost_turns_total", "bot", "BOT-A"));
        assertEquals(1300.0, m.value("deia_tokens_total", "bot", "BOT-A", "direction", "input"));
        assertEquals(300.0, m.value("deia_tokens_total", "bot", "BOT-A", "direction", "output"));
        assertEquals(300.0, m.value("deia_tokens_total", "bot", "BOT-B", "direction", "input"));
        assertNull(m.value("deia_tokens_total", "bot", "BOT-B", "direction", "output"));

        assertEquals(2.0, m.value("deia_webhook_pending"), "the temporary file of an atomic write is no event");
        assertEquals(1.0, m.value("deia_webhook_dead"));
        assertFalse(m.types.containsKey("deia_webhook_deliveries_total"), "not known without the deliverer's counts");
        assertFalse(m.types.containsKey("deia_webhook_failures_total"));
        for (String family : m.types.keySet()) {
            assertTrue(family.startsWith("deia_"), family);
            assertTrue(m.help.containsKey(family), "no HELP for " + family);
        }
    }

    @Test
    void aSecondScrapeCountsExactlyTheLinesAppendedSinceTheFirst() throws Exception {
        bot("BOT-A", BotState.IDLE, 0);
        ledger.append(turn("BOT-A", "task", "completed", 3000, 0.5, 10L, 20L, 100L, null));
        ledger.append(LedgerEntry.task(AT, "BOT-A", "echo", "T-1", 1, "completed"));
        server = startServer(null);
        PrometheusText first = scrape();
        assertEquals(1.0, first.value("deia_tasks_total", "bot", "BOT-A", "status", "completed"));
        assertEquals(PrometheusText.parse(get("/metrics", "Authorization", "Bearer " + server.token().reveal()).body()).samples,
                first.samples, "nothing appended: nothing changes");

        ledger.append(turn("BOT-A", "task", "completed", 2000, 0.25, 5L, 5L, 300L, null));
        ledger.append(LedgerEntry.task(AT, "BOT-A", "echo", "T-2", 1, "completed"));
        ledger.append(turn("BOT-A", "chat", "failed", 100, null, null, null, null, 1));
        // A bot whose ledger appears only now is picked up from its first line.
        ledger.append(turn("BOT-N", "task", "completed", 1000, 1.0, 1L, 1L, 50L, null));
        ledger.append(LedgerEntry.task(AT, "BOT-N", "echo", "T-9", 2, "timeout"));
        bot("BOT-N", BotState.BUSY, 1);
        PrometheusText second = scrape();

        assertEquals(2.0, second.value("deia_tasks_total", "bot", "BOT-A", "status", "completed"));
        assertEquals(1.0, second.value("deia_tasks_total", "bot", "BOT-N", "status", "timeout"));
        assertEquals(0.75, second.value("deia_cost_usd_total", "bot", "BOT-A"), 1e-9);
        assertEquals(1.0, second.value("deia_cost_usd_total", "bot", "BOT-N"), 1e-9);
        assertEquals(1.0, second.value("deia_unknown_cost_turns_total", "bot", "BOT-A"));
        assertEquals(1.0, second.value("deia_agent_crashes_total", "bot", "BOT-A"));
        assertEquals(15.0, second.value("deia_tokens_total", "bot", "BOT-A", "direction", "input"));
        assertEquals(first.value("deia_turn_duration_seconds_count", "source", "task") + 2,
                second.value("deia_turn_duration_seconds_count", "source", "task"));
        assertEquals(first.value("deia_turn_duration_seconds_sum", "source", "task") + 3.0,
                second.value("deia_turn_duration_seconds_sum", "source", "task"), 1e-9);
        assertEquals(first.value("deia_task_pickup_seconds_count") + 2, second.value("deia_task_pickup_seconds_count"));
        assertEquals(1.0, second.value("deia_turn_duration_seconds_count", "source", "chat"));
        assertEquals(1.0, second.value("deia_turns_running"));
        assertEquals(1.0, second.value("deia_bot_restarts_total", "bot", "BOT-N"));
    }

    @Test
    void unreadableAndUnknownLedgerLinesAreSkippedAndAHalfWrittenLineWaitsForItsNewline() throws Exception {
        ledger.append(turn("BOT-A", "task", "completed", 1000, 0.1, 1L, 1L, null, null));
        Path file = hive.ledgerFile("BOT-A");
        Files.writeString(file, "not json\n{\"kind\":\"later\",\"bot_id\":\"BOT-A\"}\n", java.nio.file.StandardOpenOption.APPEND);
        String half = "{\"kind\":\"task\",\"at\":\"2026-12-08T10:00:00Z\",\"bot_id\":\"BOT-A\",\"status\":\"completed\"}";
        Files.writeString(file, half.substring(0, 20), java.nio.file.StandardOpenOption.APPEND);
        Files.writeString(hive.ledgerDir().resolve("not a bot.jsonl"), "{}\n");
        server = startServer(null);

        PrometheusText first = scrape();
        assertEquals(1.0, first.value("deia_turns_total", "bot", "BOT-A", "source", "task", "status", "completed"));
        assertNull(first.value("deia_tasks_total", "bot", "BOT-A", "status", "completed"), "not registered: no series yet");

        Files.writeString(file, half.substring(20) + "\n", java.nio.file.StandardOpenOption.APPEND);
        assertEquals(1.0, scrape().value("deia_tasks_total", "bot", "BOT-A", "status", "completed"));
    }

    @Test
    void theDeliverersCountsAreUsedWhenGivenAndTwoControllersInOneJvmDoNotClash() throws Exception {
        AtomicLong delivered = new AtomicLong(7);
        server = startServer(new WebhookFigures(delivered::get, () -> 3, () -> 1, () -> 4));
        ControllerServer other = startServer(null);

        PrometheusText m = scrape();
        assertEquals("counter", m.types.get("deia_webhook_deliveries_total"));
        assertEquals(7.0, m.value("deia_webhook_deliveries_total"));
        assertEquals(3.0, m.value("deia_webhook_failures_total"));
        assertEquals(1.0, m.value("deia_webhook_dead"));
        assertEquals(4.0, m.value("deia_webhook_pending"));
        delivered.addAndGet(5);
        assertEquals(12.0, scrape().value("deia_webhook_deliveries_total"));

        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(other.baseUrl() + "/metrics"))
                .header("Authorization", "Bearer " + other.token().reveal()).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), r.body());
        PrometheusText o = PrometheusText.parse(r.body());
        assertEquals(0.0, o.value("deia_webhook_pending"));
        assertEquals(0.0, o.value("deia_webhook_deliveries_total"), "by default its own dispatcher's counts");
    }

    @Test
    void aLedgerFolderThatCannotBeReadIsA500NamingItInTheHive() throws Exception {
        Files.createDirectories(hive.ledgerDir().getParent());
        Files.writeString(hive.ledgerDir(), "a file where the ledger folder should be");
        server = startServer(null);
        HttpResponse<String> r = get("/metrics", "Authorization", "Bearer " + server.token().reveal());
        assertEquals(500, r.statusCode(), r.body());
        assertTrue(r.body().contains("\"internal\"") && r.body().contains("cannot list the ledgers"), r.body());
        assertFalse(r.body().contains(dir.toString()), "no absolute path: " + r.body());

        Files.delete(hive.ledgerDir());
        ledger.append(turn("BOT-A", "chat", "completed", 10, 0.01, 1L, 1L, null, null));
        assertEquals(1.0, scrape().value("deia_turns_total", "bot", "BOT-A", "source", "chat", "status", "completed"),
                "the next scrape works once the folder is back");
    }

    @Test
    void attacksAreRefused() throws Exception {
        bot("BOT-A", BotState.IDLE, 0);
        server = startServer(null);
        String token = server.token().reveal();

        HttpResponse<String> none = get("/metrics");
        assertEquals(401, none.statusCode(), none.body());
        assertTrue(none.body().contains("\"unauthorized\""), none.body());
        assertFalse(none.body().contains("deia_bots"), none.body());
        assertEquals(401, get("/metrics", "Authorization", "Bearer wrong-" + token).statusCode());
        assertEquals(401, get("/metrics", "Authorization", "Basic " + token).statusCode());
        assertEquals(401, get("/metrics?token=" + token).statusCode(), "the token is not taken from the query");

        HttpResponse<String> foreign = get("/metrics", "Authorization", "Bearer " + token, "Origin", "https://evil.example");
        assertEquals(403, foreign.statusCode(), foreign.body());
        assertEquals(403, get("/metrics", "Cookie", AccessGuard.COOKIE + "=" + token, "Sec-Fetch-Site", "cross-site").statusCode());
        assertEquals(403, get("/metrics", "Cookie", AccessGuard.COOKIE + "=" + token, "Sec-Fetch-Site", "same-site").statusCode());
        // The dashboard's cookie works as /api's does, from the dashboard's own origin.
        assertEquals(200, get("/metrics", "Cookie", AccessGuard.COOKIE + "=" + token, "Origin", server.baseUrl()).statusCode());

        for (String method : new String[] {"POST", "PUT", "DELETE"}) {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(server.baseUrl() + "/metrics"))
                    .header("Authorization", "Bearer " + token).header("Content-Type", "application/json")
                    .method(method, HttpRequest.BodyPublishers.ofString("{}")).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(405, r.statusCode(), method + ": " + r.body());
            assertEquals("GET", r.headers().firstValue("Allow").orElse(""));
        }
        HttpResponse<String> form = http.send(HttpRequest.newBuilder(URI.create(server.baseUrl() + "/metrics"))
                .header("Authorization", "Bearer " + token).header("Content-Type", "text/plain")
                .POST(HttpRequest.BodyPublishers.ofString("x")).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(415, form.statusCode(), form.body());

        // Other spellings of the path never reach the metrics without the token.
        for (String path : new String[] {"/api;x/bots", "/api/bots;x", "/metrics;x", "/metrics/", "/metrics/..", "/metrics%2f", "//metrics", "/./metrics",
                "/x/../metrics", "/METRICS", "/metrics.txt"}) {
            String raw = rawGet(path);
            assertFalse(raw.startsWith("HTTP/1.1 200") && (raw.contains("deia_bots") || raw.contains("BOT-A")),
                    path + " served without the token: " + raw);
        }
    }

    /** A request written by hand, so the path reaches the server exactly as given. */
    private String rawGet(String path) throws Exception {
        try (Socket s = new Socket("127.0.0.1", server.port())) {
            s.setSoTimeout(10_000);
            OutputStream out = s.getOutputStream();
            out.write(("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + server.port() + "\r\nConnection: close\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            out.flush();
            InputStream in = s.getInputStream();
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }
}
