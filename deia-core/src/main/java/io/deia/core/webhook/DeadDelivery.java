package io.deia.core.webhook;

import java.time.Instant;

/**
 * A delivery given up on after its retry window, as {@code GET /api/webhooks} lists it. Recorded in
 * {@code hive/webhooks/dead/} with the event itself, so an operator can still send it by hand.
 *
 * @param id        the event's id
 * @param type      the event's type
 * @param botId     the bot the event is about
 * @param url       the webhook it was not delivered to
 * @param attempts  how often it was tried
 * @param lastError why the last attempt failed
 * @param firstAt   when the event was written
 * @param deadAt    when it was given up on
 */
public record DeadDelivery(String id, String type, String botId, String url, int attempts, String lastError,
                           Instant firstAt, Instant deadAt) {
}
