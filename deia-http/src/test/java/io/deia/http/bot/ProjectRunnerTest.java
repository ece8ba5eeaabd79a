package io.deia.http.bot;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.HiveLayout;
import io.deia.core.chat.HistoryStore;
import io.deia.core.chat.MessageRouter;
import io.deia.core.config.DeiaConfig;
import io.deia.core.internal.io.Json;
import io.deia.core.launch.BotLauncher;
import io.deia.core.launch.JvmRunnerCommand;
import io.deia.core.launch.RunnerCommand;
import io.deia.core.registry.JsonFileServiceRegistry;
import io.deia.core.task.FileTaskQueue;
import io.deia.core.task.TaskResponse;
import io.deia.core.task.TaskStatus;
import io.deia.core.testkit.GitRepos;
import io.deia.http.controller.ControllerServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static io.deia.core.testkit.GitRepos.git;
import static io.deia.core.testkit.GitRepos.tip;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The runner process with {@code --project}: started from its argv as a launcher does, on a real
 * git repository made here, with a {@code command} agent writing files ({@link GitRepos#WRITER_SCRIPT}).
 */
class ProjectRunnerTest {
    private static final String BOT = "BOT-P";

    @TempDir
    Path dir;

    private final List<Process> runners = new ArrayList<>();
    private ControllerServer server;
    private MessageRouter router;
    private BotLauncher launcher;
    private Path repo;
    private Path gate;
    private Path configFile;
    private HiveLayout hive;

    @AfterEach
    void tearDown() throws Exception {
        for (Process p : runners) {
            p.destroyForcibly();
            p.waitFor(30, TimeUnit.SECONDS);
        }
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

    /** A repository, a hive and a config with the project "shop" and a few broken ones. */
    private DeiaConfig setUp() throws Exception {
        repo = GitRepos.init(dir.resolve("repo"));
        hive = new HiveLayout(dir.resolve(".deia"));
        gate = dir.resolve("gate");
        Path notARepo = Files.createDirectories(dir.resolve("plain-folder"));
        Map<String, Object> writer = new LinkedHashMap<>();
        writer.put("agent", "command");
        writer.put("executable", "/bin/sh");
        writer.put("args", List.of("-c", GitRepos.WRITER_SCRIPT, "sh", gate.toString()));
        writer.put("prompt_mode", "stdin");
        writer.put("max_attempts", 3);
        writer.put("retry_backoff_ms", 10);
        writer.put("timeout_s", 60);
        Map<String, Object> config = new LinkedHashMap<>();
        config.put("ports", Map.of("from", 20000, "to", 20999));
        config.put("profiles", Map.of("writer", writer));
        config.put("projects", Map.of(
                "shop", Map.of("path", repo.toString(), "base", "main"),
                "plain", Map.of("path", notARepo.toString(), "base", "main"),
                "nobase", Map.of("path", repo.toString(), "base", "develop")));
        configFile = dir.resolve("deia.json");
        Files.writeString(configFile, Json.writePretty(config));
        return DeiaConfig.load(configFile);
    }

    private List<String> argv(String project, int port) {
        JvmRunnerCommand jvm = RunnerCommand.currentJvm();
        return new ArrayList<>(List.of(jvm.javaCommand(), "-cp", System.getProperty("java.class.path"),
                JvmRunnerCommand.LIBRARY_MAIN_CLASS, "bot", "--id", BOT, "--port", Integer.toString(port),
                "--profile", "writer", "--hive", hive.root().toString(), "--config", configFile.toString(),
                "--project", project));
    }

    /** Starts a runner in the background, its output to a log file (never a pipe nobody reads). */
    private Process startRunner(int port, String logName) throws IOException {
        Process p = new ProcessBuilder(argv("shop", port)).redirectErrorStream(true)
                .redirectOutput(dir.resolve(logName).toFile()).start();
        runners.add(p);
        return p;
    }

    private record Exit(int code, String err) {
    }

    private Exit runToExit(String project) throws Exception {
        Process p = new ProcessBuilder(argv(project, freePort())).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        return new Exit(p.exitValue(), err);
    }

    private static int freePort() throws IOException {
        for (int port = 20000 + (int) (ProcessHandle.current().pid() % 900); port < 21000; port++) {
            try (ServerSocket s = new ServerSocket(port, 1, java.net.InetAddress.getLoopbackAddress())) {
                return port;
            } catch (IOException taken) {
                // the next one
            }
        }
        throw new IOException("no free port in 20000..20999");
    }

    @Test
    void anUnknownProjectOrABrokenRepositoryEndsTheRunnerWithExitTwoAndOneLine() throws Exception {
        setUp();
        Exit unknown = runToExit("nope");
        assertEquals(BotRunner.USAGE, unknown.code, unknown.err);
        assertTrue(unknown.err.strip().startsWith("bot: unknown project 'nope'; configured projects: "), unknown.err);
        assertEquals(1, unknown.err.strip().lines().count(), unknown.err);

        Exit plain = runToExit("plain");
        assertEquals(BotRunner.USAGE, plain.code, plain.err);
        assertTrue(plain.err.contains("project plain: \"path\" ") && plain.err.contains("is not a git repository"), plain.err);

        Exit noBase = runToExit("nobase");
        assertEquals(BotRunner.USAGE, noBase.code, noBase.err);
        assertTrue(noBase.err.contains("project nobase: \"base\" branch 'develop' does not exist"), noBase.err);

        assertFalse(Files.exists(hive.root().resolve("worktrees")), "no worktree was made");
        assertTrue(new JsonFileServiceRegistry(hive, DeiaConfig.load(configFile)).get(BOT).isEmpty(), "nothing registered");
        assertEquals(List.of(), GitRepos.branches(repo, "deia/"), "no branch was made");
    }

    @Test
    void aRunnerKilledDuringATurnRecoversOnItsNextStartAndCommitsTheWork() throws Exception {
        DeiaConfig config = setUp();
        String base = tip(repo, "main");
        Path worktree = hive.root().resolve("worktrees").resolve("shop").resolve(BOT);
        FileTaskQueue tasks = new FileTaskQueue(hive, config);
        Process first = startRunner(freePort(), "runner-1.log");
        tasks.submit(BOT, "---\ntask_id: T-KILL\n---\nwait work.txt one attempt\n");
        await().atMost(Duration.ofSeconds(60)).until(() -> Files.exists(worktree.resolve("work.txt")));

        // Killed -9 in the middle of the turn, with git's index lock left as a git killed during
        // deia's commit leaves it.
        Path indexLock = Path.of(git(worktree, "rev-parse", "--path-format=absolute", "--git-path", "index.lock").strip());
        Files.writeString(indexLock, "");
        first.destroyForcibly();
        assertTrue(first.waitFor(30, TimeUnit.SECONDS));
        assertEquals(137, first.exitValue());
        Files.writeString(gate, "go");

        startRunner(freePort(), "runner-2.log");
        await().atMost(Duration.ofSeconds(90)).until(() -> tasks.response(BOT, "T-KILL").isPresent());
        TaskResponse r = tasks.response(BOT, "T-KILL").orElseThrow();
        assertEquals(TaskStatus.COMPLETED, r.status(), r.error() + "\n" + Files.readString(dir.resolve("runner-2.log")));
        assertEquals(2, r.attempt(), "the attempt cut short by the kill counts");

        String branch = "deia/" + BOT + "/T-KILL";
        String taskTip = tip(repo, branch);
        assertFalse(Files.exists(indexLock), "the stale lock was removed");
        assertEquals("one attempt\none attempt\n", git(repo, "show", branch + ":work.txt"), "both attempts' work is committed");
        assertEquals(List.of("wait work.txt one attempt (T-KILL)", "deia: changes left by an interrupted turn", "first"),
                git(repo, "log", "--format=%s", branch).lines().toList());
        assertEquals("", git(worktree, "status", "--porcelain"), "nothing left uncommitted");
        GitRepos.Run fsck = GitRepos.tryGit(repo, "fsck", "--full", "--no-dangling", "--no-progress");
        assertEquals(0, fsck.exit(), fsck.err());
        assertEquals("", fsck.out() + fsck.err().replaceAll("(?m)^Checking .*\\n?", ""), "git fsck is clean");
        assertEquals(base, r.change().baseCommit());
        assertEquals(taskTip, r.change().commit());
        assertEquals(1, r.change().filesChanged());
        assertEquals(2, r.change().insertions());

        // The controller's task list carries the project fields of the response.
        JsonNode listed = controllerTaskList(config).path("responses").get(0);
        assertEquals("T-KILL", listed.path("task_id").asText(), listed.toString());
        assertEquals("shop", listed.path("project").asText(), listed.toString());
        assertEquals(branch, listed.path("branch").asText());
        assertEquals(base, listed.path("base_commit").asText());
        assertEquals(taskTip, listed.path("commit").asText());
        assertEquals(1, listed.path("files_changed").asInt());
        assertEquals(2, listed.path("insertions").asInt());
        assertEquals(0, listed.path("deletions").asInt());
        assertTrue(listed.path("deletions").isInt(), listed.toString());
        assertFalse(listed.has("change"), listed.toString());
    }

    /** {@code GET /api/bot/BOT-P/tasks} of a controller on this hive. */
    private JsonNode controllerTaskList(DeiaConfig config) throws Exception {
        JsonFileServiceRegistry registry = new JsonFileServiceRegistry(hive, config);
        launcher = BotLauncher.builder(hive, config, registry, RunnerCommand.currentJvm()).configFile(configFile)
                .supervise(false).build();
        router = MessageRouter.builder(registry, new HistoryStore(hive), config).build();
        router.start();
        server = ControllerServer.builder(hive, config, registry, launcher, new FileTaskQueue(hive, config), router)
                .port(0).build().start();
        HttpResponse<String> resp = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                        URI.create(server.baseUrl() + "/api/bot/" + BOT + "/tasks")).timeout(Duration.ofSeconds(30))
                .header("Authorization", "Bearer " + server.token().reveal()).GET().build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, resp.statusCode(), resp.body());
        return Json.read(resp.body(), JsonNode.class, "response");
    }
}
