package io.deia.core.ledger;

import io.deia.core.HiveLayout;
import io.deia.core.config.Budget;
import io.deia.core.config.HiveSettings;
import io.deia.core.internal.io.Json;
import io.deia.core.webhook.WebhookEvent;
import io.deia.core.webhook.WebhookOutbox;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;

import static io.deia.core.ledger.LedgerTest.turn;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BotBudgetTest {
    @TempDir
    Path dir;

    private static HiveSettings settings(Budget hive, Budget profile) {
        return new HiveSettings(null, hive, Map.of("claude", new HiveSettings.ProfileSettings(null, profile, null)),
                List.of(BotBudget.EVENT), null);
    }

    private List<WebhookEvent> events(HiveLayout hive) throws Exception {
        if (!Files.isDirectory(hive.webhookOutboxDir())) {
            return List.of();
        }
        try (Stream<Path> files = Files.list(hive.webhookOutboxDir())) {
            return files.sorted().map(f -> Json.read(io.deia.core.internal.io.AtomicFiles.readString(f), WebhookEvent.class, "event"))
                    .toList();
        }
    }

    @Test
    void aProfileBudgetCountsEveryBotOfTheProfileAndIsPublishedOncePerTransition() throws Exception {
        HiveLayout hive = new HiveLayout(dir);
        Ledger ledger = new Ledger(hive);
        Instant t = Instant.parse("2026-12-08T10:00:00Z");
        SettableClock clock = new SettableClock(t);
        AtomicReference<HiveSettings> s = new AtomicReference<>(settings(null, new Budget(null, 1.0)));
        Spend spend = new Spend(hive, clock);
        BotBudget budget = new BotBudget("BOT-001", "claude", spend, s::get, new WebhookOutbox(hive, s::get));

        ledger.append(turn("BOT-001", "claude", t, 0.6, 1L, 1L));
        assertNull(budget.check());
        // Another bot of the same profile spends the rest: both are over the profile's budget.
        ledger.append(turn("BOT-002", "claude", t, 0.4, 1L, 1L));
        ledger.append(turn("BOT-003", "other", t, 50.0, 1L, 1L));
        BotBudget.Breach b = budget.check();
        assertEquals(new BotBudget.Breach("profile", "total", 1.0, 1.0), b);
        assertTrue(b.reason().contains("profile"), b.reason());
        budget.check();
        List<WebhookEvent> events = events(hive);
        assertEquals(1, events.size(), "one event per transition: " + events);
        assertEquals("bot.over_budget", events.get(0).type());
        assertEquals("BOT-001", events.get(0).botId());
        String json = Json.write(events.get(0));
        assertTrue(json.contains("\"budget\":\"profile\"") && json.contains("\"period\":\"total\"")
                && json.contains("\"spent_usd\":1.0") && json.contains("\"limit_usd\":1.0"), json);

        // A reload raises the budget: within it again, and a second breach publishes again.
        s.set(settings(null, new Budget(null, 2.0)));
        assertNull(budget.check());
        ledger.append(turn("BOT-001", "claude", t, 1.5, 1L, 1L));
        assertEquals("total", budget.check().period());
        assertEquals(2, events(hive).size());
    }

    @Test
    void theHiveDailyBudgetLiftsOnTheNextUtcDay() {
        HiveLayout hive = new HiveLayout(dir);
        Ledger ledger = new Ledger(hive);
        Instant t = Instant.parse("2026-12-08T23:00:00Z");
        SettableClock clock = new SettableClock(t);
        HiveSettings s = settings(new Budget(1.0, 100.0), null);
        BotBudget budget = new BotBudget("BOT-001", "claude", new Spend(hive, clock), () -> s, new WebhookOutbox(hive, () -> s));
        ledger.append(turn("BOT-009", "other", t, 1.25, 1L, 1L));
        assertEquals(new BotBudget.Breach("hive", "day", 1.25, 1.0), budget.check(), "any bot's spend counts hive-wide");
        clock.advance(Duration.ofHours(2));
        assertNull(budget.check());
        ledger.append(turn("BOT-009", "other", clock.instant(), 100.0, 1L, 1L));
        assertEquals(new BotBudget.Breach("hive", "day", 100.0, 1.0), budget.check(), "the day is checked first");
        clock.advance(Duration.ofDays(1));
        assertEquals(new BotBudget.Breach("hive", "total", 101.25, 100.0), budget.check());
    }

    @Test
    void unknownCostNeverReachesABudget() {
        HiveLayout hive = new HiveLayout(dir);
        Instant t = Instant.parse("2026-12-08T10:00:00Z");
        HiveSettings s = settings(new Budget(0.0001, null), null);
        BotBudget budget = new BotBudget("BOT-001", "claude", new Spend(hive, new SettableClock(t)), () -> s,
                new WebhookOutbox(hive, () -> s));
        new Ledger(hive).append(turn("BOT-001", "claude", t, null, 1_000_000L, 1_000_000L));
        assertNull(budget.check());
        assertEquals(1, budget.cost().unknownCostTurns());
    }
}
