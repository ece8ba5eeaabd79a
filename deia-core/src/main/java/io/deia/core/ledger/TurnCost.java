package io.deia.core.ledger;

import io.deia.core.agent.TurnResult;
import io.deia.core.config.Prices;

/**
 * What one agent turn cost: as the agent reported it (Claude Code), else computed from the
 * profile's token prices when the agent reported tokens (Codex, Gemini), else unknown. An unknown
 * cost is null, never 0: a turn nobody priced is not a free one.
 *
 * @param usd   the cost in US dollars, or null when unknown
 * @param known false when neither the agent nor a price table gave the cost
 */
public record TurnCost(Double usd, boolean known) {
    /** A turn whose cost nobody can tell. */
    public static final TurnCost UNKNOWN = new TurnCost(null, false);

    /**
     * The cost of a turn.
     *
     * @param result the turn's result
     * @param prices the profile's token prices in force now, or null
     */
    public static TurnCost of(TurnResult result, Prices prices) {
        if (result.costUsd() != null && Double.isFinite(result.costUsd()) && result.costUsd() >= 0) {
            return new TurnCost(result.costUsd(), true);
        }
        boolean hasTokens = result.inputTokens() != null || result.outputTokens() != null;
        if (hasTokens && prices != null) {
            return new TurnCost(prices.costOf(result.inputTokens(), result.outputTokens()), true);
        }
        return UNKNOWN;
    }
}
