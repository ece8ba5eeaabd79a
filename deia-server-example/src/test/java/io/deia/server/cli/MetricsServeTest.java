package io.deia.server.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.HiveLayout;
import io.deia.core.internal.io.Json;
import io.deia.core.ledger.Ledger;
import io.deia.core.ledger.LedgerEntry;
import io.deia.server.dashboard.ServeProcess;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code GET /metrics} of a real {@code serve} with a real bot runner: the bot shows as idle, what its
 * ledger records shows as counters, and a runner killed with {@code -9} and restarted by the
 * supervisor shows as one restart.
 */
class MetricsServeTest {
    private static final String CONFIG = """
            {"ports": {"from": 22100, "to": 22199},
             "profiles": {"echo": {"agent": "command", "executable": "/usr/bin/cat", "start_timeout_s": 60,
                                   "restart": {"policy": "on-failure", "backoff_initial_ms": 100}}}}
            """;

    @TempDir
    Path dir;

    private ServeProcess serve;

    @AfterEach
    void stop() throws Exception {
        if (serve != null) {
            serve.stopBots(List.of("BOT-M"));
            serve.close();
        }
    }

    @Test
    void aRealBotItsLedgerAndItsRestartShowInTheMetrics() throws Exception {
        Path hiveDir = dir.resolve(".deia");
        Path config = dir.resolve("deia.json");
        Files.writeString(config, CONFIG);
        serve = new ServeProcess(hiveDir, config, dir.resolve("serve.log"));
        serve.start();
        HttpResponse<String> launched = serve.post("/api/bot/launch", "{\"bot_id\":\"BOT-M\",\"profile\":\"echo\"}");
        assertEquals(201, launched.statusCode(), launched.body());
        long pid = Json.read(launched.body(), JsonNode.class, "launch").path("pid").asLong();
        assertTrue(pid > 0, launched.body());

        await().atMost(Duration.ofSeconds(60)).until(() -> "1.0".equals(value(metrics(), "deia_bots{state=\"idle\"}")));
        String before = metrics();
        assertEquals("0.0", value(before, "deia_bot_restarts_total{bot=\"BOT-M\"}"), before);
        assertEquals("0.0", value(before, "deia_tasks_total{bot=\"BOT-M\",status=\"completed\"}"), before);

        // What the runner appends when a task ends.
        Ledger ledger = new Ledger(new HiveLayout(hiveDir));
        Instant at = Instant.now();
        ledger.append(new LedgerEntry(LedgerEntry.TURN, at, "BOT-M", "echo", "task", "T-1", 1, "completed", 1200L, 0.02,
                true, 100L, 50L, 30L, 0));
        ledger.append(LedgerEntry.task(at, "BOT-M", "echo", "T-1", 1, "completed"));
        String after = metrics();
        assertEquals("1.0", value(after, "deia_tasks_total{bot=\"BOT-M\",status=\"completed\"}"), after);
        assertEquals("0.02", value(after, "deia_cost_usd_total{bot=\"BOT-M\"}"), after);
        assertEquals("1", value(after, "deia_turn_duration_seconds_count{source=\"task\"}"), after);

        ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
        await().atMost(Duration.ofSeconds(90)).until(() -> {
            String m = metrics();
            return "1.0".equals(value(m, "deia_bot_restarts_total{bot=\"BOT-M\"}"))
                    && "1.0".equals(value(m, "deia_bots{state=\"idle\"}"));
        });
        assertEquals("1.0", value(metrics(), "deia_tasks_total{bot=\"BOT-M\",status=\"completed\"}"),
                "the ledger is not counted twice");
    }

    private String metrics() throws Exception {
        HttpResponse<String> r = serve.get("/metrics", true);
        assertEquals(200, r.statusCode(), r.body());
        return r.body();
    }

    /** The value on the line of exactly this series, or null when there is none. */
    private static String value(String body, String series) {
        for (String line : body.split("\n")) {
            if (line.startsWith(series + " ")) {
                return line.substring(series.length() + 1);
            }
        }
        return null;
    }
}
