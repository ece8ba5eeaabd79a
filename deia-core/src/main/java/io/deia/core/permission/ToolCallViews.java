package io.deia.core.permission;

import io.deia.core.internal.io.Json;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** How a {@link ToolCall} is shown to people ({@link PermissionRequest}) and what of it the deny patterns read. */
final class ToolCallViews {
    private ToolCallViews() {
    }

    /** The request as people see it: the input as JSON text cut to {@link PermissionBroker#MAX_INPUT_BYTES}, a bounded summary. */
    static PermissionRequest request(String id, String taskId, ToolCall call, Instant now, Duration timeout) {
        String json = inputJson(call);
        String shown = cut(json, PermissionBroker.MAX_INPUT_BYTES);
        String summary = call.subject().isBlank() ? call.tool() : call.subject();
        if (summary.length() > PermissionBroker.MAX_SUMMARY_CHARS) {
            summary = summary.substring(0, PermissionBroker.MAX_SUMMARY_CHARS - 1) + "…";
        }
        return new PermissionRequest(id, taskId, call.tool(), shown, shown.length() < json.length() ? Boolean.TRUE : null,
                summary, call.suggestions(), now, now.plus(timeout));
    }

    /**
     * The texts the deny patterns are matched against: the subject and every string (key or value)
     * of the whole input. The input's own strings, not its JSON text: escaping would hide
     * {@code "\nsudo"} from a {@code \bsudo} pattern.
     */
    static List<String> texts(ToolCall call) {
        List<String> texts = new ArrayList<>();
        texts.add(call.subject());
        collectStrings(call.input(), texts, 0);
        return texts;
    }

    private static void collectStrings(Object value, List<String> out, int depth) {
        if (depth > 64) {
            return;
        }
        if (value instanceof CharSequence text) {
            out.add(text.toString());
        } else if (value instanceof Map<?, ?> map) {
            map.forEach((k, v) -> {
                collectStrings(k, out, depth + 1);
                collectStrings(v, out, depth + 1);
            });
        } else if (value instanceof Iterable<?> items) {
            items.forEach(v -> collectStrings(v, out, depth + 1));
        } else if (value != null) {
            out.add(String.valueOf(value));
        }
    }

    private static String inputJson(ToolCall call) {
        try {
            return Json.write(call.input());
        } catch (RuntimeException e) {
            return String.valueOf(call.input());
        }
    }

    /** The longest prefix of {@code text} (whole code points) that fits in {@code maxBytes} of UTF-8. */
    static String cut(String text, int maxBytes) {
        if (text.length() * 3L <= maxBytes || text.getBytes(StandardCharsets.UTF_8).length <= maxBytes) {
            return text;
        }
        int bytes = 0;
        int i = 0;
        while (i < text.length()) {
            int cp = text.codePointAt(i);
            int len = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
            if (bytes + len > maxBytes) {
                break;
            }
            bytes += len;
            i += Character.charCount(cp);
        }
        return text.substring(0, i);
    }
}
