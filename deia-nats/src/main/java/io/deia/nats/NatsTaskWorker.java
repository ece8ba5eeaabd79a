package io.deia.nats;

import io.deia.core.DeiaException;
import io.deia.core.config.DeiaConfig;
import io.deia.core.config.Profile;
import io.deia.core.internal.BotIds;
import io.deia.core.task.TaskEventListener;
import io.deia.core.task.TaskExecutor;
import io.nats.client.Connection;
import io.nats.client.JetStreamApiException;
import io.nats.client.JetStreamManagement;
import io.nats.client.api.AckPolicy;
import io.nats.client.api.ConsumerConfiguration;
import io.nats.client.api.ConsumerInfo;
import io.nats.client.api.DeliverPolicy;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.time.Duration;
import java.util.Objects;

/**
 * Runs one bot's tasks from the hive's JetStream task queue (see {@link NatsTaskStreams}) on one
 * thread, like {@link io.deia.core.task.TaskQueueMonitor} runs the file inbox: takes them one at a
 * time, P0 before P1 before P2 before P3 and oldest first within a priority, runs each through a
 * {@link TaskExecutor}, writes exactly one final response into the responses bucket and acks the
 * task. Several workers of one bot (on one machine or several) share its consumers: JetStream hands
 * each task to one of them. Made with {@link #builder()}.
 *
 * <p><b>Consumers.</b> One durable pull consumer per priority, {@code <BOT-ID>-P<n>}, filtered on
 * {@code deia.<H>.tasks.<BOT-ID>.P<n>}, explicit ack, {@code AckWait} = the lease (30 s unless set),
 * {@code MaxDeliver} = the profile's {@code max_attempts} + 1. {@link #start()} creates or updates
 * them.
 *
 * <p><b>Lease and attempts.</b> A delivered task is leased to its worker for {@code AckWait}; while
 * its turn runs the worker renews the lease every third of it ({@code inProgress}). Delivery n is
 * attempt n: a failed attempt is given back with the profile's back-off as delay
 * ({@code retry_backoff_ms} × 2<sup>n-1</sup>, a NAK with delay) and comes back as attempt n+1, to
 * this worker or another; a worker that dies mid-turn stops renewing, so the task is delivered again
 * once the lease runs out, and the attempt it cut short counts. A delivery after the last attempt
 * (the one MaxDeliver keeps for this) runs nothing and writes a {@code failed} response.
 *
 * <p><b>Exactly one final response.</b> The response is written with KV {@code create} and names
 * its task message ({@code claim: <stream>/<sequence>}); only then is the task acked. A redelivered
 * task whose response exists (its ack was lost) is only acked. Should a task run twice (its lease
 * ran out during a network partition), the second response finds the first and is dropped.
 *
 * <p><b>Bad input</b> (not UTF-8, binary, unreadable front matter, no prompt, over
 * {@code max_task_bytes}) and prompts matching a deny pattern of the profile get a {@code rejected}
 * response, as in the file backend.
 */
public final class NatsTaskWorker implements AutoCloseable {
    /** The lease when none is set. */
    public static final Duration DEFAULT_ACK_WAIT = Duration.ofSeconds(30);

    private static final Logger log = LoggerFactory.getLogger(NatsTaskWorker.class);
    private static final Duration CLOSE_WAIT = Duration.ofSeconds(30);

    private final String botId;
    private final Connection connection;
    private final String hive;
    private final Profile profile;
    private final Duration ackWait;
    private final NatsTaskLoop loop;
    private Thread thread;
    private boolean started;
    private boolean closed;
    private volatile int lastPending;

    private NatsTaskWorker(Builder b) {
        this.botId = BotIds.requireValid(b.botId);
        this.connection = Objects.requireNonNull(b.connection, "connection");
        this.hive = Objects.requireNonNull(b.hive, "hive");
        this.profile = Objects.requireNonNull(b.profile, "profile");
        this.ackWait = b.ackWait == null ? DEFAULT_ACK_WAIT : b.ackWait;
        if (ackWait.toMillis() < 300) {
            throw DeiaException.invalid("ackWait must be at least 300 ms, was %d ms", ackWait.toMillis());
        }
        this.loop = new NatsTaskLoop(botId, connection, hive, Objects.requireNonNull(b.config, "config"), profile,
                Objects.requireNonNull(b.executor, "executor"), b.listener == null ? TaskEventListener.NONE : b.listener,
                ackWait);
    }

    /** A builder; bot id, connection, hive, config, profile and executor are required. */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Creates or updates the bot's four consumers, binds them and starts the worker thread.
     *
     * @throws DeiaException {@code UNAVAILABLE} when the stream is missing ({@link NatsTaskStreams#ensure}
     *         first) or JetStream cannot be reached; {@code CONFLICT} when started before
     */
    public synchronized void start() {
        if (started) {
            throw DeiaException.conflict("task worker of %s already started", botId);
        }
        String stream = NatsTaskStreams.streamName(hive);
        try {
            JetStreamManagement jsm = connection.jetStreamManagement();
            for (int p = 0; p < NatsTaskStreams.PRIORITIES; p++) {
                jsm.addOrUpdateConsumer(stream, ConsumerConfiguration.builder()
                        .durable(NatsTaskStreams.consumerName(botId, p))
                        .filterSubject(NatsTaskStreams.subject(hive, botId, p))
                        .ackPolicy(AckPolicy.Explicit)
                        .deliverPolicy(DeliverPolicy.All)
                        .ackWait(ackWait)
                        .maxDeliver(profile.maxAttempts() + 1L)
                        .build());
            }
        } catch (IOException | JetStreamApiException e) {
            throw DeiaException.unavailable("cannot create the task consumers of %s on stream %s (does it exist? "
                    + "NatsTaskStreams.ensure creates it): %s", botId, stream, e.getMessage());
        }
        loop.bind();
        started = true;
        thread = new Thread(loop, "deia-nats-task-worker-" + botId);
        thread.start();
        log.info("[{}] task worker started on {} (lease {} ms, {} attempt(s))", botId, stream, ackWait.toMillis(),
                profile.maxAttempts());
    }

    /**
     * Stops taking tasks and waits for the worker. A running turn is interrupted; the task it ran
     * goes back to the queue (attempt counted) for the next worker.
     */
    @Override
    public void close() {
        Thread t;
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            t = thread;
        }
        loop.close();
        if (t != null && t != Thread.currentThread()) {
            try {
                t.join(CLOSE_WAIT.toMillis());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            if (t.isAlive()) {
                log.warn("[{}] task worker still busy {} s after close; its task goes back to the queue when its lease ends",
                        botId, CLOSE_WAIT.toSeconds());
            }
        }
        log.info("[{}] task worker closed", botId);
    }

    /**
     * Tasks of this bot waiting or delivered and not acked, across all its workers (asked from the
     * server; the last known count when it cannot be reached).
     */
    public int pendingCount() {
        try {
            JetStreamManagement jsm = connection.jetStreamManagement();
            long n = 0;
            for (int p = 0; p < NatsTaskStreams.PRIORITIES; p++) {
                ConsumerInfo ci = jsm.getConsumerInfo(NatsTaskStreams.streamName(hive), NatsTaskStreams.consumerName(botId, p));
                n += ci.getNumPending() + ci.getNumAckPending();
            }
            lastPending = (int) Math.min(Integer.MAX_VALUE, n);
        } catch (IOException | JetStreamApiException | RuntimeException e) {
            log.debug("[{}] cannot count pending tasks: {}", botId, e.toString());
        }
        return lastPending;
    }

    /** The task this worker is working on, or null when idle. */
    public String currentTaskId() {
        return loop.currentTaskId();
    }

    /** Builds a {@link NatsTaskWorker}. */
    public static final class Builder {
        private String botId;
        private Connection connection;
        private String hive;
        private DeiaConfig config;
        private Profile profile;
        private TaskExecutor executor;
        private TaskEventListener listener;
        private Duration ackWait;

        private Builder() {
        }

        /** The bot whose tasks the worker runs. */
        public Builder botId(String botId) {
            this.botId = botId;
            return this;
        }

        /** An open connection (not closed by the worker). */
        public Builder connection(Connection connection) {
            this.connection = connection;
            return this;
        }

        /** The shared hive's name ({@code backend.name}). */
        public Builder hive(String hive) {
            this.hive = hive;
            return this;
        }

        /** Limits ({@code max_task_bytes}). */
        public Builder config(DeiaConfig config) {
            this.config = config;
            return this;
        }

        /** Timeout, attempts, back-off, deny patterns and the agent named in responses. */
        public Builder profile(Profile profile) {
            this.profile = profile;
            return this;
        }

        /** Runs one attempt of a task. */
        public Builder executor(TaskExecutor executor) {
            this.executor = executor;
            return this;
        }

        /** Receives every transition, on the worker's thread; none when not set. */
        public Builder listener(TaskEventListener listener) {
            this.listener = listener;
            return this;
        }

        /** The lease ({@code AckWait}) of a delivered task; {@link #DEFAULT_ACK_WAIT} when not set. */
        public Builder ackWait(Duration ackWait) {
            this.ackWait = ackWait;
            return this;
        }

        /** The worker, not started yet. */
        public NatsTaskWorker build() {
            return new NatsTaskWorker(this);
        }
    }
}
