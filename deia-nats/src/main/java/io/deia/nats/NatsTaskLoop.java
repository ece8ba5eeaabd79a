package io.deia.nats;

import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;
import io.deia.core.agent.AgentEventListener;
import io.deia.core.agent.TurnResult;
import io.deia.core.agent.TurnStatus;
import io.deia.core.config.DeiaConfig;
import io.deia.core.config.Profile;
import io.deia.core.internal.DenyPatterns;
import io.deia.core.internal.io.LogSafe;
import io.deia.core.project.TaskChange;
import io.deia.core.task.Task;
import io.deia.core.task.TaskEvent;
import io.deia.core.task.TaskEventListener;
import io.deia.core.task.TaskExecutor;
import io.deia.core.task.TaskFileParser;
import io.deia.core.task.TaskResponse;
import io.deia.core.task.TaskStatus;
import io.nats.client.Connection;
import io.nats.client.Message;
import io.nats.client.impl.NatsJetStreamMetaData;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * The one loop of a {@link NatsTaskWorker}, on its thread: take the next task ({@link
 * PriorityPuller}), hold its lease while it runs (an {@code inProgress} every third of the lease,
 * from a timer thread), run the attempt this delivery stands for, then either give it back for a
 * retry (NAK with the back-off as delay) or store its one final response ({@link NatsResponses})
 * and ack it. The response write is retried until it succeeds or the worker closes: the result
 * waits in memory through a lost connection, and is never stored twice.
 */
final class NatsTaskLoop implements Runnable {
    private static final Logger log = LoggerFactory.getLogger(NatsTaskLoop.class);
    private static final long MAX_RETRY_WAIT_MS = 5000;

    private final String botId;
    private final Connection connection;
    private final String hive;
    private final String stream;
    private final TaskFileParser parser;
    private final Profile profile;
    private final DenyPatterns denyPatterns;
    private final TaskExecutor executor;
    private final TaskEventListener listener;
    private final Duration ackWait;
    private final NatsResponses responses;
    private final CountDownLatch closing = new CountDownLatch(1);
    private final Object lock = new Object();
    private PriorityPuller puller;
    private ScheduledExecutorService leases;
    private Thread running;
    private volatile boolean closed;
    private volatile String currentTaskId;

    NatsTaskLoop(String botId, Connection connection, String hive, DeiaConfig config, Profile profile, TaskExecutor executor,
                 TaskEventListener listener, Duration ackWait) {
        this.botId = botId;
        this.connection = connection;
        this.hive = hive;
        this.stream = NatsTaskStreams.streamName(hive);
        this.parser = new TaskFileParser(config.maxTaskBytes());
        this.profile = profile;
        this.denyPatterns = DenyPatterns.of(profile);
        this.executor = executor;
        this.listener = listener;
        this.ackWait = ackWait;
        this.responses = new NatsResponses(connection, hive);
    }

    /** Binds the consumers and the hints; before {@link #run()}. */
    void bind() {
        puller = new PriorityPuller(connection, hive, botId);
        leases = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "deia-nats-task-lease-" + botId);
            t.setDaemon(true);
            return t;
        });
    }

    String currentTaskId() {
        return currentTaskId;
    }

    /** Ends the loop: a running attempt is interrupted, a wait for work ends. */
    void close() {
        synchronized (lock) {
            closed = true;
            closing.countDown();
            if (running != null) {
                running.interrupt();
            }
        }
        if (puller != null) {
            puller.wake();
        }
    }

    @Override
    public void run() {
        boolean troubled = false;
        try {
            while (!closed) {
                if (connection.getStatus() == Connection.Status.CLOSED) {
                    log.error("[{}] the NATS connection is closed; the task worker stops", botId);
                    return;
                }
                try {
                    Message m = puller.next();
                    if (troubled) {
                        log.info("[{}] task queue reachable again", botId);
                        troubled = false;
                    }
                    if (m != null) {
                        process(m);
                    }
                } catch (InterruptedException e) {
                    Thread.interrupted();
                } catch (IOException | io.nats.client.JetStreamApiException | RuntimeException e) {
                    if (closed) {
                        return;
                    }
                    // A server lost, a leader being elected: the client reconnects, the next pull works.
                    if (!troubled) {
                        log.warn("[{}] cannot take tasks now ({}); trying again", botId, LogSafe.printable(e.toString()));
                        troubled = true;
                    }
                    pause(250);
                }
            }
        } finally {
            currentTaskId = null;
            puller.unsubscribe();
            leases.shutdownNow();
        }
    }

    private void process(Message m) {
        NatsJetStreamMetaData meta = m.metaData();
        String claim = stream + "/" + meta.streamSequence();
        int delivery = (int) Math.min(Integer.MAX_VALUE, meta.deliveredCount());
        String fallback = TaskMessages.fallbackId(m.getHeaders(), meta.streamSequence());
        Task task = null;
        String refused = null;
        try {
            task = parser.parse(m.getData() == null ? new byte[0] : m.getData(), fallback + ".md", meta.timestamp().toInstant());
            refused = denyPatterns.refusal("task " + task.taskId(), task.prompt()).orElse(null);
        } catch (DeiaException e) {
            refused = e.getMessage();
        }
        String taskId = task != null ? task.taskId() : fallback;
        currentTaskId = taskId;
        ScheduledFuture<?> lease = hold(m);
        try {
            if (delivery > 1) {
                // Only a redelivery can have a response already: its ack was lost, or its lease ran out.
                Optional<String> answered = responses.findByClaim(botId, taskId, claim);
                if (answered.isPresent()) {
                    ack(m, taskId);
                    log.info("[{}] task {} already had its response {}; acked", botId, taskId, answered.get());
                    return;
                }
            }
            log.info("[{}] claimed task {} (P{}, delivery {}, {})", botId, taskId, task == null ? "?" : task.priority(),
                    delivery, claim);
            emit(taskId, TaskEvent.CLAIMED, null, delivery - 1, null);
            if (refused != null) {
                Instant now = Instant.now();
                finish(m, claim, new TaskResponse(taskId, botId, TaskStatus.REJECTED, delivery - 1, now, now, 0, null,
                        profile.agent().id(), null, null, null, null, "", refused, null), TaskEvent.REJECTED);
            } else {
                runAttempt(m, claim, task, delivery);
            }
        } finally {
            lease.cancel(false);
            currentTaskId = null;
        }
    }

    private void runAttempt(Message m, String claim, Task task, int n) {
        int max = profile.maxAttempts();
        if (n > max) {
            Instant now = Instant.now();
            finish(m, claim, new TaskResponse(task.taskId(), botId, TaskStatus.FAILED, n - 1, now, now, 0, null,
                    profile.agent().id(), null, null, null, null, "", "attempt " + (n - 1) + " of " + max
                    + " was cut short (its worker stopped or crashed while running it); no attempt is left", changeOf(task)),
                    TaskEvent.FAILED);
            return;
        }
        Duration timeout = task.timeout() != null ? task.timeout() : profile.timeout();
        emit(task.taskId(), TaskEvent.STARTED, null, n, null);
        log.info("[{}] task {} attempt {}/{} started (timeout {} s)", botId, task.taskId(), n, max, timeout.toSeconds());
        Instant start = Instant.now();
        TurnResult result = execute(task, n, timeout, start);
        if (closed && result.status() == TurnStatus.INTERRUPTED) {
            log.info("[{}] task {} interrupted by shutdown; back to the queue (attempt {} counted)", botId, task.taskId(), n);
            nak(m, task.taskId(), Duration.ZERO);
            return;
        }
        if (result.status() == TurnStatus.COMPLETED || result.status() == TurnStatus.INTERRUPTED || n >= max) {
            TaskResponse r = TaskResponses.of(task.taskId(), botId, profile.agent().id(), result, n, start, changeOf(task));
            finish(m, claim, r, r.status() == TaskStatus.COMPLETED ? TaskEvent.COMPLETED : TaskEvent.FAILED);
            return;
        }
        long backoff = profile.retryBackoffMs() * (1L << Math.min(20, n - 1));
        log.warn("[{}] task {} attempt {}/{} {}: {}; retrying in {} ms", botId, task.taskId(), n, max,
                result.status().id(), LogSafe.printable(result.error(), 2000), backoff);
        emit(task.taskId(), TaskEvent.RETRYING, null, n, result.error());
        nak(m, task.taskId(), Duration.ofMillis(backoff));
    }

    /** Stores the final response (retrying through connection trouble), then acks the task. */
    private void finish(Message m, String claim, TaskResponse response, String event) {
        TaskResponse r = TaskResponses.fitting(response, connection.getMaxPayload());
        long wait = 100;
        String id;
        while (true) {
            try {
                id = responses.write(r, claim);
                break;
            } catch (IOException | RuntimeException e) {
                if (e instanceof DeiaException d && d.code() == ErrorCode.CONFLICT) {
                    log.error("[{}] cannot store the response of task {}: {}; the task stays in the queue", botId,
                            r.taskId(), d.getMessage());
                    return;
                }
                log.warn("[{}] cannot store the response of task {} yet ({}); kept and retried in {} ms", botId,
                        r.taskId(), LogSafe.printable(e.toString()), wait);
                if (pause(wait)) {
                    log.error("[{}] the worker closes before the response of task {} could be stored; the task is "
                            + "delivered again and its response written once", botId, r.taskId());
                    return;
                }
                wait = Math.min(MAX_RETRY_WAIT_MS, wait * 2);
            }
        }
        ack(m, id);
        if (TaskEvent.REJECTED.equals(event)) {
            log.warn("[{}] rejected task {}: {}", botId, id, LogSafe.printable(r.error()));
        } else {
            log.info("[{}] task {} {} after {} attempt(s) in {} ms; response {}", botId, id, r.status().id(), r.attempt(),
                    r.durationMs(), NatsResponses.key(botId, id));
        }
        emit(id, event, r.status(), r.attempt(), r.error());
    }

    /** Renews the lease of {@code m} every third of the ack wait while it is held. */
    private ScheduledFuture<?> hold(Message m) {
        long period = Math.max(100, ackWait.toMillis() / 3);
        return leases.scheduleAtFixedRate(() -> {
            try {
                m.inProgress();
            } catch (RuntimeException e) {
                log.debug("[{}] cannot renew a task lease: {}", botId, e.toString());
            }
        }, period, period, TimeUnit.MILLISECONDS);
    }

    private TurnResult execute(Task task, int attempt, Duration timeout, Instant start) {
        synchronized (lock) {
            if (closed) {
                return interrupted("worker closing", start);
            }
            running = Thread.currentThread();
        }
        try {
            TurnResult r = executor.execute(task, attempt, timeout, AgentEventListener.NONE);
            return r != null ? r : TurnResult.failed("the executor returned no result", elapsed(start), null);
        } catch (RuntimeException e) {
            return closed ? interrupted(e.toString(), start) : TurnResult.failed("executor failed: " + e, elapsed(start), null);
        } finally {
            synchronized (lock) {
                running = null;
                // An interrupt meant for the executor must not reach the next pull.
                Thread.interrupted();
            }
        }
    }

    private TaskChange changeOf(Task task) {
        try {
            return executor.changeOf(task).orElse(null);
        } catch (RuntimeException e) {
            log.error("[{}] task {}: cannot read what it changed in its project; the response goes without it: {}",
                    botId, task.taskId(), LogSafe.printable(e.getMessage()));
            return null;
        }
    }

    private void ack(Message m, String taskId) {
        try {
            m.ack();
        } catch (RuntimeException e) {
            // The response is stored: a redelivery finds it and only acks.
            log.warn("[{}] cannot ack task {} ({}); it is delivered again and then only acked", botId, taskId, e.toString());
        }
    }

    private void nak(Message m, String taskId, Duration delay) {
        try {
            if (delay.isZero()) {
                m.nak();
            } else {
                m.nakWithDelay(delay);
            }
        } catch (RuntimeException e) {
            log.warn("[{}] cannot give task {} back ({}); it is delivered again when its lease ends", botId, taskId,
                    e.toString());
        }
    }

    private void emit(String taskId, String event, TaskStatus status, int attempt, String error) {
        try {
            listener.onTaskEvent(new TaskEvent(botId, taskId, event, status, attempt, error));
        } catch (RuntimeException e) {
            log.warn("[{}] task event listener failed on {} {}: {}", botId, event, taskId, e.toString());
        }
    }

    /** Waits {@code millis}; true when the worker closes meanwhile. */
    private boolean pause(long millis) {
        try {
            return closing.await(millis, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            return closed;
        }
    }

    private static TurnResult interrupted(String why, Instant start) {
        return new TurnResult(TurnStatus.INTERRUPTED, "", null, null, null, null, elapsed(start), null, why);
    }

    private static long elapsed(Instant start) {
        return Duration.between(start, Instant.now()).toMillis();
    }
}
