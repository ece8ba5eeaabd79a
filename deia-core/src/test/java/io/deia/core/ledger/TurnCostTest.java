package io.deia.core.ledger;

import io.deia.core.agent.TurnResult;
import io.deia.core.agent.TurnStatus;
import io.deia.core.config.Prices;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TurnCostTest {
    private static TurnResult result(Double cost, Long in, Long out) {
        return new TurnResult(TurnStatus.COMPLETED, "ok", null, cost, in, out, 5, 0, null);
    }

    @Test
    void aReportedCostIsTakenAsReportedEvenWithPrices() {
        TurnCost c = TurnCost.of(result(0.42, 1000L, 10L), new Prices(100.0, 100.0));
        assertEquals(0.42, c.usd());
        assertTrue(c.known());
    }

    @Test
    void tokensWithoutACostArePricedFromTheProfilesTable() {
        // 1.25 USD per million in, 10 per million out: 200000 in + 30000 out = 0.25 + 0.30
        TurnCost c = TurnCost.of(result(null, 200_000L, 30_000L), new Prices(1.25, 10.0));
        assertEquals(0.55, c.usd(), 1e-12);
        assertTrue(c.known());
    }

    @Test
    void withoutCostOrPricesTheCostIsUnknownNotZero() {
        TurnCost tokensOnly = TurnCost.of(result(null, 200_000L, 30_000L), null);
        assertNull(tokensOnly.usd());
        assertFalse(tokensOnly.known());
        TurnCost nothing = TurnCost.of(result(null, null, null), new Prices(1.0, 1.0));
        assertNull(nothing.usd(), "no tokens to price: unknown, not 0");
        assertFalse(nothing.known());
    }
}
