package io.deia.core.agent;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.io.Json;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;

/**
 * Reads {@code codex exec --json} lines of one turn: {@code thread.started} gives the thread id;
 * {@code item.completed} items become events ({@code agent_message} → {@link AgentEvent.TextDelta}
 * and {@link AgentEvent.AssistantMessage}, since Codex streams no deltas; {@code command_execution}
 * and {@code file_change} → {@link AgentEvent.ToolUse} when started and {@link AgentEvent.ToolResult}
 * when completed; {@code error} items → {@link AgentEvent.Error}); {@code turn.completed} gives
 * the token usage and {@code turn.failed} / top-level {@code error} the failure. Malformed lines
 * are logged and skipped.
 */
final class CodexJsonParser {
    private static final Logger log = LoggerFactory.getLogger(CodexJsonParser.class);

    private final String botId;
    private String threadId;
    private String lastMessage = "";
    private Long inputTokens;
    private Long outputTokens;
    private String failure;
    private boolean completed;

    CodexJsonParser(String botId) {
        this.botId = botId;
    }

    String threadId() {
        return threadId;
    }

    /** The last agent message: Codex's final answer of the turn. */
    String lastMessage() {
        return lastMessage;
    }

    Long inputTokens() {
        return inputTokens;
    }

    Long outputTokens() {
        return outputTokens;
    }

    /** Why the turn failed, when Codex said so; else null. */
    String failure() {
        return failure;
    }

    /** Whether {@code turn.completed} was seen. */
    boolean completed() {
        return completed;
    }

    List<AgentEvent> parse(String line) {
        List<AgentEvent> events = new ArrayList<>(2);
        JsonNode node = StreamLines.object(botId, "codex", line);
        if (node == null) {
            return events;
        }
        switch (node.path("type").asText("")) {
            case "thread.started" -> threadId = node.path("thread_id").asText(null);
            case "item.started" -> itemStarted(node.path("item"), events);
            case "item.completed" -> itemCompleted(node.path("item"), events);
            case "turn.completed" -> {
                completed = true;
                JsonNode usage = node.path("usage");
                inputTokens = usage.hasNonNull("input_tokens") ? usage.path("input_tokens").asLong() : null;
                outputTokens = usage.hasNonNull("output_tokens") ? usage.path("output_tokens").asLong() : null;
            }
            case "turn.failed" -> failure = "codex: " + node.path("error").path("message").asText("turn failed");
            case "error" -> {
                String message = node.path("message").asText("error");
                failure = "codex: " + message;
                events.add(new AgentEvent.Error("codex: " + message));
            }
            default -> {
                // turn.started and future types carry nothing for the bot
            }
        }
        return events;
    }

    private static void itemStarted(JsonNode item, List<AgentEvent> events) {
        switch (item.path("type").asText("")) {
            case "command_execution" -> events.add(new AgentEvent.ToolUse(item.path("id").asText(null), "command_execution",
                    item.path("command").asText("")));
            case "file_change" -> events.add(new AgentEvent.ToolUse(item.path("id").asText(null), "file_change",
                    Json.write(item.path("changes"))));
            default -> {
            }
        }
    }

    private void itemCompleted(JsonNode item, List<AgentEvent> events) {
        String id = item.path("id").asText(null);
        switch (item.path("type").asText("")) {
            case "agent_message" -> {
                lastMessage = item.path("text").asText("");
                events.add(new AgentEvent.TextDelta(lastMessage));
                events.add(new AgentEvent.AssistantMessage(lastMessage));
            }
            case "command_execution" -> events.add(new AgentEvent.ToolResult(id, item.path("aggregated_output").asText(""),
                    item.hasNonNull("exit_code") && item.path("exit_code").asInt() != 0));
            case "file_change" -> events.add(new AgentEvent.ToolResult(id, Json.write(item.path("changes")),
                    "failed".equals(item.path("status").asText())));
            case "error" -> events.add(new AgentEvent.Error("codex: " + item.path("message").asText("")));
            default -> {
                // reasoning, todo lists and the like are not shown
            }
        }
    }
}
