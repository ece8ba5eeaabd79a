package io.deia.server.torture;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.internal.io.AtomicFiles;
import io.deia.core.internal.io.Json;
import io.deia.server.dashboard.ServeProcess;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpResponse;
import java.net.http.WebSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The controller's memory while a bot floods a chat turn with hundreds of MB of output: one
 * WebSocket subscriber reads every event, a second one never reads (its socket backs up). The
 * controller answers the chat with a bounded reply, stays up, and its resident memory stays
 * bounded; the stalled subscriber does not hold the others up.
 */
class ControllerFloodTest {
    private static final Logger log = LoggerFactory.getLogger(ControllerFloodTest.class);
    /** serve runs with -Xmx256m; its resident memory must stay under this while the flood passes. */
    private static final long MAX_CONTROLLER_RSS_KB = 450 * 1024;

    @TempDir
    Path dir;

    private ServeProcess serve;

    @AfterEach
    void tearDown() throws Exception {
        Torture.endServe(serve, List.of("BOT-CF"), dir);
    }

    @Test
    void aFloodingBotLeavesTheControllerBoundedAndResponsive() throws Exception {
        long floodBytes = 300L * 1024 * 1024 * Torture.scale();
        Path configFile = dir.resolve("deia.json");
        AtomicFiles.writeString(configFile, Json.write(Map.of("profiles", Map.of("flood", Map.of(
                "agent", "command", "executable", "/bin/sh", "timeout_s", 120, "start_timeout_s", 60,
                "args", List.of("-c", "yes torture-flood-line | head -c " + floodBytes))))));
        serve = new ServeProcess(dir.resolve(".deia"), configFile, dir.resolve("serve.log"));
        serve.start();
        HttpResponse<String> launched = serve.post("/api/bot/launch", "{\"bot_id\":\"BOT-CF\",\"profile\":\"flood\"}");
        assertEquals(201, launched.statusCode(), launched.body());

        String wsUrl = serve.baseUrl().replace("http://", "ws://") + "/ws";
        HttpClient client = HttpClient.newHttpClient();
        AtomicInteger deltas = new AtomicInteger();
        CompletableFuture<Void> replied = new CompletableFuture<>();
        WebSocket reader = client.newWebSocketBuilder().header("Authorization", "Bearer " + serve.token())
                .buildAsync(URI.create(wsUrl), new WebSocket.Listener() {
                    private final StringBuilder frame = new StringBuilder();

                    @Override
                    public CompletionStage<?> onText(WebSocket ws, CharSequence data, boolean last) {
                        frame.append(data);
                        if (last) {
                            JsonNode event = Json.read(frame.toString(), JsonNode.class, "ws event");
                            frame.setLength(0);
                            String type = event.path("type").asText();
                            if (type.equals("delta")) {
                                deltas.incrementAndGet();
                            } else if (type.equals("reply") || type.equals("error")) {
                                replied.complete(null);
                            }
                        }
                        ws.request(1);
                        return null;
                    }
                }).get(30, TimeUnit.SECONDS);
        // Never asks for a message after the first: the controller's writes to it back up.
        WebSocket stalled = client.newWebSocketBuilder().header("Authorization", "Bearer " + serve.token())
                .buildAsync(URI.create(wsUrl), new WebSocket.Listener() {
                    @Override
                    public void onOpen(WebSocket ws) {
                        // no request(n): nothing is read
                    }
                }).get(30, TimeUnit.SECONDS);

        AtomicLong peakKb = new AtomicLong();
        ScheduledExecutorService sampler = Executors.newSingleThreadScheduledExecutor();
        sampler.scheduleAtFixedRate(() -> peakKb.accumulateAndGet(Torture.rssKb(serve.pid()), Math::max), 0, 100, TimeUnit.MILLISECONDS);
        long t0 = System.nanoTime();
        HttpResponse<String> chat;
        try {
            reader.sendText("{\"type\":\"message\",\"bot_id\":\"BOT-CF\",\"text\":\"flood me\",\"client_msg_id\":\"f-1\"}", true)
                    .get(10, TimeUnit.SECONDS);
            replied.get(120, TimeUnit.SECONDS);
            chat = serve.post("/api/bot/BOT-CF/message", "{\"text\":\"flood again\"}");
        } finally {
            sampler.shutdownNow();
        }
        long ms = (System.nanoTime() - t0) / 1_000_000;
        assertEquals(200, chat.statusCode(), chat.body().length() > 300 ? chat.body().substring(0, 300) : chat.body());
        String reply = Json.read(chat.body(), JsonNode.class, "chat reply").path("reply").asText();
        assertTrue(reply.length() <= 2 * 1024 * 1024, "the reply is bounded: " + reply.length());
        assertTrue(reply.startsWith("torture-flood-line"), reply.substring(0, Math.min(80, reply.length())));
        assertTrue(deltas.get() > 0, "the reading subscriber received the stream");
        assertTrue(serve.get("/api/bots", true).statusCode() == 200, "the controller still answers");
        assertTrue(peakKb.get() > 0 && peakKb.get() < MAX_CONTROLLER_RSS_KB, "controller VmRSS peaked at " + peakKb.get() + " kB");
        stalled.abort();
        reader.abort();
        log.info("controller flood: 2 turns of {} MB each, {} deltas to the reading subscriber, controller peak VmRSS {} kB, {} ms",
                floodBytes / (1024 * 1024), deltas.get(), peakKb.get(), ms);
        AtomicFiles.writeString(Path.of("target", "torture-controller-flood.txt"), String.format(
                "flood_mb_per_turn=%d turns=2 deltas_read=%d reply_chars=%d controller_peak_rss_kb=%d ms=%d%n",
                floodBytes / (1024 * 1024), deltas.get(), reply.length(), peakKb.get(), ms));
    }
}
