package io.deia.core.internal.io;

import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import java.util.zip.CRC32;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AtomicFilesTest {
    @TempDir
    Path dir;

    private List<String> names(Path folder) throws Exception {
        try (Stream<Path> files = Files.list(folder)) {
            return files.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void writeCreatesParentsReplacesAndLeavesNoTempFile() throws Exception {
        Path target = dir.resolve("a/b/file.json");
        AtomicFiles.writeString(target, "first");
        AtomicFiles.writeString(target, "second ✓");
        assertEquals("second ✓", AtomicFiles.readString(target));
        assertEquals(List.of("file.json"), names(target.getParent()));
    }

    @Test
    void cleanUpLeavesTempFilesOfLiveProcessesAndRemovesOnlyDeadWritersOnes() throws Exception {
        Process other = new ProcessBuilder("sleep", "60").start();
        try {
            Process gone = new ProcessBuilder("true").start();
            gone.waitFor();
            long otherStart = other.toHandle().info().startInstant().orElseThrow().toEpochMilli();
            long goneStart = gone.toHandle().info().startInstant().map(java.time.Instant::toEpochMilli).orElse(1L);
            ProcessHandle self = ProcessHandle.current();
            long selfStart = self.info().startInstant().orElseThrow().toEpochMilli();
            Path liveOther = dir.resolve(".deia-tmp-a.json.pid" + other.pid() + "-" + otherStart + ".ab");
            Path mine = dir.resolve(".deia-tmp-a.json.pid" + self.pid() + "-" + selfStart + ".cd");
            Path dead = dir.resolve(".deia-tmp-a.json.pid" + gone.pid() + "-" + goneStart + ".ef");
            Path reusedPid = dir.resolve(".deia-tmp-a.json.pid" + other.pid() + "-" + (otherStart - 5000) + ".01");
            Path untagged = dir.resolve(".deia-tmp-a.json.1f2e3d");
            for (Path p : List.of(liveOther, mine, dead, reusedPid, untagged)) {
                Files.writeString(p, "half");
            }
            assertEquals(3, AtomicFiles.cleanTempFiles(dir));
            assertTrue(Files.exists(liveOther), "another running process may still rename it");
            assertTrue(Files.exists(mine), "this process's writers remove their own");
            assertFalse(Files.exists(dead));
            assertFalse(Files.exists(reusedPid), "same pid, other start: its writer is gone");
            assertFalse(Files.exists(untagged));
        } finally {
            other.destroyForcibly().waitFor();
        }
    }

    @Test
    void onlyATempFileOfARunningProcessCountsAsLive() throws Exception {
        Process gone = new ProcessBuilder("true").start();
        gone.waitFor();
        ProcessHandle me = ProcessHandle.current();
        String self = me.pid() + "-" + me.info().startInstant().orElseThrow().toEpochMilli();
        String dead = gone.pid() + "-" + gone.toHandle().info().startInstant().map(java.time.Instant::toEpochMilli).orElse(1L);
        assertTrue(AtomicFiles.isTempOfLiveProcess(dir.resolve(".deia-tmp-registry.json.pid" + self + ".abc")));
        assertFalse(AtomicFiles.isTempOfLiveProcess(dir.resolve(".deia-tmp-registry.json.pid" + dead + ".abc")));
        assertFalse(AtomicFiles.isTempOfLiveProcess(dir.resolve(".deia-tmp-registry.json.1f2e3d")), "an ordinary temp file");
        assertFalse(AtomicFiles.isTempOfLiveProcess(dir.resolve(".deia-tmp-registry.json.pidX.abc")));
        assertFalse(AtomicFiles.isTempOfLiveProcess(dir.resolve(".deia-tmp-registry.json.pid.abc")));
        assertFalse(AtomicFiles.isTempOfLiveProcess(dir.resolve("registry.json.pid" + self + ".abc")), "not a temp file");
        assertFalse(AtomicFiles.isTempOfLiveProcess(dir.resolve(".deia-tmp-registry.json.pid" + me.pid() + ".abc")), "no start instant");
    }

    @Test
    void writeUnsyncedReplacesAtomicallyAndLeavesNoTempFile() throws Exception {
        Path target = dir.resolve("hb/BOT-001.json");
        AtomicFiles.writeUnsynced(target, "{\"a\":1}".getBytes(java.nio.charset.StandardCharsets.UTF_8));
        AtomicFiles.writeUnsynced(target, "{\"a\":2}".getBytes(java.nio.charset.StandardCharsets.UTF_8));
        assertEquals("{\"a\":2}", AtomicFiles.readString(target));
        assertEquals(List.of("BOT-001.json"), names(target.getParent()));

        Path folder = dir.resolve("folder");
        Files.createDirectories(folder.resolve("inside"));
        DeiaException e = assertThrows(DeiaException.class, () -> AtomicFiles.writeUnsynced(folder, new byte[] {1}));
        assertTrue(e.getMessage().contains("folder"), e.getMessage());
        assertEquals(List.of("folder", "hb"), names(dir));
    }

    @Test
    void aFailedWriteLeavesTheTargetAndNoTempFile() throws Exception {
        Path aFile = dir.resolve("plain");
        Files.writeString(aFile, "x");
        DeiaException underFile = assertThrows(DeiaException.class, () -> AtomicFiles.writeString(aFile.resolve("child"), "y"));
        assertTrue(underFile.getMessage().contains("child"), underFile.getMessage());

        // The target is a folder: the rename fails after the temp file was written and synced.
        Path folder = dir.resolve("folder");
        Files.createDirectories(folder.resolve("inside"));
        assertThrows(DeiaException.class, () -> AtomicFiles.writeString(folder, "z"));
        assertTrue(Files.isDirectory(folder));
        assertEquals(List.of("folder", "plain"), names(dir));
        assertEquals("x", Files.readString(aFile));
    }

    @Test
    void aReaderNeverSeesAPartialFileWhileAWriterRewritesIt() throws Exception {
        Path target = dir.resolve("data.bin");
        AtomicFiles.write(target, payload(0));
        AtomicBoolean done = new AtomicBoolean();
        AtomicInteger reads = new AtomicInteger();
        List<String> bad = new CopyOnWriteArrayList<>();
        Thread reader = new Thread(() -> {
            while (!done.get()) {
                try {
                    byte[] b = Files.readAllBytes(target);
                    if (!selfConsistent(b)) {
                        bad.add("torn read of " + b.length + " bytes");
                    }
                    reads.incrementAndGet();
                } catch (NoSuchFileException e) {
                    bad.add("file missing during a rewrite");
                } catch (Exception e) {
                    bad.add(e.toString());
                }
            }
        });
        reader.start();
        try {
            for (int i = 1; i <= 150; i++) {
                AtomicFiles.write(target, payload(i));
            }
        } finally {
            done.set(true);
            reader.join();
        }
        assertEquals(List.of(), bad);
        assertTrue(reads.get() > 0);
        assertTrue(selfConsistent(Files.readAllBytes(target)));
        assertEquals(List.of("data.bin"), names(dir));
    }

    /** Sizes vary per round so a torn read cannot look whole; the last 8 bytes are a CRC of the rest. */
    private static byte[] payload(int round) {
        byte[] body = new byte[4096 + (round * 7919) % 60000];
        for (int i = 0; i < body.length; i++) {
            body[i] = (byte) (i * 31 + round);
        }
        CRC32 crc = new CRC32();
        crc.update(body);
        return ByteBuffer.allocate(body.length + 8).put(body).putLong(crc.getValue()).array();
    }

    private static boolean selfConsistent(byte[] b) {
        if (b.length < 8) {
            return false;
        }
        CRC32 crc = new CRC32();
        crc.update(b, 0, b.length - 8);
        return ByteBuffer.wrap(b, b.length - 8, 8).getLong() == crc.getValue();
    }

    @Test
    void writeNewNeverReplacesAnExistingFile() throws Exception {
        Path target = dir.resolve("resp/task.response.md");
        assertTrue(AtomicFiles.writeNew(target, "one".getBytes(StandardCharsets.UTF_8)));
        assertFalse(AtomicFiles.writeNew(target, "two".getBytes(StandardCharsets.UTF_8)));
        assertEquals("one", AtomicFiles.readString(target));
        assertEquals(List.of("task.response.md"), names(target.getParent()));
        Path aFile = dir.resolve("plain");
        Files.writeString(aFile, "x");
        assertThrows(DeiaException.class, () -> AtomicFiles.writeNew(aFile.resolve("c"), new byte[] {1}));
    }

    @Test
    void moveAndMoveIntoRenameAndReportAMissingSource() throws Exception {
        Path src = dir.resolve("inbox/t1.md");
        AtomicFiles.writeString(src, "task");
        Path moved = AtomicFiles.moveInto(src, dir.resolve("claimed"), "t1.md");
        assertEquals(dir.resolve("claimed/t1.md"), moved);
        assertFalse(Files.exists(src));
        assertEquals("task", AtomicFiles.readString(moved));
        assertThrows(NoSuchFileException.class, () -> AtomicFiles.move(src, dir.resolve("other.md")));
        Path same = dir.resolve("claimed/t2.md");
        AtomicFiles.move(moved, same);
        assertEquals(List.of("t2.md"), names(dir.resolve("claimed")));
    }

    @Test
    void moveCreatesAMissingTargetFolderOnlyForASourceThatExists() throws Exception {
        Path gone = dir.resolve("inbox/gone.md");
        assertThrows(NoSuchFileException.class, () -> AtomicFiles.move(gone, dir.resolve("nowhere/gone.md")));
        assertFalse(Files.exists(dir.resolve("nowhere")), "a lost claim creates no folder");
        Path src = dir.resolve("inbox/t.md");
        AtomicFiles.writeString(src, "task");
        AtomicFiles.move(src, dir.resolve("deep/er/t.md"));
        assertEquals("task", AtomicFiles.readString(dir.resolve("deep/er/t.md")));
        Path aFile = dir.resolve("plain");
        Files.writeString(aFile, "x");
        AtomicFiles.writeString(src, "again");
        assertThrows(java.io.IOException.class, () -> AtomicFiles.move(src, aFile.resolve("t.md")));
        assertEquals("again", AtomicFiles.readString(src), "a failed move leaves the source");
    }

    @Test
    void existsSeesFilesAndFoldersAndNoMissingOnes() throws Exception {
        Path f = dir.resolve("a/b.txt");
        assertFalse(AtomicFiles.exists(f));
        AtomicFiles.writeString(f, "x");
        assertTrue(AtomicFiles.exists(f));
        assertTrue(AtomicFiles.exists(f.getParent()));
        assertFalse(AtomicFiles.exists(f.resolveSibling("c.txt")));
    }

    @Test
    void cleanTempFilesRemovesOnlyTempFiles() throws Exception {
        Files.writeString(dir.resolve(AtomicFiles.TEMP_PREFIX + "x.1"), "half");
        Files.writeString(dir.resolve(AtomicFiles.TEMP_PREFIX + "y.2"), "half");
        Files.writeString(dir.resolve("keep.md"), "keep");
        assertTrue(AtomicFiles.isTempFile(dir.resolve(AtomicFiles.TEMP_PREFIX + "x.1")));
        assertFalse(AtomicFiles.isTempFile(dir.resolve("keep.md")));
        assertEquals(2, AtomicFiles.cleanTempFiles(dir));
        assertEquals(List.of("keep.md"), names(dir));
        assertEquals(0, AtomicFiles.cleanTempFiles(dir.resolve("missing")));
    }

    @Test
    void readStringReportsMissingAndInvalidFiles() throws Exception {
        DeiaException missing = assertThrows(DeiaException.class, () -> AtomicFiles.readString(dir.resolve("nope")));
        assertEquals(ErrorCode.NOT_FOUND, missing.code());
        Path bad = dir.resolve("bad.md");
        Files.write(bad, new byte[] {'o', 'k', (byte) 0xC3, 0x28});
        DeiaException invalid = assertThrows(DeiaException.class, () -> AtomicFiles.readString(bad));
        assertEquals(ErrorCode.UNPROCESSABLE, invalid.code());
        assertTrue(invalid.getMessage().contains(bad.toString()) && invalid.getMessage().contains("offset 2"), invalid.getMessage());
        Path withBom = dir.resolve("bom.md");
        Files.write(withBom, new byte[] {(byte) 0xEF, (byte) 0xBB, (byte) 0xBF, 'h', 'i'});
        assertEquals("hi", AtomicFiles.readString(withBom));
        assertArrayEquals(new byte[] {(byte) 0xEF, (byte) 0xBB, (byte) 0xBF, 'h', 'i'}, Files.readAllBytes(withBom));
    }
}
