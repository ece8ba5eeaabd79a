package io.deia.core.chat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.deia.core.BotIds;
import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;
import io.deia.core.HiveToken;
import io.deia.core.agent.TurnResult;
import io.deia.core.agent.TurnStatus;
import io.deia.core.config.DeiaConfig;
import io.deia.core.io.Json;
import io.deia.core.io.LogSafe;
import io.deia.core.registry.BotRecord;
import io.deia.core.registry.ServiceRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
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
import java.util.stream.Collectors;
import java.util.stream.Stream;

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
 * <p>Every request to a bot carries the hive's token ({@link HiveToken}, read from the token file
 * of the history's hive, created there when missing): a bot port obeys nobody without it.
 *
 * <p>Bot events: after {@link #start()}, the router keeps one long-lived {@code GET /events}
 * connection per live bot (reconnecting with backoff) and relays its {@code task} and
 * {@code status} events. A periodic registry scan publishes a {@code status} event whenever a bot's
 * registry state changes or its entry disappears, and a bot whose event stream cannot be reached
 * is reported as {@code unreachable}.
 */
public final class MessageRouter implements AutoCloseable {
    /** {@code source} of a message sent over the REST API. */
    public static final String SOURCE_API = "api";
    /** {@code source} of a message sent over the controller's WebSocket (the dashboard). */
    public static final String SOURCE_WEBSOCKET = "ws";
    private static final Logger log = LoggerFactory.getLogger(MessageRouter.class);

    /**
     * Tunables.
     *
     * @param connectTimeout   how long a connection to a bot may take before it counts as not answering
     * @param scanInterval     how often the registry is compared with the followed bots
     * @param maxPendingPerBot messages a bot's lane holds (waiting and running); one more gets 429
     * @param maxBackoff       longest wait between two attempts to reach a bot's event stream
     */
    public record Settings(Duration connectTimeout, Duration scanInterval, int maxPendingPerBot, Duration maxBackoff) {
        public static final Settings DEFAULT = new Settings(Duration.ofSeconds(2), Duration.ofSeconds(1), 64,
                Duration.ofSeconds(5));
    }

    private final ServiceRegistry registry;
    private final HistoryStore history;
    private final MessageValidator validator;
    private final Settings settings;
    private final HttpClient http;
    /** {@code Bearer <token>}: the value of every request's {@code Authorization} header. */
    private final String authorization;
    private final ExecutorService workers;
    private final ScheduledExecutorService scanner;
    private final List<Subscription> subscriptions = new CopyOnWriteArrayList<>();
    private final Map<String, Lane> lanes = new ConcurrentHashMap<>();
    private final Map<String, EventFollower> followers = new ConcurrentHashMap<>();
    private final Map<String, String> lastStates = new ConcurrentHashMap<>();
    private final RecentMessages recent = new RecentMessages();
    private final Instant startedAt = Instant.now();
    private volatile boolean closed;

    public MessageRouter(ServiceRegistry registry, HistoryStore history, DeiaConfig config) {
        this(registry, history, config, Settings.DEFAULT);
    }

    public MessageRouter(ServiceRegistry registry, HistoryStore history, DeiaConfig config, Settings settings) {
        this.registry = Objects.requireNonNull(registry, "registry");
        this.history = Objects.requireNonNull(history, "history");
        this.validator = new MessageValidator(config);
        this.settings = Objects.requireNonNull(settings, "settings");
        this.authorization = HiveToken.loadOrCreate(history.hive()).bearer();
        this.workers = Executors.newCachedThreadPool(daemonThreads("deia-router-"));
        this.scanner = Executors.newSingleThreadScheduledExecutor(daemonThreads("deia-router-scan-"));
        this.http = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(settings.connectTimeout())
                .build();
    }

    /** Starts following the registry and the event streams of live bots. */
    public void start() {
        long ms = settings.scanInterval().toMillis();
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
        Subscription s = new Subscription(BotIds.requireValid(botId), Objects.requireNonNull(listener, "listener"));
        subscriptions.add(s);
        return s;
    }

    /** Subscribes to the events of every bot. */
    public Subscription subscribeAll(ChatListener listener) {
        Subscription s = new Subscription(null, Objects.requireNonNull(listener, "listener"));
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
        Lane lane = lanes.computeIfAbsent(botId, Lane::new);
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
        BotRecord rec = resolve(botId);
        HttpRequest req = HttpRequest.newBuilder(URI.create(rec.url() + "/interrupt"))
                .timeout(Duration.ofSeconds(10))
                .header("Authorization", authorization)
                .POST(HttpRequest.BodyPublishers.noBody()).build();
        try {
            HttpResponse<String> resp = http.send(req, HttpResponse.BodyHandlers.ofString());
            if (resp.statusCode() != 200) {
                throw errorFrom(botId, resp.statusCode(), resp.body());
            }
            boolean interrupted = Json.read(resp.body(), JsonNode.class, "interrupt answer").path("interrupted").asBoolean();
            log.info("[{}] interrupt requested; a turn was {}running", botId, interrupted ? "" : "not ");
            return interrupted;
        } catch (IOException e) {
            throw notAnswering(botId, rec, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw DeiaException.unavailable("interrupted while calling bot %s", botId);
        }
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
        HttpRequest req = HttpRequest.newBuilder(URI.create(rec.url() + "/status")).timeout(timeout)
                .header("Authorization", authorization).GET().build();
        return http.sendAsync(req, HttpResponse.BodyHandlers.ofString())
                .thenApply(resp -> resp.statusCode() == 200
                        && Json.read(resp.body(), JsonNode.class, "status of " + rec.botId()).isObject()
                        ? Optional.of(resp.body()) : Optional.<String>empty())
                .exceptionally(e -> {
                    log.debug("[{}] /status did not answer: {}", rec.botId(), e.toString());
                    return Optional.empty();
                });
    }

    /** Starts following the bot's event stream now instead of at the next registry scan. */
    public void follow(String botId) {
        registry.get(botId).ifPresent(this::ensureFollower);
    }

    /** The history store messages are recorded in. */
    public HistoryStore history() {
        return history;
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        scanner.shutdownNow();
        followers.values().forEach(EventFollower::stop);
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
            TurnResult result = stream(rec, text, msgId);
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

    private TurnResult stream(BotRecord rec, String text, String msgId) {
        String botId = rec.botId();
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("text", text);
        body.put("client_msg_id", msgId);
        HttpRequest req = HttpRequest.newBuilder(URI.create(rec.url() + "/message?stream=true"))
                .header("Content-Type", "application/json")
                .header("Authorization", authorization)
                .POST(HttpRequest.BodyPublishers.ofString(Json.write(body)))
                .build();
        HttpResponse<Stream<String>> resp;
        try {
            resp = http.send(req, HttpResponse.BodyHandlers.ofLines());
        } catch (IOException e) {
            throw notAnswering(botId, rec, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw DeiaException.unavailable("the router stopped while sending to bot %s", botId);
        }
        try (Stream<String> lines = resp.body()) {
            if (resp.statusCode() != 200) {
                throw errorFrom(botId, resp.statusCode(), lines.collect(Collectors.joining("\n")));
            }
            Iterator<String> it = lines.iterator();
            while (it.hasNext()) {
                String line = it.next();
                if (line.isBlank()) {
                    continue;
                }
                JsonNode event = parseLine(botId, line);
                String type = event.path("type").asText("");
                switch (type) {
                    case "text_delta" -> publish(ChatEvent.of(ChatEvent.DELTA, botId, "client_msg_id", msgId,
                            "text", event.path("text").asText("")));
                    case "result" -> {
                        return toResult(botId, event.get("result"));
                    }
                    default -> publish(ChatEvent.of(ChatEvent.AGENT, botId, "client_msg_id", msgId, "event", event));
                }
            }
        } catch (UncheckedIOException e) {
            throw DeiaException.badGateway("the stream from bot %s broke before the reply: %s", botId, e.getCause());
        }
        throw DeiaException.badGateway("bot %s ended its stream without a result", botId);
    }

    private static JsonNode parseLine(String botId, String line) {
        try {
            return Json.read(line, JsonNode.class, "stream line");
        } catch (DeiaException e) {
            throw DeiaException.badGateway("bot %s sent a stream line that is not JSON: %s", botId, e.getMessage());
        }
    }

    private static TurnResult toResult(String botId, JsonNode node) {
        if (node == null || !node.isObject()) {
            throw DeiaException.badGateway("bot %s sent a result event without a result", botId);
        }
        try {
            return Json.convert(node, TurnResult.class);
        } catch (RuntimeException e) {
            throw DeiaException.badGateway("bot %s sent a result that cannot be read: %s", botId, e.getMessage());
        }
    }

    /** The bot's own JSON error, kept with its code; anything else is a bad gateway. */
    private static DeiaException errorFrom(String botId, int status, String body) {
        try {
            JsonNode err = Json.read(body, JsonNode.class, "error body").path("error");
            if (err.isObject() && err.hasNonNull("code")) {
                ErrorCode code = ErrorCode.fromId(err.path("code").asText());
                return new DeiaException(code, "bot " + botId + ": " + err.path("message").asText(""));
            }
        } catch (DeiaException e) {
            // not a JSON error body; reported below with the status
        }
        return DeiaException.badGateway("bot %s answered HTTP %d", botId, status);
    }

    private static DeiaException notAnswering(String botId, BotRecord rec, IOException e) {
        String reason;
        if (e instanceof HttpConnectTimeoutException) {
            reason = "connecting timed out";
        } else if (e instanceof ConnectException) {
            reason = "connection refused";
        } else if (e instanceof HttpTimeoutException) {
            reason = "no answer in time";
        } else {
            reason = e.toString();
        }
        return new DeiaException(ErrorCode.BAD_GATEWAY,
                "bot " + botId + " is registered at " + rec.url() + " but does not answer: " + reason, e);
    }

    /** A bot's serial delivery queue: one message at a time, in order, on the shared workers. */
    private final class Lane {
        private final String botId;
        private final ArrayDeque<Runnable> queue = new ArrayDeque<>();
        private final AtomicInteger pending = new AtomicInteger();
        private boolean running;

        Lane(String botId) {
            this.botId = botId;
        }

        /** Takes a place in the lane or refuses with 429; every reservation is followed by enqueue or release. */
        void reserve() {
            if (pending.incrementAndGet() > settings.maxPendingPerBot()) {
                pending.decrementAndGet();
                throw DeiaException.tooMany("bot %s already has %d messages waiting", botId, settings.maxPendingPerBot());
            }
        }

        void release() {
            pending.decrementAndGet();
        }

        void enqueue(Runnable work) {
            synchronized (this) {
                queue.add(work);
                if (running) {
                    return;
                }
                running = true;
            }
            workers.execute(this::drain);
        }

        private void drain() {
            while (true) {
                Runnable next;
                synchronized (this) {
                    next = queue.poll();
                    if (next == null) {
                        running = false;
                        return;
                    }
                }
                try {
                    next.run();
                } finally {
                    pending.decrementAndGet();
                }
            }
        }
    }

    // ---- bot events -------------------------------------------------------------------------

    private void scanSafely() {
        try {
            scan();
        } catch (RuntimeException e) {
            log.warn("registry scan failed: {}", e.toString());
        }
    }

    private void scan() {
        List<BotRecord> records = registry.list();
        Set<String> seen = new java.util.HashSet<>();
        for (BotRecord rec : records) {
            seen.add(rec.botId());
            String state = rec.state().id();
            String before = lastStates.put(rec.botId(), state);
            if (!state.equals(before)) {
                publish(ChatEvent.of(ChatEvent.STATUS, rec.botId(), "state", state, "source", "registry",
                        "pid", rec.pid(), "port", rec.port(), "profile", rec.profile(), "agent", rec.agent(),
                        "restarts", rec.restarts(), "last_error", rec.lastError(),
                        "last_error_at", rec.lastErrorAt() == null ? null : rec.lastErrorAt().toString()));
            }
            ensureFollower(rec);
        }
        for (String id : List.copyOf(lastStates.keySet())) {
            if (!seen.contains(id)) {
                lastStates.remove(id);
                publish(ChatEvent.of(ChatEvent.STATUS, id, "state", "removed", "source", "registry"));
            }
        }
    }

    private void ensureFollower(BotRecord rec) {
        if (closed || !rec.state().isLive() || rec.pid() <= 0 || rec.port() <= 0) {
            return;
        }
        followers.computeIfAbsent(rec.botId(), id -> {
            EventFollower f = new EventFollower(id);
            workers.execute(f);
            return f;
        });
    }

    /** One bot's {@code GET /events} connection, kept open and reopened with backoff. */
    private final class EventFollower implements Runnable {
        private final String botId;
        private volatile boolean stopped;
        private volatile Stream<String> current;
        private long after = -1;
        private long pid;
        private Instant processStart;

        EventFollower(String botId) {
            this.botId = botId;
        }

        void stop() {
            stopped = true;
            Stream<String> s = current;
            if (s != null) {
                s.close();
            }
        }

        @Override
        public void run() {
            int failures = 0;
            boolean reportedDown = false;
            try {
                while (!stopped && !closed) {
                    Optional<BotRecord> found = registry.get(botId);
                    if (found.isEmpty() || !found.get().state().isLive() || found.get().pid() <= 0) {
                        break;
                    }
                    BotRecord rec = found.get();
                    if (rec.pid() != pid || !Objects.equals(rec.processStart(), processStart)) {
                        // A new process numbers its events from the start: ask for all of them when
                        // it was started after this router, else only for what comes from now on.
                        pid = rec.pid();
                        processStart = rec.processStart();
                        Instant born = rec.processStart() != null ? rec.processStart() : rec.registeredAt();
                        after = born != null && !born.isBefore(startedAt.minusSeconds(1)) ? 0 : -1;
                    }
                    try {
                        follow(rec);
                        failures = 0;
                        if (reportedDown) {
                            reportedDown = false;
                            log.info("[{}] event stream reachable again", botId);
                        }
                    } catch (IOException | UncheckedIOException e) {
                        failures++;
                        // A bot still starting has no HTTP service yet: that is not "unreachable".
                        if (!reportedDown && !stopped && registry.get(botId)
                                .map(r -> r.state().isLive() && r.state() != io.deia.core.registry.BotState.STARTING)
                                .orElse(false)) {
                            reportedDown = true;
                            log.warn("[{}] event stream at {} unreachable: {}", botId, rec.url(), e.toString());
                            publish(ChatEvent.of(ChatEvent.STATUS, botId, "state", "unreachable", "source", "router",
                                    "reason", String.valueOf(e.getMessage() == null ? e : e.getMessage())));
                        }
                    }
                    long delay = Math.min(settings.maxBackoff().toMillis(), 100L << Math.min(failures, 10));
                    Thread.sleep(failures == 0 ? 50 : delay);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                followers.remove(botId, this);
                log.debug("[{}] stopped following events", botId);
            }
        }

        private void follow(BotRecord rec) throws IOException, InterruptedException {
            String url = rec.url() + "/events" + (after >= 0 ? "?after=" + after : "");
            HttpRequest req = HttpRequest.newBuilder(URI.create(url)).header("Authorization", authorization).GET().build();
            HttpResponse<Stream<String>> resp = http.send(req, HttpResponse.BodyHandlers.ofLines());
            try (Stream<String> lines = resp.body()) {
                if (resp.statusCode() != 200) {
                    throw new IOException("GET /events answered HTTP " + resp.statusCode());
                }
                current = lines;
                if (stopped) {
                    return;
                }
                log.debug("[{}] following events from {}", botId, url);
                Iterator<String> it = lines.iterator();
                while (it.hasNext()) {
                    String line = it.next();
                    if (!line.isBlank()) {
                        relay(line);
                    }
                }
            } finally {
                current = null;
            }
        }

        private void relay(String line) {
            JsonNode node;
            try {
                node = Json.read(line, JsonNode.class, "event line");
            } catch (DeiaException e) {
                log.warn("[{}] skipped an event line that is not JSON: {}", botId, e.getMessage());
                return;
            }
            if (!node.isObject()) {
                return;
            }
            long seq = node.path("seq").asLong(-1);
            if (seq >= 0) {
                after = Math.max(after, seq);
            }
            String type = node.path("type").asText("");
            if (!type.equals(ChatEvent.TASK) && !type.equals(ChatEvent.STATUS)) {
                return;
            }
            ObjectNode fields = ((ObjectNode) node).deepCopy();
            fields.remove(List.of("seq", "type", "bot_id"));
            @SuppressWarnings("unchecked")
            Map<String, Object> data = Json.convert(fields, LinkedHashMap.class);
            if (type.equals(ChatEvent.STATUS)) {
                data.putIfAbsent("source", "bot");
            }
            publish(new ChatEvent(type, botId, data));
        }
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
}
