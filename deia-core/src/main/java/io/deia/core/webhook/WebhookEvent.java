package io.deia.core.webhook;

import com.fasterxml.jackson.annotation.JsonAnyGetter;
import com.fasterxml.jackson.annotation.JsonAnySetter;
import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonProperty;

import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.UUID;

/**
 * One event for the hive's webhooks, as it is POSTed: {@code {"id","type","at","bot_id", …}} where
 * the rest are the event's own fields (for {@code task.completed}: {@code task_id}, {@code status},
 * {@code attempt}; for {@code permission.requested}: {@code request_id}, {@code tool}; …). The id is
 * also sent as {@code X-Deia-Event-Id}: a receiver that sees it twice (delivery is at least once)
 * drops the second.
 */
public final class WebhookEvent {
    private final String id;
    private final String type;
    private final Instant at;
    private final String botId;
    private final Map<String, Object> fields = new LinkedHashMap<>();

    @JsonCreator
    public WebhookEvent(@JsonProperty("id") String id, @JsonProperty("type") String type,
                        @JsonProperty("at") Instant at, @JsonProperty("bot_id") String botId) {
        this.id = id;
        this.type = type;
        this.at = at;
        this.botId = botId;
    }

    /** A new event with a fresh id, stamped now. */
    public static WebhookEvent of(String type, String botId, Map<String, ?> fields) {
        WebhookEvent e = new WebhookEvent("evt_" + UUID.randomUUID().toString().replace("-", ""), type,
                Instant.now().truncatedTo(java.time.temporal.ChronoUnit.MILLIS), botId);
        if (fields != null) {
            fields.forEach(e::field);
        }
        return e;
    }

    /**
     * An event whose id is derived from {@code key} (the same key, type and bot always give the same
     * id), stamped {@code at}: for an event a producer may have to write again after a crash (a
     * task's outcome found again on restart), so the receiver sees the same {@code X-Deia-Event-Id}
     * and drops the copy.
     */
    public static WebhookEvent keyed(String type, String botId, String key, Instant at, Map<String, ?> fields) {
        String hex;
        try {
            byte[] d = java.security.MessageDigest.getInstance("SHA-256").digest(
                    (type + "\n" + botId + "\n" + key).getBytes(java.nio.charset.StandardCharsets.UTF_8));
            hex = java.util.HexFormat.of().formatHex(d, 0, 16);
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is part of every Java runtime", e);
        }
        WebhookEvent e = new WebhookEvent("evt_" + hex, type, at.truncatedTo(java.time.temporal.ChronoUnit.MILLIS), botId);
        if (fields != null) {
            fields.forEach(e::field);
        }
        return e;
    }

    @JsonProperty("id")
    public String id() {
        return id;
    }

    @JsonProperty("type")
    public String type() {
        return type;
    }

    @JsonProperty("at")
    public Instant at() {
        return at;
    }

    @JsonProperty("bot_id")
    public String botId() {
        return botId;
    }

    /** The event's own fields (everything but id, type, at and bot_id). */
    @JsonAnyGetter
    public Map<String, Object> fields() {
        return fields;
    }

    @JsonAnySetter
    void field(String name, Object value) {
        if (value != null) {
            fields.put(name, value);
        }
    }

    @Override
    public String toString() {
        return type + " " + id + " bot " + botId;
    }
}
