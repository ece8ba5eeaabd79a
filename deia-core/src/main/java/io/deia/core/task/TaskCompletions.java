package io.deia.core.task;

import io.deia.core.HiveLayout;
import io.deia.core.io.AtomicFiles;
import io.deia.core.io.GroupCommit;
import io.deia.core.io.LogSafe;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;

/**
 * The completion stage of a {@link TaskQueueMonitor}: makes each finished task's response durable,
 * archives the task, and only then reports it. It runs on its own thread, so the monitor's worker
 * claims and runs task N+1 while task N is being synced; a spawn and an fsync wait on different
 * things (CPU, disk), so they overlap well even on one core.
 *
 * <p><b>Order and durability, per batch</b> of the finished tasks waiting (at most
 * {@value #MAX_BATCH}):
 * <ol>
 *   <li>every response file is written and forced to disk before its name appears;</li>
 *   <li>one fsync of the responses folder: now every response of the batch is durable;</li>
 *   <li>only then each task is renamed into the archive (so a response is always durable before its
 *       task leaves the claimed folder), followed by one fsync of the archive and claimed folders;</li>
 *   <li>only then the state files go and each task's final event is published, in order.</li>
 * </ol>
 * With no backlog a batch is one task and costs what the synchronous path cost; with a backlog the
 * folder fsyncs are shared by the whole batch (group commit). While the monitor has more tasks
 * waiting to run, a batch that is smaller than {@value #LINGER_BATCH} waits up to
 * {@value #LINGER_MICROS} µs for the next finished tasks before it commits (like a database's
 * commit delay): a few tasks then share the three folder fsyncs instead of paying them each, which
 * frees the disk and the CPU for the agents being spawned. With nothing waiting there is no delay.
 *
 * <p><b>Crashes.</b> Until step 3 is durable the task is still claimed. A monitor that adopts it
 * finds its response by claim key (when step 2 was durable) and only archives it; otherwise it runs
 * the task again, as it would after a crash during the agent's turn. Nothing is reported before it
 * is durable, so no event or counter ever describes a step that a crash could undo.
 *
 * <p><b>Failures.</b> A task whose response or archive step fails (a full or read-only disk) is
 * kept in memory by {@link PendingResponses} and retried on this thread with back-off while the
 * bot runs: it stays claimed, counts as pending, and publishes no event until the retry succeeds,
 * so it is neither lost nor run again. Only when the bot stops before a retry succeeds does it stay
 * claimed for the next monitor of the bot, which adopts it as above.
 *
 * <p>{@link #close()} drains: every task handed over before it is completed before it returns.
 */
final class TaskCompletions implements AutoCloseable {
    /** Finished tasks that may wait before the worker blocks (bounds how far it runs ahead). */
    static final int CAPACITY = 64;
    /** Most tasks sharing one group commit. */
    static final int MAX_BATCH = 32;
    /** A batch smaller than this waits for more finished tasks while a backlog is run. */
    static final int LINGER_BATCH = 4;
    /** Longest such wait. */
    static final long LINGER_MICROS = 3000;
    private static final Logger log = LoggerFactory.getLogger(TaskCompletions.class);
    private static final Item STOP = new Item(null, null, null, null, null);

    private final String botId;
    private final HiveLayout layout;
    private final ResponseFiles responses;
    private final ClaimedTasks claims;
    private final TaskEventListener listener;
    private final BooleanSupplier backlog;
    private final BlockingQueue<Item> queue = new ArrayBlockingQueue<>(CAPACITY + 1);
    private final AtomicInteger pending = new AtomicInteger();
    private final PendingResponses kept;
    private final Thread thread;
    private boolean closed;

    /** One finished task: its response to write (or the one it already has) and its final event. */
    static final class Item {
        final ClaimedTasks.Claim claim;
        final TaskResponse response;
        final Path existingResponse;
        final String event;
        final String taskFile;
        Path written;
        /** True once {@link #written} is durable (its folder synced). */
        boolean durable;
        /** True once the task left the claimed folder. */
        boolean archived;
        boolean settled;

        private Item(ClaimedTasks.Claim claim, TaskResponse response, Path existingResponse, String event, String taskFile) {
            this.claim = claim;
            this.response = response;
            this.existingResponse = existingResponse;
            this.event = event;
            this.taskFile = taskFile;
        }

        /** A task with a final outcome: write {@code response}, archive, then publish {@code event}. */
        static Item finished(ClaimedTasks.Claim claim, TaskResponse response, String event) {
            return new Item(claim, response, null, event, claim.originalName);
        }

        /** A recovered task whose response is already durable: archive only, no event. */
        static Item answered(ClaimedTasks.Claim claim, Path response) {
            return new Item(claim, null, response, null, claim.originalName);
        }
    }

    TaskCompletions(String botId, HiveLayout layout, ResponseFiles responses, ClaimedTasks claims, TaskEventListener listener) {
        this(botId, layout, responses, claims, listener, () -> false);
    }

    /**
     * @param backlog true while more tasks wait to be run, so more finished tasks are coming soon
     *                (enables the linger of small batches)
     */
    TaskCompletions(String botId, HiveLayout layout, ResponseFiles responses, ClaimedTasks claims, TaskEventListener listener,
                    BooleanSupplier backlog) {
        this.botId = botId;
        this.backlog = backlog;
        this.layout = layout;
        this.responses = responses;
        this.claims = claims;
        this.listener = listener;
        this.kept = new PendingResponses(botId);
        this.thread = new Thread(this::loop, "deia-task-complete-" + botId);
        this.thread.setDaemon(true);
    }

    void start() {
        thread.start();
    }

    /**
     * Hands a finished task over. Blocks while {@value #CAPACITY} tasks wait, so the worker never
     * runs unboundedly ahead of durability.
     *
     * @throws IllegalStateException after {@link #close()}
     */
    void submit(Item item) {
        // Under the lock, so the stop mark that close() queues comes after every accepted task.
        synchronized (this) {
            if (closed) {
                throw new IllegalStateException("completion stage of " + botId + " is closed");
            }
            pending.incrementAndGet();
            putUninterruptibly(item);
        }
    }

    /** Tasks handed over and not yet completed (or given up). */
    int pending() {
        return pending.get();
    }

    /** Why finished tasks' responses cannot be written now, or null when they can. */
    String degradedReason() {
        return kept.reason();
    }

    /** True on the completion thread (which publishes the events). */
    boolean isCompletionThread() {
        return Thread.currentThread() == thread;
    }

    /** Completes every task handed over so far, then stops the thread. Idempotent. */
    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            if (!thread.isAlive()) {
                return;
            }
            putUninterruptibly(STOP);
        }
        if (isCompletionThread()) {
            return;
        }
        boolean interrupted = false;
        while (thread.isAlive()) {
            try {
                thread.join();
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    private void putUninterruptibly(Item item) {
        boolean interrupted = false;
        while (true) {
            try {
                queue.put(item);
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    private void loop() {
        List<Item> batch = new ArrayList<>(MAX_BATCH);
        while (true) {
            Item first;
            try {
                long wait = kept.millisUntilRetry();
                first = wait == Long.MAX_VALUE ? queue.take() : queue.poll(wait, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                continue;
            }
            if (first != null) {
                batch.add(first);
                queue.drainTo(batch, MAX_BATCH - 1);
                linger(batch);
            }
            boolean stop = batch.remove(STOP);
            // Kept tasks go first, in the order they finished; at the stop, one last try.
            List<Item> retried = kept.takeDue(stop);
            batch.addAll(0, retried);
            try {
                complete(batch);
            } catch (RuntimeException e) {
                // Must not end the stage: later tasks still need their responses. Disk trouble is
                // retried; anything else would fail again, so those stay claimed for the next start.
                boolean retry = isIoTrouble(e);
                for (Item item : batch) {
                    if (retry && !item.archived && !kept.holds(item)) {
                        kept.keep(item, e.toString());
                    }
                }
                log.error("[{}] completing {} task(s) failed; {}", botId, batch.size(),
                        retry ? "they are kept and retried" : "unfinished ones stay claimed for the next start", e);
            } finally {
                for (Item item : batch) {
                    if (!kept.holds(item)) {
                        uncount(item);
                    }
                }
                kept.roundDone(retried.size());
                batch.clear();
            }
            if (stop) {
                giveUpKept();
                return;
            }
        }
    }

    /** At close: tasks still kept stay claimed, so the next monitor of the bot runs them again. */
    private void giveUpKept() {
        List<Item> left = kept.takeDue(true);
        for (Item item : left) {
            log.error("[{}] the bot stops before the response of task {} could be written; it stays claimed and "
                    + "the next start of the bot retries it", botId, item.claim.originalName);
            uncount(item);
        }
        kept.roundDone(0);
    }

    /** Waits a little for more finished tasks when a backlog is being run (see the class comment). */
    private void linger(List<Item> batch) {
        if (batch.size() >= LINGER_BATCH || batch.contains(STOP) || !backlog.getAsBoolean()) {
            return;
        }
        long deadline = System.nanoTime() + TimeUnit.MICROSECONDS.toNanos(LINGER_MICROS);
        while (batch.size() < LINGER_BATCH) {
            long left = deadline - System.nanoTime();
            Item next;
            try {
                next = left > 0 ? queue.poll(left, TimeUnit.NANOSECONDS) : null;
            } catch (InterruptedException e) {
                return;
            }
            if (next == null) {
                return;
            }
            batch.add(next);
            if (next == STOP || !backlog.getAsBoolean()) {
                return;
            }
        }
    }

    private void complete(List<Item> batch) {
        List<Item> answered = new ArrayList<>(batch.size());
        GroupCommit responseCommit = new GroupCommit();
        boolean resync = false;
        for (Item item : batch) {
            if (item.response == null) {
                item.written = item.existingResponse;
                item.durable = true;
                answered.add(item);
                continue;
            }
            if (item.written != null) {
                // Written by an earlier try whose folder sync failed: sync again, never write twice.
                resync |= !item.durable;
                answered.add(item);
                continue;
            }
            try {
                item.written = responses.write(item.response, item.claim.key, item.taskFile, responseCommit);
                answered.add(item);
            } catch (RuntimeException e) {
                if (!isIoTrouble(e)) {
                    // Not the disk (an id no response can take): a retry would fail forever.
                    log.error("[{}] cannot write the response of task {}; it stays claimed", botId,
                            item.response.taskId(), e);
                    continue;
                }
                log.warn("[{}] cannot write the response of task {}; kept in memory and retried: {}", botId,
                        item.response.taskId(), e.getMessage());
                kept.keep(item, e.getMessage());
            }
        }
        try {
            responseCommit.commit();
            if (resync) {
                AtomicFiles.fsyncDirectory(layout.responsesDir(botId));
            }
        } catch (IOException e) {
            log.warn("[{}] cannot sync {}; {} task(s) kept and retried: {}", botId, layout.responsesDir(botId),
                    answered.size(), e.toString());
            for (Item item : answered) {
                kept.keep(item, "cannot sync " + layout.responsesDir(botId) + ": " + e);
            }
            return;
        }
        for (Item item : answered) {
            item.durable = true;
        }
        // Every response of the batch is durable from here; only now may a task leave the claimed folder.
        List<Item> archived = new ArrayList<>(answered.size());
        GroupCommit archiveCommit = new GroupCommit();
        Path archiveDir = layout.archiveDir(botId);
        for (Item item : answered) {
            String id = idOf(item.written);
            boolean isDir = Files.isDirectory(item.claim.file, LinkOption.NOFOLLOW_LINKS);
            try {
                Path to = claims.archive(item.claim, archiveDir, isDir ? id : id + ".md", archiveCommit);
                log.debug("[{}] archived {} as {}", botId, LogSafe.printable(item.claim.originalName), to.getFileName());
                item.archived = true;
                archived.add(item);
            } catch (IOException e) {
                log.warn("[{}] cannot archive task {} ({}); its response is durable; kept and retried: {}",
                        botId, id, LogSafe.printable(item.claim.file.toString()), LogSafe.printable(e.toString()));
                kept.keep(item, "cannot archive task " + id + ": " + e);
            }
        }
        try {
            archiveCommit.commit();
        } catch (IOException e) {
            log.error("[{}] cannot sync the archive of {} task(s); not reported", botId, archived.size(), e);
            return;
        }
        for (Item item : archived) {
            try {
                claims.dropState(item.claim);
            } catch (IOException e) {
                log.warn("[{}] cannot delete the claim state of {}: {}", botId, LogSafe.printable(item.claim.originalName),
                        LogSafe.printable(e.toString()));
            }
            report(item);
        }
    }

    /** Once per item: it is no longer pending (done, or given up and left claimed; never while kept for a retry). */
    private void uncount(Item item) {
        if (!item.settled) {
            item.settled = true;
            pending.decrementAndGet();
        }
    }

    private void report(Item item) {
        // Durable now: not pending any more by the time a listener hears of it.
        uncount(item);
        if (item.event == null) {
            return;
        }
        TaskResponse r = item.response;
        String id = idOf(item.written);
        if (TaskEvent.REJECTED.equals(item.event)) {
            log.warn("[{}] rejected task {}: {}", botId, LogSafe.printable(item.claim.originalName), LogSafe.printable(r.error()));
        } else {
            log.info("[{}] task {} {} after {} attempt(s) in {} ms; response {}", botId, r.taskId(), r.status().id(),
                    r.attempt(), r.durationMs(), item.written.getFileName());
        }
        try {
            listener.onTaskEvent(new TaskEvent(botId, id, item.event, r.status(), r.attempt(), r.error()));
        } catch (RuntimeException e) {
            log.warn("[{}] task event listener failed on {} {}: {}", botId, item.event, id, e.toString());
        }
    }

    /** True when an I/O error (full or read-only disk, a folder in the way) is behind {@code e}. */
    static boolean isIoTrouble(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof IOException || t instanceof java.io.UncheckedIOException) {
                return true;
            }
        }
        return false;
    }

    static String idOf(Path response) {
        String n = response.getFileName().toString();
        return n.substring(0, n.length() - ResponseFiles.SUFFIX.length());
    }
}
