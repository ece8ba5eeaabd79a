package io.deia.core.io;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GroupCommitTest {
    @Test
    void writesAndRenamesShareOneCommitAndLeaveNoTempFiles(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("out");
        Path done = dir.resolve("done");
        Files.createDirectories(done);
        GroupCommit batch = new GroupCommit();
        assertFalse(batch.hasPending());
        for (int i = 0; i < 5; i++) {
            assertTrue(batch.writeNew(out.resolve("r" + i), ("response " + i).getBytes(StandardCharsets.UTF_8)));
        }
        assertFalse(batch.writeNew(out.resolve("r2"), "again".getBytes(StandardCharsets.UTF_8)), "written once, never replaced");
        assertEquals("response 2", AtomicFiles.readString(out.resolve("r2")));
        assertTrue(batch.hasPending());
        batch.commit();
        assertFalse(batch.hasPending());
        for (int i = 0; i < 5; i++) {
            batch.move(out.resolve("r" + i), done.resolve("r" + i));
        }
        assertThrows(NoSuchFileException.class, () -> batch.move(out.resolve("r0"), done.resolve("again")));
        batch.commit();
        try (Stream<Path> s = Files.walk(dir)) {
            assertEquals(0, s.filter(AtomicFiles::isTempFile).count());
        }
        try (Stream<Path> s = Files.list(done)) {
            assertEquals(5, s.count());
        }
    }

    @Test
    void aFailingWriteNamesTheFileAndACommitOfAVanishedFolderFails(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("file"), "not a folder");
        GroupCommit batch = new GroupCommit();
        io.deia.core.DeiaException e = assertThrows(io.deia.core.DeiaException.class,
                () -> batch.writeNew(dir.resolve("file").resolve("x"), new byte[] {1}));
        assertTrue(e.getMessage().contains("x"), e.getMessage());
        Path gone = dir.resolve("gone");
        batch.writeNew(gone.resolve("y"), new byte[] {2});
        Files.delete(gone.resolve("y"));
        Files.delete(gone);
        assertThrows(NoSuchFileException.class, batch::commit);
        assertTrue(batch.hasPending(), "a failed commit keeps its folders pending");
    }
}
