package io.deia.core.launch;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.deia.core.HiveLayout;
import io.deia.core.HiveToken;
import io.deia.core.config.DeiaConfig;
import io.deia.core.registry.BotState;
import io.deia.core.registry.JsonFileServiceRegistry;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * A small bot runner for the core launcher tests (the real one lives in deia-http and
 * deia-server-example): {@code bot --id ID --port N --profile P --hive DIR [--project NAME]} (it
 * prints its project, which it does not use, to its log). Serves {@code /health},
 * {@code /status}, {@code /stop} (deregister, exit 0) and two test hooks: {@code /exit?code=N}
 * (exit without deregistering, like a crash) and {@code /spawn?tag=T} (starts
 * {@code sh -c 'sleep T & sleep T & wait'}, i.e. a child with two grandchildren). Heartbeats every second.
 */
public final class TestRunnerMain {
    /** Held until the process ends; a static field keeps the channel from being collected (and closed). */
    private static RunnerLock lock;

    private TestRunnerMain() {
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> opts = new HashMap<>();
        for (int i = 1; i + 1 < args.length; i += 2) {
            opts.put(args[i], args[i + 1]);
        }
        String botId = opts.get("--id");
        int port = Integer.parseInt(opts.get("--port"));
        HiveLayout hive = new HiveLayout(Path.of(opts.get("--hive")));
        JsonFileServiceRegistry registry = new JsonFileServiceRegistry(hive, DeiaConfig.of(Map.of()));
        long pid = ProcessHandle.current().pid();
        System.out.println("test runner " + botId + " pid " + pid + " port " + port + " project " + opts.get("--project"));
        // Like the real runner: one runner per bot, and supervisors learn of its death through it.
        lock = RunnerLock.acquire(hive, botId, java.time.Duration.ofSeconds(3)).orElse(null);
        if (lock == null) {
            System.out.println("another runner holds the lock of " + botId);
            System.exit(BotLauncher.EXIT_RUNNER_LOCKED);
        }
        HttpServer server;
        try {
            server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 16);
        } catch (java.net.BindException e) {
            System.out.println("port " + port + " is taken: " + e.getMessage());
            System.exit(BotLauncher.EXIT_PORT_IN_USE);
            return;
        }
        server.setExecutor(Executors.newFixedThreadPool(2));
        server.createContext("/health", ex -> reply(ex, 200,
                "{\"status\":\"ok\",\"bot_id\":\"" + botId + "\",\"pid\":" + pid + "}"));
        server.createContext("/status", ex -> reply(ex, 200,
                "{\"bot_id\":\"" + botId + "\",\"state\":\"idle\",\"pid\":" + pid + ",\"port\":" + port + "}"));
        // Like a real runner, /stop obeys the hive's token only (read from the hive's token file).
        String authorization = HiveToken.loadOrCreate(hive).bearer();
        server.createContext("/stop", ex -> {
            if (!authorization.equals(ex.getRequestHeaders().getFirst("Authorization"))) {
                reply(ex, 401, "{\"error\":{\"code\":\"unauthorized\",\"message\":\"a valid token is required\"}}");
                return;
            }
            reply(ex, 202, "{\"stopping\":true}");
            new Thread(() -> {
                registry.deregister(botId);
                System.exit(0);
            }).start();
        });
        server.createContext("/exit", ex -> {
            int code = Integer.parseInt(ex.getRequestURI().getQuery().replace("code=", ""));
            reply(ex, 200, "{}");
            Runtime.getRuntime().halt(code);
        });
        server.createContext("/spawn", ex -> {
            String tag = ex.getRequestURI().getQuery().replace("tag=", "");
            Process p = new ProcessBuilder("/bin/sh", "-c", "sleep " + tag + " & sleep " + tag + " & wait")
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            reply(ex, 200, "{\"pid\":" + p.pid() + "}");
        });
        server.start();
        registry.heartbeat(botId, BotState.IDLE);
        var beat = Executors.newSingleThreadScheduledExecutor();
        beat.scheduleAtFixedRate(() -> registry.heartbeat(botId, BotState.IDLE), 1, 1, TimeUnit.SECONDS);
        Thread.currentThread().join();
    }

    private static void reply(HttpExchange ex, int status, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", "application/json");
        ex.sendResponseHeaders(status, bytes.length);
        ex.getResponseBody().write(bytes);
        ex.close();
    }
}
