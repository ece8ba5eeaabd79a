package io.deia.core.webhook;

import io.deia.core.HiveLayout;
import io.deia.core.config.HiveSettings;
import io.deia.core.internal.HiveGuard;
import io.deia.core.internal.io.AtomicFiles;
import io.deia.core.internal.io.Json;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Map;
import java.util.function.Supplier;

/**
 * Where events for the hive's webhooks are written first: {@code hive/webhooks/outbox/<millis>-<id>.json},
 * atomically and durably, before anyone tries to send them, so a crash of {@code serve} (which
 * delivers them) or of the bot (which wrote them) loses none. An event of a type no configured
 * webhook wants is not written at all.
 *
 * <p>Any process of the hive may write here (a bot runner for {@code task.*},
 * {@code permission.requested} and {@code bot.over_budget}; the controller for {@code bot.failed}).
 */
public final class WebhookOutbox {
    private static final Logger log = LoggerFactory.getLogger(WebhookOutbox.class);

    private final HiveLayout hive;
    private final Supplier<HiveSettings> settings;

    /**
     * @param hive     the hive
     * @param settings the settings in force (which event types are wanted), asked at each event
     */
    public WebhookOutbox(HiveLayout hive, Supplier<HiveSettings> settings) {
        this.hive = hive;
        this.settings = settings;
    }

    /**
     * Writes the event when a webhook wants its type.
     *
     * @return the event written, or null when no webhook wants the type
     * @throws io.deia.core.DeiaException when it cannot be written
     */
    public WebhookEvent publish(String type, String botId, Map<String, ?> fields) {
        if (!settings.get().wantsEvent(type)) {
            return null;
        }
        return write(WebhookEvent.of(type, botId, fields));
    }

    /**
     * Writes an event made by the caller (e.g. {@link WebhookEvent#keyed}) when a webhook wants its
     * type; writing the same keyed event again replaces its file (same time, same id).
     *
     * @return the event, or null when no webhook wants its type
     * @throws io.deia.core.DeiaException when it cannot be written
     */
    public WebhookEvent publish(WebhookEvent event) {
        if (!settings.get().wantsEvent(event.type())) {
            return null;
        }
        return write(event);
    }

    private WebhookEvent write(WebhookEvent event) {
        String type = event.type();
        String botId = event.botId();
        HiveGuard.dir(hive, hive.webhookOutboxDir());
        AtomicFiles.writeString(hive.webhookOutboxDir().resolve(fileName(event)), Json.write(event));
        log.info("[{}] webhook event {} {} written to the outbox", botId, type, event.id());
        return event;
    }

    /** The outbox file name of an event: its time first, so a listing sorts oldest first. */
    public static String fileName(WebhookEvent event) {
        return String.format("%013d-%s.json", event.at().toEpochMilli(), event.id());
    }
}
