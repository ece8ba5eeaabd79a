package io.deia.core.agent;

import io.deia.core.HiveLayout;
import io.deia.core.config.AgentType;
import io.deia.core.config.Profile;
import io.deia.core.permission.ApprovalPolicy;
import io.deia.core.permission.PendingPermission;
import io.deia.core.permission.PermissionBroker;
import io.deia.core.permission.PermissionListener;
import io.deia.core.permission.PermissionRequest;
import io.deia.core.permission.PermissionAnswer;
import io.deia.core.permission.PermissionDecision;
import io.deia.core.permission.PermissionGate;
import io.deia.core.permission.ToolCall;
import io.deia.core.testkit.AgentClis;
import io.deia.core.testkit.FakeOpenAiResponsesServer;
import io.deia.core.testkit.ProcessChecks;
import io.deia.core.testkit.TestProfiles;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The real {@code codex app-server} against the scripted Responses endpoint on 127.0.0.1 (run with
 * -Pagents): turns in one long-lived process, the thread resumed by the next process, and every
 * command or file change Codex asks about relayed to a {@link PermissionGate} that answers here.
 */
@Tag("agents")
class CodexAppServerAgentTest {
    @TempDir
    Path dir;
    private FakeOpenAiResponsesServer server;
    private Path workspace;

    /** A gate that hands each request to the test, which answers it (or not) when it likes. */
    static final class TestGate implements PermissionGate {
        record Asked(ToolCall call, String requestId, CompletableFuture<PermissionAnswer> answer) {
            void answer(PermissionDecision decision) {
                answer.complete(new PermissionAnswer(decision, decision == PermissionDecision.DENY ? "not now" : null,
                        PermissionAnswer.DecidedBy.USER, Instant.now()));
            }
        }

        final BlockingQueue<Asked> asked = new LinkedBlockingQueue<>();
        final List<String> withdrawn = new CopyOnWriteArrayList<>();
        private int next;

        @Override
        public synchronized PendingPermission ask(ToolCall call) {
            Asked a = new Asked(call, "perm-test-" + next++, new CompletableFuture<>());
            asked.add(a);
            return new PendingPermission(a.requestId(), a.answer());
        }

        @Override
        public void withdraw(String requestId) {
            withdrawn.add(requestId);
        }

        Asked next() throws InterruptedException {
            Asked a = asked.poll(60, TimeUnit.SECONDS);
            assertNotNull(a, "codex asked for no approval within 60 s");
            return a;
        }
    }

    @BeforeEach
    void start() {
        server = new FakeOpenAiResponsesServer();
        workspace = new HiveLayout(dir).workspaceDir("BOT-004").toAbsolutePath();
    }

    @AfterEach
    void stop() {
        server.close();
        assertEquals(List.of(), ProcessChecks.runningWithMarker(dir.toString()));
    }

    private Agent agent() {
        Profile p = TestProfiles.profile(AgentType.CODEX, AgentClis.codex().toString(), List.of(), "gpt-5.5", "workspace-write",
                List.of(), Map.of("OPENAI_BASE_URL", server.baseUrl() + "/v1", "CODEX_MAX_RETRIES", "0"),
                Map.of("OPENAI_API_KEY", "DEIA_TEST_KEY"));
        Map<String, String> parent = new HashMap<>(System.getenv());
        parent.put("DEIA_TEST_KEY", "test-key");
        return Agents.create(new AgentContext("BOT-004", p, new HiveLayout(dir), parent));
    }

    private static TurnRequest turn(String prompt, PermissionGate gate) {
        return new TurnRequest(prompt, Duration.ofSeconds(90), null, gate);
    }

    /** Runs a turn on another thread, so the test can answer its approval requests. */
    private static CompletableFuture<TurnResult> async(Agent a, TurnRequest request, List<AgentEvent> events) {
        return CompletableFuture.supplyAsync(() -> a.runTurn(request, events::add));
    }

    @Test
    void turnsShareOneProcessAndTheNextProcessResumesTheThread() throws Exception {
        List<AgentEvent> events = new CopyOnWriteArrayList<>();
        String thread;
        try (Agent a = agent()) {
            TurnResult first = a.runTurn(turn("say hi", null), events::add);
            assertEquals(TurnStatus.COMPLETED, first.status(), first.error());
            assertEquals("Hi from the fake model! You said: say hi", first.text());
            assertTrue(events.stream().filter(e -> e instanceof AgentEvent.TextDelta).count() > 1, "text streams: " + events);
            assertEquals(10L, first.inputTokens());
            Long pid = a.health().pid();
            assertNotNull(pid, "the app-server stays between turns");
            TurnResult second = a.runTurn(turn("say more", null), events::add);
            assertEquals(TurnStatus.COMPLETED, second.status(), second.error());
            assertEquals(pid, a.health().pid(), "one process per bot");
            assertEquals(first.sessionId(), second.sessionId());
            thread = second.sessionId();
        }
        try (Agent a = agent()) {
            TurnResult third = a.runTurn(turn("and again", null), events::add);
            assertEquals(TurnStatus.COMPLETED, third.status(), third.error());
            assertEquals(thread, third.sessionId(), "the restarted bot resumes its thread");
            String body = server.requests().get(server.requests().size() - 1).body();
            assertTrue(body.contains("say hi") && body.contains("say more"), "history resumed");
        }
    }

    @Test
    void aThreadCodexCannotResumeIsReplacedByANewOne() throws Exception {
        String thread;
        try (Agent a = agent()) {
            TurnResult r = a.runTurn(turn("say hi", null), null);
            assertEquals(TurnStatus.COMPLETED, r.status(), r.error());
            thread = r.sessionId();
        }
        Path stored = new HiveLayout(dir).botDir("BOT-004").resolve(SessionStore.FILE_NAME);
        String bogus = "01a252a9-0000-7000-8000-000000000000";
        Files.writeString(stored, Files.readString(stored).replace(thread, bogus));
        try (Agent a = agent()) {
            assertEquals(bogus, a.health().sessionId());
            TurnResult r = a.runTurn(turn("say more", null), null);
            assertEquals(TurnStatus.COMPLETED, r.status(), r.error());
            assertFalse(r.sessionId().equals(bogus) || r.sessionId().equals(thread), r.sessionId());
            assertTrue(Files.readString(stored).contains(r.sessionId()), "the new thread is stored");
        }
    }

    @Test
    void anAllowedCommandRunsAndADeclinedOneDoesNot() throws Exception {
        TestGate gate = new TestGate();
        Path allowed = workspace.resolve("allowed.txt");
        Path declined = workspace.resolve("declined.txt");
        try (Agent a = agent()) {
            List<AgentEvent> events = new CopyOnWriteArrayList<>();
            CompletableFuture<TurnResult> run = async(a, turn("RUN touch " + allowed, gate), events);
            TestGate.Asked ask = gate.next();
            assertEquals("Bash", ask.call().tool());
            assertEquals("touch " + allowed, ask.call().subject());
            assertFalse(Files.exists(allowed), "nothing runs before the answer");
            ask.answer(PermissionDecision.ALLOW);
            TurnResult r = run.get(90, TimeUnit.SECONDS);
            assertEquals(TurnStatus.COMPLETED, r.status(), r.error());
            assertTrue(Files.exists(allowed), "the allowed command ran");

            run = async(a, turn("RUN touch " + declined, gate), events);
            gate.next().answer(PermissionDecision.DENY);
            r = run.get(90, TimeUnit.SECONDS);
            assertEquals(TurnStatus.COMPLETED, r.status(), r.error());
            assertFalse(Files.exists(declined), "the declined command did not run");
            assertTrue(r.text().startsWith("Tool said:") && r.text().toLowerCase().contains("reject"), "the agent was told: " + r.text());
            assertTrue(events.stream().anyMatch(e -> e instanceof AgentEvent.ToolResult tr && tr.isError()), events.toString());
            assertEquals(List.of(), gate.withdrawn, "answered requests are not withdrawn");
        }
    }

    @Test
    void aFileChangeIsAskedAsAnEditAndAllowedForTheSession() throws Exception {
        TestGate gate = new TestGate();
        Path file = workspace.resolve("patched.txt");
        try (Agent a = agent()) {
            List<AgentEvent> events = new CopyOnWriteArrayList<>();
            CompletableFuture<TurnResult> run = async(a, turn("PATCH_FILE " + file, gate), events);
            TestGate.Asked ask = gate.next();
            assertEquals("Edit", ask.call().tool());
            assertEquals(file.toString(), ask.call().subject());
            ask.answer(PermissionDecision.ALLOW_SESSION);
            TurnResult r = run.get(90, TimeUnit.SECONDS);
            assertEquals(TurnStatus.COMPLETED, r.status(), r.error());
            assertEquals(FakeOpenAiResponsesServer.FILE_CONTENT + "\n", Files.readString(file));

            // acceptForSession: Codex does not ask again about the same command in this session.
            Path again = workspace.resolve("again.txt");
            run = async(a, turn("RUN touch " + again, gate), events);
            gate.next().answer(PermissionDecision.ALLOW_SESSION);
            assertEquals(TurnStatus.COMPLETED, run.get(90, TimeUnit.SECONDS).status());
            Files.delete(again);
            TurnResult repeat = a.runTurn(turn("RUN touch " + again, gate), events::add);
            assertEquals(TurnStatus.COMPLETED, repeat.status(), repeat.error());
            assertTrue(Files.exists(again), "the same command ran again");
            assertTrue(gate.asked.isEmpty(), "and was not asked about again: " + gate.asked);
        }
    }

    @Test
    void anInterruptWhileARequestWaitsEndsTheTurnAndWithdrawsIt() throws Exception {
        TestGate gate = new TestGate();
        Path never = workspace.resolve("never.txt");
        try (Agent a = agent()) {
            List<AgentEvent> events = new CopyOnWriteArrayList<>();
            CompletableFuture<TurnResult> run = async(a, turn("RUN touch " + never, gate), events);
            TestGate.Asked ask = gate.next();
            assertTrue(a.interrupt());
            TurnResult r = run.get(30, TimeUnit.SECONDS);
            assertEquals(TurnStatus.INTERRUPTED, r.status(), r.error());
            assertEquals(List.of(ask.requestId()), gate.withdrawn);
            ask.answer(PermissionDecision.ALLOW);
            assertFalse(Files.exists(never), "an interrupted request never runs");
            TurnResult next = a.runTurn(turn("say hi", null), events::add);
            assertEquals(TurnStatus.COMPLETED, next.status(), next.error());
            assertFalse(Files.exists(never));
        }
    }

    @Test
    void aTurnOverItsTimeoutIsStoppedAndItsRequestWithdrawn() throws Exception {
        TestGate gate = new TestGate();
        try (Agent a = agent()) {
            TurnResult r = a.runTurn(new TurnRequest("RUN touch " + workspace.resolve("slow.txt"), Duration.ofSeconds(4), null, gate), null);
            assertEquals(TurnStatus.TIMEOUT, r.status(), r.error());
            TestGate.Asked ask = gate.next();
            assertEquals(List.of(ask.requestId()), gate.withdrawn);
            assertFalse(Files.exists(workspace.resolve("slow.txt")));
            TurnResult next = a.runTurn(turn("say hi", null), null);
            assertEquals(TurnStatus.COMPLETED, next.status(), next.error());
        }
    }

    @Test
    void aProcessKilledWhileARequestWaitsFailsTheTurnAndTheNextResumes() throws Exception {
        TestGate gate = new TestGate();
        try (Agent a = agent()) {
            TurnResult hi = a.runTurn(turn("say hi", null), null);
            assertEquals(TurnStatus.COMPLETED, hi.status(), hi.error());
            CompletableFuture<TurnResult> run = async(a, turn("RUN touch " + workspace.resolve("x.txt"), gate), new CopyOnWriteArrayList<>());
            TestGate.Asked ask = gate.next();
            ProcessHandle.of(a.health().pid()).orElseThrow().destroyForcibly();
            TurnResult r = run.get(30, TimeUnit.SECONDS);
            assertEquals(TurnStatus.FAILED, r.status());
            assertTrue(r.error().contains("codex exited with code 137 during the turn"), r.error());
            assertEquals(List.of(ask.requestId()), gate.withdrawn, "no request is left dangling");
            TurnResult next = a.runTurn(turn("say more", null), null);
            assertEquals(TurnStatus.COMPLETED, next.status(), next.error());
            assertEquals(hi.sessionId(), next.sessionId());
            assertTrue(server.requests().get(server.requests().size() - 1).body().contains("say hi"), "history resumed");
        }
    }

    @Test
    void theBotsBrokerDecidesByPolicyByAPersonAndByTimeout() throws Exception {
        List<String> told = new CopyOnWriteArrayList<>();
        BlockingQueue<PermissionRequest> waiting = new LinkedBlockingQueue<>();
        PermissionListener listener = new PermissionListener() {
            @Override
            public void requested(PermissionRequest request) {
                told.add("requested " + request.tool() + " " + request.summary());
                waiting.add(request);
            }

            @Override
            public void resolved(PermissionRequest request, PermissionAnswer answer) {
                told.add("resolved " + answer.decision().id() + " by " + answer.by().id());
            }
        };
        ScheduledExecutorService scheduler = Executors.newSingleThreadScheduledExecutor();
        ApprovalPolicy policy = new ApprovalPolicy("ask", 2, List.of("Bash(touch *policy*)"), List.of("Bash(rm *)"));
        Path keep = Files.createDirectories(workspace).resolve("keep.txt");
        Files.writeString(keep, "keep");
        try (PermissionBroker broker = new PermissionBroker("BOT-004", policy, List.of(), listener, scheduler); Agent a = agent()) {
            TurnResult allowed = a.runTurn(turn("RUN touch " + workspace.resolve("policy.txt"), broker), null);
            assertEquals(TurnStatus.COMPLETED, allowed.status(), allowed.error());
            assertTrue(Files.exists(workspace.resolve("policy.txt")), "allowed by the policy, at once");

            TurnResult denied = a.runTurn(turn("RUN rm " + keep, broker), null);
            assertEquals(TurnStatus.COMPLETED, denied.status(), denied.error());
            assertTrue(Files.exists(keep), "denied by the policy");

            TurnResult timedOut = a.runTurn(turn("RUN touch " + workspace.resolve("late.txt"), broker), null);
            assertEquals(TurnStatus.COMPLETED, timedOut.status(), timedOut.error());
            assertFalse(Files.exists(workspace.resolve("late.txt")), "nobody answered: denied");

            waiting.clear();
            CompletableFuture<TurnResult> run = async(a, turn("RUN touch " + workspace.resolve("person.txt"), broker),
                    new CopyOnWriteArrayList<>());
            PermissionRequest request = waiting.poll(60, TimeUnit.SECONDS);
            assertNotNull(request);
            assertEquals(List.of(request), broker.pending());
            broker.answer(request.requestId(), PermissionDecision.ALLOW, null);
            assertEquals(TurnStatus.COMPLETED, run.get(90, TimeUnit.SECONDS).status());
            assertTrue(Files.exists(workspace.resolve("person.txt")), "allowed by a person");
        } finally {
            scheduler.shutdownNow();
        }
        assertEquals(List.of("requested Bash touch " + workspace.resolve("policy.txt"), "resolved allow by policy",
                "requested Bash rm " + keep, "resolved deny by policy",
                "requested Bash touch " + workspace.resolve("late.txt"), "resolved deny by timeout",
                "requested Bash touch " + workspace.resolve("person.txt"), "resolved allow by user"), told);
    }
}
