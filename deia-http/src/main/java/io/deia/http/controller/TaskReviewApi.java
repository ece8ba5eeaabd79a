package io.deia.http.controller;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;
import io.deia.core.HiveLayout;
import io.deia.core.config.DeiaConfig;
import io.deia.core.internal.BotIds;
import io.deia.core.internal.io.Json;
import io.deia.core.internal.io.LogSafe;
import io.deia.core.internal.process.ProcessTrees;
import io.deia.core.project.ProjectReview;
import io.deia.core.registry.ServiceRegistry;
import io.deia.core.task.TaskIds;
import io.deia.http.internal.HttpErrors;
import io.deia.http.internal.JsonResponses;
import io.deia.http.internal.MethodRouter;
import io.deia.http.internal.RequestBodies;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.URIUtil;

import java.util.Map;
import java.util.function.UnaryOperator;

/**
 * The review endpoints of a task's work on a project ({@link ProjectReview}):
 * <ul>
 *   <li>{@code GET /api/bot/{id}/tasks/{task_id}/diff}</li>
 *   <li>{@code POST /api/bot/{id}/tasks/{task_id}/merge}, {@code …/discard}, {@code …/restore}
 *       (an empty body or {@code {}})</li>
 *   <li>{@code DELETE /api/bot/{id}?remove_worktree=true}: removes a stopped bot's worktree</li>
 * </ul>
 * Bot and task ids are checked before anything else; no path comes from the request. A merge
 * conflict answers 409 with the conflicting {@code files} in the error. {@link ProjectReview} logs
 * each operation with its outcome.
 */
final class TaskReviewApi {
    private static final String PREFIX = "/api/bot/";
    private static final String BOT_ID = "deia.review.botId";
    private static final String TASK_ID = "deia.review.taskId";

    private final DeiaConfig config;
    private final ServiceRegistry registry;
    private final ProjectReview review;
    private final UnaryOperator<String> redact;

    TaskReviewApi(HiveLayout hive, DeiaConfig config, ServiceRegistry registry, UnaryOperator<String> redact) {
        this.config = config;
        this.registry = registry;
        this.review = new ProjectReview(hive, config);
        this.redact = redact;
    }

    /**
     * The handler of {@code /api/bot/*}: the review routes are served here, every other path by
     * {@code botRoutes}.
     */
    Handler around(Handler botRoutes) {
        Map<String, MethodRouter> actions = Map.of(
                "diff", new MethodRouter(redact).get(this::diff),
                "merge", new MethodRouter(redact).post(this::merge),
                "discard", new MethodRouter(redact).post(this::discard),
                "restore", new MethodRouter(redact).post(this::restore));
        MethodRouter bot = new MethodRouter(redact).on("DELETE", this::deleteBot);
        return new Handler.Wrapper(botRoutes) {
            @Override
            public boolean handle(Request request, Response response, Callback callback) throws Exception {
                String[] parts = request.getHttpURI().getPath().substring(PREFIX.length()).split("/", -1);
                MethodRouter route = null;
                if (parts.length == 4 && parts[1].equals("tasks")) {
                    route = actions.get(parts[3]);
                } else if (parts.length == 1 && !parts[0].equals("launch")) {
                    route = bot;
                }
                if (route == null) {
                    return super.handle(request, response, callback);
                }
                try {
                    request.setAttribute(BOT_ID, BotIds.requireValid(URIUtil.decodePath(parts[0])));
                    if (parts.length == 4) {
                        request.setAttribute(TASK_ID, requireTaskId(URIUtil.decodePath(parts[2])));
                    }
                } catch (DeiaException e) {
                    HttpErrors.send(response, callback, e);
                    return true;
                }
                return route.handle(request, response, callback);
            }
        };
    }

    private static String requireTaskId(String taskId) {
        if (!TaskIds.isValid(taskId)) {
            throw DeiaException.invalid("task id '%s' is invalid; expected %s", LogSafe.printable(taskId, 80), TaskIds.PATTERN);
        }
        return taskId;
    }

    private static String botId(Request req) {
        return (String) req.getAttribute(BOT_ID);
    }

    private static String taskId(Request req) {
        return (String) req.getAttribute(TASK_ID);
    }

    private void diff(Request req, Response resp, Callback cb) {
        JsonResponses.send(resp, cb, 200, review.diff(botId(req), taskId(req)));
    }

    private void merge(Request req, Response resp, Callback cb) {
        requireNoFields(req);
        JsonResponses.send(resp, cb, 200, review.merge(botId(req), taskId(req)));
    }

    private void discard(Request req, Response resp, Callback cb) {
        requireNoFields(req);
        JsonResponses.send(resp, cb, 200, review.discard(botId(req), taskId(req)));
    }

    private void restore(Request req, Response resp, Callback cb) {
        requireNoFields(req);
        JsonResponses.send(resp, cb, 200, review.restore(botId(req), taskId(req)));
    }

    /** {@code DELETE /api/bot/{id}?remove_worktree=true}: the worktree of a stopped bot. */
    private void deleteBot(Request req, Response resp, Callback cb) {
        String botId = botId(req);
        requireNoFields(req);
        if (!"true".equals(Request.extractQueryParameters(req).getValue("remove_worktree"))) {
            throw DeiaException.invalid("DELETE /api/bot/{id} removes a stopped bot's worktree: add ?remove_worktree=true");
        }
        // Only the same pid with the same start instant is running: an entry over a dead pid is not believed.
        registry.get(botId).filter(r -> r.state().isLive() && r.pid() > 0
                && ProcessTrees.isSameProcessAlive(r.pid(), r.processStart())).ifPresent(r -> {
            throw DeiaException.conflict("bot %s is running (pid %d); stop it before removing its worktree", botId, r.pid());
        });
        JsonResponses.send(resp, cb, 200, review.removeWorktree(botId));
    }

    /** These requests take no parameters: an empty body or {@code {}} (over the size limit: 413). */
    private void requireNoFields(Request req) {
        String text = RequestBodies.readUtf8(req, config.maxBodyBytes());
        if (text.isBlank()) {
            return;
        }
        JsonNode body = Json.readStrict(text, JsonNode.class, "request body");
        if (!body.isObject() || !body.isEmpty()) {
            throw new DeiaException(ErrorCode.INVALID_ARGUMENT, "this request takes no fields: send an empty body or {}");
        }
    }
}
