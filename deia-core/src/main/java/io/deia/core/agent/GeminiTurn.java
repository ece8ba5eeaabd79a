package io.deia.core.agent;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.internal.io.Json;
import io.deia.core.permission.PendingPermission;
import io.deia.core.permission.PermissionAnswer;
import io.deia.core.permission.PermissionDecision;
import io.deia.core.permission.PermissionGate;
import io.deia.core.permission.ToolCall;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.regex.Pattern;

/**
 * One {@code session/prompt} turn of {@link GeminiAgent}: what its {@code session/update}
 * notifications mean ({@code agent_message_chunk} → {@link AgentEvent.TextDelta}, {@code tool_call}
 * → {@link AgentEvent.ToolUse}, a finished {@code tool_call_update} → {@link AgentEvent.ToolResult}),
 * its permission requests, and its {@link TurnResult} from the prompt's answer
 * ({@code {"stopReason": "end_turn", "_meta": {"quota": {"token_count": {"input_tokens",
 * "output_tokens"}}}}}).
 *
 * <p>A permission request goes to the gate and is answered when the gate's answer completes, on
 * whichever thread completes it, never on the reader thread; without a gate it is rejected at once
 * (the CLI's own approval mode already let through what it allows). A request still open when the
 * turn is cancelled or ends is answered {@code cancelled} and withdrawn from the gate.
 */
final class GeminiTurn {
    private static final Logger log = LoggerFactory.getLogger(GeminiTurn.class);
    private static final int MAX_TEXT_CHARS = 1024 * 1024;
    private static final Pattern MODE_UPDATE = Pattern.compile("\\[MODE_UPDATE] [A-Za-z_]+");

    private final String botId;
    private final PermissionGate gate;
    private final AgentEventListener listener;
    private final BoundedText text = new BoundedText(MAX_TEXT_CHARS);
    private final long t0 = System.nanoTime();
    private final Map<String, Asked> asked = new ConcurrentHashMap<>();
    /** Completed when deia stops the turn (interrupt, timeout, close). */
    final CompletableFuture<Void> stop = new CompletableFuture<>();
    /** Set when deia ended the turn. */
    volatile TurnStatus forced;
    /** The process serving this turn, once started. */
    volatile AcpConnection conn;
    volatile String session;
    /** The answer to {@code session/prompt}, once sent. */
    volatile CompletableFuture<JsonNode> prompt;

    /** A permission request relayed to the gate and not yet answered. */
    private record Asked(AcpConnection conn, JsonNode id, AcpPermission request, String requestId, AtomicBoolean answered) {
    }

    GeminiTurn(String botId, PermissionGate gate, AgentEventListener listener) {
        this.botId = botId;
        this.gate = gate;
        this.listener = listener;
    }

    void starting(AcpConnection c) {
        conn = c;
    }

    void prompting(AcpConnection c, String session, CompletableFuture<JsonNode> prompt) {
        this.conn = c;
        this.session = session;
        this.prompt = prompt;
    }

    long millis() {
        return CliAgent.millisSince(t0);
    }

    /** One {@code session/update} of this turn (on the reader thread). */
    void update(JsonNode u) {
        switch (u.path("sessionUpdate").asText("")) {
            case "agent_message_chunk" -> {
                String chunk = u.path("content").path("text").asText("");
                if (MODE_UPDATE.matcher(chunk).matches()) {
                    // The CLI announces its own mode switch (after an "allow for this session") as text: not the reply.
                    log.info("[{}] gemini: {}", botId, chunk);
                } else if ("text".equals(u.path("content").path("type").asText())) {
                    text.append(chunk);
                    deliver(new AgentEvent.TextDelta(chunk));
                }
            }
            case "tool_call" -> {
                Map<String, Object> input = new LinkedHashMap<>();
                input.put("kind", u.path("kind").asText("other"));
                input.put("title", u.path("title").asText(""));
                input.put("locations", u.path("locations"));
                deliver(new AgentEvent.ToolUse(u.path("toolCallId").asText(null),
                        AcpPermission.toolName(u.path("kind").asText("other"), u.path("title").asText("")), Json.write(input)));
                finished(u);
            }
            case "tool_call_update" -> finished(u);
            default -> {
            }
        }
    }

    /** A tool call that reached {@code completed} or {@code failed} → {@link AgentEvent.ToolResult}. */
    private void finished(JsonNode u) {
        String status = u.path("status").asText("");
        if (!status.equals("completed") && !status.equals("failed")) {
            return;
        }
        StringBuilder out = new StringBuilder();
        for (JsonNode c : u.path("content")) {
            if (c.path("content").path("text").isTextual()) {
                out.append(c.path("content").path("text").asText());
            } else if ("diff".equals(c.path("type").asText())) {
                out.append("wrote ").append(c.path("path").asText(""));
            }
        }
        deliver(new AgentEvent.ToolResult(u.path("toolCallId").asText(null), out.toString(), status.equals("failed")));
    }

    /** A {@code session/request_permission} during this turn (on the reader thread: never blocks). */
    void permission(AcpConnection c, JsonNode id, AcpPermission p) {
        deliver(p.toolUse());
        ToolCall call = p.toToolCall();
        if (forced != null) {
            c.respond(id, AcpPermission.cancelledOutcome());
            return;
        }
        if (gate == null) {
            log.info("[{}] gemini asked to use {} ({}); rejected: approval mode auto lets the CLI's own approval mode decide",
                    botId, call.tool(), call.subject());
            c.respond(id, p.outcome(PermissionDecision.DENY));
            return;
        }
        PendingPermission pending;
        try {
            pending = gate.ask(call);
        } catch (RuntimeException e) {
            log.warn("[{}] the permission gate failed on {}; rejected", botId, call.tool(), e);
            c.respond(id, p.outcome(PermissionDecision.DENY));
            return;
        }
        Asked a = new Asked(c, id, p, pending.requestId(), new AtomicBoolean());
        asked.put(pending.requestId(), a);
        log.info("[{}] gemini asks to use {} ({}): request {}", botId, call.tool(), call.subject(), pending.requestId());
        pending.answer().thenAccept(answer -> answer(a, answer));
        if (forced != null) {
            cancelAsked();
        }
    }

    private void answer(Asked a, PermissionAnswer answer) {
        asked.remove(a.requestId());
        if (!a.answered().compareAndSet(false, true)) {
            return;
        }
        boolean written = a.conn().respond(a.id(), a.request().outcome(answer.decision()));
        log.info("[{}] gemini request {} answered {} (by {}){}", botId, a.requestId(), a.request().optionFor(answer.decision()),
                answer.by().id(), written ? "" : " too late: gemini has exited");
    }

    /** Answers every open request {@code cancelled} and withdraws it from the gate (the prompt was cancelled or ended). */
    void cancelAsked() {
        for (Asked a : asked.values()) {
            asked.remove(a.requestId());
            if (a.answered().compareAndSet(false, true)) {
                a.conn().respond(a.id(), AcpPermission.cancelledOutcome());
                log.info("[{}] gemini request {} cancelled with its turn", botId, a.requestId());
                try {
                    gate.withdraw(a.requestId());
                } catch (RuntimeException e) {
                    log.warn("[{}] withdrawing permission request {} failed", botId, a.requestId(), e);
                }
            }
        }
    }

    private void deliver(AgentEvent e) {
        try {
            listener.onEvent(e);
        } catch (RuntimeException ex) {
            log.warn("[{}] an event listener failed", botId, ex);
        }
    }

    /** The result from the prompt's answer. */
    TurnResult result(JsonNode r, String sessionId) {
        if (forced != null) {
            return forcedResult(sessionId, null);
        }
        JsonNode tokens = r.path("_meta").path("quota").path("token_count");
        Long in = tokens.hasNonNull("input_tokens") ? tokens.path("input_tokens").asLong() : null;
        Long out = tokens.hasNonNull("output_tokens") ? tokens.path("output_tokens").asLong() : null;
        String stopReason = r.path("stopReason").asText("");
        if (stopReason.equals("end_turn")) {
            return new TurnResult(TurnStatus.COMPLETED, text.toString(), sessionId, null, in, out, millis(), null, null);
        }
        return new TurnResult(TurnStatus.FAILED, text.toString(), sessionId, null, in, out, millis(), null,
                "gemini ended the turn early: " + (stopReason.isEmpty() ? "no stop reason" : stopReason));
    }

    /** The result of a turn deia ended ({@link #forced}, interrupted when unset). */
    TurnResult forcedResult(String sessionId, Integer exitCode) {
        TurnStatus status = forced == null ? TurnStatus.INTERRUPTED : forced;
        return new TurnResult(status, text.toString(), sessionId, null, null, null, millis(), exitCode,
                TurnOutput.TurnEnd.forcedReason("gemini", status));
    }

    /** A failed turn, keeping the text so far. */
    TurnResult failed(String error, String sessionId, Integer exitCode) {
        return new TurnResult(TurnStatus.FAILED, text.toString(), sessionId, null, null, null, millis(), exitCode, error);
    }
}
