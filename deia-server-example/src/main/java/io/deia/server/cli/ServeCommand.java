package io.deia.server.cli;

import io.deia.core.HiveLayout;
import io.deia.core.chat.HistoryStore;
import io.deia.core.chat.MessageRouter;
import io.deia.core.config.DeiaConfig;
import io.deia.core.config.HiveSettings;
import io.deia.core.config.LiveConfig;
import io.deia.core.launch.BotLauncher;
import io.deia.core.project.Project;
import io.deia.core.registry.BotRecord;
import io.deia.core.registry.JsonFileServiceRegistry;
import io.deia.core.task.FileTaskQueue;
import io.deia.core.webhook.DispatcherOptions;
import io.deia.core.webhook.WebhookOutbox;
import io.deia.http.controller.ControllerServer;
import io.deia.server.DefaultConfig;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

/**
 * {@code serve [--port 8080] [--bind 127.0.0.1] [--demo]}: the controller. Checks every configured
 * project's repository first (exit 2 naming the project and the field when one fails), then starts the launcher (adopting the
 * bots a previous controller left running), the message router and the HTTP/WebSocket server with
 * the dashboard, prints the dashboard link with its token on stdout (when stdout is not a terminal:
 * the address and where the token file is, see {@link #startLine}), and runs until SIGTERM or
 * SIGINT. It publishes the config's limits and budgets to the hive at start ({@link LiveConfig}), and
 * again on SIGHUP or {@code POST /api/config/reload}. Stopping the controller leaves the bots running: the next {@code serve} adopts them.
 */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = {"Run the controller: REST API, WebSocket and dashboard; adopts running bots.",
                "Checks every configured project's repository first: exits 2 naming the project and the field"
                        + " (\"path\" not a repository, \"base\" branch missing) when one fails."})
public final class ServeCommand implements Callable<Integer> {
    private static final Logger log = LoggerFactory.getLogger(ServeCommand.class);

    @Mixin
    HiveOptions hiveOptions;

    @Option(names = "--port", paramLabel = "N", defaultValue = "8080",
            description = "Port to listen on, 0 for any free one (default: ${DEFAULT-VALUE}).")
    int port;

    @Option(names = "--bind", paramLabel = "ADDRESS", defaultValue = "127.0.0.1",
            description = "Address to listen on (default: ${DEFAULT-VALUE}). Anything but loopback exposes the API to the network.")
    String bind;

    @Option(names = "--http-idle-timeout", paramLabel = "SECONDS", defaultValue = "60",
            description = "Plain HTTP connections silent this long are closed, stalled clients included (default: ${DEFAULT-VALUE}).")
    int httpIdleTimeoutS;

    @Option(names = "--demo",
            description = "Also launch two bots (" + DemoBots.BOT_1 + ", " + DemoBots.BOT_2 + ") with the offline '"
                    + DefaultConfig.DEMO_PROFILE + "' profile and submit a sample task to each. Needs no API key.")
    boolean demo;

    @Override
    public Integer call() throws InterruptedException {
        HiveLayout hive = hiveOptions.layout();
        DeiaConfig config = hiveOptions.config();
        verifyProjects(config);
        // Published before any bot is adopted or launched: every runner reads its limits from it.
        LiveConfig live = new LiveConfig(hive, hiveOptions.configFile(), config);
        live.publish();
        JsonFileServiceRegistry registry = new JsonFileServiceRegistry(hive, config);
        // bot.failed events follow the config serve runs with (and its reloads).
        BotLauncher launcher = BotLauncher.builder(hive, config, registry, hiveOptions.runnerCommand())
                .configFile(hiveOptions.configFile()).webhooks(new WebhookOutbox(hive, () -> HiveSettings.of(live.get()))).build();
        HistoryStore history = new HistoryStore(hive, config.historyMaxBytes());
        MessageRouter router = MessageRouter.builder(registry, history, config).build();
        ControllerServer server;
        try {
            List<BotRecord> adopted = launcher.adopt();
            adopted.forEach(r -> log.info("[{}] adopted running bot: pid {}, port {}", r.botId(), r.pid(), r.port()));
            router.start();
            server = ControllerServer.builder(hive, config, registry, launcher, new FileTaskQueue(hive, config), router)
                    .bind(bind).port(port).httpIdleTimeout(Duration.ofSeconds(httpIdleTimeoutS)).liveConfig(live)
                    .webhookOptions(DispatcherOptions.builder().version(version()).build()).build().start();
        } catch (RuntimeException e) {
            router.close();
            launcher.close();
            history.close();
            throw e;
        }
        CountDownLatch stopped = new CountDownLatch(1);
        Runnable shutdown = () -> {
            if (stopped.getCount() == 0) {
                return;
            }
            log.info("controller shutting down; bots keep running");
            server.close();
            router.close();
            launcher.close();
            history.close();
            stopped.countDown();
        };
        Runtime.getRuntime().addShutdownHook(new Thread(shutdown, "deia-serve-shutdown"));
        try {
            // SIGTERM ends in exit code 0 after a clean stop (a shutdown hook alone would give 143).
            sun.misc.Signal.handle(new sun.misc.Signal("TERM"), signal -> new Thread(shutdown, "deia-serve-sigterm").start());
        } catch (IllegalArgumentException | UnsupportedOperationException e) {
            log.info("SIGTERM handler not available ({}); the shutdown hook stops the controller", e.getMessage());
        }
        reloadOnHangup(live);
        if (demo) {
            try {
                new DemoBots(launcher, registry, new FileTaskQueue(hive, config), config).start(System.out);
            } catch (RuntimeException e) {
                shutdown.run();
                throw e;
            }
        }
        System.out.println(startLine(server, hive, System.console() != null));
        System.out.flush();
        stopped.await();
        return 0;
    }

    /** This build's version ({@code version.properties}), for the webhooks' {@code User-Agent}; null when unknown. */
    static String version() {
        java.util.Properties p = new java.util.Properties();
        try (java.io.InputStream in = io.deia.server.Main.class.getResourceAsStream("version.properties")) {
            if (in != null) {
                p.load(in);
            }
        } catch (java.io.IOException e) {
            log.debug("version.properties cannot be read: {}", e.toString());
        }
        return p.getProperty("version");
    }

    /**
     * SIGHUP reloads the config file as {@code POST /api/config/reload} does (a bad file is logged and
     * changes nothing). {@code sun.misc.Signal} is the JDK's only way to catch a signal; on a JVM
     * without it the HTTP reload is the way.
     */
    static void reloadOnHangup(LiveConfig live) {
        try {
            sun.misc.Signal.handle(new sun.misc.Signal("HUP"), signal -> new Thread(() -> {
                log.info("SIGHUP: reloading the config");
                try {
                    live.reload();
                } catch (RuntimeException e) {
                    log.warn("SIGHUP reload failed: {}", e.getMessage());
                }
            }, "deia-serve-sighup").start());
        } catch (IllegalArgumentException | UnsupportedOperationException e) {
            log.info("SIGHUP handler not available ({}); POST /api/config/reload reloads the config", e.getMessage());
        }
    }

    /**
     * Checks every configured project's repository with git before anything starts, so a wrong
     * path or a missing base branch stops the controller at once (exit 2) with the project and the
     * field named, instead of failing each launch on it later.
     *
     * @throws io.deia.core.DeiaException {@code UNPROCESSABLE} for the first project that fails
     */
    static void verifyProjects(DeiaConfig config) {
        for (Project project : config.projects().values()) {
            project.verify();
            log.info("project {}: {} on base {}", project.name(), project.path(), project.base());
        }
    }

    /**
     * The line printed once the controller is up: the dashboard link with its token on a terminal;
     * anywhere else (a pipe, a file, a CI log others may read) the address and where the token file
     * is, never the token itself.
     */
    static String startLine(ControllerServer server, HiveLayout hive, boolean terminal) {
        return startLine(server.baseUrl(), server.dashboardUrl(), hive.tokenFile(), terminal);
    }

    static String startLine(String baseUrl, String dashboardUrl, Path tokenFile, boolean terminal) {
        if (terminal) {
            return dashboardUrl;
        }
        return baseUrl + "/ (the token is in " + tokenFile + "; open " + baseUrl + "/?token=<that token>)";
    }
}
