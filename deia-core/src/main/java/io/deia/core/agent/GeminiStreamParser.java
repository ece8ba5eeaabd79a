package io.deia.core.agent;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.io.Json;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;

/**
 * Reads {@code gemini -o stream-json} lines of one turn: {@code init} gives the session id;
 * assistant {@code message} deltas → {@link AgentEvent.TextDelta} (the reply is their
 * concatenation); {@code tool_use} / {@code tool_result} → {@link AgentEvent.ToolUse} /
 * {@link AgentEvent.ToolResult}; {@code error} → {@link AgentEvent.Error}; {@code result} gives the
 * status, the error and the token counts. Malformed lines are logged and skipped.
 */
final class GeminiStreamParser {
    private static final Logger log = LoggerFactory.getLogger(GeminiStreamParser.class);

    private final String botId;
    private final BoundedText text = new BoundedText(1024 * 1024);
    private String sessionId;
    private String status;
    private String error;
    private Long inputTokens;
    private Long outputTokens;

    GeminiStreamParser(String botId) {
        this.botId = botId;
    }

    String sessionId() {
        return sessionId;
    }

    /** The reply so far (all assistant text). */
    String text() {
        return text.toString();
    }

    /** {@code success} or {@code error} from the result line; null when none came. */
    String status() {
        return status;
    }

    String error() {
        return error;
    }

    Long inputTokens() {
        return inputTokens;
    }

    Long outputTokens() {
        return outputTokens;
    }

    List<AgentEvent> parse(String line) {
        List<AgentEvent> events = new ArrayList<>(2);
        JsonNode node = StreamLines.object(botId, "gemini", line);
        if (node == null) {
            return events;
        }
        switch (node.path("type").asText("")) {
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
                JsonNode stats = node.path("stats");
                inputTokens = stats.hasNonNull("input_tokens") ? stats.path("input_tokens").asLong() : null;
                outputTokens = stats.hasNonNull("output_tokens") ? stats.path("output_tokens").asLong() : null;
            }
            default -> {
            }
        }
        return events;
    }
}
