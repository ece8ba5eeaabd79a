package io.deia.core.io;

import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFilePermissions;
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
 */
public final class AtomicFiles {
    /** Temp files start with this, so scans of a folder can tell them apart and skip them. */
    public static final String TEMP_PREFIX = ".deia-tmp-";

    private static final FileAttribute<?>[] NO_ATTRIBUTES = new FileAttribute<?>[0];
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

    private static void replace(Path target, byte[] data, boolean durable) {
        Path dir = parentOf(target);
        Path temp = dir.resolve(TEMP_PREFIX + target.getFileName() + "." + Long.toHexString(ThreadLocalRandom.current().nextLong()));
        try {
            try (FileChannel ch = openNew(temp, Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE), NO_ATTRIBUTES)) {
                ByteBuffer buf = ByteBuffer.wrap(data);
                while (buf.hasRemaining()) {
                    ch.write(buf);
                }
                if (durable) {
                    ch.force(true);
                }
            }
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
     * Creates {@code target} with {@code data} only if it does not exist yet, atomically and durably.
     * Used for files written exactly once (responses): an existing file is never replaced.
     *
     * @return false when the target already existed (nothing was written)
     */
    public static boolean writeNew(Path target, byte[] data) {
        return writeNew(target, data, new FileAttribute<?>[0], null);
    }

    /**
     * Like {@link #writeNew(Path, byte[])} for a secret (an API token): the file is readable and
     * writable by its owner only (mode 0600) from the moment its temp file is created, so the secret
     * is never visible to others, not even briefly. Where the file system has no POSIX permissions
     * the file gets the default ones.
     *
     * @return false when the target already existed (nothing was written)
     */
    public static boolean writeNewSecret(Path target, byte[] data) {
        boolean posix = FileSystems.getDefault().supportedFileAttributeViews().contains("posix");
        FileAttribute<?>[] attrs = posix
                ? new FileAttribute<?>[] {PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------"))}
                : new FileAttribute<?>[0];
        return writeNew(target, data, attrs, null);
    }

    /**
     * Writes a new file; the folder fsync is done here when {@code deferredFolders} is null, else
     * the folder is added to it for the caller's one fsync (see {@link GroupCommit}).
     */
    static boolean writeNew(Path target, byte[] data, FileAttribute<?>[] attrs, java.util.Set<Path> deferredFolders) {
        Path dir = parentOf(target);
        Path temp = dir.resolve(TEMP_PREFIX + target.getFileName() + "." + Long.toHexString(ThreadLocalRandom.current().nextLong()));
        boolean tempRemoved = false;
        try {
            try (FileChannel ch = openNew(temp, Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE), attrs)) {
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
                return false;
            } catch (UnsupportedOperationException e) {
                if (Files.exists(target)) {
                    return false;
                }
                Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE);
            }
            deleteQuietly(temp);
            tempRemoved = true;
            if (deferredFolders == null) {
                fsyncDirectory(dir);
            } else {
                deferredFolders.add(dir);
            }
            return true;
        } catch (IOException | RuntimeException e) {
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
        move(source, target, null);
    }

    /**
     * Renames like {@link #move(Path, Path)}; the two folder fsyncs are done here when
     * {@code deferredFolders} is null, else both folders are added to it (see {@link GroupCommit}).
     */
    static void move(Path source, Path target, java.util.Set<Path> deferredFolders) throws IOException {
        Path targetDir = parentOf(target);
        try {
            renameAtomically(source, target);
        } catch (NoSuchFileException e) {
            // Either the source is gone (another claimer won: the caller's answer) or the target
            // folder is missing; only the latter is repaired, then the rename is tried once more.
            if (Files.isDirectory(targetDir) || !Files.exists(source, LinkOption.NOFOLLOW_LINKS)) {
                throw e;
            }
            Files.createDirectories(targetDir);
            renameAtomically(source, target);
        }
        Path sourceDir = parentOf(source);
        if (deferredFolders != null) {
            deferredFolders.add(targetDir);
            deferredFolders.add(sourceDir);
            return;
        }
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
            Files.createDirectories(temp.getParent());
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
     * Reads a whole file as strict UTF-8. A leading byte order mark is dropped.
     *
     * @throws DeiaException {@link ErrorCode#UNPROCESSABLE} naming the file and the byte offset
     *                       of the first invalid sequence; {@link ErrorCode#NOT_FOUND} when missing
     */
    public static String readString(Path file) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (java.nio.file.NoSuchFileException e) {
            throw new DeiaException(ErrorCode.NOT_FOUND, "no such file: " + file, e);
        } catch (IOException e) {
            throw DeiaException.io("cannot read", file, e);
        }
        return Utf8.decodeStrict(bytes, file.toString());
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
     * Removes temp files left in {@code dir} by a process that died mid-write. Call at start-up,
     * never while another process may be writing in the same folder.
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
                if (deleteQuietly(temp)) {
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
