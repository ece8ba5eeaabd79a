package io.deia.core.testkit;

import com.fasterxml.jackson.databind.JsonNode;
import com.sun.net.httpserver.HttpExchange;

import java.io.IOException;
import java.io.OutputStream;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A scripted stand-in for the OpenAI Responses API ({@code POST /v1/responses}, SSE ending with
 * {@code response.completed}) for the real Codex CLI. By the newest user text: {@code WRITE_FILE
 * <absolute path>} calls Codex's shell tool to create the file with {@value #FILE_CONTENT}, then
 * says {@code Done: wrote <name>.} once the tool output comes back; anything else gets
 * {@code Hi from the fake model! You said: <text>}.
 */
public final class FakeOpenAiResponsesServer extends FakeVendorServer {
    public static final String FILE_CONTENT = "hello from fake model";
    private static final Pattern WRITE = Pattern.compile("WRITE_FILE (\\S+)");

    @Override
    protected void handle(RecordedRequest req, HttpExchange ex) throws IOException {
        if (!req.method().equals("POST") || !req.path().endsWith("/responses")) {
            sendJson(ex, 404, map("error", map("message", "no route " + req.path())));
            return;
        }
        JsonNode body = req.json();
        JsonNode input = body.path("input");
        String lastUser = "";
        boolean toolOutput = false;
        for (JsonNode item : input) {
            if ("user".equals(item.path("role").asText())) {
                for (JsonNode c : item.path("content")) {
                    if (c.has("text")) {
                        lastUser = c.path("text").asText();
                    }
                }
                toolOutput = false;
            } else if (item.path("type").asText().endsWith("function_call_output") || item.path("type").asText().endsWith("call_output")) {
                toolOutput = true;
            }
        }
        OutputStream out = startSse(ex);
        sse(out, "response.created", map("type", "response.created", "response", map("id", "resp_1", "status", "in_progress", "output", List.of())));
        Matcher w = WRITE.matcher(lastUser);
        Object item;
        if (w.find() && !toolOutput) {
            String path = w.group(1);
            String cmd = "printf '" + FILE_CONTENT + "' > " + path;
            String tool = shellTool(body);
            String args = switch (tool) {
                case "exec_command" -> MAPPER.writeValueAsString(map("cmd", cmd));
                case "shell_command" -> MAPPER.writeValueAsString(map("command", cmd));
                default -> MAPPER.writeValueAsString(map("command", List.of("bash", "-lc", cmd)));
            };
            item = map("type", "function_call", "id", "fc_1", "call_id", "call_1", "name", tool, "arguments", args, "status", "completed");
        } else {
            String text = toolOutput ? "Done: wrote " + (w.find(0) ? w.group(1).substring(w.group(1).lastIndexOf('/') + 1) : "it") + "."
                    : "Hi from the fake model! You said: " + lastUser.strip();
            for (String chunk : chunks(text)) {
                sse(out, "response.output_text.delta", map("type", "response.output_text.delta", "item_id", "msg_1",
                        "output_index", 0, "content_index", 0, "delta", chunk));
            }
            item = map("type", "message", "id", "msg_1", "role", "assistant", "status", "completed",
                    "content", List.of(map("type", "output_text", "text", text, "annotations", List.of())));
        }
        sse(out, "response.output_item.done", map("type", "response.output_item.done", "output_index", 0, "item", item));
        sse(out, "response.completed", map("type", "response.completed", "response", map("id", "resp_1", "status", "completed",
                "output", List.of(item), "usage", map("input_tokens", 10, "input_tokens_details", map("cached_tokens", 0),
                        "output_tokens", 5, "output_tokens_details", map("reasoning_tokens", 0), "total_tokens", 15))));
    }

    private static String shellTool(JsonNode body) {
        for (String name : List.of("shell_command", "exec_command", "shell")) {
            for (JsonNode t : body.path("tools")) {
                if (name.equals(t.path("name").asText())) {
                    return name;
                }
            }
        }
        return "shell";
    }

    /** Names of the tools Codex offered in its last request (for diagnosing a failed tool call). */
    public List<String> offeredTools() {
        List<RecordedRequest> r = requests();
        if (r.isEmpty()) {
            return List.of();
        }
        List<String> names = new java.util.ArrayList<>();
        r.get(r.size() - 1).json().path("tools").forEach(t -> names.add(t.path("name").asText(t.path("type").asText())));
        return names;
    }

}
