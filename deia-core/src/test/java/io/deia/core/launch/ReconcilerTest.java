package io.deia.core.launch;

import io.deia.core.HiveLayout;
import io.deia.core.internal.process.ProcessTrees;
import io.deia.core.registry.BotRecord;
import io.deia.core.registry.BotState;
import io.deia.core.testkit.ProcessChecks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Instant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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
                    Reconciler.decide(entry(BotState.BUSY, SELF, SELF_START, wanted).build(), true, true, null).action());
        }
    }

    @Test
    void aDeadPidIsNeverBelievedEvenWhenTheEntrySaysIdle() throws Exception {
        ProcessChecks.Ended dead = ProcessChecks.endedProcess();
        Reconciler.Decision d = Reconciler.decide(entry(BotState.IDLE, dead.pid(), dead.start(), true).build(), true, true, null);
        assertEquals(Reconciler.Action.RESTART, d.action());
        assertEquals("runner pid " + dead.pid() + " died while no controller supervised it", d.reason());
        assertTrue(d.uncountedDeath());

        // The same pid with another start instant is another process: the runner is gone.
        Reconciler.Decision reused = Reconciler.decide(
                entry(BotState.IDLE, SELF, SELF_START.minusSeconds(60), true).build(), true, true, null);
        assertEquals(Reconciler.Action.RESTART, reused.action());
    }

    @Test
    void aPendingRestartOrACutShortLaunchOfAWantedBotIsRestarted() {
        Reconciler.Decision waiting = Reconciler.decide(entry(BotState.RESTARTING, 0, null, true).build(), true, true, null);
        assertEquals(Reconciler.Action.RESTART, waiting.action());
        assertEquals("the launcher supervising it (pid 424242) exited while it waited to restart", waiting.reason());
        Reconciler.Decision halfLaunched = Reconciler.decide(entry(BotState.STARTING, 0, null, true).build(), true, true, null);
        assertEquals(Reconciler.Action.RESTART, halfLaunched.action());
        assertTrue(halfLaunched.reason().contains("exited before the runner started"), halfLaunched.reason());
        // Neither is a death no launcher counted: the one that began them counted it.
        assertFalse(waiting.uncountedDeath());
        assertFalse(halfLaunched.uncountedDeath());
    }

    @Test
    void aHalfLaunchedEntryIsJudgedByTheSpawnItsLauncherRecorded() throws Exception {
        Instant attempt = Instant.parse("2026-12-07T10:00:00.123Z");
        BotRecord half = entry(BotState.STARTING, 0, null, true).registeredAt(attempt).build();
        // The runner spawned for this attempt runs: it registers soon and is adopted then.
        assertEquals(Reconciler.Action.NONE,
                Reconciler.decide(half, true, true, new RunnerLock.Spawn(attempt, SELF, SELF_START)).action());
        // It died before it registered: a death no launcher counted.
        ProcessChecks.Ended dead = ProcessChecks.endedProcess();
        Reconciler.Decision died = Reconciler.decide(half, true, true, new RunnerLock.Spawn(attempt, dead.pid(), dead.start()));
        assertEquals(Reconciler.Action.RESTART, died.action());
        assertTrue(died.uncountedDeath());
        assertEquals("runner pid " + dead.pid() + " died before it registered, while no controller supervised it",
                died.reason());
        // A spawn of an earlier attempt: this launch was cut short before any runner existed.
        Reconciler.Decision cutShort = Reconciler.decide(half, true, true,
                new RunnerLock.Spawn(attempt.minusSeconds(5), SELF, SELF_START));
        assertEquals(Reconciler.Action.RESTART, cutShort.action());
        assertFalse(cutShort.uncountedDeath());
    }

    @Test
    void theRunnerLockKeepsTheLastSpawnAndTellsWhetherALiveProcessHoldsIt(@TempDir Path dir) throws Exception {
        HiveLayout hive = new HiveLayout(dir.resolve("hive"));
        assertTrue(RunnerLock.lastSpawn(hive, "BOT-X").isEmpty());
        assertFalse(RunnerLock.isHeld(hive, "BOT-X"));
        RunnerLock.Spawn older = new RunnerLock.Spawn(Instant.parse("2026-12-07T10:00:00.123Z"), 4242424, SELF_START);
        RunnerLock.recordSpawn(hive, "BOT-X", older);
        RunnerLock.Spawn spawn = new RunnerLock.Spawn(Instant.parse("2026-12-07T10:00:01Z"), SELF, null);
        RunnerLock.recordSpawn(hive, "BOT-X", spawn);
        assertEquals(spawn, RunnerLock.lastSpawn(hive, "BOT-X").orElseThrow());
        try (RunnerLock held = RunnerLock.acquire(hive, "BOT-X", java.time.Duration.ofSeconds(1)).orElseThrow()) {
            assertTrue(RunnerLock.isHeld(hive, "BOT-X"));
        }
    }

    @Test
    void whatCannotBeBroughtBackOrIsNotWantedFailsWithTheReason() throws Exception {
        ProcessChecks.Ended dead = ProcessChecks.endedProcess();
        Reconciler.Decision noProfile = Reconciler.decide(entry(BotState.IDLE, dead.pid(), dead.start(), true).build(), false, true, null);
        assertEquals(Reconciler.Action.FAIL, noProfile.action());
        assertTrue(noProfile.reason().endsWith("its profile 'p' is not in this controller's config, so it cannot be restarted"),
                noProfile.reason());
        Reconciler.Decision unwanted = Reconciler.decide(entry(BotState.IDLE, dead.pid(), dead.start(), false).build(), true, true, null);
        assertEquals(Reconciler.Action.FAIL, unwanted.action());
    }

    @Test
    void aProjectBotWhoseProjectThisControllerDoesNotKnowFailsWithTheReason() throws Exception {
        ProcessChecks.Ended dead = ProcessChecks.endedProcess();
        BotRecord onShop = entry(BotState.IDLE, dead.pid(), dead.start(), true).project("shop").build();
        Reconciler.Decision noProject = Reconciler.decide(onShop, true, false, null);
        assertEquals(Reconciler.Action.FAIL, noProject.action());
        assertTrue(noProject.reason().endsWith("its project 'shop' is not in this controller's config, so it cannot be restarted"),
                noProject.reason());
        Reconciler.Decision known = Reconciler.decide(onShop, true, true, null);
        assertEquals(Reconciler.Action.RESTART, known.action(), "a known project is restarted like any bot");
    }

    @Test
    void stoppedAndFailedEntriesAreSettled() {
        for (BotState s : new BotState[]{BotState.STOPPED, BotState.FAILED}) {
            Reconciler.Decision d = Reconciler.decide(entry(s, 0, null, s == BotState.FAILED).build(), true, true, null);
            assertEquals(Reconciler.Action.NONE, d.action(), s.id());
            assertNull(d.reason());
        }
    }
}
