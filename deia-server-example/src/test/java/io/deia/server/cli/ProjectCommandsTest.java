package io.deia.server.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.HiveLayout;
import io.deia.core.internal.io.AtomicFiles;
import io.deia.core.internal.io.Json;
import io.deia.core.testkit.GitRepos;
import io.deia.server.Main;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.BufferedReader;
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

    @AfterEach
    void tearDown() {
        serves.forEach(Process::destroyForcibly);
        io.deia.server.torture.Torture.killAllInto(dir);
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
        cfg.put("profiles", Map.of("echo", Map.of("agent", "command", "executable", "/bin/cat")));
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

        assertFalse(Files.exists(hive.registryFile()), "nothing started: no registry");
        assertFalse(Files.exists(hive.tokenFile()), "nothing started: no controller token");
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
}
