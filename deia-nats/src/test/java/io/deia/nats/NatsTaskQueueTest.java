package io.deia.nats;

import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;
import io.deia.core.agent.TurnResult;
import io.deia.core.task.TaskEvent;
import io.deia.core.task.TaskQueue;
import io.deia.core.task.TaskResponse;
import io.deia.core.task.TaskStatus;
import io.nats.client.Connection;
import io.nats.client.api.StreamInfo;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The task queue on one real nats-server: submit, take in order, respond once, retry, reject, dedupe. */
class NatsTaskQueueTest {
    private static final Duration LEASE = Duration.ofSeconds(2);
    @TempDir
    static Path dir;
    static NatsServers server;
    static Connection nc;
    static final AtomicInteger hives = new AtomicInteger();

    @BeforeAll
    static void startServer() throws Exception {
        server = NatsServers.single(dir);
        nc = TaskFixtures.connect(server.urls());
    }

    @AfterAll
    static void stopServer() throws Exception {
        nc.close();
        server.close();
    }

    /** Each test gets a hive of its own on the shared server. */
    private static String newHive() {
        String hive = "h" + hives.incrementAndGet();
        NatsTaskStreams.ensure(nc, hive, 1);
        return hive;
    }

    @Test
    void aSubmittedTaskIsRunAndAnsweredOnceInTheFileBackendsShape() throws Exception {
        String hive = newHive();
        NatsTaskQueue queue = new NatsTaskQueue(nc, hive, TaskFixtures.CONFIG);
        List<TaskEvent> events = new CopyOnWriteArrayList<>();
        String id = queue.submit("BOT-1", "---\ntask_id: T.1.\npriority: P1\n---\nWrite the notes.\n");
        assertEquals("T.1.", id);
        assertEquals(List.of(new TaskQueue.TaskInfo("T.1.", "queued", 1, 0, queue.pending("BOT-1").get(0).createdAt())),
                queue.pending("BOT-1"));
        try (NatsTaskWorker w = TaskFixtures.worker(nc, hive, "BOT-1", TaskFixtures.profile(2),
                (task, attempt, timeout, ev) -> TaskFixtures.completed("notes for " + task.prompt()), events::add, LEASE)) {
            w.start();
            await().atMost(Duration.ofSeconds(10)).until(() -> queue.response("BOT-1", id).isPresent());
            TaskResponse r = queue.response("BOT-1", id).orElseThrow();
            assertEquals(TaskStatus.COMPLETED, r.status());
            assertEquals("BOT-1", r.botId());
            assertEquals(1, r.attempt());
            assertEquals("notes for Write the notes.", r.output());
            assertEquals("command", r.agent());
            await().atMost(Duration.ofSeconds(5)).until(() -> w.pendingCount() == 0);
            assertNull(w.currentTaskId());
        }
        assertEquals(List.of(), queue.pending("BOT-1"));
        assertEquals(List.of(TaskEvent.CLAIMED, TaskEvent.STARTED, TaskEvent.COMPLETED),
                events.stream().map(TaskEvent::event).toList());
        assertEquals(Map.of("completed", 1), queue.outcomes("BOT-1"));
    }

    @Test
    void tasksAreTakenByPriorityThenAge() throws Exception {
        String hive = newHive();
        NatsTaskQueue queue = new NatsTaskQueue(nc, hive, TaskFixtures.CONFIG);
        String[] priorities = {"P3", "P1", "P2", "P0", "P1", "P3", "P0"};
        for (int i = 0; i < priorities.length; i++) {
            queue.submit("BOT-1", "---\ntask_id: T" + i + "\npriority: " + priorities[i] + "\n---\ngo\n");
        }
        List<String> expected = List.of("T3", "T6", "T1", "T4", "T2", "T0", "T5");
        assertEquals(expected, queue.pending("BOT-1").stream().map(TaskQueue.TaskInfo::taskId).toList());
        List<String> order = Collections.synchronizedList(new ArrayList<>());
        try (NatsTaskWorker w = TaskFixtures.worker(nc, hive, "BOT-1", TaskFixtures.profile(1), (task, a, t, ev) -> {
            order.add(task.taskId());
            return TaskFixtures.completed("ok");
        }, null, LEASE)) {
            w.start();
            await().atMost(Duration.ofSeconds(10)).until(() -> order.size() == expected.size());
        }
        assertEquals(expected, order);
        assertEquals(7, queue.responses("BOT-1", 100).size());
        assertEquals(3, queue.responses("BOT-1", 3).size());
    }

    @Test
    void aFailingTaskIsRetriedWithBackOffThenFailsWithItsLastError() throws Exception {
        String hive = newHive();
        NatsTaskQueue queue = new NatsTaskQueue(nc, hive, TaskFixtures.CONFIG);
        List<Integer> attempts = new CopyOnWriteArrayList<>();
        List<TaskEvent> events = new CopyOnWriteArrayList<>();
        String id = queue.submit("BOT-1", "always fails\n");
        try (NatsTaskWorker w = TaskFixtures.worker(nc, hive, "BOT-1", TaskFixtures.profile(3), (task, attempt, t, ev) -> {
            attempts.add(attempt);
            return TurnResult.failed("broken " + attempt, 1, 3);
        }, events::add, LEASE)) {
            w.start();
            await().atMost(Duration.ofSeconds(10)).until(() -> queue.response("BOT-1", id).isPresent());
        }
        TaskResponse r = queue.response("BOT-1", id).orElseThrow();
        assertEquals(TaskStatus.FAILED, r.status());
        assertEquals(3, r.attempt());
        assertEquals("broken 3", r.error());
        assertEquals(List.of(1, 2, 3), attempts);
        assertEquals(2, events.stream().filter(e -> e.event().equals(TaskEvent.RETRYING)).count());
        assertEquals(List.of(), queue.pending("BOT-1"));
    }

    @Test
    void aResubmittedTaskIsStoredOnceAndAnAnsweredIdGetsASuffix() throws Exception {
        String hive = newHive();
        NatsTaskQueue queue = new NatsTaskQueue(nc, hive, TaskFixtures.CONFIG);
        String task = "---\ntask_id: SAME\n---\nonce\n";
        assertEquals("SAME", queue.submit("BOT-1", task));
        assertEquals("SAME", queue.submit("BOT-1", task));
        assertEquals("SAME", queue.submit("BOT-2", task), "de-duplication is per bot");
        assertEquals(1, queue.pending("BOT-1").size());
        StreamInfo si = nc.jetStreamManagement().getStreamInfo(NatsTaskStreams.streamName(hive));
        assertEquals(2, si.getStreamState().getMsgCount());
        Map<String, Integer> runs = new ConcurrentHashMap<>();
        try (NatsTaskWorker w = TaskFixtures.worker(nc, hive, "BOT-1", TaskFixtures.profile(1), (t, a, to, ev) -> {
            runs.merge(t.taskId(), 1, Integer::sum);
            return TaskFixtures.completed(t.prompt());
        }, null, LEASE)) {
            w.start();
            await().atMost(Duration.ofSeconds(10)).until(() -> queue.response("BOT-1", "SAME").isPresent());
            String again = queue.submit("BOT-1", task);
            assertEquals("SAME-2", again, "an id that has a response gets the first free suffix");
            await().atMost(Duration.ofSeconds(10)).until(() -> queue.response("BOT-1", "SAME-2").isPresent());
        }
        assertEquals(Map.of("SAME", 1, "SAME-2", 1), runs);
        assertEquals("SAME-2", queue.response("BOT-1", "SAME-2").orElseThrow().taskId());
    }

    @Test
    void badInputAndDeniedPromptsAreRefusedAtSubmitOrRejectedByTheWorker() throws Exception {
        String hive = newHive();
        NatsTaskQueue queue = new NatsTaskQueue(nc, hive, TaskFixtures.CONFIG);
        assertEquals(ErrorCode.INVALID_ARGUMENT, assertThrows(DeiaException.class, () -> queue.submit("BOT-1", null)).code());
        assertEquals(ErrorCode.INVALID_ARGUMENT, assertThrows(DeiaException.class, () -> queue.submit("BOT-1", "")).code());
        assertEquals(ErrorCode.INVALID_ARGUMENT, assertThrows(DeiaException.class, () -> queue.submit("../x", "hi")).code());
        assertEquals(ErrorCode.INVALID_ARGUMENT,
                assertThrows(DeiaException.class, () -> queue.submit("BOT-1", "---\npriority: P9\n---\nhi\n")).code());
        assertEquals(ErrorCode.UNPROCESSABLE, assertThrows(DeiaException.class, () -> queue.submit("BOT-1", "a\0b")).code());
        assertEquals(ErrorCode.PAYLOAD_TOO_LARGE,
                assertThrows(DeiaException.class, () -> queue.submit("BOT-1", "x".repeat(1024 * 1024 + 1))).code());
        assertEquals(ErrorCode.INVALID_ARGUMENT, assertThrows(DeiaException.class, () -> queue.responses("BOT-1", -1)).code());
        // A client publishing straight to the stream can send anything: the worker rejects it.
        nc.jetStream().publish(NatsTaskStreams.subject(hive, "BOT-1", 2), new byte[]{'a', 0, 'b'});
        String denied = queue.submit("BOT-1", "please rm -rf / now\n");
        List<String> ran = new CopyOnWriteArrayList<>();
        try (NatsTaskWorker w = TaskFixtures.worker(nc, hive, "BOT-1", TaskFixtures.profile(1), (t, a, to, ev) -> {
            ran.add(t.taskId());
            return TaskFixtures.completed("ran");
        }, null, LEASE)) {
            w.start();
            await().atMost(Duration.ofSeconds(10)).until(() -> queue.responses("BOT-1", 10).size() == 2);
        }
        assertEquals(List.of(), ran);
        TaskResponse binary = queue.response("BOT-1", "task-1").orElseThrow();
        assertEquals(TaskStatus.REJECTED, binary.status());
        assertTrue(binary.error().contains("binary"), binary.error());
        TaskResponse refused = queue.response("BOT-1", denied).orElseThrow();
        assertEquals(TaskStatus.REJECTED, refused.status());
        assertTrue(refused.error().contains("deny pattern"), refused.error());
    }

    @Test
    void twoWorkersOfOneBotRunEachTaskOnce() throws Exception {
        String hive = newHive();
        NatsTaskQueue queue = new NatsTaskQueue(nc, hive, TaskFixtures.CONFIG);
        int n = 200;
        for (int i = 0; i < n; i++) {
            queue.submit("BOT-1", "---\ntask_id: W" + i + "\npriority: P" + (i % 4) + "\n---\nwork\n");
        }
        Map<String, Integer> runs = new ConcurrentHashMap<>();
        Map<String, Integer> byWorker = new ConcurrentHashMap<>();
        try (Connection other = TaskFixtures.connect(server.urls());
             NatsTaskWorker a = TaskFixtures.worker(nc, hive, "BOT-1", TaskFixtures.profile(1), counting(runs, byWorker, "a"), null, LEASE);
             NatsTaskWorker b = TaskFixtures.worker(other, hive, "BOT-1", TaskFixtures.profile(1), counting(runs, byWorker, "b"), null, LEASE)) {
            a.start();
            b.start();
            await().atMost(Duration.ofSeconds(20)).until(() -> queue.responses("BOT-1", Integer.MAX_VALUE).size() == n);
        }
        assertEquals(n, runs.size());
        assertTrue(runs.values().stream().allMatch(c -> c == 1), "each task ran once: " + runs);
        assertTrue(byWorker.getOrDefault("a", 0) > 0 && byWorker.getOrDefault("b", 0) > 0, "both workers took tasks: " + byWorker);
        assertEquals(List.of(), queue.pending("BOT-1"));
    }

    private static io.deia.core.task.TaskExecutor counting(Map<String, Integer> runs, Map<String, Integer> byWorker, String name) {
        return (t, a, to, ev) -> {
            runs.merge(t.taskId(), 1, Integer::sum);
            byWorker.merge(name, 1, Integer::sum);
            try {
                Thread.sleep(2);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return TaskFixtures.completed("ok");
        };
    }

    @Test
    void ensureIsIdempotentUpdatesWhatItCanAndRefusesAForeignStream() throws Exception {
        String hive = newHive();
        NatsTaskStreams.ensure(nc, hive, 1);
        nc.jetStreamManagement().updateStream(io.nats.client.api.StreamConfiguration.builder(
                nc.jetStreamManagement().getStreamInfo(NatsTaskStreams.streamName(hive)).getConfiguration())
                .duplicateWindow(Duration.ofSeconds(30)).build());
        NatsTaskStreams.ensure(nc, hive, 1);
        assertEquals(NatsTaskStreams.DUPLICATE_WINDOW, nc.jetStreamManagement().getStreamInfo(NatsTaskStreams.streamName(hive))
                .getConfiguration().getDuplicateWindow());
        nc.jetStreamManagement().addStream(io.nats.client.api.StreamConfiguration.builder().name("deia-foreign-tasks")
                .subjects("foreign.x").storageType(io.nats.client.api.StorageType.Memory).build());
        DeiaException e = assertThrows(DeiaException.class, () -> NatsTaskStreams.ensure(nc, "foreign", 1));
        assertEquals(ErrorCode.CONFLICT, e.code());
        assertThrows(DeiaException.class, () -> NatsTaskStreams.ensure(nc, "bad.name", 1));
        assertThrows(DeiaException.class, () -> NatsTaskStreams.ensure(nc, hive, 0));
        DeiaException noStream = assertThrows(DeiaException.class, () -> TaskFixtures.worker(nc, "nostream", "BOT-1",
                TaskFixtures.profile(1), TaskFixtures.echo(), null, LEASE).start());
        assertEquals(ErrorCode.UNAVAILABLE, noStream.code());
    }
}
