package io.deia.http.controller;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.deia.core.DeiaException;
import io.deia.core.chat.ChatRequest;
import io.deia.core.chat.HistoryStore;
import io.deia.core.chat.MessageRouter;
import io.deia.core.config.DeiaConfig;
import io.deia.core.config.Profile;
import io.deia.core.internal.BotIds;
import io.deia.core.internal.io.Json;
import io.deia.core.launch.BotLauncher;
import io.deia.core.ledger.CostSummary;
import io.deia.core.ledger.Spend;
import io.deia.core.project.Project;
import io.deia.core.registry.BotRecord;
import io.deia.core.registry.ServiceRegistry;
import io.deia.core.schedule.WaitingLine;
import io.deia.core.task.TaskQueue;
import io.deia.http.internal.HttpErrors;
import io.deia.http.internal.JsonResponses;
import io.deia.http.internal.MethodRouter;
import io.deia.http.internal.RequestBodies;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.Fields;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.UnaryOperator;
import java.util.regex.Pattern;

/**
 * The controller's REST endpoints. Each one translates HTTP to a call on the launcher, the
 * registry, the router, the task queue or the history store; none runs anything named by the
 * request (launch takes a profile name from the config, never a command line).
 */
final class ControllerApi {
    private static final Logger log = LoggerFactory.getLogger(ControllerApi.class);
    private static final Pattern PROJECT_NAME = Pattern.compile(Project.NAME_PATTERN);
    private static final String BOT_ID = "deia.botId";

    private final DeiaConfig config;
    private final ServiceRegistry registry;
    private final BotLauncher launcher;
    private final TaskQueue tasks;
    private final MessageRouter router;
    private final HistoryStore history;
    private final Duration statusTimeout;
    private final UnaryOperator<String> redact;
    private final Instant startedAt = Instant.now();
    private final Spend spend;
    /** The hive's line for turn slots: each waiting bot's {@code queue_position}. */
    private final WaitingLine line;

    ControllerApi(DeiaConfig config, ServiceRegistry registry, BotLauncher launcher, TaskQueue tasks,
                  MessageRouter router, Duration statusTimeout, UnaryOperator<String> redact, Spend spend,
                  WaitingLine line) {
        this.line = line;
        this.config = config;
        this.registry = registry;
        this.launcher = launcher;
        this.tasks = tasks;
        this.router = router;
        this.history = router.history();
        this.statusTimeout = statusTimeout;
        this.redact = redact;
        this.spend = spend;
    }

    /** A method router whose error messages name hive files relative to the hive, never by absolute path. */
    private MethodRouter endpoint() {
        return new MethodRouter(redact);
    }

    Handler health() {
        return endpoint().get((req, resp, cb) -> JsonResponses.send(resp, cb, 200,
                Map.of("status", "ok", "uptime_s", Duration.between(startedAt, Instant.now()).toSeconds())));
    }

    Handler bots() {
        return endpoint().get((req, resp, cb) -> {
            List<BotRecord> records = registry.list();
            List<CompletableFuture<Optional<String>>> lives = new ArrayList<>();
            for (BotRecord r : records) {
                lives.add(router.liveStatus(r, statusTimeout));
            }
            Map<String, CostSummary> costs = spend.bots();
            Map<String, Integer> positions = line.positions();
            List<ObjectNode> out = new ArrayList<>();
            for (int i = 0; i < records.size(); i++) {
                ObjectNode entry = view(records.get(i), lives.get(i).join());
                // From the ledger, not the live status: a stopped bot's spend still shows.
                entry.set("cost", Json.convert(costs.getOrDefault(records.get(i).botId(), CostSummary.ZERO), ObjectNode.class));
                Integer position = positions.get(records.get(i).botId());
                if (position != null) {
                    entry.put("queue_position", position);
                }
                out.add(entry);
            }
            JsonResponses.send(resp, cb, 200, Map.of("bots", out));
        });
    }

    Handler profiles() {
        return endpoint().get((req, resp, cb) -> {
            List<Map<String, Object>> out = new ArrayList<>();
            for (Profile p : config.profiles().values()) {
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("name", p.name());
                m.put("agent", p.agent().id());
                m.put("model", p.model());
                out.add(m);
            }
            JsonResponses.send(resp, cb, 200, Map.of("profiles", out));
        });
    }

    /**
     * {@code GET /api/projects}: the configured projects by name and base branch. No paths: a name
     * is all a client needs to launch a bot on one, and where the user keeps repositories is not the
     * client's business.
     */
    Handler projects() {
        return endpoint().get((req, resp, cb) -> {
            List<Map<String, Object>> out = new ArrayList<>();
            for (Project p : config.projects().values()) {
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("name", p.name());
                m.put("base", p.base());
                out.add(m);
            }
            JsonResponses.send(resp, cb, 200, Map.of("projects", out));
        });
    }

    /** Everything under {@code /api/bot/}: {@code launch} and {@code {id}/<action>}. */
    Handler botRoutes() {
        MethodRouter launch = endpoint().post(this::launch);
        Map<String, MethodRouter> actions = new LinkedHashMap<>();
        actions.put("stop", endpoint().post(this::stop));
        actions.put("status", endpoint().get(this::status));
        actions.put("message", endpoint().post(this::message));
        actions.put("interrupt", endpoint().post(this::interrupt));
        actions.put("tasks", endpoint().get(this::listTasks).post(this::submitTask));
        actions.put("history", endpoint().get(this::history));
        return new Handler.Abstract() {
            @Override
            public boolean handle(Request request, Response response, Callback callback) throws Exception {
                String rest = request.getHttpURI().getPath().substring("/api/bot/".length());
                String[] parts = rest.split("/", -1);
                if (parts.length == 1 && parts[0].equals("launch")) {
                    return launch.handle(request, response, callback);
                }
                MethodRouter action = parts.length == 2 ? actions.get(parts[1]) : null;
                if (action == null) {
                    HttpErrors.send(response, callback, io.deia.core.ErrorCode.NOT_FOUND,
                            "no such endpoint: " + request.getMethod() + " " + request.getHttpURI().getPath());
                    return true;
                }
                try {
                    request.setAttribute(BOT_ID, BotIds.requireValid(decode(parts[0])));
                } catch (DeiaException e) {
                    HttpErrors.send(response, callback, e);
                    return true;
                }
                return action.handle(request, response, callback);
            }
        };
    }

    private static String decode(String segment) {
        return org.eclipse.jetty.util.URIUtil.decodePath(segment);
    }

    private static String botId(Request request) {
        return (String) request.getAttribute(BOT_ID);
    }

    private void launch(Request req, Response resp, Callback cb) {
        JsonNode body = RequestBodies.readJsonObject(req, config.maxBodyBytes());
        String botId = BotIds.requireValid(RequestBodies.requireText(body, "bot_id"));
        String profileName = RequestBodies.requireText(body, "profile");
        config.requireProfile(profileName);
        String projectName = projectName(body);
        // An entry that says running over a dead pid (a stop or crash whose record could not be
        // written) is not believed: only the same pid with the same start instant is running.
        registry.get(botId).filter(r -> r.state().isLive() && r.pid() > 0
                && io.deia.core.internal.process.ProcessTrees.isSameProcessAlive(r.pid(), r.processStart())).ifPresent(r -> {
            throw DeiaException.conflict("bot %s is already running (pid %d, port %d)", botId, r.pid(), r.port());
        });
        log.info("[{}] launch requested with profile {}{}", botId, profileName,
                projectName == null ? "" : ", project " + projectName);
        BotRecord rec = launcher.launch(botId, profileName, projectName);
        router.follow(botId);
        JsonResponses.send(resp, cb, 201, view(rec, router.liveStatus(rec, statusTimeout).join()));
    }

    /**
     * The launch body's optional {@code project}: a configured project's name, never a path. A
     * value that cannot be a name is refused before any lookup (and not echoed: it may be long).
     */
    private String projectName(JsonNode body) {
        String name = RequestBodies.optionalText(body, "project");
        if (name == null) {
            return null;
        }
        if (!PROJECT_NAME.matcher(name).matches()) {
            throw DeiaException.invalid("field 'project' must be the name of a configured project (%s)",
                    Project.NAME_PATTERN);
        }
        config.requireProject(name);
        return name;
    }

    private void stop(Request req, Response resp, Callback cb) {
        String botId = botId(req);
        requireRegistered(botId);
        log.info("[{}] stop requested", botId);
        BotRecord rec = launcher.stop(botId);
        JsonResponses.send(resp, cb, 200, view(rec, Optional.empty()));
    }

    private void status(Request req, Response resp, Callback cb) {
        BotRecord rec = requireRegistered(botId(req));
        JsonResponses.send(resp, cb, 200, view(rec, router.liveStatus(rec, statusTimeout).join()));
    }

    /**
     * Chat over REST. The server thread is given back as soon as the message is queued: the
     * response is sent from whichever thread ends the turn, so messages waiting for a busy bot hold
     * no server thread, {@code /health} and every other endpoint stay responsive under a flood, and
     * a full lane answers 429 at once (the router's per-bot limit).
     */
    private void message(Request req, Response resp, Callback cb) {
        String botId = botId(req);
        JsonNode body = RequestBodies.readJsonObject(req, config.maxBodyBytes());
        ChatRequest chat = ChatRequest.fromJson(Json.convert(body, Map.class));
        Duration turn = registry.get(botId).flatMap(r -> config.profile(r.profile()))
                .map(Profile::timeout).orElse(Duration.ofMinutes(10));
        // The bot enforces the turn timeout itself; the margin covers the way there and back.
        long waitMs = turn.toMillis() + 30_000;
        // A turn may be silent for longer than the connection's idle timeout; orTimeout bounds the wait.
        req.addIdleTimeoutListener(timeout -> false);
        router.send(botId, chat.text(), chat.clientMsgId())
                .orTimeout(waitMs, TimeUnit.MILLISECONDS)
                .whenComplete((result, failure) -> {
                    if (failure == null) {
                        Map<String, Object> out = new LinkedHashMap<>();
                        out.put("reply", result.text());
                        out.put("result", result);
                        JsonResponses.send(resp, cb, 200, out);
                        return;
                    }
                    DeiaException e = isTimeout(failure)
                            ? DeiaException.timeout("bot %s did not answer within %d s", botId, waitMs / 1000)
                            : HttpErrors.toDeia(failure);
                    HttpErrors.send(resp, cb, e.code(), redact.apply(e.getMessage()));
                });
    }

    private static boolean isTimeout(Throwable failure) {
        for (Throwable t = failure; t != null; t = t.getCause()) {
            if (t instanceof TimeoutException) {
                return true;
            }
        }
        return false;
    }

    private void interrupt(Request req, Response resp, Callback cb) {
        boolean interrupted = router.interrupt(botId(req));
        JsonResponses.send(resp, cb, 200, Map.of("interrupted", interrupted));
    }

    private void listTasks(Request req, Response resp, Callback cb) {
        String botId = botId(req);
        requireRegistered(botId);
        TaskQueue.ResponseListing listing = tasks.responseListing(botId, intParam(req, "limit", 50, 1, 500));
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("pending", tasks.pending(botId));
        out.put("responses", listing.responses());
        // Unreadable response files are named (file name only) instead of failing the whole list.
        out.put("skipped", listing.skipped());
        out.put("outcomes", tasks.outcomes(botId));
        JsonResponses.send(resp, cb, 200, out);
    }

    private void submitTask(Request req, Response resp, Callback cb) {
        String botId = botId(req);
        String markdown = taskFile(req);
        requireRegistered(botId);
        String taskId = tasks.submit(botId, markdown);
        log.info("[{}] task {} submitted over the API", botId, taskId);
        JsonResponses.send(resp, cb, 201, Map.of("task_id", taskId));
    }

    /**
     * The task file of a {@code POST …/tasks}: {@code {"task": "<file text>"}} as JSON, or the file
     * itself as {@code text/markdown} (what the dashboard sends). No other type gets here: the
     * request guard refuses it with 415.
     */
    private String taskFile(Request req) {
        String type = req.getHeaders().get(HttpHeader.CONTENT_TYPE);
        if (type != null && type.toLowerCase(Locale.ROOT).startsWith("text/markdown")) {
            return RequestBodies.readUtf8(req, config.maxBodyBytes());
        }
        return RequestBodies.requireText(RequestBodies.readJsonObject(req, config.maxBodyBytes()), "task");
    }

    private void history(Request req, Response resp, Callback cb) {
        String botId = botId(req);
        requireRegistered(botId);
        int limit = intParam(req, "limit", 50, 1, HistoryStore.MAX_PAGE);
        String before = Request.extractQueryParameters(req).getValue("before");
        Long beforeSeq = null;
        if (before != null && !before.isEmpty()) {
            try {
                beforeSeq = Long.parseLong(before);
            } catch (NumberFormatException e) {
                throw DeiaException.invalid("before must be a number, was '%s'", before.length() > 40 ? before.substring(0, 40) : before);
            }
        }
        HistoryStore.Page page = history.read(botId, beforeSeq, limit);
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("messages", page.messages());
        out.put("next_before", page.nextBefore());
        JsonResponses.send(resp, cb, 200, out);
    }

    private BotRecord requireRegistered(String botId) {
        return registry.get(botId).orElseThrow(() -> DeiaException.notFound("no bot %s is registered", botId));
    }

    private static int intParam(Request req, String name, int dflt, int min, int max) {
        Fields q = Request.extractQueryParameters(req);
        String v = q.getValue(name);
        if (v == null || v.isEmpty()) {
            return dflt;
        }
        try {
            int n = Integer.parseInt(v);
            if (n < min || n > max) {
                throw DeiaException.invalid("%s must be %d..%d, was %d", name, min, max, n);
            }
            return n;
        } catch (NumberFormatException e) {
            throw DeiaException.invalid("%s must be a number", name);
        }
    }

    /** A registry entry as JSON (snake_case, with {@code status}) plus the bot's live {@code /status} or null. */
    static ObjectNode view(BotRecord rec, Optional<String> live) {
        ObjectNode node = Json.convert(rec, ObjectNode.class);
        node.set("live", live.map(status -> Json.read(status, JsonNode.class, "status of " + rec.botId())).orElse(null));
        return node;
    }
}
