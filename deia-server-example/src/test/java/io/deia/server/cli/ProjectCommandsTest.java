package io.deia.server.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.HiveLayout;
import io.deia.core.internal.io.AtomicFiles;
import io.deia.core.internal.io.Json;
import io.deia.core.config.DeiaConfig;
import io.deia.core.internal.process.ProcessTrees;
import io.deia.core.launch.BotLauncher;
import io.deia.core.launch.RunnerCommand;
import io.deia.core.registry.BotRecord;
import io.deia.core.registry.BotState;
import io.deia.core.registry.JsonFileServiceRegistry;
import io.deia.core.testkit.GitRepos;
import io.deia.core.testkit.ProcessChecks;
import io.deia.server.Main;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.io.StringWriter;
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
import java.util.UUID;

import static org.awaitility.Awaitility.await;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Projects on the command line, against real git repositories: {@code serve} checks every
 * configured project before it starts anything, {@code launch --project} refuses a project that
 * is unknown or fails its check (exit 2, the project and the field named).
 */
class ProjectCommandsTest {
    @TempDir
    Path dir;

    private final List<Process> serves = new ArrayList<>();
    private final List<BotLauncher> launchers = new ArrayList<>();
    private final String marker = "deia-project-cli-" + UUID.randomUUID();

    @AfterEach
    void tearDown() {
        serves.forEach(Process::destroyForcibly);
        launchers.forEach(BotLauncher::close);
        io.deia.server.torture.Torture.killAllInto(dir);
        ProcessChecks.runningWithMarker(marker).forEach(pid -> ProcessHandle.of(pid).ifPresent(ProcessTrees::kill));
    }

    private record Run(int code, String out, String err) {
    }

    private static Run run(String... args) {
        CommandLine cli = Main.commandLine();
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        cli.setOut(new PrintWriter(out));
        cli.setErr(new PrintWriter(err));
        int code = cli.execute(args);
        return new Run(code, out.toString(), err.toString());
    }

    /** A config file with an echo profile and these projects (name → path, base). */
    private Path config(Map<String, String[]> projects) {
        Map<String, Object> named = new LinkedHashMap<>();
        projects.forEach((name, pathAndBase) -> named.put(name, Map.of("path", pathAndBase[0], "base", pathAndBase[1])));
        Map<String, Object> cfg = new LinkedHashMap<>();
        // A port range of its own: other suites on this machine use other ranges at the same time.
        cfg.put("ports", Map.of("from", 25300, "to", 25399));
        cfg.put("profiles", Map.of("echo", Map.of("agent", "command", "executable", "/bin/cat",
                "runner_jvm_options", List.of("-Xmx64m", "-Ddeia.test.marker=" + marker))));
        cfg.put("projects", named);
        Path file = dir.resolve("deia-" + projects.size() + "-" + Math.abs(projects.hashCode()) + ".json");
        AtomicFiles.writeString(file, Json.writePretty(cfg));
        return file;
    }

    private static void assertRefused(Run r, String... inMessage) {
        assertEquals(2, r.code, r.err);
        assertEquals(1, r.err.strip().lines().count(), "one line on stderr: " + r.err);
        for (String s : inMessage) {
            assertTrue(r.err.contains(s), r.err);
        }
    }

    @Test
    void serveRefusesToStartWhenAProjectIsNotARepositoryOrLacksItsBase() throws Exception {
        Path shop = GitRepos.init(dir.resolve("shop"));
        Path plain = Files.createDirectories(dir.resolve("plain"));
        HiveLayout hive = new HiveLayout(dir.resolve(".deia"));
        String h = hive.root().toString();

        Map<String, String[]> notRepo = new LinkedHashMap<>();
        notRepo.put("shop", new String[]{shop.toString(), "main"});
        notRepo.put("plain", new String[]{plain.toString(), "main"});
        assertRefused(run("serve", "--port", "0", "--hive", h, "--config", config(notRepo).toString()),
                "serve: project plain: \"path\" " + plain + " is not a git repository");

        Map<String, String[]> noBase = new LinkedHashMap<>();
        noBase.put("shop", new String[]{shop.toString(), "release"});
        assertRefused(run("serve", "--port", "0", "--hive", h, "--config", config(noBase).toString()),
                "serve: project shop: \"base\" branch 'release' does not exist in " + shop);

        Map<String, String[]> gone = new LinkedHashMap<>();
        gone.put("lost", new String[]{dir.resolve("no-such-folder").toString(), "main"});
        assertRefused(run("serve", "--port", "0", "--hive", h, "--config", config(gone).toString()),
                "serve: project lost: \"path\" " + dir.resolve("no-such-folder"));

        assertFalse(Files.exists(hive.registryFile()), "nothing started: no registry");
        assertFalse(Files.exists(hive.tokenFile()), "nothing started: no controller token");
        assertTrue(run("serve", "--help").out.contains("Checks every configured project's repository first"));
    }

    @Test
    void serveWithGoodProjectsStartsAndListsThemByName() throws Exception {
        Path shop = GitRepos.init(dir.resolve("shop"));
        Path hive = dir.resolve(".deia");
        Map<String, String[]> good = new LinkedHashMap<>();
        good.put("shop", new String[]{shop.toString(), "main"});
        List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"), "-Xmx128m",
                "-cp", System.getProperty("java.class.path"), Main.class.getName(), "serve", "--port", "0",
                "--hive", hive.toString(), "--config", config(good).toString()));
        Process p = new ProcessBuilder(cmd).redirectError(dir.resolve("serve.err").toFile()).start();
        serves.add(p);
        String line = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8)).readLine();
        assertTrue(line != null && line.startsWith("http://127.0.0.1:"), "serve printed " + line + "; "
                + Files.readString(dir.resolve("serve.err")));
        String baseUrl = line.substring(0, line.indexOf("/ "));
        String token = Files.readString(hive.resolve("token"), StandardCharsets.UTF_8).trim();
        HttpResponse<String> projects = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(baseUrl + "/api/projects"))
                .timeout(Duration.ofSeconds(30)).header("Authorization", "Bearer " + token).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(200, projects.statusCode(), projects.body());
        assertEquals(Json.read("{\"projects\":[{\"name\":\"shop\",\"base\":\"main\"}]}", JsonNode.class, "expected"),
                Json.read(projects.body(), JsonNode.class, "projects"));
        assertTrue(Files.readString(dir.resolve("serve.err")).contains("project shop: " + shop + " on base main"));
    }

    @Test
    void launchRefusesAProjectThatIsUnknownOrFailsItsCheckAndStartsNothing() throws Exception {
        Path shop = GitRepos.init(dir.resolve("shop"));
        Path plain = Files.createDirectories(dir.resolve("plain"));
        HiveLayout hive = new HiveLayout(dir.resolve(".deia"));
        Map<String, String[]> projects = new LinkedHashMap<>();
        projects.put("shop", new String[]{shop.toString(), "main"});
        projects.put("plain", new String[]{plain.toString(), "main"});
        projects.put("nobase", new String[]{shop.toString(), "release"});
        String cfg = config(projects).toString();
        String h = hive.root().toString();

        assertRefused(run("launch", "BOT-L1", "--project", "nope", "--hive", h, "--config", cfg),
                "launch: unknown project 'nope'");
        assertRefused(run("launch", "BOT-L1", "--project", "../shop", "--hive", h, "--config", cfg),
                "unknown project '../shop'");
        assertRefused(run("launch", "BOT-L1", "--project", "plain", "--hive", h, "--config", cfg),
                "launch: project plain: \"path\" " + plain + " is not a git repository");
        assertRefused(run("launch", "BOT-L1", "--project", "nobase", "--hive", h, "--config", cfg),
                "launch: project nobase: \"base\" branch 'release' does not exist");
        assertRefused(run("launch", "BOT-L1", "--project", "--hive", h, "--config", cfg), "--project");
        assertFalse(Files.exists(hive.botLogFile("BOT-L1")), "no runner was started");
        Run status = run("status", "--hive", h, "--config", cfg);
        assertEquals(0, status.code, status.err);
        assertFalse(status.out.contains("BOT-L1"), status.out);
        assertTrue(run("launch", "--help").out.contains("--project"));
    }

    @Test
    void aBotLaunchedOnAProjectWorksInItsWorktreeAndASupervisedRestartKeepsIt() throws Exception {
        Path shop = GitRepos.init(dir.resolve("shop"));
        HiveLayout hive = new HiveLayout(dir.resolve(".deia"));
        Map<String, String[]> projects = new LinkedHashMap<>();
        projects.put("shop", new String[]{shop.toString(), "main"});
        Path cfg = config(projects);
        String h = hive.root().toString();

        Run launch = run("launch", "BOT-W", "--project", "shop", "--hive", h, "--config", cfg.toString());
        assertEquals(0, launch.code, launch.err);
        assertTrue(launch.out.contains("BOT-W launched: pid ") && launch.out.contains(", project shop, log "), launch.out);
        BotRecord first = new JsonFileServiceRegistry(hive, DeiaConfig.load(cfg)).get("BOT-W").orElseThrow();
        assertEquals("shop", first.project());
        // The real runner got --project: its worktree of the repository, on the bot's chat branch.
        Path worktree = hive.root().resolve("worktrees").resolve("shop").resolve("BOT-W");
        assertTrue(Files.isRegularFile(worktree.resolve("README.md")), "the worktree is checked out");
        assertTrue(GitRepos.hasBranch(shop, "deia/BOT-W/chat"));
        assertEquals("deia/BOT-W/chat", GitRepos.git(worktree, "branch", "--show-current").strip());
        assertTrue(Files.readString(hive.botLogFile("BOT-W")).contains("[BOT-W] working on project shop in " + worktree));

        Run status = run("status", "--hive", h, "--config", cfg.toString());
        assertTrue(status.out.contains("BOT-W") && status.out.contains("project shop"), status.out);

        Run stop = run("stop", "BOT-W", "--hive", h, "--config", cfg.toString());
        assertEquals(0, stop.code, stop.err);

        // Launched again by a supervising launcher (the worktree is reused); its runner is killed;
        // the restart is on the same project.
        DeiaConfig config = DeiaConfig.load(cfg);
        JsonFileServiceRegistry registry = new JsonFileServiceRegistry(hive, config);
        BotLauncher launcher = BotLauncher.builder(hive, config, registry, RunnerCommand.currentJvm(Main.class.getName()))
                .configFile(cfg).build();
        launchers.add(launcher);
        BotRecord second = launcher.launch("BOT-W", "echo", "shop");
        assertEquals(2, workingOnShop(hive, worktree), "the second runner works on the project");
        ProcessHandle.of(second.pid()).orElseThrow().destroyForcibly();
        BotRecord back = await().atMost(Duration.ofSeconds(30)).until(() -> registry.get("BOT-W").orElseThrow(),
                r -> r.pid() > 0 && r.pid() != second.pid() && r.state().isLive() && r.state() != BotState.STARTING);
        assertEquals("shop", back.project());
        assertEquals(1, back.restarts());
        assertEquals(3, workingOnShop(hive, worktree), "the restarted runner works on the project again");
        assertEquals("deia/BOT-W/chat", GitRepos.git(worktree, "branch", "--show-current").strip());

        assertEquals("shop", launcher.stop("BOT-W").project());
        assertTrue(Files.isDirectory(worktree), "a stop leaves the worktree and its branches");
    }

    private static long workingOnShop(HiveLayout hive, Path worktree) throws IOException {
        return Files.readAllLines(hive.botLogFile("BOT-W")).stream()
                .filter(l -> l.contains("[BOT-W] working on project shop in " + worktree)).count();
    }
}
