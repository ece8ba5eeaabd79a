package io.deia.bench;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.HiveLayout;
import io.deia.core.chat.HistoryStore;
import io.deia.core.chat.MessageRouter;
import io.deia.core.config.DeiaConfig;
import io.deia.core.internal.io.Json;
import io.deia.core.launch.BotLauncher;
import io.deia.core.launch.RunnerCommand;
import io.deia.core.task.FileTaskQueue;
import io.deia.http.controller.ControllerServer;
import io.deia.server.Main;

import java.io.File;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.WebSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * The permission relay's two legs, for docs/benchmarks.md (targets of issue 22: p50 ≤ 10 ms each).
 * <ol>
 *   <li><b>request line → dashboard WebSocket</b>: from the moment the CLI writes its
 *       {@code can_use_tool} line on its stdout to the moment the {@code permission_request} event
 *       arrives on a controller WebSocket client (claude adapter, permission broker, the bot's
 *       {@code /events} stream, the controller's follower, the WebSocket frame);</li>
 *   <li><b>API answer → CLI's stdin</b>: from the moment the client sends
 *       {@code POST /api/bot/{id}/permissions/{request_id}} to the controller to the moment the CLI
 *       reads the {@code control_response} line (controller → bot port → broker → adapter → stdin).</li>
 * </ol>
 * Everything is real (a bot runner process launched by {@link BotLauncher}, its {@code claude-code}
 * adapter with an {@code approval: ask} profile, the router, the controller and its WebSocket) except
 * the CLI: {@link ClaudeStandIn} speaks Claude's stream-json control protocol and stamps both ends
 * with {@code System.nanoTime()} (CLOCK_MONOTONIC on Linux, shared by every process), so each leg is
 * measured by one clock without the model's time in it. Each turn asks once and is answered
 * {@code allow}; turns run one after another. Every other answer goes to the bot port's own
 * {@code POST /permissions/{request_id}} instead of the controller's, so the controller's hop shows
 * apart from the bot's side (the request leg is measured on every turn).
 *
 * <p>The answer is sent {@code thinkMs} (default 50) after the event arrived: a person never answers
 * within milliseconds of seeing a request, and an answer at once would also time the end of the
 * bot's own bookkeeping of the request (its state {@code waiting_approval} written to the registry
 * on the thread that read the request), which a person's answer never meets. {@code 0} answers at once.
 *
 * <p>Run: {@code java -cp <deia-bench class path> io.deia.bench.PermissionBenchmark [requests] [thinkMs]}.
 */
public final class PermissionBenchmark {
    private static final Pattern T3 = Pattern.compile("t3_ns=(-?\\d+) behavior=(\\w+)");
    private static final String BOT = "BENCH";

    private PermissionBenchmark() {
    }

    /**
     * Runs the benchmark and prints a summary per leg and the {@code BENCH-RESULT} line.
     *
     * @param args {@code [requests] [thinkMs]} (default 500 and 50), after a warm-up of up to 200 more requests
     */
    public static void main(String[] args) throws Exception {
        int requests = args.length > 0 ? Integer.parseInt(args[0]) : 500;
        int thinkMs = args.length > 1 ? Integer.parseInt(args[1]) : 50;
        Path dir = Files.createTempDirectory("deia-permission-bench");
        String[] legs = measure(dir, requests, thinkMs);
        System.out.println("answers sent " + thinkMs + " ms after the request's event");
        System.out.println("request line -> permission_request on the dashboard WebSocket: " + legs[0]);
        System.out.println("API answer -> control_response line read on the CLI's stdin: " + legs[1]);
        System.out.println("  of which: the answer's HTTP round trip through the controller: " + legs[2]);
        System.out.println("  for comparison, the answer sent to the bot port directly -> CLI's stdin: " + legs[3]);
        BenchResult.of("permission").putAll("request_to_ws_", BenchResult.numbers(legs[0]))
                .putAll("answer_to_stdin_", BenchResult.numbers(legs[1]))
                .putAll("answer_http_", BenchResult.numbers(legs[2]))
                .putAll("answer_bot_port_to_stdin_", BenchResult.numbers(legs[3]))
                .put("think_ms", (double) thinkMs).print();
        System.exit(0);
    }

    static String[] measure(Path dir, int requests, int thinkMs) throws Exception {
        HiveLayout hive = new HiveLayout(dir.resolve(".deia"));
        Path configFile = dir.resolve("deia.json");
        Files.createDirectories(dir);
        Path standIn = standInScript(dir);
        Files.writeString(configFile, Json.write(Map.of("profiles", Map.of("perm", Map.of("agent", "claude-code",
                "executable", standIn.toString(), "include_partial_messages", false,
                "approval", Map.of("mode", "ask", "timeout_s", 60))))));
        DeiaConfig config = DeiaConfig.load(configFile);
        var registry = new io.deia.core.registry.JsonFileServiceRegistry(hive, config);
        BotLauncher launcher = BotLauncher.builder(hive, config, registry, RunnerCommand.currentJvm(Main.class.getName()))
                .configFile(configFile).build();
        launcher.launch(BOT, "perm");
        MessageRouter router = MessageRouter.builder(registry, new HistoryStore(hive), config).build();
        router.start();
        ControllerServer server = ControllerServer.builder(hive, config, registry, launcher, new FileTaskQueue(hive, config), router)
                .port(0).build().start();
        HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        try {
            BlockingQueue<Arrival> asked = new LinkedBlockingQueue<>();
            ConcurrentHashMap<String, CompletableFuture<JsonNode>> replies = new ConcurrentHashMap<>();
            WebSocket ws = client.newWebSocketBuilder()
                    .header("Authorization", "Bearer " + server.token().reveal())
                    .buildAsync(URI.create(server.baseUrl().replace("http://", "ws://") + "/ws"), new WebSocket.Listener() {
                        final StringBuilder partial = new StringBuilder();

                        @Override
                        public CompletionStage<?> onText(WebSocket w, CharSequence data, boolean last) {
                            long now = System.nanoTime();
                            partial.append(data);
                            if (last) {
                                JsonNode e = Json.read(partial.toString(), JsonNode.class, "event");
                                partial.setLength(0);
                                String type = e.path("type").asText();
                                if (type.equals("permission_request") && BOT.equals(e.path("bot_id").asText())) {
                                    asked.add(new Arrival(now, e));
                                } else if (type.equals("reply") || type.equals("error")) {
                                    replies.computeIfAbsent(e.path("client_msg_id").asText(), k -> new CompletableFuture<>()).complete(e);
                                }
                            }
                            w.request(1);
                            return null;
                        }
                    }).get(10, TimeUnit.SECONDS);
            String answerBase = server.baseUrl() + "/api/bot/" + BOT + "/permissions/";
            // Every other answer goes to the bot port itself, to tell the controller's hop from the bot's side.
            String botPortBase = "http://127.0.0.1:" + registry.get(BOT).orElseThrow().port() + "/permissions/";
            String token = server.token().reveal();
            int warmup = Math.min(200, Math.max(20, requests / 2));
            long[] toWs = new long[requests];
            long[] toStdin = new long[(requests + 1) / 2];
            long[] http = new long[toStdin.length];
            long[] direct = new long[requests / 2];
            for (int i = -warmup; i < requests; i++) {
                String id = "p" + i;
                CompletableFuture<JsonNode> reply = replies.computeIfAbsent(id, k -> new CompletableFuture<>());
                ws.sendText("{\"type\":\"message\",\"bot_id\":\"" + BOT + "\",\"text\":\"run it " + i + "\",\"client_msg_id\":\"" + id + "\"}", true);
                Arrival request = null;
                long askDeadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                // A turn that ends without asking (the stand-in failed to start) is reported at once.
                while (request == null && !reply.isDone() && System.nanoTime() < askDeadline) {
                    request = asked.poll(100, TimeUnit.MILLISECONDS);
                }
                if (request == null) {
                    throw new IllegalStateException("no permission_request event within 30 s for message " + id
                            + (reply.isDone() ? "; the turn ended with " + reply.getNow(null) : ""));
                }
                JsonNode input = Json.read(request.event().path("input").asText(), JsonNode.class, "permission_request input");
                long t0 = input.path("t0_ns").asLong();
                String requestId = request.event().path("request_id").asText();
                HttpRequest answer = HttpRequest.newBuilder(URI.create((i % 2 == 0 ? answerBase : botPortBase) + requestId))
                        .header("Authorization", "Bearer " + token).header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString("{\"decision\":\"allow\"}")).build();
                // A person's reaction time, counted from the event's arrival (see the class comment).
                long answerAt = request.nanos() + TimeUnit.MILLISECONDS.toNanos(thinkMs);
                while (System.nanoTime() < answerAt) {
                    Thread.sleep(Math.max(1, (answerAt - System.nanoTime()) / 1_000_000));
                }
                long t2 = System.nanoTime();
                HttpResponse<String> answered = client.send(answer, HttpResponse.BodyHandlers.ofString());
                long answeredAt = System.nanoTime();
                if (answered.statusCode() != 200) {
                    throw new IllegalStateException("POST " + answer.uri().getPath() + " answered " + answered.statusCode() + ": " + answered.body());
                }
                JsonNode end = reply.get(30, TimeUnit.SECONDS);
                Matcher m = T3.matcher(end.path("text").asText(""));
                if (!end.path("type").asText().equals("reply") || !m.find() || !m.group(2).equals("allow")) {
                    throw new IllegalStateException("the turn of " + id + " did not end with the stand-in's allowed answer: " + end);
                }
                long t3 = Long.parseLong(m.group(1));
                if (t0 == 0 || request.nanos() < t0 || t3 < t2) {
                    throw new IllegalStateException("time stamps out of order (t0 " + t0 + ", ws " + request.nanos() + ", t2 " + t2
                            + ", t3 " + t3 + "): System.nanoTime is not one clock for all processes on this machine");
                }
                if (i >= 0) {
                    toWs[i] = (request.nanos() - t0) / 1000;
                    if (i % 2 == 0) {
                        toStdin[i / 2] = (t3 - t2) / 1000;
                        http[i / 2] = (answeredAt - t2) / 1000;
                    } else {
                        direct[i / 2] = (t3 - t2) / 1000;
                    }
                }
                replies.remove(id);
            }
            ws.abort();
            return new String[] {summary(toWs), summary(toStdin), summary(http), summary(direct)};
        } finally {
            server.close();
            router.close();
            launcher.stopAll();
            launcher.close();
        }
    }

    /** The stand-in as an executable the claude adapter can start: this JVM's java on this class path. */
    private static Path standInScript(Path dir) throws Exception {
        Path script = dir.resolve("claude-stand-in");
        String java = ProcessHandle.current().info().command().orElse("java");
        // The agent runs in the bot's workspace: relative class path entries would point nowhere there.
        String classPath = Arrays.stream(System.getProperty("java.class.path").split(File.pathSeparator))
                .map(e -> Path.of(e).toAbsolutePath().toString()).collect(Collectors.joining(File.pathSeparator));
        Files.writeString(script, "#!/bin/sh\nexec '" + java + "' -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xshare:auto -cp '"
                + classPath + "' " + ClaudeStandIn.class.getName() + " \"$@\"\n");
        Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwx------"));
        return script;
    }

    private static String summary(long[] micros) {
        long[] sorted = micros.clone();
        Arrays.sort(sorted);
        int n = sorted.length;
        return String.format("n=%d p50=%.2f ms p90=%.2f ms p99=%.2f ms max=%.2f ms", n, sorted[n / 2] / 1000.0,
                sorted[(int) (n * 0.90)] / 1000.0, sorted[(int) (n * 0.99)] / 1000.0, sorted[n - 1] / 1000.0);
    }

    private record Arrival(long nanos, JsonNode event) {
    }
}
