package io.deia.server.dashboard;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.sun.net.httpserver.HttpServer;
import io.deia.core.HiveLayout;
import io.deia.core.HiveToken;
import io.deia.core.internal.io.Json;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The attack of the issue, done by a real browser: the user has the dashboard open (so the browser
 * holds its SameSite=Strict cookie) and visits another page served from another port of
 * 127.0.0.1 — the same site. That page fires {@code fetch(…, {mode: "no-cors", method: "POST"})}
 * at a bot's own port and at the controller. Every request must reach the servers (their logs name
 * the page's Origin) and be refused: no agent turn, no file written, the bot not stopped, nothing
 * launched. A control request with the token afterwards shows the same bot does write files when
 * asked properly, so the checks can fail.
 */
class CrossSiteBrowserTest {
    private static final String BOT = "BOT-W";

    @TempDir
    Path tmp;

    private ServeProcess serve;
    private Browser browser;
    private HttpServer page;

    @AfterEach
    void tearDown() throws Exception {
        try {
            if (page != null) {
                page.stop(0);
            }
            if (browser != null) {
                browser.close();
            }
        } finally {
            if (serve != null) {
                serve.stopBots(List.of(BOT));
                serve.close();
            }
        }
    }

    @Test
    void aPageOnAnotherLocalPortCannotDriveABotOrTheController() throws Exception {
        Path hiveDir = tmp.resolve("hive");
        HiveLayout hive = new HiveLayout(hiveDir);
        Path config = tmp.resolve("deia.json");
        // "demo" is the offline demo agent: "write NAME: TEXT" makes it write a file in its workspace.
        Files.writeString(config, Json.write(Map.of("ports", Map.of("from", 18700, "to", 18799),
                "profiles", Map.of("demo", Map.of("agent", "command", "start_timeout_s", 60,
                        "executable", Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                        "args", List.of("-Xmx32m", "-cp", System.getProperty("java.class.path"),
                                "io.deia.server.demo.DemoAgent"))))), StandardCharsets.UTF_8);
        serve = new ServeProcess(hiveDir, config, tmp.resolve("serve.log"));
        serve.start();
        HttpResponse<String> launched = serve.post("/api/bot/launch", "{\"bot_id\":\"" + BOT + "\",\"profile\":\"demo\"}");
        assertEquals(201, launched.statusCode(), launched.body());
        JsonNode entry = Json.read(launched.body(), JsonNode.class, "launch");
        int botPort = entry.path("port").asInt();
        long botPid = entry.path("pid").asLong();

        browser = new Browser(tmp.resolve("chromium-profile"));
        // The user has the dashboard open: the browser holds the token cookie from here on.
        browser.driver.get(serve.dashboardUrl());
        await().until(() -> browser.driver.getCurrentUrl().equals(serve.baseUrl() + "/"));

        page = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        String html = attackPage("http://127.0.0.1:" + botPort, serve.baseUrl());
        page.createContext("/", ex -> {
            byte[] body = html.getBytes(StandardCharsets.UTF_8);
            ex.getResponseHeaders().set("Content-Type", "text/html; charset=utf-8");
            ex.sendResponseHeaders(200, body.length);
            try (OutputStream out = ex.getResponseBody()) {
                out.write(body);
            }
        });
        page.start();
        String pageOrigin = "http://127.0.0.1:" + page.getAddress().getPort();
        browser.driver.get(pageOrigin + "/");
        await("the page's requests settle").atMost(Duration.ofSeconds(30))
                .until(() -> browser.js("return window.results") != null);
        @SuppressWarnings("unchecked")
        List<String> results = (List<String>) browser.js("return window.results");

        // The simple requests were sent (their answers are opaque to the page); the JSON one never
        // got past its preflight, which no deia server answers.
        assertEquals(7, results.size(), results.toString());
        assertTrue(results.subList(0, 6).stream().allMatch("sent:opaque"::equals), results.toString());
        assertTrue(results.get(6).startsWith("failed:"), results.toString());
        // Each request reached its server and was refused there by the page's Origin.
        Path botLog = hive.botLogFile(BOT);
        await("the bot logs the refusals").atMost(Duration.ofSeconds(10)).until(() -> {
            String log = Files.readString(botLog, StandardCharsets.UTF_8);
            return Stream.of("/message", "/stop", "/pause").allMatch(p -> log.contains(
                    "[" + BOT + "] refused POST " + p + ": request from a web page (Origin " + pageOrigin + ")"));
        });
        await("the controller logs the refusals").atMost(Duration.ofSeconds(10)).until(() -> {
            String log = serveLog();
            return Stream.of("/api/bot/launch", "/api/bot/" + BOT + "/message", "/api/bot/" + BOT + "/stop")
                    .allMatch(p -> log.contains("[controller] refused POST " + p + ": request from a web page (Origin "
                            + pageOrigin + ")"));
        });

        // Nothing happened: no file, no turn, the bot still runs as the same process, nothing launched.
        if (Files.isDirectory(hive.workspaceDir(BOT))) {
            try (Stream<Path> files = Files.list(hive.workspaceDir(BOT))) {
                assertEquals(List.of(), files.toList(), "the page made the bot write: " + results);
            }
        }
        JsonNode bots = Json.read(serve.get("/api/bots", true).body(), JsonNode.class, "bots").path("bots");
        assertEquals(1, bots.size(), "nothing launched: " + bots);
        assertEquals(BOT, bots.get(0).path("bot_id").asText());
        assertEquals(botPid, bots.get(0).path("pid").asLong(), "the bot was not stopped or restarted");
        JsonNode live = bots.get(0).path("live");
        assertEquals("idle", live.path("state").asText(), live.toString());
        assertEquals(0, live.path("messages_completed").asInt(), live.toString());
        assertFalse(serve.get("/api/bot/" + BOT + "/history", true).body().contains("owned"), "no message recorded");

        // The control: with the token, the same bot writes the file, so the checks above can fail.
        HttpResponse<String> control = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                        URI.create("http://127.0.0.1:" + botPort + "/message")).timeout(Duration.ofSeconds(60))
                .header("Authorization", HiveToken.loadOrCreate(hive).bearer()).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"text\":\"write control.txt: asked properly\"}")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(200, control.statusCode(), control.body());
        assertTrue(Files.exists(hive.workspaceDir(BOT).resolve("control.txt")));
    }

    /**
     * The hostile page: {@code no-cors} POSTs (what a page may send without a CORS preflight) with the
     * cookie included, to the bot's port and to the controller; and one JSON request in {@code cors}
     * mode, whose preflight is never answered. {@code window.results} lists how each one ended.
     */
    private static String attackPage(String bot, String controller) {
        String attempts = Json.write(List.of(
                List.of(bot + "/message", "{\"text\":\"write pwned.txt: owned by a web page\"}"),
                List.of(bot + "/stop", ""),
                List.of(bot + "/pause", "{}"),
                List.of(controller + "/api/bot/launch", "{\"bot_id\":\"BOT-EVIL\",\"profile\":\"demo\"}"),
                List.of(controller + "/api/bot/" + BOT + "/message", "{\"text\":\"write pwned2.txt: owned via the controller\"}"),
                List.of(controller + "/api/bot/" + BOT + "/stop", "")));
        return "<!doctype html><html><head><title>some other local page</title></head><body><script>\n"
                + "const attempts = " + attempts + ";\n"
                + "const simple = attempts.map(([url, body]) => fetch(url, {mode: 'no-cors', method: 'POST',"
                + " credentials: 'include', body: body}).then(r => 'sent:' + r.type, e => 'failed:' + e));\n"
                + "const preflighted = fetch('" + bot + "/message', {method: 'POST', credentials: 'include',"
                + " headers: {'Content-Type': 'application/json'}, body: attempts[0][1]})"
                + ".then(r => 'sent:' + r.status, e => 'failed:' + e);\n"
                + "Promise.all(simple.concat([preflighted])).then(r => { window.results = r; });\n"
                + "</script></body></html>";
    }

    private String serveLog() throws IOException {
        StringBuilder all = new StringBuilder();
        try (Stream<Path> logs = Files.list(tmp)) {
            for (Path p : logs.filter(p -> p.getFileName().toString().startsWith("serve.log")).toList()) {
                all.append(Files.readString(p, StandardCharsets.UTF_8));
            }
        }
        return all.toString();
    }
}
