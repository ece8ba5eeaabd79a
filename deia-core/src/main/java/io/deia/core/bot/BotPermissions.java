package io.deia.core.bot;

import io.deia.core.config.Profile;
import io.deia.core.permission.PermissionAnswer;
import io.deia.core.permission.PermissionBroker;
import io.deia.core.permission.PermissionListener;
import io.deia.core.permission.PermissionRequest;
import io.deia.core.internal.io.LogSafe;
import io.deia.core.webhook.WebhookOutbox;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledThreadPoolExecutor;

/**
 * A bot's permission relay: its {@link PermissionBroker} with the thread that runs the timeouts, and
 * the listener that puts every request and its end on the bot's event stream and keeps the bot's
 * state ({@code waiting_approval}) current, and writes a {@code permission.requested} webhook event
 * for every request that waits for a person.
 */
final class BotPermissions implements PermissionListener, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(BotPermissions.class);
    /** Longest {@code subject} in a webhook event (the command or path a person judges). */
    private static final int MAX_SUBJECT = 200;

    private final String botId;
    private final BotEventBus events;
    private final Runnable refreshState;
    private final WebhookOutbox webhooks;
    /** Cancelled timeouts are dropped at once: a bot may ask thousands of times. */
    private final ScheduledThreadPoolExecutor timers;
    final PermissionBroker broker;

    BotPermissions(String botId, Profile profile, BotEventBus events, Runnable refreshState, WebhookOutbox webhooks) {
        this.botId = botId;
        this.webhooks = webhooks;
        this.events = events;
        this.refreshState = refreshState;
        this.timers = new ScheduledThreadPoolExecutor(1, r -> {
            Thread t = new Thread(r, "bot-" + botId + "-permissions");
            t.setDaemon(true);
            return t;
        });
        timers.setRemoveOnCancelPolicy(true);
        this.broker = new PermissionBroker(botId, profile.approval(), profile.denyPatterns(), this, timers);
    }

    @Override
    public void requested(PermissionRequest request) {
        events.publish(BotEvent.permissionRequested(botId, request));
        refreshStateLater();
        later(() -> publishWebhook(request));
    }

    /** The webhook event: a durable write, so on the timer thread like the state change. */
    private void publishWebhook(PermissionRequest request) {
        Map<String, Object> fields = new LinkedHashMap<>();
        fields.put("request_id", request.requestId());
        fields.put("tool", request.tool());
        fields.put("subject", request.summary() == null ? null : LogSafe.printable(request.summary(), MAX_SUBJECT));
        fields.put("task_id", request.taskId());
        try {
            webhooks.publish("permission.requested", botId, fields);
        } catch (RuntimeException e) {
            log.warn("[{}] cannot write the webhook event of permission request {}: {}", botId, request.requestId(),
                    LogSafe.printable(e.getMessage()));
        }
    }

    @Override
    public void resolved(PermissionRequest request, PermissionAnswer answer) {
        events.publish(BotEvent.permissionResolved(botId, request.requestId(), answer));
        refreshStateLater();
    }

    /**
     * The state change ({@code waiting_approval} and back) is a durable registry write: done on the
     * timer thread, not on the thread that reads the CLI's output or answers it, so a slow disk
     * delays neither the request on its way to a person nor the answer on its way to the CLI.
     * Once the timer thread has ended (the bot stops) it is done here.
     */
    private void refreshStateLater() {
        later(refreshState);
    }

    private void later(Runnable work) {
        try {
            timers.execute(work);
        } catch (RejectedExecutionException e) {
            work.run();
        }
    }

    /** Cancels whatever still waits (nothing is persisted: nothing waits after a restart) and ends the timer thread. */
    @Override
    public void close() {
        broker.close();
        timers.shutdownNow();
    }
}
