package io.deia.core.chat;

import io.deia.core.HiveLayout;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The history file has a size cap (rotated to {@code .1}) and stores control characters escaped. */
class HistoryRotationTest {
    private static final String BOT = "BOT-001";

    @TempDir
    Path dir;

    @Test
    void aFilePastTheCapIsRotatedAndSequenceNumbersGoOn() throws Exception {
        HiveLayout hive = new HiveLayout(dir);
        Path file = hive.historyFile(BOT);
        Path rotated = file.resolveSibling(file.getFileName() + ".1");
        String text = "y".repeat(300);
        try (HistoryStore store = new HistoryStore(hive, 4096)) {
            for (int i = 1; i <= 40; i++) {
                assertEquals(i, store.append(BOT, HistoryStore.USER, text, "m-" + i, null).seq());
                assertTrue(Files.size(file) <= 4096, "capped: " + Files.size(file));
            }
            assertTrue(Files.exists(rotated));
            assertTrue(Files.size(rotated) <= 4096);
            assertEquals(40, store.lastSeq(BOT));
            HistoryStore.Page page = store.read(BOT, null, 500);
            assertEquals(40, page.messages().get(0).seq(), "newest first, from the current file");
            assertTrue(page.messages().size() < 40, "older messages are in the rotated file");
        }
        // Seen by a new store (a restarted controller), even when the current file is empty.
        Files.move(file, rotated, StandardCopyOption.REPLACE_EXISTING);
        try (HistoryStore store = new HistoryStore(hive, 4096)) {
            assertEquals(40, store.lastSeq(BOT));
            assertEquals(41, store.append(BOT, HistoryStore.ASSISTANT, "after", "m-41", null).seq());
        }
    }

    @Test
    void controlCharactersAreStoredEscaped() throws Exception {
        HiveLayout hive = new HiveLayout(dir);
        try (HistoryStore store = new HistoryStore(hive)) {
            HistoryStore.Entry e = store.append(BOT, HistoryStore.ASSISTANT, "a\0b\u001b[31mc\u007fd\u0085e\tf\ng", "m-1", null);
            assertEquals("a\\u0000b\\u001b[31mc\\u007fd\\u0085e\tf\ng", e.text());
            assertEquals(e.text(), store.read(BOT, null, 1).messages().get(0).text());
        }
        byte[] bytes = Files.readAllBytes(hive.historyFile(BOT));
        for (byte b : bytes) {
            int c = b & 0xff;
            assertTrue(c >= 0x20 && c != 0x7f || c == '\n', "raw control byte " + c);
        }
    }

    @Test
    void theCapIsTheConfigsHistoryMaxBytesAndACapBelowOnePageIsRefused() throws Exception {
        assertThrows(io.deia.core.DeiaException.class, () -> new HistoryStore(new HiveLayout(dir), 100));
        Path config = dir.resolve("deia.json");
        Files.writeString(config, "{\"history_max_bytes\": 5000}");
        assertEquals(5000, io.deia.core.config.DeiaConfig.load(config).historyMaxBytes());
        Files.writeString(config, "{}");
        assertEquals(8 * 1024 * 1024, io.deia.core.config.DeiaConfig.load(config).historyMaxBytes());
        Files.writeString(config, "{\"history_max_bytes\": 10}");
        io.deia.core.DeiaException e = assertThrows(io.deia.core.DeiaException.class, () -> io.deia.core.config.DeiaConfig.load(config));
        assertTrue(e.getMessage().contains("history_max_bytes"), e.getMessage());
    }
}
