package io.deia.core.internal.io;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;
import io.deia.core.chat.ChatRequest;
import io.deia.core.chat.HistoryStore;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Log escaping, strict parsing of outside JSON and the one chat-request validator. */
class InputHardeningTest {

    @Test
    void printableEscapesEveryControlCharacterThatCouldForgeOrRecolourALogLine() {
        String forged = "a.md\n2026-01-01 [main] INFO forged line\r\u001b[31mred\u001b]0;title\u0007\u009b2J\u2028\u202e";
        String safe = LogSafe.printable(forged);
        assertEquals("a.md\\u000a2026-01-01 [main] INFO forged line\\u000d\\u001b[31mred\\u001b]0;title\\u0007\\u009b2J"
                + "\\u2028\\u202e", safe);
        for (char c : safe.toCharArray()) {
            assertTrue(c >= 0x20 && c < 0x7f, "left a control character: " + (int) c);
        }
        String plain = "T-1 ünïcödé 日本 fine";
        assertSame(plain, LogSafe.printable(plain), "printable text is returned as it is");
        assertEquals("null", LogSafe.printable(null));
        assertEquals("abc…", LogSafe.printable("abcdef", 3));
        assertEquals(LogSafe.DEFAULT_MAX + 1, LogSafe.printable("x".repeat(1000)).length());
        assertFalse(LogSafe.isPrintable("x\u0085"));
    }

    @Test
    void strictParsingRefusesTrailingContentAndDuplicateKeysWhileFilesStayReadable() {
        assertEquals("ok", Json.readStrict("{\"text\":\"ok\"}", JsonNode.class, "body").path("text").asText());
        assertEquals("ok", Json.readStrict("  {\"text\":\"ok\"}\n", JsonNode.class, "body").path("text").asText(), "whitespace is not content");
        for (String bad : new String[] {"{\"text\":\"ok\"} junk", "{\"text\":\"a\"}{\"text\":\"b\"}", "{\"a\":1} 2",
                "{\"text\":\"a\",\"text\":\"b\"}", "{\"o\":{\"k\":1,\"k\":2}}"}) {
            DeiaException e = assertThrows(DeiaException.class, () -> Json.readStrict(bad, JsonNode.class, "request body"), bad);
            assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
            assertTrue(e.getMessage().startsWith("request body is not valid JSON"), e.getMessage());
        }
        assertTrue(Json.readStrict("{\"a\":1} junk".substring(0, 7), JsonNode.class, "x").isObject());
        // What deia writes itself reads back strictly too (no duplicates, nothing after the value).
        JsonNode again = Json.readStrict(Json.writePretty(Map.of("bot_id", "BOT-1", "port", 8101)), JsonNode.class, "pretty file");
        assertEquals("BOT-1", again.path("bot_id").asText());
        String line = Json.write(new HistoryStore.Entry(1, java.time.Instant.now(), "user", "hi", "c1", null));
        assertEquals("hi", Json.readStrict(line, JsonNode.class, "history line").path("text").asText());
        // The lenient reader for files is unchanged.
        assertEquals(2, Json.read("{\"k\":1,\"k\":2}", JsonNode.class, "file").path("k").asInt());
    }

    @Test
    void chatRequestIsValidatedTheSameForEveryCaller() {
        ChatRequest ok = ChatRequest.fromJson(Json.readStrict("{\"text\":\"hi\",\"client_msg_id\":\"c-1 ok\"}", Map.class, "b"));
        assertEquals(new ChatRequest("hi", "c-1 ok"), ok);
        assertNull(ChatRequest.fromJson(Json.readStrict("{\"text\":\"hi\",\"client_msg_id\":null}", Map.class, "b")).clientMsgId());
        assertNull(ChatRequest.fromJson(Json.readStrict("{\"text\":\"hi\",\"client_msg_id\":\"\"}", Map.class, "b")).clientMsgId());
        Map<String, String> refused = Map.of(
                "{\"text\":\"hi\",\"client_msg_id\":42}", "field 'client_msg_id' must be a string",
                "{\"text\":\"hi\",\"client_msg_id\":[\"x\"]}", "field 'client_msg_id' must be a string",
                "{\"text\":\"hi\",\"client_msg_id\":\"a\\nINFO forged\"}", "client_msg_id may hold printable ASCII only",
                "{\"text\":\"hi\",\"client_msg_id\":\"\\u001b]0;x\\u0007\"}", "client_msg_id may hold printable ASCII only",
                "{\"text\":\"hi\",\"client_msg_id\":\"caf\u00e9\"}", "client_msg_id may hold printable ASCII only",
                "{\"text\":\"hi\",\"client_msg_id\":\"" + "x".repeat(129) + "\"}", "at most 128 are allowed",
                "{\"text\":7}", "field 'text' must be a string",
                "{\"client_msg_id\":\"c\"}", "field 'text' is required");
        refused.forEach((body, why) -> {
            DeiaException e = assertThrows(DeiaException.class, () -> ChatRequest.fromJson(Json.readStrict(body, Map.class, "b")), body);
            assertEquals(ErrorCode.INVALID_ARGUMENT, e.code(), body);
            assertTrue(e.getMessage().contains(why), body + " -> " + e.getMessage());
        });
        assertThrows(DeiaException.class, () -> ChatRequest.fromJson(Json.readStrict("[1]", Map.class, "b")));
    }
}
