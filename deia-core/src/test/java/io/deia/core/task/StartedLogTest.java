package io.deia.core.task;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class StartedLogTest {
    @TempDir
    Path dir;

    @Test
    void appendsOneLinePerAttemptAndReadsTheHighestPerClaim() throws Exception {
        Path file = dir.resolve(StartedLog.FILE);
        assertEquals(Map.of(), StartedLog.read(file), "no log: nothing started");
        try (StartedLog log = new StartedLog("BOT-1", file)) {
            log.append(1, 1);
            log.append(2, 1);
            log.append(1, 2);
        }
        assertEquals("1 1\n2 1\n1 2\n", Files.readString(file));
        assertEquals(Map.of(1L, 2, 2L, 1), StartedLog.read(file));
        try (StartedLog again = new StartedLog("BOT-1", file)) {
            again.append(3, 1);
        }
        assertEquals(Map.of(1L, 2, 2L, 1, 3L, 1), StartedLog.read(file), "a reopened log appends");
    }

    @Test
    void linesThatAreNotTwoNumbersAreSkipped() throws Exception {
        Path file = dir.resolve(StartedLog.FILE);
        Files.writeString(file, "1 1\n\n7\n2 x\n 3\n4 1 1\n-5 1\n6 0\n99999999999999999999 1\n8 2\n9 ");
        assertEquals(Map.of(1L, 1, 8L, 2), StartedLog.read(file));
    }

    @Test
    void aLongLogIsCompactedToTheClaimsNotYetArchived() throws Exception {
        Path file = dir.resolve(StartedLog.FILE);
        try (StartedLog log = new StartedLog("BOT-1", file)) {
            long seq = 0;
            // Claims 1 and 2 stay open; every other one is archived right after its attempt.
            log.append(++seq, 1);
            log.append(++seq, 3);
            while (Files.size(file) <= StartedLog.COMPACT_AT_BYTES) {
                log.append(++seq, 1);
                log.forget(seq);
            }
            log.append(++seq, 2);
            assertEquals(Map.of(1L, 1, 2L, 3, seq, 2), StartedLog.read(file), "the compacted log");
            assertTrue(Files.size(file) < 100, "compacted: " + Files.size(file) + " bytes");
            log.append(1, 2);
            assertEquals(Map.of(1L, 2, 2L, 3, seq, 2), StartedLog.read(file), "appends go on after a compaction");
        }
        try (var files = Files.list(dir)) {
            assertEquals(1, files.count(), "no temp file is left");
        }
    }
}
