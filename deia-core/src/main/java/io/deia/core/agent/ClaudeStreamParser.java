package io.deia.core.agent;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.internal.io.Json;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;

/**
 * Reads Claude Code's {@code --output-format stream-json} lines into {@link AgentEvent}s:
 * {@code stream_event} text deltas → {@link AgentEvent.TextDelta}; {@code assistant} text and
 * tool_use blocks → {@link AgentEvent.AssistantMessage} / {@link AgentEvent.ToolUse}; {@code user}
 * tool_result blocks → {@link AgentEvent.ToolResult}; {@code control_request can_use_tool} →
 * {@link AgentEvent.PermissionRequest}; {@code system/api_retry} → {@link AgentEvent.Error};
 * {@code result} → {@link AgentEvent.Result}. {@code system/init} only sets the session id.
 * The control requests the CLI sends about permissions ({@code can_use_tool},
 * {@code control_cancel_request}) also go, whole, to a {@link Control} that answers them.
 * A line that is not JSON is logged and skipped. One parser per CLI process (not thread-safe).
 */
final class ClaudeStreamParser {
    private static final Logger log = LoggerFactory.getLogger(ClaudeStreamParser.class);

    /** Receives the CLI's permission control requests as they are read (on the stdout reader thread). */
    interface Control {
        /** {@code control_request can_use_tool}: {@code request} is its {@code request} object. */
        void canUseTool(String requestId, JsonNode request);

        /** {@code control_cancel_request}: the CLI no longer waits for an answer to {@code requestId}. */
        void cancelled(String requestId);
    }

    private static final Control NO_CONTROL = new Control() {
        @Override
        public void canUseTool(String requestId, JsonNode request) {
        }

        @Override
        public void cancelled(String requestId) {
        }
    };

    private final String botId;
    private final boolean deltasFromMessages;
    private final Control control;
    private String sessionId;
    private boolean sawInit;
    /** The process's running total of {@code total_cost_usd} so far: each result reports the sum, not its turn's share. */
    private double reportedTotalUsd;

    /**
     * @param deltasFromMessages also emit each assistant text block as a text delta (for when the
     *                           CLI runs without {@code --include-partial-messages})
     */
    ClaudeStreamParser(String botId, boolean deltasFromMessages) {
        this(botId, deltasFromMessages, NO_CONTROL);
    }

    /** A parser that also hands permission control requests to {@code control}. */
    ClaudeStreamParser(String botId, boolean deltasFromMessages, Control control) {
        this.botId = botId;
        this.deltasFromMessages = deltasFromMessages;
        this.control = control;
    }

    /** The session id reported by the CLI so far, or null. */
    String sessionId() {
        return sessionId;
    }

    /** Whether the CLI has announced its session ({@code system/init}). */
    boolean sawInit() {
        return sawInit;
    }

    /** The events in one stdout line; none for blank, malformed or uninteresting lines. */
    List<AgentEvent> parse(String line) {
        List<AgentEvent> events = new ArrayList<>(2);
        JsonNode node = StreamLines.object(botId, "claude", line);
        if (node == null) {
            return events;
        }
        String sid = node.path("session_id").asText(null);
        if (sid != null && !sid.isBlank()) {
            sessionId = sid;
        }
        switch (node.path("type").asText("")) {
            case "system" -> system(node, events);
            case "stream_event" -> streamEvent(node.path("event"), events);
            case "assistant" -> assistant(node.path("message"), events);
            case "user" -> user(node.path("message"), events);
            case "control_request" -> controlRequest(node, events);
            case "control_cancel_request" -> control.cancelled(node.path("request_id").asText(""));
            case "result" -> events.add(new AgentEvent.Result(result(node)));
            default -> {
                // control_response (our interrupt's acknowledgement) and future types carry nothing for the bot
            }
        }
        return events;
    }

    private void system(JsonNode node, List<AgentEvent> events) {
        String subtype = node.path("subtype").asText("");
        if (subtype.equals("init")) {
            sawInit = true;
            log.debug("[{}] claude session {} model {}", botId, sessionId, node.path("model").asText());
        } else if (subtype.equals("api_retry")) {
            events.add(new AgentEvent.Error("claude: model API request failed"
                    + (node.hasNonNull("error_status") ? " with status " + node.path("error_status").asText() : "")
                    + ", retrying (attempt " + node.path("attempt").asText("?") + " of " + node.path("max_retries").asText("?") + ")"));
        }
    }

    private static void streamEvent(JsonNode event, List<AgentEvent> events) {
        if ("content_block_delta".equals(event.path("type").asText())
                && "text_delta".equals(event.path("delta").path("type").asText())) {
            String text = event.path("delta").path("text").asText("");
            if (!text.isEmpty()) {
                events.add(new AgentEvent.TextDelta(text));
            }
        }
    }

    private void assistant(JsonNode message, List<AgentEvent> events) {
        for (JsonNode block : message.path("content")) {
            switch (block.path("type").asText("")) {
                case "text" -> {
                    String text = block.path("text").asText("");
                    if (deltasFromMessages && !text.isEmpty()) {
                        events.add(new AgentEvent.TextDelta(text));
                    }
                    events.add(new AgentEvent.AssistantMessage(text));
                }
                case "tool_use" -> events.add(new AgentEvent.ToolUse(block.path("id").asText(null),
                        block.path("name").asText(null), Json.write(block.path("input"))));
                default -> {
                    // thinking blocks and the like are not shown
                }
            }
        }
    }

    private static void user(JsonNode message, List<AgentEvent> events) {
        for (JsonNode block : message.path("content")) {
            if ("tool_result".equals(block.path("type").asText())) {
                events.add(new AgentEvent.ToolResult(block.path("tool_use_id").asText(null), contentText(block.path("content")),
                        block.path("is_error").asBoolean(false)));
            }
        }
    }

    private void controlRequest(JsonNode node, List<AgentEvent> events) {
        JsonNode request = node.path("request");
        if ("can_use_tool".equals(request.path("subtype").asText())) {
            events.add(new AgentEvent.PermissionRequest(node.path("request_id").asText(null),
                    request.path("tool_name").asText(null), Json.write(request.path("input"))));
            control.canUseTool(node.path("request_id").asText(""), request);
        }
    }

    private TurnResult result(JsonNode node) {
        boolean isError = node.path("is_error").asBoolean(false) || !"success".equals(node.path("subtype").asText("success"));
        String text = node.path("result").isTextual() ? node.path("result").asText() : "";
        String error = null;
        if (isError) {
            String status = node.path("api_error_status").isNull() || node.path("api_error_status").isMissingNode()
                    ? null : node.path("api_error_status").asText();
            String detail = !text.isBlank() ? text
                    : node.path("errors").isArray() && node.path("errors").size() > 0 ? node.path("errors").get(0).asText()
                    : node.path("subtype").asText("error");
            error = status != null ? "model API error " + status + ": " + detail : "claude: " + detail;
        }
        JsonNode usage = node.path("usage");
        return new TurnResult(isError ? TurnStatus.FAILED : TurnStatus.COMPLETED, isError ? "" : text, sessionId,
                turnCost(node),
                usage.hasNonNull("input_tokens") ? usage.path("input_tokens").asLong() : null,
                usage.hasNonNull("output_tokens") ? usage.path("output_tokens").asLong() : null,
                node.path("duration_ms").asLong(0), null, error);
    }

    /**
     * The cost of the turn a result ends: the CLI's {@code total_cost_usd} is the sum of every turn
     * of the process so far (a second turn with the same tokens reports twice the first's cost), so
     * the turn's share is the difference to the total seen before. A total lower than that (a counter
     * started afresh) is the turn's own.
     */
    private Double turnCost(JsonNode node) {
        if (!node.hasNonNull("total_cost_usd")) {
            return null;
        }
        double total = node.path("total_cost_usd").asDouble();
        double turn = total >= reportedTotalUsd ? total - reportedTotalUsd : total;
        reportedTotalUsd = total;
        return turn;
    }

    private static String contentText(JsonNode content) {
        if (content.isTextual()) {
            return content.asText();
        }
        StringBuilder sb = new StringBuilder();
        for (JsonNode part : content) {
            if (part.has("text")) {
                sb.append(part.path("text").asText());
            }
        }
        return sb.toString();
    }

}
