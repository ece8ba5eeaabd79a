package io.deia.core.agent;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.internal.io.Json;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One agent CLI speaking the Agent Client Protocol (JSON-RPC 2.0, one message per line on stdio),
 * such as {@code gemini --acp}: deia is the client. Requests deia sends complete their futures when
 * the answer line arrives; the agent's notifications and requests go to a {@link Handler} on the
 * stdout reader thread, which must never block on a person (requests are answered later with
 * {@link #respond}). When the process exits, every request still open fails with
 * {@link ExitedException}.
 */
final class AcpConnection {
    private static final Logger log = LoggerFactory.getLogger(AcpConnection.class);
    /** The longest stdout line kept whole: a session replay or a diff may be large. */
    static final int MAX_LINE_BYTES = 16 * 1024 * 1024;
    /**
     * A loaded session streams its history back as {@code session/update}s, partly after its
     * {@code session/load} answer and with no end marker: it is over once the stream is quiet this long.
     */
    static final Duration REPLAY_QUIET = Duration.ofMillis(300);

    /** Receives what the agent sends on its own, on the reader thread. */
    interface Handler {
        /** A notification ({@code session/update}, ...). */
        void onNotification(AcpConnection c, String method, JsonNode params);

        /** A request ({@code session/request_permission}, ...): answer it with {@link #respond} or {@link #respondError}. */
        void onRequest(AcpConnection c, JsonNode id, String method, JsonNode params);
    }

    /** The agent answered a request with a JSON-RPC error. */
    static final class RpcException extends Exception {
        final int code;

        RpcException(String method, JsonNode error) {
            super(method + ": " + error.path("message").asText("error")
                    + (error.path("data").path("details").isTextual() ? " (" + error.path("data").path("details").asText() + ")" : ""));
            this.code = error.path("code").asInt();
        }
    }

    /** The agent process ended before it answered. */
    static final class ExitedException extends Exception {
        ExitedException(String message) {
            super(message);
        }
    }

    final AgentProcess process;
    private final String botId;
    private final String cli;
    private final Handler handler;
    private final AtomicLong nextId = new AtomicLong(1);
    private final Map<Long, CompletableFuture<JsonNode>> open = new ConcurrentHashMap<>();
    private final Map<Long, String> openMethods = new ConcurrentHashMap<>();
    /** Set when deia ends the process on purpose: its exit is then no crash. */
    volatile boolean stopping;
    /** Set once the process's death was counted as a crash (by the turn it broke, or by its exit while idle). */
    final java.util.concurrent.atomic.AtomicBoolean crashCounted = new java.util.concurrent.atomic.AtomicBoolean();
    /** While a loaded session replays its history: when the replay counts as over (no update since {@link #REPLAY_QUIET}); 0 otherwise. */
    private volatile long replayQuietAt;

    private AcpConnection(String botId, String cli, List<String> argv, Path cwd, Map<String, String> env, Path recordFile,
                          Handler handler) throws IOException {
        this.botId = botId;
        this.cli = cli;
        this.handler = handler;
        this.process = AgentProcess.start(botId, cli, argv, cwd, env, true, MAX_LINE_BYTES, this::onLine, recordFile);
        process.onExit().whenComplete((code, err) -> failOpen(code));
    }

    /** Starts {@code argv} (executable first) in {@code cwd} and connects to it. */
    static AcpConnection start(String botId, String cli, List<String> argv, Path cwd, Map<String, String> env, Path recordFile,
                               Handler handler) throws IOException {
        return new AcpConnection(botId, cli, argv, cwd, env, recordFile, handler);
    }

    /** Sends a request; the future completes with its {@code result}, or fails with {@link RpcException} / {@link ExitedException}. */
    CompletableFuture<JsonNode> request(String method, Map<String, Object> params) {
        long id = nextId.getAndIncrement();
        CompletableFuture<JsonNode> answer = new CompletableFuture<>();
        open.put(id, answer);
        openMethods.put(id, method);
        answer.whenComplete((r, e) -> {
            open.remove(id);
            openMethods.remove(id);
        });
        try {
            write(message(id, method, params));
        } catch (IOException e) {
            // Mostly the process is exiting: its exit code and stderr say more than the broken pipe.
            Integer code = process.awaitExitUninterruptibly(Duration.ofSeconds(2));
            if (code == null) {
                answer.completeExceptionally(new ExitedException(cli + " does not read its input: " + e.getMessage()));
            }
        }
        if (!process.isAlive()) {
            failOpen(process.exitCode());
        }
        return answer;
    }

    /** Sends a notification (no answer comes). */
    void notify(String method, Map<String, Object> params) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("jsonrpc", "2.0");
        m.put("method", method);
        m.put("params", params);
        try {
            write(Json.write(m));
        } catch (IOException e) {
            log.debug("[{}] cannot send {} to {}: {}", botId, method, cli, e.toString());
        }
    }

    /** Answers the agent's request {@code id} with {@code result}; false when the process no longer reads. */
    boolean respond(JsonNode id, Object result) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("jsonrpc", "2.0");
        m.put("id", id);
        m.put("result", result);
        try {
            write(Json.write(m));
            return true;
        } catch (IOException e) {
            log.debug("[{}] cannot answer request {} of {}: {}", botId, id, cli, e.toString());
            return false;
        }
    }

    /** Answers the agent's request {@code id} with a JSON-RPC error. */
    void respondError(JsonNode id, int code, String message) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("jsonrpc", "2.0");
        m.put("id", id);
        m.put("error", Map.of("code", code, "message", message));
        try {
            write(Json.write(m));
        } catch (IOException e) {
            log.debug("[{}] cannot answer request {} of {}: {}", botId, id, cli, e.toString());
        }
    }

    private static String message(long id, String method, Map<String, Object> params) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("jsonrpc", "2.0");
        m.put("id", id);
        m.put("method", method);
        m.put("params", params);
        return Json.write(m);
    }

    private void write(String line) throws IOException {
        if (!process.isAlive()) {
            throw new IOException(cli + " has exited");
        }
        process.writeLine(line);
    }

    /** Runs on the stdout reader thread. */
    private void onLine(String line, boolean newline, boolean truncated) {
        if (truncated) {
            // Half a JSON message: if it was an answer, its request stays open until the turn ends.
            log.warn("[{}] skipping a {} output line longer than {} bytes", botId, cli, MAX_LINE_BYTES);
            return;
        }
        JsonNode node = StreamLines.object(botId, cli, line);
        if (node == null) {
            return;
        }
        String method = node.path("method").asText(null);
        JsonNode id = node.get("id");
        if (method == null) {
            answer(id, node);
        } else if (id == null || id.isNull()) {
            if (replayQuietAt != 0 && "session/update".equals(method)) {
                replayQuietAt = System.nanoTime() + REPLAY_QUIET.toNanos();
                return;
            }
            handler.onNotification(this, method, node.path("params"));
        } else {
            handler.onRequest(this, id, method, node.path("params"));
        }
    }

    private void answer(JsonNode id, JsonNode node) {
        if (id == null || !id.canConvertToLong()) {
            log.warn("[{}] {} sent an answer without a known id: {}", botId, cli, StreamLines.abbreviate(node.toString()));
            return;
        }
        CompletableFuture<JsonNode> f = open.get(id.asLong());
        if (f == null) {
            log.debug("[{}] {} answered request {} that nobody waits for", botId, cli, id);
            return;
        }
        if (node.has("error")) {
            f.completeExceptionally(new RpcException(openMethods.getOrDefault(id.asLong(), "request"), node.path("error")));
        } else {
            f.complete(node.path("result"));
        }
    }

    private void failOpen(Integer code) {
        if (open.isEmpty()) {
            return;
        }
        process.awaitOutput(Duration.ofSeconds(2));
        String tail = process.stderrTail();
        String why = cli + " exited with code " + code + (tail.isBlank() ? "" : ": " + TurnOutput.TurnEnd.lastLines(tail, 3));
        for (CompletableFuture<JsonNode> f : List.copyOf(open.values())) {
            f.completeExceptionally(new ExitedException(why));
        }
    }

    /** A {@code session/load} follows: its history replay is dropped until {@link #replayed()}. */
    void replaying() {
        replayQuietAt = System.nanoTime() + REPLAY_QUIET.toNanos();
    }

    /** Waits until the replay is over (quiet for {@link #REPLAY_QUIET}), or {@code stop} completes. */
    void awaitReplayEnd(CompletableFuture<Void> stop) {
        long wait;
        while ((wait = replayQuietAt - System.nanoTime()) > 0) {
            try {
                stop.get(wait, TimeUnit.NANOSECONDS);
                return;
            } catch (TimeoutException e) {
                // quiet so far; an update may have moved the end: look again
            } catch (InterruptedException | ExecutionException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    /** The replay is over: updates are the turn's again. */
    void replayed() {
        replayQuietAt = 0;
    }

    /** Ends the process and its tree on purpose. */
    void discard(Duration grace) {
        stopping = true;
        process.closeStdin();
        if (process.awaitExitUninterruptibly(Duration.ofSeconds(1)) == null) {
            process.terminate(grace);
        } else {
            process.killGroupRemnants();
        }
    }
}
