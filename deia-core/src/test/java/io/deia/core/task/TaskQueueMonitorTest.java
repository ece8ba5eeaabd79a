package io.deia.core.task;

import io.deia.core.internal.io.AtomicFiles;
import io.deia.core.internal.io.Json;
import io.deia.core.internal.process.ProcessTrees;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TaskQueueMonitorTest {
    private static final Duration WAIT = Duration.ofSeconds(30);

    private static String task(String id, String priority, String createdAt, String script) {
        return "---\ntask_id: " + id + "\npriority: " + priority + "\ncreated_at: " + createdAt + "\n---\n" + script + "\n";
    }

    @Test
    void aPauseFileMadeWhileRunningHoldsTheNextArrivalUntilItIsRemoved(@TempDir Path dir) throws Exception {
        TaskTestHive hive = new TaskTestHive(dir, 64 * 1024);
        try (TaskQueueMonitor m = hive.monitor(TaskTestHive.profile(30, 1, 10))) {
            m.start();
            hive.queue.submit(TaskTestHive.BOT, task("before", "P2", "2025-01-01T00:00:00Z", "echo one"));
            await().atMost(WAIT).until(() -> hive.responseCount() == 1 && m.pendingCount() == 0);
            // The worker has looked at the pause file (absent) and goes by that until something
            // changes: the pause made now must still hold the task that arrives after it.
            AtomicFiles.writeString(hive.layout.pauseFile(TaskTestHive.BOT), "");
            hive.queue.submit(TaskTestHive.BOT, task("after", "P2", "2025-01-01T00:00:00Z", "echo two"));
            await().during(Duration.ofMillis(700)).atMost(WAIT)
                    .until(() -> hive.responseCount() == 1 && m.pendingCount() == 1 && m.currentTaskId() == null);
            assertEquals(1, hive.count(hive.layout.inboxDir(TaskTestHive.BOT)), "still in the inbox, not claimed");
            Files.delete(hive.layout.pauseFile(TaskTestHive.BOT));
            await().atMost(WAIT).until(() -> hive.responseCount() == 2 && m.pendingCount() == 0);
            assertEquals("two", hive.queue.response(TaskTestHive.BOT, "after").orElseThrow().output());
        }
    }

    @Test
    void tasksRunInPriorityThenAgeOrderAndGetResponses(@TempDir Path dir) throws Exception {
        TaskTestHive hive = new TaskTestHive(dir, 64 * 1024);
        AtomicFiles.writeString(hive.layout.pauseFile(TaskTestHive.BOT), "");
        String script = "echo \"$TASK_ID\" >> \"$HIVE/order.log\"; echo \"out-$TASK_ID\"";
        hive.queue.submit(TaskTestHive.BOT, task("low", "P3", "2025-01-01T00:00:00Z", script));
        hive.queue.submit(TaskTestHive.BOT, task("high-new", "P0", "2025-01-01T00:00:02Z", script));
        hive.queue.submit(TaskTestHive.BOT, task("mid", "P1", "2025-01-01T00:00:00Z", script));
        hive.queue.submit(TaskTestHive.BOT, task("high-old", "0", "2025-01-01T00:00:01Z", script));
        String generated = hive.queue.submit(TaskTestHive.BOT, script);
        assertTrue(generated.startsWith("TASK-"), generated);
        try (TaskQueueMonitor m = hive.monitor(TaskTestHive.profile(30, 3, 10))) {
            m.start();
            await().atMost(WAIT).until(() -> m.pendingCount() == 5);
            assertTrue(m.isPaused());
            assertEquals(0, hive.responseCount());
            assertEquals(5, hive.queue.pending(TaskTestHive.BOT).size());
            assertEquals("high-old", hive.queue.pending(TaskTestHive.BOT).get(0).taskId());
            Files.delete(hive.layout.pauseFile(TaskTestHive.BOT));
            await().atMost(WAIT).until(() -> hive.responseCount() == 5 && m.pendingCount() == 0);
        }
        assertEquals(List.of("high-old", "high-new", "mid", generated, "low"),
                Files.readAllLines(dir.resolve("order.log")));
        TaskResponse r = hive.queue.response(TaskTestHive.BOT, "mid").orElseThrow();
        assertEquals(TaskStatus.COMPLETED, r.status());
        assertEquals("out-mid", r.output());
        assertEquals(1, r.attempt());
        assertEquals(0, r.exitCode());
        assertEquals("command", r.agent());
        assertEquals("sess-mid", r.sessionId());
        assertEquals(0.001, r.costUsd());
        assertNull(r.error());
        assertFalse(r.finishedAt().isBefore(r.startedAt()));
        String text = AtomicFiles.readString(hive.layout.responsesDir(TaskTestHive.BOT).resolve("mid.response.md"));
        assertTrue(text.contains("\nstatus: completed\n") && text.contains("\ninput_tokens: 10\n"), text);
        assertEquals(5, hive.count(hive.layout.archiveDir(TaskTestHive.BOT)));
        assertTrue(Files.exists(hive.layout.archiveDir(TaskTestHive.BOT).resolve("mid.md")));
        assertEquals(0, hive.count(hive.layout.inboxDir(TaskTestHive.BOT)));
        assertEquals(0, hive.claimedTasks());
        assertEquals(0, hive.count(hive.layout.claimedDir(TaskTestHive.BOT)), "the closed monitor removes its folder");
        assertEquals(List.of("claimed", "started", "completed"),
                hive.events.stream().filter(e -> e.taskId().equals("mid")).map(TaskEvent::event).toList());
        assertEquals(5, hive.queue.responses(TaskTestHive.BOT, 10).size());
        assertTrue(hive.tempFiles().isEmpty());
    }

    /**
     * What both retry tests expect of their tasks "flaky" (fails once) and "broken" (always exits 3)
     * with 3 attempts: flaky completed at attempt 2, broken failed for good at attempt 3.
     *
     * @return broken's response
     */
    private static TaskResponse assertFlakyCompletedAndBrokenFailed(TaskTestHive hive) {
        TaskResponse flaky = hive.queue.response(TaskTestHive.BOT, "flaky").orElseThrow();
        assertEquals(TaskStatus.COMPLETED, flaky.status());
        assertEquals(2, flaky.attempt());
        TaskResponse broken = hive.queue.response(TaskTestHive.BOT, "broken").orElseThrow();
        assertEquals(TaskStatus.FAILED, broken.status());
        assertEquals(3, broken.attempt());
        assertEquals(3, broken.exitCode());
        assertEquals("exit code 3", broken.error());
        return broken;
    }

    @Test
    void failedAttemptsAreRetriedWithBackoffThenFailForGood(@TempDir Path dir) throws Exception {
        TaskTestHive hive = new TaskTestHive(dir, 64 * 1024);
        try (TaskQueueMonitor m = hive.monitor(TaskTestHive.profile(30, 3, 10))) {
            m.start();
            hive.queue.submit(TaskTestHive.BOT, "---\ntask_id: flaky\n---\n[ \"$ATTEMPT\" = 2 ] || exit 1; echo fine");
            hive.queue.submit(TaskTestHive.BOT, "---\ntask_id: broken\n---\necho trying; exit 3");
            await().atMost(WAIT).until(() -> hive.responseCount() == 2);
        }
        TaskResponse broken = assertFlakyCompletedAndBrokenFailed(hive);
        assertEquals("trying", broken.output());
        assertEquals(2, hive.events.stream().filter(e -> e.taskId().equals("broken") && e.event().equals("retrying")).count());
        assertEquals(TaskStatus.FAILED, hive.events.stream().filter(e -> e.event().equals("failed")).findFirst().orElseThrow().status());
    }

    @Test
    void aTaskOverItsTimeoutEndsAsTimeout(@TempDir Path dir) throws Exception {
        TaskTestHive hive = new TaskTestHive(dir, 64 * 1024);
        try (TaskQueueMonitor m = hive.monitor(TaskTestHive.profile(30, 1, 10))) {
            m.start();
            hive.queue.submit(TaskTestHive.BOT, "---\ntask_id: slow\ntimeout: 1\n---\nsleep 20");
            await().atMost(WAIT).until(() -> hive.responseCount() == 1);
        }
        TaskResponse slow = hive.queue.response(TaskTestHive.BOT, "slow").orElseThrow();
        assertEquals(TaskStatus.TIMEOUT, slow.status());
        assertTrue(slow.error().contains("no answer within 1000 ms"), slow.error());
    }

    @ParameterizedTest
    @ValueSource(strings = {"empty", "invalid-utf8", "binary", "too-large", "symlink", "bad-front-matter", "folder",
            "no-md-extension"})
    void badInputIsRejectedAndTheNextTaskStillRuns(String kind, @TempDir Path dir) throws Exception {
        TaskTestHive hive = new TaskTestHive(dir, 1024);
        Path outside = Files.writeString(dir.resolve("outside.md"), "echo secret");
        String name = kind + ".md";
        String reason;
        switch (kind) {
            case "empty" -> {
                hive.drop(name, new byte[0]);
                reason = "is empty";
            }
            case "invalid-utf8" -> {
                hive.drop(name, new byte[]{'e', 'c', 'h', 'o', ' ', (byte) 0xFF, (byte) 0xFE});
                reason = "not valid UTF-8";
            }
            case "binary" -> {
                hive.drop(name, new byte[]{'e', 0, 1, 2});
                reason = "is binary";
            }
            case "too-large" -> {
                hive.drop(name, ("echo " + "x".repeat(2000)).getBytes(StandardCharsets.UTF_8));
                reason = "limit (max_task_bytes) is 1024";
            }
            case "symlink" -> {
                Files.createDirectories(hive.layout.inboxDir(TaskTestHive.BOT));
                Path staged = Files.createSymbolicLink(dir.resolve("staged-link"), outside);
                Files.move(staged, hive.layout.inboxDir(TaskTestHive.BOT).resolve(name));
                reason = "symbolic link";
            }
            case "bad-front-matter" -> {
                hive.drop(name, "---\npriority: P7\n---\necho hi".getBytes(StandardCharsets.UTF_8));
                reason = "priority 'P7' is not P0..P3";
            }
            case "folder" -> {
                Path staged = Files.createDirectories(dir.resolve("staged-folder"));
                Files.writeString(staged.resolve("inner.md"), "echo inner");
                Files.createDirectories(hive.layout.inboxDir(TaskTestHive.BOT));
                Files.move(staged, hive.layout.inboxDir(TaskTestHive.BOT).resolve(name));
                reason = "is a folder";
            }
            case "no-md-extension" -> {
                name = "notes.txt";
                hive.drop(name, "echo hi".getBytes(StandardCharsets.UTF_8));
                reason = "does not end in .md";
            }
            default -> throw new IllegalArgumentException(kind);
        }
        hive.drop(".deia-tmp-half-written.md", "echo never".getBytes(StandardCharsets.UTF_8));
        try (TaskQueueMonitor m = hive.monitor(TaskTestHive.profile(30, 3, 10))) {
            m.start();
            hive.drop("next good täsk.md", "echo good".getBytes(StandardCharsets.UTF_8));
            await().atMost(WAIT).until(() -> hive.responseCount() == 2);
            // The response is written before the task is archived and the slot cleared.
            await().atMost(WAIT).until(() -> m.currentTaskId() == null);
        }
        String badId = TaskIds.fromFileName(name);
        TaskResponse bad = hive.queue.response(TaskTestHive.BOT, badId).orElseThrow();
        assertEquals(TaskStatus.REJECTED, bad.status());
        assertTrue(bad.error().contains(reason), bad.error());
        assertEquals(0, bad.attempt());
        TaskResponse good = hive.queue.response(TaskTestHive.BOT, "next_good_t_sk").orElseThrow();
        assertEquals(TaskStatus.COMPLETED, good.status());
        assertEquals("good", good.output());
        assertTrue(AtomicFiles.readString(hive.layout.responsesDir(TaskTestHive.BOT).resolve("next_good_t_sk.response.md"))
                .contains("task_file: \"next good täsk.md\""));
        Path archived = hive.layout.archiveDir(TaskTestHive.BOT).resolve(kind.equals("folder") ? badId : badId + ".md");
        assertTrue(Files.exists(archived, java.nio.file.LinkOption.NOFOLLOW_LINKS), archived.toString());
        assertEquals(kind.equals("symlink"), Files.isSymbolicLink(archived));
        assertEquals("echo secret", Files.readString(outside), "the link target is untouched");
        assertEquals(List.of(".deia-tmp-half-written.md"),
                Files.list(hive.layout.inboxDir(TaskTestHive.BOT)).map(p -> p.getFileName().toString()).toList(),
                "temp files of writers are not tasks");
        assertEquals(1, hive.events.stream().filter(e -> e.event().equals("rejected")).count());
    }

    @Test
    void claimsOfADeadMonitorAreRecoveredAndNeverAnsweredTwice(@TempDir Path dir) throws Exception {
        TaskTestHive hive = new TaskTestHive(dir, 64 * 1024);
        Path dead = hive.layout.claimedDir(TaskTestHive.BOT).resolve("o-999999999-1000-deadbeef");
        Files.createDirectories(dead);
        // Cut short during attempt 1 (logged as started): retried as attempt 2.
        Files.writeString(dead.resolve("t1~cut.md"), "---\ntask_id: cut\n---\necho again");
        // Claimed and never started (no state, nothing logged): its first attempt is still to come.
        Files.writeString(dead.resolve("t4~ahead.md"), "---\ntask_id: ahead\n---\necho ahead");
        // Attempt 3 of 3 was cut short: failed on purpose.
        Files.writeString(dead.resolve("t2~spent.md"), "---\ntask_id: spent\n---\necho never");
        // (Its state file says 2, written when it was adopted; attempt 3 logged later counts on top.)
        AtomicFiles.writeString(dead.resolve("s2.json"), Json.write(new ClaimedTasks.State("spent.md", 2, "o-1-1-aa/9")));
        Files.writeString(dead.resolve(StartedLog.FILE), "1 1\n2 3\n");
        // Crashed after its response was written: only archived.
        Files.writeString(dead.resolve("t3~answered.md"), "---\ntask_id: answered\n---\necho twice");
        new ResponseFiles(hive.layout).write(new TaskResponse("answered", TaskTestHive.BOT, TaskStatus.COMPLETED, 1,
                Instant.now(), Instant.now(), 1, 0, "command", null, null, null, null, "first", null, null),
                "o-999999999-1000-deadbeef/3", "answered.md");
        // A live monitor's claim (pid 1 with its real start instant) is never taken.
        long initPid = 1;
        Instant initStart = ProcessTrees.startInstant(initPid).orElseThrow();
        Path live = hive.layout.claimedDir(TaskTestHive.BOT).resolve("o-1-" + initStart.toEpochMilli() + "-cafe0001");
        Files.createDirectories(live);
        Files.writeString(live.resolve("t1~busy.md"), "echo busy");
        try (TaskQueueMonitor m = hive.monitor(TaskTestHive.profile(30, 3, 10))) {
            m.start();
            await().atMost(WAIT).until(() -> hive.responseCount() == 4);
            hive.queue.submit(TaskTestHive.BOT, "---\ntask_id: after\n---\necho after");
            await().atMost(WAIT).until(() -> hive.responseCount() == 5);
            // A response file is visible before its task is archived and stops being pending.
            await().atMost(WAIT).until(() -> m.currentTaskId() == null && m.pendingCount() == 0);
            assertEquals(0, m.pendingCount(), "another live monitor's claim is not this monitor's work");
            assertEquals(1, hive.queue.pending(TaskTestHive.BOT).size());
        }
        TaskResponse cut = hive.queue.response(TaskTestHive.BOT, "cut").orElseThrow();
        assertEquals(TaskStatus.COMPLETED, cut.status());
        assertEquals(2, cut.attempt());
        TaskResponse ahead = hive.queue.response(TaskTestHive.BOT, "ahead").orElseThrow();
        assertEquals(TaskStatus.COMPLETED, ahead.status());
        assertEquals(1, ahead.attempt(), "a claim that never started counts no attempt");
        TaskResponse spent = hive.queue.response(TaskTestHive.BOT, "spent").orElseThrow();
        assertEquals(TaskStatus.FAILED, spent.status());
        assertEquals(3, spent.attempt());
        assertTrue(spent.error().contains("cut short"), spent.error());
        assertEquals("first", hive.queue.response(TaskTestHive.BOT, "answered").orElseThrow().output());
        assertTrue(hive.queue.response(TaskTestHive.BOT, "answered-2").isEmpty());
        assertFalse(Files.exists(dead));
        assertTrue(Files.exists(live.resolve("t1~busy.md")));
        assertEquals("running", hive.queue.pending(TaskTestHive.BOT).get(0).state());
        assertEquals(5, hive.count(hive.layout.archiveDir(TaskTestHive.BOT)));
    }

    @Test
    void withoutBackoffFailedAttemptsAreRetriedAtOnceEachLoggedAsStartedBeforeItRuns(@TempDir Path dir) throws Exception {
        TaskTestHive hive = new TaskTestHive(dir, 64 * 1024);
        Path claimed = hive.layout.claimedDir(TaskTestHive.BOT);
        ShellTaskExecutor executor = new ShellTaskExecutor(dir.resolve("scratch"), Map.of("CLAIMED", claimed.toString()));
        try (TaskQueueMonitor m = hive.monitor(TaskTestHive.profile(30, 3, 0), executor, hive.events::add)) {
            m.start();
            hive.queue.submit(TaskTestHive.BOT, "---\ntask_id: flaky\n---\n[ \"$ATTEMPT\" = 2 ] || exit 1; echo fine");
            // Prints the last line of its monitor's started.log: the attempt running was logged before it ran.
            hive.queue.submit(TaskTestHive.BOT, "---\ntask_id: broken\n---\ntail -n 1 \"$CLAIMED\"/o-*/started.log; exit 3");
            await().atMost(WAIT).until(() -> hive.responseCount() == 2);
        }
        TaskResponse broken = assertFlakyCompletedAndBrokenFailed(hive);
        assertTrue(broken.output().matches("\\d+ 3"), broken.output());
        assertEquals(List.of("started 1", "retrying 1", "started 2", "retrying 2", "started 3", "failed 3"),
                hive.events.stream().filter(e -> e.taskId().equals("broken") && !e.event().equals("claimed"))
                        .map(e -> e.event() + " " + e.attempt()).toList());
    }

    @Test
    void attemptsInADeadMonitorsStartedLogCountOnAdoption(@TempDir Path dir) throws Exception {
        TaskTestHive hive = new TaskTestHive(dir, 64 * 1024);
        Path dead = hive.layout.claimedDir(TaskTestHive.BOT).resolve("o-999999998-1000-deadbee2");
        Files.createDirectories(dead);
        Files.writeString(dead.resolve("t1~cut.md"), "---\ntask_id: cut\n---\necho again");
        Files.writeString(dead.resolve("t2~spent.md"), "---\ntask_id: spent\n---\necho never");
        Files.writeString(dead.resolve("t3~torn.md"), "---\ntask_id: torn\n---\necho torn");
        // Attempt 1 of task 1 and attempts 1-3 of task 2 started; the line of task 3 was cut (power cut).
        Files.writeString(dead.resolve(StartedLog.FILE), "1 1\n2 1\n2 2\n2 3\n3 ");
        try (TaskQueueMonitor m = hive.monitor(TaskTestHive.profile(30, 3, 10))) {
            m.start();
            await().atMost(WAIT).until(() -> hive.responseCount() == 3);
        }
        assertEquals(2, hive.queue.response(TaskTestHive.BOT, "cut").orElseThrow().attempt());
        TaskResponse spent = hive.queue.response(TaskTestHive.BOT, "spent").orElseThrow();
        assertEquals(TaskStatus.FAILED, spent.status());
        assertEquals(3, spent.attempt());
        TaskResponse torn = hive.queue.response(TaskTestHive.BOT, "torn").orElseThrow();
        assertEquals(TaskStatus.COMPLETED, torn.status());
        assertEquals(1, torn.attempt(), "a cut line counts no attempt");
        assertFalse(Files.exists(dead));
        assertEquals(0, hive.claimedTasks());
    }

    @Test
    void closingDuringATurnLeavesTheTaskClaimedForTheNextMonitorButAnOpenOneIsNotAdoptedFrom(@TempDir Path dir) throws Exception {
        TaskTestHive hive = new TaskTestHive(dir, 64 * 1024);
        hive.queue.submit(TaskTestHive.BOT, "---\ntask_id: long\n---\nif [ \"$ATTEMPT\" = 1 ]; then sleep 30; fi; echo resumed");
        TaskQueueMonitor first = hive.monitor(TaskTestHive.profile(60, 3, 10));
        first.start();
        await().atMost(WAIT).until(() -> "long".equals(first.currentTaskId()));
        await().atMost(WAIT).until(() -> hive.events.stream().anyMatch(e -> e.event().equals("started")));
        try (TaskQueueMonitor second = hive.monitor(TaskTestHive.profile(60, 3, 10))) {
            second.start();
            // Only the second monitor is free to run this one: once it has, it has looked for claims to adopt.
            hive.queue.submit(TaskTestHive.BOT, "---\ntask_id: other\n---\necho other");
            await().atMost(WAIT).until(() -> hive.responseCount() == 1 && second.pendingCount() == 0);
            assertEquals(1, hive.claimedTasks(), "the claim of a monitor open in this JVM is not adopted");
            assertEquals("long", first.currentTaskId());
            first.close();
            assertTrue(hive.queue.response(TaskTestHive.BOT, "long").isEmpty());
            assertEquals(1, hive.claimedTasks());
            // The closed monitor's claim is adopted at the second one's next rescan.
            await().atMost(WAIT).until(() -> hive.responseCount() == 2);
        }
        TaskResponse r = hive.queue.response(TaskTestHive.BOT, "long").orElseThrow();
        assertEquals(TaskStatus.COMPLETED, r.status());
        assertEquals(2, r.attempt());
        assertEquals("resumed", r.output());
        assertEquals(0, hive.claimedTasks());
    }

    @Test
    void interruptedTurnsAreFinalAndListenerFailuresAreHarmless(@TempDir Path dir) throws Exception {
        TaskTestHive hive = new TaskTestHive(dir, 64 * 1024);
        TaskExecutor interrupting = (task, attempt, timeout, events) ->
                new io.deia.core.agent.TurnResult(io.deia.core.agent.TurnStatus.INTERRUPTED, "half", null, null, null,
                        null, 5, null, "interrupted by the user");
        try (TaskQueueMonitor m = hive.monitor(TaskTestHive.profile(30, 3, 10), interrupting, e -> {
            throw new IllegalStateException("listener bug");
        })) {
            m.start();
            hive.queue.submit(TaskTestHive.BOT, "---\ntask_id: stop-me\n---\nwhatever");
            await().atMost(WAIT).until(() -> hive.responseCount() == 1);
        }
        TaskResponse r = hive.queue.response(TaskTestHive.BOT, "stop-me").orElseThrow();
        assertEquals(TaskStatus.INTERRUPTED, r.status());
        assertEquals(1, r.attempt());
        assertEquals("half", r.output());
        assertEquals("interrupted by the user", r.error());
    }

    @Test
    void aResubmittedTaskIdGetsASuffixedResponse(@TempDir Path dir) throws Exception {
        TaskTestHive hive = new TaskTestHive(dir, 64 * 1024);
        try (TaskQueueMonitor m = hive.monitor(TaskTestHive.profile(30, 3, 10))) {
            m.start();
            hive.queue.submit(TaskTestHive.BOT, "---\ntask_id: same\n---\necho one");
            await().atMost(WAIT).until(() -> hive.responseCount() == 1);
            hive.queue.submit(TaskTestHive.BOT, "---\ntask_id: same\n---\necho two");
            await().atMost(WAIT).until(() -> hive.responseCount() == 2);
        }
        assertEquals("one", hive.queue.response(TaskTestHive.BOT, "same").orElseThrow().output());
        assertEquals("two", hive.queue.response(TaskTestHive.BOT, "same-2").orElseThrow().output());
        assertTrue(Files.exists(hive.layout.archiveDir(TaskTestHive.BOT).resolve("same-2.md")));
    }
}
