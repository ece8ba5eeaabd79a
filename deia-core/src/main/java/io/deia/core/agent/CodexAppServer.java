package io.deia.core.agent;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.config.Profile;
import io.deia.core.internal.io.Json;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
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
 * One running {@code codex app-server} process and its JSON-RPC over stdio (one JSON object per
 * line, no {@code "jsonrpc"} field): deia's calls ({@code initialize}, {@code thread/start},
 * {@code turn/start}, …) with their answers matched by id, the answers deia gives to the server's
 * own requests (approvals), and everything else (notifications and server requests) handed to
 * {@link Inbound} on the stdout reader thread, which must never block.
 */
final class CodexAppServer {
    private static final Logger log = LoggerFactory.getLogger(CodexAppServer.class);
    static final int MAX_LINE_BYTES = 16 * 1024 * 1024;
    private static final Duration TERM_GRACE = Duration.ofSeconds(2);

    /** Receives what the server sends besides answers to deia's calls, on the reader thread. */
    interface Inbound {
        /** A notification ({@code id} null) or a request from the server that deia must answer with {@link #respond}. */
        void onMessage(CodexAppServer from, String method, JsonNode id, JsonNode params);

        /** A line longer than {@link #MAX_LINE_BYTES} was dropped. */
        void onDroppedLine(CodexAppServer from);
    }

    private final String botId;
    private final AtomicLong nextId = new AtomicLong();
    private final Map<Long, CompletableFuture<JsonNode>> calls = new ConcurrentHashMap<>();
    final AgentProcess process;
    /** Ended on purpose: its exit is not a crash. */
    volatile boolean stopping;
    /** The thread this process serves, once started or resumed. */
    volatile String threadId;

    /**
     * Starts {@code codex app-server} in the bot's workspace.
     *
     * @throws IOException when the program cannot be started
     */
    CodexAppServer(AgentContext context, String executable, Map<String, String> env, Inbound inbound) throws IOException {
        this.botId = context.botId();
        this.process = AgentProcess.start(botId, "codex", argv(context.profile(), executable, env), context.workspace(), env, true,
                MAX_LINE_BYTES, (line, newline, truncated) -> onLine(line, truncated, inbound),
                AgentLeftovers.recordFile(context.hive(), botId));
        process.onExit().whenComplete((code, err) -> failCalls("codex exited with code " + code));
    }

    /**
     * The command line: {@code codex app-server} with analytics and plugins off, bounded retries,
     * and the custom provider {@code deia} when {@code OPENAI_BASE_URL} is set (Codex ignores that
     * variable by itself).
     */
    static List<String> argv(Profile profile, String executable, Map<String, String> env) {
        List<String> argv = new ArrayList<>(List.of(executable, "app-server", "-c", "analytics.enabled=false",
                "--disable", "plugins", "--disable", "unbounded_connection_retries"));
        String baseUrl = env.get("OPENAI_BASE_URL");
        String retries = env.getOrDefault("CODEX_MAX_RETRIES", "1");
        if (baseUrl != null && !baseUrl.isBlank()) {
            String keyVar = env.getOrDefault("CODEX_ENV_KEY", "OPENAI_API_KEY");
            argv.addAll(List.of("-c", "model_provider=deia",
                    "-c", "model_providers.deia.name=\"deia\"",
                    "-c", "model_providers.deia.base_url=\"" + baseUrl + "\"",
                    "-c", "model_providers.deia.env_key=\"" + keyVar + "\"",
                    "-c", "model_providers.deia.wire_api=\"responses\"",
                    "-c", "model_providers.deia.request_max_retries=" + retries,
                    "-c", "model_providers.deia.stream_max_retries=" + retries));
        } else {
            argv.addAll(List.of("-c", "model_providers.openai.request_max_retries=" + retries,
                    "-c", "model_providers.openai.stream_max_retries=" + retries));
        }
        argv.addAll(profile.args());
        return argv;
    }

    /**
     * The handshake: {@code initialize}, {@code initialized}, then {@code thread/resume} of
     * {@code storedThread} (in the workspace, with the profile's sandbox and model) or, without one
     * or when Codex refuses it, {@code thread/start}.
     *
     * @return the thread id, also kept in {@link #threadId}
     * @throws IOException when the server does not answer in {@code timeout}, fails, or starts no thread
     */
    String openThread(AgentContext context, String approvalPolicy, String storedThread, Duration timeout) throws IOException {
        answer(call("initialize", Map.of("clientInfo", Map.of("name", "deia", "title", "deia", "version", "1"))), "initialize", timeout);
        notifyServer("initialized");
        Profile profile = context.profile();
        Map<String, Object> params = new LinkedHashMap<>();
        params.put("cwd", context.workspace().toAbsolutePath().toString());
        params.put("approvalPolicy", approvalPolicy);
        if (profile.permissionMode() != null && !profile.permissionMode().isBlank()) {
            params.put("sandbox", profile.permissionMode());
        }
        if (profile.model() != null && !profile.model().isBlank()) {
            params.put("model", profile.model());
        }
        JsonNode thread = null;
        if (storedThread != null) {
            Map<String, Object> resume = new LinkedHashMap<>(params);
            resume.put("threadId", storedThread);
            try {
                thread = answer(call("thread/resume", resume), "thread/resume", timeout).path("thread");
                log.info("[{}] codex resumed thread {}", botId, storedThread);
            } catch (Refused e) {
                log.warn("[{}] codex could not resume thread {} ({}); starting a new thread", botId, storedThread, e.getMessage());
            }
        }
        if (thread == null) {
            thread = answer(call("thread/start", params), "thread/start", timeout).path("thread");
        }
        String id = thread.path("id").asText("");
        if (id.isBlank()) {
            throw new IOException("codex started no thread: " + thread);
        }
        threadId = id;
        return id;
    }

    private static JsonNode answer(CompletableFuture<JsonNode> call, String what, Duration timeout) throws IOException {
        try {
            return call.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof CodexError err) {
                throw new Refused(what + " refused: " + err.getMessage());
            }
            throw new IOException(what + ": " + e.getCause().getMessage(), e.getCause());
        } catch (TimeoutException e) {
            throw new IOException("codex did not answer " + what + " within " + timeout.toSeconds() + " s", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while waiting for codex to answer " + what, e);
        }
    }

    /** Codex answered a call of the handshake with an error. */
    private static final class Refused extends IOException {
        Refused(String message) {
            super(message);
        }
    }

    /** Sends a request; the future completes with its {@code result}, or exceptionally with its {@code error} or the process's end. */
    CompletableFuture<JsonNode> call(String method, Map<String, Object> params) {
        long id = nextId.getAndIncrement();
        CompletableFuture<JsonNode> answer = new CompletableFuture<>();
        calls.put(id, answer);
        Map<String, Object> msg = new LinkedHashMap<>();
        msg.put("method", method);
        msg.put("id", id);
        msg.put("params", params);
        try {
            process.writeLine(Json.write(msg));
        } catch (IOException e) {
            calls.remove(id);
            answer.completeExceptionally(new IOException("cannot write " + method + " to codex: " + e.getMessage(), e));
        }
        if (!process.isAlive()) {
            failCalls("codex is not running");
        }
        return answer;
    }

    /** Sends a notification (no answer expected). */
    void notifyServer(String method) throws IOException {
        process.writeLine(Json.write(Map.of("method", method)));
    }

    /** Answers the server's request {@code id}; a process that is gone cannot take it, which is logged. */
    void respond(JsonNode id, Object result) {
        Map<String, Object> msg = new LinkedHashMap<>();
        msg.put("id", id);
        msg.put("result", result);
        try {
            process.writeLine(Json.write(msg));
        } catch (IOException e) {
            log.info("[{}] cannot answer codex request {}: {}", botId, id, e.toString());
        }
    }

    /** Refuses the server's request {@code id} (one deia does not serve) with a JSON-RPC error. */
    void respondError(JsonNode id, String message) {
        Map<String, Object> msg = new LinkedHashMap<>();
        msg.put("id", id);
        msg.put("error", Map.of("code", -32601, "message", message));
        try {
            process.writeLine(Json.write(msg));
        } catch (IOException e) {
            log.info("[{}] cannot answer codex request {}: {}", botId, id, e.toString());
        }
    }

    /** Ends the process on purpose (not a crash): end of stdin ends the server, else its tree is terminated. */
    void discard() {
        stopping = true;
        process.closeStdin();
        if (process.awaitExitUninterruptibly(Duration.ofSeconds(2)) == null) {
            process.terminate(TERM_GRACE);
        } else {
            process.killGroupRemnants();
        }
    }

    private void onLine(String line, boolean truncated, Inbound inbound) {
        if (truncated) {
            log.warn("[{}] skipping a codex output line longer than {} bytes", botId, MAX_LINE_BYTES);
            inbound.onDroppedLine(this);
            return;
        }
        JsonNode msg = StreamLines.object(botId, "codex", line);
        if (msg == null) {
            return;
        }
        JsonNode id = msg.get("id");
        String method = msg.path("method").asText("");
        if (method.isEmpty() && id != null && id.canConvertToLong()) {
            CompletableFuture<JsonNode> answer = calls.remove(id.asLong());
            if (answer == null) {
                log.debug("[{}] codex answered unknown request {}", botId, id);
            } else if (msg.hasNonNull("error")) {
                answer.completeExceptionally(new CodexError(msg.path("error").path("message").asText(msg.path("error").toString())));
            } else {
                answer.complete(msg.path("result"));
            }
            return;
        }
        if (!method.isEmpty()) {
            inbound.onMessage(this, method, id, msg.path("params"));
        }
    }

    private void failCalls(String why) {
        for (Long id : List.copyOf(calls.keySet())) {
            CompletableFuture<JsonNode> answer = calls.remove(id);
            if (answer != null) {
                answer.completeExceptionally(new IOException(why));
            }
        }
    }

    /** The server answered a call with a JSON-RPC error. */
    static final class CodexError extends Exception {
        CodexError(String message) {
            super(message);
        }
    }
}
