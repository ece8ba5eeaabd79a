package io.deia.nats;

import io.deia.core.DeiaException;
import io.deia.core.config.DeiaConfig;
import io.deia.core.internal.BotIds;
import io.deia.core.task.Task;
import io.deia.core.task.TaskFileParser;
import io.deia.core.task.TaskIds;
import io.deia.core.task.TaskQueue;
import io.deia.core.task.TaskResponse;
import io.nats.client.Connection;
import io.nats.client.JetStream;
import io.nats.client.JetStreamApiException;
import io.nats.client.JetStreamManagement;
import io.nats.client.PublishOptions;
import io.nats.client.api.ConsumerInfo;
import io.nats.client.api.MessageInfo;
import io.nats.client.api.PublishAck;
import io.nats.client.impl.Headers;
import io.nats.client.impl.NatsMessage;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;

/**
 * The {@link TaskQueue} of a hive shared through NATS JetStream (see {@link NatsTaskStreams} for the
 * stream and bucket, which must exist): what submitters on any machine use to hand work to a bot,
 * run by that bot's {@link NatsTaskWorker}s wherever they are.
 *
 * <p>{@link #submit} validates like the file backend ({@code max_task_bytes}, UTF-8, front matter, a
 * prompt; the same parser the worker uses), gives the task a {@code task_id} when it has none, and a
 * suffixed id ({@code <id>-2}, …) when its id already has a response, then publishes it to
 * {@code deia.<H>.tasks.<BOT-ID>.P<priority>} with {@code Nats-Msg-Id: <BOT-ID>/<task-id>} and waits
 * for JetStream's ack: when it returns the task is stored (on every replica of the stream), and a
 * submit retried within {@link NatsTaskStreams#DUPLICATE_WINDOW} with the same task id is stored once.
 * The message id carries the bot id because de-duplication is per stream: two bots may be given the
 * same task id. Thread-safe.
 */
public final class NatsTaskQueue implements TaskQueue {
    private static final Logger log = LoggerFactory.getLogger(NatsTaskQueue.class);
    /** Room left in a message for its headers under the server's {@code max_payload}. */
    private static final int HEADER_ROOM = 512;

    private final Connection connection;
    private final String hive;
    private final String stream;
    private final TaskFileParser parser;
    private final NatsResponses responses;
    private final JetStream js;
    private final JetStreamManagement jsm;

    /**
     * @param connection an open connection (not closed by this queue)
     * @param hive       the shared hive's name ({@code backend.name})
     * @param config     {@code max_task_bytes}
     */
    public NatsTaskQueue(Connection connection, String hive, DeiaConfig config) {
        this.connection = connection;
        this.hive = hive;
        this.stream = NatsTaskStreams.streamName(hive);
        this.parser = new TaskFileParser(config.maxTaskBytes());
        this.responses = new NatsResponses(connection, hive);
        try {
            this.js = connection.jetStream();
            this.jsm = connection.jetStreamManagement();
        } catch (IOException e) {
            throw DeiaException.unavailable("JetStream is not available: %s", e.getMessage());
        }
    }

    @Override
    public String submit(String botId, String markdown) {
        BotIds.requireValid(botId);
        if (markdown == null) {
            throw DeiaException.invalid("the task is empty");
        }
        byte[] raw = markdown.getBytes(StandardCharsets.UTF_8);
        checkSize(raw.length, "");
        Task task = parser.parse(raw, "the task", Instant.now());
        String text = markdown;
        String id = parser.declaresTaskId(text, "the task") ? task.taskId() : TaskIds.generate();
        String free = freeId(botId, id);
        if (!free.equals(task.taskId())) {
            text = TaskMessages.withTaskId(text, free);
            raw = text.getBytes(StandardCharsets.UTF_8);
            checkSize(raw.length, " with its task_id");
            task = parser.parseText(text, "the task", Instant.now());
        }
        Headers headers = new Headers().put("Nats-Msg-Id", botId + "/" + free);
        NatsMessage msg = NatsMessage.builder().subject(NatsTaskStreams.subject(hive, botId, task.priority()))
                .headers(headers).data(raw).build();
        PublishAck ack;
        try {
            ack = js.publish(msg, PublishOptions.builder().expectedStream(stream).build());
        } catch (IOException e) {
            throw DeiaException.unavailable("cannot submit task %s to %s: JetStream did not confirm it (%s); submitting "
                    + "the same task again is safe", free, botId, e.getMessage());
        } catch (JetStreamApiException e) {
            throw DeiaException.unavailable("JetStream refused task %s for %s: %s", free, botId, e.getMessage());
        }
        if (ack.isDuplicate()) {
            log.info("[{}] task {} was submitted before (sequence {}); stored once", botId, free, ack.getSeqno());
        } else {
            log.info("[{}] task {} submitted (P{}, sequence {})", botId, free, task.priority(), ack.getSeqno());
        }
        return free;
    }

    /** The id itself, or the first suffixed id without a response (as the file backend names responses). */
    private String freeId(String botId, String id) {
        if (!responses.exists(botId, id)) {
            return id;
        }
        for (int n = 2; n < 100_000; n++) {
            String candidate = id + "-" + n;
            if (TaskIds.isValid(candidate) && !responses.exists(botId, candidate)) {
                return candidate;
            }
        }
        throw DeiaException.conflict("task id %s has too many responses already", id);
    }

    private void checkSize(int bytes, String what) {
        if (bytes > parser.maxBytes()) {
            throw DeiaException.tooLarge("the task is %d bytes%s; the limit (max_task_bytes) is %d", bytes, what,
                    parser.maxBytes());
        }
        long max = connection.getMaxPayload() - HEADER_ROOM;
        if (bytes > max) {
            throw DeiaException.tooLarge("the task is %d bytes%s; the NATS server takes messages up to %d bytes "
                    + "(its max_payload)", bytes, what, max);
        }
    }

    /**
     * Tasks not finished, in the order the bot's workers take them: first those delivered to a
     * worker and not acked yet ({@code running}; {@code attempt} 1, as JetStream keeps a message's
     * delivery count to itself), then the waiting ones ({@code queued}) by priority, then arrival.
     */
    @Override
    public List<TaskInfo> pending(String botId) {
        BotIds.requireValid(botId);
        long[] delivered = new long[NatsTaskStreams.PRIORITIES];
        try {
            for (int p = 0; p < delivered.length; p++) {
                delivered[p] = deliveredUpTo(NatsTaskStreams.consumerName(botId, p));
            }
            List<Pending> all = new ArrayList<>();
            String filter = NatsTaskStreams.botSubjects(hive, botId);
            long seq = 1;
            while (true) {
                MessageInfo m;
                try {
                    m = jsm.getNextMessage(stream, seq, filter);
                } catch (JetStreamApiException e) {
                    if (e.getErrorCode() == 404 || e.getApiErrorCode() == 10037) {
                        break;
                    }
                    throw e;
                }
                int priority = m.getSubject().charAt(m.getSubject().length() - 1) - '0';
                Optional<Task> t = tryParse(m);
                String id = t.map(Task::taskId).orElse(TaskMessages.fallbackId(m.getHeaders(), m.getSeq()));
                boolean running = m.getSeq() <= delivered[priority];
                Instant created = t.map(Task::createdAt).orElse(m.getTime() == null ? null : m.getTime().toInstant());
                all.add(new Pending(m.getSeq(), new TaskInfo(id, running ? "running" : "queued", priority,
                        running ? 1 : 0, created)));
                seq = m.getSeq() + 1;
            }
            all.sort(Comparator.comparing((Pending x) -> x.info.state().equals("running") ? 0 : 1)
                    .thenComparingInt(x -> x.info.state().equals("running") ? 0 : x.info.priority())
                    .thenComparingLong(x -> x.seq));
            return all.stream().map(x -> x.info).toList();
        } catch (IOException | JetStreamApiException e) {
            throw DeiaException.unavailable("cannot list the tasks of %s in %s: %s", botId, stream, e.getMessage());
        }
    }

    private record Pending(long seq, TaskInfo info) {
    }

    private long deliveredUpTo(String consumer) throws IOException, JetStreamApiException {
        try {
            ConsumerInfo ci = jsm.getConsumerInfo(stream, consumer);
            return ci.getDelivered().getStreamSequence();
        } catch (JetStreamApiException e) {
            if (NatsTaskStreams.isNotFound(e)) {
                return 0;
            }
            throw e;
        }
    }

    private Optional<Task> tryParse(MessageInfo m) {
        try {
            return Optional.of(parser.parse(m.getData(), TaskMessages.fallbackId(m.getHeaders(), m.getSeq()) + ".md",
                    m.getTime() == null ? Instant.now() : m.getTime().toInstant()));
        } catch (DeiaException e) {
            return Optional.empty();
        }
    }

    @Override
    public Optional<TaskResponse> response(String botId, String taskId) {
        BotIds.requireValid(botId);
        return responses.read(botId, taskId);
    }

    @Override
    public List<TaskResponse> responses(String botId, int limit) {
        return responseListing(botId, limit).responses();
    }

    @Override
    public ResponseListing responseListing(String botId, int limit) {
        BotIds.requireValid(botId);
        if (limit < 0) {
            throw DeiaException.invalid("limit must be >= 0, was %d", limit);
        }
        return responses.listing(botId, limit);
    }
}
