package io.deia.core.ledger;

import io.deia.core.DeiaException;
import io.deia.core.HiveLayout;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LedgerFollowerTest {
    private static final Instant AT = Instant.parse("2026-12-08T10:00:00Z");

    @TempDir
    Path dir;

    private static LedgerEntry task(String bot, String taskId, String status) {
        return LedgerEntry.task(AT, bot, "p", taskId, 1, status);
    }

    @Test
    void eachCallReturnsOnlyWhatWasAppendedSinceThePreviousOneForEveryBot() {
        HiveLayout hive = new HiveLayout(dir);
        Ledger ledger = new Ledger(hive);
        LedgerFollower follower = new LedgerFollower(hive);
        assertEquals(Map.of(), follower.readNew(), "no ledger folder yet");

        ledger.append(task("BOT-B", "T1", "completed"));
        ledger.append(task("BOT-A", "T2", "failed"));
        ledger.append(task("BOT-A", "T3", "completed"));
        Map<String, List<LedgerEntry>> first = follower.readNew();
        assertEquals(List.of("BOT-A", "BOT-B"), List.copyOf(first.keySet()), "in the order of the ids");
        assertEquals(List.of("T2", "T3"), first.get("BOT-A").stream().map(LedgerEntry::taskId).toList());
        assertEquals(2, follower.followed());

        assertEquals(Map.of(), follower.readNew(), "nothing new");
        ledger.append(task("BOT-A", "T4", "rejected"));
        ledger.append(task("BOT-C", "T5", "completed"));
        Map<String, List<LedgerEntry>> second = follower.readNew();
        assertEquals(List.of("T4"), second.get("BOT-A").stream().map(LedgerEntry::taskId).toList());
        assertEquals(List.of("T5"), second.get("BOT-C").stream().map(LedgerEntry::taskId).toList());
        assertEquals(2, second.size());
    }

    @Test
    void aRemovedLedgerIsForgottenAndReadFromItsStartWhenItComesBack() throws Exception {
        HiveLayout hive = new HiveLayout(dir);
        Ledger ledger = new Ledger(hive);
        LedgerFollower follower = new LedgerFollower(hive);
        ledger.append(task("BOT-A", "T1", "completed"));
        ledger.append(task("BOT-A", "T2", "completed"));
        assertEquals(2, follower.readNew().get("BOT-A").size());

        Files.delete(hive.ledgerFile("BOT-A"));
        assertEquals(Map.of(), follower.readNew());
        assertEquals(0, follower.followed());
        ledger.append(task("BOT-A", "T3", "completed"));
        assertEquals(List.of("T3"), follower.readNew().get("BOT-A").stream().map(LedgerEntry::taskId).toList());
    }

    @Test
    void filesThatAreNotABotsLedgerAreIgnored() throws Exception {
        HiveLayout hive = new HiveLayout(dir);
        Files.createDirectories(hive.ledgerDir());
        Files.writeString(hive.ledgerDir().resolve("-bad id.jsonl"), "{}\n");
        Files.writeString(hive.ledgerDir().resolve("BOT-A.txt"), "{}\n");
        Files.createDirectories(hive.ledgerDir().resolve("BOT-D.jsonl"));
        LedgerFollower follower = new LedgerFollower(hive);
        assertEquals(Map.of(), follower.readNew());
        assertEquals(0, follower.followed());
    }

    @Test
    void anUnreadableLedgerFolderIsReportedNamingIt() throws Exception {
        HiveLayout hive = new HiveLayout(dir);
        Files.createDirectories(hive.ledgerDir().getParent());
        Files.writeString(hive.ledgerDir(), "a file where the folder should be");
        DeiaException e = assertThrows(DeiaException.class, () -> new LedgerFollower(hive).readNew());
        assertTrue(e.getMessage().contains("ledger"), e.getMessage());
    }
}
