package io.deia.http.controller;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.DeiaException;
import io.deia.core.config.HiveSettings;
import io.deia.core.config.LiveConfig;
import io.deia.core.internal.io.Json;
import io.deia.http.internal.JsonResponses;
import io.deia.http.internal.MethodRouter;
import io.deia.http.internal.RequestBodies;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.UnaryOperator;

/**
 * {@code POST /api/config/reload} (body {@code {}} or none): reads the config file {@code serve} was
 * started with again ({@link LiveConfig#reload()}); 200 {@code {"reloaded": true, "settings": …}} with
 * the settings now published to the bots, 422 naming the file and the field when the file is not a
 * valid config (nothing changes then). Token, Origin and JSON rules as every {@code /api} call.
 */
final class ConfigReloadApi {
    private final LiveConfig live;
    private final UnaryOperator<String> redact;

    ConfigReloadApi(LiveConfig live, UnaryOperator<String> redact) {
        this.live = live;
        this.redact = redact;
    }

    Handler handler() {
        return new MethodRouter(redact).post(this::reload);
    }

    private void reload(Request req, Response resp, Callback cb) {
        // Nothing to say in the body; a JSON object is allowed (and checked) for clients that always send one.
        String text = RequestBodies.readUtf8(req, live.get().maxBodyBytes());
        if (!text.isBlank() && !Json.readStrict(text, JsonNode.class, "request body").isObject()) {
            throw DeiaException.invalid("request body must be a JSON object (or empty)");
        }
        HiveSettings settings = live.reload();
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("reloaded", true);
        out.put("settings", settings);
        JsonResponses.send(resp, cb, 200, out);
    }
}
