package io.deia.nats;

import io.deia.core.DeiaException;
import io.deia.core.internal.BotIds;
import io.nats.client.Connection;
import io.nats.client.JetStreamApiException;
import io.nats.client.JetStreamManagement;
import io.nats.client.KeyValueManagement;
import io.nats.client.api.KeyValueConfiguration;
import io.nats.client.api.KeyValueStatus;
import io.nats.client.api.RetentionPolicy;
import io.nats.client.api.StorageType;
import io.nats.client.api.StreamConfiguration;
import io.nats.client.api.StreamInfo;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.time.Duration;
import java.util.List;

/**
 * The names and the JetStream settings of a hive's task queue, and {@link #ensure} that creates or
 * binds them:
 *
 * <ul>
 *   <li>stream {@code deia-<H>-tasks}, subjects {@code deia.<H>.tasks.<BOT-ID>.<P0..P3>}: work-queue
 *       retention (a task leaves the stream when its final response is stored and it is acked), file
 *       storage, no age or size limit (a task is never dropped for space), a duplicate window of
 *       {@link #DUPLICATE_WINDOW} for {@code Nats-Msg-Id} (a submit retried after a lost publish
 *       ack is stored once);</li>
 *   <li>KV bucket {@code deia-<H>-responses}: one final response per key
 *       {@code <BOT-ID>.<task-id>} (history 1, file storage).</li>
 * </ul>
 *
 * {@code H} is the shared hive's name ({@code backend.name}).
 */
public final class NatsTaskStreams {
    /** How long a submitted task id is remembered for de-duplication. */
    public static final Duration DUPLICATE_WINDOW = Duration.ofMinutes(2);
    /** The four priorities, P0 (highest) to P3. */
    public static final int PRIORITIES = 4;

    private static final Logger log = LoggerFactory.getLogger(NatsTaskStreams.class);
    private static final String HIVE_NAME = "^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$";

    private NatsTaskStreams() {
    }

    /** {@code deia-<hive>-tasks}. */
    public static String streamName(String hive) {
        return "deia-" + checkHive(hive) + "-tasks";
    }

    /** {@code deia-<hive>-responses}. */
    public static String bucketName(String hive) {
        return "deia-" + checkHive(hive) + "-responses";
    }

    /** {@code deia.<hive>.tasks.<bot>.P<priority>}: where a task for {@code botId} is published. */
    public static String subject(String hive, String botId, int priority) {
        if (priority < 0 || priority >= PRIORITIES) {
            throw new IllegalArgumentException("priority must be 0..3, was " + priority);
        }
        return botSubjects(hive, botId).replace("*", "P" + priority);
    }

    /** {@code deia.<hive>.tasks.<bot>.*}: every priority of one bot. */
    public static String botSubjects(String hive, String botId) {
        return "deia." + checkHive(hive) + ".tasks." + BotIds.requireValid(botId) + ".*";
    }

    /** The durable pull consumer of one bot and priority: {@code <bot>-P<priority>}. */
    public static String consumerName(String botId, int priority) {
        return BotIds.requireValid(botId) + "-P" + priority;
    }

    /**
     * Creates the task stream and the responses bucket of {@code hive}, or binds them when they
     * exist. Existing ones with other settings are updated when JetStream allows it (replicas, the
     * duplicate window, history); a different retention or storage is an error and nothing is changed.
     *
     * @param replicas copies of each task and response: 1 on a single server, 3 in a cluster of 3 or more
     * @throws DeiaException {@code CONFLICT} for incompatible existing settings, {@code UNAVAILABLE}
     *         when JetStream cannot be reached or refuses
     */
    public static void ensure(Connection connection, String hive, int replicas) {
        if (replicas < 1 || replicas > 5) {
            throw DeiaException.invalid("replicas must be 1..5, was %d", replicas);
        }
        try {
            ensureStream(connection.jetStreamManagement(), hive, replicas);
            ensureBucket(connection.keyValueManagement(), hive, replicas);
        } catch (IOException e) {
            throw DeiaException.unavailable("cannot reach JetStream to create the task queue of hive %s: %s", hive, e.getMessage());
        } catch (JetStreamApiException e) {
            throw DeiaException.unavailable("JetStream refused the task queue of hive %s: %s", hive, e.getMessage());
        }
    }

    private static void ensureStream(JetStreamManagement jsm, String hive, int replicas) throws IOException, JetStreamApiException {
        String name = streamName(hive);
        StreamConfiguration wanted = StreamConfiguration.builder().name(name)
                .subjects("deia." + hive + ".tasks.*.*")
                .retentionPolicy(RetentionPolicy.WorkQueue)
                .storageType(StorageType.File)
                .replicas(replicas)
                .duplicateWindow(DUPLICATE_WINDOW)
                .description("deia task queue of hive " + hive)
                .build();
        StreamInfo existing = streamInfo(jsm, name);
        if (existing == null) {
            jsm.addStream(wanted);
            log.info("created stream {} ({} replica(s))", name, replicas);
            return;
        }
        StreamConfiguration have = existing.getConfiguration();
        if (have.getRetentionPolicy() != RetentionPolicy.WorkQueue || have.getStorageType() != StorageType.File) {
            throw DeiaException.conflict("stream %s exists with retention %s and storage %s; the task queue needs "
                            + "work-queue retention on file storage (delete the stream or use another hive name)", name,
                    have.getRetentionPolicy(), have.getStorageType());
        }
        if (have.getReplicas() != replicas || !have.getDuplicateWindow().equals(DUPLICATE_WINDOW)
                || !have.getSubjects().equals(List.of("deia." + hive + ".tasks.*.*"))) {
            jsm.updateStream(wanted);
            log.info("updated stream {} to {} replica(s)", name, replicas);
        }
    }

    private static void ensureBucket(KeyValueManagement kvm, String hive, int replicas) throws IOException, JetStreamApiException {
        String name = bucketName(hive);
        KeyValueConfiguration wanted = KeyValueConfiguration.builder().name(name).maxHistoryPerKey(1)
                .storageType(StorageType.File).replicas(replicas)
                .description("deia final task responses of hive " + hive).build();
        KeyValueStatus existing;
        try {
            existing = kvm.getStatus(name);
        } catch (JetStreamApiException e) {
            if (!isNotFound(e)) {
                throw e;
            }
            kvm.create(wanted);
            log.info("created KV bucket {} ({} replica(s))", name, replicas);
            return;
        }
        if (existing.getStorageType() != StorageType.File) {
            throw DeiaException.conflict("KV bucket %s exists on %s storage; the responses need file storage", name,
                    existing.getStorageType());
        }
        if (existing.getReplicas() != replicas || existing.getMaxHistoryPerKey() != 1) {
            kvm.update(wanted);
            log.info("updated KV bucket {} to {} replica(s)", name, replicas);
        }
    }

    private static StreamInfo streamInfo(JetStreamManagement jsm, String name) throws IOException, JetStreamApiException {
        try {
            return jsm.getStreamInfo(name);
        } catch (JetStreamApiException e) {
            if (isNotFound(e)) {
                return null;
            }
            throw e;
        }
    }

    /** JetStream's "stream not found" (10059) and "consumer not found" (10014), and plain 404s. */
    static boolean isNotFound(JetStreamApiException e) {
        return e.getErrorCode() == 404 || e.getApiErrorCode() == 10059 || e.getApiErrorCode() == 10014;
    }

    private static String checkHive(String hive) {
        if (hive == null || !hive.matches(HIVE_NAME)) {
            throw DeiaException.invalid("hive name '%s' is invalid; expected %s", hive, HIVE_NAME);
        }
        return hive;
    }
}
