package io.deia.nats;

import io.deia.core.DeiaException;
import io.nats.client.ConsumerContext;
import io.nats.client.Connection;
import io.nats.client.FetchConsumeOptions;
import io.nats.client.FetchConsumer;
import io.nats.client.JetStream;
import io.nats.client.JetStreamApiException;
import io.nats.client.JetStreamSubscription;
import io.nats.client.Message;
import io.nats.client.PullSubscribeOptions;
import io.nats.client.Subscription;

import java.io.IOException;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;

/**
 * Takes one bot's tasks one at a time, P0 before P1 before P2 before P3, from the bot's four durable
 * pull consumers (JetStream has no per-message priority, so each priority is a subject and a
 * consumer of its own). Asking an empty consumer costs a round trip, so the puller only asks the
 * priorities that may hold something:
 *
 * <ul>
 *   <li>a priority that may hold something is asked with {@code no_wait}: the server answers at once,
 *       with a task or with "none";</li>
 *   <li>a plain NATS subscription on {@code deia.<H>.tasks.<BOT-ID>.*} sees every task as it is
 *       published: a <i>hint</i> that its priority has work. The hint can arrive before the stream
 *       has stored the task, so a hinted priority is fetched with a short wait ({@link #HINT_WAIT}),
 *       which returns as soon as the task is there;</li>
 *   <li>a delivered task says how many more its consumer holds; none left clears the priority;</li>
 *   <li>redeliveries (a lease that ran out, a retry after its back-off) publish nothing, so an idle
 *       puller asks every priority again every {@link #RESCAN} (as the file inbox rescans).</li>
 * </ul>
 *
 * Used by one worker thread.
 */
final class PriorityPuller {
    /** How long a hinted priority's fetch waits for the stream to store the task. */
    static final Duration HINT_WAIT = Duration.ofMillis(50);
    private static final FetchConsumeOptions NO_WAIT = FetchConsumeOptions.builder().maxMessages(1).noWait().build();
    /** How often an idle puller asks every priority. */
    static final Duration RESCAN = Duration.ofSeconds(1);

    private static final int NONE = 0;
    private static final int CHECK = 1;
    private static final int HINTED = 2;
    private static final int MORE = 3;

    private final JetStreamSubscription[] consumers = new JetStreamSubscription[NatsTaskStreams.PRIORITIES];
    private final ConsumerContext[] contexts = new ConsumerContext[NatsTaskStreams.PRIORITIES];
    private final Subscription hints;
    private final int[] state = new int[NatsTaskStreams.PRIORITIES];
    private long dropped;

    PriorityPuller(Connection connection, String hive, String botId) {
        String stream = NatsTaskStreams.streamName(hive);
        try {
            JetStream js = connection.jetStream();
            for (int p = 0; p < consumers.length; p++) {
                consumers[p] = js.subscribe(null, PullSubscribeOptions.bind(stream, NatsTaskStreams.consumerName(botId, p)));
                contexts[p] = connection.getStreamContext(stream).getConsumerContext(NatsTaskStreams.consumerName(botId, p));
            }
        } catch (IOException | JetStreamApiException e) {
            unsubscribe();
            throw DeiaException.unavailable("cannot bind the task consumers of %s on %s: %s", botId, stream, e.getMessage());
        }
        hints = connection.subscribe(NatsTaskStreams.botSubjects(hive, botId));
        Arrays.fill(state, CHECK);
    }

    /**
     * The next task in priority order, or null after waiting up to {@link #RESCAN} for a hint when
     * no priority had one. The task is delivered (leased) to the caller, who must ack or nak it.
     */
    Message next() throws InterruptedException, IOException, JetStreamApiException {
        drainHints();
        for (int p = 0; p < consumers.length; p++) {
            Message m = late(p);
            if (m == null && state[p] != NONE) {
                // A priority known to hold more, or just hinted, is fetched on the long-lived subscription;
                // one that may be empty is asked with no_wait (a subscription per ask: slower, but it
                // answers "none" at once).
                m = state[p] == CHECK ? noWait(p) : first(consumers[p].fetch(1, HINT_WAIT));
            }
            if (m == null) {
                state[p] = NONE;
                continue;
            }
            state[p] = m.metaData().pendingCount() > 0 ? MORE : NONE;
            return m;
        }
        Message hint = hints.nextMessage(RESCAN);
        if (hint == null) {
            Arrays.fill(state, CHECK);
        } else {
            hinted(hint);
        }
        return null;
    }

    /**
     * A task delivered for an earlier fetch after that fetch gave up waiting: it is leased to this
     * worker, so it is taken now rather than left to run out its lease.
     */
    private Message late(int p) throws InterruptedException {
        while (consumers[p].getPendingMessageCount() > 0) {
            Message m = consumers[p].nextMessage(Duration.ofMillis(1));
            if (m != null && m.isJetStream()) {
                return m;
            }
        }
        return null;
    }

    private Message noWait(int p) throws InterruptedException, IOException, JetStreamApiException {
        FetchConsumer f = contexts[p].fetch(NO_WAIT);
        try {
            return f.nextMessage();
        } catch (io.nats.client.JetStreamStatusCheckedException e) {
            throw new IOException(e.getMessage(), e);
        } finally {
            try {
                f.close();
            } catch (Exception e) {
                // Its subscription is gone with the connection: nothing left to release.
            }
        }
    }

    private static Message first(List<Message> got) {
        return got.isEmpty() ? null : got.get(0);
    }

    /** Ends a wait for a hint at once (the worker closes). */
    void wake() {
        try {
            hints.unsubscribe();
        } catch (IllegalStateException e) {
            // The connection is closed: nothing waits on it any more.
        }
    }

    /** Unsubscribes from the consumers (they stay on the server for the next worker) and the hints. */
    void unsubscribe() {
        for (JetStreamSubscription s : consumers) {
            if (s != null) {
                try {
                    s.unsubscribe();
                } catch (IllegalStateException e) {
                    // Already closed with the connection.
                }
            }
        }
        if (hints != null) {
            wake();
        }
    }

    private void drainHints() throws InterruptedException {
        if (hints.getDroppedCount() != dropped) {
            // The hint buffer overflowed during a long turn: anything may be waiting.
            dropped = hints.getDroppedCount();
            Arrays.fill(state, CHECK);
        }
        while (hints.getPendingMessageCount() > 0) {
            Message hint = hints.nextMessage(Duration.ofMillis(1));
            if (hint == null) {
                return;
            }
            hinted(hint);
        }
    }

    private void hinted(Message hint) {
        String s = hint.getSubject();
        int p = s.charAt(s.length() - 1) - '0';
        if (s.length() > 2 && s.charAt(s.length() - 2) == 'P' && p >= 0 && p < state.length) {
            state[p] = HINTED;
        }
    }
}
