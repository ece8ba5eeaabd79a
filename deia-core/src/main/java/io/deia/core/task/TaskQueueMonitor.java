package io.deia.core.task;

import io.deia.core.BotIds;
import io.deia.core.DeiaException;
import io.deia.core.HiveGuard;
import io.deia.core.HiveLayout;
import io.deia.core.agent.AgentEventListener;
import io.deia.core.agent.TurnResult;
import io.deia.core.agent.TurnStatus;
import io.deia.core.config.DeiaConfig;
import io.deia.core.config.DenyPatterns;
import io.deia.core.config.Profile;
import io.deia.core.io.AtomicFiles;
import io.deia.core.io.GroupCommit;
import io.deia.core.io.LogSafe;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchEvent;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.Comparator;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;

/**
 * Runs a bot's task inbox ({@code hive/tasks/<BOT-ID>/}): notices new task files, claims them one
 * at a time in priority-then-age order, runs each through a {@link TaskExecutor}, retries failed
 * attempts with backoff, writes exactly one response per task and archives the task file.
 *
 * <p><b>Noticing.</b> A {@link WatchService} (inotify on Linux) reports files renamed into the inbox
 * within microseconds; a full rescan runs at start, after an {@code OVERFLOW}, and every
 * {@value #RESCAN_INTERVAL_MS} ms as a safety net (for platforms whose watch service polls, and for
 * events lost any other way). The controls folder is watched too, so removing the pause file
 * resumes at once.
 *
 * <p><b>Claiming and crashes.</b> See {@link ClaimedTasks}: a claim is an atomic rename into this
 * monitor's own folder under {@code hive/claimed/<BOT-ID>/}; several monitors may share one inbox and
 * exactly one wins each file. A monitor that starts adopts the folders of dead monitors (never a
 * live one's) and retries their tasks with the attempt count kept, or fails them on purpose once
 * {@code max_attempts} is used up; a task whose response was already written is only archived.
 *
 * <p><b>Throughput.</b> The worker's own path per task is: claim (durable), run, hand over. Writing
 * the durable response, archiving and publishing the final event is done by {@link TaskCompletions}
 * on a second thread while the worker already runs the next task; events and counters still follow
 * durability. When several tasks wait in the inbox the worker claims up to {@value #CLAIM_AHEAD} of
 * them in one batch that shares one fsync of each folder, still durably before any of them starts;
 * tasks claimed ahead run in priority-then-age order, after any better task that arrives meanwhile,
 * and are not run while the inbox is paused. When the worker takes a task claimed ahead that leaves
 * {@value #CLAIM_REFILL_AT} or fewer held and more wait, it claims the next batch at once and lets
 * {@link ClaimCommits} make it durable while the held tasks run, so the folder fsyncs of a claim
 * overlap agents' turns instead of delaying the next one (two turns rather than one: a folder fsync
 * on a busy disk can take longer than one short turn); a task of that batch still waits for the
 * batch to be durable before it starts. So with a backlog at most {@value #CLAIM_AHEAD} +
 * {@value #CLAIM_REFILL_AT} tasks wait claimed besides the running one. A clean close
 * records them as not started, so the next monitor does not count an attempt for them; after a
 * crash they count as attempt 1, like any task claimed without a state file.
 *
 * <p><b>Disk trouble.</b> A start that cannot be recorded puts its claims back into the inbox
 * ({@link TaskStarts}); a response that cannot be written is kept and retried ({@link
 * PendingResponses}); meanwhile no task starts and {@link #degradedReason()} says why.
 *
 * <p><b>Bad input</b> (empty, binary, invalid UTF-8, over {@code max_task_bytes}, unreadable front
 * matter, a symbolic link, a folder, a name without {@code .md}) and a prompt matching a deny pattern
 * of the profile are claimed like any task and get a
 * {@code rejected} response naming the reason; it is archived and the monitor goes on. Names
 * starting with {@code .} are in-progress temp files of writers and are not tasks.
 */
public final class TaskQueueMonitor implements AutoCloseable {
    /** Period of the safety-net rescan of the inbox. */
    public static final long RESCAN_INTERVAL_MS = 2000;
    private static final Logger log = LoggerFactory.getLogger(TaskQueueMonitor.class);
    private static final Duration CLOSE_WAIT = Duration.ofSeconds(30);
    /**
     * Most tasks claimed in one batch when several wait. Small: claimed tasks are out of reach of
     * the other monitors of the inbox, and after a crash each counts as one attempt.
     */
    static final int CLAIM_AHEAD = 4;
    /** Held tasks left when the next batch is claimed in the background (see the class comment). */
    static final int CLAIM_REFILL_AT = 2;

    private final String botId;
    private final HiveLayout layout;
    private final Profile profile;
    private final TaskExecutor executor;
    private final TaskEventListener listener;
    private final TaskFileParser parser;
    private final DenyPatterns denyPatterns;
    private final ResponseFiles responses;
    private final ClaimedTasks claims;
    private final TaskStarts starts;
    private final Path inbox;
    private final Path pauseFile;

    private final Object wakeLock = new Object();
    private boolean wake;
    private final Object interruptLock = new Object();
    private boolean inExecutor;
    private volatile boolean closed;
    private volatile boolean started;
    private volatile boolean rescanRequested = true;
    /**
     * Set by the watch thread when anything changed in the controls folder (and at start): the
     * worker then looks at the pause file again, as it does in every step that found new inbox
     * files (by event or rescan). Otherwise it goes by what it saw last, so a backlog does not
     * cost a {@code stat} (and, on JDK 17, a thrown exception) per task. So a pause file created
     * before a task arrived is always seen before that task can be taken; a pause that comes while
     * the worker is about to take a task it already knew may let that one task start, as a pause
     * between the look and the claim always could.
     */
    private volatile boolean controlsChanged = true;
    private volatile String currentTaskId;
    private volatile int queued;
    /** Inbox changes from the watch thread, in event order. */
    private final ConcurrentLinkedQueue<InboxChange> arrivals = new ConcurrentLinkedQueue<>();

    // Worker-thread state.
    private final Map<String, Candidate> candidates = new HashMap<>();
    private final TreeSet<Candidate> order = new TreeSet<>(Candidate.ORDER);
    private final Deque<ClaimedTasks.Claim> adopted = new ArrayDeque<>();
    private final TreeSet<Held> held = new TreeSet<>(Held.ORDER);
    private long lastRescanNanos;
    private boolean paused;
    private boolean wasPaused;

    private WatchService watcher;
    private WatchKey inboxKey;
    private Thread watchThread;
    private Thread worker;
    private volatile TaskCompletions completions;
    private ClaimCommits claimCommits;

    /**
     * @param botId    the bot whose inbox this runs
     * @param layout   the hive
     * @param config   limits ({@code max_task_bytes})
     * @param profile  timeout, attempts and backoff
     * @param executor runs one attempt of a task
     * @param listener receives every transition
     */
    public TaskQueueMonitor(String botId, HiveLayout layout, DeiaConfig config, Profile profile, TaskExecutor executor,
                            TaskEventListener listener) {
        this.botId = BotIds.requireValid(botId);
        this.layout = layout;
        this.profile = java.util.Objects.requireNonNull(profile, "profile");
        this.executor = java.util.Objects.requireNonNull(executor, "executor");
        this.listener = listener == null ? TaskEventListener.NONE : listener;
        this.parser = new TaskFileParser(config.maxTaskBytes());
        this.denyPatterns = DenyPatterns.of(profile);
        this.responses = new ResponseFiles(layout);
        this.claims = new ClaimedTasks(botId, layout);
        this.starts = new TaskStarts(botId, claims);
        this.inbox = layout.inboxDir(botId);
        this.pauseFile = layout.pauseFile(botId);
    }

    /**
     * Creates the folders, registers the watches and starts the worker. Tasks left claimed by a
     * dead monitor are adopted by the worker before it takes anything new.
     *
     * @throws DeiaException when the folders cannot be created or watched
     */
    public synchronized void start() {
        if (started) {
            throw DeiaException.conflict("task monitor of %s already started", botId);
        }
        try {
            // Each folder is checked (a real folder of ours, no link) before anything is read from or
            // moved into it: a linked inbox would feed files from elsewhere to the agent as prompts.
            HiveGuard.dir(layout, inbox);
            HiveGuard.dir(layout, layout.controlsDir());
            HiveGuard.dir(layout, layout.responsesDir(botId));
            HiveGuard.dir(layout, layout.archiveDir(botId));
            claims.open();
            watcher = inbox.getFileSystem().newWatchService();
            inboxKey = registerInbox();
            layout.controlsDir().register(watcher, StandardWatchEventKinds.ENTRY_CREATE, StandardWatchEventKinds.ENTRY_DELETE);
        } catch (IOException e) {
            claims.close(true);
            throw DeiaException.io("cannot watch", inbox, e);
        }
        started = true;
        completions = new TaskCompletions(botId, layout, responses, claims, listener, () -> queued > 0);
        completions.start();
        claimCommits = new ClaimCommits(botId);
        watchThread = new Thread(this::watchLoop, "deia-task-watch-" + botId);
        watchThread.setDaemon(true);
        worker = new Thread(this::workLoop, "deia-task-worker-" + botId);
        watchThread.start();
        worker.start();
        log.info("[{}] task monitor started on {} (owner {})", botId, inbox, claims.ownerName());
    }

    /**
     * Stops taking tasks and waits for the worker. A task whose turn is running is interrupted; if
     * it does not reach a final outcome it stays claimed and is retried by the next monitor.
     */
    @Override
    public void close() {
        Thread w;
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            w = worker;
        }
        signal();
        synchronized (interruptLock) {
            if (inExecutor && w != null) {
                w.interrupt();
            }
        }
        try {
            if (watcher != null) {
                watcher.close();
            }
        } catch (IOException e) {
            log.debug("[{}] closing the watch service: {}", botId, e.toString());
        }
        // From the completion thread (a listener closing the monitor) there is no waiting: the
        // worker's exit drains that very thread.
        if (w != null && w != Thread.currentThread() && !completions.isCompletionThread()) {
            try {
                w.join(CLOSE_WAIT.toMillis());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            if (w.isAlive()) {
                log.warn("[{}] task worker still busy {} s after close; its claim stays owned until it ends", botId,
                        CLOSE_WAIT.toSeconds());
            }
        }
        log.info("[{}] task monitor closed", botId);
    }

    /** Tasks waiting in the inbox or claimed and not finished, as this monitor knows them. */
    public int pendingCount() {
        TaskCompletions c = completions;
        return queued + (currentTaskId != null ? 1 : 0) + (c == null ? 0 : c.pending());
    }

    /**
     * Why the inbox cannot work normally now (task starts or responses cannot be written, see
     * {@link TaskStarts} and {@link PendingResponses}), or null when it can.
     */
    public String degradedReason() {
        String start = starts.reason();
        TaskCompletions c = completions;
        String response = c == null ? null : c.degradedReason();
        if (start == null) {
            return response;
        }
        return response == null ? start : start + "; " + response;
    }

    /** The task being worked on, or null when idle. */
    public String currentTaskId() {
        return currentTaskId;
    }

    /** True while the pause file exists. */
    public boolean isPaused() {
        return Files.exists(pauseFile, LinkOption.NOFOLLOW_LINKS);
    }

    // ---------------------------------------------------------------- watching

    private WatchKey registerInbox() throws IOException {
        return inbox.register(watcher, StandardWatchEventKinds.ENTRY_CREATE, StandardWatchEventKinds.ENTRY_DELETE);
    }

    private void watchLoop() {
        try {
            while (!closed) {
                WatchKey key = watcher.take();
                for (WatchEvent<?> event : key.pollEvents()) {
                    if (event.kind() == StandardWatchEventKinds.OVERFLOW) {
                        rescanRequested = true;
                    } else if (key == inboxKey && event.context() instanceof Path name) {
                        arrivals.add(new InboxChange(name.toString(), event.kind() == StandardWatchEventKinds.ENTRY_CREATE));
                    } else if (key != inboxKey) {
                        controlsChanged = true;
                    }
                }
                if (!key.reset() && key == inboxKey) {
                    // The inbox folder was removed; the worker recreates and re-registers it.
                    rescanRequested = true;
                }
                signal();
            }
        } catch (ClosedWatchServiceException | InterruptedException e) {
            // closing
        }
    }

    private void signal() {
        synchronized (wakeLock) {
            wake = true;
            wakeLock.notifyAll();
        }
    }

    private void awaitWake(long millis) {
        synchronized (wakeLock) {
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
            while (!wake && !closed) {
                long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
                if (left <= 0) {
                    break;
                }
                try {
                    wakeLock.wait(left);
                } catch (InterruptedException e) {
                    return;
                }
            }
            wake = false;
        }
    }

    // ---------------------------------------------------------------- the worker

    private void workLoop() {
        boolean clean = false;
        try {
            adopted.addAll(claims.adoptDead());
            cleanStaleTempFiles();
            while (!closed) {
                try {
                    step();
                } catch (RuntimeException e) {
                    // A failing disk or a surprise must not end the inbox; the next scan retries.
                    log.error("[{}] task monitor step failed; retrying after a rescan", botId, e);
                    rescanRequested = true;
                    awaitWake(RESCAN_INTERVAL_MS);
                }
            }
            clean = true;
        } catch (RuntimeException e) {
            log.error("[{}] task monitor could not start its worker", botId, e);
        } finally {
            currentTaskId = null;
            // Claims being made durable finish first: the tasks claimed ahead are then recorded as such.
            claimCommits.close();
            // Every finished task gets its durable response and archive before the claim folder goes.
            completions.close();
            releaseHeld();
            claims.close(clean);
        }
    }

    /** Tasks claimed ahead and not started: recorded as such for the monitor that adopts them. */
    private void releaseHeld() {
        held.removeIf(h -> !isDurable(h));
        for (Held h : held) {
            try {
                claims.recordNotStarted(h.claim);
            } catch (RuntimeException e) {
                log.warn("[{}] cannot record {} as not started; it counts as one attempt when adopted: {}", botId,
                        h.claim.originalName, e.toString());
            }
        }
        if (!held.isEmpty()) {
            log.info("[{}] {} task(s) claimed ahead stay claimed, not started, for the next monitor", botId, held.size());
        }
        held.clear();
    }

    private void step() {
        InboxChange change;
        boolean found = false;
        while ((change = arrivals.poll()) != null) {
            if (change.created) {
                discover(change.name);
                found = true;
            } else {
                // Gone (claimed, by this monitor or another): nothing to look at on disk. Every
                // task this monitor claims leaves such an event, so it must cost no stat.
                forget(change.name);
            }
        }
        if (rescanRequested || System.nanoTime() - lastRescanNanos >= TimeUnit.MILLISECONDS.toNanos(RESCAN_INTERVAL_MS)) {
            rescan();
            found = true;
        }
        queued = order.size() + adopted.size() + held.size();
        if (controlsChanged || found) {
            // Cleared before the look, so a change during it is looked at again next step.
            controlsChanged = false;
            paused = isPaused();
        }
        if (paused != wasPaused) {
            log.info("[{}] task inbox {}", botId, paused ? "paused: no new task is taken" : "resumed");
            wasPaused = paused;
        }
        long blocked = starts.millisBlocked();
        if (blocked == 0 && completions.degradedReason() != null) {
            // Responses wait for the disk: a new turn's result could not be stored either, so
            // none starts (the kept results stay few) until they are written.
            blocked = PendingResponses.FIRST_RETRY_MS;
        }
        if (!paused && blocked > 0) {
            // A start mark could not be written: wait before claiming again (see TaskStarts).
            awaitWake(blocked);
            return;
        }
        if (!paused) {
            ClaimedTasks.Claim next = adopted.poll();
            if (next == null) {
                next = claimNext();
            }
            if (next != null) {
                process(next);
                return;
            }
        }
        long sinceRescan = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - lastRescanNanos);
        awaitWake(Math.max(1, RESCAN_INTERVAL_MS - sinceRescan));
    }

    private void rescan() {
        rescanRequested = false;
        lastRescanNanos = System.nanoTime();
        try {
            if (inboxKey == null || !inboxKey.isValid()) {
                HiveGuard.dir(layout, inbox);
                inboxKey = registerInbox();
            }
        } catch (IOException | ClosedWatchServiceException e) {
            log.warn("[{}] cannot watch {}: {}", botId, inbox, e.toString());
        }
        Set<String> present = new HashSet<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(inbox)) {
            for (Path p : ds) {
                present.add(p.getFileName().toString());
            }
        } catch (IOException e) {
            throw DeiaException.io("cannot list", inbox, e);
        }
        for (String known : List.copyOf(candidates.keySet())) {
            if (!present.contains(known)) {
                forget(known);
            }
        }
        for (String n : present) {
            if (!candidates.containsKey(n)) {
                discover(n);
            }
        }
        // Monitors that died while this one runs leave claims behind: take them over too.
        adopted.addAll(claims.adoptDead());
    }

    private void discover(String name) {
        if (name.startsWith(".")) {
            return;
        }
        Path file = inbox.resolve(name);
        BasicFileAttributes attrs;
        try {
            attrs = Files.readAttributes(file, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        } catch (IOException e) {
            forget(name);
            return;
        }
        if (candidates.containsKey(name)) {
            return;
        }
        int priority = Task.DEFAULT_PRIORITY;
        Instant created = attrs.lastModifiedTime().toInstant();
        if (attrs.isRegularFile()) {
            try {
                Task t = parser.parse(file, name);
                priority = t.priority();
                created = t.createdAt() == null ? created : t.createdAt();
            } catch (TaskFileException e) {
                // Rejected once claimed; ordered as a default-priority task meanwhile.
            }
        }
        Candidate c = new Candidate(name, priority, created);
        candidates.put(name, c);
        order.add(c);
    }

    private void forget(String name) {
        Candidate c = candidates.remove(name);
        if (c != null) {
            order.remove(c);
        }
    }

    /**
     * The next task to run: a task claimed ahead, unless the inbox holds a better one (a higher
     * priority that arrived meanwhile), which is claimed first.
     */
    private ClaimedTasks.Claim claimNext() {
        while (!closed) {
            Held first = held.isEmpty() ? null : held.first();
            Candidate best = order.isEmpty() ? null : order.first();
            if (first != null && (best == null || Candidate.ORDER.compare(first.candidate, best) <= 0)) {
                held.pollFirst();
                if (!isDurable(first)) {
                    held.removeIf(h -> h.durable == first.durable);
                    continue;
                }
                if (held.size() <= CLAIM_REFILL_AT && !order.isEmpty()) {
                    // The next batch becomes durable while this task and the held ones run.
                    claimBatch(true);
                }
                return first.claim;
            }
            if (best == null) {
                return null;
            }
            claimBatch(false);
        }
        return null;
    }

    /**
     * Waits until the batch of a task claimed ahead is durable.
     *
     * @return false when its commit failed: the batch's tasks stay in this monitor's folder, not
     * run, and the next start adopts them (as when a commit on the worker fails)
     */
    private boolean isDurable(Held h) {
        if (h.durable == null) {
            return true;
        }
        try {
            h.durable.join();
            return true;
        } catch (CompletionException | CancellationException e) {
            log.warn("[{}] cannot make the claim of {} durable; it stays claimed for the next start: {}", botId,
                    h.claim.originalName, e.getCause() == null ? e.toString() : e.getCause().toString());
            rescanRequested = true;
            return false;
        }
    }

    /**
     * Claims the best inbox task and, when more wait, up to {@value #CLAIM_AHEAD} in all, in one
     * group commit: each claim is its own atomic rename (exactly one monitor wins each file), and
     * one fsync of the claim folder and of the inbox makes all of them durable before any runs.
     *
     * @param background commit on {@link ClaimCommits} (the tasks are held with the pending
     *                   commit, see {@link #isDurable}) rather than here
     */
    private void claimBatch(boolean background) {
        int tries = Math.min(CLAIM_AHEAD, order.size());
        GroupCommit batch = new GroupCommit();
        List<Held> got = new java.util.ArrayList<>(tries);
        for (int i = 0; i < tries && !order.isEmpty(); i++) {
            Candidate c = order.pollFirst();
            candidates.remove(c.name);
            try {
                Optional<ClaimedTasks.Claim> claim = claims.claim(c.name, batch);
                if (claim.isPresent()) {
                    got.add(new Held(c, claim.get(), null));
                } else {
                    log.debug("[{}] {} was taken by another monitor", botId, LogSafe.printable(c.name));
                }
            } catch (IOException | RuntimeException e) {
                log.warn("[{}] cannot claim {}: {}", botId, LogSafe.printable(c.name), LogSafe.printable(e.toString()));
                rescanRequested = true;
            }
        }
        if (background && !got.isEmpty()) {
            CompletableFuture<Void> durable = claimCommits.commit(batch);
            for (Held h : got) {
                held.add(new Held(h.candidate, h.claim, durable));
            }
            return;
        }
        try {
            batch.commit();
        } catch (IOException e) {
            // Not durable, so not run: they stay in this monitor's folder and the next start adopts them.
            log.warn("[{}] cannot make {} claim(s) durable: {}", botId, got.size(), e.toString());
            rescanRequested = true;
            return;
        }
        held.addAll(got);
    }

    private void process(ClaimedTasks.Claim claim) {
        Task task = null;
        TaskFileException refused = null;
        try {
            task = parser.parse(claim.file, claim.originalName);
            // Every task reaches the agent through here, however it entered the inbox (API, CLI, a file).
            Optional<String> denied = denyPatterns.refusal("task " + task.taskId(), task.prompt());
            if (denied.isPresent()) {
                refused = new TaskFileException(TaskFileException.Reason.DENIED, denied.get());
            }
        } catch (TaskFileException e) {
            refused = e;
        }
        String taskId = task != null ? task.taskId() : TaskIds.fromFileName(claim.originalName);
        currentTaskId = taskId;
        try {
            if (claim.recovered) {
                Optional<Path> answered = responses.findByClaim(botId, taskId, claim.key);
                if (answered.isPresent()) {
                    log.info("[{}] task {} already has its response {}; archiving it", botId, taskId, answered.get().getFileName());
                    completions.submit(TaskCompletions.Item.answered(claim, answered.get()));
                    return;
                }
            }
            log.info("[{}] claimed task {} ({}{})", botId, taskId, LogSafe.printable(claim.originalName),
                    claim.recovered ? ", recovered after " + claim.attempts + " attempt(s)" : "");
            emit(taskId, TaskEvent.CLAIMED, null, claim.attempts, null);
            if (refused != null) {
                reject(claim, taskId, refused);
            } else {
                run(claim, task);
            }
        } finally {
            currentTaskId = null;
        }
    }

    private void reject(ClaimedTasks.Claim claim, String taskId, TaskFileException why) {
        Instant now = Instant.now();
        TaskResponse r = new TaskResponse(taskId, botId, TaskStatus.REJECTED, claim.attempts, now, now, 0, null,
                profile.agent().id(), null, null, null, null, "", why.getMessage());
        // The completion stage writes the response, archives, then logs and publishes "rejected".
        completions.submit(TaskCompletions.Item.finished(claim, r, TaskEvent.REJECTED));
    }

    private void run(ClaimedTasks.Claim claim, Task task) {
        int max = profile.maxAttempts();
        Duration timeout = task.timeout() != null ? task.timeout() : profile.timeout();
        Instant firstStart = null;
        TurnResult result = null;
        int attempt = claim.attempts;
        String lastError = null;
        while (true) {
            if (attempt >= max) {
                String why = result == null
                        ? "attempt " + attempt + " of " + max + " was cut short (the bot stopped or crashed while running it); "
                        + "no attempt is left" + (lastError == null ? "" : "; last error: " + lastError)
                        : null;
                finish(claim, task.taskId(), result, attempt, firstStart == null ? Instant.now() : firstStart, why);
                return;
            }
            attempt++;
            if (!starts.begin(claim, attempt)) {
                startFailed(claim);
                return;
            }
            emit(task.taskId(), TaskEvent.STARTED, null, attempt, null);
            log.info("[{}] task {} attempt {}/{} started (timeout {} s)", botId, task.taskId(), attempt, max, timeout.toSeconds());
            Instant start = Instant.now();
            if (firstStart == null) {
                firstStart = start;
            }
            result = execute(task, attempt, timeout, start);
            if (closed && result.status() == TurnStatus.INTERRUPTED) {
                log.info("[{}] task {} interrupted by shutdown; it stays claimed and is retried on restart", botId, task.taskId());
                return;
            }
            if (result.status() == TurnStatus.COMPLETED || result.status() == TurnStatus.INTERRUPTED || attempt >= max) {
                finish(claim, task.taskId(), result, attempt, firstStart, null);
                return;
            }
            lastError = result.error();
            long backoff = profile.retryBackoffMs() * (1L << Math.min(20, attempt - 1));
            log.warn("[{}] task {} attempt {}/{} {}: {}; retrying in {} ms", botId, task.taskId(), attempt, max,
                    result.status().id(), LogSafe.printable(result.error(), 2000), backoff);
            emit(task.taskId(), TaskEvent.RETRYING, null, attempt, result.error());
            if (!backoff(backoff)) {
                log.info("[{}] task {} left claimed for the next start (closing during backoff)", botId, task.taskId());
                return;
            }
        }
    }

    /**
     * A start that could not be recorded: the claim goes back to the inbox with the tasks claimed
     * ahead (see {@link TaskStarts}), so none waits stranded in the claimed folder. One that had run
     * before (its count must be kept), or that cannot be renamed back (a read-only disk), stays ours
     * and is tried again after the wait.
     */
    private void startFailed(ClaimedTasks.Claim claim) {
        if (claim.attempts > 0 || !starts.putBack(claim)) {
            adopted.addFirst(claim);
        }
        for (Held h : held) {
            // Waits for its batch's commit to end; durable or not, the task is in our folder.
            isDurable(h);
            if (!starts.putBack(h.claim)) {
                adopted.addLast(h.claim);
            }
        }
        held.clear();
        rescanRequested = true;
    }

    private TurnResult execute(Task task, int attempt, Duration timeout, Instant start) {
        synchronized (interruptLock) {
            if (closed) {
                return new TurnResult(TurnStatus.INTERRUPTED, "", null, null, null, null, 0, null, "monitor closing");
            }
            inExecutor = true;
        }
        try {
            TurnResult r = executor.execute(task, attempt, timeout, AgentEventListener.NONE);
            if (r == null) {
                return TurnResult.failed("the executor returned no result", elapsed(start), null);
            }
            return r;
        } catch (RuntimeException e) {
            if (closed) {
                return new TurnResult(TurnStatus.INTERRUPTED, "", null, null, null, null, elapsed(start), null, e.toString());
            }
            return TurnResult.failed("executor failed: " + e, elapsed(start), null);
        } finally {
            synchronized (interruptLock) {
                inExecutor = false;
                Thread.interrupted();
            }
        }
    }

    private boolean backoff(long millis) {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
        synchronized (wakeLock) {
            while (!closed) {
                long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
                if (left <= 0) {
                    return true;
                }
                try {
                    wakeLock.wait(left);
                } catch (InterruptedException e) {
                    return false;
                }
            }
        }
        return false;
    }

    private void finish(ClaimedTasks.Claim claim, String taskId, TurnResult result, int attempt, Instant started, String gaveUp) {
        Instant finished = Instant.now();
        TaskStatus status;
        TaskResponse r;
        if (result == null) {
            status = TaskStatus.FAILED;
            r = new TaskResponse(taskId, botId, status, attempt, started, finished, 0, null, profile.agent().id(),
                    null, null, null, null, "", gaveUp);
        } else {
            status = switch (result.status()) {
                case COMPLETED -> TaskStatus.COMPLETED;
                case FAILED -> TaskStatus.FAILED;
                case TIMEOUT -> TaskStatus.TIMEOUT;
                case INTERRUPTED -> TaskStatus.INTERRUPTED;
            };
            String error = result.error();
            if (error == null && status != TaskStatus.COMPLETED) {
                error = "the turn ended with status " + result.status().id()
                        + (result.exitCode() == null ? "" : " (exit code " + result.exitCode() + ")");
            }
            r = new TaskResponse(taskId, botId, status, attempt, started, finished,
                    Duration.between(started, finished).toMillis(), result.exitCode(), profile.agent().id(),
                    result.costUsd(), result.inputTokens(), result.outputTokens(), result.sessionId(), result.text(), error);
        }
        String event = status == TaskStatus.COMPLETED ? TaskEvent.COMPLETED : TaskEvent.FAILED;
        // Handed over: the response and archive are made durable, then the event published, on the
        // completion thread while this worker goes on with the next task.
        completions.submit(TaskCompletions.Item.finished(claim, r, event));
    }

    private void emit(String taskId, String event, TaskStatus status, int attempt, String error) {
        try {
            listener.onTaskEvent(new TaskEvent(botId, taskId, event, status, attempt, error));
        } catch (RuntimeException e) {
            log.warn("[{}] task event listener failed on {} {}: {}", botId, event, taskId, e.toString());
        }
    }

    /**
     * Removes temp files a killed writer left in this bot's response folder, only when no other
     * monitor of the bot is alive (a live one may be writing there right now).
     */
    private void cleanStaleTempFiles() {
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(layout.claimedDir(botId))) {
            for (Path owner : ds) {
                String n = owner.getFileName().toString();
                if (!n.equals(claims.ownerName()) && ClaimedTasks.isAlive(n)) {
                    return;
                }
            }
        } catch (IOException e) {
            return;
        }
        int removed = AtomicFiles.cleanTempFiles(layout.responsesDir(botId)) + AtomicFiles.cleanTempFiles(layout.archiveDir(botId));
        if (removed > 0) {
            log.info("[{}] removed {} temp file(s) left by a crashed writer", botId, removed);
        }
    }

    private static long elapsed(Instant start) {
        return Duration.between(start, Instant.now()).toMillis();
    }

    /**
     * A task claimed ahead, waiting for its turn; ordered like the inbox candidates. {@code durable}
     * is its batch's background commit, or null when the batch was committed before it was held.
     */
    private record Held(Candidate candidate, ClaimedTasks.Claim claim, CompletableFuture<Void> durable) {
        static final Comparator<Held> ORDER = (a, b) -> {
            int c = Candidate.ORDER.compare(a.candidate, b.candidate);
            return c != 0 ? c : Long.compare(a.claim.seq, b.claim.seq);
        };
    }

    /** A name that appeared in ({@code created}) or left the inbox. */
    private record InboxChange(String name, boolean created) {
    }

    /** An inbox file waiting to be claimed. */
    private record Candidate(String name, int priority, Instant created) {
        // Priority, then age, then name; written out rather than chained from Comparator's
        // combinators: with the nested lambdas, TreeMap insertions were among the largest JIT
        // compilations of the queue's per-task code (docs/benchmarks.md, session 4).
        static final Comparator<Candidate> ORDER = (a, b) -> {
            int c = Integer.compare(a.priority, b.priority);
            if (c == 0) {
                c = a.created.compareTo(b.created);
            }
            return c != 0 ? c : a.name.compareTo(b.name);
        };
    }
}
