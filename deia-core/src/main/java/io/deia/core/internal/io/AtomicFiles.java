package io.deia.core.internal.io;

import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;
import io.deia.core.internal.HiveGuard;
import io.deia.core.internal.process.ProcessTrees;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.SeekableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileAttribute;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Durable, atomic file operations. Every file deia writes goes through here, so that a reader, or a
 * process that restarts after a crash, sees either the old file whole or the new file whole, never
 * a partial one.
 *
 * <p>A write is: a temp file in the same folder, the bytes, {@code force}, an atomic rename over
 * the target, then an fsync of the folder so the rename itself survives a power cut. The folder
 * fsync is skipped where the OS refuses to open a folder for it (Windows).
 *
 * <p>Files it creates are private (mode 0600, folders 0700: see {@link HiveGuard}), and it never
 * follows a symbolic link at the file it writes or reads: a target that is a link is refused
 * ({@link HiveGuard#plantedLink}) and left as it is, so a link planted in a hive cannot redirect a
 * write to a file outside it.
 */
public final class AtomicFiles {
    /** Temp files start with this, so scans of a folder can tell them apart and skip them. */
    public static final String TEMP_PREFIX = ".deia-tmp-";
    /** In every temp file's name, before the pid and start of the process that made it. */
    private static final String OWNER_MARK = ".pid";
    /**
     * This process as temp file names carry it, {@code .pid<pid>-<start epoch ms>.}: a clean-up
     * removes only temp files of processes that are gone, never a live writer's (a lock is no
     * guarantee: a removed lock file lets a second process in). The start instant tells a reused
     * pid from the process that made the file.
     */
    private static final String OWNER_TAG = OWNER_MARK + ProcessHandle.current().pid() + "-"
            + ProcessHandle.current().info().startInstant().map(java.time.Instant::toEpochMilli).orElse(0L) + ".";

    /** Temp files are created private: the bytes are never visible to others, not even briefly. */
    private static final FileAttribute<?>[] PRIVATE = HiveGuard.fileAttributes();
    private static final boolean DIR_FSYNC_SUPPORTED =
            !System.getProperty("os.name", "").toLowerCase(java.util.Locale.ROOT).startsWith("windows");

    private AtomicFiles() {
    }

    /** Writes {@code text} as UTF-8, atomically and durably. */
    public static void writeString(Path target, String text) {
        write(target, text.getBytes(StandardCharsets.UTF_8));
    }

    /**
     * Replaces {@code target} with {@code data}, atomically and durably; creates missing parent
     * folders. On failure the target is unchanged and no temp file is left behind.
     *
     * @throws DeiaException naming the file when the write fails (disk full, read-only folder, …)
     */
    public static void write(Path target, byte[] data) {
        replace(target, data, true);
    }

    /**
     * Replaces {@code target} with {@code data} atomically but NOT durably: no {@code force}, no
     * folder fsync. Every reader sees the old file whole or the new file whole, exactly as with
     * {@link #write}; only a power cut or kernel crash can undo it, leaving an older version or
     * (on file systems that do not write a renamed file's data before the rename) an empty or
     * missing file. For frequently refreshed files whose content only matters while the processes
     * they describe are running (a crash of the machine ends those too) and whose reader treats an
     * unreadable file as absent: the registry's heartbeat files. Every other file uses {@link #write}.
     *
     * @throws DeiaException naming the file when the write fails
     */
    public static void writeUnsynced(Path target, byte[] data) {
        replace(target, data, false);
    }

    /**
     * True for a temp file whose writer is still running (this process included): it may be
     * committed any moment, so a clean-up of dead writers' temp files must leave it alone. Every
     * temp file this class makes is named {@code .deia-tmp-<target>.pid<pid>-<start ms>.<random>};
     * the process is alive when that pid runs with that start instant (a reused pid is not). A name
     * without them is not one of this class's, so no live writer of it is known.
     */
    public static boolean isTempOfLiveProcess(Path file) {
        String name = file.getFileName() == null ? "" : file.getFileName().toString();
        int at = name.startsWith(TEMP_PREFIX) ? name.lastIndexOf(OWNER_MARK) : -1;
        if (at < 0) {
            return false;
        }
        int from = at + OWNER_MARK.length();
        int end = name.indexOf('.', from);
        if (end <= from) {
            return false;
        }
        String owner = name.substring(from, end);
        int dash = owner.indexOf('-');
        if (dash < 0) {
            return false;
        }
        try {
            long pid = Long.parseLong(owner.substring(0, dash));
            long startMs = Long.parseLong(owner.substring(dash + 1));
            return ProcessTrees.isSameProcessAlive(pid, java.time.Instant.ofEpochMilli(startMs));
        } catch (NumberFormatException e) {
            return false;
        }
    }

    /** A new temp file name for {@code target} in {@code dir}, carrying this process (see {@link #isTempOfLiveProcess}). */
    private static Path tempFor(Path dir, Path target) {
        return dir.resolve(TEMP_PREFIX + target.getFileName() + OWNER_TAG + Long.toHexString(ThreadLocalRandom.current().nextLong()));
    }

    private static void replace(Path target, byte[] data, boolean durable) {
        Path dir = parentOf(target);
        Path temp = tempFor(dir, target);
        try {
            try (FileChannel ch = openNew(temp, Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE), PRIVATE)) {
                ByteBuffer buf = ByteBuffer.wrap(data);
                while (buf.hasRemaining()) {
                    ch.write(buf);
                }
                if (durable) {
                    ch.force(true);
                }
            }
            HiveGuard.requireNoLink(target);
            Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            if (durable) {
                fsyncDirectory(dir);
            }
        } catch (IOException | RuntimeException e) {
            deleteQuietly(temp);
            if (e instanceof DeiaException de) {
                throw de;
            }
            throw DeiaException.io("cannot write", target, e);
        }
    }

    /**
     * Like {@link #writeNew(Path, byte[])} for a secret (an API token): the file is readable and
     * writable by its owner only (mode 0600) from the moment its temp file is created, so the secret
     * is never visible to others, not even briefly. Where the file system has no POSIX permissions
     * the file gets the default ones. (Every file this class writes is created so; the name says
     * what the caller relies on.)
     *
     * @return false when the target already existed (nothing was written)
     * @throws DeiaException when the target is a symbolic link (nothing is written or changed)
     */
    public static boolean writeNewSecret(Path target, byte[] data) {
        return writeNew(target, data);
    }

    /**
     * Creates {@code target} with {@code data} only if it does not exist yet, atomically and durably.
     * Used for files written exactly once (responses): an existing file is never replaced.
     *
     * @return false when the target already existed (nothing was written)
     */
    public static boolean writeNew(Path target, byte[] data) {
        Path dir = parentOf(target);
        Path temp = tempFor(dir, target);
        boolean tempRemoved = false;
        try {
            try (FileChannel ch = openNew(temp, Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE), PRIVATE)) {
                ByteBuffer buf = ByteBuffer.wrap(data);
                while (buf.hasRemaining()) {
                    ch.write(buf);
                }
                ch.force(true);
            }
            // A hard link fails when the target exists, which makes "create if absent" atomic;
            // the temp name is then removed. A crash in between leaves only a temp file, which
            // cleanTempFiles removes.
            try {
                Files.createLink(target, temp);
            } catch (FileAlreadyExistsException e) {
                HiveGuard.requireNoLink(target);
                return false;
            } catch (UnsupportedOperationException e) {
                if (Files.exists(target, LinkOption.NOFOLLOW_LINKS)) {
                    HiveGuard.requireNoLink(target);
                    return false;
                }
                Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE);
            }
            deleteQuietly(temp);
            tempRemoved = true;
            fsyncDirectory(dir);
            return true;
        } catch (IOException | RuntimeException e) {
            if (e instanceof DeiaException de) {
                throw de;
            }
            throw DeiaException.io("cannot write", target, e);
        } finally {
            if (!tempRemoved) {
                deleteQuietly(temp);
            }
        }
    }

    /**
     * Renames {@code source} to {@code target} atomically (same file system) and makes the rename
     * durable by syncing both folders. The rename replaces an existing target (POSIX rename).
     *
     * @throws java.nio.file.NoSuchFileException when the source is gone, e.g. another claimer won
     * @throws IOException                         for other I/O failures
     */
    public static void move(Path source, Path target) throws IOException {
        Path targetDir = parentOf(target);
        try {
            renameAtomically(source, target);
        } catch (NoSuchFileException e) {
            // Either the source is gone (another claimer won: the caller's answer) or the target
            // folder is missing; only the latter is repaired, then the rename is tried once more.
            if (Files.isDirectory(targetDir) || !Files.exists(source, LinkOption.NOFOLLOW_LINKS)) {
                throw e;
            }
            Files.createDirectories(targetDir, HiveGuard.folderAttributes());
            renameAtomically(source, target);
        }
        Path sourceDir = parentOf(source);
        fsyncDirectory(targetDir);
        if (!sourceDir.equals(targetDir)) {
            fsyncDirectory(sourceDir);
        }
    }

    private static void renameAtomically(Path source, Path target) throws IOException {
        try {
            Files.move(source, target, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            throw new IOException("cannot rename " + source + " to " + target
                    + " atomically: both must be on one file system", e);
        }
    }

    /**
     * Creates a temp file; its folder is created only when it is missing. Folders almost always
     * exist, and an unconditional {@link Files#createDirectories} costs a failing {@code mkdir}, a
     * {@code stat} and an exception on every write.
     */
    private static FileChannel openNew(Path temp, Set<StandardOpenOption> options, FileAttribute<?>[] attrs) throws IOException {
        try {
            return FileChannel.open(temp, options, attrs);
        } catch (NoSuchFileException e) {
            Files.createDirectories(temp.getParent(), HiveGuard.folderAttributes());
            return FileChannel.open(temp, options, attrs);
        }
    }

    /**
     * True when {@code file} exists (following symbolic links, like {@link Files#exists(Path,
     * LinkOption...)} without options). On JDK 17 {@code Files.exists} builds and throws an
     * exception internally for every missing file; this asks {@code stat(2)} without one, for
     * checks on hot paths where the file is usually absent.
     */
    public static boolean exists(Path file) {
        return file.toFile().exists();
    }

    /** Moves {@code source} into {@code dir} under {@code name}; see {@link #move(Path, Path)}. */
    public static Path moveInto(Path source, Path dir, String name) throws IOException {
        Path target = dir.resolve(name);
        move(source, target);
        return target;
    }

    /**
     * Reads a whole file as strict UTF-8. A leading byte order mark is dropped. A symbolic link is
     * not followed: files in a hive are deia's own, and a link there was planted (a file the user
     * names on the command line is resolved by the caller first).
     *
     * @throws DeiaException {@link ErrorCode#UNPROCESSABLE} naming the file and the byte offset
     *                       of the first invalid sequence, or the file is a symbolic link;
     *                       {@link ErrorCode#NOT_FOUND} when missing
     */
    public static String readString(Path file) {
        byte[] bytes;
        try (SeekableByteChannel ch = Files.newByteChannel(file, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS)) {
            bytes = readAll(ch);
        } catch (java.nio.file.NoSuchFileException e) {
            throw new DeiaException(ErrorCode.NOT_FOUND, "no such file: " + file, e);
        } catch (IOException e) {
            // ELOOP (a link, with NOFOLLOW_LINKS) comes as a plain IOException: named for what it is.
            if (Files.isSymbolicLink(file)) {
                throw HiveGuard.plantedLink(file);
            }
            throw DeiaException.io("cannot read", file, e);
        }
        return Utf8.decodeStrict(bytes, file.toString());
    }

    private static byte[] readAll(SeekableByteChannel ch) throws IOException {
        long size = ch.size();
        if (size > Integer.MAX_VALUE - 8) {
            throw new IOException("file too large: " + size + " bytes");
        }
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream((int) size);
        ByteBuffer buf = ByteBuffer.allocate((int) Math.max(1, Math.min(size + 1, 64 * 1024)));
        while (ch.read(buf) >= 0) {
            out.write(buf.array(), 0, buf.position());
            buf.clear();
        }
        return out.toByteArray();
    }

    /**
     * Forces a folder's entries (renames, creations, deletions) to disk. A no-op where the OS cannot
     * open folders for syncing.
     */
    public static void fsyncDirectory(Path dir) throws IOException {
        if (!DIR_FSYNC_SUPPORTED) {
            return;
        }
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        }
    }

    /** True for the names of temp files made by this class. */
    public static boolean isTempFile(Path file) {
        Path name = file.getFileName();
        return name != null && name.toString().startsWith(TEMP_PREFIX);
    }

    /**
     * Removes temp files left in {@code dir} by a process that died mid-write; those of running
     * processes (this one included) are left alone (see {@link #isTempOfLiveProcess}).
     *
     * @return how many were removed
     */
    public static int cleanTempFiles(Path dir) {
        if (!Files.isDirectory(dir)) {
            return 0;
        }
        int removed = 0;
        try (var entries = Files.newDirectoryStream(dir, e -> isTempFile(e))) {
            for (Path temp : entries) {
                if (!isTempOfLiveProcess(temp) && deleteQuietly(temp)) {
                    removed++;
                }
            }
        } catch (IOException e) {
            throw DeiaException.io("cannot list", dir, e);
        }
        return removed;
    }

    private static boolean deleteQuietly(Path p) {
        try {
            return Files.deleteIfExists(p);
        } catch (IOException e) {
            return false;
        }
    }

    private static Path parentOf(Path target) {
        Path abs = target.toAbsolutePath();
        Path dir = abs.getParent();
        if (dir == null) {
            throw DeiaException.invalid("%s has no parent folder", target);
        }
        return dir;
    }
}
