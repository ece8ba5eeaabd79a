package io.deia.core.ledger;

import io.deia.core.HiveLayout;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Clock;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * The hive's spend, per bot, per profile and in all, summed from the bots' ledgers
 * ({@link Ledger}): today's (the UTC day of {@link #clock}) and the total, the turns of unknown cost
 * and the tokens. Each ledger is followed by a {@link Ledger.Tail}, so asking again only reads the
 * lines appended since the last time (one directory listing and one size check per ledger
 * otherwise): cheap enough to ask before every task and message.
 *
 * <p>A profile's spend is what the turns recorded under that profile cost, whichever bot ran them.
 * Only {@code turn} lines carry cost; {@code task} lines are skipped here.
 *
 * <p>Thread-safe.
 */
public final class Spend {
    private static final Logger log = LoggerFactory.getLogger(Spend.class);

    private final HiveLayout hive;
    private final Ledger ledger;
    private final Clock clock;
    private final Map<String, Ledger.Tail> tails = new HashMap<>();
    private final Map<String, Sums> bots = new TreeMap<>();
    private final Map<String, Sums> profiles = new TreeMap<>();
    private final Sums all = new Sums();

    /** The spend of {@code hive}'s ledgers, days counted in UTC by {@code clock}. */
    public Spend(HiveLayout hive, Clock clock) {
        this.hive = hive;
        this.ledger = new Ledger(hive);
        this.clock = clock;
    }

    /** The spend of {@code hive}'s ledgers, days counted in UTC by the system clock. */
    public Spend(HiveLayout hive) {
        this(hive, Clock.systemUTC());
    }

    /** A bot's spend (zero when its ledger is empty or missing). */
    public synchronized CostSummary bot(String botId) {
        refresh();
        Sums s = bots.get(botId);
        return s == null ? CostSummary.ZERO : s.summary(today());
    }

    /** What all bots of a profile spent together (zero when none did). */
    public synchronized CostSummary profile(String name) {
        refresh();
        Sums s = profiles.get(name);
        return s == null ? CostSummary.ZERO : s.summary(today());
    }

    /** What the whole hive spent. */
    public synchronized CostSummary hive() {
        refresh();
        return all.summary(today());
    }

    /** Every bot's spend, by bot id. */
    public synchronized Map<String, CostSummary> bots() {
        refresh();
        LocalDate today = today();
        Map<String, CostSummary> out = new TreeMap<>();
        bots.forEach((id, s) -> out.put(id, s.summary(today)));
        return out;
    }

    /** Every profile's spend, by profile name (only profiles that ran a turn). */
    public synchronized Map<String, CostSummary> profiles() {
        refresh();
        LocalDate today = today();
        Map<String, CostSummary> out = new TreeMap<>();
        profiles.forEach((name, s) -> out.put(name, s.summary(today)));
        return out;
    }

    private LocalDate today() {
        return LocalDate.ofInstant(clock.instant(), ZoneOffset.UTC);
    }

    /** Reads the lines appended to every ledger since the last call. */
    private void refresh() {
        for (String botId : ledger.botIds()) {
            Ledger.Tail tail = tails.computeIfAbsent(botId, id -> new Ledger.Tail(hive.ledgerFile(id)));
            try {
                for (LedgerEntry e : tail.readNew()) {
                    add(e);
                }
            } catch (RuntimeException e) {
                // One unreadable ledger must not hide the others; the next call tries it again.
                log.warn("[{}] cannot read the ledger: {}", botId, e.getMessage());
            }
        }
    }

    private void add(LedgerEntry e) {
        if (!e.isTurn() || e.at() == null) {
            return;
        }
        LocalDate day = LocalDate.ofInstant(e.at(), ZoneOffset.UTC);
        if (e.botId() != null) {
            bots.computeIfAbsent(e.botId(), id -> new Sums()).add(e, day);
        }
        if (e.profile() != null) {
            profiles.computeIfAbsent(e.profile(), p -> new Sums()).add(e, day);
        }
        all.add(e, day);
    }

    /** Running sums of one bot, one profile or the hive; the day sums only for the latest day seen. */
    private static final class Sums {
        private double totalUsd;
        private long unknown;
        private long inputTokens;
        private long outputTokens;
        private LocalDate day;
        private double dayUsd;

        void add(LedgerEntry e, LocalDate entryDay) {
            boolean known = e.costUsd() != null && !Boolean.FALSE.equals(e.costKnown());
            if (known) {
                totalUsd += e.costUsd();
            } else {
                unknown++;
            }
            inputTokens += e.inputTokens() == null ? 0 : e.inputTokens();
            outputTokens += e.outputTokens() == null ? 0 : e.outputTokens();
            if (day == null || entryDay.isAfter(day)) {
                day = entryDay;
                dayUsd = 0;
            }
            if (known && entryDay.equals(day)) {
                dayUsd += e.costUsd();
            }
        }

        CostSummary summary(LocalDate today) {
            return new CostSummary(today.equals(day) ? dayUsd : 0, totalUsd, unknown, inputTokens, outputTokens);
        }
    }
}
