package io.deia.core.testkit;

import com.fasterxml.jackson.databind.JsonNode;
import com.sun.net.httpserver.HttpExchange;

import java.io.IOException;
import java.io.OutputStream;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A scripted stand-in for the Anthropic Messages API, good enough for the real Claude Code CLI
 * ({@code ANTHROPIC_BASE_URL=baseUrl()}). It answers {@code HEAD /} and
 * {@code POST /v1/messages?beta=true} with a streamed (SSE) reply chosen by the text of the last
 * user message:
 * <ul>
 *   <li>{@code WRITE_FILE <absolute path>}: a {@code Write} tool call creating that file with
 *       {@value #FILE_CONTENT}; once the tool result comes back, the text {@code Done: wrote <name>.}</li>
 *   <li>{@code RUN_BASH <command>} (the rest of the line): a {@code Bash} tool call running that
 *       command; once the tool result comes back, {@code Ran it: <result>}</li>
 *   <li>after a tool result marked as an error (a denied call): {@code Tool refused: <result>}</li>
 *   <li>{@code SLOW}: {@code tick } deltas every 100 ms for a minute (for interrupt tests)</li>
 *   <li>{@code ERROR_500} / {@code ERROR_401}: that HTTP error with an Anthropic error body</li>
 *   <li>anything else: {@code Hi from the fake model! You said: <text>}, streamed word by word</li>
 * </ul>
 * Every request is recorded, so a test can check what history reached the server.
 */
public final class FakeAnthropicServer extends FakeVendorServer {
    public static final String FILE_CONTENT = "hello from fake model\n";
    private static final Pattern WRITE = Pattern.compile("WRITE_FILE (\\S+)");
    private static final Pattern BASH = Pattern.compile("RUN_BASH ([^\\n]+)");

    @Override
    protected void handle(RecordedRequest req, HttpExchange ex) throws IOException {
        if (req.method().equals("HEAD")) {
            sendEmpty(ex, 200);
            return;
        }
        if (req.method().equals("POST") && req.path().equals("/v1/messages/count_tokens")) {
            sendJson(ex, 200, map("input_tokens", 10));
            return;
        }
        if (!req.method().equals("POST") || !req.path().equals("/v1/messages")) {
            sendJson(ex, 404, error("not_found_error", "no route " + req.path()));
            return;
        }
        JsonNode body = req.json();
        String model = body.path("model").asText("claude-sonnet-4-5");
        JsonNode last = lastUserMessage(body);
        String text = lastTextBlock(last);
        boolean toolResult = hasToolResult(last);
        if (text.contains("ERROR_500")) {
            sendJson(ex, 500, error("api_error", "scripted internal server error"));
            return;
        }
        if (text.contains("ERROR_401")) {
            sendJson(ex, 401, error("authentication_error", "invalid x-api-key"));
            return;
        }
        OutputStream out = startSse(ex);
        String id = "msg_" + UUID.randomUUID().toString().replace("-", "");
        sse(out, "message_start", map("type", "message_start", "message", map("id", id, "type", "message", "role", "assistant",
                "model", model, "content", List.of(), "stop_reason", null, "stop_sequence", null,
                "usage", map("input_tokens", 10, "output_tokens", 1, "cache_creation_input_tokens", 0, "cache_read_input_tokens", 0))));
        Matcher write = WRITE.matcher(text);
        Matcher bash = BASH.matcher(text);
        if (write.find() && !toolResult) {
            textBlock(out, 0, "I'll write the file.", 0);
            toolUse(out, "Write", map("file_path", write.group(1), "content", FILE_CONTENT));
            return;
        }
        if (bash.find() && !toolResult) {
            textBlock(out, 0, "I'll run it.", 0);
            toolUse(out, "Bash", map("command", bash.group(1).strip(), "description", "Run the requested command"));
            return;
        }
        JsonNode result = toolResult(last);
        if (result != null && result.path("is_error").asBoolean(false)) {
            textBlock(out, 0, "Tool refused: " + contentText(result.path("content")), 0);
        } else if (result != null && "Bash".equals(lastToolName(body))) {
            textBlock(out, 0, "Ran it: " + contentText(result.path("content")).strip(), 0);
        } else if (toolResult) {
            Matcher m = WRITE.matcher(allUserText(body));
            String name = m.find() ? m.group(1).substring(m.group(1).lastIndexOf('/') + 1) : "the file";
            textBlock(out, 0, "Done: wrote " + name + ".", 0);
        } else if (text.contains("SLOW")) {
            textBlock(out, 0, "tick ".repeat(600), 100);
        } else {
            textBlock(out, 0, "Hi from the fake model! You said: " + text.strip(), 0);
        }
        end(out, "end_turn");
    }

    private static void textBlock(OutputStream out, int index, String text, long pauseMs) throws IOException {
        sse(out, "content_block_start", map("type", "content_block_start", "index", index, "content_block", map("type", "text", "text", "")));
        for (String chunk : chunks(text)) {
            sse(out, "content_block_delta", map("type", "content_block_delta", "index", index,
                    "delta", map("type", "text_delta", "text", chunk)));
            if (pauseMs > 0) {
                try {
                    Thread.sleep(pauseMs);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IOException("server stopping", e);
                }
            }
        }
        sse(out, "content_block_stop", map("type", "content_block_stop", "index", index));
    }

    /** A tool_use block at index 1 whose input arrives as one JSON delta; ends the message with {@code tool_use}. */
    private static void toolUse(OutputStream out, String name, Map<String, Object> input) throws IOException {
        sse(out, "content_block_start", map("type", "content_block_start", "index", 1, "content_block",
                map("type", "tool_use", "id", "toolu_" + UUID.randomUUID().toString().replace("-", ""), "name", name, "input", Map.of())));
        sse(out, "content_block_delta", map("type", "content_block_delta", "index", 1,
                "delta", map("type", "input_json_delta", "partial_json", MAPPER.writeValueAsString(input))));
        sse(out, "content_block_stop", map("type", "content_block_stop", "index", 1));
        end(out, "tool_use");
    }

    private static void end(OutputStream out, String stopReason) throws IOException {
        sse(out, "message_delta", map("type", "message_delta", "delta", map("stop_reason", stopReason, "stop_sequence", null),
                "usage", map("output_tokens", 5)));
        sse(out, "message_stop", map("type", "message_stop"));
    }

    private static Map<String, Object> error(String type, String message) {
        return map("type", "error", "error", map("type", type, "message", message));
    }

    private static JsonNode lastUserMessage(JsonNode body) {
        JsonNode messages = body.path("messages");
        for (int i = messages.size() - 1; i >= 0; i--) {
            if ("user".equals(messages.get(i).path("role").asText())) {
                return messages.get(i);
            }
        }
        return MAPPER.missingNode();
    }

    /** The text blocks of a message (content may be a string or a list of blocks). */
    static String userText(JsonNode message) {
        JsonNode content = message.path("content");
        if (content.isTextual()) {
            return content.asText();
        }
        StringBuilder sb = new StringBuilder();
        for (JsonNode block : content) {
            if ("text".equals(block.path("type").asText()) && !block.path("text").asText().startsWith("<system-reminder>")) {
                sb.append(block.path("text").asText()).append('\n');
            }
        }
        return sb.toString();
    }

    /** The newest text block: after an error or an interrupt the CLI merges prompts into one user message. */
    private static String lastTextBlock(JsonNode message) {
        JsonNode content = message.path("content");
        if (content.isTextual()) {
            return content.asText();
        }
        String last = "";
        for (JsonNode block : content) {
            String t = block.path("text").asText("");
            if ("text".equals(block.path("type").asText()) && !t.startsWith("<system-reminder>")) {
                last = t;
            }
        }
        return last;
    }

    /** The name of the newest tool_use block the model sent in this conversation, or null. */
    private static String lastToolName(JsonNode body) {
        String name = null;
        for (JsonNode m : body.path("messages")) {
            for (JsonNode block : m.path("content")) {
                if ("tool_use".equals(block.path("type").asText())) {
                    name = block.path("name").asText();
                }
            }
        }
        return name;
    }

    /** The message's first tool_result block, or null. */
    private static JsonNode toolResult(JsonNode message) {
        for (JsonNode block : message.path("content")) {
            if ("tool_result".equals(block.path("type").asText())) {
                return block;
            }
        }
        return null;
    }

    private static String contentText(JsonNode content) {
        if (content.isTextual()) {
            return content.asText();
        }
        StringBuilder sb = new StringBuilder();
        for (JsonNode part : content) {
            sb.append(part.path("text").asText(""));
        }
        return sb.toString();
    }

    private static boolean hasToolResult(JsonNode message) {
        for (JsonNode block : message.path("content")) {
            if ("tool_result".equals(block.path("type").asText())) {
                return true;
            }
        }
        return false;
    }

    private static String allUserText(JsonNode body) {
        StringBuilder sb = new StringBuilder();
        for (JsonNode m : body.path("messages")) {
            if ("user".equals(m.path("role").asText())) {
                sb.append(userText(m));
            }
        }
        return sb.toString();
    }

    /** All user text of every recorded Messages request, for asserting that history reached the server. */
    public String lastRequestUserText() {
        List<RecordedRequest> posts = requests("/v1/messages");
        return posts.isEmpty() ? "" : allUserText(posts.get(posts.size() - 1).json());
    }
}
