package io.deia.nats;

import io.deia.core.DeiaException;
import io.deia.core.internal.io.Json;
import io.deia.core.registry.BotRecord;
import io.nats.client.JetStream;
import io.nats.client.JetStreamApiException;
import io.nats.client.JetStreamManagement;
import io.nats.client.Message;
import io.nats.client.KeyValue;
import io.nats.client.KeyValueManagement;
import io.nats.client.api.KeyValueConfiguration;
import io.nats.client.api.KeyValueStatus;
import io.nats.client.api.MessageInfo;
import io.nats.client.api.StorageType;
import io.nats.client.api.StreamConfiguration;
import io.nats.client.impl.Headers;
import io.nats.client.impl.NatsMessage;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.UUID;

/**
 * The registry's KV bucket {@code deia-H-bots}: creating or binding it, and reading and writing
 * values with compare-and-set on the bucket's last sequence. A server that does not answer (a cluster
 * electing a new leader after a member died) is asked again for up to {@link #IO_PATIENCE}; a write
 * whose answer was lost is sent again with the same message id, so it is never applied twice.
 */
final class RegistryBucket {
    /** How long a read or write keeps trying while the servers do not answer. */
    static final Duration IO_PATIENCE = Duration.ofSeconds(20);
    /** JetStream's "wrong last sequence": the bucket was written since it was read. */
    private static final int WRONG_LAST_SEQUENCE = 10071;
    private static final int STREAM_NOT_FOUND = 10059;
    private static final int STREAM_NAME_IN_USE = 10058;
    /** JetStream's "no suitable peers for placement": fewer servers than replicas, for now. */
    private static final int NO_PEERS = 10005;
    /** Written once into a new bucket: see {@link #EXPECTED_LAST_SEQUENCE}. */
    private static final String CREATED_KEY = "bucket.created";
    /** JetStream's "no message found": the key has no message. */
    private static final int NO_MESSAGE = 10037;
    /**
     * The bucket-wide expected last sequence. Not the per-key {@code Nats-Expected-Last-Subject-Sequence}
     * KV's own update uses: on a 2.9 cluster the leader checks that one against what is stored, not
     * against writes still being replicated, so two concurrent updates of one key can both pass
     * (measured: 2 connections, 300 updates of one key on an R3 bucket lost 26 to 46). The
     * bucket-wide check counts writes in flight. Its cost: any write to the bucket makes a concurrent
     * one read again.
     */
    private static final String EXPECTED_LAST_SEQUENCE = "Nats-Expected-Last-Sequence";
    private static final String MSG_ID = "Nats-Msg-Id";
    /** The header by which KV marks a deletion ({@code DEL}) or purge ({@code PURGE}). */
    private static final String OPERATION = "KV-Operation";

    private static final Logger log = LoggerFactory.getLogger(RegistryBucket.class);

    private final KeyValue kv;
    private final JetStream js;
    private final JetStreamManagement jsm;
    private final String name;
    private final String stream;

    private RegistryBucket(NatsHive hive, String name) throws IOException {
        this.kv = hive.connection().keyValue(name);
        this.js = hive.jetStream();
        // A management context of its own, made after the stream's settings are final: a context
        // caches what it learns of a stream, and would keep reading directly from any replica.
        this.jsm = hive.connection().jetStreamManagement();
        this.name = name;
        this.stream = "KV_" + name;
    }

    private String subject(String key) {
        return "$KV." + name + "." + key;
    }

    /**
     * What a key holds now: its bytes (null when it has none: never written, deleted or expired)
     * and, for a bot's key, its entry ({@code record} null when the value cannot be read or the key
     * is not a bot's); and the bucket's last sequence when it was read, which a compare-and-set
     * expects.
     */
    record Entry(byte[] value, BotRecord record, long bucketSequence) {
        /** The same value as known at {@code sequence}: after a write of one's own that moved the bucket on. */
        Entry at(long sequence) {
            return new Entry(value, record, sequence);
        }
    }

    /**
     * Creates the bucket (file storage, history 1, {@code hive.replicas()} replicas, max age
     * {@code ttl}) or binds the existing one, updating its TTL when it differs. Idempotent; several
     * processes may run it at once.
     */
    static RegistryBucket ensure(NatsHive hive, String bucket, Duration ttl) {
        KeyValueManagement kvm = hive.keyValueManagement();
        try {
            KeyValueStatus status = status(kvm, bucket);
            if (status == null) {
                create(kvm, KeyValueConfiguration.builder().name(bucket).description("deia registry of hive " + hive.name())
                        .storageType(StorageType.File).maxHistoryPerKey(1).replicas(hive.replicas()).ttl(ttl).build());
                status = status(kvm, bucket);
            }
            if (status == null) {
                throw DeiaException.unavailable("KV bucket %s could not be created", bucket);
            }
            if (status.getStorageType() != StorageType.File) {
                throw DeiaException.conflict("KV bucket %s exists with %s storage; deia needs file storage: remove it "
                        + "(nats kv rm %s) or use another backend.name", bucket, status.getStorageType(), bucket);
            }
            if (!ttl.equals(status.getTtl())) {
                kvm.update(KeyValueConfiguration.builder(status.getConfiguration()).ttl(ttl).build());
                log.info("KV bucket {}: ttl changed from {} s to {} s", bucket, status.getTtl().toSeconds(), ttl.toSeconds());
            }
            readsFromTheLeader(hive.management(), "KV_" + bucket);
            if (hive.management().getStreamInfo("KV_" + bucket).getStreamState().getLastSequence() == 0) {
                // The server skips an expected last sequence of 0: a first message makes every write checked.
                hive.connection().keyValue(bucket).put(CREATED_KEY, java.time.Instant.now().toString());
            }
            return new RegistryBucket(hive, bucket);
        } catch (IOException e) {
            throw DeiaException.unavailable("NATS did not answer while binding KV bucket %s: %s", bucket, e.getMessage());
        } catch (JetStreamApiException e) {
            throw DeiaException.unavailable("NATS refused KV bucket %s: %s", bucket, e.getErrorDescription());
        }
    }

    /**
     * Turns off direct gets on the bucket's stream: with them any replica answers a read, and a
     * lagging one answers an old value. Reads then go to the stream's leader, which also orders the
     * writes, so a read sees every write acknowledged before it.
     */
    private static void readsFromTheLeader(JetStreamManagement jsm, String stream) throws IOException, JetStreamApiException {
        StreamConfiguration config = jsm.getStreamInfo(stream).getConfiguration();
        if (config.getAllowDirect()) {
            jsm.updateStream(StreamConfiguration.builder(config).allowDirect(false).build());
            log.info("stream {}: reads go to its leader (direct get off)", stream);
        }
    }

    /**
     * Creates the bucket; one that another process created meanwhile is fine. A new cluster that
     * already routes between its servers may still be gathering them as JetStream peers ("no
     * suitable peers for placement"): asked again for up to {@link #IO_PATIENCE}.
     */
    private static void create(KeyValueManagement kvm, KeyValueConfiguration config) throws IOException, JetStreamApiException {
        long deadline = System.nanoTime() + IO_PATIENCE.toNanos();
        while (true) {
            try {
                kvm.create(config);
                log.info("created KV bucket {} (replicas {}, ttl {} s)", config.getBucketName(), config.getReplicas(),
                        config.getTtl().toSeconds());
                return;
            } catch (JetStreamApiException e) {
                if (e.getApiErrorCode() == STREAM_NAME_IN_USE) {
                    return;
                }
                boolean noPeers = e.getApiErrorCode() == NO_PEERS
                        || String.valueOf(e.getErrorDescription()).contains("no suitable peers");
                if (!noPeers || System.nanoTime() > deadline) {
                    throw e;
                }
                log.info("KV bucket {}: the cluster has not enough JetStream peers yet for {} replicas; asking again",
                        config.getBucketName(), config.getReplicas());
                sleep(250);
            }
        }
    }

    private static KeyValueStatus status(KeyValueManagement kvm, String bucket) throws IOException, JetStreamApiException {
        try {
            return kvm.getStatus(bucket);
        } catch (JetStreamApiException e) {
            if (e.getApiErrorCode() == STREAM_NOT_FOUND || e.getErrorCode() == 404) {
                return null;
            }
            throw e;
        }
    }

    /** The bucket's name. */
    String name() {
        return name;
    }

    /**
     * What {@code key} holds now. The bucket's last sequence is read first: a write expecting it
     * succeeds only when nothing was written to the bucket since, so the value read after it is
     * still current then.
     */
    Entry read(String key) {
        long sequence = patiently("read the state of", () -> jsm.getStreamInfo(stream).getStreamState().getLastSequence());
        MessageInfo m = last(key);
        byte[] value = m == null ? null : m.getData() == null ? new byte[0] : m.getData();
        return new Entry(value, value != null && key.indexOf('.') < 0 ? parse(key, value) : null, sequence);
    }

    /** The key's last message, or null when it holds no value (none, or a deletion marker). */
    private MessageInfo last(String key) {
        MessageInfo m = patiently("read " + key, () -> {
            try {
                return jsm.getLastMessage(stream, subject(key));
            } catch (JetStreamApiException e) {
                if (e.getApiErrorCode() == NO_MESSAGE || e.getErrorCode() == 404) {
                    return null;
                }
                throw e;
            }
        });
        Headers h = m == null ? null : m.getHeaders();
        String op = h == null ? null : h.getFirst(OPERATION);
        return op != null && !op.equals("PUT") ? null : m;
    }

    /** Every key that holds a value now. */
    List<String> keys() {
        return patiently("list keys", kv::keys);
    }

    /** Every readable bot entry, ordered by bot id (keys with a dot are not bots: bot ids have none). */
    List<BotRecord> records() {
        List<BotRecord> out = new ArrayList<>();
        for (String key : keys()) {
            MessageInfo m = key.indexOf('.') < 0 ? last(key) : null;
            BotRecord r = m == null || m.getData() == null ? null : parse(key, m.getData());
            if (r != null) {
                out.add(r);
            }
        }
        out.sort(Comparator.comparing(BotRecord::botId));
        return out;
    }

    /**
     * Writes {@code value} to {@code key} if nothing was written to the bucket since {@code expected}
     * was read.
     *
     * @return the bucket's sequence after this write (a following write of the same decision
     *         expects it), or -1 when another writer came first: the caller reads again and decides again
     */
    long compareAndSet(String key, Entry expected, byte[] value) {
        return write(key, expected, value, null);
    }

    /** Deletes {@code key} if nothing was written to the bucket since {@code expected} was read. */
    boolean compareAndDelete(String key, Entry expected) {
        return write(key, expected, null, "DEL") >= 0;
    }

    /**
     * Publishes to the key's subject with the expected last sequence, and a message id of its own:
     * when the answer is lost (a server died) the same message is sent again, and the stream's
     * duplicate detection answers for the first copy if it was stored, so the write is applied once.
     */
    private long write(String key, Entry expected, byte[] value, String operation) {
        Headers headers = new Headers()
                .put(EXPECTED_LAST_SEQUENCE, Long.toString(expected.bucketSequence()))
                .put(MSG_ID, UUID.randomUUID().toString());
        if (operation != null) {
            headers.put(OPERATION, operation);
        }
        Message message = NatsMessage.builder().subject(subject(key)).headers(headers)
                .data(value == null ? new byte[0] : value).build();
        long deadline = System.nanoTime() + IO_PATIENCE.toNanos();
        while (true) {
            try {
                return js.publish(message).getSeqno();
            } catch (JetStreamApiException e) {
                if (e.getApiErrorCode() == WRONG_LAST_SEQUENCE) {
                    // Another write came first; a short random pause keeps writers from colliding in step.
                    sleep(java.util.concurrent.ThreadLocalRandom.current().nextLong(3));
                    return -1;
                }
                throw DeiaException.unavailable("NATS refused to write %s in %s: %s", key, name, e.getErrorDescription());
            } catch (IOException e) {
                if (System.nanoTime() > deadline) {
                    throw DeiaException.unavailable("NATS did not answer a write of %s in %s within %d s: %s", key, name,
                            IO_PATIENCE.toSeconds(), e.getMessage());
                }
                log.info("write of {} in {} unanswered ({}); sending it again", key, name, e.getMessage());
                sleep(100);
            }
        }
    }

    private BotRecord parse(String key, byte[] value) {
        try {
            return Json.read(new String(value, StandardCharsets.UTF_8), BotRecord.class, name + " entry " + key);
        } catch (RuntimeException e) {
            log.error("[{}] entry in {} cannot be read and is ignored until it is rewritten: {}", key, name, e.getMessage());
            return null;
        }
    }

    /** Bytes of a bot entry (snake_case JSON, as in {@code registry.json}). */
    static byte[] bytes(Object value) {
        return Json.write(value).getBytes(StandardCharsets.UTF_8);
    }

    private <T> T patiently(String what, Io<T> io) {
        long deadline = System.nanoTime() + IO_PATIENCE.toNanos();
        long pause = 50;
        while (true) {
            try {
                return io.call();
            } catch (IOException e) {
                if (System.nanoTime() > deadline) {
                    throw DeiaException.unavailable("NATS did not answer (%s in %s) within %d s: %s", what, name,
                            IO_PATIENCE.toSeconds(), e.getMessage());
                }
                log.info("{} in {} unanswered ({}); asking again", what, name, e.getMessage());
                sleep(pause);
                pause = Math.min(pause * 2, 1000);
            } catch (JetStreamApiException e) {
                throw DeiaException.unavailable("NATS refused to %s in %s: %s", what, name, e.getErrorDescription());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw DeiaException.unavailable("interrupted while asking NATS to %s in %s", what, name);
            }
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw DeiaException.unavailable("interrupted while waiting for NATS");
        }
    }

    @FunctionalInterface
    private interface Io<T> {
        T call() throws IOException, JetStreamApiException, InterruptedException;
    }

    @FunctionalInterface
    private interface Write {
        void run() throws IOException, JetStreamApiException;
    }
}
