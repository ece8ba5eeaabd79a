package io.deia.core.registry;

import io.deia.core.DeiaException;
import io.deia.core.internal.HiveGuard;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Set;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Supplier;

/**
 * Mutual exclusion for the registry's read-modify-write, across threads AND processes: an OS file
 * lock on the hive's {@code registry.lock}, taken by one thread of this JVM at a time.
 *
 * <p>Why the in-JVM lock: a {@link FileLock} belongs to the whole JVM, so a second {@code lock()}
 * of the same file from another thread of this JVM throws
 * {@link java.nio.channels.OverlappingFileLockException} instead of waiting, and on POSIX closing
 * ANY channel of a file drops every lock the process holds on it. So threads first queue on
 * {@link #IN_JVM}, and only its holder opens a channel, takes the OS lock and closes the channel
 * again. It is the registry's only JVM-wide state, and one lock for every hive is enough: a change
 * holds it for a few milliseconds, so two hives in one JVM (tests, embedders) barely wait on each
 * other, and no map of registry files, with its two spellings of one folder, is needed.
 */
final class RegistryLock {
    private static final ReentrantLock IN_JVM = new ReentrantLock();
    private static final Set<OpenOption> OPEN =
            Set.of(StandardOpenOption.CREATE, StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS);

    private RegistryLock() {
    }

    /**
     * Runs {@code action} while this thread holds the in-JVM lock and the OS lock of
     * {@code lockFile}, which is created private (0600, in a 0700 folder) when missing.
     *
     * @throws DeiaException naming the lock file when it cannot be opened or locked (read-only or full disk)
     */
    static <T> T withLock(Path lockFile, Supplier<T> action) {
        IN_JVM.lock();
        try (FileChannel ch = open(lockFile); FileLock ignored = ch.lock()) {
            return action.get();
        } catch (IOException e) {
            throw DeiaException.io("cannot update registry under lock", lockFile, e);
        } finally {
            IN_JVM.unlock();
        }
    }

    private static FileChannel open(Path lockFile) throws IOException {
        try {
            return FileChannel.open(lockFile, OPEN, HiveGuard.fileAttributes());
        } catch (NoSuchFileException e) {
            Files.createDirectories(lockFile.getParent(), HiveGuard.folderAttributes());
            return FileChannel.open(lockFile, OPEN, HiveGuard.fileAttributes());
        }
    }
}
