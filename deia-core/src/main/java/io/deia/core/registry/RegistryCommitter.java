package io.deia.core.registry;

import io.deia.core.DeiaException;
import io.deia.core.HiveLayout;
import io.deia.core.io.AtomicFiles;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;

/**
 * The read-modify-write engine behind {@link JsonFileServiceRegistry}: one per registry file per JVM,
 * shared by every registry instance on that file, with group commit.
 *
 * <p><b>Group commit.</b> A change is queued, then its thread takes the registry lock. The thread
 * that gets the lock takes every change queued so far (its own and those of threads still waiting
 * for the lock), applies them one after the other to one loaded copy of the file, writes the file
 * once, durably, and hands each waiting thread its own result. A thread whose change was committed
 * that way finds it done once it gets the in-JVM lock and returns without taking the OS lock. So N
 * threads of one JVM that change the registry at the same time pay for one locked read and one
 * durable write instead of N, and every caller still returns only after the write holding its
 * change is on disk. Changes from other processes are serialised by the OS lock as before.
 *
 * <p>Each change sees the effects of the changes before it in the batch. A change that throws
 * leaves the entries as they were before it (the others of the batch are still committed) and its
 * caller gets the exception. When the write itself fails, every caller of the batch gets the error.
 */
final class RegistryCommitter {
    /** Upper bound of changes in one write, so a steady stream of new changes cannot starve a batch. */
    static final int MAX_BATCH = 256;

    private static final Logger log = LoggerFactory.getLogger(RegistryCommitter.class);
    /**
     * The one committer of each registry file in this JVM, keyed by the hive folder's real path. The
     * only JVM-wide state of the registry, and needed: the OS file lock belongs to the whole JVM (a
     * second lock of the file in this JVM throws instead of waiting, and closing any channel of it
     * drops the lock), so all registry instances on one file, which tests and embedders do create,
     * must queue on one {@link RegistryLock}; it also lets their changes share a durable write.
     */
    private static final ConcurrentHashMap<Path, RegistryCommitter> BY_FILE = new ConcurrentHashMap<>();

    private final RegistryFile file;
    private final RegistryLock lock;
    private final ConcurrentLinkedQueue<Pending<?>> queue = new ConcurrentLinkedQueue<>();
    private final AtomicLong writes = new AtomicLong();

    private RegistryCommitter(HiveLayout hive) {
        this.file = new RegistryFile(hive);
        this.lock = new RegistryLock(hive.registryLockFile());
    }

    /** The committer of {@code hive}'s registry file in this JVM (see {@link #BY_FILE}). */
    static RegistryCommitter of(HiveLayout hive) {
        return BY_FILE.computeIfAbsent(realPath(hive.hiveDir()), k -> new RegistryCommitter(hive));
    }

    /**
     * The folder's path with its longest existing part resolved (links followed): two spellings of
     * one folder get one key, and nothing is created on disk here.
     */
    private static Path realPath(Path dir) {
        Path absolute = dir.toAbsolutePath().normalize();
        for (Path p = absolute; p != null; p = p.getParent()) {
            try {
                return p.toRealPath().resolve(p.relativize(absolute));
            } catch (IOException e) {
                // not there (yet): resolve its parent
            }
        }
        return absolute;
    }

    /** Runs after the durable write of the batch, still under the lock, with the entries as written. */
    @FunctionalInterface
    interface AfterWrite<T> {
        void run(T result, Map<String, BotRecord> committed);
    }

    RegistryFile file() {
        return file;
    }

    /** Changes queued and not yet taken into a batch (diagnostics). */
    int queued() {
        return queue.size();
    }

    /** Registry writes made by batches of this committer so far (diagnostics: changes per write). */
    long writes() {
        return writes.get();
    }

    /**
     * Applies {@code change} to the current entries and returns its result once the file holding the
     * change is durable (or right away when the change left the entries as they were). Then
     * {@code afterWrite} runs under the lock, see {@link AfterWrite}.
     *
     * @param cleanTempFiles first remove temp files a registry writer left when it died mid-write
     *                       (each registry instance asks for this once)
     */
    <T> T commit(Function<SortedMap<String, BotRecord>, T> change, AfterWrite<T> afterWrite, boolean cleanTempFiles) {
        return commit(change, afterWrite, cleanTempFiles, false);
    }

    /**
     * Like {@link #commit(Function, AfterWrite, boolean)}; with {@code prepareWrite} the temp file
     * of the registry write is created before the lock is taken (see {@link AtomicFiles#prepare}),
     * which pays for changes that nearly always write (heartbeat, register, update, deregister) and
     * is wasted for the others. Making a file is the costliest CPU step of a write on ext4 under
     * steady rewriting; done here, it runs while another process holds the lock, on the other core,
     * instead of inside the section every process waits for.
     */
    <T> T commit(Function<SortedMap<String, BotRecord>, T> change, AfterWrite<T> afterWrite, boolean cleanTempFiles,
                 boolean prepareWrite) {
        Pending<T> mine = new Pending<>(Objects.requireNonNull(change, "change"), afterWrite, cleanTempFiles);
        AtomicFiles.Prepared temp = prepareWrite ? prepare() : null;
        try {
            queue.add(mine);
            // More than one round only when more than MAX_BATCH changes were queued ahead of this one.
            while (!mine.done) {
                try {
                    lock.withLockUnless(() -> mine.done, () -> {
                        commitQueued(temp);
                        return null;
                    });
                } catch (RuntimeException | Error e) {
                    // Failed before or after this change's batch (e.g. the lock file cannot be opened on
                    // a read-only or full disk): withdraw it, so the caller's error does not hide a
                    // change applied by a later commit. When another thread's batch has already taken
                    // it, that batch's outcome is the answer: it is set before that thread lets go of
                    // the in-JVM lock, which the next round waits for.
                    if (queue.remove(mine)) {
                        throw e;
                    }
                }
            }
        } finally {
            if (temp != null) {
                temp.close();
            }
        }
        return mine.outcome();
    }

    /** The temp file made ahead, or null when it cannot be made: then the write reports the problem. */
    private AtomicFiles.Prepared prepare() {
        try {
            return file.prepareWrite();
        } catch (DeiaException e) {
            log.debug("cannot make the registry temp file ahead, writing without it: {}", e.getMessage());
            return null;
        }
    }

    /**
     * Reads without the lock (writers rename whole files in); only a damaged file sends the reader
     * through the locked repair.
     */
    SortedMap<String, BotRecord> readConsistent() {
        RegistryFile.Contents contents = file.read();
        if (!contents.damaged()) {
            return contents.bots();
        }
        return lock.withLock(this::loadForUpdate);
    }

    /**
     * The batch: load once, apply each queued change, write once (through {@code temp}, the
     * committing thread's temp file made ahead, when there is one). Lock held.
     */
    private void commitQueued(AtomicFiles.Prepared temp) {
        List<Pending<?>> batch = new ArrayList<>();
        for (Pending<?> p; batch.size() < MAX_BATCH && (p = queue.poll()) != null; ) {
            batch.add(p);
        }
        try {
            if (batch.stream().anyMatch(p -> p.cleanTempFiles)) {
                // Under the lock no other registry writer is mid-write, so any temp file is a dead
                // one's (a live process's temp file made ahead of the lock is left alone).
                int removed = file.cleanOwnTempFiles();
                if (removed > 0) {
                    log.warn("removed {} temp file(s) left by an interrupted registry or heartbeat write in {}", removed,
                            file.path().getParent());
                }
            }
            SortedMap<String, BotRecord> bots = loadForUpdate();
            Map<String, BotRecord> before = Map.copyOf(bots);
            for (Pending<?> p : batch) {
                // A copy per change, so a change that throws leaves no half-made edit behind.
                SortedMap<String, BotRecord> attempt = new TreeMap<>(bots);
                if (p.apply(attempt)) {
                    bots = attempt;
                }
            }
            if (!before.equals(bots)) {
                file.write(bots, temp);
                writes.incrementAndGet();
            }
            Map<String, BotRecord> committed = Map.copyOf(bots);
            for (Pending<?> p : batch) {
                p.afterWrite(committed);
            }
            if (batch.size() > 1) {
                log.debug("committed {} registry changes in one write", batch.size());
            }
        } catch (IOException e) {
            DeiaException failure = DeiaException.io("cannot update registry", file.path(), e);
            for (Pending<?> p : batch) {
                p.failIfOpen(failure);
            }
            throw failure;
        } catch (RuntimeException | Error e) {
            for (Pending<?> p : batch) {
                p.failIfOpen(e);
            }
            throw e;
        } finally {
            for (Pending<?> p : batch) {
                p.done = true;
            }
        }
    }

    /** Loads the entries; a damaged file is kept aside and rebuilt before they are returned. Lock held. */
    private SortedMap<String, BotRecord> loadForUpdate() throws IOException {
        RegistryFile.Contents contents = file.read();
        if (!contents.damaged()) {
            return new TreeMap<>(contents.bots());
        }
        SortedMap<String, BotRecord> rebuilt = new TreeMap<>(contents.bots());
        Path evidence = file.keepAside();
        List<String> fromHeartbeats = new ArrayList<>();
        file.readHeartbeats().forEach((id, r) -> {
            if (rebuilt.putIfAbsent(id, r) == null) {
                fromHeartbeats.add(id);
            }
        });
        file.write(rebuilt);
        log.error("registry {} was damaged ({}); kept it as {} and rebuilt it with {} entries ({} read from it, {} from heartbeat files {})",
                file.path(), String.join("; ", contents.problems()), evidence.getFileName(), rebuilt.size(),
                contents.bots().size(), fromHeartbeats.size(), fromHeartbeats);
        return rebuilt;
    }

    /** One queued change and, once its batch is written, its outcome. */
    private static final class Pending<T> {
        private final Function<SortedMap<String, BotRecord>, T> change;
        private final AfterWrite<T> afterWrite;
        private final boolean cleanTempFiles;
        /** Set by the committing thread before the lock is released; read by the owner after taking it. */
        private volatile boolean done;
        private T result;
        private boolean applied;
        private Throwable error;

        Pending(Function<SortedMap<String, BotRecord>, T> change, AfterWrite<T> afterWrite, boolean cleanTempFiles) {
            this.change = change;
            this.afterWrite = afterWrite;
            this.cleanTempFiles = cleanTempFiles;
        }

        /** Applies the change to {@code bots}; false (and the error kept) when it threw. */
        boolean apply(SortedMap<String, BotRecord> bots) {
            try {
                result = change.apply(bots);
                applied = true;
                return true;
            } catch (RuntimeException e) {
                error = e;
                return false;
            }
        }

        void afterWrite(Map<String, BotRecord> committed) {
            if (applied && afterWrite != null) {
                try {
                    afterWrite.run(result, committed);
                } catch (RuntimeException e) {
                    error = e;
                }
            }
        }

        void failIfOpen(Throwable e) {
            if (error == null) {
                error = e;
            }
        }

        /** The result, or the change's (or the batch's) exception. Called once {@link #done} is set. */
        T outcome() {
            if (error instanceof RuntimeException re) {
                throw re;
            }
            if (error instanceof Error err) {
                throw err;
            }
            return result;
        }
    }
}
