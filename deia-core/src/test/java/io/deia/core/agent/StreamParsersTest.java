package io.deia.core.agent;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.internal.io.Json;
import io.deia.core.permission.PermissionDecision;
import io.deia.core.permission.ToolCall;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
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
    void claudeCostIsEachTurnsShareOfTheProcessTotal() throws IOException {
        // The sample's two results come from one process: each says the same tokens, the second
        // total_cost_usd is twice the first (0.000105, then 0.00021): the CLI reports a running sum.
        ClaudeStreamParser p = new ClaudeStreamParser("BOT-001", true);
        List<TurnResult> results = new ArrayList<>();
        for (String line : sample("claude-permission-prompt.stream.jsonl")) {
            p.parse(line).stream().filter(e -> e instanceof AgentEvent.Result)
                    .forEach(e -> results.add(((AgentEvent.Result) e).result()));
        }
        assertEquals(2, results.size());
        assertEquals(0.000105, results.get(0).costUsd(), 1e-12);
        assertEquals(0.000105, results.get(1).costUsd(), 1e-12);
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
    void geminiAcpSampleGivesTextToolsPermissionsAndUsage() throws IOException {
        List<AgentEvent> events = new ArrayList<>();
        GeminiTurn turn = new GeminiTurn("BOT-001", null, events::add);
        List<AcpPermission> asked = new ArrayList<>();
        List<TurnResult> results = new ArrayList<>();
        for (String line : sample("gemini-acp.jsonl")) {
            JsonNode node = StreamLines.object("BOT-001", "gemini", line);
            switch (node.path("method").asText("")) {
                case "session/update" -> turn.update(node.path("params").path("update"));
                case "session/request_permission" -> asked.add(AcpPermission.of(node.path("params")));
                default -> {
                    if (node.path("result").has("stopReason")) {
                        results.add(turn.result(node.path("result"), "s1"));
                    }
                }
            }
        }
        assertEquals(4, results.size());
        TurnResult last = results.get(3);
        assertEquals(TurnStatus.COMPLETED, last.status(), last.error());
        assertEquals(20L, last.inputTokens());
        assertEquals(10L, last.outputTokens());
        assertTrue(last.text().startsWith("Hi from the fake model! You said: say hi"), last.text());
        assertFalse(last.text().contains("MODE_UPDATE"), "the CLI's mode switch notice is not the reply");
        assertEquals(new AgentEvent.TextDelta("Hi from the fake"), events.get(0));
        assertTrue(events.contains(new AgentEvent.ToolResult("run_shell_command__run_shell_command_1796683224506_0", "", false)), events.toString());
        assertTrue(events.contains(new AgentEvent.ToolResult("write_file__write_file_1796683226342_0",
                "wrote /srv/bots/BOT-001/workspace/w.txt", false)), events.toString());

        assertEquals(3, asked.size());
        ToolCall shell = asked.get(0).toToolCall();
        assertEquals("Bash", shell.tool());
        assertEquals("echo hi > ran.txt", shell.subject());
        assertEquals("echo hi > ran.txt", shell.input().get("command"));
        assertEquals(List.of("Allow for this session"), shell.suggestions());
        assertEquals(Map.of("outcome", Map.of("outcome", "selected", "optionId", "proceed_once")),
                asked.get(0).outcome(PermissionDecision.ALLOW));
        assertEquals("proceed_always", asked.get(0).optionFor(PermissionDecision.ALLOW_SESSION));
        assertEquals("cancel", asked.get(0).optionFor(PermissionDecision.DENY));
        ToolCall edit = asked.get(1).toToolCall();
        assertEquals("Edit", edit.tool());
        assertEquals("/srv/bots/BOT-001/workspace/w.txt", edit.subject());
        assertEquals("hello\n", edit.input().get("new_text"));
        assertEquals(new AgentEvent.ToolUse("write_file__write_file_1796683226342_0", "Edit", Json.write(edit.input())),
                asked.get(1).toolUse());
    }

    @Test
    void geminiAcpOddShapes() {
        GeminiTurn turn = new GeminiTurn("BOT-001", null, e -> { });
        TurnResult early = turn.result(Json.read("{\"stopReason\":\"max_tokens\"}", JsonNode.class, "t"), "s1");
        assertEquals(TurnStatus.FAILED, early.status());
        assertEquals("gemini ended the turn early: max_tokens", early.error());
        assertNull(early.inputTokens());
        // A kind deia has no name for keeps the agent's title; no option of a kind → cancelled.
        AcpPermission odd = AcpPermission.of(Json.read("{\"toolCall\":{\"toolCallId\":\"c1\",\"kind\":\"fetch\",\"title\":\"WebFetch\","
                + "\"locations\":[{\"path\":\"/a\"}]},\"options\":[{\"optionId\":\"no\",\"kind\":\"reject_always\"}]}", JsonNode.class, "t"));
        assertEquals("WebFetch", odd.toToolCall().tool());
        assertEquals("/a", odd.toToolCall().subject());
        assertEquals(AcpPermission.cancelledOutcome(), odd.outcome(PermissionDecision.ALLOW));
        assertEquals("no", odd.optionFor(PermissionDecision.DENY));
        turn.forced = TurnStatus.INTERRUPTED;
        TurnResult cut = turn.result(Json.read("{\"stopReason\":\"cancelled\"}", JsonNode.class, "t"), "s1");
        assertEquals(TurnStatus.INTERRUPTED, cut.status());
        assertEquals("gemini was interrupted", cut.error());
    }
}
