package io.deia.http.controller;

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

import java.util.LinkedHashMap;
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
        Map<String, Object> out = new LinkedHashMap<>(fields(spend.hive()));
        out.put("budget", budget(s.budget()));
        out.put("bots", spend.bots());
        Map<String, CostSummary> spent = spend.profiles();
        Map<String, Object> profiles = new TreeMap<>();
        for (String name : s.profiles().keySet()) {
            profiles.put(name, profile(spent.getOrDefault(name, CostSummary.ZERO), s.profile(name).budget()));
        }
        spent.forEach((name, cost) -> profiles.putIfAbsent(name, profile(cost, null)));
        out.put("profiles", profiles);
        JsonResponses.send(resp, cb, 200, out);
    }

    private static Map<String, Object> profile(CostSummary cost, Budget budget) {
        Map<String, Object> m = fields(cost);
        m.put("budget", budget(budget));
        return m;
    }

    private static Map<String, Object> fields(CostSummary c) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("today_usd", c.todayUsd());
        m.put("total_usd", c.totalUsd());
        m.put("unknown_cost_turns", c.unknownCostTurns());
        m.put("input_tokens", c.inputTokens());
        m.put("output_tokens", c.outputTokens());
        return m;
    }

    /** A budget as JSON, both fields always present (null for no cap); null for no budget. */
    private static Map<String, Object> budget(Budget b) {
        if (b == null) {
            return null;
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("usd_per_day", b.usdPerDay());
        m.put("usd_total", b.usdTotal());
        return m;
    }
}
