package io.deia.core.registry;

import io.deia.core.DeiaException;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.BooleanSupplier;

/**
 * Mutual exclusion for the registry's read-modify-write, across threads AND processes.
 *
 * <p>Two layers, because an OS file lock alone is not enough: a {@link FileLock} belongs to the
 * whole JVM, so a second {@code lock()} on the same file from another thread of the same JVM throws
 * {@link java.nio.channels.OverlappingFileLockException} instead of waiting; and on POSIX closing
 * ANY channel of a file drops every lock the process holds on it. So threads first queue on one
 * in-JVM lock per lock file (shared by all registry instances of this JVM), and only the holder
 * opens a channel, takes the OS lock, and closes the channel again.
 */
final class RegistryLock {
    /** One in-JVM lock per lock file, keyed by its real path so two spellings of a path share one. */
    private static final ConcurrentHashMap<Path, ReentrantLock> IN_JVM = new ConcurrentHashMap<>();

    private final Path lockFile;
    private volatile ReentrantLock jvmLock;

    RegistryLock(Path lockFile) {
        this.lockFile = lockFile;
    }

    /** Work done while holding the lock; may throw I/O errors. */
    @FunctionalInterface
    interface LockedAction<T> {
        T run() throws IOException;
    }

    /** Runs {@code action} while this thread holds both the in-JVM lock and the OS file lock. */
    <T> T withLock(LockedAction<T> action) {
        return withLockUnless(() -> false, action);
    }

    /**
     * Like {@link #withLock}, except that once this thread has the in-JVM lock it first asks
     * {@code alreadyDone}: when that is true (another thread of this JVM did the work meanwhile) it
     * returns null without taking the OS lock, so a thread whose update was committed by another
     * one does not queue behind other processes for nothing.
     */
    <T> T withLockUnless(BooleanSupplier alreadyDone, LockedAction<T> action) {
        return withLockUnless(alreadyDone, NO_HANDOVER, action);
    }

    /** Where work left for the lock holder stands (see {@link Handover}). */
    enum Left {
        /** The holder did it; nothing more to do. */
        DONE,
        /** Nobody will do it: take the lock and do it. */
        TAKE_LOCK,
        /** Not known yet: keep waiting. */
        WAITING
    }

    /** What a thread does when it finds the OS lock held by another process (see {@link #withLockUnless}). */
    interface Handover {
        /** Leaves this thread's work for the holder; false when there is nothing it could leave. */
        boolean leave();

        /** Where the work left stands. */
        Left check();

        /** Blocks until something may have changed (a holder finished), at most briefly. */
        void await();
    }

    private static final Handover NO_HANDOVER = new Handover() {
        @Override
        public boolean leave() {
            return false;
        }

        @Override
        public Left check() {
            return Left.TAKE_LOCK;
        }

        @Override
        public void await() {
            // never called: nothing was left
        }
    };

    /**
     * Like {@link #withLockUnless(BooleanSupplier, LockedAction)}, with a hand-over: when the OS
     * lock is held by another process and {@link Handover#leave()} left the work for the holder,
     * this thread does not queue for the lock. It waits ({@link Handover#await()}) until
     * {@link Handover#check()} reports the work done, and then returns null without having taken
     * the OS lock; or until the lock is free or nobody will do the work, and then runs
     * {@code action} under the lock as usual.
     */
    <T> T withLockUnless(BooleanSupplier alreadyDone, Handover handover, LockedAction<T> action) {
        ReentrantLock local = jvmLock();
        local.lock();
        if (alreadyDone.getAsBoolean()) {
            local.unlock();
            return null;
        }
        try (FileChannel ch = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
             FileLock held = acquire(ch, handover)) {
            if (held == null) {
                return null;
            }
            return action.run();
        } catch (IOException e) {
            throw DeiaException.io("cannot update registry under lock", lockFile, e);
        } finally {
            local.unlock();
        }
    }

    /** The OS lock, or null when the holder did the work left with {@code handover}. */
    private static FileLock acquire(FileChannel ch, Handover handover) throws IOException {
        FileLock lock = ch.tryLock();
        if (lock != null) {
            return lock;
        }
        if (!handover.leave()) {
            return ch.lock();
        }
        while (true) {
            Left left = handover.check();
            if (left == Left.DONE) {
                return null;
            }
            if (left == Left.TAKE_LOCK) {
                return ch.lock();
            }
            lock = ch.tryLock();
            if (lock != null) {
                return lock;
            }
            handover.await();
        }
    }

    /**
     * Runs {@code action} under both locks only when both are free right now; false (nothing ran)
     * when they were not.
     */
    boolean tryWithLock(LockedAction<?> action) {
        ReentrantLock local = jvmLock();
        if (!local.tryLock()) {
            return false;
        }
        try (FileChannel ch = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
             FileLock held = ch.tryLock()) {
            if (held == null) {
                return false;
            }
            action.run();
            return true;
        } catch (IOException e) {
            throw DeiaException.io("cannot update registry under lock", lockFile, e);
        } finally {
            local.unlock();
        }
    }

    private ReentrantLock jvmLock() {
        ReentrantLock l = jvmLock;
        if (l == null) {
            try {
                Files.createDirectories(lockFile.getParent());
                if (!Files.exists(lockFile)) {
                    try {
                        Files.createFile(lockFile);
                    } catch (java.nio.file.FileAlreadyExistsException raced) {
                        // another process created it first: fine, it is only a lock target
                    }
                }
                l = IN_JVM.computeIfAbsent(lockFile.toRealPath(), p -> new ReentrantLock());
            } catch (IOException e) {
                throw DeiaException.io("cannot create registry lock file", lockFile, e);
            }
            jvmLock = l;
        }
        return l;
    }
}
