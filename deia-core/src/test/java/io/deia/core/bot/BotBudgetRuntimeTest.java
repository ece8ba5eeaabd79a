package io.deia.core.bot;

import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;
import io.deia.core.HiveLayout;
import io.deia.core.agent.AgentContext;
import io.deia.core.agent.Agents;
import io.deia.core.agent.TurnStatus;
import io.deia.core.config.AgentType;
import io.deia.core.config.Budget;
import io.deia.core.config.DeiaConfig;
import io.deia.core.config.HiveSettings;
import io.deia.core.config.Profile;
import io.deia.core.config.Webhook;
import io.deia.core.internal.io.AtomicFiles;
import io.deia.core.internal.io.Json;
import io.deia.core.ledger.Ledger;
import io.deia.core.ledger.LedgerEntry;
import io.deia.core.ledger.SettableClock;
import io.deia.core.registry.BotState;
import io.deia.core.registry.JsonFileServiceRegistry;
import io.deia.core.task.FileTaskQueue;
import io.deia.core.task.TaskResponse;
import io.deia.core.task.TaskStatus;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Budgets on a real bot: a {@code claude-code} profile whose CLI is a stand-in script speaking the
 * CLI's stream-json, reporting {@code total_cost_usd} as the real CLI does (the process's running
 * sum: 0.25 USD more per turn), and a real task inbox.
 */
class BotBudgetRuntimeTest {
    /** One result line per user line; the total grows by 0.25 USD a turn, as claude's running sum does. */
    private static final String STAND_IN = """
            #!/bin/sh
            n=0
            while IFS= read -r line; do
              case "$line" in *'"type":"user"'*) ;; *) continue;; esac
              n=$((n+1))
              case "$line" in *flaky*) if [ "$n" -eq 1 ]; then
                printf '{"type":"result","subtype":"error_during_execution","is_error":true,"result":"flaked","session_id":"s-%s","total_cost_usd":0.25,"usage":{"input_tokens":100,"output_tokens":20}}\\n' "$$"
                continue; fi;; esac
              printf '{"type":"system","subtype":"init","session_id":"s-%s","model":"stand-in"}\\n' "$$"
              printf '{"type":"result","subtype":"success","is_error":false,"result":"done %d","session_id":"s-%s","total_cost_usd":%d.%02d,"usage":{"input_tokens":100,"output_tokens":20}}\\n' "$n" "$$" $((n*25/100)) $((n*25%100))
            done
            """;
    private static final String HOOK_SECRET = "env:DEIA_TEST_UNUSED_SECRET";

    @TempDir
    Path dir;
    private HiveLayout hive;
    private BotRuntime runtime;

    @AfterEach
    void stop() {
        if (runtime != null) {
            runtime.close();
        }
    }

    private DeiaConfig config(Budget hiveBudget, Budget profileBudget, Profile.Builder profile) {
        return DeiaConfig.builder().heartbeatIntervalS(1).heartbeatTtlS(30).budget(hiveBudget)
                .webhooks(List.of(new Webhook("http://127.0.0.1:9/hook", List.of("bot.over_budget"), null)))
                .profiles(Map.of("standin", profile.budget(profileBudget).build())).build();
    }

    private Profile.Builder standIn() throws Exception {
        Path script = dir.resolve("claude-stand-in.sh");
        Files.writeString(script, STAND_IN);
        Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwx------"));
        return Profile.builder(AgentType.CLAUDE_CODE).executable(script.toString()).timeoutS(30).maxAttempts(1);
    }

    private BotRuntime start(DeiaConfig config, Clock clock) {
        hive = new HiveLayout(dir.resolve("hive"));
        Profile p = config.requireProfile(config.profiles().keySet().iterator().next());
        runtime = BotRuntime.builder().botId("BOT-001").profile(p).config(config).hive(hive)
                .registry(new JsonFileServiceRegistry(hive, config)).clock(clock)
                .agent(Agents.create(new AgentContext("BOT-001", p, hive, System.getenv()))).port(18998).build().start();
        return runtime;
    }

    private List<String> outboxEvents() throws Exception {
        if (!Files.isDirectory(hive.webhookOutboxDir())) {
            return List.of();
        }
        try (Stream<Path> files = Files.list(hive.webhookOutboxDir())) {
            return files.map(f -> AtomicFiles.readString(f)).toList();
        }
    }

    @Test
    void overBudgetKeepsTasksInTheInboxRefusesChatAndARaisedBudgetResumes() throws Exception {
        DeiaConfig config = config(null, new Budget(null, 0.5), standIn());
        start(config, Clock.systemUTC());
        FileTaskQueue tasks = new FileTaskQueue(hive, config);

        assertEquals(0.25, runtime.sendMessage("one", "m1", null).costUsd(), 1e-9);
        assertEquals(0.25, runtime.sendMessage("two", "m2", null).costUsd(), 1e-9, "each turn's share, not the running sum");
        await().atMost(Duration.ofSeconds(10)).until(() -> runtime.state() == BotState.OVER_BUDGET);
        BotStatus status = runtime.status();
        assertEquals(0.5, status.cost().totalUsd(), 1e-9);
        assertEquals(0.5, status.cost().todayUsd(), 1e-9);
        assertEquals(200, status.cost().inputTokens());
        assertTrue(status.budget().over());
        assertTrue(status.budget().reason().contains("profile's budget"), status.budget().reason());
        String json = Json.write(status);
        assertTrue(json.contains("\"cost\":{\"today_usd\":0.5,\"total_usd\":0.5,\"unknown_cost_turns\":0"), json);

        DeiaException refused = assertThrows(DeiaException.class, () -> runtime.sendMessage("three", "m3", null));
        assertEquals(ErrorCode.BUDGET_EXCEEDED, refused.code());
        assertEquals(402, refused.code().httpStatus());

        String taskId = tasks.submit("BOT-001", "---\ntask_id: T-WAIT\n---\nwork while over budget\n");
        // The worker has seen the task (it counts it) and holds it: the file stays in the inbox, unclaimed.
        await().atMost(Duration.ofSeconds(10)).until(() -> runtime.status().queueDepth() == 1);
        try (Stream<Path> inbox = Files.list(hive.inboxDir("BOT-001"))) {
            assertEquals(1, inbox.filter(f -> f.getFileName().toString().endsWith(".md")).count());
        }
        assertTrue(tasks.response("BOT-001", taskId).isEmpty());
        assertEquals(BotState.OVER_BUDGET, runtime.state());

        List<String> events = outboxEvents();
        assertEquals(1, events.size(), "one bot.over_budget event for the one transition: " + events);
        assertTrue(events.get(0).contains("\"type\":\"bot.over_budget\"") && events.get(0).contains("\"budget\":\"profile\"")
                && events.get(0).contains("\"period\":\"total\"") && events.get(0).contains("\"limit_usd\":0.5"), events.get(0));

        // serve publishes a raised budget (POST /api/config/reload): the waiting task runs without a restart.
        HiveSettings raised = HiveSettings.of(DeiaConfig.builder().profiles(Map.of("standin",
                config.requireProfile("standin").toBuilder().budget(new Budget(null, 10.0)).build())).build());
        raised.publish(hive);
        await().atMost(Duration.ofSeconds(15)).until(() -> tasks.response("BOT-001", taskId).isPresent());
        TaskResponse r = tasks.response("BOT-001", taskId).orElseThrow();
        assertEquals(TaskStatus.COMPLETED, r.status());
        assertEquals(0.25, r.costUsd(), 1e-9);
        await().atMost(Duration.ofSeconds(10)).until(() -> runtime.state() == BotState.IDLE);
        assertFalse(runtime.status().budget().over());
        assertEquals("done 4", runtime.sendMessage("four", "m4", null).text(), "the refused message never reached the agent");

        List<LedgerEntry> ledger = new Ledger(hive).read("BOT-001");
        List<LedgerEntry> turns = ledger.stream().filter(LedgerEntry::isTurn).toList();
        assertEquals(List.of("chat", "chat", "task", "chat"), turns.stream().map(LedgerEntry::source).toList());
        LedgerEntry taskTurn = turns.get(2);
        assertEquals("T-WAIT", taskTurn.taskId());
        assertEquals(1, taskTurn.attempt());
        assertEquals("standin", taskTurn.profile());
        assertEquals("completed", taskTurn.status());
        assertTrue(taskTurn.costKnown());
        assertNotNull(taskTurn.pickupMs());
        assertTrue(taskTurn.pickupMs() >= 0, "from the task's arrival to its turn: " + taskTurn.pickupMs());
        assertNull(turns.get(0).pickupMs(), "a chat turn has no pickup");
        LedgerEntry outcome = ledger.stream().filter(LedgerEntry::isTask).findFirst().orElseThrow();
        assertEquals("T-WAIT", outcome.taskId());
        assertEquals("completed", outcome.status());
    }

    @Test
    void aRetryWaitsWhileTheFailedAttemptPutTheBotOverBudget() throws Exception {
        DeiaConfig config = config(null, new Budget(null, 0.25), standIn().maxAttempts(2).retryBackoffMs(10));
        start(config, Clock.systemUTC());
        FileTaskQueue tasks = new FileTaskQueue(hive, config);
        String taskId = tasks.submit("BOT-001", "---\ntask_id: T-FLAKY\n---\nflaky work\n");
        await().atMost(Duration.ofSeconds(15)).until(() -> runtime.state() == BotState.OVER_BUDGET);
        // The failed first attempt spent the budget: the retry does not start, the task stays claimed, unanswered.
        await().during(Duration.ofMillis(1500)).atMost(Duration.ofSeconds(5)).until(() -> taskTurns().size() == 1
                && tasks.response("BOT-001", taskId).isEmpty());
        assertEquals("failed", taskTurns().get(0).status());

        HiveSettings.of(DeiaConfig.builder().profiles(Map.of("standin",
                config.requireProfile("standin").toBuilder().budget(new Budget(null, 10.0)).build())).build()).publish(hive);
        await().atMost(Duration.ofSeconds(15)).until(() -> tasks.response("BOT-001", taskId).isPresent());
        TaskResponse r = tasks.response("BOT-001", taskId).orElseThrow();
        assertEquals(TaskStatus.COMPLETED, r.status());
        assertEquals(2, r.attempt());
        assertEquals(List.of(1, 2), taskTurns().stream().map(LedgerEntry::attempt).toList());
        assertNull(taskTurns().get(1).pickupMs(), "only the first attempt has a pickup time");
    }

    private List<LedgerEntry> taskTurns() {
        return new Ledger(hive).read("BOT-001").stream().filter(e -> e.isTurn() && "task".equals(e.source())).toList();
    }

    @Test
    void aDailyHiveBudgetLiftsOnTheNextUtcDay() throws Exception {
        SettableClock clock = new SettableClock(Instant.parse("2026-12-08T23:30:00Z"));
        DeiaConfig config = config(new Budget(0.25, null), null, standIn());
        start(config, clock);
        FileTaskQueue tasks = new FileTaskQueue(hive, config);
        assertEquals(TurnStatus.COMPLETED, runtime.sendMessage("one", "m1", null).status());
        await().atMost(Duration.ofSeconds(10)).until(() -> runtime.state() == BotState.OVER_BUDGET);
        assertTrue(runtime.status().budget().reason().contains("hive-wide"), runtime.status().budget().reason());
        String taskId = tasks.submit("BOT-001", "---\ntask_id: T-TOMORROW\n---\nnext day\n");
        await().atMost(Duration.ofSeconds(10)).until(() -> runtime.status().queueDepth() == 1);
        assertTrue(tasks.response("BOT-001", taskId).isEmpty());

        clock.advance(Duration.ofHours(1));
        await().atMost(Duration.ofSeconds(15)).until(() -> tasks.response("BOT-001", taskId).isPresent());
        assertEquals(TaskStatus.COMPLETED, tasks.response("BOT-001", taskId).orElseThrow().status());
        assertEquals(0.25, runtime.status().cost().todayUsd(), 1e-9);
        assertEquals(0.5, runtime.status().cost().totalUsd(), 1e-9);
    }

    @Test
    void aCommandAgentsCostIsUnknownAndALedgerFailureLosesNoResponse() throws Exception {
        Profile.Builder echo = Profile.builder(AgentType.COMMAND).executable("/bin/sh")
                .args(List.of("-c", "cat >/dev/null; printf ok")).timeoutS(30).maxAttempts(1);
        DeiaConfig config = config(new Budget(0.000001, null), null, echo);
        start(config, Clock.systemUTC());
        FileTaskQueue tasks = new FileTaskQueue(hive, config);
        // A budget this small is never reached by turns whose cost nobody knows: they are counted, not taken as free.
        assertEquals("ok", runtime.sendMessage("hi", "m1", null).text());
        BotStatus status = runtime.status();
        assertEquals(1, status.cost().unknownCostTurns());
        assertEquals(0.0, status.cost().totalUsd());
        LedgerEntry line = new Ledger(hive).read("BOT-001").get(0);
        assertFalse(line.costKnown());
        assertNull(line.costUsd());

        // A task rejected unread still gets its task line: every final outcome is in the ledger.
        AtomicFiles.write(hive.inboxDir("BOT-001").resolve("empty.md"), new byte[0]);
        await().atMost(Duration.ofSeconds(15)).until(() -> new Ledger(hive).read("BOT-001").stream()
                .anyMatch(e -> e.isTask() && "rejected".equals(e.status())));
        LedgerEntry rejected = new Ledger(hive).read("BOT-001").stream().filter(LedgerEntry::isTask).findFirst().orElseThrow();
        assertEquals("empty", rejected.taskId());
        assertEquals("standin", rejected.profile());

        // The ledger cannot be written any more: the task still gets its response.
        Files.delete(hive.ledgerFile("BOT-001"));
        Files.createDirectories(hive.ledgerFile("BOT-001"));
        String taskId = tasks.submit("BOT-001", "---\ntask_id: T-NO-LEDGER\n---\nstill answered\n");
        await().atMost(Duration.ofSeconds(15)).until(() -> tasks.response("BOT-001", taskId).isPresent());
        assertEquals(TaskStatus.COMPLETED, tasks.response("BOT-001", taskId).orElseThrow().status());
        assertEquals("ok", runtime.sendMessage("again", "m2", null).text());
    }
}
