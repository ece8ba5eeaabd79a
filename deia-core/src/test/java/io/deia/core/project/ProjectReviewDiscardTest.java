package io.deia.core.project;

import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;
import io.deia.core.testkit.GitRepos;
import io.deia.core.testkit.ReviewRepo;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static io.deia.core.testkit.ReviewRepo.git;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link ProjectReview#discard}, {@link ProjectReview#restore} and {@link ProjectReview#removeWorktree}. */
class ProjectReviewDiscardTest {
    @TempDir
    Path dir;

    /** Holds the bot's worktree lock on another thread, as a running turn does, until closed. */
    private static AutoCloseable turnRunning(BotWorktree wt) throws InterruptedException {
        CountDownLatch held = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        Thread turn = new Thread(() -> {
            try (GitLock ignored = wt.lockTurn()) {
                held.countDown();
                release.await(30, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        turn.start();
        assertTrue(held.await(10, TimeUnit.SECONDS));
        return () -> {
            release.countDown();
            turn.join(10_000);
        };
    }

    private static String ref(ReviewRepo r, String ref) {
        GitRepos.Run res = GitRepos.tryGit(r.repo(), "rev-parse", "--verify", "--quiet", ref);
        return res.exit() == 0 ? res.out().strip() : null;
    }

    @Test
    void discardingTheBranchTheWorktreeIsOnMovesItToTheChatBranchAtBaseAndKeepsTheTip() throws Exception {
        ReviewRepo r = ReviewRepo.create(dir);
        String tip = r.taskText("BOT-1", "T-1", Map.of("feature.txt", "f\n"));
        String userTip = r.userCommit(Map.of("user.txt", "u\n"));
        BotWorktree wt = r.worktree("BOT-1");
        assertEquals("deia/BOT-1/T-1", wt.currentBranch());

        ProjectReview.Discarded d = new ProjectReview(r.hive(), r.config()).discard("BOT-1", "T-1");

        assertEquals(new ProjectReview.Discarded(true, "deia/BOT-1/T-1", "refs/deia/discarded/BOT-1/T-1", tip), d);
        assertNull(ref(r, "refs/heads/deia/BOT-1/T-1"));
        assertEquals(tip, ref(r, "refs/deia/discarded/BOT-1/T-1"));
        assertEquals("deia/BOT-1/chat", wt.currentBranch());
        assertEquals(userTip, git(wt.dir(), "rev-parse", "HEAD").strip(), "reset to base's tip");
        assertFalse(Files.exists(wt.dir().resolve("feature.txt")));
        assertTrue(Files.exists(wt.dir().resolve("user.txt")));
        assertEquals("", git(wt.dir(), "status", "--porcelain"));
        // The reflog says when it was discarded.
        assertTrue(git(r.repo(), "reflog", "show", "refs/deia/discarded/BOT-1/T-1").contains("deia: discarded deia/BOT-1/T-1"));
    }

    @Test
    void restoreBringsTheBranchBackAtItsTipOnceAndRefusesWhenTheBranchExistsAgain() {
        ReviewRepo r = ReviewRepo.create(dir);
        String tip = r.taskText("BOT-1", "T-1", Map.of("feature.txt", "f\n"));
        ProjectReview review = new ProjectReview(r.hive(), r.config());
        review.discard("BOT-1", "T-1");

        assertEquals(new ProjectReview.Restored(true, "deia/BOT-1/T-1", tip), review.restore("BOT-1", "T-1"));
        assertEquals(tip, ref(r, "refs/heads/deia/BOT-1/T-1"));
        assertNull(ref(r, "refs/deia/discarded/BOT-1/T-1"));
        assertEquals(1, review.diff("BOT-1", "T-1").files().size());
        assertEquals(ErrorCode.NOT_FOUND, assertThrows(DeiaException.class, () -> review.restore("BOT-1", "T-1")).code());

        review.discard("BOT-1", "T-1");
        git(r.repo(), "branch", "deia/BOT-1/T-1", "main");
        DeiaException e = assertThrows(DeiaException.class, () -> review.restore("BOT-1", "T-1"));
        assertEquals(ErrorCode.CONFLICT, e.code());
        assertEquals(tip, ref(r, "refs/deia/discarded/BOT-1/T-1"), "the kept tip stays kept");
        assertEquals(r.main(), ref(r, "refs/heads/deia/BOT-1/T-1"));
    }

    @Test
    void discardWhileATurnHoldsTheWorktreeIsRefusedAndChangesNothing() throws Exception {
        ReviewRepo r = ReviewRepo.create(dir);
        String tip = r.taskText("BOT-1", "T-1", Map.of("feature.txt", "f\n"));
        BotWorktree wt = r.worktree("BOT-1");
        try (AutoCloseable ignored = turnRunning(wt)) {
            DeiaException e = assertThrows(DeiaException.class,
                    () -> new ProjectReview(r.hive(), r.config()).discard("BOT-1", "T-1"));
            assertEquals(ErrorCode.CONFLICT, e.code());
            assertTrue(e.getMessage().contains("running a turn"), e.getMessage());
        }
        assertEquals(tip, ref(r, "refs/heads/deia/BOT-1/T-1"));
        assertNull(ref(r, "refs/deia/discarded/BOT-1/T-1"));
        assertEquals("deia/BOT-1/T-1", wt.currentBranch());

        // The turn is over: the same discard goes through.
        new ProjectReview(r.hive(), r.config()).discard("BOT-1", "T-1");
        assertEquals("deia/BOT-1/chat", wt.currentBranch());
    }

    @Test
    void discardingAnOlderTaskLeavesTheWorktreeWhereItIsAndNeedsNoTurnLock() throws Exception {
        ReviewRepo r = ReviewRepo.create(dir);
        r.taskText("BOT-1", "T-1", Map.of("one.txt", "1\n"));
        String tip2 = r.taskText("BOT-1", "T-2", Map.of("two.txt", "2\n"));
        BotWorktree wt = r.worktree("BOT-1");

        try (AutoCloseable ignored = turnRunning(wt)) {
            new ProjectReview(r.hive(), r.config()).discard("BOT-1", "T-1");
        }

        assertEquals("deia/BOT-1/T-2", wt.currentBranch());
        assertEquals(tip2, git(wt.dir(), "rev-parse", "HEAD").strip());
        assertNull(ref(r, "refs/heads/deia/BOT-1/T-1"));
    }

    @Test
    void uncommittedLeftoversOfAKilledTurnAreKeptWithTheDiscardedTip() {
        ReviewRepo r = ReviewRepo.create(dir);
        r.taskText("BOT-1", "T-1", Map.of("feature.txt", "f\n"));
        BotWorktree wt = r.worktree("BOT-1");
        ReviewRepo.write(wt.dir().resolve("leftover.txt"), "written by a turn that was killed\n");

        ProjectReview.Discarded d = new ProjectReview(r.hive(), r.config()).discard("BOT-1", "T-1");

        assertEquals("written by a turn that was killed\n", r.show(d.commit(), "leftover.txt"));
        assertFalse(Files.exists(wt.dir().resolve("leftover.txt")));
    }

    @Test
    void chatCommitsNotOnBaseAreKeptBeforeTheChatBranchIsReset() {
        ReviewRepo r = ReviewRepo.create(dir);
        BotWorktree wt = r.worktree("BOT-1");
        try (GitLock ignored = wt.lockTurn()) {
            wt.ensure();
            ReviewRepo.write(wt.dir().resolve("chat.txt"), "from a chat turn\n");
            wt.commitTurn("chat: write chat.txt");
        }
        String chatTip = ref(r, "refs/heads/deia/BOT-1/chat");
        r.taskText("BOT-1", "T-1", Map.of("feature.txt", "f\n"));

        new ProjectReview(r.hive(), r.config()).discard("BOT-1", "T-1");

        assertEquals(chatTip, ref(r, "refs/deia/discarded/BOT-1/chat"));
        assertEquals(r.main(), ref(r, "refs/heads/deia/BOT-1/chat"));
    }

    @Test
    void keptTipsOlderThanThirtyDaysArePrunedOnTheNextDiscard() {
        ReviewRepo r = ReviewRepo.create(dir);
        String old = r.taskText("BOT-1", "T-OLD", Map.of("o.txt", "o\n"));
        r.taskText("BOT-1", "T-1", Map.of("one.txt", "1\n"));
        r.taskText("BOT-1", "T-2", Map.of("two.txt", "2\n"));
        Git.at(r.repo()).withEnv(Map.of("GIT_COMMITTER_DATE", "2001-01-01T00:00:00Z"))
                .run("update-ref", "--create-reflog", "-m", "deia: discarded long ago", "refs/deia/discarded/BOT-1/T-OLD", old);
        git(r.repo(), "branch", "-D", "deia/BOT-1/T-OLD");
        ProjectReview review = new ProjectReview(r.hive(), r.config());

        review.discard("BOT-1", "T-1");

        assertNull(ref(r, "refs/deia/discarded/BOT-1/T-OLD"));
        assertEquals(ErrorCode.NOT_FOUND, assertThrows(DeiaException.class, () -> review.restore("BOT-1", "T-OLD")).code());
        review.discard("BOT-1", "T-2");
        assertTrue(ref(r, "refs/deia/discarded/BOT-1/T-1") != null, "a recent discard is kept");
    }

    @Test
    void aBranchCheckedOutInTheUsersOwnTreeIsNotDiscarded() {
        ReviewRepo r = ReviewRepo.create(dir);
        r.taskText("BOT-1", "T-1", Map.of("one.txt", "1\n"));
        r.taskText("BOT-1", "T-2", Map.of("two.txt", "2\n"));
        git(r.repo(), "switch", "--quiet", "deia/BOT-1/T-1");

        DeiaException e = assertThrows(DeiaException.class,
                () -> new ProjectReview(r.hive(), r.config()).discard("BOT-1", "T-1"));

        assertEquals(ErrorCode.CONFLICT, e.code());
        assertEquals("deia/BOT-1/T-1", git(r.repo(), "branch", "--show-current").strip());
    }

    @Test
    void removeWorktreeCommitsLeftoversRemovesTheFolderKeepsBranchesAndThenSaysNotFound() {
        ReviewRepo r = ReviewRepo.create(dir);
        String tip = r.taskText("BOT-1", "T-1", Map.of("one.txt", "1\n"));
        BotWorktree wt = r.worktree("BOT-1");
        ReviewRepo.write(wt.dir().resolve("leftover.txt"), "l\n");
        ProjectReview review = new ProjectReview(r.hive(), r.config());

        ProjectReview.WorktreeRemoved removed = review.removeWorktree("BOT-1");

        assertEquals(new ProjectReview.WorktreeRemoved(true, "BOT-1", "shop", "deia/BOT-1/T-1"), removed);
        assertFalse(Files.exists(wt.dir()));
        String newTip = ref(r, "refs/heads/deia/BOT-1/T-1");
        assertEquals(tip, git(r.repo(), "rev-parse", newTip + "^").strip());
        assertEquals("l\n", r.show(newTip, "leftover.txt"));
        assertTrue(ref(r, "refs/heads/deia/BOT-1/chat") != null);
        assertFalse(git(r.repo(), "worktree", "list").contains(wt.dir().toString()));
        assertEquals(ErrorCode.NOT_FOUND, assertThrows(DeiaException.class, () -> review.removeWorktree("BOT-1")).code());
        assertEquals(ErrorCode.NOT_FOUND, assertThrows(DeiaException.class, () -> review.removeWorktree("BOT-NONE")).code());
        assertEquals(ErrorCode.INVALID_ARGUMENT, assertThrows(DeiaException.class, () -> review.removeWorktree("../x")).code());

        // The bot's next turn makes its worktree again, on the branch it was on.
        try (GitLock ignored = wt.lockTurn()) {
            wt.ensure();
        }
        assertEquals("deia/BOT-1/T-1", wt.currentBranch());
    }

    @Test
    void aWorktreeDeletedByHandIsPrunedAndItsBranchesKept() throws Exception {
        ReviewRepo r = ReviewRepo.create(dir);
        String tip = r.taskText("BOT-1", "T-1", Map.of("one.txt", "1\n"));
        BotWorktree wt = r.worktree("BOT-1");
        try (var files = Files.walk(wt.dir())) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
        ProjectReview review = new ProjectReview(r.hive(), r.config());

        assertEquals("deia/BOT-1/T-1", review.removeWorktree("BOT-1").branch());

        assertFalse(git(r.repo(), "worktree", "list", "--porcelain").contains(wt.dir().toString()));
        assertEquals(tip, ref(r, "refs/heads/deia/BOT-1/T-1"));
        assertEquals(ErrorCode.NOT_FOUND, assertThrows(DeiaException.class, () -> review.removeWorktree("BOT-1")).code());
    }

    @Test
    void removeWorktreeWhileATurnHoldsItIsRefused() throws Exception {
        ReviewRepo r = ReviewRepo.create(dir);
        r.taskText("BOT-1", "T-1", Map.of("one.txt", "1\n"));
        BotWorktree wt = r.worktree("BOT-1");
        try (AutoCloseable ignored = turnRunning(wt)) {
            assertEquals(ErrorCode.CONFLICT, assertThrows(DeiaException.class,
                    () -> new ProjectReview(r.hive(), r.config()).removeWorktree("BOT-1")).code());
            assertTrue(Files.isDirectory(wt.dir()));
        }
    }
}
