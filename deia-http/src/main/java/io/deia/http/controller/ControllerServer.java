package io.deia.http.controller;

import io.deia.core.DeiaException;
import io.deia.core.HiveLayout;
import io.deia.core.HiveToken;
import io.deia.core.chat.MessageRouter;
import io.deia.core.config.DeiaConfig;
import io.deia.core.config.LiveConfig;
import io.deia.core.internal.HiveGuard;
import io.deia.core.launch.BotLauncher;
import io.deia.core.registry.ServiceRegistry;
import io.deia.core.task.TaskQueue;
import io.deia.core.webhook.DispatcherOptions;
import io.deia.core.webhook.WebhookDispatcher;
import io.deia.http.internal.HivePathRedactor;
import io.deia.http.internal.HttpErrors;
import io.deia.http.internal.JsonErrorHandler;
import io.deia.http.internal.RequestGuard;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.handler.ContextHandler;
import org.eclipse.jetty.server.handler.PathMappingsHandler;
import org.eclipse.jetty.util.Fields;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.eclipse.jetty.websocket.server.WebSocketUpgradeHandler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashSet;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.atomic.AtomicInteger;

// Over ~400 lines because its Builder (a third of the file) documents every setting next to its default;
// the server itself is wiring (WebSocket upgrade, Host/Origin sets); the routes are ControllerRoutes'.
/**
 * The controller behind {@code serve}: REST API, WebSocket {@code /ws} and the dashboard, on Jetty
 * 12 core handlers, bound to 127.0.0.1 unless told otherwise. See {@code docs/http-api.md} for
 * every endpoint.
 *
 * <p>The server does not own the launcher, registry, task queue or router it is given: closing it
 * stops HTTP only, so bots keep running and the caller decides what else to stop.
 *
 * <pre>{@code
 * try (ControllerServer server = ControllerServer.builder(hive, config, registry, launcher, tasks, router)
 *         .port(8080).build().start()) {
 *     System.out.println(server.dashboardUrl());
 * }
 * }</pre>
 */
public final class ControllerServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ControllerServer.class);

    /** Classpath folder of the dashboard's static files. */
    public static final String DASHBOARD_RESOURCES = "io/deia/http/dashboard/";

    /** Default idle timeout of plain HTTP connections (WebSockets use the builder's idle timeout). */
    static final Duration HTTP_IDLE_TIMEOUT = Duration.ofSeconds(60);

    private final Builder settings;
    private final Server server;
    private final EventHub hub;
    private final ScheduledExecutorService pinger;
    private final ExecutorService blockingWork;
    /** Open WebSocket connections, counted against {@link Builder#wsMaxConnections}. */
    private final AtomicInteger sockets = new AtomicInteger();
    /** Error messages to clients name hive files relative to the hive, never by absolute path. */
    private final HivePathRedactor redactor;
    private ServerConnector connector;
    /** The port once bound; kept after the connector closes. */
    private volatile int boundPort;
    private HiveToken token;
    private MessageRouter.Subscription subscription;
    /** Delivers the hive's webhook events while the server runs. */
    private final WebhookDispatcher webhooks;
    /** The config now in force; {@code POST /api/config/reload} replaces it. */
    private final LiveConfig live;

    private ControllerServer(Builder b) {
        this.settings = b;
        QueuedThreadPool threads = new QueuedThreadPool(b.maxThreads, 2);
        threads.setName("deia-controller");
        this.server = new Server(threads);
        this.hub = new EventHub(b.replayBuffer, Instant.now());
        this.redactor = new HivePathRedactor(b.hive.root());
        AtomicInteger n = new AtomicInteger();
        this.pinger = Executors.newSingleThreadScheduledExecutor(r -> daemon(r, "deia-ws-ping"));
        this.blockingWork = Executors.newCachedThreadPool(r -> daemon(r, "deia-ws-work-" + n.incrementAndGet()));
        // The config a reload replaces: the builder's, or one over the config alone (no file: a reload says so).
        this.live = b.liveConfig != null ? b.liveConfig : new LiveConfig(b.hive, null, b.config);
        this.webhooks = new WebhookDispatcher(b.hive, live, b.webhookOptions);
    }

    private static Thread daemon(Runnable r, String name) {
        Thread t = new Thread(r, name);
        t.setDaemon(true);
        return t;
    }

    /**
     * A builder for the controller of one hive; every collaborator is required and stays owned by the
     * caller (closing the server does not close the launcher, registry or router).
     *
     * @param launcher starts and stops bots for {@code POST /api/bots} and {@code DELETE /api/bots/{id}}
     * @param tasks    the queue behind {@code /api/bots/{id}/tasks}
     * @param router   carries chat messages to the bots and their events back to the dashboards
     * @return a builder with the default limits (see each option)
     */
    public static Builder builder(HiveLayout hive, DeiaConfig config, ServiceRegistry registry, BotLauncher launcher,
                                  TaskQueue tasks, MessageRouter router) {
        return new Builder(hive, config, registry, launcher, tasks, router);
    }

    /**
     * Loads (or creates) the token, subscribes to the router and starts listening.
     *
     * @return this
     * @throws DeiaException {@code UNAVAILABLE} when the address cannot be bound
     */
    public ControllerServer start() {
        // Before the token file is read: a token link planted in a foreign hive must not be followed.
        HiveGuard.check(settings.hive);
        token = HiveToken.loadOrCreate(settings.hive);
        subscription = settings.router.subscribeAll(hub);
        HttpConfiguration http = new HttpConfiguration();
        http.setSendServerVersion(false);
        connector = new ServerConnector(server, 1, 1, new HttpConnectionFactory(http));
        connector.setHost(settings.bind);
        connector.setPort(settings.port);
        // Plain HTTP keeps its connections open longer than WebSockets are allowed to stay silent:
        // clients pool connections, and a server closing one just as a client reuses it fails a request.
        connector.setIdleTimeout(settings.httpIdleTimeout != null ? settings.httpIdleTimeout.toMillis()
                : Math.max(settings.idleTimeout.toMillis(), HTTP_IDLE_TIMEOUT.toMillis()));
        server.addConnector(connector);
        server.setErrorHandler(new JsonErrorHandler());
        // A root context gives the resource handler its path-in-context and the WebSocket container its home.
        ContextHandler root = new ContextHandler("/");
        root.setHandler(webSockets(root, new ControllerRoutes(settings, redactor, webhooks, live).routes(server)));
        server.setHandler(RequestGuard.builder("controller", token)
                .hosts(this::allowedHosts)
                .origins(this::allowedOrigins)
                .open(path -> !AccessGuard.needsToken(path))
                // Dashboard pages may be opened from a link anywhere; the API and /ws may not be called from elsewhere.
                .navigable(path -> !AccessGuard.needsToken(path))
                .cookie(AccessGuard.COOKIE)
                // The dashboard sends a task file as it is; text/markdown needs a CORS preflight, which is never answered.
                .alsoAccept("text/markdown", ControllerServer::isTaskSubmission)
                .wrap(new AccessGuard(token, root)));
        server.setStopTimeout(2000);
        try {
            webhooks.start();
            server.start();
        } catch (Exception e) {
            close();
            throw DeiaException.unavailable("cannot listen on %s:%d: %s", settings.bind, settings.port, e.getMessage());
        }
        log.info("controller listening on {}", baseUrl());
        return this;
    }

    private WebSocketUpgradeHandler webSockets(ContextHandler context, PathMappingsHandler routes) {
        WebSocketUpgradeHandler ws = WebSocketUpgradeHandler.from(server, context, container -> {
            container.setIdleTimeout(settings.idleTimeout);
            container.setMaxTextMessageSize(settings.config.maxMessageBytes() * 2L + 4096);
            container.setMaxBinaryMessageSize(1024);
            container.addMapping("/ws", (req, resp, cb) -> {
                Fields query = Request.extractQueryParameters(req);
                String last = query.getValue("last_event_id");
                Long lastEventId = null;
                if (last != null && !last.isEmpty()) {
                    try {
                        lastEventId = Long.parseLong(last);
                    } catch (NumberFormatException e) {
                        HttpErrors.send(resp, cb, io.deia.core.ErrorCode.INVALID_ARGUMENT, "last_event_id must be a number");
                        return null;
                    }
                }
                // Every connection carries the hive's one token, so this is the per-token limit.
                if (sockets.incrementAndGet() > settings.wsMaxConnections) {
                    sockets.decrementAndGet();
                    log.warn("refused a WebSocket from {}: {} connections are open (the limit)",
                            Request.getRemoteAddr(req), settings.wsMaxConnections);
                    HttpErrors.send(resp, cb, io.deia.core.ErrorCode.TOO_MANY_REQUESTS, "too many WebSocket connections ("
                            + settings.wsMaxConnections + " are open); close one or try again later");
                    return null;
                }
                return new ChatSocket(hub, settings.router, blockingWork, pinger, settings.pingInterval.toMillis(),
                        lastEventId, settings.wsMaxQueuedBytes, sockets::decrementAndGet, redactor);
            });
        });
        ws.setHandler(routes);
        return ws;
    }

    private static boolean isTaskSubmission(String path) {
        return path.startsWith("/api/bot/") && path.endsWith("/tasks");
    }

    /** {@code Host} values answered: the loopback names and the {@code --bind} address, with the port. */
    private Set<String> allowedHosts() {
        Set<String> hosts = new LinkedHashSet<>(RequestGuard.loopbackHosts(port()));
        String bind = hostPort(settings.bind);
        hosts.add(bind);
        if (port() == 80) {
            hosts.add(bind.substring(0, bind.lastIndexOf(':')));
        }
        return hosts;
    }

    /** The controller's own origins: {@code http://} plus each allowed {@code Host}. */
    private Set<String> allowedOrigins() {
        return allowedHosts().stream().map(host -> "http://" + host)
                .collect(java.util.stream.Collectors.toCollection(LinkedHashSet::new));
    }

    /** {@code address:port}, an IPv6 address in brackets, lower-case. */
    private String hostPort(String address) {
        String a = address.toLowerCase(Locale.ROOT);
        return (a.contains(":") && !a.startsWith("[") ? "[" + a + "]" : a) + ":" + port();
    }

    /** The port listened on (the real one when 0 was asked for). */
    public int port() {
        int bound = connector == null ? -1 : connector.getLocalPort();
        if (bound > 0) {
            boundPort = bound;
            return bound;
        }
        // While stopping, the connector no longer knows its port, but requests still in flight are
        // checked against it (their Host names the port they came to).
        return boundPort > 0 ? boundPort : settings.port;
    }

    /** {@code http://<bind>:<port>}. */
    public String baseUrl() {
        String host = settings.bind.equals("0.0.0.0") ? "127.0.0.1" : settings.bind;
        return "http://" + host + ":" + port();
    }

    /** The URL that opens the dashboard and hands it the token ({@code /?token=…}). Print it; do not log it. */
    public String dashboardUrl() {
        return baseUrl() + "/?token=" + token.reveal();
    }

    /** The hive's token (for the command line that prints the URL and for tests). */
    public HiveToken token() {
        return token;
    }

    /** The id of the newest event sent to dashboards. */
    public long lastEventId() {
        return hub.lastEventId();
    }

    /** The event hub (for tests in this package: they feed it events directly). */
    EventHub hub() {
        return hub;
    }

    /** The webhook dispatcher of this server (its {@link WebhookDispatcher#stats()} feed {@code /metrics}). */
    public WebhookDispatcher webhooks() {
        return webhooks;
    }

    /** Stops listening and delivering webhooks; bots, launcher and router are left as they are. */
    @Override
    public void close() {
        if (subscription != null) {
            subscription.close();
        }
        try {
            server.stop();
        } catch (Exception e) {
            log.warn("stopping the controller's HTTP server failed: {}", e.toString());
        }
        pinger.shutdownNow();
        blockingWork.shutdownNow();
        webhooks.close();
        log.info("controller stopped");
    }

    /** Settings of a {@link ControllerServer}. */
    public static final class Builder {
        final HiveLayout hive;
        final DeiaConfig config;
        final ServiceRegistry registry;
        final BotLauncher launcher;
        final TaskQueue tasks;
        final MessageRouter router;
        String bind = "127.0.0.1";
        int port = 8080;
        int replayBuffer = 2000;
        Duration pingInterval = Duration.ofSeconds(20);
        Duration idleTimeout = Duration.ofSeconds(60);
        /** Null: the longer of {@link #HTTP_IDLE_TIMEOUT} and {@link #idleTimeout}. */
        Duration httpIdleTimeout;
        Duration statusTimeout = Duration.ofMillis(1500);
        int maxThreads = 200;
        long wsMaxQueuedBytes = 16L * 1024 * 1024;
        int wsMaxConnections = 64;
        /** Null: the figures of this controller's webhook dispatcher. */
        WebhookFigures webhookStats;
        DispatcherOptions webhookOptions = DispatcherOptions.defaults();
        LiveConfig liveConfig;

        private Builder(HiveLayout hive, DeiaConfig config, ServiceRegistry registry, BotLauncher launcher,
                        TaskQueue tasks, MessageRouter router) {
            this.hive = Objects.requireNonNull(hive, "hive");
            this.config = Objects.requireNonNull(config, "config");
            this.registry = Objects.requireNonNull(registry, "registry");
            this.launcher = Objects.requireNonNull(launcher, "launcher");
            this.tasks = Objects.requireNonNull(tasks, "tasks");
            this.router = Objects.requireNonNull(router, "router");
        }

        /** Address to listen on; 127.0.0.1 by default. */
        public Builder bind(String address) {
            this.bind = Objects.requireNonNull(address, "address");
            return this;
        }

        /** Port; 8080 by default, 0 for any free one. */
        public Builder port(int port) {
            if (port < 0 || port > 65535) {
                throw DeiaException.invalid("port must be 0..65535, was %d", port);
            }
            this.port = port;
            return this;
        }

        /** Events kept for reconnecting WebSocket clients (2000). */
        public Builder replayBuffer(int events) {
            this.replayBuffer = events;
            return this;
        }

        /** How often the server pings each WebSocket (20 s); keep it below the idle timeout. */
        public Builder pingInterval(Duration interval) {
            this.pingInterval = interval;
            return this;
        }

        /** WebSocket connections silent this long are closed (60 s); plain HTTP connections get at least 60 s. */
        public Builder idleTimeout(Duration timeout) {
            this.idleTimeout = timeout;
            return this;
        }

        /**
         * Plain HTTP connections silent this long are closed, stalled ones (slow-loris) included; by default
         * the longer of 60 s and the WebSocket idle timeout.
         *
         * @param timeout a positive duration
         * @return this builder
         */
        public Builder httpIdleTimeout(Duration timeout) {
            if (timeout.isNegative() || timeout.isZero()) {
                throw DeiaException.invalid("HTTP idle timeout must be positive, was %s", timeout);
            }
            this.httpIdleTimeout = timeout;
            return this;
        }

        /** How long a bot's live {@code /status} may take before it is shown as null (1.5 s). */
        public Builder statusTimeout(Duration timeout) {
            this.statusTimeout = timeout;
            return this;
        }

        /**
         * Server threads (200). Chat over REST holds none while it waits for a bot, so this bounds
         * concurrent requests being read or answered, not messages waiting.
         */
        public Builder maxThreads(int threads) {
            if (threads < 8) {
                throw DeiaException.invalid("max threads must be >= 8, was %d", threads);
            }
            this.maxThreads = threads;
            return this;
        }

        /**
         * Events one WebSocket connection may have waiting to be written, in bytes (16 MiB). A client
         * reading too slowly to stay under it is dropped (close 1013) and reconnects with its last
         * event id; a replay larger than this is replaced by a {@code resync} event.
         */
        public Builder wsMaxQueuedBytes(long bytes) {
            if (bytes < 1024) {
                throw DeiaException.invalid("WebSocket queue limit must be >= 1024 bytes, was %d", bytes);
            }
            this.wsMaxQueuedBytes = bytes;
            return this;
        }

        /** Open WebSocket connections allowed (64); one more is refused with 429 before the upgrade. */
        public Builder wsMaxConnections(int connections) {
            if (connections < 1) {
                throw DeiaException.invalid("WebSocket connection limit must be >= 1, was %d", connections);
            }
            this.wsMaxConnections = connections;
            return this;
        }

        /** How webhooks are delivered (timeouts, back-off, version in the User-Agent); {@link DispatcherOptions#defaults()}. */
        public Builder webhookOptions(DispatcherOptions options) {
            this.webhookOptions = Objects.requireNonNull(options, "options");
            return this;
        }

        /**
         * Where {@code GET /metrics} gets its webhook figures (the deliverer's counts); by default
         * those of this controller's webhook dispatcher ({@link WebhookDispatcher#stats()}).
         */
        public Builder webhookStats(WebhookFigures stats) {
            this.webhookStats = Objects.requireNonNull(stats, "stats");
            return this;
        }

        /**
         * The server with these settings, not started yet.
         *
         * @throws DeiaException when the ping interval is not shorter than the idle timeout
         */
        /**
         * The config as {@code serve} keeps it current ({@code POST /api/config/reload} reloads it). Without
         * one the config given to {@link #builder} is fixed and a reload answers 422 (no file to read).
         */
        public Builder liveConfig(LiveConfig live) {
            this.liveConfig = Objects.requireNonNull(live, "live");
            return this;
        }

        public ControllerServer build() {
            if (pingInterval.compareTo(idleTimeout) >= 0) {
                throw DeiaException.invalid("ping interval %s must be shorter than the idle timeout %s", pingInterval, idleTimeout);
            }
            return new ControllerServer(this);
        }
    }
}
