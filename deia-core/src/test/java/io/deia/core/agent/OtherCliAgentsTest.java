package io.deia.core.agent;

import io.deia.core.HiveLayout;
import io.deia.core.config.AgentType;
import io.deia.core.config.Profile;
import io.deia.core.testkit.AgentClis;
import io.deia.core.testkit.FakeGeminiServer;
import io.deia.core.testkit.FakeOpenAiResponsesServer;
import io.deia.core.testkit.ProcessChecks;
import io.deia.core.testkit.TestProfiles;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The real Codex and Gemini CLIs against scripted endpoints on 127.0.0.1 (run with -Pagents). */
@Tag("agents")
class OtherCliAgentsTest {
    @TempDir
    Path dir;

    private Agent agent(Profile p) {
        Map<String, String> parent = new HashMap<>(System.getenv());
        parent.put("DEIA_TEST_KEY", "test-key");
        return Agents.create(new AgentContext("BOT-003", p, new HiveLayout(dir), parent));
    }

    private static TurnRequest turn(String prompt) {
        return new TurnRequest(prompt, Duration.ofSeconds(90), null);
    }

    @Test
    void codexChatsWritesAFileAndResumes() throws Exception {
        try (FakeOpenAiResponsesServer server = new FakeOpenAiResponsesServer()) {
            Profile p = TestProfiles.profile(AgentType.CODEX, AgentClis.codex().toString(), List.of(), "gpt-5.5", "danger-full-access",
                    List.of(), Map.of("OPENAI_BASE_URL", server.baseUrl() + "/v1", "CODEX_MAX_RETRIES", "0"),
                    Map.of("OPENAI_API_KEY", "DEIA_TEST_KEY"));
            List<AgentEvent> events = new CopyOnWriteArrayList<>();
            try (Agent a = agent(p)) {
                TurnResult chat = a.runTurn(turn("say hi"), events::add);
                assertEquals(TurnStatus.COMPLETED, chat.status(), chat.error());
                assertEquals("Hi from the fake model! You said: say hi", chat.text());
                assertTrue(chat.sessionId() != null);
                Path target = new HiveLayout(dir).workspaceDir("BOT-003").toAbsolutePath().resolve("hello.txt");
                TurnResult write = a.runTurn(turn("WRITE_FILE " + target), events::add);
                assertEquals(TurnStatus.COMPLETED, write.status(), write.error() + " tools offered: " + server.offeredTools());
                assertEquals(FakeOpenAiResponsesServer.FILE_CONTENT, Files.readString(target));
                assertEquals(chat.sessionId(), write.sessionId());
                assertTrue(server.requests().get(server.requests().size() - 1).body().contains("say hi"), "history resumed");
            }
            assertEquals(List.of(), ProcessChecks.runningWithMarker(dir.toString()));
        }
    }

    @Test
    void geminiChatsWritesAFileAndResumes() throws Exception {
        try (FakeGeminiServer server = new FakeGeminiServer()) {
            Profile p = TestProfiles.profile(AgentType.GEMINI, AgentClis.gemini().toString(), List.of(), "gemini-2.5-flash", "auto_edit",
                    List.of(), Map.of("GOOGLE_GEMINI_BASE_URL", server.baseUrl()), Map.of("GEMINI_API_KEY", "DEIA_TEST_KEY"));
            List<AgentEvent> events = new CopyOnWriteArrayList<>();
            try (Agent a = agent(p)) {
                TurnResult chat = a.runTurn(turn("say hi"), events::add);
                assertEquals(TurnStatus.COMPLETED, chat.status(), chat.error());
                assertEquals("Hi from the fake model! You said: say hi", chat.text());
                assertTrue(events.stream().filter(e -> e instanceof AgentEvent.TextDelta).count() > 1);
                Path target = new HiveLayout(dir).workspaceDir("BOT-003").toAbsolutePath().resolve("hello.txt");
                TurnResult write = a.runTurn(turn("WRITE_FILE " + target), events::add);
                assertEquals(TurnStatus.COMPLETED, write.status(), write.error());
                assertEquals(FakeGeminiServer.FILE_CONTENT, Files.readString(target));
                assertEquals(chat.sessionId(), write.sessionId());
                assertTrue(server.requests().get(server.requests().size() - 1).body().contains("say hi"), "history resumed");
            }
            assertEquals(List.of(), ProcessChecks.runningWithMarker(dir.toString()));
        }
    }
}
