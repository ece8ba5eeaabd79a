package io.deia.http.controller;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.DeiaException;
import io.deia.core.chat.ChatEvent;
import io.deia.core.chat.MessageRouter;
import io.deia.core.io.Json;
import org.eclipse.jetty.websocket.api.Callback;
import org.eclipse.jetty.websocket.api.Session;
import org.eclipse.jetty.websocket.api.StatusCode;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.concurrent.Executor;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * One dashboard's WebSocket connection on {@code /ws}. Client messages: {@code message},
 * {@code interrupt}, {@code ping}. Server events come from the {@link EventHub}; they are queued
 * per connection and written one at a time, so a slow client never blocks the others. A client
 * whose queue overflows is disconnected (it reconnects with its last event id). The server pings
 * every ping interval so idle connections stay open through proxies and dead ones are noticed.
 */
public final class ChatSocket implements Session.Listener.AutoDemanding, EventHub.Client {
    private static final Logger log = LoggerFactory.getLogger(ChatSocket.class);

    /** Events a connection may have waiting before it is dropped as too slow. */
    static final int MAX_QUEUED = 10_000;

    private final EventHub hub;
    private final MessageRouter router;
    private final Executor blockingWork;
    private final ScheduledExecutorService pinger;
    private final long pingIntervalMs;
    private final Long lastEventId;
    private final ArrayDeque<String> outbox = new ArrayDeque<>();
    private boolean writing;
    private volatile Session session;
    private ScheduledFuture<?> pings;

    ChatSocket(EventHub hub, MessageRouter router, Executor blockingWork, ScheduledExecutorService pinger,
               long pingIntervalMs, Long lastEventId) {
        this.hub = hub;
        this.router = router;
        this.blockingWork = blockingWork;
        this.pinger = pinger;
        this.pingIntervalMs = pingIntervalMs;
        this.lastEventId = lastEventId;
    }

    @Override
    public void onWebSocketOpen(Session session) {
        this.session = session;
        hub.connect(this, lastEventId);
        pings = pinger.scheduleAtFixedRate(this::ping, pingIntervalMs, pingIntervalMs, TimeUnit.MILLISECONDS);
        log.info("dashboard connected from {} (last_event_id {})", session.getRemoteSocketAddress(), lastEventId);
    }

    @Override
    public void onWebSocketText(String text) {
        JsonNode msg;
        try {
            msg = Json.readTree(text, "WebSocket message");
            if (!msg.isObject()) {
                throw DeiaException.invalid("a WebSocket message must be a JSON object");
            }
        } catch (DeiaException e) {
            replyError(null, null, e);
            return;
        }
        String type = msg.path("type").asText("");
        String botId = msg.hasNonNull("bot_id") ? msg.path("bot_id").asText() : null;
        String clientMsgId = msg.hasNonNull("client_msg_id") ? msg.path("client_msg_id").asText() : null;
        try {
            switch (type) {
                case "message" -> {
                    JsonNode textNode = msg.get("text");
                    if (textNode == null || !textNode.isTextual()) {
                        throw DeiaException.invalid("field 'text' is required and must be a string");
                    }
                    requireBot(botId);
                    router.send(botId, textNode.asText(), clientMsgId, MessageRouter.SOURCE_WEBSOCKET);
                }
                case "interrupt" -> {
                    requireBot(botId);
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

    private static void requireBot(String botId) {
        if (botId == null) {
            throw DeiaException.invalid("field 'bot_id' is required");
        }
    }

    private void replyError(String botId, String clientMsgId, RuntimeException failure) {
        DeiaException e = failure instanceof DeiaException d ? d
                : DeiaException.internal("internal error: " + failure, failure);
        deliver(hub.direct(ChatEvent.of(ChatEvent.ERROR, botId, "client_msg_id", clientMsgId,
                "code", e.code().id(), "message", e.getMessage())));
    }

    @Override
    public void deliver(String json) {
        Session s = session;
        synchronized (outbox) {
            if (outbox.size() >= MAX_QUEUED) {
                log.warn("dropping a dashboard connection that fell {} events behind", MAX_QUEUED);
                outbox.clear();
                if (s != null) {
                    s.close(StatusCode.TRY_AGAIN_LATER, "too far behind; reconnect with last_event_id", Callback.NOOP);
                }
                return;
            }
            outbox.addLast(json);
            if (writing || s == null) {
                return;
            }
            writing = true;
        }
        writeNext();
    }

    private void writeNext() {
        String next;
        synchronized (outbox) {
            next = outbox.pollFirst();
            if (next == null) {
                writing = false;
                return;
            }
        }
        Session s = session;
        s.sendText(next, Callback.from(this::writeNext, failure -> {
            log.debug("write to dashboard failed: {}", failure.toString());
            synchronized (outbox) {
                outbox.clear();
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
        if (pings != null) {
            pings.cancel(false);
        }
    }
}
