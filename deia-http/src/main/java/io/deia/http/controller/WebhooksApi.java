package io.deia.http.controller;

import io.deia.core.DeiaException;
import io.deia.core.webhook.WebhookDispatcher;
import io.deia.core.webhook.WebhookStats;
import io.deia.http.internal.JsonResponses;
import io.deia.http.internal.MethodRouter;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.UnaryOperator;

/**
 * {@code GET /api/webhooks[?limit=N]}: the dispatcher's figures and its dead deliveries, newest first
 * (100 by default, 1..1000):
 * {@code {"pending", "delivered_total", "failed_total", "dead_total", "dead": [{"id", "type", "bot_id",
 * "url", "attempts", "last_error", "first_at", "dead_at"}]}}. Read only; behind the same guard as
 * every {@code /api} route (token, origin).
 */
final class WebhooksApi {
    private static final int DEFAULT_LIMIT = 100;
    private static final int MAX_LIMIT = 1000;

    private final WebhookDispatcher dispatcher;
    private final UnaryOperator<String> redact;

    WebhooksApi(WebhookDispatcher dispatcher, UnaryOperator<String> redact) {
        this.dispatcher = dispatcher;
        this.redact = redact;
    }

    Handler handler() {
        return new MethodRouter(redact).get(this::list);
    }

    private void list(Request req, Response resp, Callback cb) {
        int limit = limit(Request.extractQueryParameters(req).getValue("limit"));
        WebhookStats stats = dispatcher.stats();
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("pending", stats.pending());
        out.put("delivered_total", stats.deliveredTotal());
        out.put("failed_total", stats.failedTotal());
        out.put("dead_total", stats.dead());
        out.put("dead", dispatcher.dead(limit));
        JsonResponses.send(resp, cb, 200, out);
    }

    private static int limit(String value) {
        if (value == null || value.isEmpty()) {
            return DEFAULT_LIMIT;
        }
        try {
            int n = Integer.parseInt(value);
            if (n >= 1 && n <= MAX_LIMIT) {
                return n;
            }
        } catch (NumberFormatException e) {
            // answered below
        }
        throw DeiaException.invalid("limit must be a number 1..%d", MAX_LIMIT);
    }
}
