package io.deia.core.agent;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.internal.io.Json;
import io.deia.core.permission.PermissionAnswer;
import io.deia.core.permission.PermissionDecision;
import io.deia.core.permission.ToolCall;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * How {@code codex app-server}'s approval requests map onto deia's relay:
 * {@code item/commandExecution/requestApproval} is tool {@code Bash} with the command as its
 * subject, {@code item/fileChange/requestApproval} is tool {@code Edit} with the changed paths as
 * its subject (the request names only the item, so the paths come from the item's
 * {@code item/started}); answers become {@code accept}, {@code acceptForSession} (Codex remembers it
 * for the session) or {@code decline} (the agent goes on without it).
 */
final class CodexApprovals {
    /** The server request that asks to run a command. */
    static final String COMMAND = "item/commandExecution/requestApproval";
    /** The server request that asks to apply a file change. */
    static final String FILE_CHANGE = "item/fileChange/requestApproval";

    private CodexApprovals() {
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

    /** The input as text for an event (the relay bounds what it shows). */
    static String inputText(ToolCall call) {
        return Json.write(call.input());
    }

    private static void putIfText(Map<String, Object> input, String key, JsonNode value) {
        if (value.isTextual() && !value.asText().isBlank()) {
            input.put(key, value.asText());
        }
    }
}
