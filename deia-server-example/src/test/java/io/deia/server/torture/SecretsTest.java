package io.deia.server.torture;

import io.deia.core.HiveLayout;
import io.deia.core.internal.io.AtomicFiles;
import io.deia.core.internal.io.Json;
import io.deia.server.dashboard.ServeProcess;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.UUID;
import java.util.stream.Stream;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Secrets: a profile's {@code secret_env} value reaches the agent but never a log, a response, a
 * status, an API answer or the history; the API token appears nowhere but its own file and the one
 * dashboard URL {@code serve} prints on start.
 */
class SecretsTest {
    private static final Logger log = LoggerFactory.getLogger(SecretsTest.class);
    private static final String BOT = "BOT-K1";

    @TempDir
    Path dir;

    private ServeProcess serve;

    @AfterEach
    void tearDown() throws Exception {
        Torture.endServe(serve, List.of(BOT), dir);
    }

    @Test
    void theSecretAndTheTokenNeverLeak() throws Exception {
        String secret = "s3cr3t-" + UUID.randomUUID();
        HiveLayout hive = new HiveLayout(dir.resolve(".deia"));
        Path configFile = dir.resolve("deia.json");
        int portBase = 33000 + new Random().nextInt(40) * 20;
        // The agent proves it got the key (its length and a hash-free marker) without printing it.
        AtomicFiles.writeString(configFile, Json.write(Map.of("ports", Map.of("from", portBase, "to", portBase + 19),
                "profiles", Map.of("keeper", Map.of("agent", "command", "executable", "/bin/sh",
                        "args", List.of("-c", "cat >/dev/null; [ \"$API_KEY\" = \"$(cat " + dir.resolve("expected") + ")\" ] "
                                + "&& echo key-received-len-${#API_KEY} || { echo key-missing >&2; exit 3; }"),
                        "env", Map.of("PLAIN", "visible"), "secret_env", Map.of("API_KEY", "DEIA_TORTURE_SECRET"),
                        "start_timeout_s", 60)))));
        Files.writeString(dir.resolve("expected"), secret);
        serve = new ServeProcess(hive.root(), configFile, dir.resolve("serve.log")).environment(Map.of("DEIA_TORTURE_SECRET", secret));
        serve.start();
        String token = serve.token();

        List<String> answers = new ArrayList<>();
        HttpResponse<String> launched = serve.post("/api/bot/launch", "{\"bot_id\":\"" + BOT + "\",\"profile\":\"keeper\"}");
        assertEquals(201, launched.statusCode(), launched.body());
        answers.add(launched.body());
        HttpResponse<String> chat = serve.post("/api/bot/" + BOT + "/message", "{\"text\":\"use the key\"}");
        assertEquals(200, chat.statusCode(), chat.body());
        assertTrue(chat.body().contains("key-received-len-" + secret.length()), "the agent got the secret: " + chat.body());
        answers.add(chat.body());
        HttpResponse<String> task = serve.post("/api/bot/" + BOT + "/tasks",
                Json.write(Map.of("task", "---\ntask_id: K-1\n---\nuse the key\n")));
        assertEquals(201, task.statusCode(), task.body());
        await("the task's response").atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(200))
                .until(() -> Files.exists(hive.responsesDir(BOT).resolve("K-1.response.md")));
        for (String path : List.of("/api/bots", "/api/profiles", "/api/bot/" + BOT + "/status", "/api/bot/" + BOT + "/history",
                "/api/bot/" + BOT + "/tasks")) {
            HttpResponse<String> r = serve.get(path, true);
            assertEquals(200, r.statusCode(), path + ": " + r.body());
            answers.add(r.body());
        }
        // Wrong tokens close to the real one, and the token in a query string: none may be echoed into a log.
        serve.get("/?token=" + token, false);
        serve.get("/api/bots?token=" + token, false);
        serve.get("/?token=" + token + "x", false);
        for (String a : answers) {
            assertFalse(a.contains(secret), "an API answer holds the secret: " + a);
            assertFalse(a.contains(token), "an API answer holds the token: " + a);
        }

        // Stop the bot so its last log lines are written, then look at every file of the test folder.
        serve.stopBots(List.of(BOT));
        await("the bot stopped").atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(200))
                .until(() -> Torture.processesInto(dir).stream().noneMatch(pid -> commandLine(pid).contains(" bot ")));
        int filesChecked = 0;
        List<Path> all;
        try (Stream<Path> s = Files.walk(dir)) {
            all = s.filter(Files::isRegularFile).toList();
        }
        for (Path f : all) {
            if (f.equals(dir.resolve("expected")) || f.equals(hive.tokenFile())) {
                continue; // the test's own copy of the secret, and the token's home
            }
            String text = new String(Files.readAllBytes(f), StandardCharsets.ISO_8859_1);
            assertFalse(text.contains(secret), "the secret is in " + f);
            if (f.getFileName().toString().startsWith("serve.log")) {
                // serve prints its dashboard URL with the token once, on stdout, by contract; nowhere else.
                List<String> lines = text.lines().filter(l -> l.contains(token)).toList();
                assertTrue(lines.size() <= 1 && lines.stream().allMatch(l -> l.startsWith("http://127.0.0.1:")),
                        "the token in " + f + ": " + lines);
            } else {
                assertFalse(text.contains(token), "the token is in " + f);
            }
            filesChecked++;
        }
        assertTrue(Files.size(hive.botLogFile(BOT)) > 0, "the bot wrote a log");
        log.info("secrets: {} API answers and {} files checked; neither the secret nor the token leaked", answers.size(), filesChecked);
        AtomicFiles.writeString(Path.of("target", "torture-secrets.txt"),
                "api_answers=" + answers.size() + " files_checked=" + filesChecked + "\n");
    }

    private static String commandLine(long pid) {
        try {
            return new String(Files.readAllBytes(Path.of("/proc", Long.toString(pid), "cmdline")), StandardCharsets.UTF_8)
                    .replace('\0', ' ');
        } catch (java.io.IOException e) {
            return "";
        }
    }
}
