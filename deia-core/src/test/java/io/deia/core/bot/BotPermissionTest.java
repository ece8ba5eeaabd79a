package io.deia.core.bot;

import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;
import io.deia.core.HiveLayout;
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
import io.deia.core.task.FileTaskQueue;
import io.deia.core.task.TaskStatus;
import io.deia.core.testkit.AskingAgent;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The permission relay through a real {@link BotRuntime} turn: a test agent asks its turn's gate as a
 * CLI does, the real broker relays it (events, state, pending list) and a person's answer, a timeout,
 * an interrupt or a stop ends it.
 */
class BotPermissionTest {
    @TempDir
    Path dir;

    private BotRuntime runtime;
    private HiveLayout hive;
    private JsonFileServiceRegistry registry;
    private final AskingAgent agent = new AskingAgent("S-1");

    @AfterEach
    void stop() {
        if (runtime != null) {
            runtime.close();
        }
    }

    private BotRuntime start(ApprovalPolicy approval) {
        hive = new HiveLayout(dir.resolve("hive"));
        Profile profile = Profile.builder(AgentType.CLAUDE_CODE).timeoutS(60).maxAttempts(2).retryBackoffMs(10)
                .approval(approval).build();
        DeiaConfig config = DeiaConfig.builder().heartbeatIntervalS(1).heartbeatTtlS(30).profiles(Map.of("asking", profile)).build();
        registry = new JsonFileServiceRegistry(hive, config);
        runtime = BotRuntime.builder().botId("BOT-009").profile(config.requireProfile("asking")).config(config).hive(hive)
                .registry(registry).agent(agent).port(18998).build().start();
        return runtime;
    }

    private List<BotEvent> events(String type) {
        return runtime.events().after(0).stream().filter(e -> e.type().equals(type)).toList();
    }

    private PermissionRequest awaitPending() {
        await().atMost(Duration.ofSeconds(20)).until(() -> !runtime.permissions().pending().isEmpty());
        return runtime.permissions().pending().get(0);
    }

    @Test
    void aChatTurnWaitsForAPersonInStateWaitingApproval() throws Exception {
        start(new ApprovalPolicy("ask", 60, List.of("Read"), List.of("Bash(rm -rf*)")));
        CompletableFuture<TurnResult> turn = runtime.submitMessage("ask Bash git push origin main", "m1", null);
        PermissionRequest asked = awaitPending();
        assertEquals("Bash", asked.tool());
        assertEquals("git push origin main", asked.summary());
        assertNull(asked.taskId(), "a chat turn");
        await().atMost(Duration.ofSeconds(20)).until(() -> runtime.state() == BotState.WAITING_APPROVAL);
        assertEquals(BotState.WAITING_APPROVAL, runtime.status().state());
        await().atMost(Duration.ofSeconds(20)).until(() -> registry.get("BOT-009").orElseThrow().state() == BotState.WAITING_APPROVAL);
        BotEvent requestEvent = events(BotEvent.PERMISSION_REQUEST).get(0);
        assertEquals(asked, requestEvent.request());
        assertTrue(requestEvent.request().expiresAt().isAfter(requestEvent.request().createdAt()));

        runtime.permissions().answer(asked.requestId(), PermissionDecision.ALLOW, null);
        TurnResult result = turn.get(20, TimeUnit.SECONDS);
        assertEquals("ran: git push origin main", result.text());
        BotEvent resolved = events(BotEvent.PERMISSION_RESOLVED).get(0);
        assertEquals(asked.requestId(), resolved.resolution().requestId());
        assertEquals("allow", resolved.resolution().decision());
        assertEquals("user", resolved.resolution().by());
        assertTrue(requestEvent.seq() < resolved.seq());
        await().atMost(Duration.ofSeconds(20)).until(() -> runtime.state() == BotState.IDLE);
        assertTrue(runtime.events().after(0).stream().anyMatch(e -> "status".equals(e.type())
                && "waiting_approval".equals(e.state())), "the state change was published");

        // The policy decides without a person, and both events still tell it.
        assertEquals("denied: denied by the profile's approval.deny rules",
                runtime.sendMessage("ask Bash rm -rf /srv", "m2", null).text());
        assertEquals("ran: /srv/a", runtime.sendMessage("ask Read /srv/a", "m3", null).text());
        assertEquals(3, events(BotEvent.PERMISSION_REQUEST).size());
        assertEquals(List.of("user", "policy", "policy"), events(BotEvent.PERMISSION_RESOLVED).stream()
                .map(e -> e.resolution().by()).toList());
        assertEquals(ErrorCode.CONFLICT, assertThrows(DeiaException.class,
                () -> runtime.permissions().answer(asked.requestId(), PermissionDecision.DENY, null)).code());
    }

    @Test
    void aTaskTurnsRequestCarriesTheTaskAndAnInterruptCancelsIt() throws Exception {
        start(new ApprovalPolicy("ask", 60, null, null));
        FileTaskQueue tasks = new FileTaskQueue(hive, runtime.config());
        String taskId = tasks.submit("BOT-009", "---\ntask_id: T-ASK-1\n---\nask Edit /srv/app/main.py\n");
        PermissionRequest asked = awaitPending();
        assertEquals(taskId, asked.taskId());
        assertEquals("Edit", asked.tool());
        assertTrue(runtime.interrupt());
        await().atMost(Duration.ofSeconds(20)).until(() -> !events(BotEvent.PERMISSION_RESOLVED).isEmpty());
        BotEvent.Resolution end = events(BotEvent.PERMISSION_RESOLVED).get(0).resolution();
        assertEquals(asked.requestId(), end.requestId());
        assertEquals("cancelled", end.by());
        assertEquals("deny", end.decision());
        // An interrupted task ends interrupted (the normal rule), with nothing left waiting.
        await().atMost(Duration.ofSeconds(20)).until(() -> tasks.response("BOT-009", taskId).isPresent());
        assertEquals(TaskStatus.INTERRUPTED, tasks.response("BOT-009", taskId).orElseThrow().status());
        assertTrue(runtime.permissions().pending().isEmpty());
        assertEquals(ErrorCode.CONFLICT, assertThrows(DeiaException.class,
                () -> runtime.permissions().answer(asked.requestId(), PermissionDecision.ALLOW, null)).code());
        await().atMost(Duration.ofSeconds(20)).until(() -> runtime.state() == BotState.IDLE);

        // The next task is allowed by a person and runs.
        String next = tasks.submit("BOT-009", "---\ntask_id: T-ASK-2\n---\nask Edit /srv/app/main.py\n");
        PermissionRequest again = awaitPending();
        assertEquals(next, again.taskId());
        runtime.permissions().answer(again.requestId(), PermissionDecision.ALLOW, "go ahead");
        await().atMost(Duration.ofSeconds(20)).until(() -> tasks.response("BOT-009", next).isPresent());
        assertEquals(TaskStatus.COMPLETED, tasks.response("BOT-009", next).orElseThrow().status());
    }

    @Test
    void anUnansweredRequestTimesOutDenied() {
        start(new ApprovalPolicy("ask", 1, null, null));
        TurnResult timedOut = runtime.sendMessage("ask Bash make deploy", "m1", null);
        assertTrue(timedOut.text().startsWith("denied: nobody answered"), timedOut.text());
        assertEquals("timeout", events(BotEvent.PERMISSION_RESOLVED).get(0).resolution().by());
        assertTrue(runtime.permissions().pending().isEmpty());
    }

    @Test
    void aStopCancelsWhatWaits() throws Exception {
        start(new ApprovalPolicy("ask", 600, null, null));
        CompletableFuture<TurnResult> turn = runtime.submitMessage("ask Bash make deploy", "m1", null);
        PermissionRequest asked = awaitPending();
        runtime.stop(Duration.ofMillis(200));
        assertEquals(TurnStatus.INTERRUPTED, turn.get(20, TimeUnit.SECONDS).status());
        assertTrue(runtime.permissions().pending().isEmpty());
        BotEvent.Resolution end = events(BotEvent.PERMISSION_RESOLVED).get(0).resolution();
        assertEquals(asked.requestId(), end.requestId());
        assertEquals("cancelled", end.by());
        assertEquals("cancelled", runtime.permissions().ask(new io.deia.core.permission.ToolCall("Bash", "ls", null, null))
                .answer().join().by().id(), "nothing waits once stopped");
    }

    @Test
    void anAutoProfileGivesTheAgentNoGate() {
        start(ApprovalPolicy.AUTO);
        assertEquals("no gate", runtime.sendMessage("ask Bash ls", "m1", null).text());
        assertNull(agent.turns.get(0).permissions());
        assertTrue(events(BotEvent.PERMISSION_REQUEST).isEmpty());
    }
}
