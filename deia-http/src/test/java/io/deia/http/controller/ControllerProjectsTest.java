package io.deia.http.controller;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.HiveLayout;
import io.deia.core.chat.HistoryStore;
import io.deia.core.chat.MessageRouter;
import io.deia.core.config.DeiaConfig;
import io.deia.core.internal.io.Json;
import io.deia.core.internal.process.ProcessTrees;
import io.deia.core.launch.BotLauncher;
import io.deia.core.launch.RunnerCommand;
import io.deia.core.registry.BotRecord;
import io.deia.core.registry.JsonFileServiceRegistry;
import io.deia.core.task.FileTaskQueue;
import io.deia.core.testkit.GitRepos;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.net.Socket;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Projects over the controller's API, real HTTP against real git repositories and real runner
 * processes:
 * {@code GET /api/projects}, {@code POST /api/bot/launch} with a {@code project}, {@code /api/bots}
 * entries carrying it, and the attacks on both endpoints.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ControllerProjectsTest {
    private Path dir;
    private Path shop;
    private HiveLayout hive;
    private JsonFileServiceRegistry registry;
    private BotLauncher launcher;
    private MessageRouter router;
    private ControllerServer server;
    private String base;
    private String token;
    private final HttpClient http = HttpClient.newBuilder().followRedirects(HttpClient.Redirect.NEVER).build();

    @BeforeAll
    void start() throws Exception {
        dir = Files.createTempDirectory("deia-controller-projects-test");
        hive = new HiveLayout(dir.resolve(".deia"));
        shop = GitRepos.init(dir.resolve("shop"));
        Path plain = Files.createDirectories(dir.resolve("plain"));
        Map<String, Object> projects = new LinkedHashMap<>();
        projects.put("shop", Map.of("path", shop.toString(), "base", "main"));
        projects.put("plain", Map.of("path", plain.toString()));
        projects.put("nobase", Map.of("path", shop.toString(), "base", "release"));
        projects.put("gone", Map.of("path", dir.resolve("no-such-folder").toString()));
        Map<String, Object> cfg = new LinkedHashMap<>();
        cfg.put("ports", Map.of("from", 25200, "to", 25299));
        cfg.put("max_body_bytes", 4096);
        cfg.put("profiles", Map.of("echo", Map.of("agent", "command", "executable", "/bin/cat", "start_timeout_s", 30)));
        cfg.put("projects", projects);
        Path configFile = dir.resolve("deia.json");
        Files.writeString(configFile, Json.writePretty(cfg));
        DeiaConfig config = DeiaConfig.load(configFile);
        registry = new JsonFileServiceRegistry(hive, config);
        launcher = BotLauncher.builder(hive, config, registry, RunnerCommand.currentJvm())
                .configFile(configFile).stopGrace(Duration.ofSeconds(3)).build();
        router = MessageRouter.builder(registry, new HistoryStore(hive), config).scanInterval(Duration.ofMillis(200)).build();
        router.start();
        server = ControllerServer.builder(hive, config, registry, launcher, new FileTaskQueue(hive, config), router)
                .port(0).build().start();
        base = server.baseUrl();
        token = server.token().reveal();
    }

    @AfterAll
    void stop() {
        if (launcher != null) {
            launcher.stopAll();
            launcher.close();
        }
        for (BotRecord r : registry.list()) {
            if (r.pid() > 0) {
                ProcessHandle.of(r.pid()).ifPresent(ProcessTrees::kill);
            }
        }
        if (server != null) {
            server.close();
        }
        if (router != null) {
            router.close();
            router.history().close();
        }
    }

    private HttpResponse<String> call(String method, String path, String body, String... headers) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(60))
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        boolean typed = false;
        boolean authorized = false;
        for (int i = 0; i + 1 < headers.length; i += 2) {
            typed |= headers[i].equalsIgnoreCase("Content-Type");
            authorized |= headers[i].equalsIgnoreCase("Authorization");
            if (headers[i + 1] != null) {
                b.header(headers[i], headers[i + 1]);
            }
        }
        if (body != null && !typed) {
            b.header("Content-Type", "application/json");
        }
        if (!authorized) {
            b.header("Authorization", "Bearer " + token);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    private static JsonNode json(HttpResponse<String> resp) {
        return Json.read(resp.body(), JsonNode.class, "response");
    }

    private static String errorCode(HttpResponse<String> resp) {
        return json(resp).path("error").path("code").asText();
    }

    private static String launchBody(String botId, String projectJson) {
        return "{\"bot_id\":\"" + botId + "\",\"profile\":\"echo\",\"project\":" + projectJson + "}";
    }

    @Test
    void listsTheProjectsByNameAndBaseWithoutTheirPaths() throws Exception {
        HttpResponse<String> resp = call("GET", "/api/projects", null);
        assertEquals(200, resp.statusCode(), resp.body());
        assertEquals(Json.read("{\"projects\":[{\"name\":\"shop\",\"base\":\"main\"},{\"name\":\"plain\",\"base\":\"main\"},"
                + "{\"name\":\"nobase\",\"base\":\"release\"},{\"name\":\"gone\",\"base\":\"main\"}]}", JsonNode.class, "expected"), json(resp));
        assertFalse(resp.body().contains(dir.toString()), "no path leaves the controller: " + resp.body());
        assertEquals(405, call("POST", "/api/projects", "{}").statusCode(), "read only");
        assertEquals(404, call("GET", "/api/projects/shop", null).statusCode());
    }

    @Test
    void launchesABotOnAProjectAndEveryViewOfItNamesTheProject() throws Exception {
        HttpResponse<String> launched = call("POST", "/api/bot/launch", launchBody("BOT-PRJ", "\"shop\""));
        assertEquals(201, launched.statusCode(), launched.body());
        assertEquals("shop", json(launched).path("project").asText());
        BotRecord entry = registry.get("BOT-PRJ").orElseThrow();
        assertEquals("shop", entry.project());
        // The runner got --project: it works in its worktree of the repository, on its chat branch.
        Path worktree = hive.root().resolve("worktrees").resolve("shop").resolve("BOT-PRJ");
        String log = Files.readString(hive.botLogFile("BOT-PRJ"));
        assertTrue(log.contains("[BOT-PRJ] working on project shop in " + worktree), log);
        assertEquals("deia/BOT-PRJ/chat", GitRepos.git(worktree, "branch", "--show-current").strip());

        HttpResponse<String> without = call("POST", "/api/bot/launch", "{\"bot_id\":\"BOT-NOP\",\"profile\":\"echo\"}");
        assertEquals(201, without.statusCode(), without.body());
        assertFalse(json(without).has("project"), without.body());

        JsonNode bots = json(call("GET", "/api/bots", null)).path("bots");
        Map<String, String> projectOf = new LinkedHashMap<>();
        bots.forEach(b -> projectOf.put(b.path("bot_id").asText(), b.has("project") ? b.path("project").asText() : null));
        assertEquals("shop", projectOf.get("BOT-PRJ"));
        assertTrue(projectOf.containsKey("BOT-NOP") && projectOf.get("BOT-NOP") == null, bots.toString());
        assertEquals("shop", json(call("GET", "/api/bot/BOT-PRJ/status", null)).path("project").asText());

        HttpResponse<String> stopped = call("POST", "/api/bot/BOT-PRJ/stop", null);
        assertEquals(200, stopped.statusCode(), stopped.body());
        assertEquals("shop", json(stopped).path("project").asText(), "a stopped bot still names its project");
        assertEquals(200, call("POST", "/api/bot/BOT-NOP/stop", null).statusCode());
    }

    @Test
    void aProjectThatIsUnknownOrFailsItsCheckIsUnprocessableAndStartsNothing() throws Exception {
        HttpResponse<String> unknown = call("POST", "/api/bot/launch", launchBody("BOT-U", "\"nope\""));
        assertEquals(422, unknown.statusCode(), unknown.body());
        assertEquals("unprocessable", errorCode(unknown));
        assertTrue(unknown.body().contains("unknown project 'nope'"), unknown.body());

        HttpResponse<String> notRepo = call("POST", "/api/bot/launch", launchBody("BOT-U", "\"plain\""));
        assertEquals(422, notRepo.statusCode(), notRepo.body());
        String notRepoMessage = json(notRepo).path("error").path("message").asText();
        assertTrue(notRepoMessage.startsWith("project plain: \"path\" "), notRepoMessage);
        assertTrue(notRepoMessage.contains("is not a git repository"), notRepoMessage);

        HttpResponse<String> noBase = call("POST", "/api/bot/launch", launchBody("BOT-U", "\"nobase\""));
        assertEquals(422, noBase.statusCode(), noBase.body());
        assertTrue(json(noBase).path("error").path("message").asText()
                .startsWith("project nobase: \"base\" branch 'release' does not exist"), noBase.body());

        HttpResponse<String> gone = call("POST", "/api/bot/launch", launchBody("BOT-U", "\"gone\""));
        assertEquals(422, gone.statusCode(), "a missing folder is the user's to fix, not a server error: " + gone.body());
        assertTrue(json(gone).path("error").path("message").asText().startsWith("project gone: \"path\" "), gone.body());

        assertTrue(registry.get("BOT-U").isEmpty(), "nothing reserved");
        assertFalse(Files.exists(hive.botLogFile("BOT-U")), "no runner started");
    }

    @Test
    void aProjectMustBeANameNeverAPath() throws Exception {
        List<String> bad = List.of("\"/etc\"", "\"../x\"", "\"..\"", "\"shop/../../etc\"", "\"" + dir + "/shop\"",
                "\"..%2Fetc\"", "\"shop\\u0000\"", "\"\"", "\" shop\"", "\"-shop\"", "\"" + "s".repeat(65) + "\"",
                "42", "true", "[\"shop\"]", "{\"name\":\"shop\"}");
        for (String project : bad) {
            HttpResponse<String> resp = call("POST", "/api/bot/launch", launchBody("BOT-T", project));
            assertEquals(400, resp.statusCode(), project + " -> " + resp.body());
            assertEquals("invalid_argument", errorCode(resp), project);
            assertTrue(json(resp).path("error").path("message").asText().contains("'project'"), resp.body());
            assertFalse(resp.body().contains("etc\\\""), "the value is not echoed: " + resp.body());
        }
        // null is the same as no project; the bot id is still checked first.
        assertEquals(400, call("POST", "/api/bot/launch",
                "{\"bot_id\":\"../x\",\"profile\":\"echo\",\"project\":\"shop\"}").statusCode());
        assertTrue(registry.get("BOT-T").isEmpty());
        Path worktrees = hive.root().resolve("worktrees");
        if (Files.isDirectory(worktrees)) {
            try (var made = Files.list(worktrees)) {
                assertEquals(List.of(), made.map(p -> p.getFileName().toString()).filter(n -> !n.equals("shop")).toList(),
                        "no folder made for any of them");
            }
        }
        assertFalse(Files.exists(hive.botLogFile("BOT-T")), "no runner started for any of them");
    }

    @Test
    void theNewAndChangedEndpointsRefuseMissingTokensForeignOriginsOtherBodiesAndOversize() throws Exception {
        String body = launchBody("BOT-X", "\"shop\"");
        for (String t : new String[]{null, "Bearer wrong", "Bearer " + token + "x", "Bearer "}) {
            HttpResponse<String> projects = call("GET", "/api/projects", null, "Authorization", t);
            assertEquals(401, projects.statusCode(), t + ": " + projects.body());
            assertEquals("unauthorized", errorCode(projects));
            assertEquals(401, call("POST", "/api/bot/launch", body, "Authorization", t).statusCode());
            assertEquals(401, call("GET", "/api/bots", null, "Authorization", t).statusCode());
        }
        for (String origin : List.of("http://evil.example", "http://127.0.0.1:" + (server.port() + 1), "null")) {
            HttpResponse<String> projects = call("GET", "/api/projects", null, "Origin", origin);
            assertEquals(403, projects.statusCode(), origin + ": " + projects.body());
            assertEquals("forbidden", errorCode(projects));
            assertEquals(403, call("POST", "/api/bot/launch", body, "Origin", origin).statusCode());
        }
        assertEquals(403, call("GET", "/api/projects", null, "Sec-Fetch-Site", "cross-site").statusCode());
        for (String type : List.of("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=b")) {
            HttpResponse<String> resp = call("POST", "/api/bot/launch", body, "Content-Type", type);
            assertEquals(415, resp.statusCode(), type + ": " + resp.body());
            assertEquals("unsupported_media_type", errorCode(resp));
        }
        // Over the body limit: answered 413 from the declared length (sent over a plain socket, headers
        // only, since the server closes without reading such a body).
        String big = rawExchange("POST /api/bot/launch HTTP/1.1\r\nHost: 127.0.0.1:" + server.port()
                + "\r\nAuthorization: Bearer " + token + "\r\nContent-Type: application/json\r\nContent-Length: 5000"
                + "\r\nConnection: close\r\n\r\n");
        assertTrue(big.startsWith("HTTP/1.1 413") && big.contains("\"payload_too_large\""), big);
        HttpResponse<String> notJson = call("POST", "/api/bot/launch", "{\"bot_id\":\"BOT-X\",\"project\":\"shop\"");
        assertEquals(400, notJson.statusCode(), notJson.body());
        for (String path : List.of("/api/projects/..%2F..%2Fetc", "/api/projects%2F..%2Fbots", "/api/projects/"
                + URLEncoder.encode("../shop", StandardCharsets.UTF_8))) {
            HttpResponse<String> resp = call("GET", path, null);
            assertTrue(resp.statusCode() == 400 || resp.statusCode() == 404, path + " -> " + resp.statusCode());
        }
        assertTrue(registry.get("BOT-X").isEmpty());
    }

    private String rawExchange(String request) throws Exception {
        try (Socket socket = new Socket("127.0.0.1", server.port())) {
            socket.setSoTimeout(30_000);
            socket.getOutputStream().write(request.getBytes(StandardCharsets.US_ASCII));
            socket.getOutputStream().flush();
            return new String(socket.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        }
    }
}
