package io.deia.core.io;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashSet;
import java.util.Set;

/**
 * Group commit of folder entries: several new files and renames whose folders are made durable by
 * ONE fsync per folder in {@link #commit()}, instead of one (or two) per operation.
 *
 * <p>What stays per operation: every new file's bytes are forced to disk before its name appears
 * (a name never points at unsynced data), and each rename is atomic. What is shared: the folder
 * fsync that makes the names survive a power cut. So nothing done through a group commit may be
 * reported as durable (acknowledged, published, relied on by a later step) before {@link #commit()}
 * returned. A crash before that leaves each operation either done or not done, never partial.
 *
 * <p>Not thread-safe: one batch belongs to one thread.
 */
public final class GroupCommit {
    private final Set<Path> pendingFolders = new LinkedHashSet<>();

    /**
     * Like {@link AtomicFiles#writeNew(Path, byte[])}, except that the folder fsync waits for
     * {@link #commit()}.
     *
     * @return false when the target already existed (nothing was written)
     */
    public boolean writeNew(Path target, byte[] data) {
        return AtomicFiles.writeNew(target, data, io.deia.core.HiveGuard.fileAttributes(), pendingFolders);
    }

    /**
     * Like {@link AtomicFiles#move(Path, Path)}, except that the fsync of both folders waits for
     * {@link #commit()}.
     *
     * @throws java.nio.file.NoSuchFileException when the source is gone (another claimer won)
     */
    public void move(Path source, Path target) throws IOException {
        AtomicFiles.move(source, target, pendingFolders);
    }

    /** True when some operation waits for {@link #commit()}. */
    public boolean hasPending() {
        return !pendingFolders.isEmpty();
    }

    /**
     * Makes every operation of this batch durable: one fsync per folder touched. The batch is empty
     * afterwards and can be reused.
     *
     * @throws IOException when a folder cannot be synced; then no operation of the batch may be
     *                     taken as durable
     */
    public void commit() throws IOException {
        for (Path folder : pendingFolders) {
            AtomicFiles.fsyncDirectory(folder);
        }
        pendingFolders.clear();
    }
}
