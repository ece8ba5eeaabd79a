package io.deia.core.registry;

import io.deia.core.internal.io.Json;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A {@link BotRecord}'s JSON form, in {@code registry.json} and in heartbeat files: the text written
 * (names, order, instants, {@code status}) and what is read back, including odd entries.
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
                BotRecord.builder("R").state(BotState.RESTARTING).lastExitCode(0).lastError("").profile("").build(),
                BotRecord.builder("P").state(BotState.IDLE).profile("echo").project("shop.v2_x-1").build(),
                BotRecord.builder("N").state(BotState.IDLE).project("shop").node("host-a_1").build());
    }

    @Test
    void anEntryIsWrittenInTheRegistryFormat() {
        BotRecord r = samples().get(1).toBuilder().lastHeartbeat(T.plusNanos(1_234_567)).build();
        assertEquals("""
                {
                  "bot_id" : "BOT-001",
                  "pid" : 4242,
                  "process_start" : "2026-11-27T05:10:11.123Z",
                  "host" : "127.0.0.1",
                  "port" : 8101,
                  "state" : "idle",
                  "profile" : "echo",
                  "agent" : "command",
                  "registered_at" : "2026-11-27T05:10:11.123Z",
                  "last_heartbeat" : "2026-11-27T05:10:11.124Z",
                  "restarts" : 0,
                  "launcher_pid" : 0,
                  "wanted" : false,
                  "status" : "idle"
                }
                """, Json.writePretty(r));
        String file = new String(RegistryFile.serialise(T, new java.util.TreeMap<>(Map.of(r.botId(), r))), StandardCharsets.UTF_8);
        assertTrue(file.startsWith("{\n  \"version\" : 1,\n  \"updated_at\" : \"2026-11-27T05:10:11.123Z\",\n  \"bots\" : {\n"
                + "    \"BOT-001\" : {\n      \"bot_id\" : \"BOT-001\",\n"), file);
        assertTrue(file.endsWith("  }\n}\n"), file);
    }

    @Test
    void everyRecordReadsBackFromTheRegistryAndFromItsHeartbeatText() {
        java.util.SortedMap<String, BotRecord> bots = new java.util.TreeMap<>();
        samples().forEach(r -> bots.put(r.botId(), r));
        assertEquals(bots, RegistryFile.parse(RegistryFile.serialise(T, bots)).bots());
        for (BotRecord r : samples()) {
            assertEquals(r, Json.read(Json.writePretty(r), BotRecord.class, "heartbeat"), r::toString);
        }
    }

    @Test
    void ignoresStatusAndUnknownFieldsAndTakesAMissingBotIdFromTheKey() {
        String file = "{\"bots\": {\"BOT-7\": {\"pid\": 5, \"state\": \"busy\", \"status\": \"idle\", \"future\": {\"a\": [1, {\"b\": null}]},"
                + " \"later\": [true], \"last_exit_code\": null, \"profile\": null},"
                + " \"X\": {\"state\": \"PAUSED\", \"registered_at\": \"1970-01-01T00:00:01Z\"}}}";
        RegistryFile.Contents c = RegistryFile.parse(file.getBytes(StandardCharsets.UTF_8));
        assertEquals(List.of(), c.problems());
        assertEquals(BotRecord.builder("BOT-7").pid(5).state(BotState.BUSY).build(), c.bots().get("BOT-7"));
        assertEquals(BotState.PAUSED, c.bots().get("X").state());
        assertEquals(Instant.ofEpochMilli(1000), c.bots().get("X").registeredAt());
    }

    @Test
    void oddEntriesAreReadOrReportedOneByOne() {
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
    void aProjectIsWrittenAfterTheOtherFieldsAndOnlyWhenThereIsOne() {
        BotRecord onShop = samples().get(1).toBuilder().project("shop").build();
        String json = Json.writePretty(onShop);
        assertTrue(json.endsWith("  \"wanted\" : false,\n  \"project\" : \"shop\",\n  \"status\" : \"idle\"\n}\n"), json);
        assertEquals(onShop, Json.read(json, BotRecord.class, "heartbeat"));
        assertEquals("shop", onShop.toBuilder().state(BotState.BUSY).build().project(), "every change keeps the project");
        assertFalse(Json.writePretty(samples().get(1)).contains("project"), "absent without a project");
    }

    @Test
    void anEntryWhoseProjectIsNotAProjectNameIsReportedNotRead() {
        String file = "{\"version\": 1, \"bots\": {"
                + "\"A\": {\"bot_id\": \"A\", \"state\": \"idle\", \"project\": \"../etc\"},"
                + "\"B\": {\"bot_id\": \"B\", \"state\": \"idle\", \"project\": \"/abs/repo\"},"
                + "\"C\": {\"bot_id\": \"C\", \"state\": \"idle\", \"project\": \"shop\"}}}";
        RegistryFile.Contents c = RegistryFile.parse(file.getBytes(StandardCharsets.UTF_8));
        assertEquals(List.of("C"), List.copyOf(c.bots().keySet()));
        assertEquals("shop", c.bots().get("C").project());
        assertEquals(2, c.problems().size(), c.problems().toString());
        assertTrue(c.problems().get(0).contains("entry 'A'") && c.problems().get(0).contains("project name '../etc' is invalid"),
                c.problems().toString());
        assertThrows(IllegalArgumentException.class, () -> BotRecord.builder("X").project("a/b").build());
    }

    @Test
    void aNodeIsWrittenOnlyWhenThereIsOneKeptByEveryChangeAndValidated() {
        BotRecord onNode = samples().get(1).toBuilder().node("host-a").build();
        String json = Json.writePretty(onNode);
        assertTrue(json.endsWith("  \"wanted\" : false,\n  \"node\" : \"host-a\",\n  \"status\" : \"idle\"\n}\n"), json);
        assertEquals(onNode, Json.read(json, BotRecord.class, "heartbeat"));
        assertEquals("host-a", onNode.toBuilder().state(BotState.BUSY).build().node(), "every change keeps the node");
        assertFalse(Json.writePretty(samples().get(1)).contains("node"), "absent without a node");
        for (String bad : List.of("", "a.b", "host a", "../x", "-lead")) {
            assertThrows(IllegalArgumentException.class, () -> BotRecord.builder("X").node(bad).build(), bad);
        }
    }
}
