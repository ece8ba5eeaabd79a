package io.deia.core.chat;

import io.deia.core.DeiaException;

import java.util.Map;

/**
 * A chat message as a client sends it, the same for every way in (controller REST, the
 * controller's WebSocket, a bot's own {@code /message}), so one path never accepts what another
 * refuses: {@code text} must be a string, {@code client_msg_id} absent, null or a string of at most
 * {@value #MAX_CLIENT_MSG_ID} printable ASCII characters (it is echoed in events and written to
 * logs, so it may not carry control characters or escape sequences).
 *
 * @param text        the message text (checked further by {@link MessageValidator})
 * @param clientMsgId the client's id for the message, or null
 */
public record ChatRequest(String text, String clientMsgId) {
    /** Longest {@code client_msg_id} accepted. */
    public static final int MAX_CLIENT_MSG_ID = 128;

    /**
     * Reads the {@code text} and {@code client_msg_id} fields of a parsed JSON object (as
     * {@code Json.convert(tree, Map.class)} gives it: a JSON string is a {@code String}).
     *
     * @throws DeiaException {@code INVALID_ARGUMENT} naming the field that is missing or wrong
     */
    public static ChatRequest fromJson(Map<?, ?> object) {
        if (object == null) {
            throw DeiaException.invalid("a chat message must be a JSON object");
        }
        Object text = object.get("text");
        if (text == null) {
            throw DeiaException.invalid("field 'text' is required");
        }
        if (!(text instanceof String)) {
            throw DeiaException.invalid("field 'text' must be a string");
        }
        Object id = object.get("client_msg_id");
        if (id != null && !(id instanceof String)) {
            throw DeiaException.invalid("field 'client_msg_id' must be a string");
        }
        return new ChatRequest((String) text, requireClientMsgId((String) id));
    }

    /**
     * Returns {@code id} when it is a valid {@code client_msg_id}; null for null or blank (the router makes one then).
     *
     * @throws DeiaException {@code INVALID_ARGUMENT} when it is empty, too long or not printable ASCII
     */
    public static String requireClientMsgId(String id) {
        if (id == null || id.isBlank()) {
            return null; // as if left out: the router makes one
        }
        if (id.length() > MAX_CLIENT_MSG_ID) {
            throw DeiaException.invalid("client_msg_id is %d characters long; at most %d are allowed", id.length(),
                    MAX_CLIENT_MSG_ID);
        }
        for (int i = 0; i < id.length(); i++) {
            char c = id.charAt(i);
            if (c < 0x20 || c > 0x7e) {
                throw DeiaException.invalid("client_msg_id may hold printable ASCII only; character U+%04X at index %d is not",
                        (int) c, i);
            }
        }
        return id;
    }
}
