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

    @Test
    void codexStartsAThreadThenResumesIt() throws Exception {
        Path exe = script("codex-exec.jsonl", 0);
        try (Agent a = agent(AgentType.CODEX, exe, Map.of("OPENAI_BASE_URL", "http://127.0.0.1:9/v1"))) {
            TurnResult r = a.runTurn(new TurnRequest("hello", Duration.ofSeconds(30), null), null);
            assertEquals(TurnStatus.COMPLETED, r.status(), r.error());
            assertEquals("Hi from the fake model!", r.text());
            assertEquals("01a21885-0dfb-7182-8293-fa359ca7a8f4", r.sessionId());
            assertEquals(5L, a.health().outputTokens());
            a.runTurn(new TurnRequest("again", Duration.ofSeconds(30), null), null);
        }
        List<String> argv = argvLines();
        assertTrue(argv.get(0).startsWith("exec --json --skip-git-repo-check"), argv.get(0));
        assertTrue(argv.get(0).contains("model_providers.deia.base_url=\"http://127.0.0.1:9/v1\""), argv.get(0));
        assertTrue(argv.get(0).contains("--sandbox workspace-write") && argv.get(0).endsWith("-- - "), argv.get(0));
        assertFalse(String.join("\n", argv).contains("hello"), "the prompt goes on stdin, never in argv");
        assertTrue(argv.get(1).startsWith("exec resume 01a21885-0dfb-7182-8293-fa359ca7a8f4 --json"), argv.get(1));
        // a new agent (bot restart) resumes the stored thread
        try (Agent a = agent(AgentType.CODEX, exe, Map.of())) {
            assertEquals("01a21885-0dfb-7182-8293-fa359ca7a8f4", a.health().sessionId());
        }
    }

    @Test
    void codexWithoutTurnCompletedFails() throws Exception {
        Path exe = script("codex-exec.jsonl", 1);
        try (Agent a = agent(AgentType.CODEX, exe, Map.of())) {
            TurnResult r = a.runTurn(new TurnRequest("hello", Duration.ofSeconds(30), null), null);
            assertEquals(TurnStatus.FAILED, r.status());
            assertTrue(r.error().contains("exited with code 1"), r.error());
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
