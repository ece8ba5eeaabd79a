package io.deia.core.project;

import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;
import io.deia.core.HiveLayout;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static io.deia.core.project.TestRepos.git;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BotWorktreeTest {
    @TempDir
    Path tmp;

    private Path repo;
    private HiveLayout hive;

    private Project project(List<String> copyFiles, Path worktreeRoot) {
        return new Project("shop", repo, "main", copyFiles, worktreeRoot);
    }

    private BotWorktree newBot(String botId) throws IOException {
        repo = TestRepos.init(tmp.resolve("repo"));
        hive = new HiveLayout(tmp.resolve(".deia"));
        return BotWorktree.of(hive, project(null, null), botId);
    }

    private static String head(Path dir) {
        return git(dir, "rev-parse", "HEAD").strip();
    }

    private String mainTip() {
        return git(repo, "rev-parse", "refs/heads/main").strip();
    }

    @Test
    void ensureCreatesTheWorktreeOnTheChatBranchFromBase() throws Exception {
        BotWorktree wt = newBot("BOT-1");
        assertFalse(Files.exists(wt.dir()));
        wt.ensure();
        assertEquals(hive.root().resolve("worktrees/shop/BOT-1"), wt.dir());
        assertEquals("deia/BOT-1/chat", wt.currentBranch());
        assertEquals(mainTip(), head(wt.dir()));
        assertEquals("hello\n", Files.readString(wt.dir().resolve("README.md")));
        BotWorktree.Binding b = BotWorktree.binding(hive, "BOT-1").orElseThrow();
        assertEquals(new BotWorktree.Binding("shop", wt.dir().toString(), "deia/BOT-1/chat"), b);
        // the user's checkout is where it was, and clean
        assertEquals("main", git(repo, "branch", "--show-current").strip());
        assertEquals("", git(repo, "status", "--porcelain"));
        assertEquals(repo.resolve(".git").toRealPath(), wt.commonDir().toRealPath());
        wt.ensure();
        assertEquals("deia/BOT-1/chat", wt.currentBranch());
        assertTrue(BotWorktree.binding(hive, "BOT-2").isEmpty());
    }

    @Test
    void ensureOnAMissingBaseIs422AndCreatesNothing() throws Exception {
        newBot("BOT-1");
        BotWorktree wt = BotWorktree.of(hive, new Project("shop", repo, "release", null, null), "BOT-1");
        DeiaException e = assertThrows(DeiaException.class, wt::ensure);
        assertEquals(ErrorCode.UNPROCESSABLE, e.code());
        assertFalse(Files.exists(wt.dir().resolve(".git")));
        assertNotEquals(0, TestRepos.tryGit(repo, "show-ref", "--verify", "refs/heads/deia/BOT-1/chat").exit());
    }

    @Test
    void aFolderInTheWayOfTheWorktreeIs422AndStaysAsItWas() throws Exception {
        BotWorktree wt = newBot("BOT-1");
        Files.createDirectories(wt.dir());
        Files.writeString(wt.dir().resolve("notes.txt"), "someone's file\n");
        DeiaException e = assertThrows(DeiaException.class, wt::ensure);
        assertEquals(ErrorCode.UNPROCESSABLE, e.code());
        assertTrue(e.getMessage().contains("worktree"), e.getMessage());
        assertEquals("someone's file\n", Files.readString(wt.dir().resolve("notes.txt")));
        assertEquals(List.of(repo.toRealPath().toString()), git(repo, "worktree", "list", "--porcelain").lines()
                .filter(l -> l.startsWith("worktree ")).map(l -> l.substring(9)).toList());
    }

    @Test
    void aTaskStartAfterBaseWasDeletedIs422NamingBase() throws Exception {
        BotWorktree wt = newBot("BOT-1");
        wt.ensure();
        git(repo, "switch", "-q", "-c", "other");
        git(repo, "branch", "-D", "main");
        DeiaException e = assertThrows(DeiaException.class, () -> wt.startTask("T1"));
        assertEquals(ErrorCode.UNPROCESSABLE, e.code());
        assertTrue(e.getMessage().contains("base branch 'main' no longer exists"), e.getMessage());
        assertEquals("deia/BOT-1/chat", wt.currentBranch());
        assertEquals(Optional.empty(), wt.changeOf("T1"));
    }

    @Test
    void anInvalidBotIdIsRefused() throws Exception {
        newBot("BOT-1");
        DeiaException e = assertThrows(DeiaException.class, () -> BotWorktree.of(hive, project(null, null), "../x"));
        assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
    }

    @Test
    void aTaskIdThatCannotNameABranchIsRefusedBeforeGitSeesIt() throws Exception {
        BotWorktree wt = newBot("BOT-1");
        wt.ensure();
        for (String bad : List.of("../x", "a/b", "a..b", "fix.lock", "v1.", "", "-x")) {
            DeiaException e = assertThrows(DeiaException.class, () -> wt.startTask(bad), bad);
            assertEquals(ErrorCode.INVALID_ARGUMENT, e.code(), bad);
            assertTrue(e.getMessage().contains("task id"), e.getMessage());
        }
        assertThrows(DeiaException.class, () -> BotWorktree.taskBranch("BOT-1", null));
        assertEquals("deia/BOT-1/release-1.2_x", wt.startTask("release-1.2_x"));
        assertEquals("deia/BOT-1/chat", git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/deia/").lines()
                .filter(b -> !b.endsWith("release-1.2_x")).findFirst().orElseThrow());
    }

    @Test
    void copyFilesBringsTheIgnoredFilesAgentsNeedAndLeavesTrackedOnesAlone() throws Exception {
        repo = TestRepos.init(tmp.resolve("repo"));
        hive = new HiveLayout(tmp.resolve(".deia"));
        TestRepos.commitFile(repo, ".gitignore", ".env\nconfig/local.*\n!config/local.defaults\n");
        TestRepos.commitFile(repo, "config/local.defaults", "committed\n");
        Files.writeString(repo.resolve("config/local.defaults"), "the user's unsaved edit\n");
        Files.writeString(repo.resolve(".env"), "SECRET=1\n");
        Files.writeString(repo.resolve("config/local.json"), "{}\n");
        Files.writeString(repo.resolve("config/local.yml"), "a: 1\n");
        Files.writeString(repo.resolve("config/other.json"), "not asked for\n");
        Files.createDirectories(repo.resolve("sub"));
        Files.writeString(repo.resolve("sub/.env"), "nested\n");
        BotWorktree wt = BotWorktree.of(hive, project(List.of(".env", "config/local.*", "absent/*.txt"), null), "BOT-1");
        wt.ensure();
        Path d = wt.dir();
        assertEquals("SECRET=1\n", Files.readString(d.resolve(".env")));
        assertEquals("{}\n", Files.readString(d.resolve("config/local.json")));
        assertEquals("a: 1\n", Files.readString(d.resolve("config/local.yml")));
        assertEquals("committed\n", Files.readString(d.resolve("config/local.defaults")));
        assertFalse(Files.exists(d.resolve("config/other.json")));
        assertFalse(Files.exists(d.resolve("sub/.env")));
        assertEquals(Optional.empty(), wt.commitTurn("chat: nothing"), "ignored copies must not become a commit");
        assertEquals(" M config/local.defaults\n?? config/other.json\n", git(repo, "status", "--porcelain"));
        // a later ensure of an existing worktree does not copy again over the agent's edit
        Files.writeString(d.resolve(".env"), "SECRET=2\n");
        wt.ensure();
        assertEquals("SECRET=2\n", Files.readString(d.resolve(".env")));
    }

    @Test
    void copyFilesSkipsFilesGitDoesNotIgnoreSoNoTurnCommitsThem() throws Exception {
        repo = TestRepos.init(tmp.resolve("repo"));
        hive = new HiveLayout(tmp.resolve(".deia"));
        TestRepos.commitFile(repo, ".gitignore", "*.local\n");
        Files.writeString(repo.resolve(".env"), "SECRET=not ignored\n");
        Files.createDirectories(repo.resolve("a/b/c"));
        Files.writeString(repo.resolve("a/b/c/deep.local"), "deep\n");
        Files.writeString(repo.resolve("a/top.local"), "top\n");
        Files.writeString(repo.resolve("a/b/skip.txt"), "no\n");
        BotWorktree wt = BotWorktree.of(hive, project(List.of(".env", "a/**/*.local", "a/*.local"), null), "BOT-1");
        wt.ensure();
        assertFalse(Files.exists(wt.dir().resolve(".env")), "a file git would commit was copied");
        assertEquals("deep\n", Files.readString(wt.dir().resolve("a/b/c/deep.local")));
        assertEquals("top\n", Files.readString(wt.dir().resolve("a/top.local")));
        assertFalse(Files.exists(wt.dir().resolve("a/b/skip.txt")));
        assertEquals(Optional.empty(), wt.commitTurn("chat: nothing"));
    }

    @Test
    void aHiveInsideTheRepositoryIsExcludedOnceAndTheUsersStatusStaysClean() throws Exception {
        repo = TestRepos.init(tmp.resolve("repo"));
        hive = new HiveLayout(repo.resolve(".deia"));
        BotWorktree one = BotWorktree.of(hive, project(null, null), "BOT-1");
        BotWorktree two = BotWorktree.of(hive, project(null, null), "BOT-2");
        one.ensure();
        two.ensure();
        Files.writeString(one.dir().resolve("new.txt"), "x\n");
        assertTrue(one.commitTurn("chat: x").isPresent());
        Path exclude = repo.resolve(".git/info/exclude");
        List<String> lines = Files.readAllLines(exclude);
        assertEquals(1, lines.stream().filter("/.deia/"::equals).count(), lines.toString());
        assertEquals("", git(repo, "status", "--porcelain", "--untracked-files=all"));
        // the worktree itself lists only its own change, not the hive around it
        assertEquals("", git(one.dir(), "status", "--porcelain", "--untracked-files=all"));
    }

    @Test
    void aWorktreeRootInsideTheRepositoryIsExcludedToo() throws Exception {
        repo = TestRepos.init(tmp.resolve("repo"));
        hive = new HiveLayout(tmp.resolve(".deia"));
        Files.writeString(repo.resolve(".git/info/exclude"), "# user's line without newline");
        BotWorktree wt = BotWorktree.of(hive, project(null, repo.resolve("build/wt")), "BOT-1");
        wt.ensure();
        assertEquals(repo.resolve("build/wt/shop/BOT-1"), wt.dir());
        assertEquals(List.of("# user's line without newline", "/build/wt/shop/"), Files.readAllLines(repo.resolve(".git/info/exclude")));
        assertEquals("", git(repo, "status", "--porcelain", "--untracked-files=all"));
    }

    @Test
    void aWorktreeRootOutsideTheHiveIsUsedAndNothingIsExcluded() throws Exception {
        repo = TestRepos.init(tmp.resolve("repo"));
        hive = new HiveLayout(tmp.resolve(".deia"));
        String excludeBefore = Files.readString(repo.resolve(".git/info/exclude"));
        Path root = tmp.resolve("elsewhere");
        BotWorktree wt = BotWorktree.of(hive, project(null, root), "BOT-1");
        wt.ensure();
        assertEquals(root.resolve("shop/BOT-1"), wt.dir());
        assertEquals("deia/BOT-1/chat", wt.currentBranch());
        assertFalse(Files.exists(hive.root().resolve("worktrees")));
        assertEquals(excludeBefore, Files.readString(repo.resolve(".git/info/exclude")));
        assertEquals(wt.dir().toString(), BotWorktree.binding(hive, "BOT-1").orElseThrow().worktree());
    }

    @Test
    void aWorktreeDeletedByHandComesBackOnItsBranch() throws Exception {
        BotWorktree wt = newBot("BOT-1");
        wt.ensure();
        wt.startTask("T1");
        Files.writeString(wt.dir().resolve("work.txt"), "done\n");
        String commit = wt.commitTurn("work (T1)").orElseThrow();
        deleteTree(wt.dir());
        wt.ensure();
        assertEquals("deia/BOT-1/T1", wt.currentBranch());
        assertEquals(commit, head(wt.dir()));
        assertEquals("done\n", Files.readString(wt.dir().resolve("work.txt")));
        // a fresh runner (no memory of the task) finds it from the binding as well
        deleteTree(wt.dir());
        BotWorktree restarted = BotWorktree.of(hive, project(null, null), "BOT-1");
        restarted.ensure();
        assertEquals("deia/BOT-1/T1", restarted.currentBranch());
    }

    @Test
    void aWorktreeDeletedByHandWhoseBranchIsGoneComesBackOnTheChatBranch() throws Exception {
        BotWorktree wt = newBot("BOT-1");
        wt.ensure();
        wt.startTask("T1");
        deleteTree(wt.dir());
        git(repo, "worktree", "prune");
        git(repo, "branch", "-D", "deia/BOT-1/T1");
        wt.ensure();
        assertEquals("deia/BOT-1/chat", wt.currentBranch());
    }

    @Test
    void aTaskStartsFromTheTipOfBaseAndARetryReturnsToItsBranch() throws Exception {
        BotWorktree wt = newBot("BOT-1");
        wt.ensure();
        String moved = TestRepos.commitFile(repo, "later.txt", "the user went on\n");
        assertEquals("deia/BOT-1/T1", wt.startTask("T1"));
        assertEquals("deia/BOT-1/T1", wt.currentBranch());
        assertEquals(moved, head(wt.dir()));
        Files.writeString(wt.dir().resolve("a.txt"), "first try\n");
        String first = wt.commitTurn("a (T1)").orElseThrow();

        assertEquals("deia/BOT-1/T2", wt.startTask("T2"));
        assertEquals(moved, head(wt.dir()));
        assertFalse(Files.exists(wt.dir().resolve("a.txt")), "T2 sees T1's work");
        Files.writeString(wt.dir().resolve("left.txt"), "a killed turn left this\n");

        assertEquals("deia/BOT-1/T1", wt.startTask("T1"));
        assertEquals(first, head(wt.dir()));
        assertEquals("first try\n", Files.readString(wt.dir().resolve("a.txt")));
        assertFalse(Files.exists(wt.dir().resolve("left.txt")));
        // what was left uncommitted went to T2's branch, not lost and not onto T1
        assertEquals("left.txt\n", git(repo, "show", "--name-only", "--format=", "deia/BOT-1/T2"));
        assertEquals("deia: changes left by an interrupted turn\n", git(repo, "log", "-1", "--format=%s", "deia/BOT-1/T2"));
        assertEquals(moved, wt.changeOf("T1").orElseThrow().baseCommit());
        assertEquals("deia/BOT-1/T1", BotWorktree.binding(hive, "BOT-1").orElseThrow().branch());
    }

    @Test
    void aTaskCalledChatGetsItsOwnBranch() throws Exception {
        BotWorktree wt = newBot("BOT-1");
        wt.ensure();
        assertEquals("deia/BOT-1/chat-task", BotWorktree.taskBranch("BOT-1", "chat"));
        assertEquals("deia/BOT-1/chat", BotWorktree.chatBranch("BOT-1"));
        assertEquals("deia/BOT-1/chat-task", wt.startTask("chat"));
        assertEquals("deia/BOT-1/chat-task", wt.currentBranch());
        assertEquals("deia/BOT-1/chat-task", wt.changeOf("chat").orElseThrow().branch());
    }

    @Test
    void commitTurnCommitsEverythingAsTheBotAndNothingWhenNothingChanged() throws Exception {
        BotWorktree wt = newBot("BOT-1");
        wt.ensure();
        wt.startTask("T1");
        String before = head(wt.dir());
        assertEquals(Optional.empty(), wt.commitTurn("nothing (T1)"));
        assertEquals(before, head(wt.dir()));

        byte[] binary = new byte[4096];
        new Random(7).nextBytes(binary);
        binary[0] = 0;
        Files.createDirectories(wt.dir().resolve("dossier"));
        Files.writeString(wt.dir().resolve("dossier/résumé final.txt"), "ligne\n");
        Files.write(wt.dir().resolve("logo.png"), binary);
        Files.writeString(wt.dir().resolve("README.md"), "hello\nworld\n");
        String commit = wt.commitTurn("Write the résumé\n\nmore words (T1)").orElseThrow();
        assertEquals(commit, head(wt.dir()));
        assertEquals("deia BOT-1 <BOT-1@deia.invalid>|deia BOT-1 <BOT-1@deia.invalid>|Write the résumé",
                git(repo, "log", "-1", "--format=%an <%ae>|%cn <%ce>|%s", commit).strip());
        assertEquals(List.of("README.md", "dossier/résumé final.txt", "logo.png"),
                git(repo, "show", "--name-only", "--format=", commit).lines().sorted().toList());
        assertArrayEquals(binary, TestRepos.gitBytes(repo, "cat-file", "blob", commit + ":logo.png"));
        assertEquals("", git(wt.dir(), "status", "--porcelain"));

        TaskChange change = wt.changeOf("T1").orElseThrow();
        assertEquals(new TaskChange("shop", "deia/BOT-1/T1", before, commit, 3, 2, 0), change);
    }

    @Test
    void theUsersStatusSettingsDoNotHideNewFilesFromTheCommit() throws Exception {
        BotWorktree wt = newBot("BOT-1");
        git(repo, "config", "status.showUntrackedFiles", "no");
        wt.ensure();
        wt.startTask("T1");
        Files.createDirectories(wt.dir().resolve("new/dir"));
        Files.writeString(wt.dir().resolve("new/dir/file.txt"), "new\n");
        String commit = wt.commitTurn("new (T1)").orElseThrow();
        assertEquals("new/dir/file.txt\n", git(repo, "show", "--name-only", "--format=", commit));
    }

    @Test
    void changeOfCountsFilesAndLinesAgainstTheBase() throws Exception {
        BotWorktree wt = newBot("BOT-1");
        TestRepos.commitFile(repo, "gone.txt", "1\n2\n3\n");
        TestRepos.commitFile(repo, "edit.txt", "a\nb\n");
        String base = mainTip();
        wt.ensure();
        assertEquals(Optional.empty(), wt.changeOf("T1"), "a task that never started has no change");
        wt.startTask("T1");
        assertEquals(new TaskChange("shop", "deia/BOT-1/T1", base, null, 0, 0, 0), wt.changeOf("T1").orElseThrow());
        Files.delete(wt.dir().resolve("gone.txt"));
        Files.writeString(wt.dir().resolve("edit.txt"), "a\nB\nc\n");
        Files.writeString(wt.dir().resolve("new.txt"), "x\ny\n");
        wt.commitTurn("first (T1)");
        Files.writeString(wt.dir().resolve("new.txt"), "x\ny\nz\n");
        String tip = wt.commitTurn("chat: more").orElseThrow();
        // 3 files; + B, c, x, y, z; - 1, 2, 3, b
        assertEquals(new TaskChange("shop", "deia/BOT-1/T1", base, tip, 3, 5, 4), wt.changeOf("T1").orElseThrow());
        String stat = git(repo, "diff", "--shortstat", base, tip).strip();
        assertEquals("3 files changed, 5 insertions(+), 4 deletions(-)", stat);
    }

    @Test
    void whenBaseMovesDuringATaskTheBaseCommitIsTheTipItStartedFrom() throws Exception {
        BotWorktree wt = newBot("BOT-1");
        wt.ensure();
        String start = mainTip();
        wt.startTask("T1");
        String moved = TestRepos.commitFile(repo, "user.txt", "meanwhile\n");
        Files.writeString(wt.dir().resolve("bot.txt"), "bot\n");
        String tip = wt.commitTurn("bot (T1)").orElseThrow();
        TaskChange change = wt.changeOf("T1").orElseThrow();
        assertEquals(start, change.baseCommit());
        assertNotEquals(moved, change.baseCommit());
        assertEquals(new TaskChange("shop", "deia/BOT-1/T1", start, tip, 1, 1, 0), change);
        // a restarted runner, which never saw the task start, finds the same base
        BotWorktree restarted = BotWorktree.of(hive, project(null, null), "BOT-1");
        assertEquals(change, restarted.changeOf("T1").orElseThrow());
    }

    @Test
    void aGitKilledMidOperationLeavesALockThatEnsureRemoves() throws Exception {
        BotWorktree wt = newBot("BOT-1");
        wt.ensure();
        wt.startTask("T1");
        Path gitDir = Path.of(git(wt.dir(), "rev-parse", "--path-format=absolute", "--git-dir").strip());
        Path indexLock = gitDir.resolve("index.lock");
        // Enough data that hashing it keeps git add busy (holding index.lock) for a while.
        Random random = new Random(1);
        byte[] chunk = new byte[1 << 20];
        for (int f = 0; f < 4; f++) {
            try (var out = Files.newOutputStream(wt.dir().resolve("big-" + f + ".bin"))) {
                for (int i = 0; i < 24; i++) {
                    random.nextBytes(chunk);
                    out.write(chunk);
                }
            }
        }
        Process add = new ProcessBuilder("git", "add", "-A").directory(wt.dir().toFile())
                .redirectErrorStream(true).redirectOutput(tmp.resolve("add.log").toFile()).start();
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!Files.exists(indexLock) && add.isAlive()) {
            assertTrue(System.nanoTime() < end, "git add never took the index lock");
            Thread.onSpinWait();
        }
        assertTrue(add.isAlive(), "git add ended before it could be killed; make the files bigger");
        add.destroyForcibly(); // SIGKILL: git cannot clean up
        assertTrue(add.waitFor(30, TimeUnit.SECONDS));
        assertTrue(Files.exists(indexLock), "the killed git left no lock");
        assertNotEquals(0, TestRepos.tryGit(wt.dir(), "add", "-A").exit(), "git still works despite the lock");

        for (int f = 0; f < 4; f++) {
            Files.delete(wt.dir().resolve("big-" + f + ".bin"));
        }
        Files.writeString(wt.dir().resolve("after.txt"), "recovered\n");
        BotWorktree restarted = BotWorktree.of(hive, project(null, null), "BOT-1");
        restarted.ensure();
        assertFalse(Files.exists(indexLock));
        String commit = restarted.commitTurn("after (T1)").orElseThrow();
        assertEquals("after.txt\n", git(repo, "show", "--name-only", "--format=", commit));
        TestRepos.Run fsck = TestRepos.tryGit(repo, "fsck", "--full", "--strict");
        assertEquals(0, fsck.exit(), fsck.err());
        assertFalse(fsck.err().contains("error"), fsck.err());
    }

    @Test
    void locksLeftOnTheBotsRefsAndHeadAreRemovedToo() throws Exception {
        BotWorktree wt = newBot("BOT-1");
        wt.ensure();
        wt.startTask("T1");
        Path gitDir = Path.of(git(wt.dir(), "rev-parse", "--path-format=absolute", "--git-dir").strip());
        // as git creates them: an empty file beside the ref or HEAD it was about to rewrite
        Path refLock = repo.resolve(".git/refs/heads/deia/BOT-1/T1.lock");
        Files.createFile(refLock);
        Files.createFile(gitDir.resolve("HEAD.lock"));
        Path otherBots = Files.createDirectories(repo.resolve(".git/refs/heads/deia/BOT-2")).resolve("T9.lock");
        Files.createFile(otherBots);
        Files.writeString(wt.dir().resolve("x.txt"), "x\n");
        assertNotEquals(0, TestRepos.tryGit(wt.dir(), "switch", "-q", "-c", "deia/BOT-1/other").exit(), "git ignores HEAD.lock");
        wt.ensure();
        assertFalse(Files.exists(refLock));
        assertFalse(Files.exists(gitDir.resolve("HEAD.lock")));
        assertTrue(Files.exists(otherBots), "another bot's lock is not this bot's to remove");
        assertTrue(wt.commitTurn("x (T1)").isPresent());
    }

    @Test
    void twoBotsCommittingAtOnceEachCommitOnlyTheirOwnFiles() throws Exception {
        repo = TestRepos.init(tmp.resolve("repo"));
        hive = new HiveLayout(tmp.resolve(".deia"));
        List<BotWorktree> bots = List.of(BotWorktree.of(hive, project(null, null), "BOT-A"),
                BotWorktree.of(hive, project(null, null), "BOT-B"));
        int rounds = 20;
        List<Throwable> failures = java.util.Collections.synchronizedList(new ArrayList<>());
        List<Thread> threads = new ArrayList<>();
        java.util.concurrent.CyclicBarrier together = new java.util.concurrent.CyclicBarrier(bots.size());
        for (BotWorktree wt : bots) {
            Thread t = new Thread(() -> {
                try (GitLock turn = wt.lockTurn()) {
                    wt.ensure();
                    for (int i = 0; i < rounds; i++) {
                        together.await(30, TimeUnit.SECONDS);
                        String task = "T" + i;
                        wt.startTask(task);
                        Files.writeString(wt.dir().resolve(wt.dir().getFileName() + "-" + i + ".txt"), "round " + i + "\n");
                        wt.commitTurn("round " + i + " (" + task + ")").orElseThrow();
                    }
                } catch (Throwable e) {
                    failures.add(e);
                    together.reset();
                }
            });
            threads.add(t);
            t.start();
        }
        for (Thread t : threads) {
            t.join(120_000);
            assertFalse(t.isAlive());
        }
        assertEquals(List.of(), failures);
        for (BotWorktree wt : bots) {
            String botId = wt.dir().getFileName().toString();
            for (int i = 0; i < rounds; i++) {
                String branch = "deia/" + botId + "/T" + i;
                assertEquals(botId + "-" + i + ".txt\n", git(repo, "show", "--name-only", "--format=", branch), branch);
                assertEquals(mainTip(), git(repo, "rev-parse", branch + "^").strip());
                assertEquals("deia " + botId, git(repo, "log", "-1", "--format=%an", branch).strip());
            }
        }
        assertEquals(2 * rounds + 2, git(repo, "for-each-ref", "refs/heads/deia/").lines().count());
        assertEquals(0, TestRepos.tryGit(repo, "fsck", "--full").exit());
    }

    @Test
    void aBareRepositoryWorksLikeAnyOther() throws Exception {
        Path source = TestRepos.init(tmp.resolve("source"));
        repo = tmp.resolve("shop.git");
        git(tmp, "clone", "--quiet", "--bare", source.toString(), repo.toString());
        hive = new HiveLayout(tmp.resolve(".deia"));
        Project bare = new Project("shop", repo, "main", List.of(".env"), null);
        bare.verify();
        BotWorktree wt = BotWorktree.of(hive, bare, "BOT-1");
        wt.ensure();
        assertEquals("deia/BOT-1/chat", wt.currentBranch());
        assertEquals("hello\n", Files.readString(wt.dir().resolve("README.md")));
        wt.startTask("T1");
        Files.writeString(wt.dir().resolve("feature.txt"), "f\n");
        String commit = wt.commitTurn("feature (T1)").orElseThrow();
        assertEquals(commit, git(repo, "rev-parse", "refs/heads/deia/BOT-1/T1").strip());
        assertEquals(new TaskChange("shop", "deia/BOT-1/T1", mainTip(), commit, 1, 1, 0), wt.changeOf("T1").orElseThrow());
        assertEquals(repo.toRealPath(), wt.commonDir().toRealPath());
    }

    private static void deleteTree(Path dir) throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
        assertFalse(Files.exists(dir, LinkOption.NOFOLLOW_LINKS));
    }
}
