package io.deia.core.task;

import io.deia.core.io.GroupCommit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The background commit of claim batches: success, a failing fsync, and commits after close. */
class ClaimCommitsTest {

    @Test
    void aBatchIsCommittedInTheBackgroundAndReportedDurable(@TempDir Path dir) throws Exception {
        Path inbox = Files.createDirectories(dir.resolve("inbox"));
        Path claimed = Files.createDirectories(dir.resolve("claimed"));
        Files.writeString(inbox.resolve("a.md"), "a");
        Files.writeString(inbox.resolve("b.md"), "b");
        GroupCommit batch = new GroupCommit();
        batch.move(inbox.resolve("a.md"), claimed.resolve("t1~a.md"));
        batch.move(inbox.resolve("b.md"), claimed.resolve("t2~b.md"));
        try (ClaimCommits commits = new ClaimCommits("BOT-001")) {
            CompletableFuture<Void> durable = commits.commit(batch);
            durable.get(30, TimeUnit.SECONDS);
            assertTrue(durable.isDone() && !durable.isCompletedExceptionally());
        }
        assertFalse(batch.hasPending(), "the commit synced every folder of the batch");
        assertTrue(Files.isRegularFile(claimed.resolve("t1~a.md")));
        assertTrue(Files.isRegularFile(claimed.resolve("t2~b.md")));
    }

    @Test
    void aFailingFsyncFailsTheBatchSoNoneOfItIsTakenAsDurable(@TempDir Path dir) throws Exception {
        Path inbox = Files.createDirectories(dir.resolve("inbox"));
        Path claimed = Files.createDirectories(dir.resolve("claimed"));
        Files.writeString(inbox.resolve("a.md"), "a");
        GroupCommit batch = new GroupCommit();
        batch.move(inbox.resolve("a.md"), claimed.resolve("t1~a.md"));
        // The inbox is gone before its fsync: the commit cannot make the rename durable.
        Files.delete(inbox);
        try (ClaimCommits commits = new ClaimCommits("BOT-001")) {
            CompletableFuture<Void> durable = commits.commit(batch);
            CompletionException e = assertThrows(CompletionException.class, durable::join);
            assertInstanceOf(NoSuchFileException.class, e.getCause());
        }
    }

    @Test
    void afterCloseABatchIsCommittedOnTheCallingThread(@TempDir Path dir) throws Exception {
        Path inbox = Files.createDirectories(dir.resolve("inbox"));
        Path claimed = Files.createDirectories(dir.resolve("claimed"));
        Files.writeString(inbox.resolve("a.md"), "a");
        ClaimCommits commits = new ClaimCommits("BOT-001");
        commits.close();
        GroupCommit batch = new GroupCommit();
        batch.move(inbox.resolve("a.md"), claimed.resolve("t1~a.md"));
        CompletableFuture<Void> durable = commits.commit(batch);
        assertTrue(durable.isDone(), "no thread left to wait for");
        durable.join();
        assertFalse(batch.hasPending());
        Path gone = Files.createDirectories(dir.resolve("gone"));
        GroupCommit failing = new GroupCommit();
        Files.writeString(inbox.resolve("b.md"), "b");
        failing.move(inbox.resolve("b.md"), gone.resolve("t2~b.md"));
        Files.delete(gone.resolve("t2~b.md"));
        Files.delete(gone);
        CompletableFuture<Void> failed = commits.commit(failing);
        assertTrue(failed.isCompletedExceptionally());
        assertInstanceOf(IOException.class, assertThrows(CompletionException.class, failed::join).getCause());
    }
}
