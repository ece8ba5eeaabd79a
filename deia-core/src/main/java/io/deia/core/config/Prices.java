package io.deia.core.config;

/**
 * A profile's token prices, for agents that report tokens but no cost (Codex). With a price table a
 * turn's cost is {@code input_tokens × input price + output_tokens × output price} (per million);
 * without one such a turn's cost is <em>unknown</em>, never taken as 0.
 *
 * <pre>{@code
 * "prices": {"usd_per_million_input_tokens": 1.25, "usd_per_million_output_tokens": 10}
 * }</pre>
 *
 * @param usdPerMillionInputTokens  US dollars per million input tokens
 * @param usdPerMillionOutputTokens US dollars per million output tokens
 */
public record Prices(Double usdPerMillionInputTokens, Double usdPerMillionOutputTokens) {
    public Prices {
        if (usdPerMillionInputTokens == null || usdPerMillionOutputTokens == null) {
            throw new IllegalArgumentException("prices needs both usd_per_million_input_tokens and usd_per_million_output_tokens");
        }
        if (!(usdPerMillionInputTokens >= 0) || !(usdPerMillionOutputTokens >= 0)
                || usdPerMillionInputTokens.isInfinite() || usdPerMillionOutputTokens.isInfinite()) {
            throw new IllegalArgumentException("prices must be numbers >= 0");
        }
    }

    /** The cost of a turn that used these tokens (a null count is taken as 0). */
    public double costOf(Long inputTokens, Long outputTokens) {
        long in = inputTokens == null ? 0 : inputTokens;
        long out = outputTokens == null ? 0 : outputTokens;
        return (in * usdPerMillionInputTokens + out * usdPerMillionOutputTokens) / 1_000_000d;
    }
}
