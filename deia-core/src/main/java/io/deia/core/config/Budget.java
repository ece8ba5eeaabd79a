package io.deia.core.config;

/**
 * A spending cap in US dollars, hive-wide ({@code "budget"} at the top of {@code deia.json}) or per
 * profile (the profile's {@code "budget"}: what all bots of that profile spend together). A bot that
 * reaches any budget it falls under finishes its running turn, then takes no new task or message
 * (state {@code over_budget}) until the budget allows again: the next UTC day for
 * {@code usd_per_day}, or a raised budget published by {@code POST /api/config/reload}.
 *
 * <pre>{@code
 * "budget": {"usd_per_day": 20, "usd_total": 200}
 * }</pre>
 *
 * @param usdPerDay what may be spent per UTC day, or null for no daily cap
 * @param usdTotal  what may be spent in all, or null for no total cap
 */
public record Budget(Double usdPerDay, Double usdTotal) {
    public Budget {
        check("budget.usd_per_day", usdPerDay);
        check("budget.usd_total", usdTotal);
    }

    private static void check(String field, Double usd) {
        if (usd != null && (usd.isNaN() || usd.isInfinite() || usd < 0)) {
            throw new IllegalArgumentException(field + " must be a number >= 0, was " + usd);
        }
    }
}
