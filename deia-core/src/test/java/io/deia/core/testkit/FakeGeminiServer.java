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
 * <ul>
 *   <li>{@code WRITE_FILE <absolute path>} calls the {@code write_file} tool with {@value #FILE_CONTENT},
 *       then says {@code Done: wrote <name>.} once the function response comes back, or
 *       {@code Refused: <error>} when the tool did not run;</li>
 *   <li>{@code RUN_BASH <command>} (the rest of the line) calls {@code run_shell_command}, then says
 *       {@code Done: ran it.} or {@code Refused: <error>};</li>
 *   <li>{@code HOLD} streams {@value #HOLD_TEXT} and then keeps the stream open (keep-alive comments)
 *       for up to a minute, until the CLI hangs up: a turn to interrupt;</li>
 *   <li>anything else gets {@code Hi from the fake model! You said: <text>}.</li>
 * </ul>
 */
public final class FakeGeminiServer extends FakeVendorServer {
    public static final String FILE_CONTENT = "hello from fake model\n";
    public static final String HOLD_TEXT = "Thinking about it...";
    private static final Pattern WRITE = Pattern.compile("WRITE_FILE (\\S+)");
    private static final Pattern BASH = Pattern.compile("RUN_BASH ([^\\n]+)");

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
        JsonNode functionResponse = null;
        for (JsonNode c : contents) {
            if ("user".equals(c.path("role").asText())) {
                for (JsonNode part : c.path("parts")) {
                    if (part.has("text")) {
                        lastUser = part.path("text").asText();
                        functionResponse = null;
                    }
                    if (part.has("functionResponse")) {
                        functionResponse = part.path("functionResponse").path("response");
                    }
                }
            }
        }
        Matcher w = WRITE.matcher(lastUser);
        Matcher b = BASH.matcher(lastUser);
        List<Object> parts;
        if (functionResponse != null) {
            String text = functionResponse.has("error") ? "Refused: " + functionResponse.path("error").asText()
                    : w.find() ? "Done: wrote " + w.group(1).substring(w.group(1).lastIndexOf('/') + 1) + "." : "Done: ran it.";
            parts = chunks(text).stream().map(t -> (Object) map("text", t)).toList();
        } else if (w.find()) {
            parts = List.of(map("functionCall", map("name", "write_file", "args", map("file_path", w.group(1), "content", FILE_CONTENT))));
        } else if (b.find()) {
            parts = List.of(map("functionCall", map("name", "run_shell_command", "args", map("command", b.group(1).strip()))));
        } else if (lastUser.strip().equals("HOLD")) {
            hold(ex);
            return;
        } else {
            parts = chunks("Hi from the fake model! You said: " + lastUser.strip()).stream().map(t -> (Object) map("text", t)).toList();
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

    /** Streams {@link #HOLD_TEXT} and keeps the stream open until the client hangs up (a minute at most). */
    private static void hold(HttpExchange ex) throws IOException {
        OutputStream out = startSse(ex);
        sse(out, null, chunk(List.of(map("text", HOLD_TEXT)), false));
        long end = System.nanoTime() + 60_000_000_000L;
        while (System.nanoTime() < end) {
            try {
                Thread.sleep(200);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
            out.write(":\n\n".getBytes(java.nio.charset.StandardCharsets.UTF_8));
            out.flush();
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
