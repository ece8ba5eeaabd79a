package io.deia.core.agent;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The three CLI stream parsers over output captured from the real CLIs, plus malformed lines. */
class StreamParsersTest {
    private static final List<String> MALFORMED = List.of("not json at all", "{\"type\":\"result\"", "[1,2]", "", "42");

    static List<String> sample(String name) throws IOException {
        try (InputStream in = StreamParsersTest.class.getResourceAsStream("/samples/" + name)) {
            return List.of(new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n"));
        }
    }

    /** Parses the sample with malformed lines mixed in between every real line. */
    static List<AgentEvent> parseWithNoise(List<String> lines, Function<String, List<AgentEvent>> parser) {
        List<AgentEvent> events = new ArrayList<>();
        for (String line : lines) {
            for (String bad : MALFORMED) {
                assertEquals(List.of(), parser.apply(bad));
            }
            events.addAll(parser.apply(line));
        }
        return events;
    }

    @Test
    void claudePartialMessagesGiveDeltasAndAResult() throws IOException {
        ClaudeStreamParser p = new ClaudeStreamParser("BOT-001", false);
        List<AgentEvent> events = parseWithNoise(sample("claude-partial-messages.stream.jsonl"), p::parse);
        assertEquals(List.of(new AgentEvent.TextDelta("Hi "), new AgentEvent.TextDelta("from "), new AgentEvent.TextDelta("the "),
                new AgentEvent.TextDelta("fake "), new AgentEvent.TextDelta("model!"),
                new AgentEvent.AssistantMessage("Hi from the fake model!")), events.subList(0, 6));
        TurnResult r = ((AgentEvent.Result) events.get(6)).result();
        assertEquals(TurnStatus.COMPLETED, r.status());
        assertEquals("Hi from the fake model!", r.text());
        assertEquals("11111111-2222-3333-4444-555555555555", r.sessionId());
        assertEquals(0.000175, r.costUsd());
        assertEquals(10L, r.inputTokens());
        assertEquals(5L, r.outputTokens());
        assertEquals(108, r.durationMs());
        assertTrue(p.sawInit());
    }

    @Test
    void claudeWithoutPartialMessagesTurnsAssistantTextIntoDeltas() throws IOException {
        ClaudeStreamParser p = new ClaudeStreamParser("BOT-001", true);
        List<AgentEvent> events = parseWithNoise(sample("claude-text.stream.jsonl"), p::parse);
        assertEquals(new AgentEvent.TextDelta("Hi from the fake model!"), events.get(0));
        assertEquals("2baba2cd-2a46-428c-a3ae-d10ac612cee6", p.sessionId());
    }

    @Test
    void claudeWriteToolGivesToolUseAndToolResult() throws IOException {
        ClaudeStreamParser p = new ClaudeStreamParser("BOT-001", false);
        List<AgentEvent> events = parseWithNoise(sample("claude-write-tool.stream.jsonl"), p::parse);
        AgentEvent.ToolUse use = (AgentEvent.ToolUse) events.get(1);
        assertEquals("Write", use.name());
        assertEquals("toolu_99ea7b9789134815907a839f", use.id());
        assertTrue(use.input().contains("\"file_path\":\"/srv/bots/BOT-001/workspace/hello.txt\""), use.input());
        AgentEvent.ToolResult result = (AgentEvent.ToolResult) events.get(2);
        assertEquals("toolu_99ea7b9789134815907a839f", result.id());
        assertFalse(result.isError());
        assertTrue(result.content().startsWith("File created successfully"));
        TurnResult r = ((AgentEvent.Result) events.get(events.size() - 1)).result();
        assertEquals("Done: wrote hello.txt.", r.text());
        assertEquals(0.00035, r.costUsd());
    }

    @Test
    void claudeErrorsPermissionRequestsAndRetries() {
        ClaudeStreamParser p = new ClaudeStreamParser("BOT-001", false);
        TurnResult r = ((AgentEvent.Result) p.parse("{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":true,"
                + "\"api_error_status\":500,\"result\":\"API Error: 500 scripted\",\"session_id\":\"s1\",\"total_cost_usd\":0}").get(0)).result();
        assertEquals(TurnStatus.FAILED, r.status());
        assertEquals("model API error 500: API Error: 500 scripted", r.error());
        TurnResult r2 = ((AgentEvent.Result) p.parse("{\"type\":\"result\",\"subtype\":\"error_max_turns\",\"is_error\":true}").get(0)).result();
        assertEquals("claude: error_max_turns", r2.error());
        assertEquals(List.of(new AgentEvent.PermissionRequest("r1", "Bash", "{\"command\":\"ls\"}")),
                p.parse("{\"type\":\"control_request\",\"request_id\":\"r1\",\"request\":{\"subtype\":\"can_use_tool\","
                        + "\"tool_name\":\"Bash\",\"input\":{\"command\":\"ls\"}}}"));
        AgentEvent.Error retry = (AgentEvent.Error) p.parse("{\"type\":\"system\",\"subtype\":\"api_retry\",\"attempt\":1,"
                + "\"max_retries\":3,\"error_status\":529}").get(0);
        assertTrue(retry.message().contains("529"), retry.message());
        assertEquals(List.of(), p.parse("{\"type\":\"control_response\",\"response\":{\"subtype\":\"success\"}}"));
        assertEquals(List.of(new AgentEvent.ToolResult("t1", "ab", true)),
                p.parse("{\"type\":\"user\",\"message\":{\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"t1\",\"is_error\":true,"
                        + "\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"text\",\"text\":\"b\"}]}]}}"));
    }

    /** The events of a captured {@code codex app-server} session, read as the agent reads its notifications. */
    private static List<AgentEvent> codexEvents(CodexTurnEvents turn, List<String> lines) {
        return parseWithNoise(lines, line -> {
            com.fasterxml.jackson.databind.JsonNode msg = StreamLines.object("BOT-001", "codex", line);
            if (msg == null || !msg.hasNonNull("method") || msg.has("id")) {
                return List.of();
            }
            return turn.read(msg.path("method").asText(), msg.path("params"));
        });
    }

    @Test
    void codexAppServerSample() throws IOException {
        CodexTurnEvents turn = new CodexTurnEvents("01a252a9-776e-77a2-93c2-0d5e9b993c8e");
        List<AgentEvent> events = codexEvents(turn, sample("codex-app-server.jsonl"));
        assertEquals(List.of(new AgentEvent.ToolUse("call_1", "Bash", "/bin/bash -lc 'touch /srv/bots/BOT-001/workspace/r.txt'"),
                new AgentEvent.ToolResult("call_1", "", false), new AgentEvent.TextDelta("Done."),
                new AgentEvent.AssistantMessage("Done.")), events);
        assertTrue(turn.ended());
        assertEquals("completed", turn.status());
        assertEquals("Done.", turn.text());
        assertEquals(20L, turn.inputTokens());
        assertEquals(10L, turn.outputTokens());
        assertNull(turn.error());
    }

    @Test
    void codexDeclinedToolsFailuresAndOtherTurns() {
        CodexTurnEvents turn = new CodexTurnEvents("t1");
        assertNull(turn.inputTokens(), "no usage reported yet");
        assertEquals(List.of(new AgentEvent.ToolUse("f1", "Edit", "[{\"path\":\"/w/a.txt\",\"kind\":{\"type\":\"add\"},\"diff\":\"x\"}]")),
                turn.read("item/started", node("{\"turnId\":\"t1\",\"item\":{\"type\":\"fileChange\",\"id\":\"f1\","
                        + "\"changes\":[{\"path\":\"/w/a.txt\",\"kind\":{\"type\":\"add\"},\"diff\":\"x\"}]}}")));
        assertEquals(List.of("/w/a.txt"), turn.changePaths("f1"));
        assertEquals(List.of(new AgentEvent.ToolResult("f1", "declined", true)), turn.read("item/completed",
                node("{\"turnId\":\"t1\",\"item\":{\"type\":\"fileChange\",\"id\":\"f1\",\"changes\":[],\"status\":\"declined\"}}")));
        assertEquals(List.of(new AgentEvent.ToolResult("c1", "no", true)), turn.read("item/completed",
                node("{\"turnId\":\"t1\",\"item\":{\"type\":\"commandExecution\",\"id\":\"c1\",\"aggregatedOutput\":\"no\","
                        + "\"exitCode\":2,\"status\":\"failed\"}}")));
        assertEquals(List.of(), turn.read("item/agentMessage/delta", node("{\"turnId\":\"other\",\"itemId\":\"m\",\"delta\":\"x\"}")),
                "another turn's notification is ignored");
        assertEquals(List.of(), turn.read("error", node("{\"turnId\":\"t1\",\"willRetry\":true,\"error\":{\"message\":\"again\"}}")));
        assertEquals(List.of(new AgentEvent.Error("codex: stream disconnected")),
                turn.read("error", node("{\"turnId\":\"t1\",\"willRetry\":false,\"error\":{\"message\":\"stream disconnected\"}}")));
        assertFalse(turn.ended());
        turn.read("turn/completed", node("{\"turn\":{\"id\":\"t1\",\"status\":\"failed\",\"error\":{\"message\":\"quota\"}}}"));
        assertEquals("failed", turn.status());
        assertEquals("codex: quota", turn.error());
    }

    private static com.fasterxml.jackson.databind.JsonNode node(String json) {
        return StreamLines.object("BOT-001", "test", json);
    }

    @Test
    void geminiTextSample() throws IOException {
        GeminiStreamParser p = new GeminiStreamParser("BOT-001");
        List<AgentEvent> events = parseWithNoise(sample("gemini-text.stream.jsonl"), p::parse);
        assertEquals(5, events.size());
        assertEquals(new AgentEvent.TextDelta("Hi "), events.get(0));
        assertEquals("Hi from the fake model!", p.text());
        assertEquals("dfa51a0c-aacf-4950-97ba-1f01809296f5", p.sessionId());
        assertTrue(p.succeeded());
        assertEquals(10L, p.inputTokens);
        assertEquals(5L, p.outputTokens);
    }

    @Test
    void geminiToolsAndErrors() throws IOException {
        GeminiStreamParser p = new GeminiStreamParser("BOT-001");
        parseWithNoise(sample("gemini-default-mode.stream.jsonl"), p::parse);
        assertEquals("Done: wrote hello.txt.", p.text());
        assertEquals(List.of(new AgentEvent.ToolUse("c1", "write_file", "{\"file_path\":\"a\"}")),
                p.parse("{\"type\":\"tool_use\",\"tool_name\":\"write_file\",\"tool_id\":\"c1\",\"parameters\":{\"file_path\":\"a\"}}"));
        assertEquals(List.of(new AgentEvent.ToolResult("c1", "ok", false)),
                p.parse("{\"type\":\"tool_result\",\"tool_id\":\"c1\",\"status\":\"success\",\"output\":\"ok\"}"));
        assertEquals(List.of(new AgentEvent.ToolResult("c1", "denied", true)),
                p.parse("{\"type\":\"tool_result\",\"tool_id\":\"c1\",\"status\":\"error\",\"error\":{\"message\":\"denied\"}}"));
        assertEquals(1, p.parse("{\"type\":\"error\",\"message\":\"warn\"}").size());
        assertEquals(List.of(new AgentEvent.TextDelta("whole"), new AgentEvent.AssistantMessage("whole")),
                p.parse("{\"type\":\"message\",\"role\":\"assistant\",\"content\":\"whole\"}"));
        p.parse("{\"type\":\"result\",\"status\":\"error\",\"error\":{\"type\":\"API\",\"message\":\"quota exceeded\"}}");
        assertFalse(p.succeeded());
        assertEquals("gemini: quota exceeded", p.error());
    }
}
