package io.deia.nats;

import io.deia.core.task.ResponseFiles;
import io.deia.core.task.TaskResponse;
import io.deia.core.task.TaskStatus;
import io.deia.core.testing.ChildJvm;
import io.nats.client.Connection;
import io.nats.client.api.MessageInfo;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Workers that die mid-turn or lose their ack: the task comes back and ends with one response. */
class NatsTaskCrashTest {
    private static final Duration LEASE = Duration.ofMillis(1500);

    @Test
    void aWorkerKilledMidTurnLosesNothingAndTheTaskEndsOnceOnAnotherWorker(@TempDir Path dir) throws Exception {
        try (NatsServers server = NatsServers.single(dir.resolve("nats"));
             Connection nc = TaskFixtures.connect(server.urls())) {
            NatsTaskStreams.ensure(nc, "crash", 1);
            NatsTaskQueue queue = new NatsTaskQueue(nc, "crash", TaskFixtures.CONFIG);
            String id = queue.submit("BOT-1", "---\ntask_id: LONG\n---\na long turn\n");
            Path started = dir.resolve("started");
            Process child = ChildJvm.start(HangingWorkerMain.class, dir.resolve("child.log"), server.url(0), "crash", "BOT-1",
                    String.valueOf(LEASE.toMillis()), started.toString());
            try {
                await().atMost(Duration.ofSeconds(20)).until(() -> Files.exists(started));
                assertEquals("LONG 1", Files.readString(started, StandardCharsets.UTF_8).strip());
                // The child renews its lease while it hangs: the task stays with it well past one lease.
                Thread.sleep(LEASE.toMillis() * 2);
                assertEquals("running", queue.pending("BOT-1").get(0).state());
            } finally {
                child.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
            Map<String, Integer> runs = new ConcurrentHashMap<>();
            try (NatsTaskWorker w = TaskFixtures.worker(nc, "crash", "BOT-1", TaskFixtures.profile(3), (t, attempt, to, ev) -> {
                runs.merge(t.taskId() + "#" + attempt, 1, Integer::sum);
                return TaskFixtures.completed("finished");
            }, null, LEASE)) {
                w.start();
                await().atMost(Duration.ofSeconds(15)).until(() -> queue.response("BOT-1", id).isPresent());
            }
            TaskResponse r = queue.response("BOT-1", id).orElseThrow();
            assertEquals(TaskStatus.COMPLETED, r.status());
            assertEquals(2, r.attempt(), "the attempt cut short by the crash counts");
            assertEquals(Map.of("LONG#2", 1), runs);
            assertEquals(1, queue.responses("BOT-1", 10).size());
            assertEquals(List.of(), queue.pending("BOT-1"));
        }
    }

    @Test
    void aRedeliveredTaskThatHasItsResponseIsOnlyAckedAndTheLastAttemptFailsOnPurpose(@TempDir Path dir) throws Exception {
        try (NatsServers server = NatsServers.single(dir);
             Connection nc = TaskFixtures.connect(server.urls());
             Connection doomed = TaskFixtures.connect(server.urls())) {
            NatsTaskStreams.ensure(nc, "acks", 1);
            NatsTaskQueue queue = new NatsTaskQueue(nc, "acks", TaskFixtures.CONFIG);
            String id = queue.submit("BOT-1", "---\ntask_id: ANSWERED\n---\nx\n");
            MessageInfo msg = nc.jetStreamManagement().getLastMessage(NatsTaskStreams.streamName("acks"),
                    NatsTaskStreams.subject("acks", "BOT-1", 2));
            CountDownLatch inTurn = new CountDownLatch(1);
            NatsTaskWorker first = TaskFixtures.worker(doomed, "acks", "BOT-1", TaskFixtures.profile(1), (t, a, to, ev) -> {
                inTurn.countDown();
                try {
                    Thread.sleep(60_000);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                return TaskFixtures.completed("late");
            }, null, LEASE);
            first.start();
            assertTrue(inTurn.await(10, TimeUnit.SECONDS));
            // As if this worker stored its response and its ack was lost with its connection.
            Instant now = Instant.now();
            TaskResponse stored = new TaskResponse(id, "BOT-1", TaskStatus.COMPLETED, 1, now, now, 0, 0, "command", null,
                    null, null, null, "stored before the ack", null, null);
            nc.keyValue(NatsTaskStreams.bucketName("acks")).create(NatsResponses.key("BOT-1", id),
                    ResponseFiles.format(stored, NatsTaskStreams.streamName("acks") + "/" + msg.getSeq(), null)
                            .getBytes(StandardCharsets.UTF_8));
            // A second task delivered once to a client that dies without acking: its only attempt is cut short.
            String cut = queue.submit("BOT-1", "---\ntask_id: CUT\n---\ny\n");
            io.nats.client.JetStreamSubscription raw = doomed.jetStream().subscribe(null,
                    io.nats.client.PullSubscribeOptions.bind(NatsTaskStreams.streamName("acks"), NatsTaskStreams.consumerName("BOT-1", 2)));
            assertEquals(1, raw.fetch(1, Duration.ofSeconds(5)).size());
            doomed.close();
            first.close();
            Map<String, Integer> runs = new ConcurrentHashMap<>();
            try (NatsTaskWorker second = TaskFixtures.worker(nc, "acks", "BOT-1", TaskFixtures.profile(1), (t, a, to, ev) -> {
                runs.merge(t.taskId(), 1, Integer::sum);
                return TaskFixtures.completed("again");
            }, null, LEASE)) {
                second.start();
                await().atMost(Duration.ofSeconds(10)).until(() -> queue.pending("BOT-1").isEmpty());
            }
            assertEquals(Map.of(), runs, "the answered task never ran again, the cut one has no attempt left");
            TaskResponse failed = queue.response("BOT-1", cut).orElseThrow();
            assertEquals(TaskStatus.FAILED, failed.status());
            assertTrue(failed.error().contains("cut short"), failed.error());
            assertEquals("stored before the ack", queue.response("BOT-1", id).orElseThrow().output());
            assertEquals(2, queue.responses("BOT-1", 10).size());
        }
    }
}
