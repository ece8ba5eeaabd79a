package io.deia.core.agent;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.deia.core.internal.io.Json;
import io.deia.core.permission.PendingPermission;
import io.deia.core.permission.PermissionAnswer;
import io.deia.core.permission.PermissionDecision;
import io.deia.core.permission.PermissionGate;
import io.deia.core.permission.ToolCall;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The permission side of Claude Code's stdio control protocol for one {@code claude} process
 * (started with {@code --permission-prompt-tool stdio}): each {@code control_request can_use_tool}
 * the CLI writes becomes a {@link ToolCall} asked of the turn's {@link PermissionGate}; when the
 * answer completes, on whatever thread completes it, a {@code control_response} goes to the CLI's
 * stdin (allow with the unchanged input, deny with a message the model sees). A
 * {@code control_cancel_request} (the CLI no longer waits, e.g. after an interrupt) withdraws the
 * request from the gate. Without a gate (the CLI's own permission mode decides) a prompt is denied
 * at once, since nobody could answer it.
 *
 * <p>Measured on the pinned CLI (2.1.197): no {@code initialize} request is needed before the first
 * user message; an interrupt while a prompt waits makes the CLI send {@code control_cancel_request}
 * for it and end the turn, and a late answer to it is ignored; an unanswered prompt waits (checked
 * for 1000 s, longer than the default {@code approval.timeout_s}) without running the tool or
 * closing the channel, and a closed stdin refuses it ("Tool permission stream closed"). "Allow for the session"
 * is the CLI's own: its {@code permission_suggestions} are sent back as {@code updatedPermissions},
 * each with {@code destination: "session"}, because the suggested {@code localSettings} would write
 * {@code .claude/settings.local.json} into the bot's (project) folder, which the CLI then ignores in
 * a folder nobody marked as trusted, and ask again. For a shell command the CLI suggests a rule for
 * that command (plus its folder and a switch to {@code acceptEdits}); for a file write or edit only
 * the switch to {@code acceptEdits} (see {@link #forThisSession}). A command whose output is
 * redirected to a file ({@code echo x > f}) is asked about again even under a session rule.
 */
final class ClaudePermissions implements ClaudeStreamParser.Control {
    private static final Logger log = LoggerFactory.getLogger(ClaudePermissions.class);

    /** Where answers are written: the CLI's stdin, one line each (serialized with the turn's own writes). */
    interface Stdin {
        void writeLine(String line) throws IOException;
    }

    /** A request relayed to a gate and not answered or withdrawn yet. */
    private record Waiting(PermissionGate gate, String relayId, JsonNode input, List<JsonNode> forSession) {
    }

    private final String botId;
    private final Stdin stdin;
    /** The CLI's request id → the relayed request. */
    private final Map<String, Waiting> waiting = new ConcurrentHashMap<>();
    private volatile PermissionGate gate;

    ClaudePermissions(String botId, Stdin stdin) {
        this.botId = botId;
        this.stdin = stdin;
    }

    /** Sets where the current turn's requests go; null: the CLI's own permission mode decides and prompts are refused. */
    void gate(PermissionGate gate) {
        this.gate = gate;
    }

    /** True while a turn's requests go to a gate. */
    boolean relaying() {
        return gate != null;
    }

    /** Number of requests waiting for an answer. */
    int waiting() {
        return waiting.size();
    }

    /** A {@code can_use_tool} request ({@code request} is its {@code request} object); runs on the stdout reader, never blocks. */
    @Override
    public void canUseTool(String cliId, JsonNode request) {
        PermissionGate g = gate;
        String tool = request.path("tool_name").asText("");
        if (g == null) {
            log.info("[{}] claude asked to use {}; refused (the profile's approval mode is auto)", botId, tool);
            respond(cliId, deny("deia runs headless: allow this tool through the profile's permission_mode or allowed_tools,"
                    + " or set approval.mode to ask"));
            return;
        }
        ToolCall call = toolCall(request);
        PendingPermission pending = g.ask(call);
        List<JsonNode> forSession = forThisSession(request.path("permission_suggestions"));
        waiting.put(cliId, new Waiting(g, pending.requestId(), request.path("input"), forSession));
        log.info("[{}] claude asks to use {} {}: relayed as {}", botId, tool, call.subject().isEmpty() ? "" : "'" + call.subject() + "'",
                pending.requestId());
        pending.answer().whenComplete((answer, err) -> answered(cliId, answer));
    }

    /** The CLI withdrew request {@code cliId} ({@code control_cancel_request}). */
    @Override
    public void cancelled(String cliId) {
        Waiting w = waiting.remove(cliId);
        if (w != null) {
            log.info("[{}] claude withdrew permission request {}", botId, w.relayId());
            w.gate().withdraw(w.relayId());
        }
    }

    /** The turn ended (finished, interrupted, stopped, or the process died): requests still waiting are withdrawn. */
    void turnEnded() {
        gate = null;
        for (String cliId : new ArrayList<>(waiting.keySet())) {
            Waiting w = waiting.remove(cliId);
            if (w != null) {
                log.info("[{}] the claude turn ended while permission request {} waited: withdrawn", botId, w.relayId());
                w.gate().withdraw(w.relayId());
            }
        }
    }

    private void answered(String cliId, PermissionAnswer answer) {
        Waiting w = waiting.remove(cliId);
        if (w == null) {
            return; // the CLI withdrew it or the turn ended: it no longer waits for an answer
        }
        if (answer == null) {
            log.warn("[{}] permission request {} ended without an answer; denying it", botId, w.relayId());
            respond(cliId, deny("deia could not get an answer for this tool call"));
            return;
        }
        log.info("[{}] permission request {} answered: {} by {}", botId, w.relayId(), answer.decision().id(), answer.by().id());
        if (!answer.decision().allows()) {
            respond(cliId, deny(denyMessage(answer)));
            return;
        }
        Map<String, Object> allow = new LinkedHashMap<>();
        allow.put("behavior", "allow");
        allow.put("updatedInput", w.input().isObject() ? w.input() : Map.of());
        if (answer.decision() == PermissionDecision.ALLOW_SESSION && !w.forSession().isEmpty()) {
            allow.put("updatedPermissions", w.forSession());
        }
        respond(cliId, allow);
    }

    /** What the model is told when a call is denied. */
    static String denyMessage(PermissionAnswer answer) {
        String reason = answer.message() == null || answer.message().isBlank() ? "" : ": " + answer.message().strip();
        return switch (answer.by()) {
            case USER -> "The user denied this tool call" + reason;
            case POLICY -> "The bot's approval policy denied this tool call" + reason;
            case TIMEOUT -> reason.isEmpty() ? "Nobody approved this tool call in time, so it was denied" : "Denied" + reason;
            case CANCELLED -> "This tool call was cancelled" + reason;
        };
    }

    private static Map<String, Object> deny(String message) {
        Map<String, Object> deny = new LinkedHashMap<>();
        deny.put("behavior", "deny");
        deny.put("message", message);
        deny.put("interrupt", false);
        return deny;
    }

    private void respond(String cliId, Map<String, Object> body) {
        Map<String, Object> response = new LinkedHashMap<>();
        response.put("subtype", "success");
        response.put("request_id", cliId);
        response.put("response", body);
        try {
            stdin.writeLine(Json.write(Map.of("type", "control_response", "response", response)));
        } catch (IOException e) {
            // The process is gone; its exit ends the turn.
            log.debug("[{}] cannot answer claude's permission request {}: {}", botId, cliId, e.toString());
        }
    }

    /**
     * What "allow for the session" sends back: the CLI's suggestions, each kept for this session only
     * (see the class comment). A {@code setMode} suggestion (e.g. {@code acceptEdits}, which lets every
     * following edit and file-system command through) is kept only when the CLI offers nothing narrower:
     * for a shell command it also offers a rule for that command, which is what "calls like this one" means.
     */
    static List<JsonNode> forThisSession(JsonNode suggestions) {
        boolean narrower = false;
        for (JsonNode s : suggestions) {
            narrower |= !"setMode".equals(s.path("type").asText());
        }
        List<JsonNode> out = new ArrayList<>();
        for (JsonNode s : suggestions) {
            if (s.isObject() && !(narrower && "setMode".equals(s.path("type").asText()))) {
                ObjectNode copy = ((ObjectNode) s).deepCopy();
                copy.put("destination", "session");
                out.add(copy);
            }
        }
        return out;
    }

    /** The CLI's request in deia's terms. */
    static ToolCall toolCall(JsonNode request) {
        String tool = request.path("tool_name").asText("");
        JsonNode input = request.path("input");
        String subject = switch (tool) {
            case "Bash" -> input.path("command").asText("");
            case "Edit", "Write", "Read", "MultiEdit" -> input.path("file_path").asText("");
            case "NotebookEdit" -> input.path("notebook_path").asText("");
            case "WebFetch" -> input.path("url").asText("");
            default -> "";
        };
        @SuppressWarnings("unchecked")
        Map<String, Object> inputMap = input.isObject() ? Json.convert(input, Map.class) : Map.of();
        return new ToolCall(tool, subject, inputMap, readable(forThisSession(request.path("permission_suggestions"))));
    }

    /** What "allow for the session" would keep, as sentences a person can judge. */
    static List<String> readable(List<JsonNode> suggestions) {
        List<String> out = new ArrayList<>();
        for (JsonNode s : suggestions) {
            String type = s.path("type").asText("");
            switch (type) {
                case "addRules", "replaceRules" -> {
                    List<String> rules = new ArrayList<>();
                    for (JsonNode r : s.path("rules")) {
                        String content = r.path("ruleContent").asText("");
                        rules.add(r.path("toolName").asText("?") + (content.isEmpty() ? "" : "(" + content + ")"));
                    }
                    out.add(s.path("behavior").asText("allow") + " " + String.join(", ", rules) + " for this session");
                }
                case "addDirectories" -> {
                    List<String> dirs = new ArrayList<>();
                    s.path("directories").forEach(d -> dirs.add(d.asText()));
                    out.add("allow access to " + String.join(", ", dirs) + " for this session");
                }
                case "setMode" -> out.add("switch to permission mode " + s.path("mode").asText("?")
                        + " for this session" + ("acceptEdits".equals(s.path("mode").asText()) ? " (file edits without asking)" : ""));
                default -> out.add(type + ": " + Json.write(s));
            }
        }
        return out;
    }
}
