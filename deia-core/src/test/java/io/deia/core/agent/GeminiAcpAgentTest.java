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
import io.deia.core.testkit.FakeGeminiServer;
import io.deia.core.testkit.ProcessChecks;
import io.deia.core.testkit.TestProfiles;
import org.junit.jupiter.api.AfterEach;
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
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The real Gemini CLI over ACP ({@code gemini --acp}) against the scripted endpoint on 127.0.0.1:
 * turns in one process and session, approvals relayed through a gate (allowed, denied, allowed for
 * the session), cancel with and without a pending request, a killed process. Run with -Pagents.
 */
@Tag("agents")
class GeminiAcpAgentTest {
    @TempDir
    Path dir;
    private final FakeGeminiServer server = new FakeGeminiServer();
    private final List<AgentEvent> events = new CopyOnWriteArrayList<>();

    @AfterEach
    void stop() {
        server.close();
        assertEquals(List.of(), ProcessChecks.runningWithMarker(dir.toString()), "no gemini process outlives its agent");
    }

    /** A gate whose answers a test gives: by a function of the call, or by hand through {@link #asked}. */
    static final class TestGate implements PermissionGate {
        final BlockingQueue<ToolCall> calls = new LinkedBlockingQueue<>();
        final Map<String, CompletableFuture<PermissionAnswer>> pending = new java.util.concurrent.ConcurrentHashMap<>();
        final List<String> withdrawn = new CopyOnWriteArrayList<>();
        private final Function<ToolCall, PermissionDecision> decide;
        private int n;

        TestGate(Function<ToolCall, PermissionDecision> decide) {
            this.decide = decide;
        }

        @Override
        public synchronized PendingPermission ask(ToolCall call) {
            String id = "perm-" + (++n);
            CompletableFuture<PermissionAnswer> answer = new CompletableFuture<>();
            pending.put(id, answer);
            calls.add(call);
            PermissionDecision d = decide == null ? null : decide.apply(call);
            if (d != null) {
                answer.complete(new PermissionAnswer(d, null, PermissionAnswer.DecidedBy.USER, Instant.now()));
            }
            return new PendingPermission(id, answer);
        }

        @Override
        public void withdraw(String requestId) {
            withdrawn.add(requestId);
            pending.get(requestId).complete(new PermissionAnswer(PermissionDecision.DENY, null, PermissionAnswer.DecidedBy.CANCELLED,
                    Instant.now()));
        }

        ToolCall asked() throws InterruptedException {
            ToolCall c = calls.poll(60, TimeUnit.SECONDS);
            assertNotNull(c, "the gate was asked");
            return c;
        }
    }

    private Agent agent(String permissionMode) {
        Profile p = TestProfiles.profile(AgentType.GEMINI, AgentClis.gemini().toString(), List.of(), "gemini-2.5-flash", permissionMode,
                List.of(), Map.of("GOOGLE_GEMINI_BASE_URL", server.baseUrl()), Map.of("GEMINI_API_KEY", "DEIA_TEST_KEY"));
        Map<String, String> parent = new HashMap<>(System.getenv());
        parent.put("DEIA_TEST_KEY", "test-key");
        return Agents.create(new AgentContext("BOT-007", p, new HiveLayout(dir), parent));
    }

    private Path workspace() {
        return new HiveLayout(dir).workspaceDir("BOT-007").toAbsolutePath();
    }

    private TurnResult turn(Agent a, String prompt, PermissionGate gate) {
        return a.runTurn(new TurnRequest(prompt, Duration.ofSeconds(90), null, gate), events::add);
    }

    @Test
    void twoTurnsShareOneProcessAndSession() throws Exception {
        try (Agent a = agent(null)) {
            TurnResult first = turn(a, "say hi", null);
            assertEquals(TurnStatus.COMPLETED, first.status(), first.error());
            assertEquals("Hi from the fake model! You said: say hi", first.text());
            assertTrue(first.inputTokens() > 0 && first.outputTokens() > 0, first.toString());
            assertTrue(events.stream().filter(e -> e instanceof AgentEvent.TextDelta).count() > 1, "the reply streams");
            long pid = a.health().pid();
            String cmdline = Files.readString(Path.of("/proc/" + pid + "/cmdline")).replace('\0', ' ');
            assertTrue(cmdline.contains("--acp") && !cmdline.contains("say hi"), "the prompt goes on stdin, never in argv: " + cmdline);
            TurnResult second = turn(a, "again", null);
            assertEquals(TurnStatus.COMPLETED, second.status(), second.error());
            assertEquals("Hi from the fake model! You said: again", second.text());
            assertEquals(first.sessionId(), second.sessionId());
            assertEquals(pid, a.health().pid(), "one process for both turns");
            assertTrue(server.requests().get(server.requests().size() - 1).body().contains("say hi"), "the session keeps its history");
        }
    }

    @Test
    void anAllowedShellCommandRuns() throws Exception {
        TestGate gate = new TestGate(c -> PermissionDecision.ALLOW);
        try (Agent a = agent(null)) {
            TurnResult r = turn(a, "RUN_BASH echo ran > ran.txt", gate);
            assertEquals(TurnStatus.COMPLETED, r.status(), r.error());
            ToolCall call = gate.asked();
            assertEquals("Bash", call.tool());
            assertEquals("echo ran > ran.txt", call.subject());
            assertEquals(List.of("Allow for this session"), call.suggestions());
            assertEquals("ran\n", Files.readString(workspace().resolve("ran.txt")));
            assertEquals("Done: ran it.", r.text());
            assertTrue(events.stream().anyMatch(e -> e instanceof AgentEvent.ToolUse u && u.name().equals("Bash")), events.toString());
            assertTrue(events.stream().anyMatch(e -> e instanceof AgentEvent.ToolResult t && !t.isError()), events.toString());
        }
    }

    @Test
    void aDeniedShellCommandDoesNotRunAndTheModelHearsIt() throws Exception {
        TestGate gate = new TestGate(c -> PermissionDecision.DENY);
        try (Agent a = agent(null)) {
            TurnResult r = turn(a, "RUN_BASH echo ran > ran.txt", gate);
            assertEquals(TurnStatus.COMPLETED, r.status(), r.error());
            assertEquals("echo ran > ran.txt", gate.asked().subject());
            assertFalse(Files.exists(workspace().resolve("ran.txt")));
            assertTrue(r.text().startsWith("Refused: ") && r.text().contains("canceled by the user"), r.text());
        }
    }

    @Test
    void anEditAllowedForTheSessionIsNotAskedAgain() throws Exception {
        TestGate gate = new TestGate(c -> PermissionDecision.ALLOW_SESSION);
        try (Agent a = agent(null)) {
            TurnResult r = turn(a, "WRITE_FILE " + workspace().resolve("one.txt"), gate);
            assertEquals(TurnStatus.COMPLETED, r.status(), r.error());
            ToolCall call = gate.asked();
            assertEquals("Edit", call.tool());
            assertEquals(workspace().resolve("one.txt").toString(), call.subject());
            assertEquals(FakeGeminiServer.FILE_CONTENT, call.input().get("new_text"));
            assertEquals(FakeGeminiServer.FILE_CONTENT, Files.readString(workspace().resolve("one.txt")));
            assertEquals("Done: wrote one.txt.", r.text());
            TurnResult again = turn(a, "WRITE_FILE " + workspace().resolve("two.txt"), gate);
            assertEquals(TurnStatus.COMPLETED, again.status(), again.error());
            assertEquals(FakeGeminiServer.FILE_CONTENT, Files.readString(workspace().resolve("two.txt")));
            assertEquals(List.of(), List.copyOf(gate.calls), "the CLI remembers the session's allowance");
        }
    }

    @Test
    void withoutAGateTheApprovalModeDecidesAndAskingIsRefused() {
        try (Agent a = agent("auto_edit")) {
            TurnResult shell = turn(a, "RUN_BASH echo ran > ran.txt", null);
            assertEquals(TurnStatus.COMPLETED, shell.status(), shell.error());
            assertFalse(Files.exists(workspace().resolve("ran.txt")));
            assertTrue(shell.text().startsWith("Refused: "), shell.text());
            TurnResult write = turn(a, "WRITE_FILE " + workspace().resolve("w.txt"), null);
            assertEquals(TurnStatus.COMPLETED, write.status(), write.error());
            assertTrue(Files.exists(workspace().resolve("w.txt")), "auto_edit writes without asking");
        }
    }

    @Test
    void cancelEndsTheTurnAndKeepsTheProcess() throws Exception {
        try (Agent a = agent(null)) {
            assertEquals(TurnStatus.COMPLETED, turn(a, "say hi", null).status());
            long pid = a.health().pid();
            CompletableFuture<TurnResult> held = CompletableFuture.supplyAsync(() -> turn(a, "HOLD", null));
            awaitEvent(e -> e instanceof AgentEvent.TextDelta d && d.text().contains(FakeGeminiServer.HOLD_TEXT));
            assertTrue(a.interrupt());
            TurnResult r = held.get(30, TimeUnit.SECONDS);
            assertEquals(TurnStatus.INTERRUPTED, r.status());
            assertEquals("gemini was interrupted", r.error());
            assertTrue(r.text().contains(FakeGeminiServer.HOLD_TEXT), r.text());
            TurnResult next = turn(a, "still there?", null);
            assertEquals(TurnStatus.COMPLETED, next.status(), next.error());
            assertEquals(pid, a.health().pid(), "session/cancel ended the turn, not the process");
        }
    }

    @Test
    void cancelWhileARequestWaitsAnswersItCancelledAndWithdrawsIt() throws Exception {
        TestGate gate = new TestGate(null);
        try (Agent a = agent(null)) {
            CompletableFuture<TurnResult> waiting = CompletableFuture.supplyAsync(() -> turn(a, "RUN_BASH echo ran > ran.txt", gate));
            assertEquals("Bash", gate.asked().tool());
            assertTrue(a.interrupt());
            TurnResult r = waiting.get(30, TimeUnit.SECONDS);
            assertEquals(TurnStatus.INTERRUPTED, r.status());
            assertEquals(List.of("perm-1"), gate.withdrawn);
            assertFalse(Files.exists(workspace().resolve("ran.txt")));
            TurnResult next = turn(a, "say hi", gate);
            assertEquals(TurnStatus.COMPLETED, next.status(), next.error());
        }
    }

    @Test
    void aKilledProcessFailsNothingIdleAndTheNextTurnLoadsTheSession() throws Exception {
        try (Agent a = agent(null)) {
            TurnResult first = turn(a, "remember me", null);
            assertEquals(TurnStatus.COMPLETED, first.status(), first.error());
            long pid = a.health().pid();
            new ProcessBuilder("kill", "-9", Long.toString(pid)).start().waitFor();
            awaitCondition(() -> a.health().pid() == null);
            TurnResult next = turn(a, "and now?", null);
            assertEquals(TurnStatus.COMPLETED, next.status(), next.error());
            assertEquals("Hi from the fake model! You said: and now?", next.text(), "the replayed history is not the reply");
            assertEquals(first.sessionId(), next.sessionId());
            assertTrue(a.health().pid() != pid);
            assertTrue(server.requests().get(server.requests().size() - 1).body().contains("remember me"), "the session was loaded");
        }
    }

    @Test
    void aProcessKilledDuringATurnFailsItClearlyAndTheNextTurnStartsAnother() throws Exception {
        try (Agent a = agent(null)) {
            CompletableFuture<TurnResult> held = CompletableFuture.supplyAsync(() -> turn(a, "HOLD", null));
            awaitEvent(e -> e instanceof AgentEvent.TextDelta d && d.text().contains(FakeGeminiServer.HOLD_TEXT));
            long pid = a.health().pid();
            new ProcessBuilder("kill", "-9", Long.toString(pid)).start().waitFor();
            TurnResult r = held.get(30, TimeUnit.SECONDS);
            assertEquals(TurnStatus.FAILED, r.status());
            assertTrue(r.error().startsWith("gemini exited with code 137 during the turn"), r.error());
            assertEquals(1, a.health().crashes());
            TurnResult next = turn(a, "after the crash", null);
            assertEquals(TurnStatus.COMPLETED, next.status(), next.error());
            assertEquals("Hi from the fake model! You said: after the crash", next.text());
            assertTrue(a.health().pid() != pid);
        }
    }

    /** Records what a {@link PermissionBroker} tells its listener. */
    static final class Resolutions implements PermissionListener {
        final List<PermissionRequest> asked = new CopyOnWriteArrayList<>();
        final List<PermissionAnswer> resolved = new CopyOnWriteArrayList<>();

        @Override
        public void requested(PermissionRequest request) {
            asked.add(request);
        }

        @Override
        public void resolved(PermissionRequest request, PermissionAnswer answer) {
            resolved.add(answer);
        }
    }

    @Test
    void withTheBrokerTheProfilesRulesDecideWithoutAPerson() {
        Resolutions seen = new Resolutions();
        ScheduledExecutorService scheduler = Executors.newSingleThreadScheduledExecutor();
        try (Agent a = agent(null); PermissionBroker broker = new PermissionBroker("BOT-007",
                new ApprovalPolicy("ask", 60, List.of("Bash(echo *)"), List.of("Bash(rm *)")), List.of(), seen, scheduler)) {
            TurnResult allowed = turn(a, "RUN_BASH echo ran > ran.txt", broker);
            assertEquals(TurnStatus.COMPLETED, allowed.status(), allowed.error());
            assertTrue(Files.exists(workspace().resolve("ran.txt")));
            assertEquals("echo ran > ran.txt", seen.asked.get(0).summary());
            Files.writeString(workspace().resolve("keep.txt"), "x");
            TurnResult denied = turn(a, "RUN_BASH rm keep.txt", broker);
            assertTrue(denied.text().startsWith("Refused: "), denied.text());
            assertTrue(Files.exists(workspace().resolve("keep.txt")), "the deny rule kept the file");
            assertEquals(List.of(PermissionDecision.ALLOW, PermissionDecision.DENY),
                    seen.resolved.stream().map(PermissionAnswer::decision).toList());
            assertTrue(seen.resolved.stream().allMatch(r -> r.by() == PermissionAnswer.DecidedBy.POLICY), seen.resolved.toString());
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        } finally {
            scheduler.shutdownNow();
        }
    }

    @Test
    void withTheBrokerARequestNobodyAnswersIsDeniedAtItsTimeout() {
        Resolutions seen = new Resolutions();
        ScheduledExecutorService scheduler = Executors.newSingleThreadScheduledExecutor();
        try (Agent a = agent(null); PermissionBroker broker = new PermissionBroker("BOT-007",
                new ApprovalPolicy("ask", 1, List.of(), List.of()), List.of(), seen, scheduler)) {
            TurnResult r = turn(a, "RUN_BASH echo ran > ran.txt", broker);
            assertEquals(TurnStatus.COMPLETED, r.status(), r.error());
            assertTrue(r.text().startsWith("Refused: "), r.text());
            assertFalse(Files.exists(workspace().resolve("ran.txt")));
            assertEquals(1, seen.resolved.size());
            assertEquals(PermissionAnswer.DecidedBy.TIMEOUT, seen.resolved.get(0).by());
            assertEquals(PermissionDecision.DENY, seen.resolved.get(0).decision());
        } finally {
            scheduler.shutdownNow();
        }
    }

    private void awaitEvent(java.util.function.Predicate<AgentEvent> p) throws InterruptedException {
        awaitCondition(() -> events.stream().anyMatch(p));
    }

    private static void awaitCondition(java.util.function.BooleanSupplier c) throws InterruptedException {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!c.getAsBoolean()) {
            assertTrue(System.nanoTime() < end, "condition not met within 60 s");
            Thread.sleep(20);
        }
    }
}
