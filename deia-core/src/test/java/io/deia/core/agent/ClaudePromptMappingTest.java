package io.deia.core.agent;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.internal.io.Json;
import io.deia.core.permission.PermissionAnswer;
import io.deia.core.permission.PermissionDecision;
import io.deia.core.permission.ToolCall;
import org.junit.jupiter.api.Test;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * How Claude Code's permission prompts read, on lines captured from the pinned CLI
 * ({@code samples/claude-permission-prompt.stream.jsonl}: a Bash prompt, withdrawn by the CLI after
 * an interrupt), and how deia turns them into {@link ToolCall}s and answers.
 */
class ClaudePromptMappingTest {
    private static JsonNode json(String text) {
        return Json.read(text, JsonNode.class, "test");
    }

    @Test
    void theParserHandsPromptsAndWithdrawalsToItsControl() throws Exception {
        List<String> seen = new ArrayList<>();
        List<JsonNode> requests = new ArrayList<>();
        ClaudeStreamParser p = new ClaudeStreamParser("BOT-001", true, new ClaudeStreamParser.Control() {
            @Override
            public void canUseTool(String requestId, JsonNode request) {
                seen.add("ask " + requestId);
                requests.add(request);
            }

            @Override
            public void cancelled(String requestId) {
                seen.add("cancel " + requestId);
            }
        });
        List<AgentEvent> events = new ArrayList<>();
        for (String line : StreamParsersTest.sample("claude-permission-prompt.stream.jsonl")) {
            events.addAll(p.parse(line));
        }
        String id = "359a8f58-72f1-4865-be9f-9e0d33516a43";
        assertEquals(List.of("ask " + id, "cancel " + id), seen);
        assertTrue(events.contains(new AgentEvent.PermissionRequest(id, "Bash",
                "{\"command\":\"touch /srv/bots/BOT-001/workspace/intr.txt\",\"description\":\"Run the requested command\"}")), events.toString());

        ToolCall call = ClaudePermissions.toolCall(requests.get(0));
        assertEquals("Bash", call.tool());
        assertEquals("touch /srv/bots/BOT-001/workspace/intr.txt", call.subject());
        assertEquals("Run the requested command", call.input().get("description"));
        assertEquals(List.of("allow Bash(touch /srv/bots/BOT-001/workspace/intr.txt) for this session",
                "allow access to /srv/bots/BOT-001/workspace for this session"), call.suggestions());
    }

    @Test
    void subjectsAreWhatAPersonJudges() {
        assertEquals("/w/a.txt", ClaudePermissions.toolCall(json("{\"tool_name\":\"Edit\",\"input\":{\"file_path\":\"/w/a.txt\","
                + "\"old_string\":\"a\",\"new_string\":\"b\"}}")).subject());
        assertEquals("/w/b.md", ClaudePermissions.toolCall(json("{\"tool_name\":\"MultiEdit\",\"input\":{\"file_path\":\"/w/b.md\"}}")).subject());
        assertEquals("/w/c", ClaudePermissions.toolCall(json("{\"tool_name\":\"Read\",\"input\":{\"file_path\":\"/w/c\"}}")).subject());
        assertEquals("https://example.org/x", ClaudePermissions.toolCall(json("{\"tool_name\":\"WebFetch\",\"input\":{\"url\":"
                + "\"https://example.org/x\",\"prompt\":\"p\"}}")).subject());
        ToolCall other = ClaudePermissions.toolCall(json("{\"tool_name\":\"mcp__db__query\",\"input\":{\"sql\":\"select 1\"}}"));
        assertEquals("mcp__db__query", other.tool());
        assertEquals("", other.subject());
        assertEquals(Map.of("sql", "select 1"), other.input());
        ToolCall odd = ClaudePermissions.toolCall(json("{\"tool_name\":\"Bash\",\"input\":\"not an object\"}"));
        assertEquals("", odd.subject());
        assertEquals(Map.of(), odd.input());
    }

    @Test
    void forTheSessionTheModeSwitchIsKeptOnlyWhenNothingNarrowerIsOffered() {
        JsonNode bash = json("[{\"type\":\"addRules\",\"rules\":[{\"toolName\":\"Bash\",\"ruleContent\":\"touch a\"}],"
                + "\"behavior\":\"allow\",\"destination\":\"localSettings\"},"
                + "{\"type\":\"setMode\",\"mode\":\"acceptEdits\",\"destination\":\"session\"}]");
        List<JsonNode> kept = ClaudePermissions.forThisSession(bash);
        assertEquals(1, kept.size());
        assertEquals("session", kept.get(0).path("destination").asText(), "never written into the project's settings");
        assertEquals("localSettings", bash.get(0).path("destination").asText(), "the CLI's own suggestion is left alone");

        JsonNode write = json("[{\"type\":\"setMode\",\"mode\":\"acceptEdits\",\"destination\":\"session\"}]");
        assertEquals(List.of("switch to permission mode acceptEdits for this session (file edits without asking)"),
                ClaudePermissions.readable(ClaudePermissions.forThisSession(write)));
        assertEquals(List.of(), ClaudePermissions.forThisSession(json("[]")));
    }

    @Test
    void theModelIsToldWhoDeniedAndWhy() {
        assertEquals("The user denied this tool call: use the staging db", ClaudePermissions.denyMessage(
                new PermissionAnswer(PermissionDecision.DENY, " use the staging db ", PermissionAnswer.DecidedBy.USER, Instant.now())));
        assertEquals("Nobody approved this tool call in time, so it was denied", ClaudePermissions.denyMessage(
                new PermissionAnswer(PermissionDecision.DENY, null, PermissionAnswer.DecidedBy.TIMEOUT, Instant.now())));
        assertEquals("The bot's approval policy denied this tool call: matches Bash(rm -rf*)", ClaudePermissions.denyMessage(
                new PermissionAnswer(PermissionDecision.DENY, "matches Bash(rm -rf*)", PermissionAnswer.DecidedBy.POLICY, Instant.now())));
    }
}
