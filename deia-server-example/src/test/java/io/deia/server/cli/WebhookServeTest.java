package io.deia.server.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.internal.io.Json;
import io.deia.core.testkit.WebhookReceiver;
import io.deia.server.dashboard.ServeProcess;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Webhooks end to end: a real {@code serve} (its own JVM) with a real bot whose tasks complete
 * sends signed {@code task.completed} events to a real local receiver; with the receiver down,
 * {@code serve} killed -9 and started again, the events written meanwhile are delivered after the
 * restart, once each.
 */
class WebhookServeTest {
    private static final String SECRET = "e2e-hook-secret";

    @TempDir
    Path dir;

    private ServeProcess serve;
    private WebhookReceiver rx;

    @AfterEach
    void cleanUp() throws Exception {
        if (serve != null) {
            serve.close();
        }
        if (rx != null) {
            rx.close();
        }
        io.deia.server.torture.Torture.killAllInto(dir);
    }

    private Set<String> outbox(Path hive) throws Exception {
        Path box = hive.resolve("hive").resolve("webhooks").resolve("outbox");
        if (!Files.isDirectory(box)) {
            return Set.of();
        }
        try (Stream<Path> s = Files.list(box)) {
            return s.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".json") && !n.startsWith("."))
                    .collect(Collectors.toCollection(TreeSet::new));
        }
    }

    private String submit(String text) throws Exception {
        HttpResponse<String> r = serve.post("/api/bot/BOT-W/tasks", Json.write(Map.of("task", text)));
        assertEquals(201, r.statusCode(), r.body());
        return Json.read(r.body(), JsonNode.class, "submit").path("task_id").asText();
    }

    @Test
    void aBotsCompletedTaskReachesTheReceiverAndEventsSurviveAKilledServe() throws Exception {
        rx = WebhookReceiver.start();
        Path hive = dir.resolve(".deia");
        Path config = dir.resolve("deia.json");
        Files.writeString(config, Json.writePretty(Map.of(
                "ports", Map.of("from", 8800, "to", 8899),
                "profiles", Map.of("upper", Map.of("agent", "command", "executable", "/usr/bin/tr",
                        "args", java.util.List.of("a-z", "A-Z"), "start_timeout_s", 60)),
                "webhooks", java.util.List.of(Map.of("url", rx.url("/deia"),
                        "events", java.util.List.of("task.completed", "task.failed", "bot.failed"),
                        "secret", "env:DEIA_E2E_HOOK_SECRET")))));
        serve = new ServeProcess(hive, config, dir.resolve("serve.log")).environment(Map.of("DEIA_E2E_HOOK_SECRET", SECRET));
        serve.start();
        HttpResponse<String> launched = serve.post("/api/bot/launch", "{\"bot_id\":\"BOT-W\",\"profile\":\"upper\"}");
        assertEquals(201, launched.statusCode(), launched.body());

        String first = submit("hello webhooks");
        await("task.completed of " + first).atMost(Duration.ofSeconds(60)).until(() -> !rx.deliveries().isEmpty());
        WebhookReceiver.Delivery got = rx.deliveries().get(0);
        assertTrue(WebhookReceiver.signatureValid(SECRET, got.body(), got.header("X-Deia-Signature")), got.header("X-Deia-Signature"));
        assertTrue(got.header("User-Agent").startsWith("deia/"), got.header("User-Agent"));
        JsonNode event = Json.read(got.text(), JsonNode.class, "event");
        assertEquals("task.completed", event.path("type").asText());
        assertEquals("BOT-W", event.path("bot_id").asText());
        assertEquals(first, event.path("task_id").asText());
        assertEquals("completed", event.path("status").asText());
        assertEquals(1, event.path("attempt").asInt());
        assertTrue(event.has("duration_ms"), got.text());
        assertEquals(event.path("id").asText(), got.header("X-Deia-Event-Id"));

        // Answered and recorded before the receiver goes down (else it would rightly be sent again).
        await().atMost(Duration.ofSeconds(10)).until(() -> outbox(hive).isEmpty() && Json.read(
                serve.get("/api/webhooks", true).body(), JsonNode.class, "w").path("delivered_total").asLong() == 1);
        // The receiver goes down; the bot's next outcomes wait in the outbox, and serve dies hard.
        rx.down();
        Set<String> tasks = new TreeSet<>();
        for (int i = 0; i < 3; i++) {
            tasks.add(submit("while down " + i));
        }
        await("3 events wait in the outbox").atMost(Duration.ofSeconds(60)).until(() -> outbox(hive).size() == 3);
        await("serve tried and failed").atMost(Duration.ofSeconds(30)).until(() -> Json.read(
                serve.get("/api/webhooks", true).body(), JsonNode.class, "w").path("failed_total").asLong() >= 1);
        serve.crash();
        StringBuilder files = new StringBuilder();
        for (String f : outbox(hive)) {
            files.append(Files.readString(hive.resolve("hive/webhooks/outbox").resolve(f))).append('\n');
        }
        assertEquals(3, outbox(hive).size(), "nothing lost with serve: " + files);

        rx.up();
        serve.start();
        await("delivered after the restart").atMost(Duration.ofSeconds(60)).until(() -> rx.countsByEventId().size() == 4);
        await().atMost(Duration.ofSeconds(10)).until(() -> outbox(hive).isEmpty());
        rx.countsByEventId().forEach((id, n) -> assertEquals(1, n, "event " + id + " received " + n + " times"));
        Set<String> delivered = new TreeSet<>();
        for (WebhookReceiver.Delivery d : rx.deliveries()) {
            assertTrue(WebhookReceiver.signatureValid(SECRET, d.body(), d.header("X-Deia-Signature")));
            delivered.add(Json.read(d.text(), JsonNode.class, "event").path("task_id").asText());
        }
        delivered.remove(first);
        assertEquals(tasks, delivered);
        JsonNode stats = Json.read(serve.get("/api/webhooks", true).body(), JsonNode.class, "w");
        assertEquals(3, stats.path("delivered_total").asLong(), stats.toString());
        assertEquals(0, stats.path("pending").asLong(), stats.toString());
        serve.stopBots(java.util.List.of("BOT-W"));
    }
}
