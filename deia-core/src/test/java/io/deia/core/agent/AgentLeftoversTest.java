package io.deia.core.agent;

import io.deia.core.HiveLayout;
import io.deia.core.internal.process.ProcessTrees;
import io.deia.core.testkit.ProcessChecks;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Agents whose runner died are found and ended — including one that was never recorded in the
 * record file (the window between spawn and record that let a retried task run twice at once).
 */
class AgentLeftoversTest {
    @TempDir
    Path dir;

    private final List<Process> started = new ArrayList<>();

    @AfterEach
    void killAll() {
        started.forEach(p -> ProcessTrees.kill(p.toHandle()));
    }

    @Test
    void markedAgentOfADeadRunnerIsEndedWithItsChildrenEvenWithoutARecord() throws Exception {
        HiveLayout hive = new HiveLayout(dir.resolve(".deia"));
        Path record = AgentLeftovers.recordFile(hive, "BOT-L1");
        String marker = "leftover-" + UUID.randomUUID();
        Process agent = startMarked(record, deadRunnerMark(), marker);
        await().atMost(Duration.ofSeconds(10)).until(() -> ProcessChecks.runningWithMarker(marker).size() == 2);
        assertFalse(Files.exists(record), "no record file: only the mark can find this agent");

        assertTrue(AgentLeftovers.endLeftover(hive, "BOT-L1"));

        // isAlive() stays true until the JDK's reaper has waited for the ended child: wait for that.
        assertTrue(agent.waitFor(5, java.util.concurrent.TimeUnit.SECONDS), "the marked agent was ended");
        await().atMost(Duration.ofSeconds(10)).until(() -> ProcessChecks.runningWithMarker(marker).isEmpty());
        assertFalse(AgentLeftovers.endLeftover(hive, "BOT-L1"), "nothing left the second time");
    }

    @Test
    void agentsOfALiveRunnerOrOfAnotherBotAreLeftAlone() throws Exception {
        HiveLayout hive = new HiveLayout(dir.resolve(".deia"));
        Path record = AgentLeftovers.recordFile(hive, "BOT-L2");
        String mine = "alive-runner-" + UUID.randomUUID();
        Process ownAgent = startMarked(record, AgentLeftovers.mark(record).get(AgentLeftovers.RUNNER_ENV), mine);
        String other = "other-bot-" + UUID.randomUUID();
        Process otherBot = startMarked(AgentLeftovers.recordFile(hive, "BOT-L3"), deadRunnerMark(), other);
        await().atMost(Duration.ofSeconds(10)).until(() -> ProcessChecks.runningWithMarker(mine).size() == 2
                && ProcessChecks.runningWithMarker(other).size() == 2);

        assertFalse(AgentLeftovers.endLeftover(hive, "BOT-L2"));

        assertTrue(ownAgent.isAlive(), "the agent of a live runner runs on");
        assertTrue(otherBot.isAlive(), "another bot's agent runs on");
        assertTrue(AgentLeftovers.endLeftover(hive, "BOT-L3"));
        assertTrue(otherBot.waitFor(5, java.util.concurrent.TimeUnit.SECONDS), "the dead runner's agent was ended");
    }

    @Test
    void agentProcessCarriesTheMarkSoAProfileCannotHideIt() throws Exception {
        HiveLayout hive = new HiveLayout(dir.resolve(".deia"));
        Path record = AgentLeftovers.recordFile(hive, "BOT-L4");
        List<String> lines = new ArrayList<>();
        AgentProcess p = AgentProcess.start("BOT-L4", "env", List.of("/usr/bin/env"), dir.resolve("ws"),
                Map.of("PATH", "/usr/bin:/bin", AgentLeftovers.OWNER_ENV, "spoofed"), false, 4096,
                (line, newline, truncated) -> {
                    synchronized (lines) {
                        lines.add(line);
                    }
                }, record);
        assertEquals(0, p.onExit().get());
        await().atMost(Duration.ofSeconds(5)).until(() -> {
            synchronized (lines) {
                return lines.stream().anyMatch(l -> l.startsWith(AgentLeftovers.RUNNER_ENV + "="));
            }
        });
        synchronized (lines) {
            assertTrue(lines.contains(AgentLeftovers.OWNER_ENV + "=" + record.toAbsolutePath().normalize()), lines.toString());
            assertTrue(lines.contains(AgentLeftovers.RUNNER_ENV + "=" + AgentLeftovers.mark(record).get(AgentLeftovers.RUNNER_ENV)));
        }
    }

    @Test
    void recordFileWayEndsOnlyTheSameLiveProcess() throws Exception {
        HiveLayout hive = new HiveLayout(dir.resolve(".deia"));
        Path record = AgentLeftovers.recordFile(hive, "BOT-L5");
        Process agent = new ProcessBuilder("sleep", "60").start();
        started.add(agent);
        AgentLeftovers.record(record, agent.toHandle());
        assertTrue(Files.exists(record));

        assertTrue(AgentLeftovers.endLeftover(record, "BOT-L5", false));
        // Ended means gone or a zombie; Process.isAlive() stays true until the JDK's reaper has waited
        // for it, so wait for that (a sleep 60 that was not ended would time this out).
        assertTrue(agent.waitFor(5, java.util.concurrent.TimeUnit.SECONDS), "the recorded agent was ended");
        assertFalse(Files.exists(record), "record removed");

        // A record naming a pid that now belongs to another start instant is not acted on.
        Process other = new ProcessBuilder("sleep", "60").start();
        started.add(other);
        Files.writeString(record, "{\"pid\":" + other.pid() + ",\"process_start\":\"" + Instant.EPOCH + "\"}");
        assertFalse(AgentLeftovers.endLeftover(record, "BOT-L5", false));
        assertTrue(other.isAlive());

        // An unreadable record is reported, not thrown, and removed.
        Files.writeString(record, "{not json");
        assertFalse(AgentLeftovers.endLeftover(record, "BOT-L5", false));
        assertFalse(Files.exists(record));
    }

    /** Starts {@code sh} (in its own session) with a child, both carrying the bot mark. */
    private Process startMarked(Path record, String runnerMark, String marker) throws Exception {
        List<String> argv = new ArrayList<>(ProcessTrees.newSessionPrefix());
        argv.addAll(List.of("/bin/sh", "-c", "sh -c 'sleep 60; :' \"$0\" & wait", marker));
        ProcessBuilder pb = new ProcessBuilder(argv);
        pb.environment().put(AgentLeftovers.OWNER_ENV, record.toAbsolutePath().normalize().toString());
        pb.environment().put(AgentLeftovers.RUNNER_ENV, runnerMark);
        pb.redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectErrorStream(true);
        Process p = pb.start();
        started.add(p);
        return p;
    }

    /** A runner mark naming a process that has exited. */
    private static String deadRunnerMark() throws Exception {
        Process gone = new ProcessBuilder("true").start();
        long start = gone.toHandle().info().startInstant().map(Instant::toEpochMilli).orElse(1L);
        gone.waitFor();
        return gone.pid() + ":" + start;
    }
}
