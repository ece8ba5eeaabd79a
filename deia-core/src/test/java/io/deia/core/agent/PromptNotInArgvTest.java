package io.deia.core.agent;

import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;
import io.deia.core.HiveLayout;
import io.deia.core.config.AgentType;
import io.deia.core.config.Profile;
import io.deia.core.testkit.TestProfiles;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every user on the machine can read a process's argv ({@code ps}, {@code /proc/<pid>/cmdline}),
 * so no agent adapter may put the prompt there: each is run with a stand-in CLI that records its
 * own {@code /proc/$$/cmdline} and its stdin while it runs. (Codex gets the prompt in a
 * {@code turn/start} line on stdin: checked with its app-server stand-in in {@link ReplayedCliAgentTest}; Gemini gets it in a
 * {@code session/prompt} line: checked on the real process's cmdline in {@link GeminiAcpAgentTest}.)
 */
class PromptNotInArgvTest {
    private static final String RECORDER = "#!/bin/sh\n"
            + "/usr/bin/tr '\\000' '\\n' < /proc/$$/cmdline > \"$OUT/cmdline\"\n"
            + "/bin/cat > \"$OUT/stdin\"\n";

    @TempDir
    Path dir;

    private Path recorder() throws Exception {
        Path script = dir.resolve("fake-cli");
        Files.writeString(script, RECORDER);
        Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwx------"));
        return script;
    }

    private void assertPromptOnStdinOnly(AgentType type, List<String> args) throws Exception {
        Path out = Files.createDirectories(dir.resolve("out-" + type.id()));
        Profile p = TestProfiles.profile(type, recorder().toString(), args, null, null, List.of(),
                Map.of("OUT", out.toString()), Map.of());
        String prompt = "SECRET-PROMPT-" + UUID.randomUUID();
        try (Agent a = Agents.create(new AgentContext("BOT-001", p, new HiveLayout(dir.resolve(".deia")), System.getenv()))) {
            a.runTurn(new TurnRequest(prompt, Duration.ofSeconds(30), null), null);
        }
        String cmdline = Files.readString(out.resolve("cmdline"), StandardCharsets.UTF_8);
        assertTrue(cmdline.contains(recorder().toString()), "the recorder ran: " + cmdline);
        assertFalse(cmdline.contains(prompt), type.id() + " put the prompt in argv: " + cmdline);
        assertEquals(prompt, Files.readString(out.resolve("stdin"), StandardCharsets.UTF_8).strip(),
                type.id() + " passes the prompt on stdin");
    }

    @Test
    void aCommandProfileGetsThePromptOnStdin() throws Exception {
        assertPromptOnStdinOnly(AgentType.COMMAND, List.of("--flag"));
    }

    @Test
    void aPromptPlaceholderWithoutTheProfileAskingForArgvIsRefused() {
        Profile p = TestProfiles.command("/bin/echo", "{prompt}");
        DeiaException e = assertThrows(DeiaException.class,
                () -> Agents.create(new AgentContext("BOT-001", p, new HiveLayout(dir.resolve(".deia")), System.getenv())));
        assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
        assertTrue(e.getMessage().contains("prompt_mode") && e.getMessage().contains("ps"), e.getMessage());
    }
}
