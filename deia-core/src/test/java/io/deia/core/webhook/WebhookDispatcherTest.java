package io.deia.core.webhook;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.HiveLayout;
import io.deia.core.config.DeiaConfig;
import io.deia.core.config.HiveSettings;
import io.deia.core.config.Webhook;
import io.deia.core.internal.io.Json;
import io.deia.core.testkit.WebhookReceiver;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The dispatcher against real local HTTP receivers. */
class WebhookDispatcherTest {
    private static final String SECRET = "s3cret-for-tests";
    private static final Map<String, String> ENV = Map.of("HOOK_SECRET", SECRET);

    @TempDir
    Path dir;

    private final List<AutoCloseable> open = new ArrayList<>();

    /** The real time plus an offset the test moves: the retry window passes in an instant. */
    static final class TestClock extends Clock {
        final AtomicReference<Duration> offset = new AtomicReference<>(Duration.ZERO);

        @Override
        public ZoneOffset getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(java.time.ZoneId zone) {
            return this;
        }

        @Override
        public Instant instant() {
            return Instant.now().plus(offset.get());
        }

        void advance(Duration d) {
            offset.updateAndGet(o -> o.plus(d));
        }
    }

    @AfterEach
    void closeAll() throws Exception {
        for (int i = open.size() - 1; i >= 0; i--) {
            open.get(i).close();
        }
    }

    private HiveLayout hive() {
        return new HiveLayout(dir.resolve(".deia"));
    }

    private static DeiaConfig config(Webhook... hooks) {
        return DeiaConfig.builder().webhooks(List.of(hooks)).build();
    }

    private WebhookReceiver receiver() throws Exception {
        WebhookReceiver r = WebhookReceiver.start();
        open.add(r);
        return r;
    }

    private static DispatcherOptions.Builder fast() {
        return DispatcherOptions.builder().env(ENV::get).rescanEvery(Duration.ofMillis(200))
                .connectTimeout(Duration.ofSeconds(2)).requestTimeout(Duration.ofSeconds(2))
                .retry(new RetrySchedule(Duration.ofMillis(50), Duration.ofMillis(300), Duration.ofHours(24), () -> 0.5))
                .version("9.9-test");
    }

    private WebhookDispatcher dispatcher(DeiaConfig config, DispatcherOptions options) {
        WebhookDispatcher d = new WebhookDispatcher(hive(), () -> config, options);
        open.add(d);
        return d.start();
    }

    private WebhookOutbox outbox(DeiaConfig config) {
        return new WebhookOutbox(hive(), () -> HiveSettings.of(config));
    }

    private List<String> outboxFiles() throws Exception {
        try (Stream<Path> s = Files.list(hive().webhookOutboxDir())) {
            return s.map(p -> p.getFileName().toString()).filter(n -> !n.startsWith(".")).collect(Collectors.toList());
        }
    }

    @Test
    void deliversWithEventIdUserAgentAndASignatureTheReceiverVerifies() throws Exception {
        WebhookReceiver rx = receiver();
        DeiaConfig config = config(new Webhook(rx.url("/hook?token=abc"), List.of("task.completed"), "env:HOOK_SECRET"));
        WebhookEvent event = outbox(config).publish("task.completed", "BOT-001",
                Map.of("task_id", "T-1", "status", "completed", "attempt", 1, "duration_ms", 1234));
        assertNotNull(event);
        WebhookDispatcher d = dispatcher(config, fast().build());

        await().atMost(Duration.ofSeconds(10)).until(() -> rx.deliveries().size() == 1);
        WebhookReceiver.Delivery got = rx.deliveries().get(0);
        assertEquals("POST", got.method());
        assertEquals("application/json", got.header("Content-Type"));
        assertEquals(event.id(), got.header("X-Deia-Event-Id"));
        assertEquals("deia/9.9-test", got.header("User-Agent"));
        assertTrue(WebhookReceiver.signatureValid(SECRET, got.body(), got.header("X-Deia-Signature")),
                "signature " + got.header("X-Deia-Signature"));
        assertFalse(WebhookReceiver.signatureValid("other", got.body(), got.header("X-Deia-Signature")));
        JsonNode body = Json.read(got.text(), JsonNode.class, "body");
        assertEquals(event.id(), body.path("id").asText());
        assertEquals("task.completed", body.path("type").asText());
        assertEquals("BOT-001", body.path("bot_id").asText());
        assertEquals("T-1", body.path("task_id").asText());
        assertEquals(1234, body.path("duration_ms").asInt());
        assertTrue(body.hasNonNull("at"));
        await().atMost(Duration.ofSeconds(5)).until(() -> outboxFiles().isEmpty());
        assertEquals(new WebhookStats(1, 0, 0, 0), d.stats());
    }

    @Test
    void anEventNoWebhookWantsIsNotWritten() throws Exception {
        DeiaConfig config = config(new Webhook("http://127.0.0.1:9/x", List.of("bot.failed"), null));
        assertNull(outbox(config).publish("task.completed", "BOT-001", Map.of()));
        assertNull(outbox(DeiaConfig.builder().build()).publish("bot.failed", "BOT-001", Map.of()));
        assertFalse(Files.exists(hive().webhookOutboxDir()) && !outboxFiles().isEmpty());
        assertNotNull(outbox(config).publish("bot.failed", "BOT-001", Map.of("reason", "x")));
        assertEquals(1, outboxFiles().size());
    }

    @Test
    void aReceiverDownForAWhileGetsEveryEventOnceWhenItIsBack() throws Exception {
        WebhookReceiver rx = receiver();
        rx.down();
        DeiaConfig config = config(new Webhook(rx.url("/h"), null, null));
        WebhookDispatcher d = dispatcher(config, fast().build());
        WebhookOutbox outbox = outbox(config);
        Set<String> ids = new java.util.TreeSet<>();
        for (int i = 0; i < 20; i++) {
            ids.add(outbox.publish(i % 2 == 0 ? "task.completed" : "task.failed", "BOT-" + i, Map.of("task_id", "T-" + i)).id());
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> d.stats().failedTotal() >= 20 && d.stats().pending() == 20);
        // State of failed attempts is on disk (attempts and next time survive a restart).
        try (Stream<Path> s = Files.list(hive().webhookOutboxDir().resolveSibling("deliveries"))) {
            assertTrue(s.count() >= 1);
        }
        rx.up();
        await().atMost(Duration.ofSeconds(15)).until(() -> rx.countsByEventId().keySet().equals(ids));
        await().atMost(Duration.ofSeconds(5)).until(() -> outboxFiles().isEmpty() && d.stats().pending() == 0);
        rx.countsByEventId().forEach((id, n) -> assertEquals(1, n, "event " + id + " received " + n + " times"));
        assertEquals(20, d.stats().deliveredTotal());
    }

    @Test
    void clientAndServerErrorsAreRetriedAndDeadAfterTheWindow() throws Exception {
        WebhookReceiver rx4 = receiver().status(404);
        AtomicInteger calls = new AtomicInteger();
        // 500 twice, then 200: retried until it works.
        WebhookReceiver rx5 = receiver().status(() -> calls.incrementAndGet() <= 2 ? 500 : 200);
        TestClock clock = new TestClock();
        DeiaConfig config = config(new Webhook(rx4.url("/gone"), List.of("bot.failed"), null),
                new Webhook(rx5.url("/flaky"), List.of("bot.failed"), null));
        WebhookEvent event = outbox(config).publish("bot.failed", "BOT-9", Map.of("reason", "crashed", "exit_code", 3));
        WebhookDispatcher d = dispatcher(config, fast().clock(clock).build());

        await().atMost(Duration.ofSeconds(10)).until(() -> rx5.countsByEventId().getOrDefault(event.id(), 0) == 3);
        await().atMost(Duration.ofSeconds(10)).until(() -> rx4.deliveries().size() >= 3);
        assertEquals(1, outboxFiles().size(), "kept while the 404 webhook has not got it");
        // The flaky one got it: recorded, so a restart would not send it there again.
        Path state = hive().webhookOutboxDir().resolveSibling("deliveries").resolve(outboxFiles().get(0));
        await().atMost(Duration.ofSeconds(5)).until(() -> Files.exists(state)
                && Json.read(Files.readString(state), DeliveryState.class, "state").hooks().values().stream()
                .anyMatch(h -> h.deliveredAt() != null));

        clock.advance(Duration.ofHours(25));
        await().atMost(Duration.ofSeconds(10)).until(() -> d.stats().dead() == 1 && outboxFiles().isEmpty());
        List<DeadDelivery> dead = d.dead(10);
        assertEquals(1, dead.size());
        DeadDelivery gone = dead.get(0);
        assertEquals(event.id(), gone.id());
        assertEquals("bot.failed", gone.type());
        assertEquals("BOT-9", gone.botId());
        assertEquals(rx4.url("/gone"), gone.url());
        assertEquals("HTTP 404", gone.lastError());
        assertTrue(gone.attempts() >= 4, "attempts " + gone.attempts());
        assertEquals(event.at(), gone.firstAt());
        assertNotNull(gone.deadAt());
        assertEquals(3, rx5.countsByEventId().get(event.id()), "the flaky webhook got it once delivered, never again");
        // The dead record keeps the event for a resend by hand.
        try (Stream<Path> s = Files.list(hive().webhookDeadDir())) {
            Path file = s.findFirst().orElseThrow();
            assertEquals("crashed", Json.read(Files.readString(file), JsonNode.class, "dead").path("event").path("reason").asText());
        }
    }

    @Test
    void aRedirectIsNotFollowed() throws Exception {
        WebhookReceiver target = receiver();
        WebhookReceiver rx = receiver().status(302).location(target.url("/elsewhere"));
        DeiaConfig config = config(new Webhook(rx.url("/moved"), null, null));
        outbox(config).publish("task.failed", "BOT-1", Map.of("status", "timeout"));
        WebhookDispatcher d = dispatcher(config, fast().build());
        await().atMost(Duration.ofSeconds(10)).until(() -> rx.deliveries().size() >= 2 && d.stats().failedTotal() >= 2);
        assertTrue(target.deliveries().isEmpty(), "the redirect target got nothing");
        assertEquals(0, d.stats().deliveredTotal());
        assertEquals(1, d.stats().pending());
    }

    @Test
    void aSlowReceiverDoesNotHoldUpAnotherWebhook() throws Exception {
        WebhookReceiver slow = receiver().delay(4000);
        WebhookReceiver quick = receiver();
        DeiaConfig config = config(new Webhook(slow.url("/slow"), null, null), new Webhook(quick.url("/quick"), null, null));
        WebhookOutbox outbox = outbox(config);
        for (int i = 0; i < 10; i++) {
            outbox.publish("task.completed", "BOT-1", Map.of("task_id", "T-" + i));
        }
        WebhookDispatcher d = dispatcher(config, fast().requestTimeout(Duration.ofSeconds(1)).build());
        await().atMost(Duration.ofSeconds(3)).until(() -> quick.countsByEventId().size() == 10);
        assertEquals(1, slow.maxConcurrent(), "one attempt at a time to the slow one");
        await().atMost(Duration.ofSeconds(2)).until(() -> d.stats().deliveredTotal() == 10);
        assertEquals(10, d.stats().pending(), "the slow webhook's deliveries still wait");
    }

    @Test
    void aMissingSecretVariableFailsTheDeliveryInsteadOfSendingItUnsigned() throws Exception {
        WebhookReceiver rx = receiver();
        DeiaConfig config = config(new Webhook(rx.url("/h"), null, "env:NOT_SET_ANYWHERE"));
        outbox(config).publish("permission.requested", "BOT-1", Map.of("request_id", "perm-1", "tool", "Bash"));
        WebhookDispatcher d = dispatcher(config, fast().build());
        await().atMost(Duration.ofSeconds(10)).until(() -> d.stats().failedTotal() >= 2);
        assertTrue(rx.deliveries().isEmpty(), "nothing was sent unsigned");
        Path state;
        try (Stream<Path> s = Files.list(hive().webhookOutboxDir().resolveSibling("deliveries"))) {
            state = s.filter(p -> p.getFileName().toString().endsWith(".json")).findFirst().orElseThrow();
        }
        String recorded = Files.readString(state);
        assertTrue(recorded.contains("NOT_SET_ANYWHERE is not set"), recorded);
    }

    @Test
    void aRestartContinuesFromTheRecordedAttemptsAndAnUnreadableFileIsSetAside() throws Exception {
        WebhookReceiver rx = receiver().status(503);
        DeiaConfig config = config(new Webhook(rx.url("/h"), null, null));
        WebhookEvent event = outbox(config).publish("bot.over_budget", "BOT-2", Map.of("budget", "hive"));
        Files.writeString(hive().webhookOutboxDir().resolve("0000000000001-evt_broken.json"), "{not json");
        WebhookDispatcher first = dispatcher(config, fast().build());
        await().atMost(Duration.ofSeconds(10)).until(() -> first.stats().failedTotal() >= 3);
        first.close();
        Path state = hive().webhookOutboxDir().resolveSibling("deliveries").resolve(WebhookOutbox.fileName(event));
        int attempts = Json.read(Files.readString(state), DeliveryState.class, "state").hooks().values().iterator().next().attempts();
        assertTrue(attempts >= 3, "attempts " + attempts);
        assertTrue(Files.exists(hive().webhookDeadDir().resolve("0000000000001-evt_broken.unreadable")));

        rx.status(200);
        WebhookDispatcher second = dispatcher(config, fast().build());
        await().atMost(Duration.ofSeconds(10)).until(() -> second.stats().deliveredTotal() == 1);
        await().atMost(Duration.ofSeconds(5)).until(() -> outboxFiles().isEmpty() && !Files.exists(state));
        assertEquals(1, rx.countsByEventId().size());
    }

    @Test
    void onlyOneDispatcherDeliversAHive() throws Exception {
        WebhookReceiver rx = receiver();
        DeiaConfig config = config(new Webhook(rx.url("/h"), null, null));
        WebhookDispatcher first = dispatcher(config, fast().build());
        WebhookDispatcher second = dispatcher(config, fast().build());
        WebhookOutbox outbox = outbox(config);
        for (int i = 0; i < 5; i++) {
            outbox.publish("task.completed", "BOT-1", Map.of("task_id", "T-" + i));
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> rx.countsByEventId().size() == 5 && outboxFiles().isEmpty());
        assertEquals(5, first.stats().deliveredTotal() + second.stats().deliveredTotal());
        assertTrue(first.stats().deliveredTotal() == 0 || second.stats().deliveredTotal() == 0);
    }

    @Test
    void keyedEventsHaveStableIdsAndBackOffGrowsToItsCap() {
        Instant at = Instant.parse("2026-01-01T00:00:00.123456Z");
        WebhookEvent a = WebhookEvent.keyed("task.completed", "BOT-1", "T-1/o-1/1", at, Map.of("task_id", "T-1"));
        WebhookEvent b = WebhookEvent.keyed("task.completed", "BOT-1", "T-1/o-1/1", at, Map.of());
        assertEquals(a.id(), b.id());
        assertFalse(a.id().equals(WebhookEvent.keyed("task.failed", "BOT-1", "T-1/o-1/1", at, Map.of()).id()));
        assertEquals(WebhookOutbox.fileName(a), WebhookOutbox.fileName(b));
        RetrySchedule r = new RetrySchedule(Duration.ofSeconds(1), Duration.ofMinutes(10), Duration.ofHours(24), () -> 0.999);
        assertTrue(r.delayAfter(1).toMillis() >= 999 && r.delayAfter(1).toMillis() <= 1000);
        assertTrue(r.delayAfter(4).toMillis() >= 7990);
        assertEquals(Duration.ofMinutes(10).toMillis(), r.delayAfter(60).toMillis(), 1000);
        RetrySchedule low = new RetrySchedule(Duration.ofSeconds(1), Duration.ofMinutes(10), Duration.ofHours(24), () -> 0.0);
        assertEquals(500, low.delayAfter(1).toMillis());
        assertEquals("sha256=", WebhookSignature.of("k".getBytes(), "b".getBytes()).substring(0, 7));
        assertEquals(71, WebhookSignature.of("k".getBytes(), "b".getBytes()).length());
        assertEquals("http://127.0.0.1:8080/…", WebhookSender.safeUrl("http://127.0.0.1:8080/secret/path?token=x"));
    }
}
