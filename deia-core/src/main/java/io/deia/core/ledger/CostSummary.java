package io.deia.core.ledger;

/**
 * What a bot, a profile or the hive spent, as {@code /status}, {@code GET /api/bots} and
 * {@code GET /api/costs} report it:
 *
 * <pre>{@code
 * {"today_usd": 0.12, "total_usd": 3.4, "unknown_cost_turns": 0, "input_tokens": 123, "output_tokens": 45}
 * }</pre>
 *
 * The dollar sums count only turns whose cost is known; {@code unknown_cost_turns} says how many
 * turns had no cost at all (an agent that reports none, without a price table), so a sum is never
 * mistaken for the whole when it is not.
 *
 * @param todayUsd         the known cost of the turns that ended this UTC day
 * @param totalUsd         the known cost of every turn
 * @param unknownCostTurns turns whose cost is unknown
 * @param inputTokens      input tokens of every turn that reported them
 * @param outputTokens     output tokens of every turn that reported them
 */
public record CostSummary(double todayUsd, double totalUsd, long unknownCostTurns, long inputTokens, long outputTokens) {
    /** Nothing spent. */
    public static final CostSummary ZERO = new CostSummary(0, 0, 0, 0, 0);

    /** The sum of this and {@code other}. */
    public CostSummary plus(CostSummary other) {
        return new CostSummary(todayUsd + other.todayUsd, totalUsd + other.totalUsd,
                unknownCostTurns + other.unknownCostTurns, inputTokens + other.inputTokens, outputTokens + other.outputTokens);
    }
}
