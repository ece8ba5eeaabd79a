package io.deia.core.config;

import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;
import io.deia.core.internal.BotIds;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DeiaConfigTest {
    @TempDir
    Path dir;

    private DeiaConfig load(String json) throws Exception {
        Path f = dir.resolve("deia.json");
        Files.writeString(f, json);
        return DeiaConfig.load(f);
    }

    private DeiaException refused(String json) {
        return assertThrows(DeiaException.class, () -> load(json));
    }

    @Test
    void aFileIsLoadedWithDefaultsFilledIn() throws Exception {
        DeiaConfig c = load("""
                {"ports": {"from": 9000, "to": 9010}, "heartbeat_ttl_s": 40,
                 "profiles": {
                   "echo": {"agent": "command", "executable": "/bin/cat", "deny_patterns": ["rm -rf"]},
                   "claude": {"agent": "claude-code", "model": "sonnet", "restart": {"policy": "never", "max_restarts": 2}}
                 }}""");
        assertEquals(new DeiaConfig.PortRange(9000, 9010), c.ports());
        assertEquals(40, c.heartbeatTtlS());
        assertEquals(15, c.heartbeatIntervalS());
        assertEquals(1024 * 1024, c.maxTaskBytes());
        assertEquals(64 * 1024, c.maxMessageBytes());
        assertEquals(1024 * 1024 + 64 * 1024, c.maxBodyBytes());
        Profile echo = c.requireProfile("echo");
        assertEquals("echo", echo.name());
        assertEquals("stdin", echo.promptMode());
        assertEquals(600, echo.timeoutS());
        assertEquals(20, echo.startTimeout().toSeconds());
        assertEquals(Profile.DEFAULT_RUNNER_JVM_OPTIONS, echo.runnerJvmOptions());
        assertEquals(RestartPolicy.DEFAULT, echo.restart());
        Profile claude = c.profile("claude").orElseThrow();
        assertEquals("claude", claude.executable());
        assertEquals(RestartPolicy.Mode.NEVER, claude.restart().policy());
        assertEquals(2, claude.restart().maxRestarts());
        assertEquals(RestartPolicy.DEFAULT.backoffMaxMs(), claude.restart().backoffMaxMs());
        assertTrue(c.profile("missing").isEmpty());
        assertTrue(new DeiaConfig.PortRange(1, 2).contains(2));
        assertFalse(new DeiaConfig.PortRange(1, 2).contains(3));
    }

    @Test
    void defaultsWithoutAFile() {
        DeiaConfig c = DeiaConfig.of(Map.of());
        assertEquals(DeiaConfig.PortRange.DEFAULT, c.ports());
        assertEquals(45, c.heartbeatTtlS());
        assertTrue(c.profiles().isEmpty());
        Profile p = Profile.builder(AgentType.COMMAND).executable("/bin/echo").args(List.of("{prompt}")).build();
        assertEquals("stdin", p.promptMode(), "the prompt stays out of argv unless a profile asks for it");
    }

    @Test
    void anUnknownProfileIsUnprocessableAndListsTheKnownOnes() throws Exception {
        DeiaConfig c = load("{\"profiles\":{\"echo\":{\"agent\":\"command\",\"executable\":\"/bin/cat\"}}}");
        DeiaException e = assertThrows(DeiaException.class, () -> c.requireProfile("nope"));
        assertEquals(ErrorCode.UNPROCESSABLE, e.code());
        assertEquals("unknown profile 'nope'; configured profiles: [echo]", e.getMessage());
        assertEquals(ErrorCode.UNPROCESSABLE, assertThrows(DeiaException.class, () -> c.requireProfile(null)).code());
    }

    @Test
    void invalidConfigsAreRefusedWithTheReason() {
        assertTrue(refused("{\"profiles\":{\"p\":{\"agent\":\"command\",\"executable\":\"/bin/cat\",\"deny_patterns\":[\"(unclosed\"]}}}")
                .getMessage().contains("deny pattern '(unclosed' is not a valid regular expression"));
        assertTrue(refused("{\"profiles\":{\"p\":{\"agent\":\"command\"}}}").getMessage().contains("needs an 'executable'"));
        assertTrue(refused("{\"ports\":{\"from\":9000,\"to\":8000}}").getMessage().contains("port range"));
        assertTrue(refused("{\"ports\":{\"from\":0,\"to\":8000}}").getMessage().contains("port range"));
        assertTrue(refused("{\"heartbeat_interval_s\":10,\"heartbeat_ttl_s\":5}").getMessage().contains("heartbeat_ttl_s"));
        assertTrue(refused("{\"profiles\":{\"p\":{\"agent\":\"robot\"}}}").getMessage().contains("agent must be one of"));
        assertTrue(refused("{\"profiles\":{\"p\":{\"agent\":\"command\",\"executable\":\"x\",\"prompt_mode\":\"pipe\"}}}").getMessage().contains("prompt_mode"));
        assertTrue(refused("{\"profiles\":{\"p\":{\"agent\":\"command\",\"executable\":\"x\",\"timeout_s\":0}}}").getMessage().contains("must be > 0"));
        assertTrue(refused("{\"profiles\":{\"bad name\":{\"agent\":\"command\",\"executable\":\"x\"}}}").getMessage().contains("profile name"));
        assertTrue(refused("{\"profiles\":{\"p\":{\"agent\":\"command\",\"executable\":\"x\",\"restart\":{\"policy\":\"sometimes\"}}}}").getMessage().contains("restart policy"));
        assertTrue(refused("{\"max_task_bytes\":0}").getMessage().contains("max_task_bytes"));
        // A prompt in argv is readable by every user (ps): only on the profile's explicit request.
        assertTrue(refused("{\"profiles\":{\"p\":{\"agent\":\"command\",\"executable\":\"x\",\"args\":[\"-m\",\"{prompt}\"]}}}")
                .getMessage().contains("\"prompt_mode\": \"arg\""));
        DeiaException notJson = refused("{ nope");
        assertEquals(ErrorCode.INVALID_ARGUMENT, notJson.code());
        assertTrue(notJson.getMessage().contains("deia.json"), notJson.getMessage());
        assertEquals(ErrorCode.NOT_FOUND, assertThrows(DeiaException.class, () -> DeiaConfig.load(dir.resolve("absent.json"))).code());
    }

    @Test
    void approvalAskOnACommandAgentIsRefusedNamingTheProfile() throws Exception {
        DeiaException e = refused("{\"profiles\":{\"scripts\":{\"agent\":\"command\",\"executable\":\"/bin/cat\","
                + "\"approval\":{\"mode\":\"ask\"}}}}");
        assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
        assertTrue(e.getMessage().contains("profile 'scripts': approval.mode 'ask' needs an agent that asks permission"), e.getMessage());
        assertTrue(e.getMessage().contains("deia.json"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> DeiaConfig.builder().profiles(Map.of("scripts",
                Profile.builder(AgentType.COMMAND).executable("/bin/cat").approval(new io.deia.core.permission.ApprovalPolicy(
                        "ask", null, null, null)).build())).build(), "the builder refuses it as the file does");
        // auto on a command agent, and ask on an agent that asks, are fine.
        DeiaConfig ok = load("{\"profiles\":{\"scripts\":{\"agent\":\"command\",\"executable\":\"/bin/cat\","
                + "\"approval\":{\"mode\":\"auto\"}},\"claude\":{\"agent\":\"claude-code\",\"approval\":{\"mode\":\"ask\","
                + "\"timeout_s\":60,\"allow\":[\"Read\"],\"deny\":[\"Bash(rm -rf*)\"]}}}}");
        assertTrue(ok.requireProfile("claude").approval().asks());
        assertEquals(60, ok.requireProfile("claude").approval().timeoutS());
        assertFalse(ok.requireProfile("scripts").approval().asks());
    }

    @Test
    void botIdsFollowTheRule() {
        assertTrue(BotIds.isValid("BOT-001"));
        assertTrue(BotIds.isValid("a"));
        assertTrue(BotIds.isValid("x".repeat(64)));
        for (String bad : new String[] {null, "", "-a", "_a", "../x", "a/b", "a.b", "BÖT", "x".repeat(65), "a b", "a\nb"}) {
            assertFalse(BotIds.isValid(bad), String.valueOf(bad));
            DeiaException e = assertThrows(DeiaException.class, () -> BotIds.requireValid(bad));
            assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
        }
        assertEquals("bot id 'a\\u000ab' is invalid: use ASCII letters, digits, '_' and '-', starting with a letter or digit ("
                + BotIds.PATTERN + ")", assertThrows(DeiaException.class, () -> BotIds.requireValid("a\nb")).getMessage());
        assertEquals("bot id is empty; expected " + BotIds.PATTERN,
                assertThrows(DeiaException.class, () -> BotIds.requireValid(null)).getMessage());
        assertEquals("BOT-1", BotIds.requireValid("BOT-1"));
    }

    @Test
    void errorCodesMapToStatuses() {
        assertEquals(409, ErrorCode.CONFLICT.httpStatus());
        assertEquals(ErrorCode.TIMEOUT, ErrorCode.fromId("timeout"));
        assertEquals(ErrorCode.INTERNAL, ErrorCode.fromId("what"));
        assertEquals(ErrorCode.TOO_MANY_REQUESTS, DeiaException.tooMany("q %d", 1).code());
        assertEquals(ErrorCode.PAYLOAD_TOO_LARGE, DeiaException.tooLarge("b").code());
        assertEquals(ErrorCode.NOT_FOUND, DeiaException.notFound("n").code());
        assertEquals(ErrorCode.BAD_GATEWAY, DeiaException.badGateway("g").code());
        assertEquals(ErrorCode.TIMEOUT, DeiaException.timeout("t").code());
        assertEquals("cannot read /x: java.io.IOException: disk",
                DeiaException.io("cannot read", Path.of("/x"), new java.io.IOException("disk")).getMessage());
    }
}
