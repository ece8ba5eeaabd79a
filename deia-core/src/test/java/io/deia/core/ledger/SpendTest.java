package io.deia.core.ledger;

import io.deia.core.HiveLayout;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;

import static io.deia.core.ledger.LedgerTest.turn;
import static org.junit.jupiter.api.Assertions.assertEquals;

class SpendTest {
    @TempDir
    Path dir;

    @Test
    void sumsPerBotPerProfileAndHiveWithTodayInUtc() {
        HiveLayout hive = new HiveLayout(dir);
        Ledger ledger = new Ledger(hive);
        Instant yesterday = Instant.parse("2026-12-07T23:59:00Z");
        Instant today = Instant.parse("2026-12-08T00:01:00Z");
        SettableClock clock = new SettableClock(today.plusSeconds(60));
        ledger.append(turn("BOT-001", "claude", yesterday, 2.0, 100L, 10L));
        ledger.append(turn("BOT-001", "claude", today, 0.5, 50L, 5L));
        ledger.append(turn("BOT-002", "claude", today, 0.25, 10L, 1L));
        ledger.append(turn("BOT-003", "codex", today, null, 7L, 3L));
        ledger.append(LedgerEntry.task(today, "BOT-001", "claude", "T-1", 1, "completed"));

        Spend spend = new Spend(hive, clock);
        assertEquals(new CostSummary(0.5, 2.5, 0, 150, 15), spend.bot("BOT-001"));
        assertEquals(new CostSummary(0.75, 2.75, 0, 160, 16), spend.profile("claude"));
        assertEquals(new CostSummary(0, 0, 1, 7, 3), spend.profile("codex"), "unknown cost is counted, never summed as 0 USD");
        assertEquals(new CostSummary(0.75, 2.75, 1, 167, 19), spend.hive());
        assertEquals(CostSummary.ZERO, spend.bot("BOT-404"));
        assertEquals(3, spend.bots().size());
        assertEquals(Map.of("claude", spend.profile("claude"), "codex", spend.profile("codex")), spend.profiles());

        // Lines appended later are read on the next question, and only they.
        ledger.append(turn("BOT-002", "claude", today.plusSeconds(5), 1.0, 1L, 1L));
        assertEquals(new CostSummary(1.25, 1.25, 0, 11, 2), spend.bot("BOT-002"));
        assertEquals(new CostSummary(1.75, 3.75, 1, 168, 20), spend.hive());
    }

    @Test
    void theNextUtcDayStartsTodayAtZeroAndKeepsTheTotal() {
        HiveLayout hive = new HiveLayout(dir);
        Ledger ledger = new Ledger(hive);
        Instant t = Instant.parse("2026-12-08T22:00:00Z");
        SettableClock clock = new SettableClock(t);
        Spend spend = new Spend(hive, clock);
        ledger.append(turn("BOT-001", "p", t, 3.0, 1L, 1L));
        assertEquals(3.0, spend.bot("BOT-001").todayUsd());

        clock.advance(Duration.ofHours(3)); // 01:00 the next day
        assertEquals(0.0, spend.bot("BOT-001").todayUsd());
        assertEquals(3.0, spend.bot("BOT-001").totalUsd());
        assertEquals(0.0, spend.hive().todayUsd());

        ledger.append(turn("BOT-001", "p", clock.instant(), 0.5, 1L, 1L));
        assertEquals(0.5, spend.bot("BOT-001").todayUsd());
        assertEquals(3.5, spend.profile("p").totalUsd());
    }
}
