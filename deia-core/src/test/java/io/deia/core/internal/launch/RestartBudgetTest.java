package io.deia.core.internal.launch;

import io.deia.core.config.RestartPolicy;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.Instant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RestartBudgetTest {
    private static final RestartPolicy POLICY = new RestartPolicy(RestartPolicy.Mode.ON_FAILURE, 3, 60, 500, 1500, 30);
    private static final Instant T0 = Instant.parse("2026-01-01T00:00:00Z");

    @Test
    void backoffDoublesUpToTheCapWithJitterBounds() {
        RestartBudget low = new RestartBudget(POLICY, () -> 0.0);
        assertEquals(400, low.nextDelay(T0).toMillis());
        assertEquals(800, low.nextDelay(T0).toMillis());
        assertEquals(1500, low.nextDelay(T0).toMillis(), "1600 capped at 1500");

        RestartBudget high = new RestartBudget(POLICY, () -> 0.999_999);
        long first = high.nextDelay(T0).toMillis();
        assertTrue(first >= 599 && first <= 600, "+20%: " + first);
    }

    @Test
    void budgetCountsRestartsWithinTheWindow() {
        RestartBudget budget = new RestartBudget(POLICY, () -> 0.5);
        for (int i = 0; i < 3; i++) {
            assertTrue(budget.allows(T0.plusSeconds(i)));
            budget.nextDelay(T0.plusSeconds(i));
        }
        assertFalse(budget.allows(T0.plusSeconds(10)));
        assertEquals(3, budget.inWindow());
        assertTrue(budget.allows(T0.plusSeconds(61)), "the first restart left the window");
        assertEquals(2, budget.inWindow());
    }

    @Test
    void stableUptimeResetsBackoffAndBudget() {
        RestartBudget budget = new RestartBudget(POLICY, () -> 0.5);
        budget.nextDelay(T0);
        budget.nextDelay(T0);
        budget.onExit(Duration.ofSeconds(29));
        assertEquals(2, budget.inWindow());
        budget.onExit(Duration.ofSeconds(30));
        assertEquals(0, budget.inWindow());
        assertEquals(500, budget.nextDelay(T0).toMillis(), "back to the initial delay");
    }
}
