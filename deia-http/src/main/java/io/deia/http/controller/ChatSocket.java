package io.deia.http.controller;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.DeiaException;
import io.deia.core.chat.ChatEvent;
import io.deia.core.chat.ChatRequest;
import io.deia.core.chat.MessageRouter;
import io.deia.core.internal.io.Json;
import org.eclipse.jetty.websocket.api.Callback;
import org.eclipse.jetty.websocket.api.Session;
import org.eclipse.jetty.websocket.api.StatusCode;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.Map;
import java.util.concurrent.Executor;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.UnaryOperator;

/**
 * One dashboard's WebSocket connection on {@code /ws}. Client messages: {@code message},
 * {@code interrupt}, {@code ping}. Server events come from the {@link EventHub}; they are queued
 * per connection and written one at a time, so a slow client never blocks the others. A client
 * whose queue holds more than {@code maxQueuedBytes} of events (or {@link #MAX_QUEUED} events) is
 * dropped: its queue is freed at once, it leaves the hub, and it is closed with 1013 (try again later) and a reason
 * saying to reconnect with its last event id (a client that does not read at all may not see the
 * close frame; its connection is cut after {@link #DROP_GRACE_MS}). The server pings every ping
 * interval so idle connections stay open through proxies and dead ones are noticed.
 */
public final class ChatSocket implements Session.Listener.AutoDemanding, EventHub.Client {
    private static final Logger log = LoggerFactory.getLogger(ChatSocket.class);

    /** Events a connection may have waiting before it is dropped as too slow. */
    static final int MAX_QUEUED = 10_000;
    /** How long a dropped client's close handshake may take before the connection is cut. */
    static final long DROP_GRACE_MS = 2000;
    /** Close reason sent to a client dropped for falling behind. */
    static final String TOO_SLOW = "too far behind; reconnect with last_event_id";

    private final EventHub hub;
    private final MessageRouter router;
    private final Executor blockingWork;
    private final ScheduledExecutorService pinger;
    private final long pingIntervalMs;
    private final Long lastEventId;
    private final long maxQueuedBytes;
    private final Runnable onClosed;
    private final UnaryOperator<String> redact;
    private final ArrayDeque<String> outbox = new ArrayDeque<>();
    /** Size of the queued events, counted in characters (bytes for the ASCII most JSON events are). */
    private long queuedBytes;
    private boolean writing;
    private boolean dropped;
    private final AtomicBoolean released = new AtomicBoolean();
    private volatile Session session;
    private ScheduledFuture<?> pings;

    /**
     * @param maxQueuedBytes events a connection may have waiting, in bytes, before it is dropped
     * @param onClosed       run once when the connection ends (frees its place under the connection limit)
     * @param redact         applied to error messages sent to the client (hive paths made relative)
     */
    ChatSocket(EventHub hub, MessageRouter router, Executor blockingWork, ScheduledExecutorService pinger,
               long pingIntervalMs, Long lastEventId, long maxQueuedBytes, Runnable onClosed,
               UnaryOperator<String> redact) {
        this.hub = hub;
        this.router = router;
        this.blockingWork = blockingWork;
        this.pinger = pinger;
        this.pingIntervalMs = pingIntervalMs;
        this.lastEventId = lastEventId;
        this.maxQueuedBytes = maxQueuedBytes;
        this.onClosed = onClosed;
        this.redact = redact;
    }

    @Override
    public void onWebSocketOpen(Session session) {
        this.session = session;
        hub.connect(this, lastEventId, maxQueuedBytes);
        pings = pinger.scheduleAtFixedRate(this::ping, pingIntervalMs, pingIntervalMs, TimeUnit.MILLISECONDS);
        log.info("dashboard connected from {} (last_event_id {})", session.getRemoteSocketAddress(), lastEventId);
    }

    @Override
    public void onWebSocketText(String text) {
        JsonNode msg;
        try {
            msg = Json.readStrict(text, JsonNode.class, "WebSocket message");
            if (!msg.isObject()) {
                throw DeiaException.invalid("a WebSocket message must be a JSON object");
            }
        } catch (DeiaException e) {
            replyError(null, null, e);
            return;
        }
        String type = msg.path("type").asText("");
        JsonNode botNode = msg.get("bot_id");
        String botId = botNode != null && botNode.isTextual() ? botNode.asText() : null;
        // Echoed in the error event only when it is a valid id: the error may be about the id itself.
        String clientMsgId = validIdOrNull(msg.get("client_msg_id"));
        try {
            switch (type) {
                case "message" -> {
                    // The same rules as REST and the bot's own /message (one validator for all).
                    ChatRequest chat = ChatRequest.fromJson(Json.convert(msg, Map.class));
                    requireBot(botNode);
                    router.send(botId, chat.text(), chat.clientMsgId(), MessageRouter.SOURCE_WEBSOCKET);
                }
                case "interrupt" -> {
                    requireBot(botNode);
                    blockingWork.execute(() -> {
                        try {
                            router.interrupt(botId);
                        } catch (RuntimeException e) {
                            replyError(botId, null, e);
                        }
                    });
                }
                case "ping" -> deliver(hub.direct(ChatEvent.of("pong", null)));
                default -> throw DeiaException.invalid("unknown message type '%s'; use message, interrupt or ping", type);
            }
        } catch (RuntimeException e) {
            replyError(botId, clientMsgId, e);
        }
    }

    private static String validIdOrNull(JsonNode id) {
        if (id == null || !id.isTextual()) {
            return null;
        }
        try {
            return ChatRequest.requireClientMsgId(id.asText());
        } catch (DeiaException e) {
            return null;
        }
    }

    private static void requireBot(JsonNode botId) {
        if (botId == null || botId.isNull()) {
            throw DeiaException.invalid("field 'bot_id' is required");
        }
        if (!botId.isTextual()) {
            throw DeiaException.invalid("field 'bot_id' must be a string");
        }
    }

    private void replyError(String botId, String clientMsgId, RuntimeException failure) {
        DeiaException e = failure instanceof DeiaException d ? d
                : DeiaException.internal("internal error: " + failure, failure);
        deliver(hub.direct(ChatEvent.of(ChatEvent.ERROR, botId, "client_msg_id", clientMsgId,
                "code", e.code().id(), "message", redact.apply(e.getMessage()))));
    }

    @Override
    public void deliver(String json) {
        Session s = session;
        synchronized (outbox) {
            if (dropped) {
                return;
            }
            if (outbox.size() >= MAX_QUEUED || queuedBytes + json.length() > maxQueuedBytes) {
                drop(s);
                return;
            }
            outbox.addLast(json);
            queuedBytes += json.length();
            if (writing || s == null) {
                return;
            }
            writing = true;
        }
        writeNext();
    }

    /** Called with the outbox locked: frees the queue, leaves the hub and closes the connection. */
    private void drop(Session s) {
        log.warn("dropping a dashboard connection from {} that fell behind: {} events, {} bytes waiting (limit {} bytes)",
                s == null ? "?" : s.getRemoteSocketAddress(), outbox.size(), queuedBytes, maxQueuedBytes);
        dropped = true;
        outbox.clear();
        queuedBytes = 0;
        // Not under the hub's lock necessarily, but removing from its copy-on-write set is safe anywhere.
        hub.disconnect(this);
        if (s != null) {
            s.close(StatusCode.TRY_AGAIN_LATER, TOO_SLOW, Callback.NOOP);
            // A client that reads nothing never lets the close frame out: cut the connection then.
            pinger.schedule(() -> {
                if (s.isOpen()) {
                    s.disconnect();
                }
            }, DROP_GRACE_MS, TimeUnit.MILLISECONDS);
        }
    }

    private void writeNext() {
        String next;
        synchronized (outbox) {
            next = outbox.pollFirst();
            if (next == null) {
                writing = false;
                return;
            }
            queuedBytes -= next.length();
        }
        Session s = session;
        s.sendText(next, Callback.from(this::writeNext, failure -> {
            log.debug("write to dashboard failed: {}", failure.toString());
            synchronized (outbox) {
                outbox.clear();
                queuedBytes = 0;
                writing = false;
            }
        }));
    }

    private void ping() {
        Session s = session;
        if (s != null && s.isOpen()) {
            s.sendPing(ByteBuffer.allocate(0), Callback.NOOP);
        }
    }

    @Override
    public void onWebSocketClose(int statusCode, String reason) {
        close();
        log.info("dashboard disconnected ({} {})", statusCode, reason);
    }

    @Override
    public void onWebSocketError(Throwable cause) {
        close();
        log.debug("dashboard connection failed: {}", cause.toString());
    }

    private void close() {
        hub.disconnect(this);
        if (released.compareAndSet(false, true)) {
            onClosed.run();
        }
        if (pings != null) {
            pings.cancel(false);
        }
    }
}
