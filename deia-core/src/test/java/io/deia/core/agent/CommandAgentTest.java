package io.deia.core.agent;

import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;
import io.deia.core.HiveLayout;
import io.deia.core.config.AgentType;
import io.deia.core.config.Profile;
import io.deia.core.testkit.ProcessChecks;
import io.deia.core.testkit.TestProfiles;
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

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CommandAgentTest {
    @TempDir
    Path dir;

    private Agent agent(Profile profile) {
        return agent(profile, System.getenv());
    }

    private Agent agent(Profile profile, Map<String, String> parentEnv) {
        return Agents.create(new AgentContext("BOT-001", profile, new HiveLayout(dir), parentEnv));
    }

    private static TurnRequest turn(String prompt) {
        return new TurnRequest(prompt, Duration.ofSeconds(30), null);
    }

    @Test
    void promptOnStdinComesBackAsStreamedReply() {
        List<AgentEvent> events = new CopyOnWriteArrayList<>();
        try (Agent a = agent(TestProfiles.command("cat"))) {
            assertEquals("command", a.type());
            TurnResult r = a.runTurn(turn("line one\nline two\n"), events::add);
            assertEquals(TurnStatus.COMPLETED, r.status());
            assertEquals("line one\nline two\n", r.text());
            assertEquals(0, r.exitCode());
            assertNull(r.error());
            assertEquals(List.of(new AgentEvent.TextDelta("line one\n"), new AgentEvent.TextDelta("line two\n"),
                    new AgentEvent.Result(r)), events);
            assertEquals(0, a.health().lastExitCode());
            assertNull(a.health().pid());
        }
        assertTrue(Files.isDirectory(new HiveLayout(dir).workspaceDir("BOT-001")));
    }

    @Test
    void withAWorktreeTheAgentWorksThereAndTheWorktreeMustExist() throws Exception {
        HiveLayout hive = new HiveLayout(dir.resolve("hive"));
        Path worktree = Files.createDirectories(dir.resolve("elsewhere").resolve("BOT-001")).toAbsolutePath();
        AgentContext context = new AgentContext("BOT-001", TestProfiles.command("sh", "-c", "pwd; echo made > here.txt"), hive,
                System.getenv(), worktree);
        assertEquals(worktree, context.workspace());
        try (Agent a = Agents.create(context)) {
            TurnResult r = a.runTurn(turn(""), null);
            assertEquals(TurnStatus.COMPLETED, r.status(), r.error());
            assertEquals(worktree.toRealPath().toString(), r.text().strip());
            assertEquals("made\n", Files.readString(worktree.resolve("here.txt")));
        }
        assertFalse(Files.exists(hive.workspaceDir("BOT-001")), "no private workspace is made");
        assertEquals(hive.workspaceDir("BOT-001"), new AgentContext("BOT-001", context.profile(), hive, Map.of()).workspace());

        DeiaException missing = assertThrows(DeiaException.class, () -> Agents.create(new AgentContext("BOT-001",
                context.profile(), hive, Map.of(), dir.resolve("no-such-worktree").toAbsolutePath())));
        assertEquals(ErrorCode.UNPROCESSABLE, missing.code());
        assertTrue(missing.getMessage().contains("its worktree") && missing.getMessage().contains("does not exist"),
                missing.getMessage());
        IllegalArgumentException relative = assertThrows(IllegalArgumentException.class, () -> new AgentContext("BOT-001",
                context.profile(), hive, Map.of(), Path.of("relative/worktree")));
        assertTrue(relative.getMessage().contains("absolute"), relative.getMessage());
    }

    @Test
    void promptReplacesPlaceholderArgumentWithoutAShell() {
        try (Agent a = agent(TestProfiles.commandWithPromptInArgv("/bin/echo", "said:", "{prompt}"))) {
            TurnResult r = a.runTurn(turn("hello; rm -rf / $(whoami)"), null);
            assertEquals(TurnStatus.COMPLETED, r.status());
            assertEquals("said: hello; rm -rf / $(whoami)\n", r.text());
        }
    }

    @Test
    void runsInTheWorkspaceWithACleanEnvironment() {
        Map<String, String> parent = new HashMap<>(System.getenv());
        parent.put("DEIA_TEST_LEAK", "leaked");
        parent.put("DEIA_TEST_SECRET_SOURCE", "s3cr3t");
        Profile p = TestProfiles.profile(AgentType.COMMAND, "sh",
                List.of("-c", "pwd; echo home=$HOME; echo plain=$PLAIN; echo secret=$API_KEY; echo leak=$DEIA_TEST_LEAK; echo bot=$DEIA_BOT_ID; echo hive=$DEIA_HIVE"),
                null, null, List.of(), Map.of("PLAIN", "p1"), Map.of("API_KEY", "DEIA_TEST_SECRET_SOURCE"));
        HiveLayout hive = new HiveLayout(dir);
        try (Agent a = agent(p, parent)) {
            TurnResult r = a.runTurn(turn("x"), null);
            assertEquals(hive.workspaceDir("BOT-001").toAbsolutePath() + "\n"
                    + "home=" + hive.agentHomeDir("BOT-001").toAbsolutePath() + "\n"
                    + "plain=p1\nsecret=s3cr3t\nleak=\n"
                    + "bot=BOT-001\nhive=" + hive.root() + "\n", r.text());
        }
    }

    @Test
    void missingSecretVariableIsRefusedNamingIt() {
        Profile p = TestProfiles.profile(AgentType.COMMAND, "cat", List.of(), null, null, List.of(), Map.of(),
                Map.of("API_KEY", "DEIA_TEST_NOT_SET_ANYWHERE"));
        DeiaException e = assertThrows(DeiaException.class, () -> agent(p, Map.of("PATH", "/usr/bin:/bin")));
        assertEquals(ErrorCode.UNPROCESSABLE, e.code());
        assertTrue(e.getMessage().contains("DEIA_TEST_NOT_SET_ANYWHERE"), e.getMessage());
    }

    @Test
    void nonZeroExitFailsWithTheEndOfStderr() {
        try (Agent a = agent(TestProfiles.command("sh", "-c", "echo partial; echo 'bad thing happened' >&2; exit 3"))) {
            TurnResult r = a.runTurn(turn("x"), null);
            assertEquals(TurnStatus.FAILED, r.status());
            assertEquals(3, r.exitCode());
            assertEquals("partial\n", r.text());
            assertTrue(r.error().contains("exited with code 3") && r.error().contains("bad thing happened"), r.error());
            assertEquals(0, a.health().crashes());
            assertEquals(3, a.health().lastExitCode());
        }
    }

    @Test
    void deathBySignalCountsAsCrashAndTheNextTurnWorks() {
        try (Agent a = agent(TestProfiles.command("sh", "-c", "if [ \"$(cat)\" = die ]; then kill -9 $$; fi; echo fine"))) {
            TurnResult r = a.runTurn(turn("die"), null);
            assertEquals(TurnStatus.FAILED, r.status());
            assertEquals(137, r.exitCode());
            assertEquals(1, a.health().crashes());
            TurnResult next = a.runTurn(turn("live"), null);
            assertEquals(TurnStatus.COMPLETED, next.status());
            assertEquals("fine\n", next.text());
            assertEquals(1, a.health().crashes());
        }
    }

    @Test
    void timeoutStopsTheWholeTree() {
        try (Agent a = agent(TestProfiles.command("sh", "-c", "sleep 301.5 & sleep 302.5; echo never"))) {
            TurnResult r = a.runTurn(new TurnRequest("x", Duration.ofMillis(500), "T-1"), null);
            assertEquals(TurnStatus.TIMEOUT, r.status());
            assertTrue(r.error().contains("did not finish in time"), r.error());
            assertEquals(0, a.health().crashes());
        }
        // Killed processes may linger a moment as zombies until they are reaped.
        await().atMost(5, TimeUnit.SECONDS).until(() -> ProcessChecks.runningWithMarker("sleep 301.5").isEmpty()
                && ProcessChecks.runningWithMarker("sleep 302.5").isEmpty());
    }

    @Test
    void backgroundChildrenDoNotOutliveTheTurn() {
        try (Agent a = agent(TestProfiles.command("sh", "-c", "sleep 303.5 >/dev/null 2>&1 & echo started"))) {
            TurnResult r = a.runTurn(turn("x"), null);
            assertEquals(TurnStatus.COMPLETED, r.status());
        }
        await().atMost(5, TimeUnit.SECONDS).until(() -> ProcessChecks.runningWithMarker("sleep 303.5").isEmpty());
    }

    @Test
    void interruptEndsTheTurnAndTheAgentStaysUsable() throws Exception {
        List<AgentEvent> events = new CopyOnWriteArrayList<>();
        try (Agent a = agent(TestProfiles.command("sh", "-c", "echo started; exec sleep 304.5"))) {
            assertFalse(a.interrupt());
            CompletableFuture<TurnResult> turn = CompletableFuture.supplyAsync(() -> a.runTurn(turn("x"), events::add));
            await().atMost(10, TimeUnit.SECONDS).until(() -> events.contains(new AgentEvent.TextDelta("started\n")));
            await().atMost(10, TimeUnit.SECONDS).until(() -> a.health().pid() != null);
            assertThrows(IllegalStateException.class, () -> a.runTurn(turn("y"), null));
            assertTrue(a.interrupt());
            TurnResult r = turn.get(20, TimeUnit.SECONDS);
            assertEquals(TurnStatus.INTERRUPTED, r.status());
            assertEquals("started\n", r.text());
            assertEquals(0, a.health().crashes());
            assertEquals(List.of(), ProcessChecks.runningWithMarker("sleep 304.5"));
        }
    }

    @Test
    void closeKillsARunningTurnAndRefusesNewOnes() throws Exception {
        List<AgentEvent> events = new CopyOnWriteArrayList<>();
        Agent a = agent(TestProfiles.command("sh", "-c", "echo started; sleep 305.5; echo never"));
        CompletableFuture<TurnResult> turn = CompletableFuture.supplyAsync(() -> a.runTurn(turn("x"), events::add));
        await().atMost(10, TimeUnit.SECONDS).until(() -> !events.isEmpty());
        a.close();
        a.close();
        assertEquals(TurnStatus.INTERRUPTED, turn.get(20, TimeUnit.SECONDS).status());
        assertEquals(List.of(), ProcessChecks.runningWithMarker("sleep 305.5"));
        assertThrows(IllegalStateException.class, () -> a.runTurn(turn("y"), null));
    }

    @Test
    void aFloodOfOutputIsCappedAndDrained() {
        List<AgentEvent> events = new CopyOnWriteArrayList<>();
        // 200 MB without a line break, then 20 MB of lines: read to the end, kept only up to the cap.
        try (Agent a = agent(TestProfiles.command("sh", "-c",
                "head -c 200000000 /dev/zero; echo; head -c 20000000 /dev/zero | tr '\\0' a | fold -w 100; echo done >&2"))) {
            TurnResult r = a.runTurn(turn("x"), events::add);
            assertEquals(TurnStatus.COMPLETED, r.status());
            assertTrue(r.text().endsWith(BoundedText.TRUNCATED_MARK));
            assertTrue(r.text().length() <= CommandAgent.MAX_REPLY_CHARS + BoundedText.TRUNCATED_MARK.length());
            assertEquals(1, events.stream().filter(e -> e instanceof AgentEvent.Error).count());
        }
    }

    @Test
    void aLineOverTheCapIsCutWithAMarkEvenWithoutANewline() {
        String kept = "x".repeat(CommandAgent.MAX_LINE_BYTES);
        String mark = BoundedText.lineCutMark(CommandAgent.MAX_LINE_BYTES);
        // 100 MB and no line break at all: the reply is the first 64 KiB and says it was cut.
        try (Agent a = agent(TestProfiles.command("sh", "-c", "head -c 100000000 /dev/zero | tr '\\0' x"))) {
            TurnResult r = a.runTurn(turn("x"), null);
            assertEquals(TurnStatus.COMPLETED, r.status());
            assertEquals(kept + mark, r.text());
            assertTrue(r.text().contains("[output truncated"), "marked");
        }
        // A cut line in the middle: the mark where it was cut, the next lines whole.
        try (Agent a = agent(TestProfiles.command("sh", "-c", "head -c 70000 /dev/zero | tr '\\0' x; echo; echo after"))) {
            TurnResult r = a.runTurn(turn("x"), null);
            assertEquals(kept + mark + "\nafter\n", r.text());
        }
    }

    @Test
    void missingExecutableIsRefusedNamingExecutableAndProfile() {
        Profile p = TestProfiles.command("deia-no-such-program-xyz");
        DeiaException e = assertThrows(DeiaException.class, () -> Agents.checkExecutable(p));
        assertEquals(ErrorCode.UNPROCESSABLE, e.code());
        assertTrue(e.getMessage().contains("deia-no-such-program-xyz") && e.getMessage().contains(p.name()), e.getMessage());
        DeiaException abs = assertThrows(DeiaException.class, () -> Agents.checkExecutable(TestProfiles.command("/nonexistent/prog")));
        assertTrue(abs.getMessage().contains("/nonexistent/prog"));
        assertThrows(DeiaException.class, () -> agent(p));
        Agents.checkExecutable(TestProfiles.command("sh"));
        Agents.checkExecutable(TestProfiles.command("/bin/sh"));
    }

    @Test
    void aProgramThatCannotStartFailsTheTurn() throws Exception {
        Path script = dir.resolve("vanishing.sh");
        Files.writeString(script, "#!/bin/sh\necho hi\n");
        script.toFile().setExecutable(true);
        try (Agent a = agent(TestProfiles.command(script.toString()))) {
            Files.delete(script);
            TurnResult r = a.runTurn(turn("x"), null);
            assertEquals(TurnStatus.FAILED, r.status());
        }
    }
}
