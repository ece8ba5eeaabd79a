package io.deia.http.bot;

import io.deia.core.bot.BotRuntime;
import io.deia.core.permission.PermissionAnswer;
import io.deia.http.internal.JsonResponses;
import io.deia.http.internal.MethodRouter;
import io.deia.http.internal.PermissionAnswerBody;
import org.eclipse.jetty.http.pathmap.PathSpec;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.handler.PathMappingsHandler;
import org.eclipse.jetty.util.Callback;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The permission endpoints of a bot port, over {@link BotRuntime#permissions()}:
 * <ul>
 *   <li>{@code GET /permissions}: {@code {"permissions": [...]}}, the requests waiting for a person</li>
 *   <li>{@code POST /permissions/{request_id}} {@code {"decision", "message"?}}: 200
 *       {@code {request_id, decision, by, at}}; 404 unknown; 409 already resolved; 400 bad decision or id</li>
 * </ul>
 */
final class PermissionEndpoints {
    private static final String PREFIX = "/permissions/";

    private final BotRuntime runtime;

    PermissionEndpoints(BotRuntime runtime) {
        this.runtime = runtime;
    }

    /** Mounts both endpoints on {@code routes}. */
    void mount(PathMappingsHandler routes) {
        routes.addMapping(PathSpec.from("/permissions"), new MethodRouter().get(this::list));
        routes.addMapping(PathSpec.from(PREFIX + "*"), new MethodRouter().post(this::answer));
    }

    private void list(Request request, Response response, Callback callback) {
        JsonResponses.send(response, callback, 200, Map.of("permissions", runtime.permissions().pending()));
    }

    private void answer(Request request, Response response, Callback callback) {
        String path = request.getHttpURI().getPath();
        // Checked before the body is read: an id that is not one is a 400, whatever the body.
        String requestId = PermissionAnswerBody.requireRequestId(path.substring(PREFIX.length()));
        PermissionAnswerBody body = PermissionAnswerBody.read(request, runtime.config().maxBodyBytes());
        PermissionAnswer answer = runtime.permissions().answer(requestId, body.decision(), body.message());
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("request_id", requestId);
        out.put("decision", answer.decision().id());
        out.put("by", answer.by().id());
        out.put("at", answer.at());
        JsonResponses.send(response, callback, 200, out);
    }
}
