package io.deia.core.agent;

import io.deia.core.HiveLayout;
import io.deia.core.process.ProcessTrees;
import io.deia.core.testkit.TestProfiles;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Standbys as real {@code setsid sh} processes: what the agent they become sees, and when one is not used. */
class AgentStandbyTest {
    /** Prints each argument on its own line, bracketed, then exits. */
    private static final String PRINT_ARGS = "for a in \"$@\"; do printf '[%s]\\n' \"$a\"; done";

    @TempDir
    Path dir;

    private final List<AgentStandby> started = new ArrayList<>();
    private final List<String> lines = new CopyOnWriteArrayList<>();
    private final AgentProcess.LineSink sink = (line, newline, truncated) -> lines.add(line);

    @AfterEach
    void endStandbys() {
        started.forEach(AgentStandby::discard);
    }

    private Path workspace() {
        return dir.resolve("workspace");
    }

    private Map<String, String> env() {
        Map<String, String> env = new LinkedHashMap<>();
        env.put("PATH", "/usr/bin:/bin");
        env.put("DEIA_TEST_VALUE", "v 1");
        return env;
    }

    private AgentStandby standby(Map<String, String> env) throws Exception {
        AgentStandby s = AgentStandby.start("BOT-1", workspace(), env, dir.resolve("bots/BOT-1/agent-process.json"));
        started.add(s);
        return s;
    }

    private int run(AgentProcess p) throws Exception {
        Integer exit = p.waitFor(Duration.ofSeconds(30));
        assertNotNull(exit, "the agent did not exit");
        assertTrue(p.awaitOutput(Duration.ofSeconds(10)));
        return exit;
    }

    @Test
    void aWorkspaceRemovedSinceTheStandbyStartedIsMadeAgainAndEntered() throws Exception {
        AgentStandby s = standby(env());
        Files.delete(workspace());
        AgentProcess p = s.activate("command", List.of("/bin/sh", "-c", "pwd -P; ls -A | wc -l"), workspace(), env(), false, 0, 65536, sink);
        assertNotNull(p, "the standby still takes the turn");
        assertEquals(0, run(p));
        assertEquals(List.of(workspace().toRealPath().toString(), "0"), lines.stream().map(String::strip).toList());
        assertTrue(Files.isDirectory(workspace()));
    }

    @Test
    void theStandbyBecomesTheAgentWithEveryArgumentTakenLiterally() throws Exception {
        AgentStandby s = standby(env());
        List<String> args = List.of("plain", "two words", "it's", "line one\nline two", "$HOME", "`id`", "back\\slash",
                "\"quoted\"", "ü €", "", "*");
        List<String> argv = new ArrayList<>(List.of("/bin/sh", "-c", PRINT_ARGS, "sh"));
        argv.addAll(args);
        AgentProcess p = s.activate("command", argv, workspace(), env(), false, 0, 65536, sink);
        assertNotNull(p);
        assertEquals(s.pid(), p.pid(), "the standby's pid is the agent's: exec in place");
        assertEquals(0, run(p));
        List<String> expected = new ArrayList<>();
        for (String a : args) {
            expected.addAll(List.of(("[" + a + "]").split("\n", -1)));
        }
        assertEquals(expected, lines);
    }

    @Test
    void theAgentSeesExactlyItsEnvironmentAndWorkspaceInItsOwnSession() throws Exception {
        AgentStandby s = standby(env());
        AgentProcess p = s.activate("command", List.of("/bin/sh", "-c",
                "env | sort; pwd; cut -d' ' -f5 /proc/$$/stat; cut -d' ' -f6 /proc/$$/stat", "sh"), workspace(), env(), false, 0, 65536, sink);
        assertNotNull(p);
        assertEquals(0, run(p));
        List<String> expected = new ArrayList<>(List.of(AgentLeftovers.OWNER_ENV + "=" + dir.resolve("bots/BOT-1/agent-process.json"),
                AgentLeftovers.RUNNER_ENV + "=" + AgentLeftovers.mark(dir.resolve("x")).get(AgentLeftovers.RUNNER_ENV),
                "DEIA_TEST_VALUE=v 1", "PATH=/usr/bin:/bin"));
        expected.sort(null);
        // The agent here is a shell, which adds PWD itself; /usr/bin/env as the agent is checked in the next test.
        List<String> envLines = lines.subList(0, lines.size() - 3).stream().filter(l -> !l.startsWith("PWD=")).toList();
        assertEquals(expected, envLines);
        assertEquals(workspace().toString(), lines.get(lines.size() - 3));
        assertEquals(Long.toString(p.pid()), lines.get(lines.size() - 2).strip(), "process group led by the agent");
        assertEquals(Long.toString(p.pid()), lines.get(lines.size() - 1).strip(), "session led by the agent");
    }

    @Test
    void pwdIsRemovedOrKeptAsTheAgentEnvironmentSays() throws Exception {
        AgentProcess p = standby(env()).activate("command", List.of("/usr/bin/env"), workspace(), env(), false, 0, 65536, sink);
        assertNotNull(p);
        assertEquals(0, run(p));
        assertTrue(lines.stream().noneMatch(l -> l.startsWith("PWD=") || l.startsWith("OLDPWD=")), lines.toString());

        lines.clear();
        Map<String, String> withPwd = env();
        withPwd.put("PWD", "/somewhere/else");
        p = standby(withPwd).activate("command", List.of("/usr/bin/env"), workspace(), withPwd, false, 0, 65536, sink);
        assertNotNull(p);
        assertEquals(0, run(p));
        assertTrue(lines.contains("PWD=/somewhere/else"), lines.toString());
        assertTrue(lines.stream().noneMatch(l -> l.startsWith("OLDPWD=")), lines.toString());
    }

    @Test
    void stdinIsThePipeWhenTheTurnWritesToItAndDevNullOtherwise() throws Exception {
        AgentProcess piped = standby(env()).activate("command", List.of("/bin/cat"), workspace(), env(), true, 0, 65536, sink);
        assertNotNull(piped);
        piped.writeAndClose("hello\nworld\n");
        assertEquals(0, run(piped));
        assertEquals(List.of("hello", "world"), lines);

        lines.clear();
        AgentProcess devNull = standby(env()).activate("command", List.of("/bin/cat"), workspace(), env(), false, 0, 65536, sink);
        assertNotNull(devNull);
        assertEquals(0, run(devNull), "cat ends at once on /dev/null");
        assertEquals(List.of(), lines);
    }

    @Test
    void aStandbyThatCannotTakeTheTurnIsEndedAndSaysSo() throws Exception {
        AgentStandby tooLong = standby(env());
        assertNull(tooLong.activate("command", List.of("/bin/echo", "x".repeat(AgentStandby.MAX_LINE_BYTES)), workspace(),
                env(), false, 0, 65536, sink));
        awaitGone(tooLong.pid());

        AgentStandby nul = standby(env());
        assertNull(nul.activate("command", List.of("/bin/echo", "a\0b"), workspace(), env(), false, 0, 65536, sink));
        awaitGone(nul.pid());

        AgentStandby missing = standby(env());
        assertNull(missing.activate("command", List.of(dir.resolve("no-such-program").toString()), workspace(), env(), false,
                0, 65536, sink));
        awaitGone(missing.pid());

        AgentStandby otherFolder = standby(env());
        assertNull(otherFolder.activate("command", List.of("/bin/true"), dir.resolve("elsewhere"), env(), false, 0, 65536, sink));
        awaitGone(otherFolder.pid());

        AgentStandby dead = standby(env());
        ProcessHandle.of(dead.pid()).ifPresent(ProcessHandle::destroyForcibly);
        awaitGone(dead.pid());
        assertNull(dead.activate("command", List.of("/bin/true"), workspace(), env(), false, 0, 65536, sink));
        assertEquals(List.of(), lines);
    }

    @Test
    void aRemovedWorkspaceIsMadeAgainAndEntered() throws Exception {
        AgentStandby s = standby(env());
        Files.delete(workspace());
        AgentProcess p = s.activate("command", List.of("/bin/pwd"), workspace(), env(), false, 0, 65536, sink);
        assertNotNull(p);
        assertEquals(0, run(p));
        assertEquals(List.of(workspace().toString()), lines);
    }

    @Test
    void aStandbyWhoseStdinClosesEndsQuietly() throws Exception {
        AgentStandby s = standby(env());
        s.discard();
        awaitGone(s.pid());
    }

    @Test
    void quoteKeepsEveryCharacterLiteral() {
        assertEquals("'a b'", AgentStandby.quote("a b"));
        assertEquals("'it'\\''s'", AgentStandby.quote("it's"));
        assertEquals("'a'\"$nl\"'b'", AgentStandby.quote("a\nb"));
        String line = AgentStandby.execLine(List.of("/bin/echo", "x"), Path.of("/w"), Map.of("PATH", "/bin"), false, 0);
        assertEquals("cd -P -- '/w' || exit 127; unset PWD; unset OLDPWD; exec '/bin/echo' 'x' </dev/null", line);
        assertFalse(line.contains("\n"));
        assertNull(AgentStandby.execLine(List.of(), Path.of("/w"), Map.of(), false, 0));
        assertEquals("kill -s KILL -- -4242 2>/dev/null; cd -P -- '/w' || exit 127; unset PWD; unset OLDPWD; exec '/bin/echo' 'x' </dev/null",
                AgentStandby.execLine(List.of("/bin/echo", "x"), Path.of("/w"), Map.of("PATH", "/bin"), false, 4242));
    }

    @Test
    void aCommandAgentRunsItsNextTurnFromAStandbyAndEndsItWhenClosed() throws Exception {
        OneShotAgent agent = (OneShotAgent) Agents.create(new AgentContext("BOT-001", TestProfiles.command("/bin/sh",
                "-c", "echo $$", "sh"), new HiveLayout(dir), System.getenv()));
        long standbyPid;
        try (agent) {
            TurnResult first = agent.runTurn(new TurnRequest("x", Duration.ofSeconds(30), null), null);
            assertEquals(TurnStatus.COMPLETED, first.status());
            await().atMost(30, TimeUnit.SECONDS).until(() -> agent.standbyPid() != 0);
            standbyPid = agent.standbyPid();
            TurnResult second = agent.runTurn(new TurnRequest("y", Duration.ofSeconds(30), null), null);
            assertEquals(TurnStatus.COMPLETED, second.status());
            assertEquals(standbyPid + "\n", second.text(), "the second turn ran in the standby's process");
            await().atMost(30, TimeUnit.SECONDS).until(() -> agent.standbyPid() != 0);
            assertNotEquals(standbyPid, agent.standbyPid(), "a fresh standby waits for the third turn");
            standbyPid = agent.standbyPid();
        }
        awaitGone(standbyPid);
    }

    @Test
    void standbysCanBeTurnedOff() throws Exception {
        System.setProperty("deia.agent.standby", "false");
        try {
            assertFalse(AgentStandby.available());
            OneShotAgent agent = (OneShotAgent) Agents.create(new AgentContext("BOT-001", TestProfiles.command("/bin/true"),
                    new HiveLayout(dir), System.getenv()));
            try (agent) {
                assertEquals(TurnStatus.COMPLETED, agent.runTurn(new TurnRequest("x", Duration.ofSeconds(30), null), null).status());
                TimeUnit.MILLISECONDS.sleep(300);
                assertEquals(0, agent.standbyPid());
            }
        } finally {
            System.clearProperty("deia.agent.standby");
        }
        assertTrue(AgentStandby.available(), "this machine has /proc, setsid and /bin/sh");
    }

    private static void awaitGone(long pid) {
        await().atMost(30, TimeUnit.SECONDS).until(() -> ProcessHandle.of(pid).map(h -> !ProcessTrees.isRunning(h)).orElse(true));
    }
}
