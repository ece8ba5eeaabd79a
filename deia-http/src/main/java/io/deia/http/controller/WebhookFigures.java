package io.deia.http.controller;

import io.deia.core.DeiaException;
import io.deia.core.HiveLayout;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.function.LongSupplier;

/**
 * The webhook figures {@code GET /metrics} shows, each asked at every scrape. Suppliers rather than
 * an interface to implement, so whoever delivers the webhooks hands over its counters as method
 * references ({@code new WebhookFigures(d::delivered, d::failed, d::dead, d::pending)}) without
 * depending on this module.
 *
 * @param delivered deliveries answered with a 2xx since the hive began (or since the deliverer's
 *                  counts began), or null when not known: the metric is then left out
 * @param failed    delivery attempts that failed (error, timeout or non-2xx; each retry counts), or
 *                  null when not known
 * @param dead      events given up on after their retry window, waiting to be looked at
 * @param pending   events in the outbox not yet delivered to every webhook that wants them
 */
public record WebhookFigures(LongSupplier delivered, LongSupplier failed, LongSupplier dead, LongSupplier pending) {
    public WebhookFigures {
        java.util.Objects.requireNonNull(dead, "dead");
        java.util.Objects.requireNonNull(pending, "pending");
    }

    /**
     * What the hive's files tell without the deliverer: pending events are the files in
     * {@code hive/webhooks/outbox/}, dead ones those in {@code hive/webhooks/dead/}. Delivered and
     * failed counts are not kept in files, so they are left out rather than shown as 0.
     */
    public static WebhookFigures fromFiles(HiveLayout hive) {
        return new WebhookFigures(null, null, () -> countEvents(hive.webhookDeadDir()),
                () -> countEvents(hive.webhookOutboxDir()));
    }

    /** The event files ({@code *.json}) in {@code dir}; a temporary file of an atomic write is not one. */
    static long countEvents(Path dir) {
        long n = 0;
        try (var files = Files.newDirectoryStream(dir, "*.json")) {
            for (Path ignored : files) {
                n++;
            }
        } catch (NoSuchFileException e) {
            return 0;
        } catch (IOException e) {
            throw DeiaException.io("cannot list the webhook events in", dir, e);
        }
        return n;
    }
}
