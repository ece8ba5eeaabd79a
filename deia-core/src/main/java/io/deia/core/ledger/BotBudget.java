package io.deia.core.ledger;

import io.deia.core.config.Budget;
import io.deia.core.config.HiveSettings;
import io.deia.core.internal.io.LogSafe;
import io.deia.core.webhook.WebhookOutbox;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Whether one bot may start another turn under the budgets in force: the hive-wide {@code budget}
 * and its profile's (what all bots of the profile spend together), each per UTC day and in total,
 * read from the settings at every check ({@link io.deia.core.config.HiveSettingsFile}), so a raised
 * budget published by a config reload applies at once, and the next UTC day lifts a daily cap.
 *
 * <p>A budget is reached when the known spend is at least its limit. On each change into over
 * budget the bot logs it once and publishes the {@code bot.over_budget} webhook event
 * ({@code budget}, {@code period}, {@code spent_usd}, {@code limit_usd}); the way back is logged
 * once too.
 *
 * <p>Thread-safe.
 */
public final class BotBudget {
    /** The webhook event type published on each change into over budget. */
    public static final String EVENT = "bot.over_budget";
    private static final Logger log = LoggerFactory.getLogger(BotBudget.class);

    private final String botId;
    private final String profile;
    private final Spend spend;
    private final Supplier<HiveSettings> settings;
    private final WebhookOutbox outbox;
    private Breach last;

    /**
     * A reached budget.
     *
     * @param budget   {@code hive} or {@code profile}
     * @param period   {@code day} or {@code total}
     * @param spentUsd what was spent in that period
     * @param limitUsd the budget's limit for it
     */
    public record Breach(String budget, String period, double spentUsd, double limitUsd) {
        /** One line saying which budget is used up, for logs, {@code /status} and error answers. */
        public String reason() {
            return String.format(Locale.ROOT, "the %s budget is used up: usd_%s %.4f, spent %.4f USD%s",
                    "hive".equals(budget) ? "hive-wide" : "profile's", "day".equals(period) ? "per_day" : "total",
                    limitUsd, spentUsd, "day".equals(period) ? " today (UTC)" : "");
        }
    }

    /**
     * @param botId    the bot
     * @param profile  the bot's profile name
     * @param spend    the hive's spend
     * @param settings the settings in force, asked at every check
     * @param outbox   where the {@code bot.over_budget} event is written
     */
    public BotBudget(String botId, String profile, Spend spend, Supplier<HiveSettings> settings, WebhookOutbox outbox) {
        this.botId = botId;
        this.profile = profile;
        this.spend = spend;
        this.settings = settings;
        this.outbox = outbox;
    }

    /** The bot's own spend. */
    public CostSummary cost() {
        return spend.bot(botId);
    }

    /** The budget the bot has reached, or null when it may start another turn. */
    public Breach check() {
        HiveSettings s = settings.get();
        Breach breach = reached("hive", s.budget(), spend.hive());
        if (breach == null) {
            breach = reached("profile", s.profile(profile).budget(), spend.profile(profile));
        }
        Breach before;
        synchronized (this) {
            before = last;
            last = breach;
        }
        if (breach != null && before == null) {
            log.warn("[{}] over budget: {}; no new task or message is taken until the budget allows", botId, breach.reason());
            publish(breach);
        } else if (breach == null && before != null) {
            log.info("[{}] within budget again: tasks and messages are taken", botId);
        }
        return breach;
    }

    private static Breach reached(String which, Budget budget, CostSummary spent) {
        if (budget == null) {
            return null;
        }
        if (budget.usdPerDay() != null && spent.todayUsd() >= budget.usdPerDay()) {
            return new Breach(which, "day", spent.todayUsd(), budget.usdPerDay());
        }
        if (budget.usdTotal() != null && spent.totalUsd() >= budget.usdTotal()) {
            return new Breach(which, "total", spent.totalUsd(), budget.usdTotal());
        }
        return null;
    }

    private void publish(Breach breach) {
        Map<String, Object> fields = new LinkedHashMap<>();
        fields.put("budget", breach.budget());
        fields.put("period", breach.period());
        fields.put("spent_usd", breach.spentUsd());
        fields.put("limit_usd", breach.limitUsd());
        try {
            outbox.publish(EVENT, botId, fields);
        } catch (RuntimeException e) {
            log.error("[{}] cannot write the {} webhook event: {}", botId, EVENT, LogSafe.printable(e.getMessage()));
        }
    }
}
