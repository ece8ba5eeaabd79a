package io.deia.core.task;

import io.deia.core.HiveLayout;
import io.deia.core.agent.TurnResult;
import io.deia.core.agent.TurnStatus;
import io.deia.core.io.AtomicFiles;
import io.deia.core.io.Json;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The completion stage ({@link TaskCompletions}) and claiming ahead in {@link TaskQueueMonitor}:
 * events only after durable steps, close() drains, recovery of answered claims, failed response
 * writes, and tasks claimed ahead when the monitor closes.
 */
class TaskCompletionStageTest {
    private static final Duration WAIT = Duration.ofSeconds(30);
    private static final String BOT = TaskTestHive.BOT;

    private static String task(String id, String priority, int createdSecond) {
        return "---\ntask_id: " + id + "\npriority: " + priority + "\ncreated_at: 2025-01-01T00:00:"
                + String.format("%02d", createdSecond) + "Z\n---\nrun " + id + "\n";
    }

    /** Runs /bin/true for real and records which task ran, in order. */
    private static final class RecordingExecutor implements TaskExecutor {
        final List<String> ran = new CopyOnWriteArrayList<>();
        final CountDownLatch gate = new CountDownLatch(1);
        final String blockOn;

        RecordingExecutor(String blockOn) {
            this.blockOn = blockOn;
        }

        @Override
        public TurnResult execute(Task task, int attempt, Duration timeout, io.deia.core.agent.AgentEventListener events) {
            ran.add(task.taskId());
            try {
                if (task.taskId().equals(blockOn) && !gate.await(30, TimeUnit.SECONDS)) {
                    return TurnResult.failed("gate never opened", 0, null);
                }
                int exit = new ProcessBuilder("/bin/true").start().waitFor();
                return new TurnResult(TurnStatus.COMPLETED, "ran " + task.taskId(), null, null, null, null, 0, exit, null);
            } catch (InterruptedException e) {
                return new TurnResult(TurnStatus.INTERRUPTED, "", null, null, null, null, 0, null, "interrupted");
            } catch (java.io.IOException e) {
                return TurnResult.failed(e.toString(), 0, null);
            }
        }
    }

    private static TaskQueueMonitor monitor(TaskTestHive hive, int maxAttempts, TaskExecutor executor, TaskEventListener listener) {
        return new TaskQueueMonitor(BOT, hive.layout, hive.config, TaskTestHive.profile(30, maxAttempts, 10), executor, listener);
    }

    private static boolean claimedFileNamed(TaskTestHive hive, String originalName) {
        return ClaimedTasks.listAll(hive.layout, BOT).stream().anyMatch(l -> l.originalName().equals(originalName));
    }

    @Test
    void finalEventsComeOnlyAfterTheResponseAndTheArchiveAndABacklogKeepsPriorityOrder(@TempDir Path dir) throws Exception {
        TaskTestHive hive = new TaskTestHive(dir, 64 * 1024);
        AtomicFiles.writeString(hive.layout.pauseFile(BOT), "");
        List<String> expected = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
            String p = "P" + (i % 3 + 1);
            hive.queue.submit(BOT, task("t" + i, p, i));
        }
        for (String p : List.of("P1", "P2", "P3")) {
            for (int i = 0; i < 12; i++) {
                if (("P" + (i % 3 + 1)).equals(p)) {
                    expected.add("t" + i);
                }
            }
        }
        List<String> violations = new CopyOnWriteArrayList<>();
        List<TaskEvent> events = new CopyOnWriteArrayList<>();
        RecordingExecutor executor = new RecordingExecutor(null);
        try (TaskQueueMonitor m = monitor(hive, 3, executor, e -> {
            events.add(e);
            if (e.event().equals(TaskEvent.COMPLETED)) {
                // What the event claims must already be on disk, in its final place.
                if (!Files.isRegularFile(hive.layout.responsesDir(BOT).resolve(e.taskId() + ResponseFiles.SUFFIX))) {
                    violations.add(e.taskId() + ": no response yet");
                }
                if (!Files.isRegularFile(hive.layout.archiveDir(BOT).resolve(e.taskId() + ".md"))) {
                    violations.add(e.taskId() + ": not archived yet");
                }
                if (claimedFileNamed(hive, e.taskId() + ".md")) {
                    violations.add(e.taskId() + ": still claimed");
                }
            }
        })) {
            m.start();
            await().atMost(WAIT).until(() -> m.pendingCount() == 12);
            Files.delete(hive.layout.pauseFile(BOT));
            await().atMost(WAIT).until(() -> events.stream().filter(e -> e.event().equals(TaskEvent.COMPLETED)).count() == 12);
        }
        assertEquals(List.of(), violations);
        assertEquals(expected, executor.ran, "tasks claimed ahead still run in priority-then-age order");
        for (String id : expected) {
            assertEquals(List.of(TaskEvent.CLAIMED, TaskEvent.STARTED, TaskEvent.COMPLETED),
                    events.stream().filter(e -> e.taskId().equals(id)).map(TaskEvent::event).toList(), id);
            TaskResponse r = hive.queue.response(BOT, id).orElseThrow();
            assertEquals(TaskStatus.COMPLETED, r.status());
            assertEquals("ran " + id, r.output());
            assertEquals(1, r.attempt());
        }
        assertEquals(12, hive.count(hive.layout.archiveDir(BOT)));
        assertEquals(0, hive.claimedTasks());
        assertTrue(hive.tempFiles().isEmpty());
    }

    @Test
    void aBetterTaskArrivingMeanwhileRunsBeforeTasksClaimedAhead(@TempDir Path dir) throws Exception {
        TaskTestHive hive = new TaskTestHive(dir, 64 * 1024);
        AtomicFiles.writeString(hive.layout.pauseFile(BOT), "");
        for (int i = 0; i < 8; i++) {
            hive.queue.submit(BOT, task("t" + i, "P3", i));
        }
        RecordingExecutor executor = new RecordingExecutor("t0");
        try (TaskQueueMonitor m = monitor(hive, 3, executor, hive.events::add)) {
            m.start();
            await().atMost(WAIT).until(() -> m.pendingCount() == 8);
            Files.delete(hive.layout.pauseFile(BOT));
            await().atMost(WAIT).until(() -> executor.ran.contains("t0"));
            // t0 runs; t1..t3 were claimed with it in one batch. Pause, then a P0 task arrives.
            assertEquals(TaskQueueMonitor.CLAIM_AHEAD, hive.claimedTasks());
            AtomicFiles.writeString(hive.layout.pauseFile(BOT), "");
            hive.queue.submit(BOT, task("urgent", "P0", 59));
            executor.gate.countDown();
            // Paused and idle: 4 in the inbox + urgent + 3 claimed ahead = 8 once urgent is seen.
            await().atMost(WAIT).until(() -> m.currentTaskId() == null
                    && hive.events.stream().anyMatch(e -> e.taskId().equals("t0") && e.event().equals(TaskEvent.COMPLETED))
                    && m.pendingCount() == 8);
            assertEquals(List.of("t0"), executor.ran, "nothing runs while paused, not even tasks claimed ahead");
            Files.delete(hive.layout.pauseFile(BOT));
            await().atMost(WAIT).until(() -> hive.responseCount() == 9 && m.pendingCount() == 0);
        }
        assertEquals(List.of("t0", "urgent", "t1", "t2", "t3", "t4", "t5", "t6", "t7"), executor.ran);
    }

    @Test
    void closeDrainsEveryFinishedTaskBeforeItReturns(@TempDir Path dir) throws Exception {
        TaskTestHive hive = new TaskTestHive(dir, 64 * 1024);
        CountDownLatch listenerGate = new CountDownLatch(1);
        List<String> completed = new CopyOnWriteArrayList<>();
        RecordingExecutor executor = new RecordingExecutor(null);
        TaskQueueMonitor m = monitor(hive, 3, executor, e -> {
            if (e.event().equals(TaskEvent.COMPLETED)) {
                completed.add(e.taskId());
                try {
                    // Holds the completion thread on the first event so the others queue up behind it.
                    listenerGate.await(30, TimeUnit.SECONDS);
                } catch (InterruptedException ex) {
                    Thread.currentThread().interrupt();
                }
            }
        });
        m.start();
        for (int i = 0; i < 10; i++) {
            hive.queue.submit(BOT, task("c" + i, "P2", i));
        }
        await().atMost(WAIT).until(() -> executor.ran.size() == 10 && completed.size() == 1 && m.currentTaskId() == null);
        assertTrue(m.pendingCount() >= 9, "finished tasks wait in the completion stage: " + m.pendingCount());
        AtomicBoolean closing = new AtomicBoolean();
        Thread closer = new Thread(() -> {
            closing.set(true);
            m.close();
        });
        closer.start();
        await().atMost(WAIT).untilTrue(closing);
        listenerGate.countDown();
        closer.join(WAIT.toMillis());
        assertFalse(closer.isAlive());
        assertEquals(10, completed.size(), "close() returned only after every finished task was reported");
        assertEquals(10, hive.responseCount());
        assertEquals(10, hive.count(hive.layout.archiveDir(BOT)));
        assertEquals(0, hive.claimedTasks());
        assertEquals(0, hive.count(hive.layout.claimedDir(BOT)), "the drained monitor removed its folder");
    }

    @Test
    void aRecoveredClaimWhoseResponseIsDurableIsOnlyArchivedNeverRunAgain(@TempDir Path dir) throws Exception {
        TaskTestHive hive = new TaskTestHive(dir, 64 * 1024);
        // A monitor died after the response of a task it had itself adopted (claim key of an older
        // dead monitor, kept in the state file) was durable, before the archive rename.
        Path dead = hive.layout.claimedDir(BOT).resolve("o-999999999-1000-deadbeef");
        Files.createDirectories(dead);
        Files.writeString(dead.resolve("t5~done.md"), "---\ntask_id: done\n---\nrun done\n");
        String key = "o-999999998-999-0badf00d/2";
        AtomicFiles.writeString(dead.resolve("s5.json"), Json.write(new ClaimedTasks.State("done.md", 1, key)));
        new ResponseFiles(hive.layout).write(new TaskResponse("done", BOT, TaskStatus.COMPLETED, 1, Instant.now(),
                Instant.now(), 1, 0, "command", null, null, null, null, "the first and only run", null), key, "done.md");
        RecordingExecutor executor = new RecordingExecutor(null);
        try (TaskQueueMonitor m = monitor(hive, 3, executor, hive.events::add)) {
            m.start();
            hive.queue.submit(BOT, task("next", "P2", 1));
            await().atMost(WAIT).until(() -> hive.responseCount() == 2 && m.pendingCount() == 0
                    && Files.exists(hive.layout.archiveDir(BOT).resolve("done.md")));
        }
        assertEquals(List.of("next"), executor.ran, "the answered task is not run again");
        assertEquals("the first and only run", hive.queue.response(BOT, "done").orElseThrow().output());
        assertTrue(hive.queue.response(BOT, "done-2").isEmpty());
        assertEquals(0, hive.claimedTasks());
        assertFalse(Files.exists(dead));
        assertTrue(hive.events.stream().noneMatch(e -> e.taskId().startsWith("done")), "no second outcome is published");
    }

    @Test
    void aFailedResponseWriteIsKeptAndRetriedWhileTheMonitorRunsAndOnlyAStopLeavesItClaimed(@TempDir Path dir) throws Exception {
        TaskTestHive hive = new TaskTestHive(dir, 64 * 1024);
        RecordingExecutor first = new RecordingExecutor(null);
        Path responses = hive.layout.responsesDir(BOT);
        Path aside = dir.resolve("responses-aside");
        try (TaskQueueMonitor m = monitor(hive, 3, first, hive.events::add)) {
            m.start();
            hive.queue.submit(BOT, task("fine", "P2", 0));
            await().atMost(WAIT).until(() -> hive.responseCount() == 1 && m.pendingCount() == 0);
            // The responses folder becomes a file: writing any response now fails.
            Files.move(responses, aside);
            Files.writeString(responses, "in the way");
            hive.queue.submit(BOT, task("unlucky", "P2", 1));
            await().atMost(WAIT).until(() -> first.ran.contains("unlucky") && m.currentTaskId() == null
                    && m.degradedReason() != null);
            assertTrue(m.degradedReason().contains("cannot write task responses"), m.degradedReason());
            assertEquals(1, m.pendingCount(), "a kept task is still pending");
            assertEquals(List.of(TaskEvent.CLAIMED, TaskEvent.STARTED),
                    hive.events.stream().filter(e -> e.taskId().equals("unlucky")).map(TaskEvent::event).toList(),
                    "no final event without a durable response");
            assertEquals(1, hive.claimedTasks());
            assertEquals(1, hive.count(hive.layout.archiveDir(BOT)));
            // The folder comes back: the kept response is written by the running monitor.
            Files.delete(responses);
            Files.move(aside, responses);
            await().atMost(WAIT).until(() -> hive.responseCount() == 2 && m.pendingCount() == 0);
            assertEquals(null, m.degradedReason());
            TaskResponse r = hive.queue.response(BOT, "unlucky").orElseThrow();
            assertEquals(TaskStatus.COMPLETED, r.status());
            assertEquals(1, r.attempt(), "written once, never run again");
            assertEquals(List.of("fine", "unlucky"), first.ran);

            // Broken again, and the monitor stops before the retry succeeds.
            Files.move(responses, aside);
            Files.writeString(responses, "in the way");
            hive.queue.submit(BOT, task("stopped", "P2", 2));
            await().atMost(WAIT).until(() -> first.ran.contains("stopped") && m.degradedReason() != null);
        }
        assertEquals(1, hive.claimedTasks(), "still claimed after close, for the next monitor");
        Files.delete(responses);
        Files.move(aside, responses);
        RecordingExecutor second = new RecordingExecutor(null);
        try (TaskQueueMonitor m = monitor(hive, 3, second, hive.events::add)) {
            m.start();
            await().atMost(WAIT).until(() -> hive.responseCount() == 3 && m.pendingCount() == 0);
        }
        assertEquals(List.of("stopped"), second.ran);
        TaskResponse r = hive.queue.response(BOT, "stopped").orElseThrow();
        assertEquals(TaskStatus.COMPLETED, r.status());
        assertEquals(2, r.attempt(), "the first run counts: it may have had effects");
        assertEquals(1, hive.events.stream().filter(e -> e.taskId().equals("unlucky") && e.event().equals(TaskEvent.COMPLETED)).count());
        assertEquals(1, hive.events.stream().filter(e -> e.taskId().equals("stopped") && e.event().equals(TaskEvent.COMPLETED)).count());
        assertEquals(0, hive.claimedTasks());
        assertTrue(Files.exists(hive.layout.archiveDir(BOT).resolve("unlucky.md")));
        assertTrue(Files.exists(hive.layout.archiveDir(BOT).resolve("fine.md")));
        assertTrue(Files.exists(hive.layout.archiveDir(BOT).resolve("stopped.md")));
        assertTrue(hive.tempFiles().isEmpty());
    }

    /**
     * Submits {@code count} tasks ({@code prefix}0, 1, …, oldest first) while the inbox is paused, so
     * they all wait at once; starts a monitor running them with {@code blocking}, unpauses, and
     * returns once {@code blocking} has started the task it blocks on.
     */
    private TaskQueueMonitor startBacklogUntilBlocked(TaskTestHive hive, String prefix, int count,
                                                      RecordingExecutor blocking) throws Exception {
        AtomicFiles.writeString(hive.layout.pauseFile(BOT), "");
        for (int i = 0; i < count; i++) {
            hive.queue.submit(BOT, task(prefix + i, "P2", i));
        }
        TaskQueueMonitor monitor = monitor(hive, 1, blocking, hive.events::add);
        monitor.start();
        await().atMost(WAIT).until(() -> monitor.pendingCount() == count);
        Files.delete(hive.layout.pauseFile(BOT));
        await().atMost(WAIT).until(() -> blocking.ran.contains(blocking.blockOn));
        return monitor;
    }

    @Test
    void tasksClaimedAheadWhenTheMonitorClosesAreNotCountedAsAttempts(@TempDir Path dir) throws Exception {
        TaskTestHive hive = new TaskTestHive(dir, 64 * 1024);
        RecordingExecutor blocking = new RecordingExecutor("h0");
        TaskQueueMonitor first = startBacklogUntilBlocked(hive, "h", 6, blocking);
        first.close();
        // h0 was cut short by the close; h1..h3 were claimed with it and never started.
        assertEquals(TaskQueueMonitor.CLAIM_AHEAD, hive.claimedTasks());
        assertEquals(3, notStartedStates(hive));
        RecordingExecutor plain = new RecordingExecutor(null);
        try (TaskQueueMonitor second = monitor(hive, 1, plain, hive.events::add)) {
            second.start();
            await().atMost(WAIT).until(() -> hive.responseCount() == 6 && second.pendingCount() == 0);
        }
        TaskResponse cut = hive.queue.response(BOT, "h0").orElseThrow();
        assertEquals(TaskStatus.FAILED, cut.status(), "h0's one attempt was used");
        assertTrue(cut.error().contains("cut short"), cut.error());
        for (int i = 1; i < 6; i++) {
            TaskResponse r = hive.queue.response(BOT, "h" + i).orElseThrow();
            assertEquals(TaskStatus.COMPLETED, r.status(), "h" + i);
            assertEquals(1, r.attempt(), "h" + i);
        }
        assertEquals(List.of("h1", "h2", "h3", "h4", "h5"), plain.ran);
        assertEquals(0, hive.claimedTasks());
    }

    @Test
    void theNextBatchIsClaimedWhileATaskRunsAndHeldUntilDurableThenReleasedOnClose(@TempDir Path dir) throws Exception {
        TaskTestHive hive = new TaskTestHive(dir, 64 * 1024);
        // b0 runs with b1..b3 claimed ahead; taking b1 leaves two held, so b4..b7 are claimed while b1 runs.
        RecordingExecutor blocking = new RecordingExecutor("b2");
        TaskQueueMonitor first = startBacklogUntilBlocked(hive, "b", 10, blocking);
        // Once b0 and b1 are archived: b2 running, b3 and b4..b7 held.
        await().atMost(WAIT).until(() -> hive.events.stream().filter(e -> e.event().equals(TaskEvent.COMPLETED)).count() == 2);
        assertEquals(1 + TaskQueueMonitor.CLAIM_AHEAD + TaskQueueMonitor.CLAIM_REFILL_AT - 1, hive.claimedTasks());
        assertEquals(List.of("b0", "b1", "b2"), blocking.ran);
        first.close();
        // b2 was cut short by the close; the 5 held tasks are recorded as never started.
        assertEquals(TaskQueueMonitor.CLAIM_AHEAD + TaskQueueMonitor.CLAIM_REFILL_AT - 1, notStartedStates(hive));
        RecordingExecutor plain = new RecordingExecutor(null);
        try (TaskQueueMonitor second = monitor(hive, 1, plain, hive.events::add)) {
            second.start();
            await().atMost(WAIT).until(() -> hive.responseCount() == 10 && second.pendingCount() == 0);
        }
        assertEquals(TaskStatus.FAILED, hive.queue.response(BOT, "b2").orElseThrow().status(), "b2's one attempt was used");
        for (int i = 0; i < 10; i++) {
            if (i == 2) {
                continue;
            }
            TaskResponse r = hive.queue.response(BOT, "b" + i).orElseThrow();
            assertEquals(TaskStatus.COMPLETED, r.status(), "b" + i);
            assertEquals(1, r.attempt(), "b" + i + " ran once");
        }
        assertEquals(List.of("b3", "b4", "b5", "b6", "b7", "b8", "b9"), plain.ran);
        assertEquals(0, hive.claimedTasks());
        assertEquals(10, hive.count(hive.layout.archiveDir(BOT)));
    }

    @Test
    void aLoneFinishedTaskIsCompletedAfterTheLingerEvenWhileABacklogIsReported(@TempDir Path dir) throws Exception {
        TaskTestHive hive = new TaskTestHive(dir, 64 * 1024);
        HiveLayout layout = hive.layout;
        Files.createDirectories(layout.inboxDir(BOT));
        Files.createDirectories(layout.responsesDir(BOT));
        Files.createDirectories(layout.archiveDir(BOT));
        ClaimedTasks claims = new ClaimedTasks(BOT, layout);
        claims.open();
        List<TaskEvent> events = new CopyOnWriteArrayList<>();
        TaskCompletions stage = new TaskCompletions(BOT, layout, new ResponseFiles(layout), claims, events::add, () -> true);
        stage.start();
        try {
            for (String id : List.of("l1", "l2")) {
                Files.writeString(layout.inboxDir(BOT).resolve(id + ".md"), task(id, "P2", 1));
                ClaimedTasks.Claim c = claims.claim(id + ".md").orElseThrow();
                Instant now = Instant.now();
                stage.submit(TaskCompletions.Item.finished(c, new TaskResponse(id, BOT, TaskStatus.COMPLETED, 1, now, now, 0, 0,
                        "command", null, null, null, null, "ok", null), TaskEvent.COMPLETED));
                // Fewer than a linger batch and the backlog never ends: the linger still runs out.
                await().atMost(WAIT).until(() -> events.stream().anyMatch(e -> e.taskId().equals(id)));
                assertTrue(Files.isRegularFile(layout.responsesDir(BOT).resolve(id + ResponseFiles.SUFFIX)));
                assertTrue(Files.isRegularFile(layout.archiveDir(BOT).resolve(id + ".md")));
            }
        } finally {
            stage.close();
            claims.close(true);
        }
        assertEquals(0, stage.pending());
        assertEquals(2, events.size());
    }

    private static long notStartedStates(TaskTestHive hive) throws Exception {
        long n = 0;
        try (DirectoryStream<Path> owners = Files.newDirectoryStream(hive.layout.claimedDir(BOT))) {
            for (Path owner : owners) {
                try (DirectoryStream<Path> states = Files.newDirectoryStream(owner, "s*.json")) {
                    for (Path s : states) {
                        ClaimedTasks.State st = Json.read(AtomicFiles.readString(s), ClaimedTasks.State.class, s.toString());
                        if (st.attempt() == 0) {
                            n++;
                        }
                    }
                }
            }
        }
        return n;
    }
}
