package io.deia.core.registry;

import io.deia.core.DeiaException;
import io.deia.core.HiveGuard;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.BooleanSupplier;

/**
 * Mutual exclusion for the registry's read-modify-write, across threads AND processes.
 *
 * <p>Two layers, because an OS file lock alone is not enough: a {@link FileLock} belongs to the
 * whole JVM, so a second {@code lock()} on the same file from another thread of the same JVM throws
 * {@link java.nio.channels.OverlappingFileLockException} instead of waiting; and on POSIX closing
 * ANY channel of a file drops every lock the process holds on it. So threads first queue on the
 * in-JVM lock, and only the holder opens a channel, takes the OS lock, and closes the channel again.
 * That works only if every thread of the JVM that locks this file uses the same instance: its one
 * owner is the file's {@link RegistryCommitter}, of which there is one per file and JVM.
 */
final class RegistryLock {
    private final Path lockFile;
    private final ReentrantLock jvmLock = new ReentrantLock();
    private volatile boolean fileMade;

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
        makeFile();
        jvmLock.lock();
        if (alreadyDone.getAsBoolean()) {
            jvmLock.unlock();
            return null;
        }
        try (FileChannel ch = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                java.nio.file.LinkOption.NOFOLLOW_LINKS);
             FileLock ignored = ch.lock()) {
            return action.run();
        } catch (IOException e) {
            throw DeiaException.io("cannot update registry under lock", lockFile, e);
        } finally {
            jvmLock.unlock();
        }
    }

    /** Creates the lock file 0600 (in a 0700 folder) before its first use. */
    private void makeFile() {
        if (fileMade) {
            return;
        }
        try {
            Files.createDirectories(lockFile.getParent(), HiveGuard.folderAttributes());
            if (!Files.exists(lockFile, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                try {
                    Files.createFile(lockFile, HiveGuard.fileAttributes());
                } catch (java.nio.file.FileAlreadyExistsException raced) {
                    // another process created it first: fine, it is only a lock target
                }
            }
        } catch (IOException e) {
            throw DeiaException.io("cannot create registry lock file", lockFile, e);
        }
        fileMade = true;
    }
}
