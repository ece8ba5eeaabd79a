package io.deia.core.registry;

import io.deia.core.io.Json;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The registry's streaming codec is held to databind: the same text written, the same record read,
 * and anything outside the common form handed back (null) so databind reads or reports it as before.
 */
class BotRecordJsonTest {
    private static final Instant T = Instant.parse("2026-11-27T05:10:11.123Z");

    private static List<BotRecord> samples() {
        return List.of(
                BotRecord.builder("B").build(),
                BotRecord.builder("BOT-001").pid(4242).processStart(T).port(8101).state(BotState.IDLE).profile("echo")
                        .agent("command").registeredAt(T).lastHeartbeat(T.plusMillis(1)).build(),
                BotRecord.builder("a_b-9").pid(Long.MAX_VALUE).processStart(Instant.parse("2026-11-27T05:10:11Z"))
                        .host("::1").port(65535).state(BotState.FAILED).profile("prof ✓").agent("claude-code")
                        .registeredAt(Instant.parse("1970-01-01T00:00:00Z")).lastHeartbeat(Instant.parse("9999-12-31T23:59:59.999Z"))
                        .restarts(Integer.MAX_VALUE).lastError("quote \" backslash \\ newline \n tab \t bell \u0007 ünï ✓ 🐝")
                        .lastExitCode(-9).launcherPid(7).launcherStart(T).build(),
                BotRecord.builder("R").state(BotState.RESTARTING).lastExitCode(0).lastError("").profile("").build());
    }

    @Test
    void writesExactlyTheTextDatabindWrites() {
        for (BotRecord r : samples()) {
            assertEquals(Json.writePretty(r), BotRecordJson.pretty(r), r::toString);
        }
    }

    @Test
    void readsBackEveryRecordItWritesAndWhatDatabindWrites() {
        for (BotRecord r : samples()) {
            assertEquals(r, BotRecordJson.read(r.botId(), BotRecordJson.pretty(r)), r::toString);
            assertEquals(r, BotRecordJson.read(r.botId(), Json.write(r)), "compact text too");
        }
    }

    @Test
    void ignoresStatusAndUnknownFieldsAndTakesAMissingBotIdFromTheKey() {
        String text = "{\"pid\": 5, \"state\": \"busy\", \"status\": \"idle\", \"future\": {\"a\": [1, {\"b\": null}]},"
                + " \"later\": [true], \"last_exit_code\": null, \"profile\": null}";
        BotRecord r = BotRecordJson.read("BOT-7", text);
        assertEquals(BotRecord.builder("BOT-7").pid(5).state(BotState.BUSY).build(), r);
        assertEquals(BotState.PAUSED, BotRecordJson.read("X", "{\"state\": \"PAUSED\"}").state());
        assertEquals(Instant.ofEpochMilli(1000), BotRecordJson.read("X", "{\"state\": \"idle\", \"registered_at\": \"1970-01-01T00:00:01Z\"}")
                .registeredAt());
    }

    @Test
    void anythingOutsideTheCommonFormIsLeftToDatabind() {
        for (String odd : new String[] {
                "{\"pid\": \"42\", \"state\": \"idle\"}",
                "{\"pid\": 1.5, \"state\": \"idle\"}",
                "{\"pid\": 99999999999999999999, \"state\": \"idle\"}",
                "{\"port\": 4294967296, \"state\": \"idle\"}",
                "{\"port\": null, \"state\": \"idle\"}",
                "{\"restarts\": true, \"state\": \"idle\"}",
                "{\"state\": \"sleepy\"}",
                "{\"state\": 3}",
                "{\"pid\": 1}",
                "{\"state\": \"idle\", \"process_start\": \"2026-11-27T05:10:11+01:00\"}",
                "{\"state\": \"idle\", \"process_start\": 1000}",
                "{\"state\": \"idle\", \"last_heartbeat\": \"yesterday\"}",
                "{\"state\": \"idle\", \"profile\": {\"name\": \"x\"}}",
                "{\"state\": \"idle\", \"bot_id\": \"../x\"}",
                "{\"state\": \"idle\"} trailing",
                "{\"state\": \"idle\"",
                "[1]",
                "",
        }) {
            assertNull(BotRecordJson.read("BOT-1", odd), odd);
        }
    }

    @Test
    void theRegistryStillReadsOddEntriesThroughDatabind() {
        String file = "{\"version\": 1, \"bots\": {"
                + "\"A\": {\"bot_id\": \"A\", \"pid\": \"42\", \"state\": \"idle\"},"
                + "\"B\": {\"bot_id\": \"B\", \"state\": \"idle\", \"process_start\": \"2026-11-27T06:10:11.123+01:00\"},"
                + "\"C\": {\"bot_id\": \"C\", \"state\": \"idle\", \"registered_at\": 1000},"
                + "\"D\": {\"bot_id\": \"E\", \"state\": \"idle\"},"
                + "\"F\": {\"bot_id\": \"F\", \"state\": \"sleepy\"},"
                + "\"G\": {\"bot_id\": \"G\", \"state\": \"busy\", \"pid\": 3}}}";
        RegistryFile.Contents c = RegistryFile.parse(file.getBytes(StandardCharsets.UTF_8));
        assertEquals(42, c.bots().get("A").pid(), "a number in a string is coerced, as before");
        assertEquals(T, c.bots().get("B").processStart());
        assertEquals(Instant.ofEpochMilli(1000), c.bots().get("C").registeredAt());
        assertEquals(BotRecord.builder("G").state(BotState.BUSY).pid(3).build(), c.bots().get("G"));
        assertEquals(List.of("A", "B", "C", "G"), List.copyOf(c.bots().keySet()));
        assertEquals(2, c.problems().size(), c.problems().toString());
        assertTrue(c.problems().get(0).contains("entry 'D'") && c.problems().get(0).contains("names bot_id 'E'"), c.problems().toString());
        assertTrue(c.problems().get(1).contains("entry 'F'"), c.problems().toString());
    }

    @Test
    void theRegistryFileIsTheTextOfTheDocumentAsDatabindWritesIt() {
        java.util.SortedMap<String, BotRecord> bots = new java.util.TreeMap<>();
        samples().forEach(r -> bots.put(r.botId(), r));
        byte[] bytes = RegistryFile.serialise(T, bots, Map.of(), new java.util.HashMap<>());
        String expected = Json.writePretty(new RegistryFile.Document(RegistryFile.VERSION, T, bots));
        assertEquals(expected, new String(bytes, StandardCharsets.UTF_8));
        assertEquals(bots, RegistryFile.parse(bytes).bots());
    }
}
