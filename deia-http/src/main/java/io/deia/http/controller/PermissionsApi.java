package io.deia.http.controller;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.DeiaException;
import io.deia.core.chat.MessageRouter;
import io.deia.core.config.DeiaConfig;
import io.deia.core.internal.BotIds;
import io.deia.core.internal.io.Json;
import io.deia.http.internal.HttpErrors;
import io.deia.http.internal.JsonResponses;
import io.deia.http.internal.MethodRouter;
import io.deia.http.internal.PermissionAnswerBody;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.URIUtil;

import java.util.function.UnaryOperator;

/**
 * A bot's permission requests on the controller, forwarded to the bot's port the way
 * {@code /message} is ({@link MessageRouter#permissions}, {@link MessageRouter#answerPermission}):
 * <ul>
 *   <li>{@code GET /api/bot/{id}/permissions}: {@code {"permissions": [...]}}, what waits for a person</li>
 *   <li>{@code POST /api/bot/{id}/permissions/{request_id}} {@code {"decision", "message"?}}: 200
 *       {@code {request_id, decision, by, at}}; 404 unknown; 409 already resolved; 400 bad decision or id</li>
 * </ul>
 * The bot id and the request id are checked, and the body read and checked, before the bot is called:
 * nothing but a well-formed id and answer reaches a bot.
 */
final class PermissionsApi {
    private static final String PREFIX = "/api/bot/";
    private static final String BOT_ID = "deia.permissions.botId";
    private static final String REQUEST_ID = "deia.permissions.requestId";

    private final DeiaConfig config;
    private final MessageRouter router;
    private final UnaryOperator<String> redact;

    PermissionsApi(DeiaConfig config, MessageRouter router, UnaryOperator<String> redact) {
        this.config = config;
        this.router = router;
        this.redact = redact;
    }

    /** The handler of {@code /api/bot/*}: the permission routes are served here, every other path by {@code next}. */
    Handler around(Handler next) {
        MethodRouter list = new MethodRouter(redact).get(this::list);
        MethodRouter answer = new MethodRouter(redact).post(this::answer);
        return new Handler.Wrapper(next) {
            @Override
            public boolean handle(Request request, Response response, Callback callback) throws Exception {
                String[] parts = request.getHttpURI().getPath().substring(PREFIX.length()).split("/", -1);
                if (parts.length < 2 || parts.length > 3 || !parts[1].equals("permissions")) {
                    return super.handle(request, response, callback);
                }
                try {
                    request.setAttribute(BOT_ID, BotIds.requireValid(URIUtil.decodePath(parts[0])));
                    if (parts.length == 3) {
                        // Not decoded: a request id has no character that needs encoding, so any escape is refused.
                        request.setAttribute(REQUEST_ID, PermissionAnswerBody.requireRequestId(parts[2]));
                    }
                } catch (DeiaException e) {
                    HttpErrors.send(response, callback, e);
                    return true;
                }
                return (parts.length == 2 ? list : answer).handle(request, response, callback);
            }
        };
    }

    private void list(Request req, Response resp, Callback cb) {
        String answer = router.permissions((String) req.getAttribute(BOT_ID));
        JsonResponses.send(resp, cb, 200, Json.read(answer, JsonNode.class, "permissions"));
    }

    private void answer(Request req, Response resp, Callback cb) {
        PermissionAnswerBody body = PermissionAnswerBody.read(req, config.maxBodyBytes());
        String answer = router.answerPermission((String) req.getAttribute(BOT_ID), (String) req.getAttribute(REQUEST_ID),
                body.toMap());
        JsonResponses.send(resp, cb, 200, Json.read(answer, JsonNode.class, "permission answer"));
    }
}
