package io.deia.core.bot;

import io.deia.core.HiveLayout;
import io.deia.core.registry.BotRecord;
import io.deia.core.registry.BotState;
import io.deia.core.registry.ServiceRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Files;
import java.time.Instant;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * How a bot shows itself: its state, computed when asked, logged once per change and published on
 * the event bus; and its registry entry, kept current by a heartbeat.
 */
final class Presence {
    private static final Logger log = LoggerFactory.getLogger(Presence.class);

    /** The runner process hosting the bot. */
    final long pid = ProcessHandle.current().pid();
    private final Instant processStart = ProcessHandle.current().info().startInstant().orElse(null);
    private final BotRuntime bot;
    private final HiveLayout hive;
    private final ServiceRegistry registry;
    private final String agentType;
    /** The bot's project, or null: its own registration names it, so an entry it rewrites keeps it. */
    private final String project;
    private final Turns turns;
    private final Object stateLock = new Object();
    private BotState lastState;
    private ScheduledExecutorService heartbeat;

    Presence(BotRuntime bot, HiveLayout hive, ServiceRegistry registry, String agentType, String project, Turns turns) {
        this.bot = bot;
        this.hive = hive;
        this.registry = registry;
        this.agentType = agentType;
        this.project = project;
        this.turns = turns;
    }

    /** Computes the state, and when it changed logs it once and publishes a status event. */
    BotState refresh() {
        BotState state;
        BotState previous;
        synchronized (stateLock) {
            state = compute();
            previous = lastState;
            lastState = state;
            if (state != previous) {
                bot.events().publish(BotEvent.status(bot.botId(), state.id()));
            }
        }
        if (state != previous) {
            log.info("[{}] state {} -> {}", bot.botId(), previous == null ? "-" : previous.id(), state.id());
            // busy <-> idle flips every turn; the heartbeat carries those. Coarse changes go out now.
            boolean turnFlip = (previous == BotState.IDLE && state == BotState.BUSY)
                    || (previous == BotState.BUSY && state == BotState.IDLE);
            if (bot.isStarted() && !turnFlip && previous != null) {
                try {
                    registry.update(bot.botId(), r -> r.toBuilder().state(state).lastHeartbeat(Instant.now()).build());
                } catch (RuntimeException e) {
                    log.warn("[{}] cannot record state {} in the registry: {}", bot.botId(), state.id(), e.getMessage());
                }
            }
        }
        return state;
    }

    private BotState compute() {
        if (bot.isStopping()) {
            return BotState.STOPPING;
        }
        if (!bot.isStarted()) {
            return BotState.STARTING;
        }
        if (bot.degradedReason() != null) {
            return BotState.DEGRADED;
        }
        if (bot.permissions().waiting()) {
            return BotState.WAITING_APPROVAL;
        }
        if (turns.queued()) {
            // Before paused: chat still runs on a paused bot, and its message may wait in line.
            return BotState.QUEUED;
        }
        if (Files.exists(hive.pauseFile(bot.botId()))) {
            return BotState.PAUSED;
        }
        if (!turns.running() && bot.budgetBreach() != null) {
            // The running turn finishes as busy; only then does the bot show it takes nothing new.
            return BotState.OVER_BUDGET;
        }
        return turns.running() ? BotState.BUSY : BotState.IDLE;
    }

    /**
     * Records the bot in the registry. The launcher may have reserved the entry (pid 0): its restart
     * count and registration time are kept, and the last error with its time (a restarted bot still
     * tells that and when it failed).
     */
    void register(BotState state) {
        if (registry.update(bot.botId(), r -> entry(r.toBuilder(), state)).isEmpty()) {
            registry.register(entry(BotRecord.builder(bot.botId()).registeredAt(Instant.now()), state));
        }
        log.info("[{}] registered: pid {}, port {}", bot.botId(), pid, bot.port());
    }

    private BotRecord entry(BotRecord.Builder b, BotState state) {
        return b.pid(pid).processStart(processStart).port(bot.port()).state(state).profile(bot.profile().name())
                .agent(agentType).project(project).lastHeartbeat(Instant.now()).build();
    }

    /** Beats now, then every {@code intervalS} seconds on a thread of its own. */
    void startHeartbeat(long intervalS) {
        heartbeat = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "bot-" + bot.botId() + "-heartbeat");
            t.setDaemon(true);
            return t;
        });
        beat();
        heartbeat.scheduleAtFixedRate(() -> {
            try {
                beat();
            } catch (RuntimeException e) {
                log.warn("[{}] heartbeat failed: {}", bot.botId(), e.getMessage());
            }
        }, intervalS, intervalS, TimeUnit.SECONDS);
    }

    void stopHeartbeat() {
        if (heartbeat != null) {
            heartbeat.shutdownNow();
        }
    }

    /** The registry's heartbeat also writes {@code hive/heartbeats/<id>.json}. */
    private void beat() {
        if (bot.isStopping()) {
            return;
        }
        BotState state = refresh();
        if (registry.heartbeat(bot.botId(), state).isEmpty() && !bot.isStopping()) {
            log.warn("[{}] registry entry was missing at heartbeat: registering again", bot.botId());
            register(state);
        }
    }
}
