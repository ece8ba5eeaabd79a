package io.deia.core.agent;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.internal.io.Json;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Reads the {@code codex app-server} notifications of one turn: {@code item/agentMessage/delta} →
 * {@link AgentEvent.TextDelta}; {@code item/completed} of an {@code agentMessage} →
 * {@link AgentEvent.AssistantMessage} (and the whole text as one delta when none streamed);
 * {@code commandExecution} and {@code fileChange} items → {@link AgentEvent.ToolUse} ({@code Bash},
 * {@code Edit}) when started and {@link AgentEvent.ToolResult} when completed (an error when declined
 * or failed); {@code thread/tokenUsage/updated} adds the last request's tokens; {@code error} without
 * a retry and {@code turn/completed} give how the turn ended. Notifications of other turns are
 * ignored. Used on one reader thread; the end is read from the agent's thread after {@link #ended()}.
 */
final class CodexTurnEvents {
    private volatile String turnId;
    private final StringBuilder streamed = new StringBuilder();
    private final Set<String> itemsWithDeltas = ConcurrentHashMap.newKeySet();
    /** Paths of the file changes seen in this turn, by item id: the approval request names only the item. */
    private final Map<String, List<String>> changePaths = new ConcurrentHashMap<>();
    private volatile String lastMessage = "";
    private volatile String status;
    private volatile String error;
    private long inputTokens;
    private long outputTokens;
    private boolean sawUsage;

    /** @param turnId the turn's id when known (from {@code turn/start}'s answer), else null until {@code turn/started} */
    CodexTurnEvents(String turnId) {
        this.turnId = turnId;
    }

    /** Binds the turn id once {@code turn/start} answered. */
    void turnId(String id) {
        if (turnId == null) {
            turnId = id;
        }
    }

    String turnId() {
        return turnId;
    }

    /** The events in one notification. */
    List<AgentEvent> read(String method, JsonNode params) {
        List<AgentEvent> events = new ArrayList<>(2);
        String tid = params.path("turnId").asText(params.path("turn").path("id").asText(null));
        if (tid != null && turnId != null && !tid.equals(turnId)) {
            return events;
        }
        switch (method) {
            case "turn/started" -> turnId(params.path("turn").path("id").asText(null));
            case "item/agentMessage/delta" -> {
                String delta = params.path("delta").asText("");
                itemsWithDeltas.add(params.path("itemId").asText(""));
                synchronized (streamed) {
                    streamed.append(delta);
                }
                events.add(new AgentEvent.TextDelta(delta));
            }
            case "item/started" -> started(params.path("item"), events);
            case "item/completed" -> completed(params.path("item"), events);
            case "thread/tokenUsage/updated" -> usage(params.path("tokenUsage").path("last"));
            case "error" -> {
                if (!params.path("willRetry").asBoolean(false)) {
                    String message = "codex: " + params.path("error").path("message").asText("error");
                    error = message;
                    events.add(new AgentEvent.Error(message));
                }
            }
            case "turn/completed" -> {
                JsonNode turn = params.path("turn");
                if (turn.path("error").hasNonNull("message")) {
                    error = "codex: " + turn.path("error").path("message").asText();
                }
                status = turn.path("status").asText("failed");
            }
            default -> {
                // reasoning, plans, diffs, rate limits and the like carry nothing for the bot
            }
        }
        return events;
    }

    private void started(JsonNode item, List<AgentEvent> events) {
        String id = item.path("id").asText(null);
        switch (item.path("type").asText("")) {
            case "commandExecution" -> events.add(new AgentEvent.ToolUse(id, "Bash", item.path("command").asText("")));
            case "fileChange" -> {
                List<String> paths = new ArrayList<>();
                item.path("changes").forEach(c -> paths.add(c.path("path").asText("")));
                if (id != null) {
                    changePaths.put(id, paths);
                }
                events.add(new AgentEvent.ToolUse(id, "Edit", Json.write(item.path("changes"))));
            }
            default -> {
            }
        }
    }

    private void completed(JsonNode item, List<AgentEvent> events) {
        String id = item.path("id").asText(null);
        String itemStatus = item.path("status").asText("");
        boolean refused = "declined".equals(itemStatus) || "failed".equals(itemStatus);
        switch (item.path("type").asText("")) {
            case "agentMessage" -> {
                String text = item.path("text").asText("");
                lastMessage = text;
                if (!itemsWithDeltas.contains(id == null ? "" : id)) {
                    events.add(new AgentEvent.TextDelta(text));
                }
                events.add(new AgentEvent.AssistantMessage(text));
            }
            case "commandExecution" -> events.add(new AgentEvent.ToolResult(id, item.path("aggregatedOutput").asText(
                    "declined".equals(itemStatus) ? "declined" : ""),
                    refused || item.hasNonNull("exitCode") && item.path("exitCode").asInt() != 0));
            case "fileChange" -> events.add(new AgentEvent.ToolResult(id, "declined".equals(itemStatus) ? "declined"
                    : Json.write(item.path("changes")), refused));
            default -> {
                // user messages, reasoning and the like are not shown
            }
        }
    }

    private synchronized void usage(JsonNode last) {
        if (last.isObject()) {
            sawUsage = true;
            inputTokens += last.path("inputTokens").asLong();
            outputTokens += last.path("outputTokens").asLong();
        }
    }

    /** The paths of file change {@code itemId}, as its {@code item/started} named them. */
    List<String> changePaths(String itemId) {
        return changePaths.getOrDefault(itemId, List.of());
    }

    /** Whether {@code turn/completed} arrived. */
    boolean ended() {
        return status != null;
    }

    /** The turn's status as Codex reported it ({@code completed}, {@code interrupted}, {@code failed}), or null. */
    String status() {
        return status;
    }

    /** Why the turn failed, when Codex said so. */
    String error() {
        return error;
    }

    /** The reply: the last agent message, else what streamed. */
    String text() {
        if (!lastMessage.isEmpty()) {
            return lastMessage;
        }
        synchronized (streamed) {
            return streamed.toString();
        }
    }

    synchronized Long inputTokens() {
        return sawUsage ? inputTokens : null;
    }

    synchronized Long outputTokens() {
        return sawUsage ? outputTokens : null;
    }
}
