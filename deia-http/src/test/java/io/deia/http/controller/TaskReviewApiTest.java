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
import io.deia.core.registry.BotState;
import io.deia.core.registry.JsonFileServiceRegistry;
import io.deia.core.task.FileTaskQueue;
import io.deia.core.testkit.ReviewRepo;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The review endpoints over real HTTP on a real repository: diff, merge (and its 409 with the
 * conflicting files), discard, restore and removing a stopped bot's worktree, plus the attacks every
 * endpoint must refuse (no token, a foreign Origin, a body that is not JSON or too large, ids that try
 * to leave their folder).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class TaskReviewApiTest {
    private Path dir;
    private ReviewRepo repo;
    private JsonFileServiceRegistry registry;
    private BotLauncher launcher;
    private MessageRouter router;
    private ControllerServer server;
    private String base;
    private String token;
    private final HttpClient http = HttpClient.newBuilder().followRedirects(HttpClient.Redirect.NEVER).build();

    @BeforeAll
    void start() throws Exception {
        dir = Files.createTempDirectory("deia-review-api-test");
        repo = ReviewRepo.create(dir);
        HiveLayout hive = repo.hive();
        DeiaConfig config = repo.config().toBuilder().maxBodyBytes(4096).build();
        registry = new JsonFileServiceRegistry(hive, config);
        launcher = BotLauncher.builder(hive, config, registry, RunnerCommand.currentJvm()).build();
        router = MessageRouter.builder(registry, new HistoryStore(hive), config).build();
        router.start();
        server = ControllerServer.builder(hive, config, registry, launcher, new FileTaskQueue(hive, config), router)
                .port(0).maxThreads(20).build().start();
        base = server.baseUrl();
        token = server.token().reveal();
    }

    @AfterAll
    void stop() {
        if (server != null) {
            server.close();
        }
        if (router != null) {
            router.close();
            router.history().close();
        }
        if (launcher != null) {
            launcher.close();
        }
    }

    private HttpResponse<String> call(String method, String path, String body, String... headers) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(30))
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        List<String> h = new ArrayList<>(List.of(headers));
        if (!h.contains("Authorization")) {
            b.header("Authorization", "Bearer " + token);
        }
        if (body != null && !h.contains("Content-Type")) {
            b.header("Content-Type", "application/json");
        }
        for (int i = 0; i + 1 < h.size(); i += 2) {
            if (!h.get(i + 1).isEmpty()) {
                b.header(h.get(i), h.get(i + 1));
            }
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
    }

    private static JsonNode json(HttpResponse<String> resp) {
        return Json.read(resp.body(), JsonNode.class, "response");
    }

    @Test
    void diffShowsTheFilesWithExactNamesBinaryCountsAsNullAndThePatch() throws Exception {
        String tip = repo.task("BOT-D", "T-1", Map.of("naïve file.txt", "é\n".getBytes(StandardCharsets.UTF_8),
                "img.bin", new byte[]{0, (byte) 0x89, 'P', 'N', 'G', 0}));

        HttpResponse<String> r = call("GET", "/api/bot/BOT-D/tasks/T-1/diff", null);

        assertEquals(200, r.statusCode(), r.body());
        JsonNode d = json(r);
        assertEquals("deia/BOT-D/T-1", d.get("branch").asText());
        assertEquals("main", d.get("base").asText());
        assertEquals(tip, d.get("commit").asText());
        assertTrue(d.get("merge_base").asText().matches("[0-9a-f]{40}"));
        assertFalse(d.get("truncated").asBoolean());
        assertTrue(d.get("patch").asText().contains("+++ b/naïve file.txt"), d.get("patch").asText());
        JsonNode text = null;
        JsonNode bin = null;
        for (JsonNode f : d.get("files")) {
            if (f.get("path").asText().equals("naïve file.txt")) {
                text = f;
            } else if (f.get("path").asText().equals("img.bin")) {
                bin = f;
            }
        }
        assertEquals("added", text.get("status").asText());
        assertEquals(1, text.get("insertions").asInt());
        assertTrue(bin.get("insertions").isNull() && bin.get("deletions").isNull() && bin.get("binary").asBoolean(), bin.toString());
    }

    @Test
    void mergeFastForwardsThenAConflictAnswers409WithTheFilesAndChangesNothing() throws Exception {
        String tip = repo.taskText("BOT-M", "T-1", Map.of("merged-by-api.txt", "m\n"));

        HttpResponse<String> ok = call("POST", "/api/bot/BOT-M/tasks/T-1/merge", null);

        assertEquals(200, ok.statusCode(), ok.body());
        assertEquals(Map.of("merged", true, "base", "main", "commit", tip, "fast_forward", true, "already_merged", false),
                Json.read(ok.body(), Map.class, "merge"));
        assertEquals("m\n", Files.readString(repo.repo().resolve("merged-by-api.txt")));

        repo.taskText("BOT-M", "T-2", Map.of("clash.txt", "bot\n"));
        String userTip = repo.userCommit(Map.of("clash.txt", "user\n"));
        HttpResponse<String> conflict = call("POST", "/api/bot/BOT-M/tasks/T-2/merge", "{}");

        assertEquals(409, conflict.statusCode(), conflict.body());
        JsonNode error = json(conflict).get("error");
        assertEquals("conflict", error.get("code").asText());
        assertTrue(error.get("message").asText().contains("conflicts"), error.toString());
        assertEquals("[\"clash.txt\"]", error.get("files").toString());
        assertEquals(userTip, repo.main());
        assertEquals("user\n", Files.readString(repo.repo().resolve("clash.txt")));
    }

    @Test
    void aDirtyCheckoutOfBaseAnswers409WithItsFilesAndKeepsTheEdit() throws Exception {
        repo.taskText("BOT-U", "T-1", Map.of("u.txt", "u\n"));
        String main = repo.main();
        Path readme = repo.repo().resolve("README.md");
        String committed = Files.readString(readme);
        Files.writeString(readme, "my unsaved edit\n");
        try {
            HttpResponse<String> r = call("POST", "/api/bot/BOT-U/tasks/T-1/merge", "{}");

            assertEquals(409, r.statusCode(), r.body());
            JsonNode error = json(r).get("error");
            assertEquals("conflict", error.get("code").asText());
            assertEquals("[\"README.md\"]", error.get("files").toString());
            assertEquals("my unsaved edit\n", Files.readString(readme));
            assertEquals(main, repo.main());
        } finally {
            Files.writeString(readme, committed);
        }
        assertEquals(200, call("POST", "/api/bot/BOT-U/tasks/T-1/merge", null).statusCode());
    }

    @Test
    void theDiffOfAFiveHundredFileChangeAnswersWithinASecondAndABigPatchIsCut() throws Exception {
        Map<String, String> files = new LinkedHashMap<>();
        for (int i = 0; i < 500; i++) {
            files.put("src/m" + (i % 20) + "/F" + i + ".java", "class F" + i + " {\n}\n");
        }
        files.put("big.txt", "0123456789abcdef\n".repeat(200_000));
        repo.taskText("BOT-P", "T-1", files);
        assertEquals(200, call("GET", "/api/bot/BOT-P/tasks/T-1/diff", null).statusCode());

        long start = System.nanoTime();
        HttpResponse<String> r = call("GET", "/api/bot/BOT-P/tasks/T-1/diff", null);
        long ms = (System.nanoTime() - start) / 1_000_000;

        assertEquals(200, r.statusCode());
        JsonNode d = json(r);
        assertEquals(501, d.get("files").size());
        assertTrue(d.get("truncated").asBoolean());
        assertTrue(ms <= 1000, "the diff API took " + ms + " ms");
        assertEquals(405, call("PUT", "/api/bot/BOT-P/tasks/T-1/diff", "{}").statusCode());
    }

    @Test
    void discardKeepsTheTipAndRestoreBringsItBackOnce() throws Exception {
        String tip = repo.taskText("BOT-X", "T-1", Map.of("x.txt", "x\n"));

        HttpResponse<String> d = call("POST", "/api/bot/BOT-X/tasks/T-1/discard", "{}");
        assertEquals(200, d.statusCode(), d.body());
        assertEquals(Map.of("discarded", true, "branch", "deia/BOT-X/T-1", "kept_as", "refs/deia/discarded/BOT-X/T-1",
                "commit", tip), Json.read(d.body(), Map.class, "discard"));
        assertEquals(404, call("GET", "/api/bot/BOT-X/tasks/T-1/diff", null).statusCode());

        HttpResponse<String> restored = call("POST", "/api/bot/BOT-X/tasks/T-1/restore", null);
        assertEquals(200, restored.statusCode(), restored.body());
        assertEquals(Map.of("restored", true, "branch", "deia/BOT-X/T-1", "commit", tip),
                Json.read(restored.body(), Map.class, "restore"));
        assertEquals(404, call("POST", "/api/bot/BOT-X/tasks/T-1/restore", null).statusCode());
        assertEquals(200, call("GET", "/api/bot/BOT-X/tasks/T-1/diff", null).statusCode());
    }

    @Test
    void removeWorktreeOfAStoppedBotThen404AndARunningBotIs409() throws Exception {
        repo.taskText("BOT-W", "T-1", Map.of("w.txt", "w\n"));
        Path worktree = repo.worktree("BOT-W").dir();

        assertEquals(400, call("DELETE", "/api/bot/BOT-W", null).statusCode(), "the query parameter is required");
        assertEquals(405, call("GET", "/api/bot/BOT-W?remove_worktree=true", null).statusCode());
        HttpResponse<String> r = call("DELETE", "/api/bot/BOT-W?remove_worktree=true", null);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(Map.of("worktree_removed", true, "bot_id", "BOT-W", "project", "shop", "branch", "deia/BOT-W/T-1"),
                Json.read(r.body(), Map.class, "remove"));
        assertFalse(Files.exists(worktree));
        assertEquals(404, call("DELETE", "/api/bot/BOT-W?remove_worktree=true", null).statusCode());

        // A bot whose registry entry names a live process (this JVM) is running.
        repo.taskText("BOT-R", "T-1", Map.of("r.txt", "r\n"));
        long pid = ProcessHandle.current().pid();
        Instant started = ProcessTrees.startInstant(pid).orElseThrow();
        registry.register(BotRecord.builder("BOT-R").pid(pid).processStart(started).port(1).state(BotState.IDLE)
                .profile("p").agent("command").registeredAt(Instant.now()).build());
        HttpResponse<String> running = call("DELETE", "/api/bot/BOT-R?remove_worktree=true", null);
        assertEquals(409, running.statusCode(), running.body());
        assertEquals("conflict", json(running).get("error").get("code").asText());
        assertTrue(Files.isDirectory(repo.worktree("BOT-R").dir()));
    }

    @Test
    void withoutTheTokenFromAForeignPageOrWithABodyThatIsNotJsonNothingHappens() throws Exception {
        String tip = repo.taskText("BOT-A", "T-1", Map.of("a.txt", "a\n"));
        String main = repo.main();
        for (String action : List.of("merge", "discard", "restore")) {
            String path = "/api/bot/BOT-A/tasks/T-1/" + action;
            assertEquals(401, call("POST", path, null, "Authorization", "Bearer wrong").statusCode(), action);
            assertEquals(403, call("POST", path, "{}", "Origin", "http://evil.example").statusCode(), action);
            assertEquals(415, call("POST", path, "{}", "Content-Type", "text/plain").statusCode(), action);
            assertEquals(415, call("POST", path, "a=b", "Content-Type", "application/x-www-form-urlencoded").statusCode(), action);
            assertEquals(413, call("POST", path, "{\"pad\":\"" + "x".repeat(10_000) + "\"}").statusCode(), action);
            assertEquals(400, call("POST", path, "{\"force\":true}").statusCode(), action);
            assertEquals(400, call("POST", path, "not json").statusCode(), action);
        }
        assertEquals(401, call("GET", "/api/bot/BOT-A/tasks/T-1/diff", null, "Authorization", "Bearer wrong").statusCode());
        assertEquals(403, call("GET", "/api/bot/BOT-A/tasks/T-1/diff", null, "Origin", "http://evil.example").statusCode());
        assertEquals(401, call("DELETE", "/api/bot/BOT-A?remove_worktree=true", null, "Authorization", "Bearer wrong").statusCode());
        assertEquals(403, call("DELETE", "/api/bot/BOT-A?remove_worktree=true", null, "Origin", "http://evil.example").statusCode());
        assertEquals(405, call("GET", "/api/bot/BOT-A/tasks/T-1/merge", null).statusCode());

        assertEquals(main, repo.main());
        assertEquals(tip, ReviewRepo.git(repo.repo(), "rev-parse", "refs/heads/deia/BOT-A/T-1").strip());
        assertTrue(Files.isDirectory(repo.worktree("BOT-A").dir()));
    }

    @Test
    void idsThatTryToLeaveTheirFolderAreRefused() throws Exception {
        repo.taskText("BOT-T", "T-1", Map.of("t.txt", "t\n"));
        List<String> paths = List.of(
                "/api/bot/BOT-T/tasks/..%2F..%2Fetc/diff",
                "/api/bot/BOT-T/tasks/T%2F1/diff",
                "/api/bot/BOT-T/tasks/%2e%2e/diff",
                "/api/bot/..%2FBOT-T/tasks/T-1/diff",
                "/api/bot/BOT-T/tasks/.hidden/diff",
                "/api/bot/BOT-T/tasks/T%201/diff",
                "/api/bot/BOT-T/tasks/T%00/diff",
                "/api/bot/B%C3%96T/tasks/T-1/diff",
                "/api/bot/BOT-T/tasks/T%5C1/merge",
                "/api/bot/..%2F..%2Fx?remove_worktree=true");
        for (String p : paths) {
            String method = p.endsWith("/diff") ? "GET" : p.endsWith("merge") ? "POST" : "DELETE";
            int status = call(method, p, null).statusCode();
            assertTrue(status == 400 || status == 404, p + " answered " + status);
        }
        assertEquals(404, call("GET", "/api/bot/BOT-T/tasks/T-9/diff", null).statusCode(), "a task that never ran");
        assertEquals(404, call("GET", "/api/bot/BOT-NOBODY/tasks/T-1/diff", null).statusCode(), "a bot that never ran");
        assertEquals(404, call("GET", "/api/bot/BOT-T/tasks/T-1/unknown", null).statusCode());
        assertEquals(200, call("GET", "/api/bot/BOT-T/tasks/T-1/diff", null).statusCode());
    }
}
