package io.deia.nats;

import io.deia.core.DeiaException;
import io.deia.core.internal.io.LogSafe;
import io.deia.core.task.ResponseFiles;
import io.deia.core.task.TaskIds;
import io.deia.core.task.TaskQueue;
import io.deia.core.task.TaskResponse;
import io.nats.client.Connection;
import io.nats.client.JetStreamApiException;
import io.nats.client.KeyValue;
import io.nats.client.api.KeyValueEntry;
import io.nats.client.api.KeyValueWatchOption;
import io.nats.client.api.KeyValueWatcher;
import io.nats.client.impl.NatsKeyValueWatchSubscription;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * The responses bucket {@code deia-<H>-responses}: one final response per key
 * {@code <BOT-ID>.<task-id>}, its value the text of a response file ({@link ResponseFiles#format}),
 * so it reads back as the same {@link TaskResponse} the file backend returns. A task id may hold
 * dots (KV token separators) and end in one, so each {@code .} is written {@code =2E} in the key
 * ({@code =} is never part of a task id, so the key reads back unchanged).
 *
 * <p>A response is written with KV {@code create} (it fails when the key exists), and records
 * {@code claim: <stream>/<sequence>}, the task message it answers. A write that finds the key taken
 * by the same claim was already done (a retry after a lost reply, a redelivered task); taken by
 * another claim (the same task id submitted twice), the response goes under the first free id
 * {@code <id>-2}, {@code <id>-3}, … as in the file backend. Nothing is ever overwritten.
 */
final class NatsResponses {
    private static final Logger log = LoggerFactory.getLogger(NatsResponses.class);
    /** JetStream's "wrong last sequence": the key exists. */
    private static final int KEY_EXISTS = 10071;
    private static final long LIST_WAIT_S = 30;

    private final KeyValue kv;
    private final String bucket;

    NatsResponses(Connection connection, String hive) {
        this.bucket = NatsTaskStreams.bucketName(hive);
        try {
            this.kv = connection.keyValue(bucket);
        } catch (IOException e) {
            throw DeiaException.unavailable("cannot bind KV bucket %s: %s", bucket, e.getMessage());
        }
    }

    /** The key of a task's response. */
    static String key(String botId, String taskId) {
        return botId + "." + taskId.replace(".", "=2E");
    }

    /** The stored response of {@code taskId}, if there is one. */
    Optional<TaskResponse> read(String botId, String taskId) {
        if (!TaskIds.isValid(taskId)) {
            return Optional.empty();
        }
        return text(botId, taskId).map(t -> ResponseFiles.parse(t, key(botId, taskId)));
    }

    /** True when {@code taskId} has a response. */
    boolean exists(String botId, String taskId) {
        return text(botId, taskId).isPresent();
    }

    /**
     * The id under which {@code claim} already has its response ({@code taskId} or a suffixed id),
     * or empty when it has none.
     */
    Optional<String> findByClaim(String botId, String taskId, String claim) {
        for (int n = 1; n < 100_000; n++) {
            String id = n == 1 ? taskId : taskId + "-" + n;
            Optional<String> text = text(botId, id);
            if (text.isEmpty()) {
                if (n > 1) {
                    return Optional.empty();
                }
                continue;
            }
            if (claim.equals(claimOf(text.get()))) {
                return Optional.of(id);
            }
        }
        return Optional.empty();
    }

    /**
     * Stores {@code response} once for {@code claim} (see the class comment).
     *
     * @return the id it is stored under
     * @throws IOException when JetStream cannot be reached (the caller retries)
     */
    String write(TaskResponse response, String claim) throws IOException {
        String base = response.taskId();
        for (int n = 1; n < 100_000; n++) {
            String id = n == 1 ? base : base + "-" + n;
            TaskResponse named = n == 1 ? response : withTaskId(response, id);
            byte[] bytes = ResponseFiles.format(named, claim, null).getBytes(StandardCharsets.UTF_8);
            try {
                kv.create(key(response.botId(), id), bytes);
                return id;
            } catch (JetStreamApiException e) {
                if (e.getApiErrorCode() != KEY_EXISTS) {
                    throw new IOException("JetStream refused the response of task " + id + ": " + e.getMessage(), e);
                }
            }
            Optional<String> existing = text(response.botId(), id);
            if (existing.isPresent() && claim.equals(claimOf(existing.get()))) {
                return id;
            }
        }
        throw DeiaException.conflict("task id %s has too many responses already", base);
    }

    /** A bot's responses, newest first by finish time, at most {@code limit}, and the unreadable ones. */
    TaskQueue.ResponseListing listing(String botId, int limit) {
        List<TaskResponse> all = new ArrayList<>();
        List<TaskQueue.Skipped> skipped = new ArrayList<>();
        CountDownLatch done = new CountDownLatch(1);
        KeyValueWatcher watcher = new KeyValueWatcher() {
            @Override
            public synchronized void watch(KeyValueEntry e) {
                byte[] value = e.getValue();
                // Entries stored after the end of the current data belong to the next listing.
                if (value == null || done.getCount() == 0) {
                    return;
                }
                try {
                    all.add(ResponseFiles.parse(new String(value, StandardCharsets.UTF_8), e.getKey()));
                } catch (RuntimeException ex) {
                    String reason = LogSafe.printable(ex.getMessage(), 300);
                    log.warn("[{}] skipped unreadable response {}: {}", botId, LogSafe.printable(e.getKey()), reason);
                    skipped.add(new TaskQueue.Skipped(LogSafe.printable(e.getKey()), reason));
                }
            }

            @Override
            public synchronized void endOfData() {
                done.countDown();
            }
        };
        try {
            NatsKeyValueWatchSubscription sub = kv.watch(botId + ".>", watcher, KeyValueWatchOption.IGNORE_DELETE);
            try {
                if (!done.await(LIST_WAIT_S, TimeUnit.SECONDS)) {
                    throw DeiaException.timeout("listing the responses of %s took over %d s", botId, LIST_WAIT_S);
                }
            } finally {
                sub.unsubscribe();
            }
            synchronized (watcher) {
                all.sort(Comparator.comparing((TaskResponse r) -> r.finishedAt() == null ? Instant.EPOCH : r.finishedAt()).reversed());
                List<TaskResponse> page = all.size() > limit ? List.copyOf(all.subList(0, Math.max(0, limit))) : List.copyOf(all);
                return new TaskQueue.ResponseListing(page, List.copyOf(skipped));
            }
        } catch (IOException | JetStreamApiException e) {
            throw DeiaException.unavailable("cannot list the responses of %s in %s: %s", botId, bucket, e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw DeiaException.unavailable("interrupted while listing the responses of %s", botId);
        }
    }

    private Optional<String> text(String botId, String taskId) {
        try {
            KeyValueEntry e = kv.get(key(botId, taskId));
            return e == null || e.getValue() == null ? Optional.empty()
                    : Optional.of(new String(e.getValue(), StandardCharsets.UTF_8));
        } catch (IOException | JetStreamApiException e) {
            throw DeiaException.unavailable("cannot read the response of %s/%s from %s: %s", botId, taskId, bucket,
                    e.getMessage());
        }
    }

    /** The {@code claim:} field of a response's front matter, or null. */
    static String claimOf(String text) {
        int end = text.indexOf("\n---\n", 3);
        for (String line : text.substring(0, Math.max(0, end)).split("\n")) {
            if (line.startsWith("claim: ")) {
                return line.substring("claim: ".length());
            }
        }
        return null;
    }

    private static TaskResponse withTaskId(TaskResponse r, String id) {
        return new TaskResponse(id, r.botId(), r.status(), r.attempt(), r.startedAt(), r.finishedAt(), r.durationMs(),
                r.exitCode(), r.agent(), r.costUsd(), r.inputTokens(), r.outputTokens(), r.sessionId(), r.output(),
                r.error(), r.change());
    }
}
