package io.deia.nats;

import io.deia.core.DeiaException;
import io.deia.core.internal.io.Json;
import io.deia.core.registry.BotRecord;
import io.nats.client.JetStreamApiException;
import io.nats.client.KeyValue;
import io.nats.client.KeyValueManagement;
import io.nats.client.api.KeyValueConfiguration;
import io.nats.client.api.KeyValueEntry;
import io.nats.client.api.KeyValueStatus;
import io.nats.client.api.StorageType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * The registry's KV bucket {@code deia-H-bots}: creating or binding it, and reading and writing
 * values with compare-and-set on the key's revision. A server that does not answer (a cluster
 * electing a new leader after a member died) is asked again for up to {@link #IO_PATIENCE}; a write
 * whose answer was lost is recognised on the next read (the stored bytes are ours), so it is never
 * applied twice.
 */
final class RegistryBucket {
    /** How long a read or write keeps trying while the servers do not answer. */
    static final Duration IO_PATIENCE = Duration.ofSeconds(20);
    /** JetStream's "wrong last sequence": the key's revision moved on since it was read. */
    private static final int WRONG_LAST_SEQUENCE = 10071;
    private static final int STREAM_NOT_FOUND = 10059;
    private static final int STREAM_NAME_IN_USE = 10058;

    private static final Logger log = LoggerFactory.getLogger(RegistryBucket.class);

    private final KeyValue kv;
    private final String name;

    private RegistryBucket(KeyValue kv, String name) {
        this.kv = kv;
        this.name = name;
    }

    /**
     * A stored value: its bytes and revision, and for a bot's key its entry ({@code record} null
     * when the value cannot be read, or the key is not a bot's).
     */
    record Entry(byte[] value, long revision, BotRecord record) {
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
                try {
                    kvm.create(KeyValueConfiguration.builder().name(bucket).description("deia registry of hive " + hive.name())
                            .storageType(StorageType.File).maxHistoryPerKey(1).replicas(hive.replicas()).ttl(ttl).build());
                    log.info("created KV bucket {} (replicas {}, ttl {} s)", bucket, hive.replicas(), ttl.toSeconds());
                } catch (JetStreamApiException e) {
                    if (e.getApiErrorCode() != STREAM_NAME_IN_USE) {
                        throw e;
                    }
                }
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
            return new RegistryBucket(hive.connection().keyValue(bucket), bucket);
        } catch (IOException e) {
            throw DeiaException.unavailable("NATS did not answer while binding KV bucket %s: %s", bucket, e.getMessage());
        } catch (JetStreamApiException e) {
            throw DeiaException.unavailable("NATS refused KV bucket %s: %s", bucket, e.getErrorDescription());
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

    /** The current value of {@code key}, or null when there is none (never written, deleted or expired). */
    Entry read(String key) {
        KeyValueEntry e = patiently("read " + key, () -> kv.get(key));
        if (e == null || e.getValue() == null) {
            return null;
        }
        return new Entry(e.getValue(), e.getRevision(), key.indexOf('.') < 0 ? parse(key, e.getValue()) : null);
    }

    /** Every key that holds a value now. */
    List<String> keys() {
        return patiently("list keys", kv::keys);
    }

    /** Every readable bot entry, ordered by bot id (keys with a dot are not bots: bot ids have none). */
    List<BotRecord> records() {
        List<BotRecord> out = new ArrayList<>();
        for (String key : keys()) {
            if (key.indexOf('.') < 0) {
                Entry e = read(key);
                if (e != null && e.record() != null) {
                    out.add(e.record());
                }
            }
        }
        out.sort(Comparator.comparing(BotRecord::botId));
        return out;
    }

    /**
     * Writes {@code value} to {@code key} if its revision is still {@code expected} (null: the key
     * holds no value). False when another writer came first: the caller reads again and decides again.
     */
    boolean compareAndSet(String key, Entry expected, byte[] value) {
        return write(key, expected, value, () -> {
            if (expected == null) {
                kv.create(key, value);
            } else {
                kv.update(key, value, expected.revision());
            }
        });
    }

    /** Deletes {@code key} if its revision is still {@code expected.revision()}; false when it moved on. */
    boolean compareAndDelete(String key, Entry expected) {
        return write(key, expected, null, () -> kv.delete(key, expected.revision()));
    }

    private boolean write(String key, Entry expected, byte[] value, Write write) {
        long deadline = System.nanoTime() + IO_PATIENCE.toNanos();
        while (true) {
            try {
                write.run();
                return true;
            } catch (JetStreamApiException e) {
                if (e.getApiErrorCode() == WRONG_LAST_SEQUENCE) {
                    return false;
                }
                throw DeiaException.unavailable("NATS refused to write %s in %s: %s", key, name, e.getErrorDescription());
            } catch (IOException e) {
                // The answer is lost, not necessarily the write: see what the key holds now.
                Entry now = read(key);
                boolean unchanged = now == null ? expected == null : expected != null && now.revision() == expected.revision();
                if (!unchanged) {
                    // Ours landed (the key holds our bytes, or is gone after our delete), or another writer came first.
                    return value == null ? now == null : now != null && Arrays.equals(now.value(), value);
                }
                if (System.nanoTime() > deadline) {
                    throw DeiaException.unavailable("NATS did not answer a write of %s in %s within %d s: %s", key, name,
                            IO_PATIENCE.toSeconds(), e.getMessage());
                }
                log.info("write of {} in {} unanswered ({}); trying again", key, name, e.getMessage());
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
