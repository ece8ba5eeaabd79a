package io.deia.core.agent;

import io.deia.core.HiveLayout;
import io.deia.core.config.AgentType;
import io.deia.core.config.Profile;
import io.deia.core.testkit.TestProfiles;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A one-shot agent's attempts started again at once ({@link ImmediateRetry}), with real processes. */
class ImmediateRetryTest {
    /**
     * Counts its attempts in the workspace. Attempts 1 and 2 start a grandchild ({@code sleep}) in
     * their process group, wait for the file {@code go<n>}, then kill themselves (SIGKILL). Attempts 2
     * and 3 first say whether the previous attempt's grandchild still sleeps; attempt 3 then succeeds.
     */
    private static final String CRASH_TWICE = "n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; "
            + "echo \"attempt $n pid $$\"; "
            + "if [ $n -gt 1 ]; then p=$((n-1)); s=$(cut -d' ' -f3 /proc/$(cat gc$p)/stat 2>/dev/null); "
            + "if [ \"$s\" = S ]; then echo \"gc$p sleeps\"; else echo \"gc$p ended\"; fi; fi; "
            + "if [ $n -lt 3 ]; then sleep 60 & echo $! > gc$n; while [ ! -e go$n ]; do sleep 0.02; done; kill -9 $$; fi; "
            + "echo done";

    @TempDir
    Path dir;

    /** An {@link ImmediateRetry} that says yes {@code allowed} times and records what it was told. */
    private static final class Recorder implements ImmediateRetry {
        final List<TurnResult> failed = new CopyOnWriteArrayList<>();
        final List<Long> standbyWhenAsked = new CopyOnWriteArrayList<>();
        volatile OneShotAgent agent;
        volatile int asked;
        private final int allowed;

        Recorder(int allowed) {
            this.allowed = allowed;
        }

        @Override
        public boolean beginRetry() {
            asked++;
            standbyWhenAsked.add(agent == null ? 0 : agent.standbyPid());
            return asked <= allowed;
        }

        @Override
        public void retryStarted(TurnResult result) {
            failed.add(result);
        }
    }

    private OneShotAgent agent(String script) {
        return (OneShotAgent) Agents.create(context(script));
    }

    private AgentContext context(String script) {
        return new AgentContext("BOT-001", TestProfiles.command("/bin/sh", "-c", script, "sh"), new HiveLayout(dir), System.getenv());
    }

    private static List<TurnResult> results(List<AgentEvent> events) {
        return events.stream().filter(e -> e instanceof AgentEvent.Result).map(e -> ((AgentEvent.Result) e).result()).toList();
    }

    @Test
    void aCrashedAttemptIsStartedAgainFromTheStandbyAfterItsProcessGroupIsKilled() throws Exception {
        OneShotAgent agent = agent(CRASH_TWICE);
        Path workspace = context(CRASH_TWICE).workspace();
        Recorder retry = new Recorder(5);
        retry.agent = agent;
        List<AgentEvent> events = new CopyOnWriteArrayList<>();
        try (agent) {
            CompletableFuture<TurnResult> turn = CompletableFuture.supplyAsync(
                    () -> agent.runTurn(new TurnRequest("x", Duration.ofSeconds(60), "T-1", retry), events::add));
            long previous = 0;
            for (int n = 1; n <= 2; n++) {
                long before = previous;
                // Each crash waits until the next attempt's standby is ready, so that it takes the retry.
                await().atMost(30, TimeUnit.SECONDS).until(() -> agent.standbyPid() != 0 && agent.standbyPid() != before);
                previous = agent.standbyPid();
                Files.createFile(workspace.resolve("go" + n));
            }
            TurnResult last = turn.get(60, TimeUnit.SECONDS);

            assertEquals(TurnStatus.COMPLETED, last.status(), last.toString());
            assertEquals(2, retry.asked);
            assertEquals(2, retry.failed.size());
            for (TurnResult failed : retry.failed) {
                assertEquals(TurnStatus.FAILED, failed.status());
                assertEquals(137, failed.exitCode());
            }
            for (int n = 1; n <= 2; n++) {
                long standby = retry.standbyWhenAsked.get(n - 1);
                assertNotEquals(0, standby);
                String retried = n == 1 ? retry.failed.get(1).text() : last.text();
                assertTrue(retried.startsWith("attempt " + (n + 1) + " pid " + standby + "\ngc" + n + " ended\n"),
                        "attempt " + (n + 1) + " ran in the standby that was ready when it was asked for, after the group of "
                                + "attempt " + n + " was killed: " + retried);
            }
            assertTrue(last.text().endsWith("done\n"), last.text());
            assertEquals(List.of(TurnStatus.FAILED, TurnStatus.FAILED, TurnStatus.COMPLETED),
                    results(events).stream().map(TurnResult::status).toList(), "one result event per attempt");
            assertEquals(2, agent.health().crashes());
        }
    }

    @Test
    void withoutAStandbyTheRetryStartsTheUsualWayAfterTheGroupIsKilled() throws Exception {
        Path workspace = context(CRASH_TWICE).workspace();
        Files.createDirectories(workspace);
        Files.createFile(workspace.resolve("go1"));
        Files.createFile(workspace.resolve("go2"));
        System.setProperty("deia.agent.standby", "false");
        OneShotAgent agent;
        try {
            agent = agent(CRASH_TWICE);
        } finally {
            System.clearProperty("deia.agent.standby");
        }
        Recorder retry = new Recorder(5);
        try (agent) {
            TurnResult last = agent.runTurn(new TurnRequest("x", Duration.ofSeconds(60), "T-1", retry), null);
            assertEquals(TurnStatus.COMPLETED, last.status(), last.toString());
            assertEquals(2, retry.failed.size());
            assertTrue(retry.failed.get(1).text().matches("attempt 2 pid \\d+\ngc1 ended\n"), retry.failed.get(1).text());
            assertTrue(last.text().matches("attempt 3 pid \\d+\ngc2 ended\ndone\n"), last.text());
        }
    }

    @Test
    void aRefusedRetryEndsTheTurnWithTheFailedAttempt() {
        Recorder refuse = new Recorder(0);
        try (OneShotAgent agent = agent("echo out; echo why >&2; exit 3")) {
            TurnResult r = agent.runTurn(new TurnRequest("x", Duration.ofSeconds(30), "T-1", refuse), null);
            assertEquals(TurnStatus.FAILED, r.status());
            assertEquals(3, r.exitCode());
            assertEquals(1, refuse.asked, "a nonzero exit is offered for a retry, not only a signal");
            assertEquals(List.of(), refuse.failed);
        }
    }

    @Test
    void successfulInterruptedAndTimedOutAttemptsAreNotOfferedForARetry() throws Exception {
        Recorder retry = new Recorder(5);
        try (OneShotAgent agent = agent("echo fine")) {
            assertEquals(TurnStatus.COMPLETED, agent.runTurn(new TurnRequest("x", Duration.ofSeconds(30), "T-1", retry), null).status());
        }
        try (OneShotAgent agent = agent("sleep 60")) {
            CompletableFuture<TurnResult> turn = CompletableFuture.supplyAsync(
                    () -> agent.runTurn(new TurnRequest("x", Duration.ofSeconds(60), "T-2", retry), null));
            await().atMost(30, TimeUnit.SECONDS).until(() -> agent.health().pid() != null);
            assertTrue(agent.interrupt());
            assertEquals(TurnStatus.INTERRUPTED, turn.get(30, TimeUnit.SECONDS).status());
        }
        try (OneShotAgent agent = agent("sleep 60")) {
            assertEquals(TurnStatus.TIMEOUT, agent.runTurn(new TurnRequest("x", Duration.ofMillis(300), "T-3", retry), null).status());
        }
        assertEquals(0, retry.asked);
    }

    @Test
    void agentsWhoseArgvResumesASessionAreNotOfferedARetry() {
        Recorder retry = new Recorder(5);
        for (AgentType type : List.of(AgentType.CODEX, AgentType.GEMINI)) {
            Profile failing = TestProfiles.profile(type, "/bin/false", List.of(), null, null, List.of(), Map.of(), Map.of());
            try (Agent agent = Agents.create(new AgentContext("BOT-001", failing, new HiveLayout(dir), System.getenv()))) {
                TurnResult r = agent.runTurn(new TurnRequest("x", Duration.ofSeconds(30), "T-1", retry), null);
                assertEquals(TurnStatus.FAILED, r.status(), type + ": " + r);
                assertEquals(1, r.exitCode());
            }
        }
        assertEquals(0, retry.asked);
    }

    @Test
    void aRetryThatCannotStartFailsTheTurnAfterReportingTheFailedAttempt() {
        // The first attempt puts a file where its workspace was, then crashes: its retry has no folder to run in.
        String script = "d=$(pwd -P); cd /; rm -rf \"$d\"; : > \"$d\"; kill -9 $$";
        Recorder retry = new Recorder(5);
        try (OneShotAgent agent = agent(script)) {
            TurnResult r = agent.runTurn(new TurnRequest("x", Duration.ofSeconds(30), "T-1", retry), null);
            assertEquals(TurnStatus.FAILED, r.status());
            assertTrue(r.error().startsWith("cannot start /bin/sh: "), r.error());
            assertEquals(1, retry.asked);
            assertEquals(1, retry.failed.size());
            assertEquals(137, retry.failed.get(0).exitCode());
            assertTrue(Files.isRegularFile(context(script).workspace()));
        }
    }
}
