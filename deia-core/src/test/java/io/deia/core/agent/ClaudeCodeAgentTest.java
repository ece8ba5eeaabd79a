package io.deia.core.agent;

import io.deia.core.HiveLayout;
import io.deia.core.config.AgentType;
import io.deia.core.config.Profile;
import io.deia.core.testkit.AgentClis;
import io.deia.core.testkit.FakeAnthropicServer;
import io.deia.core.testkit.ProcessChecks;
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
import java.util.stream.Collectors;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The real Claude Code CLI against a scripted Anthropic endpoint on 127.0.0.1. */
class ClaudeCodeAgentTest {
    @TempDir
    Path dir;
    private FakeAnthropicServer server;
    private HiveLayout hive;
    private final List<Agent> agents = new CopyOnWriteArrayList<>();

    @BeforeEach
    void start() {
        server = new FakeAnthropicServer();
        hive = new HiveLayout(dir);
    }

    @AfterEach
    void stop() {
        agents.forEach(Agent::close);
        server.close();
    }

    private Agent agent() {
        return agent(null);
    }

    /** The agent of BOT-001; with {@code worktree}, working there as a bot with a project does. */
    private Agent agent(Path worktree) {
        Map<String, String> parent = new HashMap<>(System.getenv());
        parent.put("DEIA_TEST_ANTHROPIC_KEY", "sk-ant-test-key");
        Profile p = TestProfiles.profile(AgentType.CLAUDE_CODE, AgentClis.claude().toString(), List.of(), "sonnet", "acceptEdits",
                List.of("Write"), Map.of("ANTHROPIC_BASE_URL", server.baseUrl(), "CLAUDE_CODE_MAX_RETRIES", "0"),
                Map.of("ANTHROPIC_API_KEY", "DEIA_TEST_ANTHROPIC_KEY"));
        Agent a = Agents.create(new AgentContext("BOT-001", p, hive, parent, worktree));
        agents.add(a);
        return a;
    }

    private static TurnRequest turn(String prompt) {
        return new TurnRequest(prompt, Duration.ofSeconds(60), null);
    }

    @Test
    void chatTurnStreamsDeltasAndReportsSessionAndCost() throws Exception {
        List<AgentEvent> events = new CopyOnWriteArrayList<>();
        Agent a = agent();
        assertEquals("claude-code", a.type());
        TurnResult r = a.runTurn(turn("say hi"), events::add);
        assertEquals(TurnStatus.COMPLETED, r.status(), String.valueOf(r.error()));
        assertEquals("Hi from the fake model! You said: say hi", r.text());
        List<String> deltas = events.stream().filter(e -> e instanceof AgentEvent.TextDelta)
                .map(e -> ((AgentEvent.TextDelta) e).text()).toList();
        assertTrue(deltas.size() > 3, "deltas: " + deltas);
        assertEquals(r.text(), String.join("", deltas));
        assertEquals(new AgentEvent.Result(r), events.get(events.size() - 1));
        assertNotNull(r.sessionId());
        assertTrue(r.costUsd() != null && r.costUsd() > 0, "cost " + r.costUsd());
        assertEquals(10L, r.inputTokens());
        AgentHealth h = a.health();
        assertEquals(r.sessionId(), h.sessionId());
        assertNotNull(h.pid(), "the CLI stays up between turns");
        assertTrue(Files.readString(hive.botDir("BOT-001").resolve("agent-session.json")).contains(r.sessionId()));
        assertEquals("sk-ant-test-key", server.requests("/v1/messages").get(0).headers().get("x-api-key"));
    }

    @Test
    void writesAFileWithItsWriteToolThenResumesTheSameSession() throws Exception {
        List<AgentEvent> events = new CopyOnWriteArrayList<>();
        Agent a = agent();
        Path target = hive.workspaceDir("BOT-001").toAbsolutePath().resolve("hello.txt");
        TurnResult r = a.runTurn(new TurnRequest("Please WRITE_FILE " + target, Duration.ofSeconds(60), "task-1"), events::add);
        assertEquals(TurnStatus.COMPLETED, r.status(), String.valueOf(r.error()));
        assertEquals("Done: wrote hello.txt.", r.text());
        assertEquals(FakeAnthropicServer.FILE_CONTENT, Files.readString(target));
        assertTrue(events.stream().anyMatch(e -> e instanceof AgentEvent.ToolUse t && t.name().equals("Write") && t.input().contains("hello.txt")));
        assertTrue(events.stream().anyMatch(e -> e instanceof AgentEvent.ToolResult t && !t.isError()));
        assertNotNull(r.sessionId());
        assertTrue(r.costUsd() > 0);

        TurnResult second = a.runTurn(turn("and now?"), null);
        assertEquals(TurnStatus.COMPLETED, second.status());
        assertEquals(r.sessionId(), second.sessionId());
        assertTrue(server.lastRequestUserText().contains("WRITE_FILE " + target), server.lastRequestUserText());
        assertTrue(a.health().totalCostUsd() > r.costUsd());
    }

    @Test
    void aRestartedAgentResumesTheStoredSession() {
        Agent first = agent();
        TurnResult r = first.runTurn(turn("remember PINEAPPLE"), null);
        assertEquals(TurnStatus.COMPLETED, r.status());
        first.close();

        Agent second = agent();
        assertEquals(r.sessionId(), second.health().sessionId());
        TurnResult next = second.runTurn(turn("what was the fruit?"), null);
        assertEquals(TurnStatus.COMPLETED, next.status(), String.valueOf(next.error()));
        assertTrue(server.lastRequestUserText().contains("remember PINEAPPLE"), server.lastRequestUserText());
    }

    @Test
    void inAProjectWorktreeClaudeWorksThereAndResumesItsSessionThere() throws Exception {
        Path worktree = Files.createDirectories(dir.resolve("worktrees").resolve("shop").resolve("BOT-001")).toAbsolutePath();
        Agent first = agent(worktree);
        Path target = worktree.resolve("in-the-worktree.txt");
        TurnResult r = first.runTurn(new TurnRequest("Please WRITE_FILE " + target, Duration.ofSeconds(60), "T-1"), null);
        assertEquals(TurnStatus.COMPLETED, r.status(), String.valueOf(r.error()));
        assertEquals(FakeAnthropicServer.FILE_CONTENT, Files.readString(target));
        assertFalse(Files.exists(hive.workspaceDir("BOT-001")), "the private workspace is not used");
        String stored = Files.readString(hive.botDir("BOT-001").resolve("agent-session.json"));
        assertTrue(stored.contains("\"cwd\":\"" + worktree + "\""), stored);
        first.close();

        // Claude finds sessions by folder: the next start in the same worktree resumes it ...
        Agent second = agent(worktree);
        assertEquals(r.sessionId(), second.health().sessionId());
        TurnResult next = second.runTurn(turn("what did you write?"), null);
        assertEquals(TurnStatus.COMPLETED, next.status(), String.valueOf(next.error()));
        assertEquals(r.sessionId(), next.sessionId());
        assertTrue(server.lastRequestUserText().contains("WRITE_FILE " + target), server.lastRequestUserText());
        second.close();
        // ... and a start elsewhere (the bot without its project) does not try to.
        assertEquals(null, agent().health().sessionId());
    }

    @Test
    void aStoredSessionTheCliDoesNotKnowIsReplacedByANewOne() throws Exception {
        Files.createDirectories(hive.botDir("BOT-001"));
        Files.writeString(hive.botDir("BOT-001").resolve("agent-session.json"), "{\"agent\":\"claude-code\",\"session_id\":\""
                + "0b0e7c2a-1111-4222-8333-444455556666\",\"cwd\":\"" + hive.workspaceDir("BOT-001").toAbsolutePath() + "\"}");
        Agent a = agent();
        assertEquals("0b0e7c2a-1111-4222-8333-444455556666", a.health().sessionId());
        TurnResult r = a.runTurn(turn("hello again"), null);
        assertEquals(TurnStatus.COMPLETED, r.status(), String.valueOf(r.error()));
        assertFalse(r.sessionId().equals("0b0e7c2a-1111-4222-8333-444455556666"));
        assertEquals(0, a.health().crashes());
    }

    @Test
    void interruptEndsALongTurnAndTheAgentStaysUsable() throws Exception {
        List<AgentEvent> events = new CopyOnWriteArrayList<>();
        Agent a = agent();
        assertFalse(a.interrupt());
        CompletableFuture<TurnResult> slow = CompletableFuture.supplyAsync(() -> a.runTurn(turn("SLOW please"), events::add));
        await().atMost(30, TimeUnit.SECONDS).until(() -> events.stream().anyMatch(e -> e instanceof AgentEvent.TextDelta));
        assertTrue(a.interrupt());
        TurnResult r = slow.get(30, TimeUnit.SECONDS);
        assertEquals(TurnStatus.INTERRUPTED, r.status());
        assertTrue(r.text().startsWith("tick"), r.text());
        assertEquals(0, a.health().crashes());

        TurnResult after = a.runTurn(turn("still there?"), null);
        assertEquals(TurnStatus.COMPLETED, after.status(), String.valueOf(after.error()));
        assertTrue(after.text().endsWith("still there?"), after.text());
    }

    @Test
    void aTurnTimeoutStopsTheTurn() {
        Agent a = agent();
        TurnResult r = a.runTurn(new TurnRequest("SLOW again", Duration.ofSeconds(3), null), null);
        assertEquals(TurnStatus.TIMEOUT, r.status());
        assertTrue(r.error().contains("did not finish in time"));
        assertEquals(TurnStatus.COMPLETED, a.runTurn(turn("next"), null).status());
    }

    @Test
    void apiErrorsBecomeFailedTurnsWithTheStatus() {
        Agent a = agent();
        TurnResult e500 = a.runTurn(turn("ERROR_500 now"), null);
        assertEquals(TurnStatus.FAILED, e500.status());
        assertTrue(e500.error().contains("500"), e500.error());
        TurnResult e401 = a.runTurn(turn("ERROR_401 now"), null);
        assertEquals(TurnStatus.FAILED, e401.status());
        assertTrue(e401.error().contains("401"), e401.error());
        assertEquals(TurnStatus.COMPLETED, a.runTurn(turn("fine now"), null).status());
    }

    @Test
    void aKilledCliFailsTheTurnCountsACrashAndTheNextTurnResumes() throws Exception {
        List<AgentEvent> events = new CopyOnWriteArrayList<>();
        Agent a = agent();
        assertEquals(TurnStatus.COMPLETED, a.runTurn(turn("remember MANGO"), null).status());
        CompletableFuture<TurnResult> slow = CompletableFuture.supplyAsync(() -> a.runTurn(turn("SLOW one"), events::add));
        await().atMost(30, TimeUnit.SECONDS).until(() -> events.stream().anyMatch(e -> e instanceof AgentEvent.TextDelta));
        long pid = a.health().pid();
        ProcessHandle.of(pid).orElseThrow().destroyForcibly();
        TurnResult r = slow.get(30, TimeUnit.SECONDS);
        assertEquals(TurnStatus.FAILED, r.status());
        assertTrue(r.error().contains("claude exited with code 137 during the turn"), r.error());
        assertEquals(1, a.health().crashes());
        assertEquals(137, a.health().lastExitCode());

        TurnResult next = a.runTurn(turn("back?"), null);
        assertEquals(TurnStatus.COMPLETED, next.status(), String.valueOf(next.error()));
        assertTrue(server.lastRequestUserText().contains("remember MANGO"), server.lastRequestUserText());
        assertTrue(a.health().pid() != pid);
    }

    @Test
    void closeLeavesNoProcessBehind() {
        Agent a = agent();
        assertEquals(TurnStatus.COMPLETED, a.runTurn(turn("hi"), null).status());
        long pid = a.health().pid();
        a.close();
        assertFalse(ProcessChecks.isRunning(pid));
        await().atMost(5, TimeUnit.SECONDS).until(() -> ProcessChecks.groupMembers(pid).isEmpty());
        assertEquals(null, a.health().pid());
        String requests = server.requests().stream().map(q -> q.method() + " " + q.path()).collect(Collectors.joining(","));
        assertTrue(requests.contains("POST /v1/messages"), requests);
    }
}
