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
 * says {@code Done: wrote <name>.} once the tool output comes back; {@code RUN <command>} calls the
 * shell tool with the command and {@code PATCH_FILE <absolute path>} calls the {@code apply_patch}
 * tool to add the file with {@value #FILE_CONTENT}, both then answering {@code Tool said: <output>}
 * (so a test sees what the agent was told, e.g. that a person declined); anything else gets
 * {@code Hi from the fake model! You said: <text>}, streamed in deltas.
 */
public final class FakeOpenAiResponsesServer extends FakeVendorServer {
    public static final String FILE_CONTENT = "hello from fake model";
    private static final Pattern WRITE = Pattern.compile("WRITE_FILE (\\S+)");
    private static final Pattern RUN = Pattern.compile("^RUN (.+)$", Pattern.DOTALL);
    private static final Pattern PATCH = Pattern.compile("PATCH_FILE (\\S+)");

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
        String lastOutput = "";
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
                JsonNode o = item.path("output");
                lastOutput = o.isTextual() ? o.asText() : o.toString();
            }
        }
        OutputStream out = startSse(ex);
        sse(out, "response.created", map("type", "response.created", "response", map("id", "resp_1", "status", "in_progress", "output", List.of())));
        Matcher w = WRITE.matcher(lastUser);
        Matcher run = RUN.matcher(lastUser.strip());
        Matcher patch = PATCH.matcher(lastUser);
        boolean scripted = run.find() || patch.find();
        Object item;
        if (scripted && toolOutput) {
            item = message(out, "Tool said: " + lastOutput.strip());
        } else if (patch.find(0)) {
            String diff = "*** Begin Patch\n*** Add File: " + patch.group(1) + "\n+" + FILE_CONTENT + "\n*** End Patch\n";
            item = map("type", "custom_tool_call", "id", "ct_1", "call_id", "call_2", "name", "apply_patch", "input", diff,
                    "status", "completed");
        } else if ((w.find(0) || run.find(0)) && !toolOutput) {
            String cmd = run.find(0) ? run.group(1) : "printf '" + FILE_CONTENT + "' > " + w.group(1);
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
            item = message(out, text);
        }
        sse(out, "response.output_item.done", map("type", "response.output_item.done", "output_index", 0, "item", item));
        sse(out, "response.completed", map("type", "response.completed", "response", map("id", "resp_1", "status", "completed",
                "output", List.of(item), "usage", map("input_tokens", 10, "input_tokens_details", map("cached_tokens", 0),
                        "output_tokens", 5, "output_tokens_details", map("reasoning_tokens", 0), "total_tokens", 15))));
    }

    /** Streams {@code text} as an assistant message (added, deltas) and returns the finished item. */
    private Object message(OutputStream out, String text) throws IOException {
        sse(out, "response.output_item.added", map("type", "response.output_item.added", "output_index", 0, "item",
                map("type", "message", "id", "msg_1", "role", "assistant", "status", "in_progress", "content", List.of())));
        for (String chunk : chunks(text)) {
            sse(out, "response.output_text.delta", map("type", "response.output_text.delta", "item_id", "msg_1",
                    "output_index", 0, "content_index", 0, "delta", chunk));
        }
        return map("type", "message", "id", "msg_1", "role", "assistant", "status", "completed",
                "content", List.of(map("type", "output_text", "text", text, "annotations", List.of())));
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
