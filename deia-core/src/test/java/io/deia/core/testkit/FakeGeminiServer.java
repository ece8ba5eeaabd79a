package io.deia.core.testkit;

import com.fasterxml.jackson.databind.JsonNode;
import com.sun.net.httpserver.HttpExchange;

import java.io.IOException;
import java.io.OutputStream;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A scripted stand-in for the Gemini API ({@code POST /v1beta/models/<model>:streamGenerateContent?alt=sse})
 * for the real Gemini CLI ({@code GOOGLE_GEMINI_BASE_URL=baseUrl()}). By the newest user text:
 * {@code WRITE_FILE <absolute path>} calls the {@code write_file} tool with {@value #FILE_CONTENT},
 * then says {@code Done: wrote <name>.} once the function response comes back; anything else gets
 * {@code Hi from the fake model! You said: <text>}.
 */
public final class FakeGeminiServer extends FakeVendorServer {
    public static final String FILE_CONTENT = "hello from fake model\n";
    private static final Pattern WRITE = Pattern.compile("WRITE_FILE (\\S+)");

    @Override
    protected void handle(RecordedRequest req, HttpExchange ex) throws IOException {
        if (!req.method().equals("POST") || !req.path().contains(":")) {
            sendJson(ex, 404, map("error", map("code", 404, "message", "no route " + req.path())));
            return;
        }
        if (req.path().endsWith(":countTokens")) {
            sendJson(ex, 200, map("totalTokens", 10));
            return;
        }
        JsonNode contents = req.json().path("contents");
        String lastUser = "";
        boolean functionResponse = false;
        for (JsonNode c : contents) {
            if ("user".equals(c.path("role").asText())) {
                for (JsonNode part : c.path("parts")) {
                    if (part.has("text")) {
                        lastUser = part.path("text").asText();
                        functionResponse = false;
                    }
                    if (part.has("functionResponse")) {
                        functionResponse = true;
                    }
                }
            }
        }
        Matcher w = WRITE.matcher(lastUser);
        List<Object> parts;
        if (w.find() && !functionResponse) {
            parts = List.of(map("functionCall", map("name", "write_file", "args", map("file_path", w.group(1), "content", FILE_CONTENT))));
        } else {
            String text = functionResponse ? "Done: wrote " + w.group(1).substring(w.group(1).lastIndexOf('/') + 1) + "."
                    : "Hi from the fake model! You said: " + lastUser.strip();
            parts = chunks(text).stream().map(t -> (Object) map("text", t)).toList();
        }
        boolean stream = req.path().endsWith(":streamGenerateContent");
        if (!stream) {
            sendJson(ex, 200, chunk(parts, true));
            return;
        }
        OutputStream out = startSse(ex);
        for (int i = 0; i < parts.size(); i++) {
            sse(out, null, chunk(List.of(parts.get(i)), i == parts.size() - 1));
        }
    }

    private static Object chunk(List<Object> parts, boolean last) {
        var candidate = map("content", map("role", "model", "parts", parts), "index", 0);
        if (last) {
            candidate.put("finishReason", "STOP");
        }
        return map("candidates", List.of(candidate), "usageMetadata", map("promptTokenCount", 10, "candidatesTokenCount", 5,
                "totalTokenCount", 15), "modelVersion", "gemini-2.5-flash");
    }
}
