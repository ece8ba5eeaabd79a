package io.deia.core.bot;

import io.deia.core.HiveLayout;
import io.deia.core.agent.AgentContext;
import io.deia.core.agent.Agents;
import io.deia.core.agent.TurnResult;
import io.deia.core.agent.TurnStatus;
import io.deia.core.config.AgentType;
import io.deia.core.config.DeiaConfig;
import io.deia.core.config.Profile;
import io.deia.core.permission.ApprovalPolicy;
import io.deia.core.permission.PermissionDecision;
import io.deia.core.permission.PermissionRequest;
import io.deia.core.registry.BotState;
import io.deia.core.registry.JsonFileServiceRegistry;
import io.deia.core.testkit.AgentClis;
import io.deia.core.testkit.FakeAnthropicServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A bot whose profile says {@code approval.mode: ask}, with the real Claude Code CLI behind it: its
 * requests go through the bot's {@link io.deia.core.permission.PermissionBroker} (events, state,
 * answers) to the CLI and back.
 */
class ClaudeApprovalBotTest {
    @TempDir
    Path dir;
    private FakeAnthropicServer server;
    private BotRuntime bot;
    private Path ws;

    @BeforeEach
    void start() {
        server = new FakeAnthropicServer();
        HiveLayout hive = new HiveLayout(dir.resolve("hive"));
        ws = hive.workspaceDir("BOT-001").toAbsolutePath();
        Profile profile = Profile.builder(AgentType.CLAUDE_CODE).executable(AgentClis.claude().toString()).model("sonnet")
                .env(Map.of("ANTHROPIC_BASE_URL", server.baseUrl(), "CLAUDE_CODE_MAX_RETRIES", "0"))
                .secretEnv(Map.of("ANTHROPIC_API_KEY", "DEIA_TEST_ANTHROPIC_KEY")).timeoutS(60)
                .approval(new ApprovalPolicy("ask", 60, List.of(), List.of("Bash(*forbidden*)"))).build();
        DeiaConfig config = DeiaConfig.builder().heartbeatIntervalS(1).heartbeatTtlS(30).profiles(Map.of("claude", profile)).build();
        Profile named = config.requireProfile("claude");
        Map<String, String> parent = new HashMap<>(System.getenv());
        parent.put("DEIA_TEST_ANTHROPIC_KEY", "sk-ant-test-key");
        bot = BotRuntime.builder().botId("BOT-001").profile(named).config(config).hive(hive)
                .registry(new JsonFileServiceRegistry(hive, config))
                .agent(Agents.create(new AgentContext("BOT-001", named, hive, parent))).port(18998).build().start();
    }

    @AfterEach
    void stop() {
        bot.close();
        server.close();
    }

    private List<BotEvent> events(String type) {
        return bot.events().after(0).stream().filter(e -> e.type().equals(type)).toList();
    }

    private PermissionRequest awaitPending() {
        await().atMost(30, TimeUnit.SECONDS).until(() -> !bot.permissions().pending().isEmpty());
        return bot.permissions().pending().get(0);
    }

    @Test
    void aPersonAllowsAShellCommandThroughTheBot() throws Exception {
        Path marker = ws.resolve("approved.txt");
        CompletableFuture<TurnResult> turn = bot.submitMessage("RUN_BASH touch " + marker, "m1", null);

        PermissionRequest asked = awaitPending();
        assertEquals("Bash", asked.tool());
        assertEquals("touch " + marker, asked.summary());
        assertNull(asked.taskId(), "a chat turn");
        assertTrue(asked.input().contains("touch " + marker), asked.input());
        assertEquals(BotState.WAITING_APPROVAL, bot.state());
        assertEquals(asked.requestId(), events(BotEvent.PERMISSION_REQUEST).get(0).request().requestId());
        assertFalse(Files.exists(marker));

        bot.permissions().answer(asked.requestId(), PermissionDecision.ALLOW, null);
        TurnResult r = turn.get(60, TimeUnit.SECONDS);
        assertEquals(TurnStatus.COMPLETED, r.status(), r.error());
        assertTrue(Files.exists(marker));
        BotEvent resolved = events(BotEvent.PERMISSION_RESOLVED).get(0);
        assertEquals(asked.requestId(), resolved.resolution().requestId());
        assertEquals("allow", resolved.resolution().decision());
        assertEquals("user", resolved.resolution().by());
        await().atMost(10, TimeUnit.SECONDS).until(() -> bot.state() == BotState.IDLE);
    }

    @Test
    void theProfilesDenyRuleRefusesWithoutAskingAndTheModelIsTold() throws Exception {
        Path marker = ws.resolve("forbidden.txt");
        TurnResult r = bot.sendMessage("RUN_BASH touch " + marker, "m1", null);
        assertEquals(TurnStatus.COMPLETED, r.status(), r.error());
        assertFalse(Files.exists(marker));
        assertTrue(r.text().startsWith("Tool refused: The bot's approval policy denied this tool call"), r.text());
        assertEquals("policy", events(BotEvent.PERMISSION_RESOLVED).get(0).resolution().by());
        assertTrue(bot.permissions().pending().isEmpty());
    }

    @Test
    void allowForTheSessionThroughTheBotIsNotAskedAgain() throws Exception {
        Path marker = ws.resolve("twice.txt");
        CompletableFuture<TurnResult> first = bot.submitMessage("RUN_BASH touch " + marker, "m1", null);
        bot.permissions().answer(awaitPending().requestId(), PermissionDecision.ALLOW_SESSION, null);
        assertEquals(TurnStatus.COMPLETED, first.get(60, TimeUnit.SECONDS).status());
        Files.delete(marker);

        TurnResult second = bot.sendMessage("RUN_BASH touch " + marker, "m2", null);
        assertEquals(TurnStatus.COMPLETED, second.status(), second.error());
        assertTrue(Files.exists(marker));
        assertEquals(1, events(BotEvent.PERMISSION_REQUEST).size(), "asked once: the CLI remembers the session rule");
    }

    @Test
    void stoppingTheBotWhileARequestWaitsCancelsIt() throws Exception {
        Path marker = ws.resolve("stopped.txt");
        CompletableFuture<TurnResult> turn = bot.submitMessage("RUN_BASH touch " + marker, "m1", null);
        PermissionRequest asked = awaitPending();

        bot.close();
        TurnResult r = turn.get(30, TimeUnit.SECONDS);
        assertEquals(TurnStatus.INTERRUPTED, r.status(), r.error());
        assertTrue(bot.permissions().pending().isEmpty());
        BotEvent resolved = events(BotEvent.PERMISSION_RESOLVED).get(0);
        assertEquals(asked.requestId(), resolved.resolution().requestId());
        assertEquals("cancelled", resolved.resolution().by());
        assertFalse(Files.exists(marker));
    }
}
