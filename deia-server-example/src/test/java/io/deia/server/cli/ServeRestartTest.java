package io.deia.server.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.internal.io.Json;
import io.deia.server.Main;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.WebSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Acceptance: {@code kill -9} of the controller ({@code serve} in its own JVM) leaves the bots
 * running; a new {@code serve} on the same hive adopts them, shows their history, and chat works.
 */
class ServeRestartTest {
    @TempDir
    Path dir;

    private final List<Process> serves = new ArrayList<>();
    private final HttpClient http = HttpClient.newHttpClient();

    @AfterEach
    void cleanUp() {
        serves.forEach(Process::destroyForcibly);
        // A failed run must not leave its bot behind (it outlives the controllers by design).
        io.deia.server.torture.Torture.killAllInto(dir);
    }

    /** Alive and not a zombie waiting for a parent that no longer reaps it. */
    private static boolean running(long pid) throws java.io.IOException {
        if (!ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) {
            return false;
        }
        Path stat = Path.of("/proc/" + pid + "/stat");
        if (!Files.exists(stat)) {
            return false;
        }
        String s = Files.readString(stat);
        return !s.substring(s.lastIndexOf(')') + 2).startsWith("Z");
    }

    private record Serve(Process process, String base, String token) {
    }

    private Serve startServe(Path hive, Path config) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"), "-Xmx128m"));
        // The build's coverage agent, when present, goes along so that serve's own code is measured
        // (its data is appended to the same file when the JVM exits).
        java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments().stream()
                .filter(a -> a.startsWith("-javaagent:") && a.contains("jacoco")).forEach(cmd::add);
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Main.class.getName(), "serve", "--port", "0",
                "--hive", hive.toString(), "--config", config.toString()));
        Process p = new ProcessBuilder(cmd).redirectError(dir.resolve("serve-" + serves.size() + ".err").toFile()).start();
        serves.add(p);
        BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
        String url = out.readLine();
        // stdout is a pipe: serve prints the address and where the token file is, not the token
        assertTrue(url != null && url.contains("(the token is in " + hive.resolve("token")), "serve printed " + url);
        String token = Files.readString(hive.resolve("token"), StandardCharsets.UTF_8).trim();
        assertFalse(url.contains(token), "the token stays off a stdout that is not a terminal: " + url);
        URI u = URI.create(url.substring(0, url.indexOf(' ')));
        return new Serve(p, "http://" + u.getHost() + ":" + u.getPort(), token);
    }

    private HttpResponse<String> call(Serve s, String method, String path, String body) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(s.base() + path)).timeout(Duration.ofSeconds(90))
                .header("Authorization", "Bearer " + s.token()).header("Content-Type", "application/json")
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body))
                .build(), HttpResponse.BodyHandlers.ofString());
    }

    private String chatOverWebSocket(Serve s, String botId, String text) throws Exception {
        List<JsonNode> events = new CopyOnWriteArrayList<>();
        StringBuilder partial = new StringBuilder();
        WebSocket ws = http.newWebSocketBuilder().header("Authorization", "Bearer " + s.token())
                .buildAsync(URI.create(s.base().replace("http://", "ws://") + "/ws"), new WebSocket.Listener() {
                    @Override
                    public CompletionStage<?> onText(WebSocket w, CharSequence data, boolean last) {
                        partial.append(data);
                        if (last) {
                            events.add(Json.read(partial.toString(), JsonNode.class, "event"));
                            partial.setLength(0);
                        }
                        w.request(1);
                        return null;
                    }
                }).get(10, TimeUnit.SECONDS);
        ws.sendText("{\"type\":\"message\",\"bot_id\":\"" + botId + "\",\"text\":\"" + text + "\",\"client_msg_id\":\"" + text + "\"}", true).join();
        await().atMost(Duration.ofSeconds(30)).until(() -> events.stream().anyMatch(e -> e.path("type").asText().equals("reply")
                && e.path("client_msg_id").asText().equals(text)));
        ws.abort();
        return events.stream().filter(e -> e.path("type").asText().equals("reply")).findFirst().orElseThrow()
                .path("text").asText().trim();
    }

    @Test
    void killedControllerIsReplacedAndAdoptsItsRunningBots() throws Exception {
        Path hive = dir.resolve(".deia");
        Path config = dir.resolve("deia.json");
        Files.writeString(config, "{\"ports\":{\"from\":8600,\"to\":8799},\"profiles\":{\"upper\":{\"agent\":\"command\",\"executable\":\"/usr/bin/tr\","
                + "\"args\":[\"a-z\",\"A-Z\"],\"start_timeout_s\":60}}}");
        Serve first = startServe(hive, config);
        HttpResponse<String> launched = call(first, "POST", "/api/bot/launch", "{\"bot_id\":\"BOT-K\",\"profile\":\"upper\"}");
        assertEquals(201, launched.statusCode(), launched.body());
        long botPid = Json.read(launched.body(), JsonNode.class, "launch").path("pid").asLong();
        assertEquals("BEFORE", chatOverWebSocket(first, "BOT-K", "before"));

        first.process().destroyForcibly();
        assertTrue(first.process().waitFor(10, TimeUnit.SECONDS));
        assertTrue(ProcessHandle.of(botPid).map(ProcessHandle::isAlive).orElse(false), "the bot outlives the controller");

        Serve second = startServe(hive, config);
        assertEquals(first.token(), second.token(), "same hive, same token");
        HttpResponse<String> bots = call(second, "GET", "/api/bots", null);
        JsonNode bot = Json.read(bots.body(), JsonNode.class, "bots").path("bots").get(0);
        assertEquals("BOT-K", bot.path("bot_id").asText(), bots.body());
        assertEquals(botPid, bot.path("pid").asLong());
        assertEquals("idle", bot.path("state").asText(), bots.body());
        // live is the bot's own /status fetched with a short timeout: wait until it answers in time.
        await().atMost(Duration.ofSeconds(30)).until(() -> !Json.read(call(second, "GET", "/api/bots", null).body(), JsonNode.class, "bots")
                .path("bots").get(0).path("live").isNull());
        HttpResponse<String> history = call(second, "GET", "/api/bot/BOT-K/history", null);
        JsonNode messages = Json.read(history.body(), JsonNode.class, "history").path("messages");
        assertEquals("BEFORE", messages.get(0).path("text").asText().trim(), history.body());
        assertEquals("before", messages.get(1).path("text").asText());
        assertEquals("AFTER", chatOverWebSocket(second, "BOT-K", "after"));

        assertEquals(200, call(second, "POST", "/api/bot/BOT-K/stop", null).statusCode());
        // The bot is no child of this serve (the killed one started it): its exit is seen by polling.
        await().atMost(Duration.ofSeconds(20)).until(() -> !running(botPid));
        // SIGTERM stops the controller cleanly with exit code 0.
        second.process().destroy();
        assertTrue(second.process().waitFor(20, TimeUnit.SECONDS));
        assertEquals(0, second.process().exitValue());
    }
}
