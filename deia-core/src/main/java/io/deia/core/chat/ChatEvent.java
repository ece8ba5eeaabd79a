package io.deia.core.chat;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * Something that happened on a bot, as the router relays it to its subscribers: chat progress
 * ({@code ack}, {@code delta}, {@code agent}, {@code reply}, {@code error}) and bot events
 * ({@code status}, {@code task}, {@code permission_request}, {@code permission_resolved}). The controller adds {@code event_id} and {@code ts} before it
 * sends one over the WebSocket.
 *
 * @param type  the event type
 * @param botId the bot it is about
 * @param data  the type's fields, snake_case keys, in the order they are written
 */
public record ChatEvent(String type, String botId, Map<String, Object> data) {
    public static final String ACK = "ack";
    public static final String DELTA = "delta";
    public static final String AGENT = "agent";
    public static final String REPLY = "reply";
    public static final String ERROR = "error";
    public static final String STATUS = "status";
    public static final String TASK = "task";
    /** An agent's permission request waits for a person ({@code GET /api/bot/{id}/permissions} lists them). */
    public static final String PERMISSION_REQUEST = "permission_request";
    /** A permission request ended: answered, decided by the policy, timed out or cancelled. */
    public static final String PERMISSION_RESOLVED = "permission_resolved";

    public ChatEvent {
        Objects.requireNonNull(type, "type");
        data = Collections.unmodifiableMap(new LinkedHashMap<>(data));
    }

    /** Builds an event from alternating key/value pairs; null values are left out. */
    public static ChatEvent of(String type, String botId, Object... keyValues) {
        if (keyValues.length % 2 != 0) {
            throw new IllegalArgumentException("key/value pairs expected");
        }
        Map<String, Object> data = new LinkedHashMap<>();
        for (int i = 0; i < keyValues.length; i += 2) {
            if (keyValues[i + 1] != null) {
                data.put((String) keyValues[i], keyValues[i + 1]);
            }
        }
        return new ChatEvent(type, botId, data);
    }
}
