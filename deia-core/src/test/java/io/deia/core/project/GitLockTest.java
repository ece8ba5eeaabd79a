package io.deia.core.project;

import io.deia.core.HiveLayout;
import io.deia.core.testing.ChildJvm;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GitLockTest {
    @TempDir
    Path tmp;

    private HiveLayout hive() {
        return new HiveLayout(tmp.resolve(".deia"));
    }

    /** Waits until {@code t} is blocked (parked on the lock), failing after 10 s. */
    private static void awaitBlocked(Thread t) throws InterruptedException {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (t.getState() != Thread.State.WAITING && t.getState() != Thread.State.TIMED_WAITING) {
            assertTrue(System.nanoTime() < end, "the other thread never waited; state " + t.getState());
            assertTrue(t.isAlive(), "the other thread ended instead of waiting");
            Thread.onSpinWait();
        }
    }

    @Test
    void aRepositoryLockExcludesOtherThreadsUntilReleased() throws Exception {
        HiveLayout hive = hive();
        Path common = Files.createDirectories(tmp.resolve("repo/.git"));
        AtomicBoolean inside = new AtomicBoolean();
        CountDownLatch got = new CountDownLatch(1);
        Thread other;
        try (GitLock held = GitLock.repository(hive, common)) {
            inside.set(true);
            other = new Thread(() -> {
                try (GitLock second = GitLock.repository(hive, common)) {
                    assertFalse(inside.get(), "two holders at once");
                    got.countDown();
                }
            });
            other.start();
            awaitBlocked(other);
            assertEquals(1, got.getCount());
            inside.set(false);
        }
        assertTrue(got.await(10, TimeUnit.SECONDS), "the waiting thread never got the lock");
        other.join(10_000);
        assertTrue(Files.isRegularFile(GitLock.repositoryLockFile(hive, common)));
    }

    @Test
    void aRepositoryIsNamedByItsRealFolder() throws Exception {
        HiveLayout hive = hive();
        Path common = Files.createDirectories(tmp.resolve("repo/.git"));
        Files.createDirectories(tmp.resolve("repo/src"));
        Path link = Files.createSymbolicLink(tmp.resolve("link"), tmp.resolve("repo"));
        Path lock = GitLock.repositoryLockFile(hive, common);
        assertEquals(lock, GitLock.repositoryLockFile(hive, tmp.resolve("repo/src/../.git")));
        assertEquals(lock, GitLock.repositoryLockFile(hive, link.resolve(".git")));
        assertNotEquals(lock, GitLock.repositoryLockFile(hive, Files.createDirectories(tmp.resolve("other/.git"))));
        assertEquals(hive.hiveDir().resolve("locks"), lock.getParent());
    }

    @Test
    void theLockIsReentrantForItsThread() throws Exception {
        HiveLayout hive = hive();
        try (GitLock outer = GitLock.worktree(hive, "BOT-1")) {
            try (GitLock inner = GitLock.worktree(hive, "BOT-1")) {
                assertTrue(busyForAnotherThread(hive, "BOT-1"));
            }
            assertTrue(busyForAnotherThread(hive, "BOT-1"), "closing the inner hold released the lock");
            Optional<GitLock> again = GitLock.tryWorktree(hive, "BOT-1");
            assertTrue(again.isPresent(), "the holding thread is refused its own lock");
            again.get().close();
        }
        assertFalse(busyForAnotherThread(hive, "BOT-1"));
    }

    @Test
    void tryWorktreeIsEmptyWhileATurnHoldsTheLock() throws Exception {
        HiveLayout hive = hive();
        assertFalse(busyForAnotherThread(hive, "BOT-1"));
        try (GitLock turn = GitLock.worktree(hive, "BOT-1")) {
            assertTrue(busyForAnotherThread(hive, "BOT-1"));
            assertFalse(busyForAnotherThread(hive, "BOT-2"), "one bot's turn locked another bot");
        }
        assertFalse(busyForAnotherThread(hive, "BOT-1"));
        assertTrue(Files.isRegularFile(hive.botDir("BOT-1").resolve("worktree.lock")));
    }

    /** Asks from a fresh thread whether bot {@code botId}'s worktree lock is taken. */
    private static boolean busyForAnotherThread(HiveLayout hive, String botId) throws InterruptedException {
        AtomicBoolean busy = new AtomicBoolean();
        Thread t = new Thread(() -> {
            Optional<GitLock> lock = GitLock.tryWorktree(hive, botId);
            busy.set(lock.isEmpty());
            lock.ifPresent(GitLock::close);
        });
        t.start();
        t.join(10_000);
        assertFalse(t.isAlive());
        return busy.get();
    }

    @Test
    void anotherProcessHoldingTheLockMakesItBusyUntilItLetsGo() throws Exception {
        HiveLayout hive = hive();
        Path ready = tmp.resolve("ready");
        Path release = tmp.resolve("release");
        Process child = ChildJvm.start(GitLockHolder.class, tmp.resolve("holder.log"), hive.root().toString(), "BOT-1",
                ready.toString(), release.toString());
        try {
            awaitFile(ready, child);
            assertTrue(GitLock.tryWorktree(hive, "BOT-1").isEmpty(), "the lock is held by the other process");
            assertTrue(GitLock.tryWorktree(hive, "BOT-1").isEmpty());
            Files.writeString(release, "go");
            assertTrue(child.waitFor(30, TimeUnit.SECONDS));
            assertEquals(0, child.exitValue());
            Optional<GitLock> free = GitLock.tryWorktree(hive, "BOT-1");
            assertTrue(free.isPresent());
            free.get().close();
        } finally {
            child.destroyForcibly();
        }
    }

    @Test
    void aKilledHolderLeavesTheLockFree() throws Exception {
        HiveLayout hive = hive();
        Path ready = tmp.resolve("ready");
        Process child = ChildJvm.start(GitLockHolder.class, tmp.resolve("holder.log"), hive.root().toString(), "BOT-1",
                ready.toString(), tmp.resolve("never").toString());
        try {
            awaitFile(ready, child);
            assertTrue(GitLock.tryWorktree(hive, "BOT-1").isEmpty());
            // a waiting taker is let in when the holder dies
            CountDownLatch got = new CountDownLatch(1);
            Thread waiter = new Thread(() -> {
                try (GitLock l = GitLock.worktree(hive, "BOT-1")) {
                    got.countDown();
                }
            });
            waiter.start();
            child.destroyForcibly();
            assertTrue(got.await(30, TimeUnit.SECONDS), "the lock of a killed process was never freed");
            waiter.join(10_000);
        } finally {
            child.destroyForcibly();
        }
    }

    private static void awaitFile(Path file, Process child) throws InterruptedException {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!Files.exists(file)) {
            assertTrue(child.isAlive(), "the lock holder ended early");
            assertTrue(System.nanoTime() < end, "the lock holder never took the lock");
            Thread.sleep(10);
        }
    }
}
