package io.deia.core.launch;

import io.deia.core.process.ProcessTrees;
import io.deia.core.registry.BotRecord;
import io.deia.core.registry.BotState;
import io.deia.core.testkit.ProcessChecks;
import org.junit.jupiter.api.Test;

import java.time.Instant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The desired-state table of {@link Reconciler}, on real processes (this JVM alive, an ended one dead). */
class ReconcilerTest {
    private static final long SELF = ProcessHandle.current().pid();
    private static final Instant SELF_START = ProcessTrees.startInstant(SELF).orElseThrow();

    private static BotRecord.Builder entry(BotState state, long pid, Instant start, boolean wanted) {
        return BotRecord.builder("BOT-X").pid(pid).processStart(start).port(8101).state(state).profile("p")
                .agent("command").launcherPid(424242).wanted(wanted);
    }

    @Test
    void aLiveRunnerIsAdoptedWantedOrNot() {
        for (boolean wanted : new boolean[]{true, false}) {
            assertEquals(Reconciler.Action.ADOPT,
                    Reconciler.decide(entry(BotState.BUSY, SELF, SELF_START, wanted).build(), true).action());
        }
    }

    @Test
    void aDeadPidIsNeverBelievedEvenWhenTheEntrySaysIdle() throws Exception {
        ProcessChecks.Ended dead = ProcessChecks.endedProcess();
        Reconciler.Decision d = Reconciler.decide(entry(BotState.IDLE, dead.pid(), dead.start(), true).build(), true);
        assertEquals(Reconciler.Action.RESTART, d.action());
        assertEquals("runner pid " + dead.pid() + " died while no controller supervised it", d.reason());

        // The same pid with another start instant is another process: the runner is gone.
        Reconciler.Decision reused = Reconciler.decide(
                entry(BotState.IDLE, SELF, SELF_START.minusSeconds(60), true).build(), true);
        assertEquals(Reconciler.Action.RESTART, reused.action());
    }

    @Test
    void aPendingRestartOrACutShortLaunchOfAWantedBotIsRestarted() {
        Reconciler.Decision waiting = Reconciler.decide(entry(BotState.RESTARTING, 0, null, true).build(), true);
        assertEquals(Reconciler.Action.RESTART, waiting.action());
        assertEquals("the launcher supervising it (pid 424242) exited while it waited to restart", waiting.reason());
        Reconciler.Decision halfLaunched = Reconciler.decide(entry(BotState.STARTING, 0, null, true).build(), true);
        assertEquals(Reconciler.Action.RESTART, halfLaunched.action());
        assertTrue(halfLaunched.reason().contains("exited before the runner started"), halfLaunched.reason());
    }

    @Test
    void whatCannotBeBroughtBackOrIsNotWantedFailsWithTheReason() throws Exception {
        ProcessChecks.Ended dead = ProcessChecks.endedProcess();
        Reconciler.Decision noProfile = Reconciler.decide(entry(BotState.IDLE, dead.pid(), dead.start(), true).build(), false);
        assertEquals(Reconciler.Action.FAIL, noProfile.action());
        assertTrue(noProfile.reason().endsWith("its profile 'p' is not in this controller's config, so it cannot be restarted"),
                noProfile.reason());
        Reconciler.Decision unwanted = Reconciler.decide(entry(BotState.IDLE, dead.pid(), dead.start(), false).build(), true);
        assertEquals(Reconciler.Action.FAIL, unwanted.action());
    }

    @Test
    void stoppedAndFailedEntriesAreSettled() {
        for (BotState s : new BotState[]{BotState.STOPPED, BotState.FAILED}) {
            Reconciler.Decision d = Reconciler.decide(entry(s, 0, null, s == BotState.FAILED).build(), true);
            assertEquals(Reconciler.Action.NONE, d.action(), s.id());
            assertNull(d.reason());
        }
    }
}
