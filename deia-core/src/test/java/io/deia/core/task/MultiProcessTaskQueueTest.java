package io.deia.core.task;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Monitors in separate JVMs on one inbox: each task runs once; kill -9 at any moment loses none. */
class MultiProcessTaskQueueTest {

    @Test
    void twoMonitorsOnOneInboxRunEachTaskExactlyOnce(@TempDir Path dir) throws Exception {
        Path root = dir.resolve("hive");
        TaskTestHive hive = new TaskTestHive(root, 64 * 1024);
        Process other = MonitorMain.spawn(root, 3, dir.resolve("child.log"));
        try (TaskQueueMonitor local = hive.monitor(TaskTestHive.profile(30, 3, 10))) {
            local.start();
            List<String> ids = new ArrayList<>();
            for (int i = 0; i < 500; i++) {
                String id = String.format("T%04d", i);
                ids.add(id);
                hive.queue.submit(TaskTestHive.BOT, "---\ntask_id: " + id + "\n---\necho \"$TASK_ID\" >> \"$HIVE/exec.log\"");
            }
            await().atMost(Duration.ofSeconds(120)).until(() -> hive.responseCount() == 500);
            // Statuses first: a task that did not complete says why (its error) before the count fails.
            for (String id : ids) {
                TaskResponse r = hive.queue.response(TaskTestHive.BOT, id).orElseThrow();
                assertEquals(TaskStatus.COMPLETED, r.status(), id + ": " + r.error());
            }
            List<String> executed = Files.readAllLines(root.resolve("exec.log"));
            assertEquals(500, executed.size(), "every task executed exactly once");
            assertEquals(new HashSet<>(ids), new HashSet<>(executed));
            assertEquals(500, hive.count(hive.layout.archiveDir(TaskTestHive.BOT)));
        } finally {
            other.destroy();
            other.waitFor(30, TimeUnit.SECONDS);
        }
        assertEquals(0, hive.claimedTasks());
        assertTrue(hive.tempFiles().isEmpty());
    }

    @Test
    void killMinus9AtRandomMomentsLosesNothingAndNeverRunsATaskTwiceAtOnce(@TempDir Path dir) throws Exception {
        Path root = dir.resolve("hive");
        TaskTestHive hive = new TaskTestHive(root, 64 * 1024);
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < 200; i++) {
            String id = String.format("K%03d", i);
            ids.add(id);
            hive.queue.submit(TaskTestHive.BOT, "---\ntask_id: " + id + "\n---\n"
                    + "echo \"S $TASK_ID\" >> \"$HIVE/exec.log\"; sleep 0.03; echo \"E $TASK_ID\" >> \"$HIVE/exec.log\"; echo done");
        }
        Random random = new Random(42);
        Path childLog = dir.resolve("child.log");
        int kills = 0;
        while (kills < 20) {
            long linesBefore = lines(root.resolve("exec.log"));
            Process p = MonitorMain.spawn(root, 10, childLog);
            // Kill while it works: once it has started a task, at a random moment within the next 300 ms.
            await().atMost(Duration.ofSeconds(60)).until(() -> lines(root.resolve("exec.log")) > linesBefore);
            Thread.sleep(random.nextInt(300));
            p.destroyForcibly();
            assertTrue(p.waitFor(30, TimeUnit.SECONDS));
            kills++;
        }
        long answeredBeforeFinalRun = hive.responseCount();
        Process last = MonitorMain.spawn(root, 10, childLog);
        try {
            await().atMost(Duration.ofSeconds(120)).until(() -> hive.responseCount() == 200 && hive.claimedTasks() == 0);
        } finally {
            last.destroy();
            assertTrue(last.waitFor(30, TimeUnit.SECONDS));
        }
        assertTrue(answeredBeforeFinalRun > 0, "tasks were processed between kills");
        for (String id : ids) {
            TaskResponse r = hive.queue.response(TaskTestHive.BOT, id).orElseThrow(() -> new AssertionError("lost " + id));
            assertTrue(r.status() == TaskStatus.COMPLETED || r.status() == TaskStatus.FAILED, id + " " + r.status());
            assertTrue(hive.queue.response(TaskTestHive.BOT, id + "-2").isEmpty(), "second response for " + id);
        }
        assertEquals(200, hive.responseCount());
        assertEquals(200, hive.count(hive.layout.archiveDir(TaskTestHive.BOT)));
        assertEquals(0, hive.count(hive.layout.inboxDir(TaskTestHive.BOT)));
        assertEquals(0, hive.claimedTasks());
        assertEquals(List.of(), hive.tempFiles(), "no partial or temp file anywhere in the hive");
        // Per task the log must read S E S E …: an S after an S would be two runs at once.
        Map<String, String> lastMark = new HashMap<>();
        Set<String> started = new HashSet<>();
        for (String line : Files.readAllLines(root.resolve("exec.log"))) {
            String[] parts = line.split(" ");
            String previous = lastMark.put(parts[1], parts[0]);
            if (parts[0].equals("S")) {
                assertTrue(previous == null || previous.equals("E"), "ran twice at once: " + parts[1]);
                started.add(parts[1]);
            } else {
                assertEquals("S", previous, "end without start: " + line);
            }
        }
        assertEquals(new HashSet<>(ids), started);
    }

    private static long lines(Path file) throws java.io.IOException {
        return Files.exists(file) ? Files.readAllLines(file).size() : 0;
    }
}
