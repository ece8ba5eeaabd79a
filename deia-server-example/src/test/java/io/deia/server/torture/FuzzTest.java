package io.deia.server.torture;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.DeiaException;
import io.deia.core.HiveLayout;
import io.deia.core.chat.HistoryStore;
import io.deia.core.chat.MessageRouter;
import io.deia.core.config.DeiaConfig;
import io.deia.core.internal.io.AtomicFiles;
import io.deia.core.internal.io.Json;
import io.deia.core.launch.BotLauncher;
import io.deia.core.launch.RunnerCommand;
import io.deia.core.registry.BotRecord;
import io.deia.core.registry.JsonFileServiceRegistry;
import io.deia.core.task.FileTaskQueue;
import io.deia.core.task.Task;
import io.deia.core.task.TaskFileParser;
import io.deia.core.task.TaskIds;
import io.deia.http.controller.ControllerServer;
import io.deia.server.Main;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.WebSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Fuzzing with a fixed seed and a fixed budget (times {@code deia.torture.scale}): the task-file
 * parser, the registry reader and every JSON body the controller accepts (REST and WebSocket).
 * A failure message names the seed and the input's index; {@code -Ddeia.torture.seed=N} replays it.
 */
class FuzzTest {
    private static final Logger log = LoggerFactory.getLogger(FuzzTest.class);
    private static final long SEED = Long.getLong("deia.torture.seed", 20261126L);

    @TempDir
    Path dir;

    @Test
    void taskFileParserNeverThrowsAnythingButItsOwnErrors() {
        int budget = 20_000 * Torture.scale();
        Random random = new Random(SEED);
        Mutator m = new Mutator(random);
        List<byte[]> seeds = List.of(
                "---\ntask_id: T-1\nfrom: ops\nto: BOT-1\npriority: P1\ntimeout: 120\ncreated_at: 2026-01-02T03:04:05Z\n---\nDo it.\n"
                        .getBytes(StandardCharsets.UTF_8),
                "# Task\n\n**From:** Q33N\n**Priority:** P0\n**Timeout:** 120 seconds\n\nBuild the thing.\n".getBytes(StandardCharsets.UTF_8),
                "\uFEFF---\ntask_id: x\n---\n\nbody".getBytes(StandardCharsets.UTF_8),
                "just a prompt".getBytes(StandardCharsets.UTF_8));
        TaskFileParser parser = new TaskFileParser(64 * 1024);
        Map<String, Integer> outcomes = new TreeMap<>();
        assertTimeoutPreemptively(Duration.ofSeconds(120), () -> {
            for (int i = 0; i < budget; i++) {
                byte[] input = i % 5 == 0 ? m.randomBytes(512)
                        : m.mutate(seeds.get(random.nextInt(seeds.size())), seeds.get(random.nextInt(seeds.size())));
                String name = "fuzz-" + i + ".md";
                try {
                    Task t = parser.parse(input, name, Instant.EPOCH);
                    assertTrue(TaskIds.isValid(t.taskId()), "seed " + SEED + " input " + i + ": task id " + t.taskId());
                    assertFalse(t.prompt().isBlank(), "seed " + SEED + " input " + i + ": empty prompt accepted");
                    assertTrue(t.priority() >= 0 && t.priority() <= 3, "seed " + SEED + " input " + i + ": priority " + t.priority());
                    assertTrue(t.timeout() == null || !t.timeout().isNegative() && !t.timeout().isZero(),
                            "seed " + SEED + " input " + i + ": timeout " + t.timeout());
                    outcomes.merge("parsed", 1, Integer::sum);
                } catch (DeiaException e) {
                    outcomes.merge("refused " + e.code().id(), 1, Integer::sum);
                } catch (RuntimeException e) {
                    throw new AssertionError("seed " + SEED + " input " + i + " ("
                            + new String(input, StandardCharsets.ISO_8859_1) + ") threw " + e, e);
                }
            }
        });
        log.info("fuzz task-file parser: {} executions, outcomes {}", budget, outcomes);
        report("task_file_parser", budget, outcomes);
    }

    @Test
    void aDamagedRegistryNeverFailsItsCallerAndRecovers() throws Exception {
        int budget = 300 * Torture.scale();
        Random random = new Random(SEED + 1);
        Mutator m = new Mutator(random);
        HiveLayout hive = new HiveLayout(dir.resolve(".deia"));
        DeiaConfig config = DeiaConfig.load(writeConfig(hive, "{}"));
        JsonFileServiceRegistry first = new JsonFileServiceRegistry(hive, config);
        for (String id : List.of("BOT-A", "BOT-B", "BOT-C")) {
            first.reserve(id, "cat", "command");
        }
        byte[] valid = Files.readAllBytes(hive.registryFile());
        Map<String, Integer> outcomes = new TreeMap<>();
        assertTimeoutPreemptively(Duration.ofSeconds(120), () -> {
            for (int i = 0; i < budget; i++) {
                byte[] damaged = i % 10 == 0 ? m.randomBytes(300) : i % 10 == 1
                        ? m.randomJson(4).getBytes(StandardCharsets.UTF_8) : m.mutate(valid, valid);
                // The damage itself is done by the test on purpose, bypassing the atomic writer.
                Files.write(hive.registryFile(), damaged);
                JsonFileServiceRegistry registry = new JsonFileServiceRegistry(hive, config);
                try {
                    List<BotRecord> listed = registry.list();
                    outcomes.merge(listed.size() + " entries kept", 1, Integer::sum);
                    registry.reserve("BOT-NEW", "cat", "command");
                    assertTrue(registry.get("BOT-NEW").isPresent(), "seed " + SEED + " input " + i + ": write after damage");
                    assertTrue(registry.deregister("BOT-NEW"));
                    Json.read(Files.readString(hive.registryFile(), StandardCharsets.UTF_8), JsonNode.class, "registry after recovery");
                } catch (RuntimeException e) {
                    throw new AssertionError("seed " + SEED + " input " + i + " ("
                            + new String(damaged, StandardCharsets.ISO_8859_1) + ") threw " + e, e);
                }
            }
        });
        log.info("fuzz registry reader: {} damaged files, outcomes {}", budget, outcomes);
        report("registry_reader", budget, outcomes);
    }

    @Test
    void controllerRequestBodiesNeverGive500OrHang() throws Exception {
        int budget = 300 * Torture.scale();
        int frames = 200 * Torture.scale();
        Random random = new Random(SEED + 2);
        Mutator m = new Mutator(random);
        HiveLayout hive = new HiveLayout(dir.resolve(".deia"));
        int portBase = 27000 + new Random().nextInt(40) * 50;
        Path configFile = writeConfig(hive, "{\"ports\":{\"from\":" + portBase + ",\"to\":" + (portBase + 49) + "},"
                + "\"max_body_bytes\":65536,\"max_message_bytes\":8192,\"profiles\":{"
                + "\"cat\":{\"agent\":\"command\",\"executable\":\"/bin/cat\",\"start_timeout_s\":60},"
                + "\"ghost\":{\"agent\":\"command\",\"executable\":\"/nonexistent/deia-ghost\"}}}");
        DeiaConfig config = DeiaConfig.load(configFile);
        JsonFileServiceRegistry registry = new JsonFileServiceRegistry(hive, config);
        BotLauncher launcher = BotLauncher.builder(hive, config, registry, RunnerCommand.currentJvm(Main.class.getName()))
                .configFile(configFile).stopGrace(Duration.ofSeconds(3)).build();
        MessageRouter router = MessageRouter.builder(registry, new HistoryStore(hive), config).build();
        router.start();
        ControllerServer server = ControllerServer.builder(hive, config, registry, launcher, new FileTaskQueue(hive, config), router)
                .port(0).build().start();
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
        String token = server.token().reveal();
        Map<String, Integer> outcomes = new TreeMap<>();
        try {
            launcher.launch("BOT-F1", "cat");
            router.follow("BOT-F1");
            // Each endpoint that reads a body, with a valid seed (launch seeds name a profile whose program is missing,
            // so a mutation that stays valid is refused with 422 instead of starting runners).
            List<String[]> targets = List.of(
                    new String[]{"/api/bot/launch", "{\"bot_id\":\"BOT-F2\",\"profile\":\"ghost\"}"},
                    new String[]{"/api/bot/BOT-F1/message", "{\"text\":\"hello\",\"client_msg_id\":\"m-1\"}"},
                    new String[]{"/api/bot/BOT-F1/interrupt", "{}"},
                    new String[]{"/api/bot/BOT-F1/tasks", "---\ntask_id: F-1\npriority: P2\n---\nsay hi\n"});
            for (int i = 0; i < budget; i++) {
                String[] target = targets.get(i % targets.size());
                byte[] seed = target[1].getBytes(StandardCharsets.UTF_8);
                byte[] body = switch (random.nextInt(4)) {
                    case 0 -> m.randomBytes(200);
                    case 1 -> m.randomJson(5).getBytes(StandardCharsets.UTF_8);
                    default -> m.mutate(seed, seed);
                };
                HttpResponse<String> r;
                try {
                    r = http.send(HttpRequest.newBuilder(URI.create(server.baseUrl() + target[0]))
                            .timeout(Duration.ofSeconds(30)).header("Authorization", "Bearer " + token)
                            // Task files go as they are (text/markdown), so the fuzz reaches the task parser.
                            .header("Content-Type", target[0].endsWith("/tasks") ? "text/markdown" : "application/json")
                            .POST(HttpRequest.BodyPublishers.ofByteArray(body)).build(), HttpResponse.BodyHandlers.ofString());
                } catch (java.net.http.HttpTimeoutException e) {
                    throw new AssertionError("seed " + SEED + " input " + i + " to " + target[0] + " hung: "
                            + new String(body, StandardCharsets.ISO_8859_1), e);
                }
                int status = r.statusCode();
                outcomes.merge(target[0].replace("BOT-F1", "{id}") + " " + status, 1, Integer::sum);
                assertTrue(status < 500 || status == 502 || status == 503 || status == 504,
                        "seed " + SEED + " input " + i + " to " + target[0] + ": " + status + " " + r.body()
                                + " for " + new String(body, StandardCharsets.ISO_8859_1));
                if (status >= 400) {
                    JsonNode err = Json.read(r.body(), JsonNode.class, "error body");
                    assertFalse(err.path("error").path("code").asText().isEmpty(), r.body());
                }
            }
            // WebSocket frames: random and mutated client messages; the socket stays usable (ping → pong).
            List<String> got = new CopyOnWriteArrayList<>();
            WebSocket ws = http.newWebSocketBuilder().header("Authorization", "Bearer " + token)
                    .buildAsync(URI.create(server.baseUrl().replace("http://", "ws://") + "/ws"), new WebSocket.Listener() {
                        private final StringBuilder partial = new StringBuilder();

                        @Override
                        public CompletionStage<?> onText(WebSocket w, CharSequence data, boolean last) {
                            partial.append(data);
                            if (last) {
                                got.add(partial.toString());
                                partial.setLength(0);
                            }
                            w.request(1);
                            return null;
                        }
                    }).get(10, TimeUnit.SECONDS);
            byte[] wsSeed = "{\"type\":\"message\",\"bot_id\":\"BOT-F1\",\"text\":\"hi\",\"client_msg_id\":\"w-1\"}"
                    .getBytes(StandardCharsets.UTF_8);
            for (int i = 0; i < frames; i++) {
                String frame = switch (random.nextInt(3)) {
                    case 0 -> m.randomJson(5);
                    default -> new String(m.mutate(wsSeed, "{\"type\":\"interrupt\",\"bot_id\":\"BOT-F1\"}"
                            .getBytes(StandardCharsets.UTF_8)), StandardCharsets.UTF_8);
                };
                ws.sendText(frame, true).get(10, TimeUnit.SECONDS);
            }
            ws.sendText("{\"type\":\"ping\"}", true).get(10, TimeUnit.SECONDS);
            await("the WebSocket still answers after " + frames + " hostile frames").atMost(Duration.ofSeconds(60))
                    .until(() -> got.stream().anyMatch(s -> s.contains("\"pong\"")));
            long errors = got.stream().filter(s -> s.contains("\"type\":\"error\"")).count();
            outcomes.merge("ws frames answered with error events", (int) errors, Integer::sum);
            ws.abort();
            assertEquals(200, http.send(HttpRequest.newBuilder(URI.create(server.baseUrl() + "/api/bot/BOT-F1/status"))
                    .header("Authorization", "Bearer " + token).build(), HttpResponse.BodyHandlers.ofString()).statusCode(),
                    "the bot survived the fuzzing");
        } finally {
            launcher.stopAll();
            launcher.close();
            server.close();
            router.close();
            router.history().close();
            Torture.killAllInto(dir);
        }
        log.info("fuzz controller bodies: {} requests, {} WebSocket frames, outcomes {}", budget, frames, outcomes);
        report("controller_bodies", budget + frames, outcomes);
    }

    private static Path writeConfig(HiveLayout hive, String json) {
        Path f = hive.root().resolve("deia.json");
        AtomicFiles.writeString(f, json);
        return f;
    }

    private static void report(String target, int executions, Map<String, Integer> outcomes) {
        AtomicFiles.writeString(Path.of("target", "torture-fuzz-" + target + ".txt"),
                "seed=" + SEED + " executions=" + executions + " outcomes=" + outcomes + "\n");
    }
}
