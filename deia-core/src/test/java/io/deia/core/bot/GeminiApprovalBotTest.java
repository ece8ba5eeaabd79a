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
import io.deia.core.testkit.FakeGeminiServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
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
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A bot whose profile says {@code approval.mode: ask}, with the real Gemini CLI (ACP) behind it:
 * its requests go through the bot's {@link io.deia.core.permission.PermissionBroker} (events, state,
 * answers) to the CLI and back. Run with -Pagents.
 */
@Tag("agents")
class GeminiApprovalBotTest {
    @TempDir
    Path dir;
    private FakeGeminiServer server;
    private BotRuntime bot;
    private Path ws;

    @BeforeEach
    void start() {
        server = new FakeGeminiServer();
        HiveLayout hive = new HiveLayout(dir.resolve("hive"));
        ws = hive.workspaceDir("BOT-001").toAbsolutePath();
        Profile profile = Profile.builder(AgentType.GEMINI).executable(AgentClis.gemini().toString()).model("gemini-2.5-flash")
                .env(Map.of("GOOGLE_GEMINI_BASE_URL", server.baseUrl()))
                .secretEnv(Map.of("GEMINI_API_KEY", "DEIA_TEST_GEMINI_KEY")).timeoutS(90)
                .approval(new ApprovalPolicy("ask", 60, List.of(), List.of())).build();
        DeiaConfig config = DeiaConfig.builder().heartbeatIntervalS(1).heartbeatTtlS(30).profiles(Map.of("gemini", profile)).build();
        Profile named = config.requireProfile("gemini");
        Map<String, String> parent = new HashMap<>(System.getenv());
        parent.put("DEIA_TEST_GEMINI_KEY", "test-key");
        bot = BotRuntime.builder().botId("BOT-001").profile(named).config(config).hive(hive)
                .registry(new JsonFileServiceRegistry(hive, config))
                .agent(Agents.create(new AgentContext("BOT-001", named, hive, parent))).port(18996).build().start();
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
        await().atMost(60, TimeUnit.SECONDS).until(() -> !bot.permissions().pending().isEmpty());
        return bot.permissions().pending().get(0);
    }

    @Test
    void aPersonAllowsAnEditThroughTheBot() throws Exception {
        Path file = ws.resolve("approved.txt");
        CompletableFuture<TurnResult> turn = bot.submitMessage("WRITE_FILE " + file, "m1", null);

        PermissionRequest asked = awaitPending();
        assertEquals("Edit", asked.tool());
        assertEquals(file.toString(), asked.summary());
        assertTrue(asked.input().contains(FakeGeminiServer.FILE_CONTENT.strip()), asked.input());
        assertEquals(List.of("Allow for this session"), asked.suggestions());
        assertEquals(BotState.WAITING_APPROVAL, bot.state());
        assertFalse(Files.exists(file));

        bot.permissions().answer(asked.requestId(), PermissionDecision.ALLOW, null);
        TurnResult r = turn.get(60, TimeUnit.SECONDS);
        assertEquals(TurnStatus.COMPLETED, r.status(), r.error());
        assertEquals(FakeGeminiServer.FILE_CONTENT, Files.readString(file));
        BotEvent resolved = events(BotEvent.PERMISSION_RESOLVED).get(0);
        assertEquals(asked.requestId(), resolved.resolution().requestId());
        assertEquals("allow", resolved.resolution().decision());
        assertEquals("user", resolved.resolution().by());
        await().atMost(10, TimeUnit.SECONDS).until(() -> bot.state() == BotState.IDLE);
    }

    @Test
    void stoppingTheBotWhileARequestWaitsCancelsIt() throws Exception {
        Path marker = ws.resolve("stopped.txt");
        CompletableFuture<TurnResult> turn = bot.submitMessage("RUN_BASH touch " + marker, "m1", null);
        PermissionRequest asked = awaitPending();
        assertEquals("touch " + marker, asked.summary());

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
