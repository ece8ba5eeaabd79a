package io.deia.core.registry;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.DeiaException;
import io.deia.core.HiveLayout;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
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
 *
 * <p><b>Cross-process combining.</b> Group commit across processes: a thread that finds the OS
 * lock held by another process and whose batch consists only of {@link PortableChange}s
 * (heartbeat, deregister) first writes the batch as a request file ({@link RegistryRequests})
 * and then waits. Whoever holds the lock applies, besides its own batch, every request it finds,
 * in its one durable write, and records per writer the applied request number and its results in
 * the ledger ({@code "combined"}) of {@code registry.json} itself. So "applied" and the change
 * reach the disk in one atomic rename: a writer killed at any point either left the file without
 * the change and without the ledger mark (the next lock holder applies the request), or with both
 * (a request file that survived is recognised by its number and removed, never applied twice).
 * When the waiter gets the lock it reads the ledger: its request applied, it takes its results
 * from there and returns without a write of its own; not applied (or the request file was lost),
 * it applies its batch itself. Request files are hints; the ledger decides. {@code registry.json}
 * stays the complete, current registry at every instant. Ledger entries of processes that are gone
 * are dropped once there are more than {@link #LEDGER_PRUNE_AT}.
 */
final class RegistryCommitter {
    /** Upper bound of changes in one write, so a steady stream of new changes cannot starve a batch. */
    static final int MAX_BATCH = 256;
    /** Ledger size from which entries of writers that are no longer running are dropped. */
    static final int LEDGER_PRUNE_AT = 16;
    /** Longest wait for a removal in the request folder before a waiter looks at the lock again. */
    static final long WAIT_SLICE_MS = 5;
    /**
     * {@code -Ddeia.registry.combining=false} makes this JVM wait for the lock instead of leaving
     * its changes for the holder (it still applies requests other processes left): for measuring
     * the two side by side with one build, and as a way back should the hand-over misbehave.
     */
    static final boolean LEAVE_REQUESTS = !"false".equals(System.getProperty("deia.registry.combining"));

    private static final Logger log = LoggerFactory.getLogger(RegistryCommitter.class);
    private static final ConcurrentHashMap<Path, RegistryCommitter> BY_FILE = new ConcurrentHashMap<>();

    private final RegistryFile file;
    private final RegistryLock lock;
    private final RegistryRequests requests;
    /** Requests of other processes applied by this JVM's writes (diagnostics). */
    private final AtomicLong combinedForeign = new AtomicLong();
    /** Batches of this JVM that another process applied (diagnostics). */
    private final AtomicLong appliedByOthers = new AtomicLong();
    /**
     * One watch service for the request folders of every hive of this JVM (each inotify instance
     * counts against a small per-user limit, and the task queue monitors need theirs), created the
     * first time this JVM leaves a request. Null until then, or for good when it could not be made.
     */
    private static WatchService watcher;
    private static boolean watcherFailed;
    /** Whether this committer's request folder is registered with {@link #watcher}; in-JVM lock guards it. */
    private boolean watched;
    private final ConcurrentLinkedQueue<Pending<?>> queue = new ConcurrentLinkedQueue<>();
    private final AtomicLong writes = new AtomicLong();

    private RegistryCommitter(HiveLayout hive) {
        this.file = new RegistryFile(hive);
        this.lock = new RegistryLock(hive.registryLockFile());
        this.requests = new RegistryRequests(hive);
    }

    /**
     * The committer of {@code hive}'s registry file in this JVM. Keyed by the absolute, normalised
     * hive path, so nothing is touched on disk here; two spellings of one folder through a symlink
     * get two committers, which is still safe (they share the in-JVM and OS lock of
     * {@link RegistryLock}, keyed by the real path), only without batching between them.
     */
    static RegistryCommitter of(HiveLayout hive) {
        Path key = hive.hiveDir().toAbsolutePath().normalize();
        return BY_FILE.computeIfAbsent(key, k -> new RegistryCommitter(hive));
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

    /** Requests of other processes this committer applied in its writes (diagnostics). */
    long combinedForeign() {
        return combinedForeign.get();
    }

    /** Batches of this committer that another process applied (diagnostics). */
    long appliedByOthers() {
        return appliedByOthers.get();
    }

    RegistryRequests requests() {
        return requests;
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
        return commit(new Pending<>(Objects.requireNonNull(change, "change"), afterWrite, cleanTempFiles, null));
    }

    /**
     * Commits {@code portable}, a change another process may apply on this one's behalf (see the
     * class comment). Same contract as {@link #commit(Function, AfterWrite, boolean)}.
     */
    Object commit(PortableChange portable, RegistryFile file, boolean cleanTempFiles) {
        Objects.requireNonNull(portable, "portable");
        return commit(new Pending<Object>(portable::apply, (result, committed) -> portable.afterWrite(result, committed, file),
                cleanTempFiles, portable));
    }

    private <T> T commit(Pending<T> mine) {
        queue.add(mine);
        // More than one round only when more than MAX_BATCH changes were queued ahead of this one.
        while (!mine.done) {
            Batch[] taken = new Batch[1];
            try {
                RegistryLock.Handover handover = new RegistryLock.Handover() {
                    @Override
                    public boolean leave() {
                        taken[0] = takeBatch(true);
                        return taken[0].staged != null;
                    }

                    @Override
                    public RegistryLock.Left check() {
                        return whereLeft(taken[0]);
                    }

                    @Override
                    public void await() {
                        awaitRemovals();
                    }
                };
                lock.withLockUnless(() -> mine.done, handover, () -> {
                    if (taken[0] == null) {
                        taken[0] = takeBatch(false);
                    }
                    commitBatch(taken[0]);
                    return null;
                });
                if (taken[0] != null) {
                    removeSettled(taken[0]);
                    serveLeftRequests();
                }
            } catch (RuntimeException | Error e) {
                Batch batch = taken[0];
                if (batch != null) {
                    // Taken from the queue but not committed (the wait for the OS lock failed, e.g.
                    // interrupted): its callers get the error. A request file already left for the
                    // holder is withdrawn; a holder that took it just before applies it anyway, which
                    // for a heartbeat or deregister equals a caller interrupted right after its write.
                    batch.failIfOpen(e);
                    if (batch.staged != null) {
                        requests.delete(batch.staged.file());
                    }
                }
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
        return mine.outcome();
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
        return lock.withLock(() -> new TreeMap<>(loadForUpdate().bots()));
    }

    /** A batch taken from the queue and, when it was left for another process, its request file. */
    private static final class Batch {
        final List<Pending<?>> changes;
        final RegistryRequests.Found staged;
        /** Request files whose changes are in the durable file (or were answered): removed after the lock is let go. */
        final List<Path> settled = new ArrayList<>();

        Batch(List<Pending<?>> changes, RegistryRequests.Found staged) {
            this.changes = changes;
            this.staged = staged;
        }

        void failIfOpen(Throwable e) {
            for (Pending<?> p : changes) {
                if (!p.done) {
                    p.failIfOpen(e);
                    p.done = true;
                }
            }
        }
    }

    /**
     * Takes the queued changes (in-JVM lock held). With {@code stage} (the OS lock is held by
     * another process) a batch of portable changes is also written as a request file for the holder;
     * when that write fails the batch is simply applied by this thread once it has the lock.
     */
    private Batch takeBatch(boolean stage) {
        List<Pending<?>> batch = new ArrayList<>();
        for (Pending<?> p; batch.size() < MAX_BATCH && (p = queue.poll()) != null; ) {
            batch.add(p);
        }
        RegistryRequests.Found staged = null;
        if (stage && LEAVE_REQUESTS && !batch.isEmpty() && batch.stream().allMatch(p -> p.portable != null) && watchRemovals()) {
            try {
                staged = requests.stage(batch.stream().map(p -> p.portable).toList());
            } catch (RuntimeException e) {
                log.warn("cannot leave registry changes for the lock holder, applying them here: {}", e.getMessage());
            }
        }
        return new Batch(batch, staged);
    }

    /**
     * Where the request of {@code taken} stands, read without the lock. Its file still there: not
     * known yet. Gone: a holder removes a request file only after the write holding its change (and
     * the ledger mark) is durable, so a mark found now is a durable answer; no mark means the file
     * was discarded (registry rebuilt) and this thread must apply the batch itself.
     */
    private RegistryLock.Left whereLeft(Batch taken) {
        if (Files.exists(taken.staged.file())) {
            return RegistryLock.Left.WAITING;
        }
        RegistryFile.Contents contents = file.read();
        RegistryFile.Applied applied = contents.damaged() ? null : contents.combined().get(RegistryRequests.WRITER);
        if (applied == null || applied.seq() < taken.staged.request().seq()) {
            return RegistryLock.Left.TAKE_LOCK;
        }
        for (int i = 0; i < taken.changes.size(); i++) {
            Pending<?> p = taken.changes.get(i);
            p.deliver(applied.results().get(i));
            p.done = true;
        }
        appliedByOthers.incrementAndGet();
        return RegistryLock.Left.DONE;
    }

    /** Watches the request folder for removals (in-JVM lock held); false when it cannot be watched. */
    private boolean watchRemovals() {
        if (watched) {
            return true;
        }
        synchronized (RegistryCommitter.class) {
            if (watcherFailed) {
                return false;
            }
            try {
                if (watcher == null) {
                    watcher = requests.dir().getFileSystem().newWatchService();
                }
                Files.createDirectories(requests.dir());
                requests.dir().register(watcher, StandardWatchEventKinds.ENTRY_DELETE);
                watched = true;
                return true;
            } catch (IOException | RuntimeException e) {
                // Without a way to wait for the holder, this JVM waits for the lock as before (once logged).
                watcherFailed = true;
                log.warn("cannot watch {}; registry changes of this process are not left for other processes: {}",
                        requests.dir(), e.toString());
                return false;
            }
        }
    }

    /**
     * Blocks until a request file is removed (a holder finished a write) or {@link #WAIT_SLICE_MS}
     * passed. The time limit only matters when the holder is a process that does not serve requests
     * (e.g. an older version of deia); every other holder removes files or serves the new ones
     * ({@link #serveLeftRequests()}) when it lets go of the lock.
     */
    private void awaitRemovals() {
        try {
            // A removal in another hive's folder (same watch service) only ends this wait early.
            WatchKey key = watcher.poll(WAIT_SLICE_MS, TimeUnit.MILLISECONDS);
            if (key != null) {
                key.pollEvents();
                key.reset();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw DeiaException.unavailable("interrupted while waiting for the registry");
        }
    }

    /** Removes the request files a batch settled; the lock is no longer held. */
    private void removeSettled(Batch batch) {
        batch.settled.forEach(requests::delete);
        batch.settled.clear();
    }

    /**
     * After letting go of the lock: when requests are waiting (left after this holder listed the
     * folder), serve them now if the lock is free, so their writers are not left waiting for a
     * holder that will not come. When the lock is taken, its holder does the same when it lets go.
     */
    private void serveLeftRequests() {
        if (!requests.anyWaiting()) {
            return;
        }
        Batch serve = new Batch(List.of(), null);
        lock.tryWithLock(() -> {
            commitBatch(serve);
            return null;
        });
        removeSettled(serve);
    }

    /**
     * The batch: load once; when another process already applied it, take the results from the
     * ledger; else apply the other processes' requests and each queued change, and write once. Lock held.
     */
    private void commitBatch(Batch taken) {
        List<Pending<?>> batch = taken.changes;
        List<Path> settledRequests = taken.settled;
        try {
            if (batch.stream().anyMatch(p -> p.cleanTempFiles)) {
                // Under the lock no other registry writer is mid-write, so any temp file is a dead one's.
                int removed = file.cleanOwnTempFiles();
                if (removed > 0) {
                    log.warn("removed {} temp file(s) left by an interrupted registry write in {}", removed, file.path().getParent());
                }
            }
            RegistryFile.Contents loaded = loadForUpdate();
            Map<String, RegistryFile.Applied> ledger = new HashMap<>(loaded.combined());
            if (taken.staged != null) {
                RegistryFile.Applied applied = ledger.get(RegistryRequests.WRITER);
                if (applied != null && applied.seq() >= taken.staged.request().seq()) {
                    for (int i = 0; i < batch.size(); i++) {
                        batch.get(i).deliver(applied.results().get(i));
                    }
                    appliedByOthers.incrementAndGet();
                    return;
                }
                ledger.put(RegistryRequests.WRITER, new RegistryFile.Applied(taken.staged.request().seq(), List.of()));
                settledRequests.add(taken.staged.file());
            }
            SortedMap<String, BotRecord> bots = new TreeMap<>(loaded.bots());
            Map<String, BotRecord> before = Map.copyOf(bots);
            Map<String, RegistryFile.Applied> ledgerBefore = Map.copyOf(loaded.combined());
            List<Pending<?>> foreign = new ArrayList<>();
            for (RegistryRequests.Found found : requests.list()) {
                RegistryRequests.Request r = found.request();
                RegistryFile.Applied applied = ledger.get(r.writer());
                if (r.writer().equals(RegistryRequests.WRITER) || (applied != null && applied.seq() >= r.seq())) {
                    // Settled already: this JVM's own (its batch is applied here or was answered), or
                    // applied by a writer killed before it could remove the file.
                    settledRequests.add(found.file());
                    continue;
                }
                List<JsonNode> results = new ArrayList<>();
                for (PortableChange change : r.changes()) {
                    Pending<Object> p = new Pending<>(change::apply, (result, committed) -> change.afterWrite(result, committed, file),
                            false, change);
                    SortedMap<String, BotRecord> attempt = new TreeMap<>(bots);
                    if (p.apply(attempt)) {
                        bots = attempt;
                        results.add(change.encodeResult(p.result));
                        foreign.add(p);
                    } else {
                        results.add(PortableChange.encodeError((RuntimeException) p.error));
                    }
                }
                ledger.put(r.writer(), new RegistryFile.Applied(r.seq(), List.copyOf(results)));
                settledRequests.add(found.file());
                combinedForeign.incrementAndGet();
            }
            for (Pending<?> p : batch) {
                // A copy per change, so a change that throws leaves no half-made edit behind.
                SortedMap<String, BotRecord> attempt = new TreeMap<>(bots);
                if (p.apply(attempt)) {
                    bots = attempt;
                }
            }
            if (ledger.size() > LEDGER_PRUNE_AT) {
                ledger.keySet().removeIf(w -> !w.equals(RegistryRequests.WRITER) && !RegistryRequests.writerAlive(w));
            }
            if (!before.equals(bots) || !ledgerBefore.equals(ledger)) {
                file.write(bots, ledger);
                writes.incrementAndGet();
            }
            Map<String, BotRecord> committed = Map.copyOf(bots);
            for (Pending<?> p : batch) {
                p.afterWrite(committed);
            }
            for (Pending<?> p : foreign) {
                p.afterWrite(committed);
            }
            // Removed by the caller after the durable write AND after the lock is let go: a waiter
            // woken by the removal may find the lock free at once.
            if (batch.size() + foreign.size() > 1) {
                log.debug("committed {} registry changes ({} of other processes) in one write", batch.size() + foreign.size(),
                        foreign.size());
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

    /**
     * Loads the entries and the ledger; a damaged file is kept aside and rebuilt before they are
     * returned. Lock held.
     *
     * <p>The rebuild keeps the ledger entries that could be read, and removes every waiting request
     * file: with part of the file lost, a request can no longer be proven unapplied. A writer waiting
     * for a removed request finds no ledger mark for it once it has the lock and applies its changes
     * itself, so nothing is lost and nothing applied twice.
     */
    private RegistryFile.Contents loadForUpdate() throws IOException {
        RegistryFile.Contents contents = file.read();
        if (!contents.damaged()) {
            return contents;
        }
        SortedMap<String, BotRecord> rebuilt = new TreeMap<>(contents.bots());
        Path evidence = file.keepAside();
        List<String> fromHeartbeats = new ArrayList<>();
        file.readHeartbeats().forEach((id, r) -> {
            if (rebuilt.putIfAbsent(id, r) == null) {
                fromHeartbeats.add(id);
            }
        });
        file.write(rebuilt, contents.combined());
        int discarded = requests.discardAll();
        if (discarded > 0) {
            log.warn("removed {} waiting registry request file(s) after the rebuild; their writers apply them themselves", discarded);
        }
        log.error("registry {} was damaged ({}); kept it as {} and rebuilt it with {} entries ({} read from it, {} from heartbeat files {})",
                file.path(), String.join("; ", contents.problems()), evidence.getFileName(), rebuilt.size(),
                contents.bots().size(), fromHeartbeats.size(), fromHeartbeats);
        return new RegistryFile.Contents(rebuilt, contents.combined(), List.of());
    }

    /** One queued change and, once its batch is written, its outcome. */
    private static final class Pending<T> {
        private final Function<SortedMap<String, BotRecord>, T> change;
        private final AfterWrite<T> afterWrite;
        private final boolean cleanTempFiles;
        /** The same change as data, when another process may apply it; else null. */
        private final PortableChange portable;
        /** Set by the committing thread before the lock is released; read by the owner after taking it. */
        private volatile boolean done;
        private T result;
        private boolean applied;
        private Throwable error;

        Pending(Function<SortedMap<String, BotRecord>, T> change, AfterWrite<T> afterWrite, boolean cleanTempFiles,
                PortableChange portable) {
            this.change = change;
            this.afterWrite = afterWrite;
            this.cleanTempFiles = cleanTempFiles;
            this.portable = portable;
        }

        /**
         * Takes the result another process stored in the ledger for this change; its side effects
         * (heartbeat file) were done by that process.
         */
        @SuppressWarnings("unchecked")
        void deliver(JsonNode stored) {
            try {
                result = (T) portable.decodeResult(stored);
            } catch (RuntimeException e) {
                error = e;
            }
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
