package io.deia.http.bot;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;
import io.deia.core.HiveToken;
import io.deia.core.agent.AgentEvent;
import io.deia.core.agent.TurnResult;
import io.deia.core.bot.BotEvent;
import io.deia.core.bot.BotRuntime;
import io.deia.core.chat.ChatRequest;
import io.deia.core.internal.io.Json;
import io.deia.core.registry.BotState;
import io.deia.http.internal.HttpErrors;
import io.deia.http.internal.JsonErrorHandler;
import io.deia.http.internal.JsonResponses;
import io.deia.http.internal.MethodRouter;
import io.deia.http.internal.RequestBodies;
import io.deia.http.internal.RequestGuard;
import org.eclipse.jetty.http.pathmap.PathSpec;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.handler.PathMappingsHandler;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.Fields;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;

// Over ~400 lines because it holds one small handler per endpoint of the bot port (eight) and its
// builder; each handler only maps HTTP to one BotRuntime call.
/**
 * A bot's HTTP service on 127.0.0.1: {@code /health}, {@code /status}, {@code /message} (blocking
 * or streamed as NDJSON), {@code /interrupt}, {@code /pause}, {@code /resume}, {@code /stop} and
 * {@code /events}, with {@code /permissions} in {@link PermissionEndpoints}. It only translates HTTP to {@link BotRuntime} calls; the bot itself lives there.
 *
 * <p>{@code /message} and {@code /events} may stay open for long (a turn may take minutes, an event
 * stream for the life of the bot), so the connector's idle timeout is ignored on those two while
 * they wait; {@code /events} writes {@code {"type":"keepalive"}} after {@link #KEEPALIVE} of
 * silence so a reader that went away is noticed (readers skip types they do not know).
 * {@code /health?wait_ms=N} of a bot that is still starting waits up to N ms for the end of its start
 * (also past the idle timeout), so a launcher asks once instead of polling.
 *
 * <p>A bot port obeys the controller and local scripts, never a browser: every endpoint but
 * {@code /health} needs the hive's token ({@code Authorization: Bearer …}), and a
 * {@link RequestGuard} refuses any request with an {@code Origin} or a cross-site
 * {@code Sec-Fetch-Site} (403), a body that is not JSON (415) and a {@code Host} other than this
 * port's loopback names (421) before an endpoint sees it.
 */
final class BotHttpService implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(BotHttpService.class);
    private static final Object END = new Object();

    /** Silence on {@code /events} after which a keepalive line is written. */
    public static final Duration KEEPALIVE = Duration.ofSeconds(15);

    /**
     * The longest {@code GET /health?wait_ms=} wait for a starting bot: long enough for a runner's
     * start on a busy machine, short enough that a caller's request timeout covers it.
     */
    public static final Duration MAX_HEALTH_WAIT = Duration.ofSeconds(10);

    private final BotRuntime runtime;
    private final HiveToken token;
    private final String host;
    private final int requestedPort;
    private final Duration stopGrace;
    private final Duration idleTimeout;
    private final Server server;
    private ServerConnector connector;
    /** The port once bound; kept after the connector closes. */
    private volatile int boundPort;

    private BotHttpService(Builder b) {
        this.runtime = Objects.requireNonNull(b.runtime, "runtime");
        this.token = Objects.requireNonNull(b.token, "token: a bot port never serves without the hive's token");
        this.host = b.host;
        this.requestedPort = b.port;
        this.stopGrace = b.stopGrace;
        this.idleTimeout = b.idleTimeout;
        QueuedThreadPool threads = new QueuedThreadPool(b.maxThreads, 2);
        threads.setName("bot-" + runtime.botId() + "-http");
        this.server = new Server(threads);
    }

    /** A builder for the service of {@code runtime}. */
    public static Builder builder(BotRuntime runtime) {
        return new Builder(runtime);
    }

    /**
     * Binds the port and starts serving.
     *
     * @throws DeiaException {@code UNAVAILABLE} when the port cannot be bound
     */
    public BotHttpService start() {
        HttpConfiguration http = new HttpConfiguration();
        http.setSendServerVersion(false);
        http.setSendDateHeader(false);
        connector = new ServerConnector(server, 1, 1, new HttpConnectionFactory(http));
        connector.setHost(host);
        connector.setPort(requestedPort);
        connector.setIdleTimeout(idleTimeout.toMillis());
        server.addConnector(connector);
        server.setErrorHandler(new JsonErrorHandler());
        server.setHandler(RequestGuard.builder(runtime.botId(), token)
                .hosts(this::hosts)
                .open(path -> path.equals("/health"))
                .wrap(routes()));
        server.setStopTimeout(2000);
        try {
            server.start();
        } catch (Exception e) {
            try {
                server.stop();
            } catch (Exception ignored) {
                // The bind failure is what matters; a failed cleanup adds nothing.
            }
            throw new DeiaException(io.deia.core.ErrorCode.UNAVAILABLE, String.format("bot %s: cannot serve HTTP on %s:%d: %s",
                    runtime.botId(), host, requestedPort, e.getMessage()), e);
        }
        log.info("[{}] HTTP service listening on {}:{}", runtime.botId(), host, port());
        return this;
    }

    /** The bound port (the real one when 0 was requested). */
    public int port() {
        int bound = connector == null ? -1 : connector.getLocalPort();
        if (bound > 0) {
            boundPort = bound;
            return bound;
        }
        // While stopping, the connector no longer knows its port; requests in flight still name it.
        return boundPort > 0 ? boundPort : requestedPort;
    }

    /** The base URL, e.g. {@code http://127.0.0.1:8101}. */
    public String url() {
        return "http://" + host + ":" + port();
    }

    /** The {@code Host} values answered: the loopback names and the bound address, with the port. */
    private Set<String> hosts() {
        Set<String> hosts = new LinkedHashSet<>(RequestGuard.loopbackHosts(port()));
        hosts.add(host.toLowerCase(Locale.ROOT) + ":" + port());
        return hosts;
    }

    /** Stops serving. Does not stop the runtime. */
    @Override
    public void close() {
        try {
            server.stop();
            log.info("[{}] HTTP service closed", runtime.botId());
        } catch (Exception e) {
            log.warn("[{}] HTTP service did not stop cleanly: {}", runtime.botId(), e.toString());
        }
    }

    private PathMappingsHandler routes() {
        PathMappingsHandler routes = new PathMappingsHandler();
        routes.addMapping(PathSpec.from("/health"), new MethodRouter().get(this::health));
        routes.addMapping(PathSpec.from("/status"), new MethodRouter().get(this::status));
        routes.addMapping(PathSpec.from("/message"), new MethodRouter().post(this::message));
        routes.addMapping(PathSpec.from("/interrupt"), new MethodRouter().post(this::interrupt));
        routes.addMapping(PathSpec.from("/pause"), new MethodRouter().post(this::pause));
        routes.addMapping(PathSpec.from("/resume"), new MethodRouter().post(this::resume));
        routes.addMapping(PathSpec.from("/stop"), new MethodRouter().post(this::stop));
        routes.addMapping(PathSpec.from("/events"), new MethodRouter().get(this::events));
        new PermissionEndpoints(runtime).mount(routes);
        return routes;
    }

    // ---------------------------------------------------------------- endpoints

    private void health(Request request, Response response, Callback callback) throws InterruptedException {
        Duration wait = healthWait(Request.extractQueryParameters(request).getValue("wait_ms"));
        BotState state = runtime.state();
        if (state == BotState.STARTING && !wait.isZero()) {
            request.addIdleTimeoutListener(timeout -> false);
            state = runtime.awaitStarted(wait);
        }
        if (state == BotState.STARTING) {
            throw DeiaException.unavailable("bot %s is starting", runtime.botId());
        }
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("status", "ok");
        body.put("bot_id", runtime.botId());
        body.put("pid", ProcessHandle.current().pid());
        JsonResponses.send(response, callback, 200, body);
    }

    private void status(Request request, Response response, Callback callback) {
        JsonResponses.send(response, callback, 200, runtime.status());
    }

    private void interrupt(Request request, Response response, Callback callback) {
        JsonResponses.send(response, callback, 200, Map.of("interrupted", runtime.interrupt()));
    }

    private void pause(Request request, Response response, Callback callback) {
        requireRunning();
        JsonResponses.send(response, callback, 200, Map.of("state", runtime.pause().id()));
    }

    private void resume(Request request, Response response, Callback callback) {
        requireRunning();
        JsonResponses.send(response, callback, 200, Map.of("state", runtime.resume().id()));
    }

    private void stop(Request request, Response response, Callback callback) {
        log.info("[{}] stop requested over HTTP", runtime.botId());
        // Answer first, then stop: the caller learns that the stop began even though it takes a while.
        Callback thenStop = Callback.from(callback, () -> {
            Thread t = new Thread(() -> runtime.stop(stopGrace), "bot-" + runtime.botId() + "-stop");
            t.start();
        });
        JsonResponses.send(response, thenStop, 202, Map.of("stopping", true));
    }

    private void message(Request request, Response response, Callback callback) throws Exception {
        requireRunning();
        JsonNode body = RequestBodies.readJsonObject(request, runtime.config().maxBodyBytes());
        ChatRequest chat = ChatRequest.fromJson(Json.convert(body, Map.class));
        String text = chat.text();
        if (text.isBlank()) {
            throw DeiaException.invalid("field 'text' is empty");
        }
        String clientMsgId = chat.clientMsgId();
        Fields query = Request.extractQueryParameters(request);
        boolean stream = "true".equalsIgnoreCase(query.getValue("stream"));
        request.addIdleTimeoutListener(timeout -> false);
        if (stream) {
            streamMessage(text, clientMsgId, response, callback);
            return;
        }
        TurnResult result = runtime.sendMessage(text, clientMsgId, null);
        switch (result.status()) {
            case COMPLETED, INTERRUPTED -> JsonResponses.send(response, callback, 200, reply(result));
            case TIMEOUT -> sendTurnError(response, callback, ErrorCode.TIMEOUT,
                    "the agent did not answer within the turn timeout: " + result.error(), result);
            case FAILED -> sendTurnError(response, callback, ErrorCode.INTERNAL,
                    "the agent failed: " + result.error(), result);
        }
    }

    private void streamMessage(String text, String clientMsgId, Response response, Callback callback)
            throws Exception {
        // Agent events arrive on the agent's reader thread; this request thread writes them, so a
        // slow reader never stalls the agent. END marks the turn's end in the same queue.
        LinkedBlockingQueue<Object> pending = new LinkedBlockingQueue<>();
        CompletableFuture<TurnResult> turn = runtime.submitMessage(text, clientMsgId, event -> {
            // The final line is written from the turn's result below; the agent's own copy is dropped.
            if (!(event instanceof AgentEvent.Result)) {
                pending.add(event);
            }
        });
        turn.whenComplete((r, e) -> pending.add(END));
        boolean started = false;
        for (Object next = pending.take(); next != END; next = pending.take()) {
            started = startStream(response, started);
            JsonResponses.writeLine(response, next);
        }
        TurnResult result;
        try {
            result = turn.get();
        } catch (ExecutionException e) {
            DeiaException failure = HttpErrors.toDeia(e.getCause());
            if (!started) {
                // Nothing was sent yet: the caller gets an ordinary error response.
                throw failure;
            }
            JsonResponses.writeLine(response, Map.of("type", "error", "message", String.valueOf(failure.getMessage())));
            response.write(true, null, callback);
            return;
        }
        startStream(response, started);
        JsonResponses.writeLine(response, new AgentEvent.Result(result));
        response.write(true, null, callback);
    }

    private static boolean startStream(Response response, boolean started) {
        if (!started) {
            JsonResponses.startNdjson(response, 200);
        }
        return true;
    }

    private void events(Request request, Response response, Callback callback) throws IOException,
            InterruptedException {
        Fields query = Request.extractQueryParameters(request);
        String afterText = query.getValue("after");
        long after;
        if (afterText == null || afterText.isBlank()) {
            after = runtime.events().lastSeq();
        } else {
            try {
                after = Long.parseLong(afterText.trim());
            } catch (NumberFormatException e) {
                throw DeiaException.invalid("query parameter 'after' must be a whole number, was '%s'", afterText);
            }
        }
        request.addIdleTimeoutListener(timeout -> false);
        JsonResponses.startNdjson(response, 200);
        // Commit the headers now so that the reader knows the stream is open before any event.
        JsonResponses.flush(response);
        long last = after;
        while (true) {
            List<BotEvent> batch = runtime.events().awaitAfter(last, KEEPALIVE);
            for (BotEvent e : batch) {
                JsonResponses.writeLine(response, e);
                last = e.seq();
            }
            if (batch.isEmpty()) {
                if (runtime.events().isClosed()) {
                    break;
                }
                JsonResponses.writeLine(response, Map.of("type", "keepalive", "bot_id", runtime.botId()));
            }
        }
        response.write(true, null, callback);
    }

    // ---------------------------------------------------------------- helpers

    /** {@code wait_ms} of {@code /health}: absent means no wait; at most {@link #MAX_HEALTH_WAIT}. */
    static Duration healthWait(String text) {
        if (text == null || text.isBlank()) {
            return Duration.ZERO;
        }
        long ms;
        try {
            ms = Long.parseLong(text.trim());
        } catch (NumberFormatException e) {
            throw DeiaException.invalid("query parameter 'wait_ms' must be a whole number of milliseconds, was '%s'", text);
        }
        if (ms < 0 || ms > MAX_HEALTH_WAIT.toMillis()) {
            throw DeiaException.invalid("query parameter 'wait_ms' must be 0..%d, was %d", MAX_HEALTH_WAIT.toMillis(), ms);
        }
        return Duration.ofMillis(ms);
    }

    private void requireRunning() {
        if (runtime.isStopping()) {
            throw DeiaException.unavailable("bot %s is stopping", runtime.botId());
        }
    }

    private static Map<String, Object> reply(TurnResult result) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("reply", result.text());
        body.put("result", result);
        return body;
    }

    private static void sendTurnError(Response response, Callback callback, ErrorCode code, String message,
                                      TurnResult result) {
        Map<String, Object> body = new LinkedHashMap<>(HttpErrors.body(code, message));
        body.put("result", result);
        JsonResponses.send(response, callback, code.httpStatus(), body);
    }

    /** Builder for {@link BotHttpService}. */
    public static final class Builder {
        private final BotRuntime runtime;
        private HiveToken token;
        private String host = "127.0.0.1";
        private int port;
        private Duration stopGrace = Duration.ofSeconds(5);
        private Duration idleTimeout = Duration.ofSeconds(30);
        private int maxThreads = 48;

        private Builder(BotRuntime runtime) {
            this.runtime = runtime;
        }

        /** The hive's token every endpoint but {@code /health} requires; required. */
        public Builder token(HiveToken v) { this.token = v; return this; }

        /** The address to bind (127.0.0.1). */
        public Builder host(String v) { this.host = v; return this; }

        /** The port to bind; 0 picks a free one. */
        public Builder port(int v) { this.port = v; return this; }

        /** How long {@code POST /stop} lets the running turn finish before interrupting it (5 s). */
        public Builder stopGrace(Duration v) { this.stopGrace = v; return this; }

        /** Connections idle this long are closed, except waiting {@code /message} and {@code /events} calls (30 s). */
        public Builder idleTimeout(Duration v) { this.idleTimeout = v; return this; }

        /** Upper bound of the HTTP thread pool: long calls each hold one (48). */
        public Builder maxThreads(int v) { this.maxThreads = v; return this; }

        /** The service, not started yet. */
        public BotHttpService build() {
            return new BotHttpService(this);
        }
    }
}
