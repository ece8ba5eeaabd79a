package io.deia.core.project;

import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;
import io.deia.core.testkit.ReviewRepo;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static io.deia.core.testkit.ReviewRepo.git;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link ProjectReview#merge} on real repositories: the user's checkout is never put at risk. */
class ProjectReviewMergeTest {
    @TempDir
    Path dir;

    @Test
    void baseThatDidNotMoveIsFastForwardedAndTheUsersCleanCheckoutGetsTheFile() throws Exception {
        ReviewRepo r = ReviewRepo.create(dir);
        String tip = r.taskText("BOT-1", "T-1", Map.of("feature.txt", "new feature\n"));

        ProjectReview.Merged m = new ProjectReview(r.hive(), r.config()).merge("BOT-1", "T-1");

        assertEquals(new ProjectReview.Merged(true, "main", tip, true, false), m);
        assertEquals(tip, r.main());
        assertEquals("new feature\n", Files.readString(r.repo().resolve("feature.txt")));
        assertEquals("", r.status(), "the user's checkout is clean and up to date");
    }

    @Test
    void baseThatMovedGetsAMergeCommitWithBothParentsAndTheUsersTreeBothFiles() throws Exception {
        ReviewRepo r = ReviewRepo.create(dir);
        String tip = r.taskText("BOT-1", "T-1", Map.of("feature.txt", "f\n"));
        String userTip = r.userCommit(Map.of("user.txt", "u\n"));

        ProjectReview.Merged m = new ProjectReview(r.hive(), r.config()).merge("BOT-1", "T-1");

        assertFalse(m.fastForward());
        assertEquals(m.commit(), r.main());
        assertEquals(userTip + " " + tip, git(r.repo(), "log", "-1", "--format=%P", m.commit()).strip());
        assertEquals("Merge deia/BOT-1/T-1 into main", git(r.repo(), "log", "-1", "--format=%s", m.commit()).strip());
        assertEquals("f\n", Files.readString(r.repo().resolve("feature.txt")));
        assertEquals("u\n", Files.readString(r.repo().resolve("user.txt")));
        assertEquals("", r.status());

        // Merging again finds the work on main already and moves nothing.
        ProjectReview.Merged again = new ProjectReview(r.hive(), r.config()).merge("BOT-1", "T-1");
        assertTrue(again.alreadyMerged());
        assertEquals(m.commit(), r.main());
    }

    @Test
    void aConflictIsRefusedWithItsFilesAndChangesNothing() throws Exception {
        ReviewRepo r = ReviewRepo.create(dir);
        r.taskText("BOT-1", "T-1", Map.of("README.md", "bot's readme\n", "other file.txt", "o\n", "clean.txt", "c\n"));
        String userTip = r.userCommit(Map.of("README.md", "user's readme\n", "other file.txt", "x\n"));

        FileConflictException e = assertThrows(FileConflictException.class,
                () -> new ProjectReview(r.hive(), r.config()).merge("BOT-1", "T-1"));

        assertEquals(ErrorCode.CONFLICT, e.code());
        assertEquals(List.of("README.md", "other file.txt"), e.files().stream().sorted().toList());
        assertEquals(Map.of("files", e.files()), e.details());
        assertEquals(userTip, r.main(), "base unchanged");
        assertEquals("user's readme\n", Files.readString(r.repo().resolve("README.md")));
        assertFalse(Files.exists(r.repo().resolve("clean.txt")));
        assertEquals("", r.status(), "the user's tree unchanged");
    }

    @Test
    void aDirtyCheckoutOfBaseRefusesTheMergeAndKeepsTheEdits() throws Exception {
        ReviewRepo r = ReviewRepo.create(dir);
        r.taskText("BOT-1", "T-1", Map.of("feature.txt", "f\n"));
        String before = r.main();
        ReviewRepo.write(r.repo().resolve("README.md"), "my unsaved work\n");
        ReviewRepo.write(r.repo().resolve("staged.txt"), "staged\n");
        git(r.repo(), "add", "staged.txt");

        FileConflictException e = assertThrows(FileConflictException.class,
                () -> new ProjectReview(r.hive(), r.config()).merge("BOT-1", "T-1"));

        assertEquals(List.of("README.md", "staged.txt"), e.files().stream().sorted().toList());
        assertTrue(e.getMessage().contains("uncommitted"), e.getMessage());
        assertEquals(before, r.main());
        assertEquals("my unsaved work\n", Files.readString(r.repo().resolve("README.md")));
        assertFalse(Files.exists(r.repo().resolve("feature.txt")));
        assertEquals(" M README.md\nA  staged.txt\n", r.status());
    }

    @Test
    void anUntrackedFileWhereTheMergeAddsOneRefusesIt() throws Exception {
        ReviewRepo r = ReviewRepo.create(dir);
        r.taskText("BOT-1", "T-1", Map.of("notes.txt", "bot notes\n", "dir/inner.txt", "i\n"));
        String before = r.main();
        ReviewRepo.write(r.repo().resolve("notes.txt"), "my own notes, never committed\n");
        ReviewRepo.write(r.repo().resolve("dir"), "a file where the merge needs a folder\n");

        FileConflictException e = assertThrows(FileConflictException.class,
                () -> new ProjectReview(r.hive(), r.config()).merge("BOT-1", "T-1"));

        assertEquals(List.of("dir/inner.txt", "notes.txt"), e.files().stream().sorted().toList());
        assertEquals(before, r.main());
        assertEquals("my own notes, never committed\n", Files.readString(r.repo().resolve("notes.txt")));
    }

    @Test
    void baseBeingRebasedInTheUsersTreeIsNotMoved() {
        ReviewRepo r = ReviewRepo.create(dir);
        r.taskText("BOT-1", "T-1", Map.of("feature.txt", "f\n"));
        git(r.repo(), "switch", "--quiet", "-c", "upstream");
        r.userCommit(Map.of("README.md", "upstream\n"));
        git(r.repo(), "switch", "--quiet", "main");
        String mine = r.userCommit(Map.of("README.md", "mine\n"));
        // The rebase stops on the conflict: main is detached until the user finishes it.
        assertFalse(ReviewRepo.tryGit(r.repo(), "rebase", "upstream").exit() == 0);

        DeiaException e = assertThrows(DeiaException.class, () -> new ProjectReview(r.hive(), r.config()).merge("BOT-1", "T-1"));

        assertEquals(ErrorCode.CONFLICT, e.code());
        assertTrue(e.getMessage().contains("rebased"), e.getMessage());
        assertEquals(mine, r.main());
    }

    @Test
    void baseNotCheckedOutAnywhereMovesOnlyTheRefAndLeavesTheUsersBranchAlone() throws Exception {
        ReviewRepo r = ReviewRepo.create(dir);
        String tip = r.taskText("BOT-1", "T-1", Map.of("feature.txt", "f\n"));
        git(r.repo(), "switch", "--quiet", "-c", "my-work");
        ReviewRepo.write(r.repo().resolve("README.md"), "dirty on my branch\n");
        String myHead = r.head();

        ProjectReview.Merged m = new ProjectReview(r.hive(), r.config()).merge("BOT-1", "T-1");

        assertTrue(m.fastForward());
        assertEquals(tip, r.main());
        assertEquals(myHead, r.head());
        assertEquals("my-work", git(r.repo(), "branch", "--show-current").strip());
        assertEquals("dirty on my branch\n", Files.readString(r.repo().resolve("README.md")));
        assertFalse(Files.exists(r.repo().resolve("feature.txt")));
    }

    @Test
    void aBareRepositoryIsMergedByRefUpdatesAlone() {
        ReviewRepo r = ReviewRepo.createBare(dir);
        String tip1 = r.taskText("BOT-1", "T-1", Map.of("one.txt", "1\n"));
        String tip2 = r.taskText("BOT-1", "T-2", Map.of("two.txt", "2\n"));
        ProjectReview review = new ProjectReview(r.hive(), r.config());

        ProjectReview.Merged first = review.merge("BOT-1", "T-1");
        assertTrue(first.fastForward());
        assertEquals(tip1, r.main());

        ProjectReview.Merged second = review.merge("BOT-1", "T-2");
        assertFalse(second.fastForward());
        assertEquals(second.commit(), r.main());
        assertEquals(tip1 + " " + tip2, git(r.repo(), "log", "-1", "--format=%P", second.commit()).strip());
        assertEquals("1\n", r.show("main", "one.txt"));
        assertEquals("2\n", r.show("main", "two.txt"));
    }

    @Test
    void mergesOfManyTasksAtOnceEachLandAndNoneIsLost() throws Exception {
        ReviewRepo r = ReviewRepo.create(dir);
        int n = 6;
        for (int i = 0; i < n; i++) {
            r.taskText("BOT-" + (i % 2), "T-" + i, Map.of("file" + i + ".txt", i + "\n"));
        }
        ProjectReview review = new ProjectReview(r.hive(), r.config());
        var pool = Executors.newFixedThreadPool(n);
        try {
            List<Future<ProjectReview.Merged>> merges = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                String bot = "BOT-" + (i % 2);
                String task = "T-" + i;
                merges.add(pool.submit(() -> review.merge(bot, task)));
            }
            for (var m : merges) {
                assertTrue(m.get(60, TimeUnit.SECONDS).merged());
            }
        } finally {
            pool.shutdownNow();
        }
        for (int i = 0; i < n; i++) {
            assertEquals(i + "\n", r.show("main", "file" + i + ".txt"), "file" + i);
            assertEquals(i + "\n", Files.readString(r.repo().resolve("file" + i + ".txt")));
        }
        assertEquals("", r.status());
        assertEquals("", git(r.repo(), "fsck", "--no-progress", "--no-dangling"));
    }

    @Test
    void aMissingBranchIsNotFoundAndADiscardedOneSaysSo() {
        ReviewRepo r = ReviewRepo.create(dir);
        r.taskText("BOT-1", "T-1", Map.of("a.txt", "a\n"));
        r.taskText("BOT-1", "T-2", Map.of("b.txt", "b\n"));
        ProjectReview review = new ProjectReview(r.hive(), r.config());
        review.discard("BOT-1", "T-1");

        DeiaException e = assertThrows(DeiaException.class, () -> review.merge("BOT-1", "T-1"));
        assertEquals(ErrorCode.NOT_FOUND, e.code());
        assertTrue(e.getMessage().contains("discarded"), e.getMessage());
    }

    @Test
    void aMergeCommitIsMadeEvenWhereGitHasNoIdentityForTheUser() {
        ReviewRepo r = ReviewRepo.createBare(dir);
        r.taskText("BOT-1", "T-1", Map.of("one.txt", "1\n"));
        r.taskText("BOT-1", "T-2", Map.of("two.txt", "2\n"));
        ProjectReview review = new ProjectReview(r.hive(), r.config());
        review.merge("BOT-1", "T-1");
        git(r.repo(), "config", "user.useConfigOnly", "true");
        git(r.repo(), "config", "--unset", "user.email");
        git(r.repo(), "config", "user.name", "");

        ProjectReview.Merged m = review.merge("BOT-1", "T-2");

        assertFalse(m.fastForward());
        assertEquals("deia", git(r.repo(), "log", "-1", "--format=%an", m.commit()).strip());
    }
}
