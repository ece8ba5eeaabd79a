package io.deia.core.agent;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.internal.io.Json;

import java.util.List;

/**
 * Reads {@code gemini -o stream-json} lines of one turn: {@code init} gives the session id;
 * assistant {@code message} deltas → {@link AgentEvent.TextDelta} (the reply is their
 * concatenation); {@code tool_use} / {@code tool_result} → {@link AgentEvent.ToolUse} /
 * {@link AgentEvent.ToolResult}; {@code error} → {@link AgentEvent.Error}; {@code result} gives the
 * status, the error and the token counts. Malformed lines are logged and skipped.
 */
final class GeminiStreamParser extends TurnOutput.Parser {
    private final BoundedText text = new BoundedText(1024 * 1024);
    private String status;

    GeminiStreamParser(String botId) {
        super(botId, "gemini");
    }

    /** The reply so far (all assistant text). */
    @Override
    String text() {
        return text.toString();
    }

    /** The result line said {@code success}. */
    @Override
    boolean succeeded() {
        return "success".equals(status);
    }

    @Override
    void event(String type, JsonNode node, List<AgentEvent> events) {
        switch (type) {
            case "init" -> sessionId = node.path("session_id").asText(null);
            case "message" -> {
                if ("assistant".equals(node.path("role").asText())) {
                    String content = node.path("content").asText("");
                    text.append(content);
                    events.add(new AgentEvent.TextDelta(content));
                    if (!node.path("delta").asBoolean(false)) {
                        events.add(new AgentEvent.AssistantMessage(content));
                    }
                }
            }
            case "tool_use" -> events.add(new AgentEvent.ToolUse(node.path("tool_id").asText(null),
                    node.path("tool_name").asText(null), Json.write(node.path("parameters"))));
            case "tool_result" -> {
                boolean failed = "error".equals(node.path("status").asText());
                String output = failed ? node.path("error").path("message").asText("") : node.path("output").asText("");
                events.add(new AgentEvent.ToolResult(node.path("tool_id").asText(null), output, failed));
            }
            case "error" -> events.add(new AgentEvent.Error("gemini: " + node.path("message").asText("error")));
            case "result" -> {
                status = node.path("status").asText("success");
                if (node.path("error").isObject()) {
                    error = "gemini: " + node.path("error").path("message").asText(node.path("error").path("type").asText("error"));
                }
                tokens(node.path("stats"));
            }
            default -> {
            }
        }
    }
}
