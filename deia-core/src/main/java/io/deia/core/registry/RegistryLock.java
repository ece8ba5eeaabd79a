package io.deia.core.registry;

import io.deia.core.DeiaException;
import io.deia.core.HiveGuard;

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
        ReentrantLock local = jvmLock();
        local.lock();
        if (alreadyDone.getAsBoolean()) {
            local.unlock();
            return null;
        }
        try (FileChannel ch = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                java.nio.file.LinkOption.NOFOLLOW_LINKS);
             FileLock ignored = ch.lock()) {
            return action.run();
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
                Files.createDirectories(lockFile.getParent(), HiveGuard.folderAttributes());
                if (!Files.exists(lockFile, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                    try {
                        Files.createFile(lockFile, HiveGuard.fileAttributes());
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
