package io.deia.core.bot;

import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;
import io.deia.core.HiveLayout;
import io.deia.core.agent.AgentContext;
import io.deia.core.agent.Agents;
import io.deia.core.agent.TurnResult;
import io.deia.core.agent.TurnStatus;
import io.deia.core.config.AgentType;
import io.deia.core.config.DeiaConfig;
import io.deia.core.config.HiveSettings;
import io.deia.core.config.Profile;
import io.deia.core.registry.BotState;
import io.deia.core.registry.JsonFileServiceRegistry;
import io.deia.core.schedule.SlotLease;
import io.deia.core.schedule.TurnOrder;
import io.deia.core.schedule.TurnSlots;
import io.deia.core.task.FileTaskQueue;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A bot under a hive turn limit: state {@code queued} with its place in line, then its turn; a stop while queued. */
class BotQueuedTest {
    @TempDir
    Path dir;

    private HiveLayout hive;
    private JsonFileServiceRegistry registry;
    private BotRuntime runtime;
    private SlotLease other;

    @AfterEach
    void stop() {
        if (other != null) {
            other.close();
        }
        if (runtime != null) {
            runtime.close();
        }
    }

    /** A bot whose config allows one turn at a time in the hive, and another runner holding that slot. */
    private void startBotBehindAFullHive() throws InterruptedException {
        hive = new HiveLayout(dir.resolve("hive"));
        Profile profile = Profile.builder(AgentType.COMMAND).executable("/bin/sh")
                .args(List.of("-c", "cat >/dev/null; printf done")).promptMode("stdin").timeoutS(30).build();
        DeiaConfig config = DeiaConfig.builder().heartbeatIntervalS(1).heartbeatTtlS(30).maxConcurrentTurns(1)
                .profiles(Map.of("scripted", profile)).build();
        Profile named = config.requireProfile("scripted");
        registry = new JsonFileServiceRegistry(hive, config);
        other = new TurnSlots(hive, "OTHER", "scripted", () -> HiveSettings.of(config))
                .acquire(TurnOrder.chat(Instant.now()), null, () -> false, () -> { });
        assertTrue(other.holdsSlots());
        runtime = BotRuntime.builder().botId("BOT-001").profile(named).config(config).hive(hive).registry(registry)
                .agent(Agents.create(new AgentContext("BOT-001", named, hive, System.getenv()))).port(18998).build().start();
    }

    @Test
    void aMessageOverTheLimitWaitsQueuedWithItsPlaceThenRuns() throws Exception {
        startBotBehindAFullHive();
        CompletableFuture<TurnResult> reply = runtime.submitMessage("hello", "m1", null);
        await().atMost(Duration.ofSeconds(5)).until(() -> runtime.status().state() == BotState.QUEUED);
        BotStatus status = runtime.status();
        assertEquals(1, status.queuePosition());
        await().atMost(Duration.ofSeconds(5)).until(() -> registry.get("BOT-001").orElseThrow().state() == BotState.QUEUED);
        assertFalse(reply.isDone());
        other.close();
        assertEquals(TurnStatus.COMPLETED, reply.get(10, TimeUnit.SECONDS).status());
        await().atMost(Duration.ofSeconds(5)).until(() -> runtime.status().state() == BotState.IDLE);
        assertNull(runtime.status().queuePosition());
    }

    @Test
    void aStopWhileQueuedEndsTheWaitAndLeavesTheTaskClaimed() throws Exception {
        startBotBehindAFullHive();
        FileTaskQueue tasks = new FileTaskQueue(hive, runtime.config());
        String taskId = tasks.submit("BOT-001", "---\ntask_id: T-QUEUED\npriority: P1\n---\ndo it\n");
        await().atMost(Duration.ofSeconds(10)).until(() -> runtime.status().state() == BotState.QUEUED);
        assertEquals(1, runtime.status().queuePosition());
        String entry = Files.readString(hive.slotsDir().resolve("waiting").resolve("BOT-001.json"));
        assertTrue(entry.contains("\"task_id\":\"T-QUEUED\"") && entry.contains("\"priority\":1"), entry);
        long started = System.nanoTime();
        runtime.stop(Duration.ofSeconds(20));
        assertTrue(TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - started) < 10, "a queued bot stops without its grace period");
        assertTrue(tasks.response("BOT-001", taskId).isEmpty(), "no response: the task never started");
        try (var claimed = Files.walk(hive.claimedDir("BOT-001"))) {
            assertEquals(1, claimed.filter(p -> p.getFileName().toString().contains("T-QUEUED")).count(),
                    "the task stays claimed for the next start");
        }
        assertFalse(Files.exists(hive.slotsDir().resolve("waiting").resolve("BOT-001.json")), "the bot left the line");
    }

    @Test
    void aMessageQueuedWhenTheBotStopsIsRefused() throws Exception {
        startBotBehindAFullHive();
        CompletableFuture<TurnResult> reply = runtime.submitMessage("hello", "m1", null);
        await().atMost(Duration.ofSeconds(5)).until(() -> runtime.status().state() == BotState.QUEUED);
        runtime.stop(Duration.ofSeconds(20));
        ExecutionException e = assertThrows(ExecutionException.class, () -> reply.get(5, TimeUnit.SECONDS));
        DeiaException cause = assertInstanceOf(DeiaException.class, e.getCause());
        assertEquals(ErrorCode.UNAVAILABLE, cause.code());
    }
}
