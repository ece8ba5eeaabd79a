package io.deia.core.bot;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.HiveLayout;
import io.deia.core.config.AgentType;
import io.deia.core.agent.TurnResult;
import io.deia.core.permission.ApprovalPolicy;
import io.deia.core.config.DeiaConfig;
import io.deia.core.config.Profile;
import io.deia.core.config.Webhook;
import io.deia.core.internal.io.Json;
import io.deia.core.registry.JsonFileServiceRegistry;
import io.deia.core.testkit.AskingAgent;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A permission request that waits for a person writes a {@code permission.requested} webhook event. */
class PermissionWebhookTest {
    @TempDir
    Path dir;

    private BotRuntime runtime;

    @AfterEach
    void stop() {
        if (runtime != null) {
            runtime.close();
        }
    }

    @Test
    void aWaitingRequestWritesItsEventToTheOutbox() throws Exception {
        HiveLayout hive = new HiveLayout(dir.resolve("hive"));
        Profile profile = Profile.builder(AgentType.CLAUDE_CODE).timeoutS(60).maxAttempts(2).retryBackoffMs(10)
                .approval(new ApprovalPolicy("ask", 1, null, null)).build();
        DeiaConfig config = DeiaConfig.builder().heartbeatIntervalS(1).heartbeatTtlS(30).profiles(Map.of("asking", profile))
                .webhooks(List.of(new Webhook("http://127.0.0.1:9/hook", List.of("permission.requested"), null))).build();
        runtime = BotRuntime.builder().botId("BOT-010").profile(config.requireProfile("asking")).config(config).hive(hive)
                .registry(new JsonFileServiceRegistry(hive, config)).agent(new AskingAgent("S-1")).port(18997).build().start();
        TurnResult timedOut = runtime.sendMessage("ask Bash make deploy", "m1", null);
        assertTrue(timedOut.text().startsWith("denied: nobody answered"), timedOut.text());
        await().atMost(Duration.ofSeconds(10)).until(() -> Files.isDirectory(hive.webhookOutboxDir())
                && Files.list(hive.webhookOutboxDir()).anyMatch(p -> p.toString().endsWith(".json")));
        Path file;
        try (Stream<Path> s = Files.list(hive.webhookOutboxDir())) {
            file = s.filter(p -> p.toString().endsWith(".json")).findFirst().orElseThrow();
        }
        JsonNode event = Json.read(Files.readString(file), JsonNode.class, "event");
        assertEquals("permission.requested", event.path("type").asText());
        assertEquals("BOT-010", event.path("bot_id").asText());
        assertEquals("Bash", event.path("tool").asText());
        assertEquals("make deploy", event.path("subject").asText());
        assertTrue(event.path("request_id").asText().startsWith("perm-"), event.toString());
    }
}
