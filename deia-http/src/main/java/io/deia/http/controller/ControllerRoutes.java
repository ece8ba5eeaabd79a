package io.deia.http.controller;

import io.deia.core.DeiaException;
import io.deia.core.config.HiveSettings;
import io.deia.core.config.HiveSettingsFile;
import io.deia.core.config.LiveConfig;
import io.deia.core.ledger.Spend;
import io.deia.core.schedule.WaitingLine;
import io.deia.core.webhook.WebhookDispatcher;
import io.deia.http.internal.HivePathRedactor;
import io.deia.http.internal.HttpErrors;
import org.eclipse.jetty.http.pathmap.PathSpec;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.handler.PathMappingsHandler;
import org.eclipse.jetty.server.handler.ResourceHandler;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.resource.Resource;
import org.eclipse.jetty.util.resource.ResourceFactory;

/**
 * The controller's routes, each path to the handler class that answers it; the guards in front of
 * them (token, Origin, Host, body type) are {@link ControllerServer}'s.
 */
final class ControllerRoutes {
    private final ControllerServer.Builder settings;
    private final HivePathRedactor redactor;
    private final WebhookDispatcher webhooks;
    private final LiveConfig live;

    ControllerRoutes(ControllerServer.Builder settings, HivePathRedactor redactor, WebhookDispatcher webhooks, LiveConfig live) {
        this.settings = settings;
        this.redactor = redactor;
        this.webhooks = webhooks;
        this.live = live;
    }

    /** Every route of the controller: the API, {@code /metrics} and the dashboard's files. */
    PathMappingsHandler routes(Server server) {
        // One reader of the ledgers for /api/bots and /api/costs: each request reads only the lines added since the last.
        Spend spend = new Spend(settings.hive);
        ControllerApi api = new ControllerApi(settings.config, settings.registry, settings.launcher, settings.tasks,
                settings.router, settings.statusTimeout, redactor, spend, new WaitingLine(settings.hive));
        PathMappingsHandler routes = new PathMappingsHandler();
        routes.addMapping(PathSpec.from("/health"), api.health());
        routes.addMapping(PathSpec.from("/api/bots"), api.bots());
        routes.addMapping(PathSpec.from("/api/profiles"), api.profiles());
        routes.addMapping(PathSpec.from("/api/projects"), api.projects());
        HiveSettingsFile published = new HiveSettingsFile(settings.hive, HiveSettings.of(settings.config));
        routes.addMapping(PathSpec.from("/api/costs"), new CostsApi(spend, published::current, redactor).handler());
        routes.addMapping(PathSpec.from("/api/webhooks"), new WebhooksApi(webhooks, redactor).handler());
        routes.addMapping(PathSpec.from("/api/config/reload"), new ConfigReloadApi(live, redactor).handler());
        routes.addMapping(PathSpec.from("/api/bot/*"), new PermissionsApi(settings.config, settings.router, redactor)
                .around(new TaskReviewApi(settings.hive, settings.config, settings.registry, redactor).around(api.botRoutes())));
        routes.addMapping(PathSpec.from("/api/*"), HttpErrors.noSuchEndpoint());
        routes.addMapping(PathSpec.from("/metrics"), new MetricsEndpoint(new HiveMetrics(settings.hive, settings.registry,
                settings.webhookStats != null ? settings.webhookStats : dispatcherFigures())).router(redactor));
        routes.addMapping(PathSpec.from("/"), dashboard(server));
        return routes;
    }

    /** The webhook figures of this controller's dispatcher, asked at each scrape. */
    private WebhookFigures dispatcherFigures() {
        return new WebhookFigures(() -> webhooks.stats().deliveredTotal(), () -> webhooks.stats().failedTotal(),
                () -> webhooks.stats().dead(), () -> webhooks.stats().pending());
    }

    private static ResourceHandler dashboard(Server server) {
        ResourceHandler files = new ResourceHandler() {
            @Override
            public boolean handle(Request request, Response response, Callback callback) throws Exception {
                // The page shows text from bots and tasks: even if a bug ever put it into HTML, the
                // policy keeps scripts, frames and outside resources from loading.
                response.getHeaders().put("Content-Security-Policy",
                        "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'");
                response.getHeaders().put("X-Content-Type-Options", "nosniff");
                response.getHeaders().put("Referrer-Policy", "no-referrer");
                return super.handle(request, response, callback);
            }
        };
        Resource base = ResourceFactory.of(server).newClassLoaderResource(ControllerServer.DASHBOARD_RESOURCES);
        if (base == null) {
            throw DeiaException.internal("dashboard resources " + ControllerServer.DASHBOARD_RESOURCES + " are not on the class path", null);
        }
        files.setBaseResource(base);
        files.setWelcomeFiles("index.html");
        files.setDirAllowed(false);
        files.setCacheControl("no-cache");
        return files;
    }
}
