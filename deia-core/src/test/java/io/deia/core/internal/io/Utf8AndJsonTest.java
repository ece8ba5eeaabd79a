package io.deia.core.internal.io;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;
import io.deia.core.registry.BotRecord;
import io.deia.core.registry.BotState;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.time.Instant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class Utf8AndJsonTest {
    @Test
    void utf8DecodesStrictlyAndNamesTheOffset() {
        assertEquals("grüße ✓", Utf8.decodeStrict("grüße ✓".getBytes(StandardCharsets.UTF_8), "x"));
        assertEquals("", Utf8.decodeStrict(new byte[0], "x"));
        assertEquals("a", Utf8.decodeStrict(new byte[] {(byte) 0xEF, (byte) 0xBB, (byte) 0xBF, 'a'}, "x"));
        assertEquals("\uFEFFa", Utf8.decodeStrict(new byte[] {(byte) 0xEF, (byte) 0xBB, (byte) 0xBF, (byte) 0xEF, (byte) 0xBB, (byte) 0xBF, 'a'}, "x"),
                "only one leading BOM is dropped");
        DeiaException e = assertThrows(DeiaException.class,
                () -> Utf8.decodeStrict(new byte[] {'a', 'b', 'c', (byte) 0xFF, 'd'}, "task.md"));
        assertEquals(ErrorCode.UNPROCESSABLE, e.code());
        assertEquals("task.md is not valid UTF-8: invalid byte sequence at offset 3", e.getMessage());
        DeiaException truncated = assertThrows(DeiaException.class,
                () -> Utf8.decodeStrict(new byte[] {'a', (byte) 0xE2, (byte) 0x9C}, "t"));
        assertTrue(truncated.getMessage().contains("offset 1"), truncated.getMessage());
        assertThrows(DeiaException.class, () -> Utf8.decodeStrict(new byte[] {(byte) 0xC0, (byte) 0x80}, "t"),
                "overlong encodings are invalid");
    }

    record Sample(String someName, Instant whenItHappened, Integer maybe) {
    }

    @Test
    void jsonUsesSnakeCaseMillisecondInstantsAndLeavesNullsOut() {
        Sample s = new Sample("n", Instant.parse("2026-11-26T10:15:30.123456Z"), null);
        String json = Json.write(s);
        assertEquals("{\"some_name\":\"n\",\"when_it_happened\":\"2026-11-26T10:15:30.123Z\"}", json);
        Sample back = Json.read("{\"some_name\":\"n\",\"when_it_happened\":\"2026-11-26T10:15:30.123Z\",\"unknown\":1}", Sample.class, "s");
        assertEquals(Instant.parse("2026-11-26T10:15:30.123Z"), back.whenItHappened());
        assertEquals(Instant.ofEpochMilli(1000), Json.read("{\"when_it_happened\":1000}", Sample.class, "s").whenItHappened());
        assertTrue(Json.writePretty(s).endsWith("}\n"));
        DeiaException badInstant = assertThrows(DeiaException.class,
                () -> Json.read("{\"when_it_happened\":\"yesterday\"}", Sample.class, "body"));
        assertEquals(ErrorCode.INVALID_ARGUMENT, badInstant.code());
        assertTrue(badInstant.getMessage().startsWith("body is not valid JSON for Sample"), badInstant.getMessage());
    }

    @Test
    void formatInstantWritesIsoUtcAtMillisecondPrecision() {
        assertEquals("2026-11-27T02:05:09.007Z", Json.formatInstant(Instant.parse("2026-11-27T02:05:09.007900Z")));
        assertEquals("2026-01-02T03:04:05Z", Json.formatInstant(Instant.parse("2026-01-02T03:04:05.000999Z")));
    }

    @Test
    void instantsAreReadWithAnyFractionOrAnOffset() {
        assertEquals(Instant.parse("2026-11-27T02:05:09.5Z"),
                Json.read("{\"when_it_happened\":\"2026-11-27T02:05:09.5Z\"}", Sample.class, "s").whenItHappened());
        assertEquals(Instant.parse("2026-11-27T01:05:09Z"),
                Json.read("{\"when_it_happened\":\"2026-11-27T02:05:09+01:00\"}", Sample.class, "s").whenItHappened(),
                "an offset is still read, by Instant.parse");
    }

    @Test
    void jsonRefusesDeepNestingEmptyInputAndBrokenText() {
        String deep = "[".repeat(Json.MAX_NESTING_DEPTH + 10) + "]".repeat(Json.MAX_NESTING_DEPTH + 10);
        DeiaException e = assertThrows(DeiaException.class, () -> Json.read(deep, JsonNode.class, "request body"));
        assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
        assertTrue(e.getMessage().contains("nesting"), e.getMessage());
        String ok = "[".repeat(10) + "]".repeat(10);
        assertTrue(Json.read(ok, JsonNode.class, "x").isArray());
        assertThrows(DeiaException.class, () -> Json.read("", JsonNode.class, "empty"));
        assertThrows(DeiaException.class, () -> Json.read("null", Sample.class, "null"));
        assertThrows(DeiaException.class, () -> Json.read("{\"a\":", JsonNode.class, "cut"));
    }

    @Test
    void botRecordRoundTripsWithStatusWrittenAndUrlLeftOut() {
        BotRecord r = BotRecord.builder("BOT-001").pid(42).port(8101).state(BotState.PAUSED)
                .lastHeartbeat(Instant.parse("2026-11-26T10:15:30.123Z")).lastExitCode(0).build();
        JsonNode node = Json.read(Json.write(r), JsonNode.class, "record");
        assertEquals("paused", node.get("status").asText());
        assertEquals("paused", node.get("state").asText());
        assertEquals("127.0.0.1", node.get("host").asText());
        assertFalse(node.has("url"));
        assertEquals(r, Json.read(Json.write(r), BotRecord.class, "record"));
        assertEquals("http://127.0.0.1:8101", r.url());
        assertEquals(r, r.toBuilder().build());
        assertTrue(BotState.PAUSED.isLive());
        assertFalse(BotState.STOPPED.isLive());
        assertEquals(BotState.RESTARTING, BotState.fromId("restarting"));
    }
}
