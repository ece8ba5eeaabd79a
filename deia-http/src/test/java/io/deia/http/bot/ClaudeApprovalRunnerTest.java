package io.deia.http.bot;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.HiveLayout;
import io.deia.core.HiveToken;
import io.deia.core.config.DeiaConfig;
import io.deia.core.internal.io.Json;
import io.deia.core.launch.JvmRunnerCommand;
import io.deia.core.launch.RunnerCommand;
import io.deia.core.task.FileTaskQueue;
import io.deia.core.task.TaskResponse;
import io.deia.core.task.TaskStatus;
import io.deia.core.testkit.AgentClis;
import io.deia.core.testkit.FakeAnthropicServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A runner process whose Claude Code agent asks before a shell command ({@code approval.mode: ask}),
 * killed -9 while the request waits: the next runner has no pending request left from it, retries
 * the task, and the retry's own request, allowed over the bot port, lets the task finish.
 */
class ClaudeApprovalRunnerTest {
    private static final String BOT = "BOT-A";

    @TempDir
    Path dir;

    private final List<Process> runners = new ArrayList<>();
    private final HttpClient http = HttpClient.newHttpClient();
    private FakeAnthropicServer model;
    private HiveLayout hive;
    private Path configFile;
    private HiveToken token;

    @AfterEach
    void tearDown() throws Exception {
        for (Process p : runners) {
            p.destroy();
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
        }
        if (model != null) {
            model.close();
        }
    }

    private DeiaConfig setUp() throws Exception {
        model = new FakeAnthropicServer();
        hive = new HiveLayout(dir.resolve(".deia"));
        Map<String, Object> claude = new LinkedHashMap<>();
        claude.put("agent", "claude-code");
        claude.put("executable", AgentClis.claude().toString());
        claude.put("model", "sonnet");
        claude.put("env", Map.of("ANTHROPIC_BASE_URL", model.baseUrl(), "CLAUDE_CODE_MAX_RETRIES", "0"));
        claude.put("secret_env", Map.of("ANTHROPIC_API_KEY", "DEIA_TEST_ANTHROPIC_KEY"));
        claude.put("max_attempts", 3);
        claude.put("retry_backoff_ms", 10);
        claude.put("timeout_s", 120);
        claude.put("approval", Map.of("mode", "ask", "timeout_s", 300));
        Map<String, Object> config = new LinkedHashMap<>();
        config.put("ports", Map.of("from", 21000, "to", 21999));
        config.put("profiles", Map.of("claude", claude));
        configFile = dir.resolve("deia.json");
        Files.writeString(configFile, Json.writePretty(config));
        DeiaConfig loaded = DeiaConfig.load(configFile);
        token = HiveToken.loadOrCreate(hive);
        return loaded;
    }

    /** Starts a runner in the background, its output to a log file (never a pipe nobody reads). */
    private Process startRunner(int port, String logName) throws IOException {
        JvmRunnerCommand jvm = RunnerCommand.currentJvm();
        ProcessBuilder pb = new ProcessBuilder(jvm.javaCommand(), "-cp", System.getProperty("java.class.path"),
                JvmRunnerCommand.LIBRARY_MAIN_CLASS, "bot", "--id", BOT, "--port", Integer.toString(port),
                "--profile", "claude", "--hive", hive.root().toString(), "--config", configFile.toString())
                .redirectErrorStream(true).redirectOutput(dir.resolve(logName).toFile());
        pb.environment().put("DEIA_TEST_ANTHROPIC_KEY", "sk-ant-test-key");
        Process p = pb.start();
        runners.add(p);
        return p;
    }

    private static int freePort() throws IOException {
        for (int port = 21000 + (int) (ProcessHandle.current().pid() % 900); port < 22000; port++) {
            try (ServerSocket s = new ServerSocket(port, 1, java.net.InetAddress.getLoopbackAddress())) {
                return port;
            } catch (IOException taken) {
                // the next one
            }
        }
        throw new IOException("no free port in 21000..21999");
    }

    private HttpResponse<String> call(int port, String method, String path, String body) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                .header("Authorization", "Bearer " + token.reveal()).timeout(Duration.ofSeconds(10));
        if (body != null) {
            b.header("Content-Type", "application/json").method(method, HttpRequest.BodyPublishers.ofString(body));
        } else {
            b.method(method, HttpRequest.BodyPublishers.noBody());
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    /** The bot's pending requests, or an empty list while its port is not up. */
    private JsonNode pending(int port) {
        try {
            HttpResponse<String> r = call(port, "GET", "/permissions", null);
            return r.statusCode() == 200 ? Json.read(r.body(), JsonNode.class, "test").path("permissions") : Json.read("[]", JsonNode.class, "test");
        } catch (Exception notUpYet) {
            return Json.read("[]", JsonNode.class, "test");
        }
    }

    @Test
    void aRunnerKilledWhileARequestWaitsLeavesNoRequestAndTheTaskIsRetried() throws Exception {
        DeiaConfig config = setUp();
        FileTaskQueue tasks = new FileTaskQueue(hive, config);
        Path marker = dir.resolve("approved.txt");
        int port1 = freePort();
        Process first = startRunner(port1, "runner-1.log");
        tasks.submit(BOT, "---\ntask_id: T-ASK\n---\nRUN_BASH touch " + marker + "\n");

        await().atMost(Duration.ofSeconds(90)).until(() -> pending(port1).size() == 1);
        JsonNode asked = pending(port1).get(0);
        assertEquals("T-ASK", asked.path("task_id").asText(), asked.toString());
        assertEquals("Bash", asked.path("tool").asText());
        assertEquals("touch " + marker, asked.path("summary").asText());
        String firstId = asked.path("request_id").asText();

        first.destroyForcibly();
        assertTrue(first.waitFor(30, TimeUnit.SECONDS));
        assertEquals(137, first.exitValue());
        assertFalse(Files.exists(marker));

        int port2 = freePort();
        startRunner(port2, "runner-2.log");
        // The retry asks again, under a new id; the request of the killed runner is gone.
        await().atMost(Duration.ofSeconds(90)).until(() -> pending(port2).size() == 1);
        JsonNode again = pending(port2).get(0);
        String secondId = again.path("request_id").asText();
        assertNotEquals(firstId, secondId);
        assertEquals("T-ASK", again.path("task_id").asText());
        assertEquals(404, call(port2, "POST", "/permissions/" + firstId, "{\"decision\":\"allow\"}").statusCode());

        HttpResponse<String> allowed = call(port2, "POST", "/permissions/" + secondId, "{\"decision\":\"allow\"}");
        assertEquals(200, allowed.statusCode(), allowed.body());
        await().atMost(Duration.ofSeconds(90)).until(() -> tasks.response(BOT, "T-ASK").isPresent());
        TaskResponse r = tasks.response(BOT, "T-ASK").orElseThrow();
        assertEquals(TaskStatus.COMPLETED, r.status(), r.error() + "\n" + Files.readString(dir.resolve("runner-2.log")));
        assertEquals(2, r.attempt(), "the attempt cut short by the kill counts");
        assertTrue(Files.exists(marker), "the command ran once allowed");
        assertEquals(0, pending(port2).size());
        assertEquals(409, call(port2, "POST", "/permissions/" + secondId, "{\"decision\":\"deny\"}").statusCode());
    }
}
