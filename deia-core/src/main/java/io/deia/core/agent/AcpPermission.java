package io.deia.core.agent;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.internal.io.Json;
import io.deia.core.permission.PermissionDecision;
import io.deia.core.permission.ToolCall;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One ACP {@code session/request_permission} of an agent, in deia's terms. The agent sends
 * {@code {"sessionId", "toolCall": {"toolCallId", "status", "title", "kind", "locations": [{"path"}],
 * "content": [...]}, "options": [{"optionId", "name", "kind"}]}}; an option's kind is
 * {@code allow_once}, {@code allow_always}, {@code reject_once} or {@code reject_always}.
 *
 * <p>Tool names follow {@link ToolCall}'s: kind {@code execute} is {@code Bash} with the command
 * (Gemini's title of a shell call) as the subject, {@code edit} is {@code Edit} with the file path;
 * any other kind keeps the agent's title as the tool, with the first location as the subject.
 *
 * @param toolCallId the agent's id of the call (the same as in its {@code tool_call} updates)
 * @param kind       the ACP tool kind ({@code execute}, {@code edit}, {@code read}, ...; "other" when absent)
 * @param title      the agent's title of the call
 * @param path       the first location's path, or ""
 * @param toolCall   the {@code toolCall} object as sent
 * @param options    the options as sent
 */
record AcpPermission(String toolCallId, String kind, String title, String path, JsonNode toolCall, JsonNode options) {

    /** Reads the params of a {@code session/request_permission}. */
    static AcpPermission of(JsonNode params) {
        JsonNode tc = params.path("toolCall");
        String path = "";
        for (JsonNode loc : tc.path("locations")) {
            if (loc.path("path").isTextual()) {
                path = loc.path("path").asText();
                break;
            }
        }
        if (path.isEmpty()) {
            for (JsonNode c : tc.path("content")) {
                if ("diff".equals(c.path("type").asText()) && c.path("path").isTextual()) {
                    path = c.path("path").asText();
                    break;
                }
            }
        }
        return new AcpPermission(tc.path("toolCallId").asText(""), tc.path("kind").asText("other"), tc.path("title").asText(""),
                path, tc, params.path("options"));
    }

    /** deia's tool name for an ACP kind and title. */
    static String toolName(String kind, String title) {
        return switch (kind) {
            case "execute" -> "Bash";
            case "edit" -> "Edit";
            default -> title == null || title.isBlank() ? kind : title;
        };
    }

    /** The call as a person judges it: tool, subject (the command or the path), the agent's request as input. */
    ToolCall toToolCall() {
        String tool = toolName(kind, title);
        String subject = kind.equals("execute") ? title : path;
        Map<String, Object> input = new LinkedHashMap<>();
        input.put("kind", kind);
        input.put("title", title);
        if (kind.equals("execute")) {
            input.put("command", title);
        }
        if (!path.isEmpty()) {
            input.put("file_path", path);
        }
        for (JsonNode c : toolCall.path("content")) {
            if ("diff".equals(c.path("type").asText())) {
                input.put("new_text", c.path("newText").asText(""));
                if (c.path("oldText").isTextual()) {
                    input.put("old_text", c.path("oldText").asText());
                }
                break;
            }
            if (c.path("content").path("text").isTextual()) {
                input.put("detail", c.path("content").path("text").asText());
            }
        }
        List<String> suggestions = new ArrayList<>();
        for (JsonNode o : options) {
            if ("allow_always".equals(o.path("kind").asText())) {
                suggestions.add(o.path("name").asText(o.path("optionId").asText()));
            }
        }
        return new ToolCall(tool, subject, input, suggestions);
    }

    /**
     * The id of the option that says {@code decision}: {@code allow_once} for allow,
     * {@code allow_always} for allow_session (allow_once when the agent offers none), and
     * {@code reject_once} for deny; null when the agent offers no such option.
     */
    String optionFor(PermissionDecision decision) {
        return switch (decision) {
            case ALLOW -> option("allow_once");
            case ALLOW_SESSION -> {
                String always = option("allow_always");
                yield always != null ? always : option("allow_once");
            }
            case DENY -> {
                String once = option("reject_once");
                yield once != null ? once : option("reject_always");
            }
        };
    }

    private String option(String optionKind) {
        for (JsonNode o : options) {
            if (optionKind.equals(o.path("kind").asText()) && o.path("optionId").isTextual()) {
                return o.path("optionId").asText();
            }
        }
        return null;
    }

    /** The ACP answer for {@code decision}: the selected option, or {@code cancelled} when none fits. */
    Map<String, Object> outcome(PermissionDecision decision) {
        String option = optionFor(decision);
        return option == null ? cancelledOutcome() : Map.of("outcome", Map.of("outcome", "selected", "optionId", option));
    }

    /** The ACP answer of a prompt turn that was cancelled while the request waited. */
    static Map<String, Object> cancelledOutcome() {
        return Map.of("outcome", Map.of("outcome", "cancelled"));
    }

    /** The request as a {@link AgentEvent.ToolUse}: the agent runs a tool it first had to ask for. */
    AgentEvent.ToolUse toolUse() {
        return new AgentEvent.ToolUse(toolCallId, toolName(kind, title), Json.write(toToolCall().input()));
    }
}
