package io.deia.core.webhook;

import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What the dispatcher knows of one event's deliveries, kept next to the event as
 * {@code hive/webhooks/deliveries/<event file name>} (written atomically after every attempt that
 * did not end the event), so a restarted {@code serve} neither sends again what a webhook already
 * has nor forgets how often and until when a failing one was tried. An event without this file has
 * had no attempt recorded yet.
 *
 * @param eventId the event's id
 * @param hooks   per webhook ({@link io.deia.core.config.Webhook#key()}) its delivery so far
 */
public record DeliveryState(String eventId, Map<String, HookDelivery> hooks) {
    public DeliveryState {
        hooks = hooks == null ? new LinkedHashMap<>() : new LinkedHashMap<>(hooks);
    }

    /**
     * One webhook's delivery of the event.
     *
     * @param url         the webhook's URL (for the record; the key names the webhook)
     * @param attempts    attempts made so far
     * @param nextAt      when it is tried next (null: at once)
     * @param lastError   why the last attempt failed, or null
     * @param deliveredAt when it was answered 2xx, or null
     * @param deadAt      when it was given up on, or null
     */
    public record HookDelivery(String url, int attempts, Instant nextAt, String lastError, Instant deliveredAt,
                               Instant deadAt) {
        /** True once delivered or dead: nothing more is sent to this webhook. */
        public boolean done() {
            return deliveredAt != null || deadAt != null;
        }
    }
}
