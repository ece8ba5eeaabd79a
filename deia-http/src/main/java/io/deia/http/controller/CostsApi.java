package io.deia.http.controller;

import com.fasterxml.jackson.annotation.JsonInclude;
import io.deia.core.config.Budget;
import io.deia.core.config.HiveSettings;
import io.deia.core.ledger.CostSummary;
import io.deia.core.ledger.Spend;
import io.deia.http.internal.JsonResponses;
import io.deia.http.internal.MethodRouter;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;

import java.util.Map;
import java.util.TreeMap;
import java.util.function.Supplier;
import java.util.function.UnaryOperator;

/**
 * {@code GET /api/costs}: what the hive spent, in all, per bot and per profile, from the bots'
 * ledgers, with the budgets in force (as last published by {@code serve}, so a reload shows at once):
 *
 * <pre>{@code
 * {"today_usd": 1.2, "total_usd": 8.5, "unknown_cost_turns": 3, "input_tokens": 51200, "output_tokens": 9100,
 *  "budget": {"usd_per_day": 20, "usd_total": 200},
 *  "bots": {"BOT-001": {"today_usd": 1.2, "total_usd": 8.5, "unknown_cost_turns": 0, "input_tokens": 51200, "output_tokens": 9100}},
 *  "profiles": {"claude": {"today_usd": 1.2, …, "budget": {"usd_per_day": 5, "usd_total": null}}}}
 * }</pre>
 *
 * Every configured profile is listed, spent or not; a profile no longer configured is listed while
 * its ledger lines exist, with a null budget.
 */
final class CostsApi {
    private final Spend spend;
    private final Supplier<HiveSettings> settings;
    private final UnaryOperator<String> redact;

    /**
     * @param spend    the hive's spend
     * @param settings the budgets in force, asked at every request
     * @param redact   applied to error messages (hive paths made relative)
     */
    CostsApi(Spend spend, Supplier<HiveSettings> settings, UnaryOperator<String> redact) {
        this.spend = spend;
        this.settings = settings;
        this.redact = redact;
    }

    Handler handler() {
        return new MethodRouter(redact).get(this::costs);
    }

    private void costs(Request req, Response resp, Callback cb) {
        HiveSettings s = settings.get();
        CostSummary hive = spend.hive();
        Map<String, CostSummary> spent = spend.profiles();
        Map<String, ProfileView> profiles = new TreeMap<>();
        for (String name : s.profiles().keySet()) {
            profiles.put(name, ProfileView.of(spent.getOrDefault(name, CostSummary.ZERO), s.profile(name).budget()));
        }
        spent.forEach((name, cost) -> profiles.putIfAbsent(name, ProfileView.of(cost, null)));
        JsonResponses.send(resp, cb, 200, new CostsView(hive.todayUsd(), hive.totalUsd(), hive.unknownCostTurns(),
                hive.inputTokens(), hive.outputTokens(), BudgetView.of(s.budget()), spend.bots(), profiles));
    }

    /** The answer: the hive's spend, its budget, and the spend per bot and per profile. */
    record CostsView(double todayUsd, double totalUsd, long unknownCostTurns, long inputTokens, long outputTokens,
                     @JsonInclude(JsonInclude.Include.ALWAYS) BudgetView budget, Map<String, CostSummary> bots,
                     Map<String, ProfileView> profiles) {
    }

    /** A profile's spend with its budget ({@code null} for none). */
    record ProfileView(double todayUsd, double totalUsd, long unknownCostTurns, long inputTokens, long outputTokens,
                       @JsonInclude(JsonInclude.Include.ALWAYS) BudgetView budget) {
        static ProfileView of(CostSummary c, Budget budget) {
            return new ProfileView(c.todayUsd(), c.totalUsd(), c.unknownCostTurns(), c.inputTokens(), c.outputTokens(),
                    BudgetView.of(budget));
        }
    }

    /** A budget with both caps always present ({@code null} for no cap). */
    record BudgetView(@JsonInclude(JsonInclude.Include.ALWAYS) Double usdPerDay,
                      @JsonInclude(JsonInclude.Include.ALWAYS) Double usdTotal) {
        static BudgetView of(Budget b) {
            return b == null ? null : new BudgetView(b.usdPerDay(), b.usdTotal());
        }
    }
}
