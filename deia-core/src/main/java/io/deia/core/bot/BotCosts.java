package io.deia.core.bot;

import io.deia.core.HiveLayout;
import io.deia.core.agent.TurnResult;
import io.deia.core.config.DeiaConfig;
import io.deia.core.config.HiveSettings;
import io.deia.core.config.HiveSettingsFile;
import io.deia.core.internal.io.LogSafe;
import io.deia.core.ledger.BotBudget;
import io.deia.core.ledger.CostSummary;
import io.deia.core.ledger.Ledger;
import io.deia.core.ledger.LedgerEntry;
import io.deia.core.ledger.Spend;
import io.deia.core.ledger.TurnCost;
import io.deia.core.webhook.WebhookOutbox;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Clock;
import java.time.Instant;

/**
 * A bot's side of the ledger: every turn's cost and tokens appended to its ledger as the turn ends
 * ({@link TurnCost}: as the agent reported it, else from the profile's prices in force, else
 * unknown), its spend, and the budget check that keeps it from starting turns once a budget is
 * reached ({@link BotBudget}). A ledger that cannot be written is logged and never fails the turn:
 * the turn's reply or task response matters more than its bookkeeping.
 */
final class BotCosts {
    private static final Logger log = LoggerFactory.getLogger(BotCosts.class);

    private final String botId;
    private final String profile;
    private final Ledger ledger;
    private final HiveSettingsFile settings;
    private final Clock clock;
    private final BotBudget budget;

    BotCosts(String botId, String profile, HiveLayout hive, DeiaConfig config, Clock clock) {
        this.botId = botId;
        this.profile = profile;
        this.ledger = new Ledger(hive);
        this.settings = new HiveSettingsFile(hive, HiveSettings.of(config));
        this.clock = clock;
        this.budget = new BotBudget(botId, profile, new Spend(hive, clock), settings::current,
                new WebhookOutbox(hive, settings::current));
    }

    /**
     * Appends a finished turn to the ledger.
     *
     * @param taskId   the task, or null for a chat turn
     * @param attempt  the task's attempt, or null for a chat turn
     * @param pickupMs for a task's first attempt, from its arrival in the inbox to the turn's start; else null
     */
    void record(TurnResult result, String taskId, Integer attempt, Long pickupMs) {
        try {
            TurnCost cost = TurnCost.of(result, settings.current().profile(profile).prices());
            ledger.append(new LedgerEntry(LedgerEntry.TURN, Instant.now(clock), botId, profile,
                    taskId == null ? "chat" : "task", taskId, attempt, result.status().id(), result.durationMs(),
                    cost.usd(), cost.known(), result.inputTokens(), result.outputTokens(), pickupMs, result.exitCode()));
        } catch (RuntimeException e) {
            log.error("[{}] cannot record the cost of a {} turn in the ledger: {}", botId,
                    taskId == null ? "chat" : "task " + taskId, LogSafe.printable(e.getMessage()));
        }
    }

    /** The budget the bot has reached, or null when it may start another turn (see {@link BotBudget#check()}). */
    BotBudget.Breach breach() {
        try {
            return budget.check();
        } catch (RuntimeException e) {
            // An unreadable ledger folder must not stop the bot: it works on, and says why in the log.
            log.warn("[{}] cannot check the budgets: {}", botId, LogSafe.printable(e.getMessage()));
            return null;
        }
    }

    /** The bot's spend. */
    CostSummary cost() {
        try {
            return budget.cost();
        } catch (RuntimeException e) {
            log.warn("[{}] cannot read the spend: {}", botId, LogSafe.printable(e.getMessage()));
            return CostSummary.ZERO;
        }
    }
}
