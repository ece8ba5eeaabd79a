package io.deia.core.schedule;

import io.deia.core.internal.HiveGuard;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A file of the slots folder this JVM holds an exclusive lock on (a turn slot or a waiting-line
 * entry). The kernel drops the lock when the process dies, which is what makes a slot a lease a
 * kill -9 cannot leak.
 *
 * <p>Why a JVM-wide table of held files: file locks belong to the process, so two bots sharing one
 * JVM (tests, embedders) cannot tell each other's locks apart through the kernel, and closing any
 * channel on a file releases every lock the process holds on it. So this JVM never opens a file it
 * holds: {@link #isHeldHere} is asked first, and everything that opens slot files runs under the
 * line lock ({@link SlotFiles#underLineLock}), one thread of the JVM at a time.
 */
final class HeldFile implements AutoCloseable {
    /** How long {@link #lock} with {@code wait} tries, in milliseconds. */
    static final int PROBE_WAIT_MS = 200;
    private static final Map<Path, HeldFile> HELD = new ConcurrentHashMap<>();

    private final Path file;
    private final FileChannel channel;
    private final FileLock lock;
    /** What the holder wrote into the file (kept here: this JVM never reads a file it holds). */
    private final String content;

    private HeldFile(Path file, FileChannel channel, FileLock lock, String content) {
        this.file = file;
        this.channel = channel;
        this.lock = lock;
        this.content = content;
    }

    private static Path key(Path file) {
        return file.toAbsolutePath().normalize();
    }

    /** True when a thread of this JVM holds the file. */
    static boolean isHeldHere(Path file) {
        return HELD.containsKey(key(file));
    }

    /** The content written by this JVM's holder of the file, or null when this JVM does not hold it. */
    static String contentHere(Path file) {
        HeldFile h = HELD.get(key(file));
        return h == null ? null : h.content;
    }

    /**
     * Locks the file (created when missing) and writes {@code content} into it, or returns null when
     * another process (or thread of this JVM) holds it. With {@code wait} it tries again for up to
     * {@value #PROBE_WAIT_MS} ms, for a lock another process holds for a moment (a probe).
     */
    static HeldFile lock(Path file, String content, boolean wait) throws IOException {
        Path key = key(file);
        if (HELD.containsKey(key)) {
            return null;
        }
        FileChannel channel = FileChannel.open(key, Set.of(StandardOpenOption.CREATE, StandardOpenOption.WRITE),
                HiveGuard.fileAttributes());
        FileLock lock;
        try {
            lock = channel.tryLock();
            // A probe (another process telling whether the file is live) holds it for microseconds.
            for (int i = 0; lock == null && wait && i < PROBE_WAIT_MS; i++) {
                Thread.sleep(1);
                lock = channel.tryLock();
            }
        } catch (InterruptedException e) {
            channel.close();
            Thread.currentThread().interrupt();
            throw new java.nio.channels.ClosedByInterruptException();
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        }
        if (lock == null) {
            channel.close();
            return null;
        }
        HeldFile held = new HeldFile(key, channel, lock, content);
        HELD.put(key, held);
        try {
            byte[] bytes = content.getBytes(StandardCharsets.UTF_8);
            channel.truncate(0);
            channel.write(ByteBuffer.wrap(bytes), 0);
        } catch (IOException e) {
            held.close();
            throw e;
        }
        return held;
    }

    /**
     * True when some process holds the file; false when it is free or gone. A free file is locked
     * for a moment to tell, so only callers under the line lock probe.
     */
    static boolean isLocked(Path file) throws IOException {
        if (isHeldHere(file)) {
            return true;
        }
        try (FileChannel channel = FileChannel.open(key(file), StandardOpenOption.WRITE)) {
            FileLock lock = channel.tryLock();
            if (lock == null) {
                return true;
            }
            lock.release();
            return false;
        } catch (NoSuchFileException e) {
            return false;
        } catch (OverlappingFileLockException e) {
            return true;
        }
    }

    /**
     * Deletes the file when no process holds it (its holder died); true when it was deleted. Only
     * under the line lock, so no waiter can be re-creating it at the same time.
     */
    static boolean deleteIfAbandoned(Path file) throws IOException {
        if (isHeldHere(file)) {
            return false;
        }
        try (FileChannel channel = FileChannel.open(key(file), StandardOpenOption.WRITE)) {
            FileLock lock = channel.tryLock();
            if (lock == null) {
                return false;
            }
            try {
                java.nio.file.Files.deleteIfExists(file);
            } finally {
                lock.release();
            }
            return true;
        } catch (NoSuchFileException e) {
            return false;
        } catch (OverlappingFileLockException e) {
            return false;
        }
    }

    Path file() {
        return file;
    }

    /**
     * Releases the lock; with {@code delete} the file is removed first (while still held, so nobody
     * takes a deleted file for an abandoned one), else it is emptied (its holder is gone).
     */
    void release(boolean delete) {
        try {
            if (delete) {
                java.nio.file.Files.deleteIfExists(file);
            } else if (channel.isOpen()) {
                channel.truncate(0);
            }
        } catch (IOException e) {
            // The lock below is what matters; a stale holder line in a free slot file is only cosmetic.
        } finally {
            close();
        }
    }

    /** Releases the lock and closes the file, keeping its content. */
    @Override
    public void close() {
        try {
            if (lock.isValid()) {
                lock.release();
            }
        } catch (IOException e) {
            // Closing the channel below releases it as well.
        }
        try {
            channel.close();
        } catch (IOException e) {
            // Nothing left to do: the process no longer uses the file.
        } finally {
            HELD.remove(file, this);
        }
    }
}
