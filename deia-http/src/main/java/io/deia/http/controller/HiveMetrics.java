package io.deia.http.controller;

import io.deia.core.HiveLayout;
import io.deia.core.ledger.LedgerEntry;
import io.deia.core.ledger.LedgerFollower;
import io.deia.core.registry.BotRecord;
import io.deia.core.registry.BotState;
import io.deia.core.registry.ServiceRegistry;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.CounterWithCallback;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.LongSupplier;

/**
 * The hive's metrics, in the Prometheus model: what the registry says now (bots by state, turns
 * running and queued, restarts) and what the bots' ledgers have recorded (tasks, turns, their
 * durations, pickup latency, agent crashes, cost and tokens), plus the webhook counts.
 *
 * <p>The ledgers are read incrementally ({@link LedgerFollower}): each {@link #scrape()} feeds only
 * the lines appended since the previous one into counters and histograms kept here, so a scrape
 * costs a registry read, one directory listing and a size check per bot, not a pass over every
 * bot's history. The first scrape reads the ledgers whole, so counters are totals since each
 * ledger began, the same after a restart of {@code serve} (Prometheus sees no reset).
 *
 * <p>Metrics live in a {@link PrometheusRegistry} of this instance, never the library's static
 * default one: two controllers in one JVM (tests, benchmarks) would otherwise clash on every name.
 */
public final class HiveMetrics {
    private static final Logger log = LoggerFactory.getLogger(HiveMetrics.class);

    /** Turn durations: from a quick chat answer to an hour-long task. */
    static final double[] TURN_SECONDS = {1, 2, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600};
    /** Task pickup: milliseconds when a bot is free, up to an hour for a long line of queued work. */
    static final double[] PICKUP_SECONDS = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 30, 60, 300, 900, 3600};

    /** A task's final statuses (see {@link LedgerEntry#status()}). */
    private static final List<String> TASK_STATUSES = List.of("completed", "failed", "timeout", "interrupted", "rejected");

    private final ServiceRegistry registry;
    private final LedgerFollower ledgers;
    private final PrometheusRegistry metrics = new PrometheusRegistry();
    private final Counter tasks;
    private final Counter turns;
    private final Histogram turnDuration;
    private final Histogram pickup;
    private final Counter crashes;
    private final Counter costUsd;
    private final Counter tokens;
    private final Counter unknownCostTurns;
    /** The registry as read at the start of the scrape in progress: every registry metric agrees with it. */
    private List<BotRecord> bots = List.of();
    private boolean firstScrape = true;

    /**
     * @param hive     where the ledgers are
     * @param registry where the bots' states and restart counts are read at each scrape
     * @param webhooks the webhook counts (e.g. {@link WebhookFigures#fromFiles})
     */
    public HiveMetrics(HiveLayout hive, ServiceRegistry registry, WebhookFigures webhooks) {
        this.registry = Objects.requireNonNull(registry, "registry");
        this.ledgers = new LedgerFollower(Objects.requireNonNull(hive, "hive"));
        Objects.requireNonNull(webhooks, "webhooks");

        GaugeWithCallback.builder().name("deia_bots")
                .help("Bots in the registry by state (every state is listed, 0 when no bot is in it)")
                .labelNames("state")
                .callback(cb -> statesNow().forEach((state, n) -> cb.call(n, state.id())))
                .register(metrics);
        GaugeWithCallback.builder().name("deia_turns_running")
                .help("Agent turns running now: bots busy or waiting for a permission answer mid-turn")
                .callback(cb -> cb.call(count(BotState.BUSY) + count(BotState.WAITING_APPROVAL)))
                .register(metrics);
        GaugeWithCallback.builder().name("deia_turns_queued")
                .help("Bots whose next turn waits for a free slot under max_concurrent_turns or max_concurrent")
                .callback(cb -> cb.call(count(BotState.QUEUED)))
                .register(metrics);
        GaugeWithCallback.builder().name("deia_permission_waiting_bots")
                .help("Bots whose agent waits for a person to allow or deny a tool call (state waiting_approval); "
                        + "each has at least one pending request, listed by GET /api/bot/{id}/permissions")
                .callback(cb -> cb.call(count(BotState.WAITING_APPROVAL)))
                .register(metrics);
        CounterWithCallback.builder().name("deia_bot_restarts_total")
                .help("Restarts of each bot's runner by its supervisor after an exit nobody asked for")
                .labelNames("bot")
                .callback(cb -> bots.forEach(b -> cb.call(b.restarts(), b.botId())))
                .register(metrics);

        tasks = Counter.builder().name("deia_tasks_total")
                .help("Tasks ended, by bot and final status (completed, failed, timeout, interrupted, rejected)")
                .labelNames("bot", "status").withoutExemplars().register(metrics);
        turns = Counter.builder().name("deia_turns_total")
                .help("Agent turns ended, by bot, source (task or chat) and status")
                .labelNames("bot", "source", "status").withoutExemplars().register(metrics);
        turnDuration = Histogram.builder().name("deia_turn_duration_seconds")
                .help("How long agent turns took, by source (task or chat)")
                .labelNames("source").classicOnly().classicUpperBounds(TURN_SECONDS).withoutExemplars()
                .register(metrics);
        pickup = Histogram.builder().name("deia_task_pickup_seconds")
                .help("From a task's arrival in a bot's inbox to the start of its first turn")
                .classicOnly().classicUpperBounds(PICKUP_SECONDS).withoutExemplars()
                .register(metrics);
        crashes = Counter.builder().name("deia_agent_crashes_total")
                .help("Agent turns that ended with the agent process exiting with a non-zero code")
                .labelNames("bot").withoutExemplars().register(metrics);
        costUsd = Counter.builder().name("deia_cost_usd_total")
                .help("What the bots' turns cost in US dollars, as the agents reported it or priced by the "
                        + "profile's price table; turns of unknown cost are not in it (see deia_unknown_cost_turns_total)")
                .labelNames("bot").withoutExemplars().register(metrics);
        tokens = Counter.builder().name("deia_tokens_total")
                .help("Tokens the agents reported, by bot and direction (input or output)")
                .labelNames("bot", "direction").withoutExemplars().register(metrics);
        unknownCostTurns = Counter.builder().name("deia_unknown_cost_turns_total")
                .help("Turns whose cost is unknown (the agent reported none and the profile has no prices)")
                .labelNames("bot").withoutExemplars().register(metrics);

        registerWebhooks(webhooks);
    }

    private void registerWebhooks(WebhookFigures webhooks) {
        if (webhooks.delivered() != null) {
            counter("deia_webhook_deliveries_total", "Webhook deliveries answered with a 2xx", webhooks.delivered());
        }
        if (webhooks.failed() != null) {
            counter("deia_webhook_failures_total",
                    "Webhook delivery attempts that failed (error, timeout or non-2xx; each retry counts)", webhooks.failed());
        }
        GaugeWithCallback.builder().name("deia_webhook_pending")
                .help("Webhook events in the outbox, not yet delivered to every webhook that wants them")
                .callback(cb -> cb.call(webhooks.pending().getAsLong()))
                .register(metrics);
        GaugeWithCallback.builder().name("deia_webhook_dead")
                .help("Webhook events given up on after their retry window (see GET /api/webhooks)")
                .callback(cb -> cb.call(webhooks.dead().getAsLong()))
                .register(metrics);
    }

    private void counter(String name, String help, LongSupplier value) {
        CounterWithCallback.builder().name(name).help(help).callback(cb -> cb.call(value.getAsLong())).register(metrics);
    }

    /**
     * Reads the registry and what the ledgers gained since the last scrape, and returns every metric.
     * One scrape at a time: a second caller waits for the first.
     *
     * @throws io.deia.core.DeiaException when the registry or a ledger cannot be read
     */
    public synchronized MetricSnapshots scrape() {
        long start = System.nanoTime();
        bots = registry.list();
        for (BotRecord b : bots) {
            // Series of registered bots start at 0, so a first failure or crash is an increase that
            // rate() and increase() see, not the appearance of a series already at 1.
            for (String status : TASK_STATUSES) {
                tasks.initLabelValues(b.botId(), status);
            }
            crashes.initLabelValues(b.botId());
        }
        int lines = 0;
        for (Map.Entry<String, List<LedgerEntry>> e : ledgers.readNew().entrySet()) {
            for (LedgerEntry entry : e.getValue()) {
                record(e.getKey(), entry);
            }
            lines += e.getValue().size();
        }
        MetricSnapshots snapshots = metrics.scrape();
        long ms = (System.nanoTime() - start) / 1_000_000;
        if (firstScrape) {
            firstScrape = false;
            log.info("first metrics scrape: {} bots registered, {} ledger lines of {} bots read in {} ms", bots.size(),
                    lines, ledgers.followed(), ms);
        } else {
            log.debug("metrics scrape: {} bots, {} new ledger lines, {} ms", bots.size(), lines, ms);
        }
        return snapshots;
    }

    /** Adds one ledger line of {@code botId} (named by its file, which only that bot's runner writes). */
    private void record(String botId, LedgerEntry e) {
        String status = e.status() == null ? "unknown" : e.status();
        if (e.isTask()) {
            tasks.labelValues(botId, status).inc();
            return;
        }
        if (!e.isTurn()) {
            return; // a kind this version does not know: a later one's, left for it
        }
        String source = e.source() == null ? "unknown" : e.source();
        turns.labelValues(botId, source, status).inc();
        if (e.durationMs() != null && e.durationMs() >= 0) {
            turnDuration.labelValues(source).observe(e.durationMs() / 1000.0);
        }
        if (e.pickupMs() != null && e.pickupMs() >= 0) {
            pickup.observe(e.pickupMs() / 1000.0);
        }
        if (e.exitCode() != null && e.exitCode() != 0) {
            crashes.labelValues(botId).inc();
        }
        if (Boolean.FALSE.equals(e.costKnown()) || e.costUsd() == null) {
            unknownCostTurns.labelValues(botId).inc(); // never counted as free
        } else {
            costUsd.labelValues(botId).inc(Math.max(0.0, e.costUsd()));
        }
        if (e.inputTokens() != null) {
            tokens.labelValues(botId, "input").inc(Math.max(0L, e.inputTokens()));
        }
        if (e.outputTokens() != null) {
            tokens.labelValues(botId, "output").inc(Math.max(0L, e.outputTokens()));
        }
    }

    private Map<BotState, Integer> statesNow() {
        Map<BotState, Integer> byState = new EnumMap<>(BotState.class);
        for (BotState s : BotState.values()) {
            byState.put(s, 0);
        }
        bots.forEach(b -> byState.merge(b.state(), 1, Integer::sum));
        return byState;
    }

    private int count(BotState state) {
        int n = 0;
        for (BotRecord b : bots) {
            if (b.state() == state) {
                n++;
            }
        }
        return n;
    }
}
