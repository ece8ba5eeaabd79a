package io.deia.core.internal.process;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ProcessTreesTest {
    @Test
    void terminateEndsAShellAndItsGrandchildren() throws Exception {
        Process sh = new ProcessBuilder("sh", "-c", "sleep 300 & sleep 300").start();
        try {
            await().atMost(Duration.ofSeconds(10)).until(() -> ProcessTrees.tree(sh.toHandle()).size() >= 3);
            List<ProcessHandle> members = ProcessTrees.tree(sh.toHandle());
            assertEquals(sh.pid(), members.get(0).pid(), "parent first");
            assertTrue(ProcessTrees.terminate(sh.toHandle(), Duration.ofSeconds(5)));
            for (ProcessHandle h : members) {
                assertFalse(ProcessTrees.isRunning(h), "pid " + h.pid() + " survived");
            }
        } finally {
            sh.destroyForcibly();
        }
    }

    @Test
    void aProcessIgnoringSigtermIsKilledAfterTheGrace() throws Exception {
        Process sh = new ProcessBuilder("sh", "-c", "trap '' TERM; sleep 300").start();
        try {
            await().atMost(Duration.ofSeconds(10)).until(() -> ProcessTrees.tree(sh.toHandle()).size() >= 2);
            List<ProcessHandle> members = ProcessTrees.tree(sh.toHandle());
            assertTrue(ProcessTrees.terminate(sh.toHandle(), Duration.ofMillis(300)));
            assertTrue(sh.waitFor(5, TimeUnit.SECONDS));
            assertEquals(137, sh.exitValue(), "ended by SIGKILL");
            members.forEach(h -> assertFalse(ProcessTrees.isRunning(h)));
        } finally {
            sh.destroyForcibly();
        }
    }

    @Test
    void killEndsTheTreeAtOnce() throws Exception {
        Process sh = new ProcessBuilder("sh", "-c", "trap '' TERM; sleep 300 & sleep 300").start();
        try {
            await().atMost(Duration.ofSeconds(10)).until(() -> ProcessTrees.tree(sh.toHandle()).size() >= 3);
            List<ProcessHandle> members = ProcessTrees.tree(sh.toHandle());
            assertTrue(ProcessTrees.kill(sh.toHandle()));
            members.forEach(h -> assertFalse(ProcessTrees.isRunning(h)));
        } finally {
            sh.destroyForcibly();
        }
    }

    @Test
    void aProcessIsIdentifiedByPidAndStartInstant() throws Exception {
        ProcessHandle me = ProcessHandle.current();
        Instant start = ProcessTrees.startInstant(me.pid()).orElseThrow();
        assertEquals(me.info().startInstant().orElseThrow(), start);
        assertTrue(ProcessTrees.isSameProcessAlive(me.pid(), start));
        assertTrue(ProcessTrees.isSameProcessAlive(me.pid(), null), "without a recorded start only the pid counts");
        assertFalse(ProcessTrees.isSameProcessAlive(me.pid(), start.minusSeconds(1)), "a reused pid is another process");
        assertFalse(ProcessTrees.isSameProcessAlive(0, start));

        Process done = new ProcessBuilder("true").start();
        assertTrue(done.waitFor(10, TimeUnit.SECONDS));
        assertFalse(ProcessTrees.isSameProcessAlive(done.pid(), null));
        assertTrue(ProcessTrees.startInstant(done.pid()).isEmpty());
    }

    @Test
    void signalDeliversANamedSignal() throws Exception {
        Process sleeper = new ProcessBuilder("sleep", "300").start();
        try {
            // USR1, not INT: a test JVM started in the background by a shell without job control
            // inherits SIGINT as ignored, and so does everything it starts (CI ran into it).
            assertTrue(ProcessTrees.signal(sleeper.pid(), "USR1"));
            assertTrue(sleeper.waitFor(10, TimeUnit.SECONDS));
            assertEquals(128 + 10, sleeper.exitValue(), "ended by SIGUSR1");
        } finally {
            sleeper.destroyForcibly();
        }
        assertFalse(ProcessTrees.signal(sleeper.pid(), "TERM"), "no such process any more");
        assertThrows(IllegalArgumentException.class, () -> ProcessTrees.signal(1, "TERM; rm"));
    }

    @Test
    void groupSignalReachesReparentedMembers() throws Exception {
        List<String> prefix = ProcessTrees.newSessionPrefix();
        org.junit.jupiter.api.Assumptions.assumeFalse(prefix.isEmpty(), "setsid is not installed");
        List<String> cmd = new java.util.ArrayList<>(prefix);
        cmd.addAll(List.of("sh", "-c", "sh -c 'sleep 300 &'; sleep 300"));
        Process leader = new ProcessBuilder(cmd).start();
        try {
            await().atMost(Duration.ofSeconds(10)).until(() -> ProcessTrees.processGroup(leader.pid()).size() >= 3);
            List<ProcessHandle> members = ProcessTrees.processGroup(leader.pid());
            assertTrue(ProcessTrees.signalGroup(leader.pid(), "KILL"));
            for (ProcessHandle h : members) {
                await().atMost(Duration.ofSeconds(10)).until(() -> !ProcessTrees.isRunning(h));
            }
            assertTrue(leader.waitFor(10, TimeUnit.SECONDS));
        } finally {
            leader.destroyForcibly();
        }
        assertThrows(IllegalArgumentException.class, () -> ProcessTrees.signalGroup(1, "KILL"));
    }

    @Test
    void aNewSessionStartsAGroupWhoseReparentedMembersAreStillFound() throws Exception {
        List<String> prefix = ProcessTrees.newSessionPrefix();
        org.junit.jupiter.api.Assumptions.assumeFalse(prefix.isEmpty(), "setsid is not installed");
        List<String> cmd = new java.util.ArrayList<>(prefix);
        // The inner shell exits at once, so its sleep is re-parented away from the leader's tree.
        cmd.addAll(List.of("sh", "-c", "sh -c 'sleep 300 &'; sleep 300"));
        Process leader = new ProcessBuilder(cmd).start();
        try {
            await().atMost(Duration.ofSeconds(10)).until(() -> ProcessTrees.tree(leader.toHandle()).size() >= 3);
            List<ProcessHandle> members = ProcessTrees.tree(leader.toHandle());
            assertTrue(ProcessTrees.terminate(leader.toHandle(), Duration.ofSeconds(5)));
            members.forEach(h -> assertFalse(ProcessTrees.isRunning(h), "pid " + h.pid() + " survived"));
        } finally {
            leader.destroyForcibly();
        }
    }
}
