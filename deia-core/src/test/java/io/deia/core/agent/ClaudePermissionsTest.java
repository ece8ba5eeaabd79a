package io.deia.core.agent;

import io.deia.core.HiveLayout;
import io.deia.core.config.AgentType;
import io.deia.core.config.Profile;
import io.deia.core.permission.PermissionAnswer;
import io.deia.core.permission.PermissionDecision;
import io.deia.core.testkit.AgentClis;
import io.deia.core.testkit.FakeAnthropicServer;
import io.deia.core.testkit.RecordingGate;
import io.deia.core.testkit.TestProfiles;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The real Claude Code CLI asking before its tool calls ({@code --permission-prompt-tool stdio}),
 * its prompts relayed to a gate the test answers, against a scripted Anthropic endpoint on 127.0.0.1.
 * The CLI runs in its default permission mode, so a shell command or a file write needs an answer.
 */
class ClaudePermissionsTest {
    @TempDir
    Path dir;
    private FakeAnthropicServer server;
    private HiveLayout hive;
    private Path ws;
    private final List<Agent> agents = new CopyOnWriteArrayList<>();

    @BeforeEach
    void start() {
        server = new FakeAnthropicServer();
        hive = new HiveLayout(dir);
        ws = hive.workspaceDir("BOT-001").toAbsolutePath();
    }

    @AfterEach
    void stop() {
        agents.forEach(Agent::close);
        server.close();
    }

    private Agent agent() {
        Map<String, String> parent = new HashMap<>(System.getenv());
        parent.put("DEIA_TEST_ANTHROPIC_KEY", "sk-ant-test-key");
        Profile p = TestProfiles.profile(AgentType.CLAUDE_CODE, AgentClis.claude().toString(), List.of(), "sonnet", null,
                List.of(), Map.of("ANTHROPIC_BASE_URL", server.baseUrl(), "CLAUDE_CODE_MAX_RETRIES", "0"),
                Map.of("ANTHROPIC_API_KEY", "DEIA_TEST_ANTHROPIC_KEY"));
        Agent a = Agents.create(new AgentContext("BOT-001", p, hive, parent, null));
        agents.add(a);
        return a;
    }

    private static TurnRequest turn(String prompt, RecordingGate gate) {
        return new TurnRequest(prompt, Duration.ofSeconds(60), "T-1", gate);
    }

    /** Runs the turn on another thread, so the test can answer while it waits. */
    private static CompletableFuture<TurnResult> start(Agent a, TurnRequest request, List<AgentEvent> events) {
        return CompletableFuture.supplyAsync(() -> a.runTurn(request, events::add));
    }

    /** The body of the newest Messages request: what the model was shown last. */
    private String lastModelRequest() {
        List<FakeAnthropicServer.RecordedRequest> posts = server.requests("/v1/messages");
        return posts.get(posts.size() - 1).body();
    }

    @Test
    void anAllowedShellCommandRuns() throws Exception {
        Agent a = agent();
        RecordingGate gate = new RecordingGate(Duration.ofSeconds(60));
        Path marker = ws.resolve("ran.txt");
        List<AgentEvent> events = new CopyOnWriteArrayList<>();
        CompletableFuture<TurnResult> turn = start(a, turn("RUN_BASH touch " + marker, gate), events);

        RecordingGate.Asked asked = gate.awaitAsked(1);
        assertEquals("Bash", asked.call().tool());
        assertEquals("touch " + marker, asked.call().subject());
        assertEquals("touch " + marker, asked.call().input().get("command"));
        assertEquals(List.of("allow Bash(touch " + marker + ") for this session", "allow access to " + ws + " for this session"),
                asked.call().suggestions(), "the mode switch the CLI also offers is left out: a rule is narrower");
        assertTrue(asked.requestId().startsWith("perm-"));
        assertFalse(Files.exists(marker), "nothing runs before the answer");
        assertFalse(turn.isDone());

        gate.answer(asked, PermissionDecision.ALLOW, null);
        TurnResult r = turn.get(60, TimeUnit.SECONDS);
        assertEquals(TurnStatus.COMPLETED, r.status(), String.valueOf(r.error()));
        assertTrue(Files.exists(marker));
        assertEquals("Ran it: (Bash completed with no output)", r.text());
        assertTrue(events.stream().anyMatch(e -> e instanceof AgentEvent.ToolResult t && !t.isError()));
        assertFalse(events.stream().anyMatch(e -> e instanceof AgentEvent.PermissionRequest),
                "the relay announces the request under its own id");
        assertEquals(1, gate.asked().size());
        assertEquals(List.of(), gate.withdrawn());
    }

    @Test
    void anAllowedFileWriteWritesTheFile() throws Exception {
        Agent a = agent();
        RecordingGate gate = new RecordingGate(Duration.ofSeconds(60));
        Path target = ws.resolve("notes.txt");
        CompletableFuture<TurnResult> turn = start(a, turn("WRITE_FILE " + target, gate), new CopyOnWriteArrayList<>());

        RecordingGate.Asked asked = gate.awaitAsked(1);
        assertEquals("Write", asked.call().tool());
        assertEquals(target.toString(), asked.call().subject());
        assertEquals(FakeAnthropicServer.FILE_CONTENT, asked.call().input().get("content"));
        assertFalse(Files.exists(target));
        gate.answer(asked, PermissionDecision.ALLOW, null);

        TurnResult r = turn.get(60, TimeUnit.SECONDS);
        assertEquals(TurnStatus.COMPLETED, r.status(), String.valueOf(r.error()));
        assertEquals("Done: wrote notes.txt.", r.text());
        assertEquals(FakeAnthropicServer.FILE_CONTENT, Files.readString(target));
    }

    @Test
    void aDeniedCommandDoesNotRunAndTheModelSeesWhy() throws Exception {
        Agent a = agent();
        RecordingGate gate = new RecordingGate(Duration.ofSeconds(60));
        Path marker = ws.resolve("denied.txt");
        CompletableFuture<TurnResult> turn = start(a, turn("RUN_BASH touch " + marker, gate), new CopyOnWriteArrayList<>());
        gate.answer(gate.awaitAsked(1), PermissionDecision.DENY, "not on a Friday");

        TurnResult r = turn.get(60, TimeUnit.SECONDS);
        assertEquals(TurnStatus.COMPLETED, r.status(), String.valueOf(r.error()));
        assertFalse(Files.exists(marker));
        assertEquals("Tool refused: The user denied this tool call: not on a Friday", r.text());
        assertTrue(lastModelRequest().contains("The user denied this tool call: not on a Friday"), lastModelRequest());
    }

    @Test
    void aRequestNobodyAnswersIsDeniedByTheTimeout() throws Exception {
        Agent a = agent();
        RecordingGate gate = new RecordingGate(Duration.ofSeconds(2));
        Path target = ws.resolve("late.txt");
        TurnResult r = a.runTurn(turn("WRITE_FILE " + target, gate), null);

        assertEquals(TurnStatus.COMPLETED, r.status(), String.valueOf(r.error()));
        PermissionAnswer answer = gate.asked().get(0).awaitAnswer();
        assertEquals(PermissionAnswer.DecidedBy.TIMEOUT, answer.by());
        assertFalse(Files.exists(target));
        assertEquals("Tool refused: Denied: nobody answered within 2 s", r.text());
        assertTrue(lastModelRequest().contains("Denied: nobody answered within 2 s"), lastModelRequest());
    }

    @Test
    void allowForTheSessionIsNotAskedAgainInThatSession() throws Exception {
        Agent a = agent();
        RecordingGate gate = new RecordingGate(Duration.ofSeconds(60));
        Path marker = ws.resolve("again.txt");
        CompletableFuture<TurnResult> first = start(a, turn("RUN_BASH touch " + marker, gate), new CopyOnWriteArrayList<>());
        gate.answer(gate.awaitAsked(1), PermissionDecision.ALLOW_SESSION, null);
        TurnResult r = first.get(60, TimeUnit.SECONDS);
        assertEquals(TurnStatus.COMPLETED, r.status(), String.valueOf(r.error()));
        assertTrue(Files.exists(marker));
        Files.delete(marker);

        TurnResult second = a.runTurn(turn("RUN_BASH touch " + marker, gate), null);
        assertEquals(TurnStatus.COMPLETED, second.status(), String.valueOf(second.error()));
        assertEquals(r.sessionId(), second.sessionId());
        assertTrue(Files.exists(marker), "the same command ran again");
        assertEquals(1, gate.asked().size(), "and was not asked about again");
        // The CLI keeps the rule for its session only: nothing is written into the bot's folder.
        assertFalse(Files.exists(ws.resolve(".claude")), "no settings file in the workspace");

        // A different command is still asked about.
        Path other = ws.resolve("other.txt");
        CompletableFuture<TurnResult> third = start(a, turn("RUN_BASH mkdir " + other, gate), new CopyOnWriteArrayList<>());
        gate.answer(gate.awaitAsked(2), PermissionDecision.DENY, null);
        assertEquals(TurnStatus.COMPLETED, third.get(60, TimeUnit.SECONDS).status());
        assertFalse(Files.exists(other));
    }

    @Test
    void allowForTheSessionOfAFileWriteLetsTheNextWritesThrough() throws Exception {
        Agent a = agent();
        RecordingGate gate = new RecordingGate(Duration.ofSeconds(60));
        Path first = ws.resolve("one.txt");
        CompletableFuture<TurnResult> turn = start(a, turn("WRITE_FILE " + first, gate), new CopyOnWriteArrayList<>());
        RecordingGate.Asked asked = gate.awaitAsked(1);
        assertEquals(List.of("switch to permission mode acceptEdits for this session (file edits without asking)"),
                asked.call().suggestions());
        gate.answer(asked, PermissionDecision.ALLOW_SESSION, null);
        assertEquals(TurnStatus.COMPLETED, turn.get(60, TimeUnit.SECONDS).status());
        assertTrue(Files.exists(first));

        Path second = ws.resolve("two.txt");
        TurnResult r = a.runTurn(turn("WRITE_FILE " + second, gate), null);
        assertEquals(TurnStatus.COMPLETED, r.status(), String.valueOf(r.error()));
        assertEquals(FakeAnthropicServer.FILE_CONTENT, Files.readString(second));
        assertEquals(1, gate.asked().size());
    }

    @Test
    void anInterruptWhileARequestWaitsEndsTheTurnAndTheRequest() throws Exception {
        Agent a = agent();
        RecordingGate gate = new RecordingGate(Duration.ofSeconds(60));
        Path marker = ws.resolve("never.txt");
        CompletableFuture<TurnResult> turn = start(a, turn("RUN_BASH touch " + marker, gate), new CopyOnWriteArrayList<>());
        RecordingGate.Asked asked = gate.awaitAsked(1);

        assertTrue(a.interrupt());
        TurnResult r = turn.get(30, TimeUnit.SECONDS);
        assertEquals(TurnStatus.INTERRUPTED, r.status());
        assertEquals(PermissionAnswer.DecidedBy.CANCELLED, asked.awaitAnswer().by());
        assertEquals(List.of(asked.requestId()), gate.withdrawn());
        assertEquals(0, a.health().crashes());

        // A late answer changes nothing; the same process takes the next turn.
        gate.answer(asked, PermissionDecision.ALLOW, null);
        TurnResult next = a.runTurn(turn("still there?", gate), null);
        assertEquals(TurnStatus.COMPLETED, next.status(), String.valueOf(next.error()));
        assertFalse(Files.exists(marker));
    }

    @Test
    void aKilledCliWithdrawsItsWaitingRequest() throws Exception {
        Agent a = agent();
        RecordingGate gate = new RecordingGate(Duration.ofSeconds(60));
        CompletableFuture<TurnResult> turn = start(a, turn("RUN_BASH touch " + ws.resolve("x.txt"), gate), new CopyOnWriteArrayList<>());
        RecordingGate.Asked asked = gate.awaitAsked(1);
        ProcessHandle.of(a.health().pid()).orElseThrow().destroyForcibly();

        TurnResult r = turn.get(30, TimeUnit.SECONDS);
        assertEquals(TurnStatus.FAILED, r.status());
        assertTrue(r.error().contains("claude exited with code 137 during the turn"), r.error());
        assertEquals(PermissionAnswer.DecidedBy.CANCELLED, asked.awaitAnswer().by());
        assertEquals(List.of(asked.requestId()), gate.withdrawn());
    }

    @Test
    void aTurnThatRelaysPromptsRestartsAProcessStartedWithoutThemAndKeepsTheSession() throws Exception {
        Agent a = agent();
        TurnResult plain = a.runTurn(new TurnRequest("remember KIWI", Duration.ofSeconds(60), null), null);
        assertEquals(TurnStatus.COMPLETED, plain.status(), String.valueOf(plain.error()));
        long pid = a.health().pid();
        // Without a gate the CLI's own (default) permission mode decides: the write is refused.
        Path refused = ws.resolve("refused.txt");
        TurnResult auto = a.runTurn(new TurnRequest("WRITE_FILE " + refused, Duration.ofSeconds(60), null), null);
        assertEquals(TurnStatus.COMPLETED, auto.status(), String.valueOf(auto.error()));
        assertFalse(Files.exists(refused));

        RecordingGate gate = new RecordingGate(Duration.ofSeconds(60));
        Path target = ws.resolve("asked.txt");
        CompletableFuture<TurnResult> turn = start(a, turn("WRITE_FILE " + target, gate), new CopyOnWriteArrayList<>());
        gate.answer(gate.awaitAsked(1), PermissionDecision.ALLOW, null);
        TurnResult r = turn.get(60, TimeUnit.SECONDS);
        assertEquals(TurnStatus.COMPLETED, r.status(), String.valueOf(r.error()));
        assertTrue(Files.exists(target));
        assertNotEquals(pid, a.health().pid(), "a new process, with prompts on stdio");
        assertEquals(plain.sessionId(), r.sessionId(), "resuming the session");
        assertTrue(lastModelRequest().contains("remember KIWI"));
        assertEquals(0, a.health().crashes());

        // That process keeps prompts on stdio; a turn without a gate has them refused at once.
        long relaying = a.health().pid();
        TurnResult after = a.runTurn(new TurnRequest("WRITE_FILE " + refused, Duration.ofSeconds(60), null), null);
        assertEquals(TurnStatus.COMPLETED, after.status(), String.valueOf(after.error()));
        assertEquals(relaying, a.health().pid());
        assertFalse(Files.exists(refused));
        assertTrue(after.text().startsWith("Tool refused: deia runs headless"), after.text());
        assertEquals(1, gate.asked().size());
    }
}
