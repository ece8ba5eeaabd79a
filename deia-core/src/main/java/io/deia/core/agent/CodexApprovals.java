package io.deia.core.agent;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.permission.PendingPermission;
import io.deia.core.permission.PermissionAnswer;
import io.deia.core.permission.PermissionDecision;
import io.deia.core.permission.PermissionGate;
import io.deia.core.permission.ToolCall;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * One turn's relay of {@code codex app-server}'s approval requests to the turn's
 * {@link PermissionGate}, and how they map onto deia's terms:
 * {@code item/commandExecution/requestApproval} is tool {@code Bash} with the command as its
 * subject, {@code item/fileChange/requestApproval} is tool {@code Edit} with the changed paths as
 * its subject (the request names only the item, so the paths come from the item's
 * {@code item/started}); answers become {@code accept}, {@code acceptForSession} (Codex remembers it
 * for the session) or {@code decline} (the agent goes on without it). The answer is written when
 * the gate's future completes, on whichever thread completes it: the reader never waits. A request
 * Codex withdraws ({@code serverRequest/resolved} before an answer) or one still open when the turn
 * ends is withdrawn from the gate.
 */
final class CodexApprovals {
    private static final Logger log = LoggerFactory.getLogger(CodexApprovals.class);
    /** The server request that asks to run a command. */
    static final String COMMAND = "item/commandExecution/requestApproval";
    /** The server request that asks to apply a file change. */
    static final String FILE_CHANGE = "item/fileChange/requestApproval";

    private final String botId;
    private final PermissionGate gate;
    /** Requests waiting for the gate: the server's request id (as JSON text) → the relay's id. */
    private final Map<String, String> asked = new ConcurrentHashMap<>();

    /** @param gate the turn's gate, or null when the profile's own settings decide (requests are then declined) */
    CodexApprovals(String botId, PermissionGate gate) {
        this.botId = botId;
        this.gate = gate;
    }

    /** Relays approval request {@code id} of {@code from} to the gate; returns at once. */
    void ask(CodexAppServer from, String method, JsonNode id, JsonNode params, List<String> changePaths) {
        if (gate == null) {
            log.info("[{}] codex asked for approval ({}) with nobody to ask; declined", botId, method);
            from.respond(id, Map.of("decision", "decline"));
            return;
        }
        ToolCall call = toolCall(method, params, changePaths);
        PendingPermission pending;
        try {
            pending = gate.ask(call);
        } catch (RuntimeException e) {
            log.warn("[{}] the permission gate failed on {}; declined", botId, call.tool(), e);
            from.respond(id, Map.of("decision", "decline"));
            return;
        }
        String key = id.toString();
        asked.put(key, pending.requestId());
        log.info("[{}] codex asks to use {} ({}): permission request {}", botId, call.tool(), call.subject(), pending.requestId());
        pending.answer().thenAccept(answer -> {
            if (asked.remove(key) == null) {
                return;
            }
            log.info("[{}] permission request {}: {} by {}", botId, pending.requestId(), answer.decision().id(), answer.by().id());
            from.respond(id, result(answer));
        });
    }

    /** Codex no longer waits for request {@code requestId} ({@code serverRequest/resolved}). */
    void resolved(JsonNode requestId) {
        String relayId = asked.remove(requestId.toString());
        if (relayId != null) {
            log.info("[{}] codex withdrew permission request {}", botId, relayId);
            gate.withdraw(relayId);
        }
    }

    /** The turn ended: whatever still waits is withdrawn. */
    void withdrawAll() {
        for (String key : List.copyOf(asked.keySet())) {
            String relayId = asked.remove(key);
            if (relayId != null) {
                log.info("[{}] the turn ended; withdrawing permission request {}", botId, relayId);
                gate.withdraw(relayId);
            }
        }
    }

    /** Whether {@code method} is an approval request deia relays. */
    static boolean isApproval(String method) {
        return COMMAND.equals(method) || FILE_CHANGE.equals(method);
    }

    /** The tool call a person judges for approval request {@code method}. */
    static ToolCall toolCall(String method, JsonNode params, List<String> changePaths) {
        Map<String, Object> input = new LinkedHashMap<>();
        if (COMMAND.equals(method)) {
            String command = subjectCommand(params);
            input.put("command", command);
            input.put("full_command", params.path("command").asText(""));
            input.put("cwd", params.path("cwd").asText(""));
            putIfText(input, "reason", params.path("reason"));
            List<String> suggestions = new ArrayList<>();
            JsonNode amendment = params.path("proposedExecpolicyAmendment");
            if (amendment.isArray() && !amendment.isEmpty()) {
                List<String> words = new ArrayList<>();
                amendment.forEach(w -> words.add(w.asText()));
                suggestions.add("Bash(" + String.join(" ", words) + "*)");
            }
            return new ToolCall("Bash", command, input, suggestions);
        }
        input.put("paths", changePaths);
        putIfText(input, "reason", params.path("reason"));
        putIfText(input, "grant_root", params.path("grantRoot"));
        String subject = changePaths.isEmpty() ? params.path("grantRoot").asText("") : String.join(" ", changePaths);
        return new ToolCall("Edit", subject, input, List.of());
    }

    /**
     * The command as the model wrote it: Codex wraps it ({@code /bin/bash -lc '…'}) and lists the
     * parsed command in {@code commandActions}; with exactly one action that is the clearest form
     * for a person and for rules such as {@code Bash(git status*)}, else the full command line.
     */
    static String subjectCommand(JsonNode params) {
        JsonNode actions = params.path("commandActions");
        if (actions.isArray() && actions.size() == 1 && actions.get(0).hasNonNull("command")) {
            return actions.get(0).path("command").asText();
        }
        return params.path("command").asText("");
    }

    /** The {@code result} answering an approval request. */
    static Map<String, Object> result(PermissionAnswer answer) {
        return Map.of("decision", decision(answer.decision()));
    }

    /** Codex's decision for deia's. */
    static String decision(PermissionDecision decision) {
        return switch (decision) {
            case ALLOW -> "accept";
            case ALLOW_SESSION -> "acceptForSession";
            case DENY -> "decline";
        };
    }

    private static void putIfText(Map<String, Object> input, String key, JsonNode value) {
        if (value.isTextual() && !value.asText().isBlank()) {
            input.put(key, value.asText());
        }
    }
}
