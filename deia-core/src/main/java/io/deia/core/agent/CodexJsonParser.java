package io.deia.core.agent;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.internal.io.Json;

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
final class CodexJsonParser extends TurnOutput.Parser {
    private String lastMessage = "";
    private boolean completed;

    CodexJsonParser(String botId) {
        super(botId, "codex");
    }

    /** The last agent message: Codex's final answer of the turn. */
    @Override
    String text() {
        return lastMessage;
    }

    /** {@code turn.completed} was seen, and no failure. */
    @Override
    boolean succeeded() {
        return completed && error == null;
    }

    @Override
    void event(String type, JsonNode node, List<AgentEvent> events) {
        switch (type) {
            case "thread.started" -> sessionId = node.path("thread_id").asText(null);
            case "item.started" -> itemStarted(node.path("item"), events);
            case "item.completed" -> itemCompleted(node.path("item"), events);
            case "turn.completed" -> {
                completed = true;
                tokens(node.path("usage"));
            }
            case "turn.failed" -> error = "codex: " + node.path("error").path("message").asText("turn failed");
            case "error" -> {
                String message = node.path("message").asText("error");
                error = "codex: " + message;
                events.add(new AgentEvent.Error("codex: " + message));
            }
            default -> {
                // turn.started and future types carry nothing for the bot
            }
        }
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
