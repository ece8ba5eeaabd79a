package io.deia.core.ledger;

import io.deia.core.DeiaException;
import io.deia.core.HiveLayout;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LedgerTest {
    @TempDir
    Path dir;

    static LedgerEntry turn(String bot, String profile, Instant at, Double cost, Long in, Long out) {
        return new LedgerEntry(LedgerEntry.TURN, at, bot, profile, "chat", null, null, "completed", 10L, cost, cost != null,
                in, out, null, null);
    }

    @Test
    void appendsReadsAndSurvivesANewReader() {
        HiveLayout hive = new HiveLayout(dir);
        Ledger ledger = new Ledger(hive);
        Instant t = Instant.parse("2026-12-08T10:00:00Z");
        ledger.append(turn("BOT-001", "claude", t, 0.5, 100L, 20L));
        ledger.append(LedgerEntry.task(t.plusSeconds(1), "BOT-001", "claude", "T-1", 1, "completed"));
        try {
            org.junit.jupiter.api.Assertions.assertEquals("rw-------", java.nio.file.attribute.PosixFilePermissions.toString(
                    java.nio.file.Files.getPosixFilePermissions(hive.ledgerFile("BOT-001"))), "private like every hive file");
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        ledger.append(turn("BOT-002", "codex", t, null, 7L, 3L));

        List<LedgerEntry> one = new Ledger(hive).read("BOT-001");
        assertEquals(2, one.size());
        assertTrue(one.get(0).isTurn());
        assertEquals(0.5, one.get(0).costUsd());
        assertEquals(100L, one.get(0).inputTokens());
        assertTrue(one.get(1).isTask());
        assertEquals("T-1", one.get(1).taskId());
        assertEquals(List.of("BOT-001", "BOT-002"), ledger.botIds());
        LedgerEntry unknown = ledger.read("BOT-002").get(0);
        assertNull(unknown.costUsd());
        assertFalse(unknown.costKnown());
        assertEquals(List.of(), ledger.read("BOT-009"));
    }

    @Test
    void aTornLastLineIsSkippedAndTheNextAppendStartsAFreshLine() throws Exception {
        HiveLayout hive = new HiveLayout(dir);
        Ledger ledger = new Ledger(hive);
        Instant t = Instant.parse("2026-12-08T10:00:00Z");
        ledger.append(turn("BOT-001", "p", t, 0.25, 1L, 1L));
        // A crash in the middle of the next line: no newline at its end.
        Files.writeString(hive.ledgerFile("BOT-001"), "{\"kind\":\"turn\",\"at\":\"2026-12-08T10:0",
                StandardCharsets.UTF_8, StandardOpenOption.APPEND);
        Ledger.Tail tail = new Ledger.Tail(hive.ledgerFile("BOT-001"));
        assertEquals(1, tail.readNew().size(), "the torn line waits, it is not taken as a record");

        ledger.append(turn("BOT-001", "p", t.plusSeconds(5), 0.75, 2L, 2L));
        List<LedgerEntry> after = tail.readNew();
        assertEquals(1, after.size(), "the torn line is skipped, the new one read: " + after);
        assertEquals(0.75, after.get(0).costUsd());
        assertEquals(2, ledger.read("BOT-001").size());
        assertTrue(Files.readString(hive.ledgerFile("BOT-001")).endsWith("\n"));
    }

    @Test
    void theTailReadsOnlyWhatWasAdded() {
        HiveLayout hive = new HiveLayout(dir);
        Ledger ledger = new Ledger(hive);
        Ledger.Tail tail = new Ledger.Tail(hive.ledgerFile("BOT-001"));
        assertEquals(List.of(), tail.readNew(), "no file yet");
        Instant t = Instant.parse("2026-12-08T10:00:00Z");
        ledger.append(turn("BOT-001", "p", t, 1.0, 1L, 1L));
        assertEquals(1, tail.readNew().size());
        assertEquals(0, tail.readNew().size());
        ledger.append(turn("BOT-001", "p", t, 2.0, 1L, 1L));
        assertEquals(2.0, tail.readNew().get(0).costUsd());
    }

    @Test
    void aLedgerThatCannotBeWrittenSaysWhich() throws Exception {
        HiveLayout hive = new HiveLayout(dir);
        Files.createDirectories(hive.ledgerDir());
        Files.createDirectories(hive.ledgerFile("BOT-001")); // a folder where the file should be
        DeiaException e = assertThrows(DeiaException.class, () -> new Ledger(hive).append(
                turn("BOT-001", "p", Instant.now(), 1.0, 1L, 1L)));
        assertTrue(e.getMessage().contains("ledger"), e.getMessage());
    }
}
