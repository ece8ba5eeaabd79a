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

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Codex adapter around a stand-in executable that records its argv and prints
 * output captured from the real CLI: checks argv, session hand-over between turns and results
 * without the real CLIs (those run in the {@code agents} group; Gemini speaks ACP
 * with deia, covered there and by {@code StreamParsersTest} over captured ACP output).
 */
class ReplayedCliAgentTest {
    @TempDir
    Path dir;

    private Path script(String sample, int exit) throws Exception {
        Path out = dir.resolve(sample);
        Files.write(out, StreamParsersTest.sample(sample));
        Path argvLog = dir.resolve("argv.log");
        Path s = dir.resolve("fake-cli.sh");
        Files.writeString(s, "#!/bin/sh\nfor a in \"$@\"; do printf '%s ' \"$a\" >> " + argvLog + "; done\necho >> " + argvLog
                + "\ncat " + out + "\nexit " + exit + "\n");
        s.toFile().setExecutable(true);
        return s;
    }

    private List<String> argvLines() throws Exception {
        return Files.readAllLines(dir.resolve("argv.log"));
    }

    private Agent agent(AgentType type, Path exe, Map<String, String> env) {
        Profile p = TestProfiles.profile(type, exe.toString(), List.of(), null, "workspace-write", List.of(), env, Map.of());
        return Agents.create(new AgentContext("BOT-002", p, new HiveLayout(dir.resolve("hive")), System.getenv()));
    }

    /**
     * A stand-in {@code codex app-server} replaying a captured session: it records its argv and
     * every line deia writes, answers {@code initialize}, the thread call and {@code turn/start} in
     * turn (the captured answers carry ids 0, 1 and 2, the ids deia uses), then prints the turn's
     * notifications and either exits with {@code exit} or stays until stdin closes.
     */
    private Path appServer(Integer exit) throws Exception {
        Path sample = dir.resolve("codex-app-server.jsonl");
        Files.write(sample, StreamParsersTest.sample("codex-app-server.jsonl"));
        Path s = dir.resolve("fake-codex.sh");
        String in = dir.resolve("stdin.log").toString();
        Files.writeString(s, "#!/bin/sh\nfor a in \"$@\"; do printf '%s ' \"$a\" >> " + dir.resolve("argv.log") + "; done\necho >> "
                + dir.resolve("argv.log") + "\n"
                + "read l; echo \"$l\" >> " + in + "; grep '^{\"id\":0,' " + sample + "\n"
                + "read l; echo \"$l\" >> " + in + "; read l; echo \"$l\" >> " + in + "; grep '^{\"id\":1,' " + sample + "\n"
                + "read l; echo \"$l\" >> " + in + "; grep '^{\"id\":2,' " + sample + "\n"
                + "grep -v '^{\"id\":[0-9]*,\"result\"' " + sample + "\n"
                + (exit == null ? "cat >> " + in + "\n" : "exit " + exit + "\n"));
        s.toFile().setExecutable(true);
        return s;
    }

    @Test
    void codexStartsAThreadThenResumesItInTheNextProcess() throws Exception {
        Path exe = appServer(null);
        List<AgentEvent> events = new java.util.concurrent.CopyOnWriteArrayList<>();
        try (Agent a = agent(AgentType.CODEX, exe, Map.of("OPENAI_BASE_URL", "http://127.0.0.1:9/v1"))) {
            TurnResult r = a.runTurn(new TurnRequest("SECRET-PROMPT hello", Duration.ofSeconds(30), null), events::add);
            assertEquals(TurnStatus.COMPLETED, r.status(), r.error());
            assertEquals("Done.", r.text());
            assertEquals("01a252a9-7739-73b1-8a32-dcf89fdeff10", r.sessionId());
            assertEquals(10L, a.health().outputTokens());
            assertTrue(events.contains(new AgentEvent.ToolUse("call_1", "Bash", "/bin/bash -lc 'touch /srv/bots/BOT-001/workspace/r.txt'")),
                    events.toString());
        }
        List<String> argv = argvLines();
        assertTrue(argv.get(0).startsWith("app-server -c analytics.enabled=false"), argv.get(0));
        assertTrue(argv.get(0).contains("model_providers.deia.base_url=\"http://127.0.0.1:9/v1\""), argv.get(0));
        assertFalse(String.join("\n", argv).contains("SECRET-PROMPT"), "the prompt goes in turn/start on stdin, never in argv");
        List<String> sent = Files.readAllLines(dir.resolve("stdin.log"));
        assertTrue(sent.get(0).startsWith("{\"method\":\"initialize\",\"id\":0"), sent.get(0));
        assertEquals("{\"method\":\"initialized\"}", sent.get(1));
        assertTrue(sent.get(2).startsWith("{\"method\":\"thread/start\",\"id\":1") && sent.get(2).contains("\"approvalPolicy\":\"never\"")
                && sent.get(2).contains("\"sandbox\":\"workspace-write\""), sent.get(2));
        assertTrue(sent.get(3).startsWith("{\"method\":\"turn/start\",\"id\":2") && sent.get(3).contains("SECRET-PROMPT hello"), sent.get(3));
        // Without a gate the captured approval request is declined at once.
        assertTrue(sent.contains("{\"id\":0,\"result\":{\"decision\":\"decline\"}}"), sent.toString());
        // a new agent (bot restart) resumes the stored thread in its new process
        Files.delete(dir.resolve("stdin.log"));
        try (Agent a = agent(AgentType.CODEX, exe, Map.of())) {
            assertEquals("01a252a9-7739-73b1-8a32-dcf89fdeff10", a.health().sessionId());
            assertEquals(TurnStatus.COMPLETED, a.runTurn(new TurnRequest("again", Duration.ofSeconds(30), null), null).status());
        }
        String resume = Files.readAllLines(dir.resolve("stdin.log")).get(2);
        assertTrue(resume.startsWith("{\"method\":\"thread/resume\",\"id\":1") && resume.contains("\"threadId\":\"01a252a9-7739-73b1-8a32-dcf89fdeff10\""),
                resume);
    }

    @Test
    void codexExitingDuringTheTurnFailsItClearly() throws Exception {
        Path exe = appServer(1);
        try (Agent a = agent(AgentType.CODEX, exe, Map.of())) {
            TurnResult r = a.runTurn(new TurnRequest("hello", Duration.ofSeconds(30), null), null);
            // The captured turn completes before the stand-in exits; the next turn finds the process gone.
            assertEquals(TurnStatus.COMPLETED, r.status(), r.error());
            Path crash = dir.resolve("crash.sh");
            Files.writeString(crash, "#!/bin/sh\nread l; echo '{\"id\":0,\"result\":{}}'; read l; read l\n"
                    + "echo '{\"id\":1,\"result\":{\"thread\":{\"id\":\"thr-1\"}}}'; read l; echo 'dying' >&2; exit 3\n");
            crash.toFile().setExecutable(true);
        }
        try (Agent a = agent(AgentType.CODEX, dir.resolve("crash.sh"), Map.of())) {
            TurnResult r = a.runTurn(new TurnRequest("hello", Duration.ofSeconds(30), null), null);
            assertEquals(TurnStatus.FAILED, r.status());
            assertTrue(r.error().contains("codex exited with code 3 during the turn") && r.error().contains("dying"), r.error());
        }
    }

    @Test
    void geminiRunsOneAcpProcessWithTheProfilesModeAndWritesItsSettings() throws Exception {
        try (Agent a = agent(AgentType.GEMINI, Path.of("/bin/false"), Map.of())) {
            assertEquals("gemini", a.type());
            assertEquals(List.of("/bin/false", "--acp", "-m", "gemini-2.5-flash", "--approval-mode", "workspace-write"),
                    ((GeminiAgent) a).argv());
        }
        Path settings = dir.resolve("hive").resolve("bots/BOT-002/home/.gemini/settings.json");
        assertEquals(GeminiAgent.SETTINGS, Files.readString(settings));
    }

    @Test
    void geminiThatExitsAtOnceFailsTheTurnAndTheNextTurnTriesAgain() throws Exception {
        Path exe = dir.resolve("gemini-gone.sh");
        Files.writeString(exe, "#!/bin/sh\necho 'no ACP here' >&2\nexit 3\n");
        exe.toFile().setExecutable(true);
        try (Agent a = agent(AgentType.GEMINI, exe, Map.of())) {
            TurnResult r = a.runTurn(new TurnRequest("x", Duration.ofSeconds(30), null), null);
            assertEquals(TurnStatus.FAILED, r.status());
            assertTrue(r.error().contains("gemini exited with code 3") && r.error().contains("no ACP here"), r.error());
            TurnResult again = a.runTurn(new TurnRequest("x", Duration.ofSeconds(30), null), null);
            assertEquals(TurnStatus.FAILED, again.status());
            assertEquals(2, a.health().crashes());
        }
    }
}
