package io.deia.http.controller;

import io.deia.core.chat.ChatEvent;
import io.deia.core.chat.ChatListener;
import io.deia.core.internal.io.Json;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArraySet;

/**
 * Numbers the router's events and fans them out to the connected WebSocket clients, keeping the
 * newest ones in a bounded replay buffer.
 *
 * <p>Event ids increase by one per event and start at the hub's start time in milliseconds times
 * 1000, so ids of a later controller run are larger than every id of an earlier one (as long as a
 * run numbers fewer than 1000 events per millisecond of the time between the two starts).
 *
 * <p>A client reconnecting with {@code last_event_id=N} is registered under the same lock that
 * numbers events: it receives exactly the buffered events after N and then every new one, none
 * twice and none lost. When N is older than the buffer (or from another run, or unknown) it gets a
 * {@code resync} event instead and must reload its state over REST.
 */
final class EventHub implements ChatListener {
    private static final Logger log = LoggerFactory.getLogger(EventHub.class);

    /** Where events go: one per WebSocket connection. Must not block. */
    interface Client {
        void deliver(String json);
    }

    private record Numbered(long id, String json) {
    }

    private final int capacity;
    private final long firstId;
    private final ArrayDeque<Numbered> buffer = new ArrayDeque<>();
    private final Set<Client> clients = new CopyOnWriteArraySet<>();
    private long nextId;

    EventHub(int capacity, Instant startedAt) {
        if (capacity < 1) {
            throw new IllegalArgumentException("replay buffer capacity must be >= 1");
        }
        this.capacity = capacity;
        this.firstId = startedAt.toEpochMilli() * 1000;
        this.nextId = firstId;
    }

    /** Numbers, buffers and broadcasts a router event. */
    @Override
    public void onEvent(ChatEvent event) {
        synchronized (this) {
            long id = nextId++;
            String json = render(id, event);
            buffer.addLast(new Numbered(id, json));
            if (buffer.size() > capacity) {
                buffer.removeFirst();
            }
            // Delivery happens under the lock so every client sees the ids in increasing order;
            // Client.deliver only queues.
            for (Client c : clients) {
                c.deliver(json);
            }
        }
    }

    /**
     * Registers a client; with {@code lastEventId} it first receives the events it missed, or a
     * {@code resync} event when they are no longer all in the buffer.
     */
    synchronized void connect(Client client, Long lastEventId) {
        connect(client, lastEventId, Long.MAX_VALUE);
    }

    /**
     * As {@link #connect(Client, Long)}, but a replay larger than {@code maxReplayBytes} (counted
     * in characters) is replaced by a {@code resync} event: the client would be dropped as too
     * slow before it had read it, and would reconnect into the same replay again.
     */
    synchronized void connect(Client client, Long lastEventId, long maxReplayBytes) {
        if (lastEventId != null) {
            long oldestKept = buffer.isEmpty() ? nextId : buffer.peekFirst().id();
            if (lastEventId < firstId - 1 || lastEventId >= nextId) {
                client.deliver(direct(ChatEvent.of("resync", null, "reason", lastEventId < firstId - 1
                        ? "last_event_id " + lastEventId + " is from a previous controller run"
                        : "last_event_id " + lastEventId + " was never sent by this controller")));
            } else if (lastEventId < oldestKept - 1) {
                client.deliver(direct(ChatEvent.of("resync", null, "reason", "events after " + lastEventId
                        + " are no longer in the replay buffer (it keeps " + capacity + ")")));
            } else if (replaySize(lastEventId) > maxReplayBytes) {
                client.deliver(direct(ChatEvent.of("resync", null, "reason", "the events after " + lastEventId
                        + " are more than this connection may have waiting (" + maxReplayBytes + " bytes)")));
            } else {
                int replayed = 0;
                for (Numbered n : buffer) {
                    if (n.id() > lastEventId) {
                        client.deliver(n.json());
                        replayed++;
                    }
                }
                log.debug("replayed {} events after {}", replayed, lastEventId);
            }
        }
        clients.add(client);
    }

    private long replaySize(long after) {
        long size = 0;
        for (Numbered n : buffer) {
            if (n.id() > after) {
                size += n.json().length();
            }
        }
        return size;
    }

    void disconnect(Client client) {
        clients.remove(client);
    }

    /** An event for one client only (pong, resync, an error about its own request): numbered, not buffered. */
    synchronized String direct(ChatEvent event) {
        return render(nextId++, event);
    }

    synchronized long lastEventId() {
        return nextId - 1;
    }

    int clientCount() {
        return clients.size();
    }

    /** Snapshot of the buffered event ids, oldest first (for tests and diagnostics). */
    synchronized List<Long> bufferedIds() {
        List<Long> ids = new ArrayList<>(buffer.size());
        buffer.forEach(n -> ids.add(n.id()));
        return ids;
    }

    private static String render(long id, ChatEvent event) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("event_id", id);
        out.put("type", event.type());
        out.put("ts", Json.formatInstant(Instant.now()));
        if (event.botId() != null) {
            out.put("bot_id", event.botId());
        }
        event.data().forEach(out::putIfAbsent);
        return Json.write(out);
    }
}
