package io.deia.core.chat;

import io.deia.core.DeiaException;
import io.deia.core.HiveLayout;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class HistoryStoreTest {
    @TempDir
    Path dir;

    @Test
    void appendsAndReadsPagesNewestFirst() {
        HiveLayout hive = new HiveLayout(dir);
        try (HistoryStore store = new HistoryStore(hive)) {
            for (int i = 1; i <= 7; i++) {
                var e = store.append("BOT-1", i % 2 == 1 ? HistoryStore.USER : HistoryStore.ASSISTANT, "m" + i, "c" + i,
                        i % 2 == 0 ? 0.01 : null);
                assertEquals(i, e.seq());
            }
            var first = store.read("BOT-1", null, 3);
            assertEquals(List.of("m7", "m6", "m5"), first.messages().stream().map(HistoryStore.Entry::text).toList());
            assertEquals(5L, first.nextBefore());
            var second = store.read("BOT-1", first.nextBefore(), 3);
            assertEquals(List.of("m4", "m3", "m2"), second.messages().stream().map(HistoryStore.Entry::text).toList());
            var last = store.read("BOT-1", second.nextBefore(), 3);
            assertEquals(List.of("m1"), last.messages().stream().map(HistoryStore.Entry::text).toList());
            assertNull(last.nextBefore());
            assertEquals(0.01, second.messages().get(0).costUsd());
            assertEquals("c4", second.messages().get(0).clientMsgId());
            assertEquals(7, store.lastSeq("BOT-1"));
            assertTrue(store.read("OTHER", null, 10).messages().isEmpty());
        }
        // Reopened from disk: the same content and numbering continues.
        try (HistoryStore store = new HistoryStore(hive)) {
            assertEquals(7, store.lastSeq("BOT-1"));
            assertEquals(8, store.append("BOT-1", HistoryStore.USER, "m8", null, null).seq());
            assertEquals("m8", store.read("BOT-1", null, 1).messages().get(0).text());
        }
    }

    @Test
    void readingBotsWithoutHistoryCreatesNothingAndKeepsNoFileOpen() throws Exception {
        HiveLayout hive = new HiveLayout(dir);
        try (HistoryStore store = new HistoryStore(hive)) {
            store.read("WARM-UP", null, 1);
            long fdsBefore = openFds();
            for (int i = 0; i < 500; i++) {
                HistoryStore.Page page = store.read("NOBODY-" + i, null, 10);
                assertTrue(page.messages().isEmpty());
                assertNull(page.nextBefore());
                assertEquals(0, store.lastSeq("NOBODY-" + i));
            }
            // Before the fix each id left a new file and two open descriptors behind.
            assertTrue(openFds() <= fdsBefore + 5, "descriptors grew from " + fdsBefore + " to " + openFds());
            assertTrue(!Files.exists(hive.historyFile("NOBODY-1")), "no history file is created by reading");
            Path historyDir = hive.historyFile("X").getParent();
            if (Files.isDirectory(historyDir)) {
                try (var files = Files.list(historyDir)) {
                    assertTrue(files.noneMatch(p -> p.getFileName().toString().startsWith("NOBODY")));
                }
            }
            // A bot with a history still reads it.
            store.append("BOT-1", HistoryStore.USER, "hi", "c1", null);
            assertEquals("hi", store.read("BOT-1", null, 5).messages().get(0).text());
        }
    }

    private static long openFds() throws Exception {
        try (var fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.count();
        }
    }

    @Test
    void tornLastLineIsDroppedAndEarlierLinesKept() throws Exception {
        HiveLayout hive = new HiveLayout(dir);
        try (HistoryStore store = new HistoryStore(hive)) {
            store.append("BOT-1", HistoryStore.USER, "hello", "a", null);
            store.append("BOT-1", HistoryStore.ASSISTANT, "hi there", "a", null);
        }
        Path file = hive.historyFile("BOT-1");
        long goodSize = Files.size(file);
        // What a crash in the middle of a write leaves: a line without its end.
        Files.write(file, "{\"seq\":3,\"ts\":\"2026-01-01T00:00:00Z\",\"role\":\"us".getBytes(StandardCharsets.UTF_8),
                StandardOpenOption.APPEND);
        try (HistoryStore store = new HistoryStore(hive)) {
            assertEquals(2, store.lastSeq("BOT-1"));
            assertEquals(goodSize, Files.size(file));
            var page = store.read("BOT-1", null, 10);
            assertEquals(List.of("hi there", "hello"), page.messages().stream().map(HistoryStore.Entry::text).toList());
            assertEquals(3, store.append("BOT-1", HistoryStore.USER, "again", null, null).seq());
        }
        List<String> lines = Files.readAllLines(file);
        assertEquals(3, lines.size());
        assertTrue(lines.get(2).contains("\"again\""));
    }

    @Test
    void unreadableMiddleLineIsSkippedNotFatal() throws Exception {
        HiveLayout hive = new HiveLayout(dir);
        Path file = hive.historyFile("BOT-2");
        Files.createDirectories(file.getParent());
        Files.writeString(file, "{\"seq\":1,\"role\":\"user\",\"text\":\"one\"}\nnot json\n{\"seq\":2,\"role\":\"assistant\",\"text\":\"two\"}\n");
        try (HistoryStore store = new HistoryStore(hive)) {
            var page = store.read("BOT-2", null, 10);
            assertEquals(List.of("two", "one"), page.messages().stream().map(HistoryStore.Entry::text).toList());
        }
    }

    @Test
    void concurrentAppendsGetDistinctSequentialSeqs() throws Exception {
        HiveLayout hive = new HiveLayout(dir);
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try (HistoryStore store = new HistoryStore(hive)) {
            List<Future<Long>> seqs = new ArrayList<>();
            for (int i = 0; i < 40; i++) {
                int n = i;
                seqs.add(pool.submit(() -> store.append("BOT-3", HistoryStore.USER, "x" + n, null, null).seq()));
            }
            List<Long> got = new ArrayList<>();
            for (Future<Long> f : seqs) {
                got.add(f.get());
            }
            got.sort(Long::compare);
            for (int i = 0; i < 40; i++) {
                assertEquals(i + 1, got.get(i));
            }
            assertEquals(40, store.read("BOT-3", null, 100).messages().size());
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void refusesBadArguments() {
        try (HistoryStore store = new HistoryStore(new HiveLayout(dir))) {
            assertThrows(DeiaException.class, () -> store.append("../etc", HistoryStore.USER, "x", null, null));
            assertThrows(DeiaException.class, () -> store.read("BOT-1", null, 0));
            assertThrows(DeiaException.class, () -> store.read("BOT-1", 0L, 10));
            store.close();
            assertThrows(DeiaException.class, () -> store.lastSeq("BOT-1"));
        }
    }
}
