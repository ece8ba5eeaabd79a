package io.deia.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.deia.core.HiveLayout;
import io.deia.core.chat.HistoryStore;
import io.deia.core.chat.MessageRouter;
import io.deia.core.config.DeiaConfig;
import io.deia.core.internal.io.Json;
import io.deia.core.launch.BotLauncher;
import io.deia.core.launch.RunnerCommand;
import io.deia.core.launch.RunnerLock;
import io.deia.core.registry.BotRecord;
import io.deia.core.registry.BotState;
import io.deia.core.registry.JsonFileServiceRegistry;
import io.deia.core.task.FileTaskQueue;
import io.deia.http.controller.ControllerServer;
import io.deia.server.Main;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.WebSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * Controller figures for docs/benchmarks.md.
 * <ol>
 *   <li>Chat path overhead: WebSocket message in → router → bot {@code /message?stream=true} → first
 *       {@code delta} event back out on the WebSocket, with a bot endpoint that answers instantly
 *       (an in-process HTTP endpoint speaking the bot contract, so only controller work is timed),
 *       and again with a real bot runner process whose {@code command} agent is {@code /usr/bin/cat}
 *       (adds the runner and one process spawn per turn).</li>
 *   <li>Controller CPU: a {@code serve} JVM with 50 registered bots (contract endpoints in this
 *       JVM, each with its long-lived {@code /events} stream open) while {@code GET /api/bots}
 *       (which fetches every bot's live {@code /status}) is polled every 5 s; CPU from
 *       {@code /proc/<pid>/task/<tid>/stat} (utime+stime of every thread) in one-minute windows, with
 *       the JIT compiler threads' share shown apart: a fresh JVM keeps compiling the code of this
 *       intermittent workload for minutes, which is a start-up cost, not the cost of polling.</li>
 * </ol>
 * Run: {@code java -cp <deia-bench class path> io.deia.bench.ChatBenchmark [iterations] [cpuWindowSeconds]}.
 */
public final class ChatBenchmark {
    private ChatBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        // The JDK's HttpServer (the instant bot endpoint) leaves Nagle on; with it, its two-write
        // chunked answers wait ~40 ms for a delayed ACK, which would be timed as controller cost.
        System.setProperty("sun.net.httpserver.nodelay", "true");
        int iterations = args.length > 0 ? Integer.parseInt(args[0]) : 2000;
        int cpuWindowS = args.length > 1 ? Integer.parseInt(args[1]) : 60;
        Path dir = Files.createTempDirectory("deia-chat-bench");
        String instant = chatLatency(dir.resolve("a"), iterations, false);
        System.out.println("chat path, instant in-process bot endpoint: " + instant);
        String realBot = chatLatency(dir.resolve("b"), Math.max(100, iterations / 4), true);
        System.out.println("chat path, real bot runner with /usr/bin/cat: " + realBot);
        String cpu = controllerCpu(dir.resolve("c"), 50, cpuWindowS);
        System.out.println("controller CPU, 50 bots, GET /api/bots every 5 s: " + cpu);
        // Read back from the summaries above, so the measuring code stays as it is.
        BenchResult.of("chat").put("cpu_window_s", (double) cpuWindowS).putAll("chat_instant_", BenchResult.numbers(instant))
                .putAll("chat_real_bot_", BenchResult.numbers(realBot))
                .put("controller_cpu_pct", BenchResult.number(cpu, "([0-9.]+)% of one core"))
                .put("controller_cpu_jit_pct", BenchResult.number(cpu, "JIT compiler threads ([0-9.]+)%"))
                .put("controller_cpu_live_bots", BenchResult.number(cpu, "\\(([0-9]+) live in")).print();
        System.exit(0);
    }

    // ---- chat latency ------------------------------------------------------------------------

    static String chatLatency(Path dir, int iterations, boolean realBot) throws Exception {
        HiveLayout hive = new HiveLayout(dir.resolve(".deia"));
        Path configFile = dir.resolve("deia.json");
        Files.createDirectories(dir);
        Files.writeString(configFile, "{\"profiles\":{\"echo\":{\"agent\":\"command\",\"executable\":\"/usr/bin/cat\"}}}");
        DeiaConfig config = DeiaConfig.load(configFile);
        JsonFileServiceRegistry registry = new JsonFileServiceRegistry(hive, config);
        BotLauncher launcher = BotLauncher.builder(hive, config, registry, RunnerCommand.currentJvm(Main.class.getName()))
                .configFile(configFile).build();
        HttpServer standIn = null;
        if (realBot) {
            launcher.launch("BENCH", "echo");
        } else {
            standIn = instantBot("BENCH");
            registry.register(BotRecord.builder("BENCH").pid(ProcessHandle.current().pid()).port(standIn.getAddress().getPort())
                    .state(BotState.IDLE).profile("echo").agent("command").build());
        }
        MessageRouter router = MessageRouter.builder(registry, new HistoryStore(hive), config).build();
        router.start();
        ControllerServer server = ControllerServer.builder(hive, config, registry, launcher, new FileTaskQueue(hive, config), router)
                .port(0).build().start();
        try {
            ConcurrentHashMap<String, CompletableFuture<Long>> firstDelta = new ConcurrentHashMap<>();
            ConcurrentHashMap<String, CompletableFuture<Long>> replies = new ConcurrentHashMap<>();
            WebSocket ws = HttpClient.newHttpClient().newWebSocketBuilder()
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
                                String id = e.path("client_msg_id").asText();
                                String type = e.path("type").asText();
                                if (type.equals("delta")) {
                                    firstDelta.computeIfAbsent(id, k -> new CompletableFuture<>()).complete(now);
                                } else if (type.equals("reply") || type.equals("error")) {
                                    replies.computeIfAbsent(id, k -> new CompletableFuture<>()).complete(now);
                                }
                            }
                            w.request(1);
                            return null;
                        }
                    }).get(10, TimeUnit.SECONDS);
            int warmup = Math.min(300, iterations / 2);
            long[] micros = new long[iterations];
            for (int i = -warmup; i < iterations; i++) {
                String id = "m" + i;
                CompletableFuture<Long> delta = firstDelta.computeIfAbsent(id, k -> new CompletableFuture<>());
                CompletableFuture<Long> reply = replies.computeIfAbsent(id, k -> new CompletableFuture<>());
                long start = System.nanoTime();
                ws.sendText("{\"type\":\"message\",\"bot_id\":\"BENCH\",\"text\":\"ping " + i + "\",\"client_msg_id\":\"" + id + "\"}", true);
                long got = delta.get(30, TimeUnit.SECONDS);
                reply.get(30, TimeUnit.SECONDS);
                if (i >= 0) {
                    micros[i] = (got - start) / 1000;
                }
                firstDelta.remove(id);
                replies.remove(id);
            }
            ws.abort();
            Arrays.sort(micros);
            return String.format("n=%d p50=%.2f ms p90=%.2f ms p99=%.2f ms max=%.2f ms", iterations,
                    micros[iterations / 2] / 1000.0, micros[(int) (iterations * 0.90)] / 1000.0,
                    micros[(int) (iterations * 0.99)] / 1000.0, micros[iterations - 1] / 1000.0);
        } finally {
            server.close();
            router.close();
            if (realBot) {
                launcher.stopAll();
            }
            launcher.close();
            if (standIn != null) {
                standIn.stop(0);
            }
        }
    }

    /** The bot contract's endpoints answering at once: what an agent that replies instantly looks like from outside. */
    private static HttpServer instantBot(String botId) throws IOException {
        HttpServer s = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 50);
        s.setExecutor(Executors.newFixedThreadPool(4, r -> {
            Thread t = new Thread(r, "bench-bot-" + botId);
            t.setDaemon(true);
            return t;
        }));
        s.createContext("/message", ex -> {
            String text = Json.read(new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8), JsonNode.class, "body")
                    .path("text").asText();
            ex.getResponseHeaders().add("Content-Type", "application/x-ndjson");
            ex.sendResponseHeaders(200, 0);
            try (OutputStream out = ex.getResponseBody()) {
                out.write(("{\"type\":\"text_delta\",\"text\":" + Json.write(text) + "}\n").getBytes(StandardCharsets.UTF_8));
                out.flush();
                out.write(("{\"type\":\"result\",\"result\":{\"status\":\"completed\",\"text\":" + Json.write(text)
                        + ",\"duration_ms\":0}}\n").getBytes(StandardCharsets.UTF_8));
            }
        });
        s.createContext("/health", ex -> json(ex, "{\"status\":\"ok\",\"bot_id\":\"" + botId + "\",\"pid\":"
                + ProcessHandle.current().pid() + "}"));
        s.createContext("/status", ex -> json(ex, "{\"bot_id\":\"" + botId + "\",\"state\":\"idle\",\"current_task\":null,"
                + "\"queue_depth\":0,\"pid\":" + ProcessHandle.current().pid() + ",\"port\":" + s.getAddress().getPort()
                + ",\"uptime_s\":1,\"profile\":\"echo\",\"tasks_completed\":0,\"tasks_failed\":0}"));
        s.createContext("/events", ex -> {
            // Long-lived and silent, like an idle bot's event stream; closed when the benchmark ends.
            ex.getResponseHeaders().add("Content-Type", "application/x-ndjson");
            ex.sendResponseHeaders(200, 0);
            ex.getResponseBody().flush();
        });
        s.start();
        return s;
    }

    private static void json(HttpExchange ex, String body) throws IOException {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().add("Content-Type", "application/json");
        ex.sendResponseHeaders(200, b.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(b);
        }
    }

    // ---- controller CPU ----------------------------------------------------------------------

    /** The controller JVM options docs/operations.md recommends (C1 only: see there why). */
    static final String SERVE_JVM_OPTIONS = "-XX:TieredStopAtLevel=1";

    static String controllerCpu(Path dir, int bots, int windowS) throws Exception {
        HiveLayout hive = new HiveLayout(dir.resolve(".deia"));
        Path configFile = dir.resolve("deia.json");
        Files.createDirectories(dir);
        Files.writeString(configFile, "{\"ports\":{\"from\":20000,\"to\":20999},\"profiles\":{\"echo\":{\"agent\":\"command\",\"executable\":\"/usr/bin/cat\"}}}");
        DeiaConfig config = DeiaConfig.load(configFile);
        JsonFileServiceRegistry registry = new JsonFileServiceRegistry(hive, config);
        List<HttpServer> standIns = new ArrayList<>();
        // Each stand-in holds its bot's runner lock, as a real runner does for its whole life: the
        // controller then waits on the lock (no polling), exactly as it does for real runners.
        List<RunnerLock> runnerLocks = new ArrayList<>();
        for (int i = 0; i < bots; i++) {
            String id = String.format("BOT-%03d", i + 1);
            runnerLocks.add(RunnerLock.acquire(hive, id, Duration.ofSeconds(5)).orElseThrow());
            HttpServer s = instantBot(id);
            standIns.add(s);
            registry.register(BotRecord.builder(id).pid(ProcessHandle.current().pid()).port(s.getAddress().getPort())
                    .state(BotState.IDLE).profile("echo").agent("command").build());
        }
        var heartbeats = Executors.newSingleThreadScheduledExecutor();
        heartbeats.scheduleAtFixedRate(() -> {
            for (int i = 0; i < bots; i++) {
                registry.heartbeat(String.format("BOT-%03d", i + 1), BotState.IDLE);
            }
        }, 5, 5, TimeUnit.SECONDS);
        List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"), "-Xmx256m"));
        // JVM options of the controller under test: by default the ones docs/operations.md recommends
        // for serve; -Ddeia.bench.serveJvm="" measures the JVM's defaults (C2 keeps compiling for minutes).
        for (String option : System.getProperty("deia.bench.serveJvm", SERVE_JVM_OPTIONS).trim().split("\\s+")) {
            if (!option.isEmpty()) {
                cmd.add(option);
            }
        }
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Main.class.getName(), "serve", "--port", "0",
                "--hive", hive.root().toString(), "--config", configFile.toString()));
        Process serve = new ProcessBuilder(cmd).redirectError(dir.resolve("serve.err").toFile()).start();
        try {
            String url = new BufferedReader(new InputStreamReader(serve.getInputStream(), StandardCharsets.UTF_8)).readLine();
            // stdout is a pipe, so serve prints its address and where the token file is (not the token)
            URI u = URI.create(url.split(" ", 2)[0]);
            String base = "http://" + u.getHost() + ":" + u.getPort();
            String token = java.nio.file.Files.readString(hive.tokenFile(), StandardCharsets.UTF_8).trim();
            HttpClient client = HttpClient.newHttpClient();
            HttpRequest poll = HttpRequest.newBuilder(URI.create(base + "/api/bots")).header("Authorization", "Bearer " + token).build();
            int live = 0;
            // Warm-up: JIT, the 50 event-stream connections, adoption.
            for (int i = 0; i < 4; i++) {
                HttpResponse<String> r = client.send(poll, HttpResponse.BodyHandlers.ofString());
                live = 0;
                for (JsonNode b : Json.read(r.body(), JsonNode.class, "bots").path("bots")) {
                    live += b.path("live").isNull() ? 0 : 1;
                }
                Thread.sleep(5000);
            }
            long pid = serve.pid();
            long[] total0 = cpuTicks(pid);
            long[] window0 = total0;
            long t0 = System.nanoTime();
            long windowStart = t0;
            int polls = 0;
            List<String> windows = new ArrayList<>();
            List<Double> withoutJit = new ArrayList<>();
            while (System.nanoTime() - t0 < Duration.ofSeconds(windowS).toNanos()) {
                client.send(poll, HttpResponse.BodyHandlers.ofString());
                polls++;
                Thread.sleep(5000);
                if (System.nanoTime() - windowStart >= TimeUnit.SECONDS.toNanos(60)) {
                    long[] now = cpuTicks(pid);
                    double s = (System.nanoTime() - windowStart) / 1e9;
                    double all = (now[0] - window0[0]) / s;
                    double jit = (now[1] - window0[1]) / s;
                    windows.add(String.format("%.2f%% (JIT %.2f%%)", all, jit));
                    withoutJit.add(all - jit);
                    window0 = now;
                    windowStart = System.nanoTime();
                }
            }
            long[] total1 = cpuTicks(pid);
            double seconds = (System.nanoTime() - t0) / 1e9;
            double cpuPercent = (total1[0] - total0[0]) / seconds;
            double jitPercent = (total1[1] - total0[1]) / seconds;
            return String.format("serve JVM options [%s]: " + "%d bots registered (%d live in /api/bots), %d polls over %.0f s: %.2f%% of one core "
                            + "(%d ticks; JIT compiler threads %.2f%%); per minute: %s; without JIT, per minute: %s",
                    System.getProperty("deia.bench.serveJvm", SERVE_JVM_OPTIONS), bots, live, polls, seconds, cpuPercent,
                    total1[0] - total0[0], jitPercent, windows,
                    withoutJit.stream().map(v -> String.format("%.2f%%", v)).toList());
        } finally {
            serve.destroy();
            serve.waitFor(20, TimeUnit.SECONDS);
            heartbeats.shutdownNow();
            standIns.forEach(s -> s.stop(0));
            for (RunnerLock lock : runnerLocks) {
                lock.close();
            }
        }
    }

    /**
     * utime + stime in clock ticks (USER_HZ = 100 on Linux): of the whole process, and of its JIT
     * compiler threads ("C1 CompilerThre", "C2 CompilerThre"). Threads that ended meanwhile are not
     * counted by the per-thread sum, so the process figure comes from the process's own stat.
     */
    private static long[] cpuTicks(long pid) throws IOException {
        long jit = 0;
        try (var tasks = Files.list(Path.of("/proc/" + pid + "/task"))) {
            for (Path task : tasks.toList()) {
                try {
                    if (Files.readString(task.resolve("comm")).contains("CompilerThre")) {
                        jit += ticks(Files.readString(task.resolve("stat")));
                    }
                } catch (IOException threadEnded) {
                    // a compiler thread that exited meanwhile: its time is in the process figure
                }
            }
        }
        return new long[] {ticks(Files.readString(Path.of("/proc/" + pid + "/stat"))), jit};
    }

    private static long ticks(String stat) {
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return Long.parseLong(f[11]) + Long.parseLong(f[12]);
    }
}
