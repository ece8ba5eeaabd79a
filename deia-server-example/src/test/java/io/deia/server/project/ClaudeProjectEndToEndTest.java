package io.deia.server.project;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.deia.core.testkit.AgentClis;
import io.deia.core.testkit.FakeAnthropicServer;
import io.deia.server.dashboard.ServeProcess;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 21's end-to-end path with the real {@code claude} binary: a real {@code serve} controller,
 * a bot runner launched over the API on a project, the pinned Claude Code CLI talking to a scripted
 * model on 127.0.0.1 that makes it write a file with its {@code Write} tool. deia commits the file on
 * the task's branch, the controller's diff shows it, the merge puts it on {@code base}.
 */
class ClaudeProjectEndToEndTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newHttpClient();
    private static final String BOT = "BOT-PRJ";
    private static final String KEY_VARIABLE = "DEIA_E2E_ANTHROPIC_KEY";

    @TempDir
    Path tmp;

    private final List<AutoCloseable> closeLast = new ArrayList<>();
    private ServeProcess serve;
    private Path repo;
    private Path worktree;

    @AfterEach
    void tearDown() throws Exception {
        try {
            if (serve != null) {
                serve.stopBots(List.of(BOT));
                serve.close();
            }
        } finally {
            for (AutoCloseable c : closeLast) {
                c.close();
            }
        }
    }

    /** A repository with one commit on {@code main}, a project "shop" on it, and a controller whose claude profile talks to {@code model}. */
    private void start(FakeAnthropicServer model) throws Exception {
        repo = tmp.resolve("shop");
        Files.createDirectories(repo);
        git(repo, "init", "--quiet", "--initial-branch=main");
        Files.writeString(repo.resolve("README.md"), "# shop\n", StandardCharsets.UTF_8);
        git(repo, "add", "README.md");
        git(repo, "-c", "user.name=Me", "-c", "user.email=me@example.invalid", "commit", "--quiet", "-m", "first");

        Path hive = tmp.resolve("hive");
        Files.createDirectories(hive);
        worktree = hive.resolve("worktrees").resolve("shop").resolve(BOT);
        Map<String, Object> profile = Map.of(
                "agent", "claude-code",
                "executable", AgentClis.claude().toString(),
                "model", "sonnet",
                "permission_mode", "acceptEdits",
                "allowed_tools", List.of("Write"),
                "env", Map.of("ANTHROPIC_BASE_URL", model.baseUrl(), "CLAUDE_CODE_MAX_RETRIES", "0"),
                "secret_env", Map.of("ANTHROPIC_API_KEY", KEY_VARIABLE),
                "timeout_s", 120,
                "max_attempts", 1);
        Map<String, Object> config = Map.of(
                "ports", Map.of("from", 17300, "to", 17399),
                "profiles", Map.of("claude", profile),
                "projects", Map.of("shop", Map.of("path", repo.toString(), "base", "main")));
        Path configFile = tmp.resolve("deia.json");
        Files.writeString(configFile, JSON.writeValueAsString(config), StandardCharsets.UTF_8);
        serve = new ServeProcess(hive, configFile, tmp.resolve("serve.log"))
                .environment(Map.of(KEY_VARIABLE, "sk-ant-e2e-key"));
        serve.start();
    }

    @Test
    void claudeWritesAFileInATaskDeiaCommitsItTheDiffShowsItAndTheMergePutsItOnBase() throws Exception {
        FakeAnthropicServer model = new FakeAnthropicServer();
        closeLast.add(model);
        start(model);

        JsonNode projects = body(serve.get("/api/projects", true), 200);
        assertEquals("shop", projects.path("projects").path(0).path("name").asText(), projects.toString());
        assertFalse(projects.toString().contains(repo.toString()), "no paths in /api/projects: " + projects);

        JsonNode launched = body(serve.post("/api/bot/launch",
                "{\"bot_id\":\"" + BOT + "\",\"profile\":\"claude\",\"project\":\"shop\"}"), 201);
        assertEquals("shop", launched.path("project").asText(), launched.toString());
        JsonNode bots = body(serve.get("/api/bots", true), 200);
        assertEquals("shop", bots.path("bots").path(0).path("project").asText(), bots.toString());

        Path file = worktree.resolve("hello.txt");
        JsonNode task = submit("T-1", "Please WRITE_FILE " + file);
        assertEquals("T-1", task.path("task_id").asText());
        JsonNode response = awaitResponse("T-1");
        assertEquals("completed", response.path("status").asText(), response.toString());
        assertEquals("shop", response.path("project").asText(), response.toString());
        assertEquals("deia/" + BOT + "/T-1", response.path("branch").asText());
        String first = git(repo, "rev-parse", "main").strip();
        assertEquals(first, response.path("base_commit").asText());
        String commit = response.path("commit").asText();
        assertEquals(40, commit.length(), response.toString());
        assertEquals(1, response.path("files_changed").asInt(), response.toString());
        assertEquals(1, response.path("insertions").asInt());
        assertEquals(0, response.path("deletions").asInt());

        // Claude wrote the file in its cwd, the worktree; deia committed it there, as itself.
        assertEquals(FakeAnthropicServer.FILE_CONTENT, Files.readString(file, StandardCharsets.UTF_8));
        assertEquals(commit, git(repo, "rev-parse", "refs/heads/deia/" + BOT + "/T-1").strip());
        assertEquals(FakeAnthropicServer.FILE_CONTENT, git(repo, "show", "deia/" + BOT + "/T-1:hello.txt"));
        assertEquals("deia " + BOT + "\nPlease WRITE_FILE " + file + " (T-1)\n",
                git(repo, "log", "-1", "--format=%an%n%s", commit));
        assertEquals(first, git(repo, "rev-parse", commit + "^").strip(), "the task branch starts at main's tip");
        assertEquals("", git(worktree, "status", "--porcelain"), "nothing left uncommitted");
        assertFalse(Files.exists(repo.resolve("hello.txt")), "the user's checkout is not touched by the task");
        assertEquals("sk-ant-e2e-key", model.requests("/v1/messages").get(0).headers().get("x-api-key"));
        // Claude Code tells the model its working directory: the bot's worktree, not a private workspace.
        String system = model.requests("/v1/messages").get(0).json().path("system").toString();
        assertTrue(system.contains("working directory: " + worktree), system);

        JsonNode diff = body(serve.get("/api/bot/" + BOT + "/tasks/T-1/diff", true), 200);
        assertEquals("deia/" + BOT + "/T-1", diff.path("branch").asText(), diff.toString());
        assertEquals("main", diff.path("base").asText());
        assertEquals(first, diff.path("merge_base").asText());
        assertEquals(commit, diff.path("commit").asText());
        assertEquals(1, diff.path("files").size(), diff.toString());
        JsonNode added = diff.path("files").path(0);
        assertEquals("hello.txt", added.path("path").asText());
        assertEquals("added", added.path("status").asText());
        assertEquals(1, added.path("insertions").asInt());
        assertEquals(0, added.path("deletions").asInt());
        assertTrue(diff.path("patch").asText().contains("+" + FakeAnthropicServer.FILE_CONTENT.strip()), diff.toString());
        assertFalse(diff.path("truncated").asBoolean());

        assertFalse(gitOk(repo, "cat-file", "-e", "main:hello.txt"), "not on main before the merge");
        JsonNode merged = body(serve.post("/api/bot/" + BOT + "/tasks/T-1/merge", ""), 200);
        assertTrue(merged.path("merged").asBoolean(), merged.toString());
        assertEquals("main", merged.path("base").asText());
        assertTrue(merged.path("fast_forward").asBoolean(), "main had not moved: " + merged);
        assertEquals(commit, merged.path("commit").asText());
        assertEquals(commit, git(repo, "rev-parse", "main").strip());
        assertEquals(FakeAnthropicServer.FILE_CONTENT, git(repo, "show", "main:hello.txt"));
        // main is checked out in the user's clean work tree: the merge brought it forward too.
        assertEquals(FakeAnthropicServer.FILE_CONTENT, Files.readString(repo.resolve("hello.txt"), StandardCharsets.UTF_8));
        assertEquals("", git(repo, "status", "--porcelain"));
        git(repo, "fsck", "--no-progress");
    }

    @Test
    void aFollowUpChatCommitsOnTheTaskBranchAndAMergeIntoADirtyCheckoutIsRefusedWithTheEditsKept() throws Exception {
        FakeAnthropicServer model = new FakeAnthropicServer();
        closeLast.add(model);
        start(model);
        body(serve.post("/api/bot/launch", "{\"bot_id\":\"" + BOT + "\",\"profile\":\"claude\",\"project\":\"shop\"}"), 201);

        submit("T-2", "Please WRITE_FILE " + worktree.resolve("first.txt"));
        JsonNode response = awaitResponse("T-2");
        assertEquals("completed", response.path("status").asText(), response.toString());
        String taskCommit = response.path("commit").asText();

        // The worktree stays on the task's branch: a chat message refines the task, and deia commits it there.
        JsonNode chat = body(serve.post("/api/bot/" + BOT + "/message",
                JSON.writeValueAsString(Map.of("text", "Also WRITE_FILE " + worktree.resolve("second.txt")))), 200);
        assertEquals("completed", chat.path("result").path("status").asText(), chat.toString());
        String branch = "deia/" + BOT + "/T-2";
        String tip = git(repo, "rev-parse", branch).strip();
        assertNotEquals(taskCommit, tip, "the chat turn made a commit on the task branch");
        assertEquals(taskCommit, git(repo, "rev-parse", tip + "^").strip());
        assertEquals("deia " + BOT + "\nchat: Also WRITE_FILE " + worktree.resolve("second.txt") + "\n",
                git(repo, "log", "-1", "--format=%an%n%s", tip));

        JsonNode diff = body(serve.get("/api/bot/" + BOT + "/tasks/T-2/diff", true), 200);
        Set<String> paths = new TreeSet<>();
        diff.path("files").forEach(f -> paths.add(f.path("path").asText()));
        assertEquals(Set.of("first.txt", "second.txt"), paths, diff.toString());

        // The user is editing README.md in the checkout where main is: the merge is refused, nothing moves.
        String mainBefore = git(repo, "rev-parse", "main").strip();
        Files.writeString(repo.resolve("README.md"), "# shop\nmy unsaved thought\n", StandardCharsets.UTF_8);
        HttpResponse<String> refused = serve.post("/api/bot/" + BOT + "/tasks/T-2/merge", "");
        JsonNode error = body(refused, 409);
        assertEquals("conflict", error.path("error").path("code").asText(), refused.body());
        assertEquals("README.md", error.path("error").path("files").path(0).asText(), refused.body());
        assertEquals(mainBefore, git(repo, "rev-parse", "main").strip());
        assertEquals("# shop\nmy unsaved thought\n", Files.readString(repo.resolve("README.md"), StandardCharsets.UTF_8));
        assertFalse(Files.exists(repo.resolve("first.txt")));

        // Once the user's checkout is clean again the same merge goes through, with both turns' files.
        git(repo, "checkout", "--quiet", "--", "README.md");
        JsonNode merged = body(serve.post("/api/bot/" + BOT + "/tasks/T-2/merge", ""), 200);
        assertEquals(tip, merged.path("commit").asText(), merged.toString());
        assertEquals(FakeAnthropicServer.FILE_CONTENT, git(repo, "show", "main:first.txt"));
        assertEquals(FakeAnthropicServer.FILE_CONTENT, git(repo, "show", "main:second.txt"));
    }

    @Test
    void aTaskCollidingWithACommitOnBaseIsRefusedThenDiscardedRestoredAndItsWorktreeRemoved() throws Exception {
        FakeAnthropicServer model = new FakeAnthropicServer();
        closeLast.add(model);
        start(model);
        body(serve.post("/api/bot/launch", "{\"bot_id\":\"" + BOT + "\",\"profile\":\"claude\",\"project\":\"shop\"}"), 201);
        String first = git(repo, "rev-parse", "main").strip();

        submit("T-3", "Please WRITE_FILE " + worktree.resolve("hello.txt"));
        JsonNode response = awaitResponse("T-3");
        assertEquals("completed", response.path("status").asText(), response.toString());
        String commit = response.path("commit").asText();
        String branch = "deia/" + BOT + "/T-3";

        // Meanwhile the user committed their own hello.txt on main: the task's file collides with it.
        Files.writeString(repo.resolve("hello.txt"), "mine\n", StandardCharsets.UTF_8);
        git(repo, "add", "hello.txt");
        git(repo, "-c", "user.name=Me", "-c", "user.email=me@example.invalid", "commit", "--quiet", "-m", "mine");
        String mine = git(repo, "rev-parse", "main").strip();

        JsonNode diff = body(serve.get("/api/bot/" + BOT + "/tasks/T-3/diff", true), 200);
        assertEquals(first, diff.path("merge_base").asText(), "the diff is against where the task left main: " + diff);
        HttpResponse<String> refused = serve.post("/api/bot/" + BOT + "/tasks/T-3/merge", "");
        JsonNode conflict = body(refused, 409).path("error");
        assertEquals("conflict", conflict.path("code").asText(), refused.body());
        assertEquals(List.of("hello.txt"), List.of(conflict.path("files").path(0).asText()), refused.body());
        assertEquals(1, conflict.path("files").size(), refused.body());
        assertEquals(mine, git(repo, "rev-parse", "main").strip(), "a refused merge moves nothing");
        assertEquals("mine\n", Files.readString(repo.resolve("hello.txt"), StandardCharsets.UTF_8));
        assertEquals("", git(repo, "status", "--porcelain"));

        // Running bots keep their worktree: removal waits for a stop.
        assertEquals(409, delete("/api/bot/" + BOT + "?remove_worktree=true").statusCode());
        assertEquals(400, delete("/api/bot/" + BOT).statusCode(), "a DELETE of a bot says what it removes");

        JsonNode discarded = body(serve.post("/api/bot/" + BOT + "/tasks/T-3/discard", ""), 200);
        assertTrue(discarded.path("discarded").asBoolean(), discarded.toString());
        assertEquals(branch, discarded.path("branch").asText());
        assertEquals("refs/deia/discarded/" + BOT + "/T-3", discarded.path("kept_as").asText());
        assertEquals(commit, git(repo, "rev-parse", "refs/deia/discarded/" + BOT + "/T-3").strip());
        assertFalse(gitOk(repo, "rev-parse", "--verify", "--quiet", "refs/heads/" + branch), "the branch is gone");
        // The bot's worktree was on that branch: it is back on its chat branch, at main's tip.
        assertEquals("deia/" + BOT + "/chat", git(worktree, "symbolic-ref", "--short", "HEAD").strip());
        assertEquals(mine, git(worktree, "rev-parse", "HEAD").strip());
        assertEquals(404, serve.get("/api/bot/" + BOT + "/tasks/T-3/diff", true).statusCode());
        assertEquals(404, serve.post("/api/bot/" + BOT + "/tasks/T-3/merge", "").statusCode());

        JsonNode restored = body(serve.post("/api/bot/" + BOT + "/tasks/T-3/restore", ""), 200);
        assertTrue(restored.path("restored").asBoolean(), restored.toString());
        assertEquals(commit, git(repo, "rev-parse", "refs/heads/" + branch).strip());
        assertEquals(404, serve.post("/api/bot/" + BOT + "/tasks/T-3/restore", "").statusCode(), "nothing is kept any more");

        body(serve.post("/api/bot/" + BOT + "/stop", ""), 200);
        JsonNode removed = body(delete("/api/bot/" + BOT + "?remove_worktree=true"), 200);
        assertTrue(removed.path("worktree_removed").asBoolean(), removed.toString());
        assertEquals("shop", removed.path("project").asText());
        assertFalse(Files.exists(worktree), "the worktree folder is gone");
        assertFalse(git(repo, "worktree", "list", "--porcelain").contains(worktree.toString()));
        assertEquals(commit, git(repo, "rev-parse", "refs/heads/" + branch).strip(), "branches are kept");
        assertTrue(gitOk(repo, "rev-parse", "--verify", "--quiet", "refs/heads/deia/" + BOT + "/chat"));
        git(repo, "fsck", "--no-progress");
    }

    private HttpResponse<String> delete(String path) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create(serve.baseUrl() + path)).timeout(Duration.ofSeconds(30))
                .header("Authorization", "Bearer " + serve.token()).DELETE().build(), HttpResponse.BodyHandlers.ofString());
    }

    private JsonNode submit(String taskId, String prompt) throws Exception {
        String task = "---\ntask_id: " + taskId + "\n---\n" + prompt + "\n";
        return body(serve.post("/api/bot/" + BOT + "/tasks", JSON.writeValueAsString(Map.of("task", task))), 201);
    }

    /** Waits for the task's response in the controller's task list (the runner writes it when the task ends). */
    private JsonNode awaitResponse(String taskId) {
        JsonNode[] found = new JsonNode[1];
        await("response of " + taskId + " (serve log " + tmp.resolve("serve.log.1") + ", bot log in the hive)")
                .atMost(Duration.ofSeconds(120)).pollInterval(Duration.ofMillis(200))
                .until(() -> {
                    JsonNode list = body(serve.get("/api/bot/" + BOT + "/tasks", true), 200);
                    for (JsonNode r : list.path("responses")) {
                        if (taskId.equals(r.path("task_id").asText())) {
                            found[0] = r;
                            return true;
                        }
                    }
                    return false;
                });
        return found[0];
    }

    private static JsonNode body(HttpResponse<String> response, int expectedStatus) throws IOException {
        assertEquals(expectedStatus, response.statusCode(), response.body());
        return JSON.readTree(response.body());
    }

    private static String git(Path dir, String... args) throws Exception {
        Result r = run(dir, args);
        assertEquals(0, r.exit, "git " + String.join(" ", args) + " in " + dir + ": " + r.err);
        return r.out;
    }

    private static boolean gitOk(Path dir, String... args) throws Exception {
        return run(dir, args).exit == 0;
    }

    private record Result(int exit, String out, String err) {
    }

    private static Result run(Path dir, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("git"));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile());
        pb.environment().put("LC_ALL", "C");
        pb.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        Path err = Files.createTempFile("git-err", ".txt");
        try {
            pb.redirectError(err.toFile());
            Process p = pb.start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), "git " + String.join(" ", args) + " did not end");
            return new Result(p.exitValue(), out, Files.readString(err, StandardCharsets.UTF_8));
        } finally {
            Files.deleteIfExists(err);
        }
    }
}
