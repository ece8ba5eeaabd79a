package io.deia.core.bot;

import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;
import io.deia.core.HiveLayout;
import io.deia.core.agent.AgentContext;
import io.deia.core.agent.AgentEvent;
import io.deia.core.agent.Agents;
import io.deia.core.agent.TurnResult;
import io.deia.core.agent.TurnStatus;
import io.deia.core.config.AgentType;
import io.deia.core.config.DeiaConfig;
import io.deia.core.config.Profile;
import io.deia.core.internal.io.AtomicFiles;
import io.deia.core.registry.BotRecord;
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
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** BotRuntime with a real command agent ({@code sh} scripts), a real registry and a real task inbox. */
class BotRuntimeTest {
    /**
     * Replies "reply:PROMPT". A prompt starting with "wait" holds the turn until the gate file
     * exists, so a test can keep the bot busy for as long as it needs. Every prompt is appended
     * to the order file when its turn starts.
     */
    private static final String SCRIPT = "p=$(cat); printf '%s\\n' \"$p\" >> \"$2\"; "
            + "case \"$p\" in wait*) while [ ! -e \"$1\" ]; do sleep 0.02; done;; fail*) echo \"broken: $p\" >&2; exit 3;; esac; "
            + "printf 'reply:%s' \"$p\"";

    @TempDir
    Path dir;

    private HiveLayout hive;
    private JsonFileServiceRegistry registry;
    private BotRuntime runtime;
    private Path gate;
    private Path order;

    @AfterEach
    void stopRuntime() {
        if (runtime != null) {
            runtime.close();
        }
    }

    private BotRuntime start(int queueCapacity) {
        return build(queueCapacity).start();
    }

    /** The runtime of {@link #start}, built but not started (state {@code starting}). */
    private BotRuntime build(int queueCapacity) {
        return build(queueCapacity, null);
    }

    private BotRuntime build(int queueCapacity, List<String> denyPatterns) {
        hive = new HiveLayout(dir.resolve("hive"));
        gate = dir.resolve("gate");
        order = dir.resolve("order.log");
        Profile profile = Profile.builder(AgentType.COMMAND).executable("/bin/sh")
                .args(List.of("-c", SCRIPT, "sh", gate.toString(), order.toString())).promptMode("stdin").timeoutS(30)
                .maxAttempts(2).retryBackoffMs(10).messageQueueCapacity(queueCapacity).denyPatterns(denyPatterns).build();
        DeiaConfig config = config(Map.of("scripted", profile));
        Profile named = config.requireProfile("scripted");
        registry = new JsonFileServiceRegistry(hive, config);
        runtime = BotRuntime.builder().botId("BOT-001").profile(named).config(config).hive(hive).registry(registry)
                .agent(Agents.create(new AgentContext("BOT-001", named, hive, System.getenv()))).port(18999).build();
        return runtime;
    }

    /** A 1 s heartbeat and a 1000-byte message limit, as the tests below expect. */
    private static DeiaConfig config(Map<String, Profile> profiles) {
        return DeiaConfig.builder().heartbeatIntervalS(1).heartbeatTtlS(30).maxMessageBytes(1000).profiles(profiles).build();
    }

    private List<String> turnOrder() throws Exception {
        return Files.exists(order) ? Files.readAllLines(order) : List.of();
    }

    @Test
    void denyPatternsStopEveryPromptPathBeforeTheAgentRuns() throws Exception {
        build(4, List.of("(?i)rm\\s+-rf")).start();
        FileTaskQueue tasks = new FileTaskQueue(hive, runtime.config());

        // Chat as the bot's own /message takes it (no controller in between).
        DeiaException chat = assertThrows(DeiaException.class, () -> runtime.sendMessage("please RM  -rf /", "m1", null));
        assertEquals(ErrorCode.UNPROCESSABLE, chat.code());
        assertTrue(chat.getMessage().contains("deny pattern"), chat.getMessage());
        // A task submitted over the API, and a file dropped straight into the inbox.
        String viaApi = tasks.submit("BOT-001", "---\ntask_id: T-DENY-API\n---\nrm -rf the build folder\n");
        AtomicFiles.write(hive.inboxDir("BOT-001").resolve("dropped.md"),
                "---\ntask_id: T-DENY-FILE\n---\nthen rm -rf ~\n".getBytes(java.nio.charset.StandardCharsets.UTF_8));
        for (String id : List.of(viaApi, "T-DENY-FILE")) {
            await().atMost(Duration.ofSeconds(30)).until(() -> tasks.response("BOT-001", id).isPresent());
            TaskResponse r = tasks.response("BOT-001", id).orElseThrow();
            assertEquals(TaskStatus.REJECTED, r.status(), id);
            assertTrue(r.error().contains("task " + id + " refused: it matches the deny pattern"), r.error());
        }
        // A client_msg_id that could forge a log line is refused here as well.
        DeiaException badId = assertThrows(DeiaException.class, () -> runtime.sendMessage("hello", "x\n[BOT-001] forged", null));
        assertEquals(ErrorCode.INVALID_ARGUMENT, badId.code());
        // The agent ran for the allowed message only.
        assertEquals("reply:hello", runtime.sendMessage("hello", "m2", null).text());
        assertEquals(List.of("hello"), turnOrder());
        assertEquals(2, runtime.status().tasksRejected());
    }

    @Test
    void messageGetsTheAgentsReplyAndIsCounted() {
        start(4);
        List<AgentEvent> events = new CopyOnWriteArrayList<>();
        TurnResult result = runtime.sendMessage("hello", "m1", events::add);
        assertEquals(TurnStatus.COMPLETED, result.status());
        assertEquals("reply:hello", result.text());
        assertTrue(events.stream().anyMatch(e -> e instanceof AgentEvent.TextDelta), "deltas streamed: " + events);

        BotStatus status = runtime.status();
        assertEquals(BotState.IDLE, status.state());
        assertEquals(1, status.messagesCompleted());
        assertEquals("scripted", status.profile());
        assertEquals("command", status.agent());
        assertEquals(18999, status.port());
        assertEquals(ProcessHandle.current().pid(), status.pid());

        BotRecord record = registry.get("BOT-001").orElseThrow();
        assertEquals(ProcessHandle.current().pid(), record.pid());
        assertEquals(18999, record.port());
        assertEquals("scripted", record.profile());
        assertEquals("command", record.agent());
        assertTrue(runtime.events().after(0).stream().anyMatch(e -> "status".equals(e.type()) && "idle".equals(e.state())));
    }

    @Test
    void awaitStartedReturnsWhenTheStartEndsAndSaysStartingOnTimeout() throws Exception {
        BotRuntime built = build(4);
        assertEquals(BotState.STARTING, built.awaitStarted(Duration.ofMillis(50)), "nothing started it yet");
        assertEquals(BotState.STARTING, built.awaitStarted(Duration.ZERO));
        CompletableFuture<BotState> waiting = CompletableFuture.supplyAsync(() -> {
            try {
                return built.awaitStarted(Duration.ofSeconds(30));
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        built.start();
        assertEquals(BotState.IDLE, waiting.get(30, TimeUnit.SECONDS), "the waiter is released by the end of the start");
        assertEquals(BotState.IDLE, built.awaitStarted(Duration.ofSeconds(30)), "after the start it answers at once");
    }

    @Test
    void aStopReleasesAWaiterOfAStartThatNeverCame() throws Exception {
        BotRuntime built = build(4);
        CompletableFuture<BotState> waiting = CompletableFuture.supplyAsync(() -> {
            try {
                return built.awaitStarted(Duration.ofSeconds(30));
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        built.stop(Duration.ofMillis(100));
        assertEquals(BotState.STOPPING, waiting.get(30, TimeUnit.SECONDS));
    }

    @Test
    void agentFailureAndOversizedMessage() {
        start(4);
        TurnResult failed = runtime.sendMessage("fail now", null, null);
        assertEquals(TurnStatus.FAILED, failed.status());
        assertTrue(failed.error().contains("broken: fail now"), failed.error());
        DeiaException tooLarge = assertThrows(DeiaException.class, () -> runtime.sendMessage("x".repeat(1001), null, null));
        assertEquals(ErrorCode.PAYLOAD_TOO_LARGE, tooLarge.code());
        assertEquals(0, runtime.status().messagesCompleted());
    }

    @Test
    void fullQueueRefusesWithTooManyAndQueuedMessagesAllRun() throws Exception {
        start(2);
        CompletableFuture<TurnResult> first = runtime.submitMessage("wait first", "m1", null);
        await().until(() -> runtime.state() == BotState.BUSY);
        CompletableFuture<TurnResult> second = runtime.submitMessage("second", "m2", null);
        CompletableFuture<TurnResult> third = runtime.submitMessage("third", "m3", null);
        assertEquals(2, runtime.status().messagesWaiting());
        DeiaException full = assertThrows(DeiaException.class, () -> runtime.submitMessage("fourth", "m4", null));
        assertEquals(ErrorCode.TOO_MANY_REQUESTS, full.code());

        Files.createFile(gate);
        assertEquals("reply:wait first", first.get().text());
        assertEquals("reply:second", second.get().text());
        assertEquals("reply:third", third.get().text());
        assertEquals(List.of("wait first", "second", "third"), turnOrder());
        assertEquals(0, runtime.status().messagesWaiting());
    }

    @Test
    void interruptEndsTheTurnAndTheBotStaysUsable() throws Exception {
        start(4);
        assertFalse(runtime.interrupt(), "nothing runs yet");
        CompletableFuture<TurnResult> slow = runtime.submitMessage("wait forever", "m1", null);
        await().until(() -> runtime.state() == BotState.BUSY && runtime.status().agentHealth().pid() != null);
        assertTrue(runtime.interrupt());
        assertEquals(TurnStatus.INTERRUPTED, slow.get().status());
        assertEquals("reply:again", runtime.sendMessage("again", "m2", null).text());
    }

    @Test
    void pauseFileAndApiAgreeAndHoldTasksBack() throws Exception {
        start(4);
        FileTaskQueue tasks = new FileTaskQueue(hive, runtime.config());
        assertEquals(BotState.PAUSED, runtime.pause());
        assertTrue(Files.exists(hive.pauseFile("BOT-001")));
        String taskId = tasks.submit("BOT-001", "---\ntask_id: t-paused\n---\nwhile paused\n");
        await().until(() -> runtime.status().queueDepth() == 1);
        assertTrue(tasks.response("BOT-001", taskId).isEmpty());
        assertEquals("reply:chat works", runtime.sendMessage("chat works", null, null).text(), "chat still runs while paused");

        // The monitor may take the task the moment the file is gone, so the bot is idle or already busy.
        assertTrue(List.of(BotState.IDLE, BotState.BUSY).contains(runtime.resume()));
        assertFalse(Files.exists(hive.pauseFile("BOT-001")));
        await().until(() -> tasks.response("BOT-001", taskId).isPresent());
        assertEquals("reply:while paused", tasks.response("BOT-001", taskId).orElseThrow().output().strip());
        await().until(() -> runtime.status().tasksCompleted() == 1);

        // The file is the truth: made by hand, it pauses the bot too.
        Files.createFile(hive.pauseFile("BOT-001"));
        assertEquals(BotState.PAUSED, runtime.status().state());
        Files.delete(hive.pauseFile("BOT-001"));
        assertEquals(BotState.IDLE, runtime.status().state());
    }

    @Test
    void tasksAndChatTakeTurns() throws Exception {
        start(8);
        FileTaskQueue tasks = new FileTaskQueue(hive, runtime.config());
        CompletableFuture<TurnResult> first = runtime.submitMessage("wait chat-1", "m1", null);
        await().until(() -> runtime.state() == BotState.BUSY);
        String taskId = tasks.submit("BOT-001", "---\ntask_id: t-1\n---\ntask-1\n");
        await().until(() -> runtime.events().after(0).stream()
                .anyMatch(e -> "t-1".equals(e.taskId()) && "started".equals(e.event())));
        CompletableFuture<TurnResult> second = runtime.submitMessage("chat-2", "m2", null);
        CompletableFuture<TurnResult> third = runtime.submitMessage("chat-3", "m3", null);
        Files.createFile(gate);
        first.get();
        second.get();
        third.get();
        await().until(() -> tasks.response("BOT-001", taskId).isPresent());
        List<String> turns = turnOrder();
        assertEquals(4, turns.size(), turns.toString());
        assertTrue(turns.indexOf("task-1") < turns.indexOf("chat-3"),
                "the waiting task ran before the chat queue drained: " + turns);
        List<BotEvent> events = runtime.events().after(0);
        assertTrue(events.stream().anyMatch(e -> "t-1".equals(e.taskId()) && "completed".equals(e.event())
                && "completed".equals(e.status())), events.toString());
        assertEquals(1, runtime.status().tasksCompleted());
    }

    /** Starts a runtime whose only profile is a {@code command} agent running {@code script} with {@code args}, with no retry back-off. */
    private void startWithoutBackoff(String script, int maxAttempts, String... args) {
        hive = new HiveLayout(dir.resolve("hive"));
        List<String> argv = new ArrayList<>(List.of("-c", script, "sh"));
        argv.addAll(List.of(args));
        Profile profile = Profile.builder(AgentType.COMMAND).executable("/bin/sh").args(argv).promptMode("stdin")
                .timeoutS(30).maxAttempts(maxAttempts).retryBackoffMs(0).messageQueueCapacity(4).build();
        DeiaConfig config = config(Map.of("no-backoff", profile));
        Profile named = config.requireProfile("no-backoff");
        registry = new JsonFileServiceRegistry(hive, config);
        runtime = BotRuntime.builder().botId("BOT-001").profile(named).config(config).hive(hive).registry(registry)
                .agent(Agents.create(new AgentContext("BOT-001", named, hive, System.getenv()))).port(18999).build().start();
    }

    private static int attemptsCounted(Path count) throws Exception {
        return Files.exists(count) ? Integer.parseInt(Files.readString(count).strip()) : 0;
    }

    @Test
    void aTaskWhoseAgentCrashesIsRetriedAtOnceWhenItsProfileHasNoBackoff() throws Exception {
        Path count = dir.resolve("count");
        // Kills itself (SIGKILL) on its first two attempts; the third answers.
        startWithoutBackoff("p=$(cat); n=$(cat \"$1\" 2>/dev/null || echo 0); echo $((n+1)) > \"$1\"; "
                + "[ $n -ge 2 ] || kill -9 $$; printf 'reply:%s after %s crashes' \"$p\" $n", 3, count.toString());
        FileTaskQueue tasks = new FileTaskQueue(hive, runtime.config());
        String taskId = tasks.submit("BOT-001", "---\ntask_id: t-crash\n---\nhello\n");
        await().until(() -> tasks.response("BOT-001", taskId).isPresent());

        TaskResponse r = tasks.response("BOT-001", taskId).orElseThrow();
        assertEquals(TaskStatus.COMPLETED, r.status());
        assertEquals(3, r.attempt());
        assertEquals("reply:hello after 2 crashes", r.output());
        assertEquals(List.of("started 1", "retrying 1", "started 2", "retrying 2", "started 3", "completed 3"),
                runtime.events().after(0).stream().filter(e -> taskId.equals(e.taskId()) && !"claimed".equals(e.event()))
                        .map(e -> e.event() + " " + e.attempt()).toList());
        assertEquals(2, runtime.status().agentHealth().crashes());
        assertEquals(1, runtime.status().tasksCompleted());
    }

    @Test
    void aStopEndsTheRetriesOfACrashingAgentAndLeavesItsTaskClaimed() throws Exception {
        Path count = dir.resolve("count");
        // Crashes (SIGKILL) 50 ms into every attempt. The count is renamed into place, so the test never
        // reads it half written (truncated by '>' before the new number is in).
        startWithoutBackoff("n=$(cat \"$1\" 2>/dev/null || echo 0); echo $((n+1)) > \"$1.tmp\"; mv \"$1.tmp\" \"$1\"; "
                + "sleep 0.05; kill -9 $$",
                100_000, count.toString());
        FileTaskQueue tasks = new FileTaskQueue(hive, runtime.config());
        String taskId = tasks.submit("BOT-001", "---\ntask_id: t-loop\n---\nagain\n");
        await().until(() -> runtime.events().after(0).stream().filter(e -> "retrying".equals(e.event())).count() >= 3);
        int before = attemptsCounted(count);
        // A graceful stop waits for the turn; the crashing attempt must not be started again meanwhile.
        runtime.stop(Duration.ofSeconds(5));
        int after = attemptsCounted(count);
        assertTrue(after - before <= 2, "attempts started after the stop began: " + (after - before));
        TimeUnit.MILLISECONDS.sleep(300);
        assertEquals(after, attemptsCounted(count), "no attempt after the stop returned");
        assertTrue(tasks.response("BOT-001", taskId).isEmpty(), "no final response: it is retried on restart");
        assertEquals(1, tasks.pending("BOT-001").size());
    }

    @Test
    void rejectedTaskIsCountedAndPublished() {
        start(4);
        FileTaskQueue tasks = new FileTaskQueue(hive, runtime.config());
        AtomicFiles.write(hive.inboxDir("BOT-001").resolve("broken.md"), new byte[]{'o', 'k', (byte) 0xC3, (byte) 0x28});
        await().until(() -> runtime.status().tasksRejected() == 1);
        assertTrue(runtime.events().after(0).stream().anyMatch(e -> "rejected".equals(e.event())
                && "rejected".equals(e.status()) && e.error() != null));
        tasks.submit("BOT-001", "---\ntask_id: t-ok\n---\nfine\n");
        await().until(() -> runtime.status().tasksCompleted() == 1);
    }

    @Test
    void stopInterruptsAfterGraceFailsWaitingMessagesAndDeregisters() throws Exception {
        start(4);
        CompletableFuture<TurnResult> running = runtime.submitMessage("wait forever", "m1", null);
        await().until(() -> runtime.state() == BotState.BUSY && runtime.status().agentHealth().pid() != null);
        long agentPid = runtime.status().agentHealth().pid();
        CompletableFuture<TurnResult> waiting = runtime.submitMessage("never runs", "m2", null);
        long lastSeq = runtime.events().lastSeq();

        runtime.stop(Duration.ofMillis(100));

        assertEquals(TurnStatus.INTERRUPTED, running.get().status());
        ExecutionException refused = assertThrows(ExecutionException.class, waiting::get);
        assertInstanceOf(DeiaException.class, refused.getCause());
        assertEquals(ErrorCode.UNAVAILABLE, ((DeiaException) refused.getCause()).code());
        assertTrue(registry.get("BOT-001").isEmpty(), "deregistered");
        assertFalse(ProcessHandle.of(agentPid).map(ProcessHandle::isAlive).orElse(false), "agent process gone");
        assertTrue(runtime.stopped().isDone());
        assertEquals(BotState.STOPPING, runtime.state());
        assertTrue(runtime.events().after(lastSeq).stream().anyMatch(e -> "stopping".equals(e.state())));
        assertTrue(runtime.events().isClosed());
        DeiaException after = assertThrows(DeiaException.class, () -> runtime.sendMessage("late", null, null));
        assertEquals(ErrorCode.UNAVAILABLE, after.code());
        runtime.stop(Duration.ZERO);
    }

    @Test
    void taskCutShortByStopStaysClaimedForTheNextStart() throws Exception {
        start(4);
        FileTaskQueue tasks = new FileTaskQueue(hive, runtime.config());
        String taskId = tasks.submit("BOT-001", "---\ntask_id: t-long\n---\nwait long task\n");
        await().until(() -> runtime.status().currentTask() != null);
        assertEquals("t-long", runtime.status().currentTask());
        runtime.stop(Duration.ZERO);
        assertTrue(tasks.response("BOT-001", taskId).isEmpty(), "no final response: it is retried on restart");
        assertEquals(1, tasks.pending("BOT-001").size());
    }

    @Test
    void builderChecksItsInputs() {
        assertThrows(DeiaException.class, () -> BotRuntime.builder().botId("../x").build());
        assertThrows(NullPointerException.class, () -> BotRuntime.builder().botId("BOT-1").build());
    }
}
