package io.deia.core.chat;

import io.deia.core.DeiaException;
import io.deia.core.HiveToken;
import io.deia.core.agent.TurnResult;
import io.deia.core.agent.TurnStatus;
import io.deia.core.config.DeiaConfig;
import io.deia.core.internal.BotIds;
import io.deia.core.internal.io.LogSafe;
import io.deia.core.registry.BotRecord;
import io.deia.core.registry.ServiceRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The controller's side of the chat data path: resolves a bot id through the
 * {@link ServiceRegistry} to its live endpoint, sends the message to the bot's
 * {@code POST /message?stream=true}, reads the NDJSON stream and relays every event to the
 * subscribers of that bot. The user message and the final reply (or the error) are recorded in
 * the {@link HistoryStore}.
 *
 * <p>Ordering: each bot has one lane; messages to a bot are delivered one after the other, the next
 * only after the previous turn ended, so the bot sees them in the order the router accepted them.
 * Different bots never wait for each other.
 *
 * <p>Every request to a bot ({@code BotClient}) carries the hive's token ({@link HiveToken}, read
 * from the token file of the history's hive, created there when missing).
 *
 * <p>Bot events: after {@link #start()}, the registry is scanned periodically and the events of
 * every live bot are followed and relayed ({@code EventFollowers}).
 */
public final class MessageRouter implements AutoCloseable {
    /** {@code source} of a message sent over the REST API. */
    public static final String SOURCE_API = "api";
    /** {@code source} of a message sent over the controller's WebSocket (the dashboard). */
    public static final String SOURCE_WEBSOCKET = "ws";
    private static final Logger log = LoggerFactory.getLogger(MessageRouter.class);

    private final ServiceRegistry registry;
    private final HistoryStore history;
    private final MessageValidator validator;
    private final Duration scanInterval;
    private final int maxPendingPerBot;
    private final BotClient client;
    private final ExecutorService workers;
    private final ScheduledExecutorService scanner;
    private final EventFollowers followers;
    private final List<Subscription> subscriptions = new CopyOnWriteArrayList<>();
    private final Map<String, Lane> lanes = new ConcurrentHashMap<>();
    private final RecentMessages recent = new RecentMessages();
    private volatile boolean closed;

    private MessageRouter(Builder b) {
        this.registry = Objects.requireNonNull(b.registry, "registry");
        this.history = Objects.requireNonNull(b.history, "history");
        this.validator = new MessageValidator(b.config);
        this.scanInterval = b.scanInterval;
        this.maxPendingPerBot = b.maxPendingPerBot;
        this.client = new BotClient(b.connectTimeout, HiveToken.loadOrCreate(history.hive()).bearer());
        this.workers = Executors.newCachedThreadPool(daemonThreads("deia-router-"));
        this.scanner = Executors.newSingleThreadScheduledExecutor(daemonThreads("deia-router-scan-"));
        this.followers = new EventFollowers(registry, client, workers, b.maxBackoff, this::relayed);
    }

    /** A builder for a router over the given registry, history and config (for the message limits). */
    public static Builder builder(ServiceRegistry registry, HistoryStore history, DeiaConfig config) {
        return new Builder(registry, history, config);
    }

    /** Starts following the registry and the event streams of live bots. */
    public void start() {
        long ms = scanInterval.toMillis();
        scanner.scheduleWithFixedDelay(this::scanSafely, 0, ms, TimeUnit.MILLISECONDS);
        log.info("message router started; registry scanned every {} ms", ms);
    }

    /** A registration of a listener; close it to stop receiving events. */
    public final class Subscription implements AutoCloseable {
        private final String botId;
        private final ChatListener listener;

        private Subscription(String botId, ChatListener listener) {
            this.botId = botId;
            this.listener = listener;
        }

        @Override
        public void close() {
            subscriptions.remove(this);
        }
    }

    /** Subscribes to the events of one bot. */
    public Subscription subscribe(String botId, ChatListener listener) {
        return add(new Subscription(BotIds.requireValid(botId), Objects.requireNonNull(listener, "listener")));
    }

    /** Subscribes to the events of every bot. */
    public Subscription subscribeAll(ChatListener listener) {
        return add(new Subscription(null, Objects.requireNonNull(listener, "listener")));
    }

    private Subscription add(Subscription s) {
        subscriptions.add(s);
        return s;
    }

    /**
     * The registry entry of a bot that can take messages now.
     *
     * @throws DeiaException {@code NOT_FOUND} when the bot is not registered, {@code UNAVAILABLE}
     *                       naming its state when it is registered but not running
     */
    public BotRecord resolve(String botId) {
        BotIds.requireValid(botId);
        BotRecord rec = registry.get(botId)
                .orElseThrow(() -> DeiaException.notFound("no bot %s is registered", botId));
        if (!rec.state().isLive() || rec.pid() <= 0 || rec.port() <= 0) {
            String why = rec.lastError() == null ? "" : " (" + rec.lastError() + ")";
            throw DeiaException.unavailable("bot %s is %s%s", botId, rec.state().id(), why);
        }
        return rec;
    }

    /**
     * Validates the message, records it, and queues it on the bot's lane. Subscribers see an
     * {@code ack} at once, then {@code delta}/{@code agent} events and a final {@code reply} or
     * {@code error}.
     *
     * @param clientMsgId the caller's id for the message, echoed in every event; generated when null
     * @return completes with the turn's result, or exceptionally with a {@link DeiaException}
     *         ({@code BAD_GATEWAY} when the bot does not answer properly, or the bot's own error)
     * @throws DeiaException before anything is queued: unknown bot (404), bot not running (503),
     *                       invalid message (400/413/422), lane full (429)
     */
    public CompletableFuture<TurnResult> send(String botId, String text, String clientMsgId) {
        return send(botId, text, clientMsgId, SOURCE_API);
    }

    /**
     * As {@link #send(String, String, String)}, naming where the message came from: the {@code ack}
     * event carries it as {@code source}, so other clients can label a question they did not ask.
     * A {@code clientMsgId} already accepted is not sent again: the caller gets the first turn (a
     * retry after a lost acknowledgement must never start a second turn).
     *
     * @param source {@link #SOURCE_API} or {@link #SOURCE_WEBSOCKET}
     */
    public CompletableFuture<TurnResult> send(String botId, String text, String clientMsgId, String source) {
        if (closed) {
            throw DeiaException.unavailable("the message router is shut down");
        }
        BotRecord rec = resolve(botId);
        validator.validate(botId, rec.profile(), text);
        String given = ChatRequest.requireClientMsgId(clientMsgId);
        String msgId = given == null ? UUID.randomUUID().toString() : given;
        CompletableFuture<TurnResult> done = new CompletableFuture<>();
        CompletableFuture<TurnResult> earlier = recent.claim(botId, msgId, done);
        if (earlier != null) {
            return MessageRetries.answer(botId, msgId, text, source, earlier, this::publish);
        }
        Lane lane = lanes.computeIfAbsent(botId, id -> new Lane(id, maxPendingPerBot, workers));
        try {
            lane.reserve();
        } catch (RuntimeException e) {
            recent.release(botId, msgId, done);
            throw e;
        }
        try {
            history.append(botId, HistoryStore.USER, text, msgId, null);
        } catch (RuntimeException e) {
            lane.release();
            recent.release(botId, msgId, done);
            throw e;
        }
        log.info("[{}] message {} accepted ({} chars)", botId, msgId, text.length());
        publish(ChatEvent.of(ChatEvent.ACK, botId, "client_msg_id", msgId, "text", text, "source", source));
        lane.enqueue(() -> deliver(botId, text, msgId, done));
        return done;
    }

    /**
     * Asks the bot to end its current turn.
     *
     * @return whether a turn was running
     * @throws DeiaException as {@link #resolve}, or {@code BAD_GATEWAY} when the bot does not answer
     */
    public boolean interrupt(String botId) {
        boolean interrupted = client.interrupt(resolve(botId));
        log.info("[{}] interrupt requested; a turn was {}running", botId, interrupted ? "" : "not ");
        return interrupted;
    }

    /**
     * Fetches the bot's live {@code /status} with the given timeout.
     *
     * @return the status object as the bot wrote it (JSON text), or empty when the bot did not
     *         answer with one in time
     */
    public CompletableFuture<Optional<String>> liveStatus(BotRecord rec, Duration timeout) {
        if (!rec.state().isLive() || rec.port() <= 0) {
            return CompletableFuture.completedFuture(Optional.empty());
        }
        return client.status(rec, timeout);
    }

    /** Starts following the bot's event stream now instead of at the next registry scan. */
    public void follow(String botId) {
        registry.get(botId).ifPresent(followers::follow);
    }

    /** The history store messages are recorded in. */
    public HistoryStore history() {
        return history;
    }

    /** Stops the registry scan, the event streams and the delivery workers; idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        scanner.shutdownNow();
        followers.close();
        workers.shutdownNow();
        try {
            workers.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        log.info("message router stopped");
    }

    // ---- chat delivery ----------------------------------------------------------------------

    private void deliver(String botId, String text, String msgId, CompletableFuture<TurnResult> done) {
        try {
            BotRecord rec = resolve(botId);
            TurnResult result = client.message(rec, text, msgId, this::publish);
            boolean answered = result.status() == TurnStatus.COMPLETED || result.status() == TurnStatus.INTERRUPTED;
            String recorded = answered || result.error() == null ? result.text() : result.error();
            // Recorded before it is shown: a client that saw the reply finds it in the history even
            // when the controller dies right after.
            record(botId, answered ? HistoryStore.ASSISTANT : HistoryStore.ERROR, recorded, msgId, result.costUsd());
            publish(ChatEvent.of(ChatEvent.REPLY, botId, "client_msg_id", msgId, "text", result.text(),
                    "result", result));
            log.info("[{}] message {} answered: {} in {} ms", botId, msgId, result.status().id(), result.durationMs());
            done.complete(result);
        } catch (DeiaException e) {
            fail(botId, msgId, e, done);
        } catch (RuntimeException e) {
            fail(botId, msgId, DeiaException.internal("delivering to bot " + botId + " failed: " + e, e), done);
        }
    }

    private void fail(String botId, String msgId, DeiaException e, CompletableFuture<TurnResult> done) {
        log.warn("[{}] message {} failed: {} {}", botId, msgId, e.code().id(), LogSafe.printable(e.getMessage(), 2000));
        record(botId, HistoryStore.ERROR, e.getMessage(), msgId, null);
        publish(ChatEvent.of(ChatEvent.ERROR, botId, "client_msg_id", msgId, "code", e.code().id(),
                "message", e.getMessage()));
        done.completeExceptionally(e);
    }

    private void record(String botId, String role, String text, String msgId, Double cost) {
        try {
            history.append(botId, role, text == null ? "" : text, msgId, cost);
        } catch (DeiaException e) {
            log.error("[{}] could not record {} message {} in history: {}", botId, role, msgId, e.getMessage());
        }
    }

    private void scanSafely() {
        try {
            followers.scan();
        } catch (RuntimeException e) {
            log.warn("registry scan failed: {}", e.toString());
        }
    }

    // ---- permissions ------------------------------------------------------------------------

    /**
     * {@code GET /permissions} of the bot: its requests waiting for a person.
     *
     * @return the bot's JSON answer ({@code {"permissions": [...]}})
     * @throws DeiaException as {@link #resolve}, or the bot's own error, or {@code BAD_GATEWAY}
     */
    public String permissions(String botId) {
        return client.permissions(resolve(botId));
    }

    /**
     * {@code POST /permissions/{request_id}} of the bot: a person's answer to one request.
     *
     * @param body the answer as the client sent it ({@code {"decision": ..., "message": ...}})
     * @return the bot's JSON answer ({@code request_id}, {@code decision}, {@code by}, {@code at})
     * @throws DeiaException as {@link #resolve}, or the bot's own error ({@code NOT_FOUND} unknown
     *                       request, {@code CONFLICT} already resolved, {@code INVALID_ARGUMENT}), or {@code BAD_GATEWAY}
     */
    public String answerPermission(String botId, String requestId, Map<String, Object> body) {
        BotRecord rec = resolve(botId);
        String answer = client.answerPermission(rec, requestId, body);
        log.info("[{}] permission {} answered over the API: {}", botId, requestId, LogSafe.printable(String.valueOf(body.get("decision")), 40));
        return answer;
    }

    /** A bot event from its stream: permission requests and their decisions go to the bot's history first. */
    private void relayed(ChatEvent event) {
        if (event.type().equals(ChatEvent.PERMISSION_REQUEST) || event.type().equals(ChatEvent.PERMISSION_RESOLVED)) {
            recordPermission(event);
        }
        publish(event);
    }

    private void recordPermission(ChatEvent event) {
        Map<String, Object> d = event.data();
        String requestId = String.valueOf(d.get("request_id"));
        String text;
        if (event.type().equals(ChatEvent.PERMISSION_REQUEST)) {
            Object task = d.get("task_id");
            text = "asked: " + d.get("tool") + " " + d.get("summary") + (task == null ? " (chat)" : " (task " + task + ")");
        } else {
            Object message = d.get("message");
            text = d.get("decision") + " by " + d.get("by") + (message == null ? "" : ": " + message);
        }
        log.info("[{}] permission {} {}", event.botId(), requestId, LogSafe.printable(text, 300));
        record(event.botId(), HistoryStore.PERMISSION, text, requestId, null);
    }

    // ---- publishing -------------------------------------------------------------------------

    private void publish(ChatEvent event) {
        for (Subscription s : subscriptions) {
            if (s.botId == null || s.botId.equals(event.botId())) {
                try {
                    s.listener.onEvent(event);
                } catch (RuntimeException e) {
                    log.warn("[{}] a subscriber failed on a {} event: {}", event.botId(), event.type(), e.toString());
                }
            }
        }
    }

    private static ThreadFactory daemonThreads(String prefix) {
        AtomicInteger n = new AtomicInteger();
        return r -> {
            Thread t = new Thread(r, prefix + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        };
    }

    /** Builder for {@link MessageRouter}; every tunable has a default. */
    public static final class Builder {
        private final ServiceRegistry registry;
        private final HistoryStore history;
        private final DeiaConfig config;
        private Duration connectTimeout = Duration.ofSeconds(2);
        private Duration scanInterval = Duration.ofSeconds(1);
        private int maxPendingPerBot = 64;
        private Duration maxBackoff = Duration.ofSeconds(5);

        private Builder(ServiceRegistry registry, HistoryStore history, DeiaConfig config) {
            this.registry = registry;
            this.history = history;
            this.config = Objects.requireNonNull(config, "config");
        }

        /** How long a connection to a bot may take before it counts as not answering (2 s). */
        public Builder connectTimeout(Duration v) { connectTimeout = Objects.requireNonNull(v); return this; }
        /** How often the registry is compared with the followed bots (1 s). */
        public Builder scanInterval(Duration v) { scanInterval = Objects.requireNonNull(v); return this; }
        /** Messages a bot's lane holds, waiting and running (64); one more gets 429. */
        public Builder maxPendingPerBot(int v) { maxPendingPerBot = v; return this; }
        /** Longest wait between two attempts to reach a bot's event stream (5 s). */
        public Builder maxBackoff(Duration v) { maxBackoff = Objects.requireNonNull(v); return this; }

        /** The router, not started yet ({@link #start()} follows the bots). */
        public MessageRouter build() {
            return new MessageRouter(this);
        }
    }
}
