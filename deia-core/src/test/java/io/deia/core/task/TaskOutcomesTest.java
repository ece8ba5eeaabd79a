package io.deia.core.task;

import io.deia.core.agent.TurnResult;
import io.deia.core.agent.TurnStatus;
import io.deia.core.internal.io.AtomicFiles;
import io.deia.core.internal.io.Json;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * How a {@link TaskQueueMonitor} records outcomes ({@link TaskOutcomes}): events only after the
 * durable response and archive, priority order of a backlog, recovery of answered claims, and
 * response writes that fail and are retried.
 */
class TaskOutcomesTest {
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
        return hive.monitor(TaskTestHive.profile(30, maxAttempts, 10), executor, listener);
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
        assertEquals(expected, executor.ran, "a backlog runs in priority-then-age order");
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
    void aBetterTaskArrivingWhileOneRunsIsTakenNextAndNothingRunsWhilePaused(@TempDir Path dir) throws Exception {
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
            // t0 runs, the only task claimed. Pause, then a P0 task arrives.
            assertEquals(1, hive.claimedTasks());
            AtomicFiles.writeString(hive.layout.pauseFile(BOT), "");
            hive.queue.submit(BOT, task("urgent", "P0", 59));
            executor.gate.countDown();
            // Paused and idle: 7 in the inbox + urgent = 8 once urgent is seen.
            await().atMost(WAIT).until(() -> m.currentTaskId() == null
                    && hive.events.stream().anyMatch(e -> e.taskId().equals("t0") && e.event().equals(TaskEvent.COMPLETED))
                    && m.pendingCount() == 8);
            assertEquals(List.of("t0"), executor.ran, "nothing runs while paused");
            Files.delete(hive.layout.pauseFile(BOT));
            await().atMost(WAIT).until(() -> hive.responseCount() == 9 && m.pendingCount() == 0);
        }
        assertEquals(List.of("t0", "urgent", "t1", "t2", "t3", "t4", "t5", "t6", "t7"), executor.ran);
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
                Instant.now(), 1, 0, "command", null, null, null, null, "the first and only run", null, null), key, "done.md");
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
}
