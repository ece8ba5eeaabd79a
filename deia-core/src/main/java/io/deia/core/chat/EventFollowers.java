package io.deia.core.chat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.deia.core.DeiaException;
import io.deia.core.internal.io.Json;
import io.deia.core.registry.BotRecord;
import io.deia.core.registry.BotState;
import io.deia.core.registry.ServiceRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.time.Instant;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.stream.Stream;

/**
 * The router's view of bot events: a registry scan publishes a {@code status} event whenever a
 * bot's registry state changes or its entry disappears, and one long-lived {@code GET /events}
 * connection per live bot (reopened with back-off) relays the bot's {@code task},
 * {@code status}, {@code permission_request} and {@code permission_resolved} events. A bot whose event stream cannot be reached is reported
 * {@code unreachable}.
 */
final class EventFollowers {
    private static final Logger log = LoggerFactory.getLogger(EventFollowers.class);

    /** The bot event types relayed; others (keepalive) are the stream's own. */
    private static final Set<String> RELAYED = Set.of(ChatEvent.TASK, ChatEvent.STATUS, ChatEvent.PERMISSION_REQUEST,
            ChatEvent.PERMISSION_RESOLVED);

    private final ServiceRegistry registry;
    private final BotClient client;
    private final Executor workers;
    private final Duration maxBackoff;
    private final ChatListener publish;
    private final Map<String, Follower> followers = new ConcurrentHashMap<>();
    private final Map<String, String> lastStates = new ConcurrentHashMap<>();
    private final Instant startedAt = Instant.now();
    private volatile boolean closed;

    EventFollowers(ServiceRegistry registry, BotClient client, Executor workers, Duration maxBackoff,
                   ChatListener publish) {
        this.registry = registry;
        this.client = client;
        this.workers = workers;
        this.maxBackoff = maxBackoff;
        this.publish = publish;
    }

    /** Compares the registry with what was seen before; called periodically. */
    void scan() {
        Set<String> seen = new HashSet<>();
        for (BotRecord rec : registry.list()) {
            seen.add(rec.botId());
            String state = rec.state().id();
            String before = lastStates.put(rec.botId(), state);
            if (!state.equals(before)) {
                publish.onEvent(ChatEvent.of(ChatEvent.STATUS, rec.botId(), "state", state, "source", "registry",
                        "pid", rec.pid(), "port", rec.port(), "profile", rec.profile(), "agent", rec.agent(),
                        "restarts", rec.restarts(), "last_error", rec.lastError(),
                        "last_error_at", rec.lastErrorAt() == null ? null : rec.lastErrorAt().toString()));
            }
            follow(rec);
        }
        for (String id : List.copyOf(lastStates.keySet())) {
            if (!seen.contains(id)) {
                lastStates.remove(id);
                publish.onEvent(ChatEvent.of(ChatEvent.STATUS, id, "state", "removed", "source", "registry"));
            }
        }
    }

    /** Follows the events of a live bot unless they are followed already. */
    void follow(BotRecord rec) {
        if (closed || !rec.state().isLive() || rec.pid() <= 0 || rec.port() <= 0) {
            return;
        }
        followers.computeIfAbsent(rec.botId(), id -> {
            Follower f = new Follower(id);
            workers.execute(f);
            return f;
        });
    }

    /** Closes every event stream; nothing is followed after this. */
    void close() {
        closed = true;
        followers.values().forEach(Follower::stop);
    }

    /** One bot's {@code GET /events} connection, kept open and reopened with back-off. */
    private final class Follower implements Runnable {
        private final String botId;
        private volatile boolean stopped;
        private volatile Stream<String> current;
        private long after = -1;
        private long pid;
        private Instant processStart;

        Follower(String botId) {
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
                        read(rec);
                        failures = 0;
                        if (reportedDown) {
                            reportedDown = false;
                            log.info("[{}] event stream reachable again", botId);
                        }
                    } catch (IOException | UncheckedIOException e) {
                        failures++;
                        // A bot still starting has no HTTP service yet: that is not "unreachable".
                        if (!reportedDown && !stopped && registry.get(botId)
                                .map(r -> r.state().isLive() && r.state() != BotState.STARTING).orElse(false)) {
                            reportedDown = true;
                            log.warn("[{}] event stream at {} unreachable: {}", botId, rec.url(), e.toString());
                            publish.onEvent(ChatEvent.of(ChatEvent.STATUS, botId, "state", "unreachable",
                                    "source", "router", "reason", String.valueOf(e.getMessage() == null ? e : e.getMessage())));
                        }
                    }
                    long delay = Math.min(maxBackoff.toMillis(), 100L << Math.min(failures, 10));
                    Thread.sleep(failures == 0 ? 50 : delay);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                followers.remove(botId, this);
                log.debug("[{}] stopped following events", botId);
            }
        }

        private void read(BotRecord rec) throws IOException, InterruptedException {
            try (Stream<String> lines = client.events(rec, after)) {
                current = lines;
                if (stopped) {
                    return;
                }
                log.debug("[{}] following events from {}", botId, rec.url());
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
            if (!RELAYED.contains(type)) {
                return;
            }
            ObjectNode fields = ((ObjectNode) node).deepCopy();
            fields.remove(List.of("seq", "type", "bot_id"));
            @SuppressWarnings("unchecked")
            Map<String, Object> data = Json.convert(fields, LinkedHashMap.class);
            if (type.equals(ChatEvent.STATUS)) {
                data.putIfAbsent("source", "bot");
            }
            publish.onEvent(new ChatEvent(type, botId, data));
        }
    }
}
