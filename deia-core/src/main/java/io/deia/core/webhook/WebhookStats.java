package io.deia.core.webhook;

/**
 * The dispatcher's figures, for {@code GET /api/webhooks} and {@code /metrics}.
 *
 * @param deliveredTotal deliveries answered 2xx since this dispatcher started
 * @param failedTotal    failed attempts (non-2xx, I/O error, timeout, missing secret) since it started
 * @param pending        deliveries (event × webhook) not delivered and not dead yet
 * @param dead           dead deliveries recorded in the hive ({@code hive/webhooks/dead/})
 */
public record WebhookStats(long deliveredTotal, long failedTotal, long pending, long dead) {
}
