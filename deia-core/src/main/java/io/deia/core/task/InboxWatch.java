package io.deia.core.task;

import io.deia.core.DeiaException;
import io.deia.core.HiveLayout;
import io.deia.core.internal.HiveGuard;
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
import java.time.Instant;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;

/**
 * A bot's inbox as its monitor sees it: the task files waiting, in the order they are taken
 * (priority P0..P3, then {@code created_at} or the file's age, then name), and whether the pause
 * file exists.
 *
 * <p>A {@link WatchService} (inotify on Linux) reports files renamed into the inbox at once; the
 * monitor's worker waits on it ({@link #await}), so no thread of its own watches. A full rescan
 * runs at start, after an {@code OVERFLOW}, and every {@value #RESCAN_INTERVAL_MS} ms as a safety
 * net (for platforms whose watch service polls, and for events lost any other way). The controls
 * folder is watched too, so removing the pause file resumes at once.
 *
 * <p>Used by the worker thread only; {@link #close()} may come from any thread (it ends a wait).
 */
final class InboxWatch implements AutoCloseable {
    /** Period of the safety-net rescan of the inbox. */
    static final long RESCAN_INTERVAL_MS = 2000;
    private static final Logger log = LoggerFactory.getLogger(InboxWatch.class);

    private final String botId;
    private final HiveLayout layout;
    private final Path inbox;
    private final Path pauseFile;
    private final TaskFileParser parser;
    private final Map<String, Candidate> candidates = new HashMap<>();
    private final TreeSet<Candidate> order = new TreeSet<>(Candidate.ORDER);
    private WatchService watcher;
    private WatchKey inboxKey;
    private long lastRescanNanos;
    private boolean rescanRequested = true;
    private boolean paused;

    InboxWatch(String botId, HiveLayout layout, TaskFileParser parser) {
        this.botId = botId;
        this.layout = layout;
        this.inbox = layout.inboxDir(botId);
        this.pauseFile = layout.pauseFile(botId);
        this.parser = parser;
    }

    /** Registers the watches of the inbox and the controls folder. */
    void open() throws IOException {
        watcher = inbox.getFileSystem().newWatchService();
        inboxKey = registerInbox();
        layout.controlsDir().register(watcher, StandardWatchEventKinds.ENTRY_CREATE, StandardWatchEventKinds.ENTRY_DELETE);
    }

    /** Ends the watches; a worker waiting in {@link #await} returns. */
    @Override
    public void close() {
        try {
            if (watcher != null) {
                watcher.close();
            }
        } catch (IOException e) {
            log.debug("[{}] closing the watch service: {}", botId, e.toString());
        }
    }

    /** True while the pause file exists (asks the disk). */
    boolean isPaused() {
        return Files.exists(pauseFile, LinkOption.NOFOLLOW_LINKS);
    }

    /**
     * Takes in the changes reported so far without waiting, rescans when due, and looks at the pause
     * file.
     *
     * @return true when it rescanned (the caller then looks for claims of dead monitors too)
     */
    boolean refresh() {
        drain(poll(0));
        boolean rescan = rescanRequested || System.nanoTime() - lastRescanNanos >= TimeUnit.MILLISECONDS.toNanos(RESCAN_INTERVAL_MS);
        if (rescan) {
            rescan();
        }
        boolean now = isPaused();
        if (now != paused) {
            log.info("[{}] task inbox {}", botId, now ? "paused: no new task is taken" : "resumed");
        }
        paused = now;
        return rescan;
    }

    /** The pause file as last seen by {@link #refresh()}. */
    boolean paused() {
        return paused;
    }

    /** Tasks known to wait in the inbox. */
    int size() {
        return order.size();
    }

    /** Removes and returns the name of the best waiting task, or null when none waits. */
    String pollFirst() {
        Candidate c = order.pollFirst();
        if (c == null) {
            return null;
        }
        candidates.remove(c.name);
        return c.name;
    }

    /** Asks for a full rescan at the next {@link #refresh()} (after a failure, to see what is there). */
    void requestRescan() {
        rescanRequested = true;
    }

    /** Milliseconds until the next safety-net rescan is due (at least 1). */
    long millisToRescan() {
        return Math.max(1, RESCAN_INTERVAL_MS - TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - lastRescanNanos));
    }

    /** Waits up to {@code millis} for a change of the inbox or the controls folder, or {@link #close()}. */
    void await(long millis) {
        drain(poll(Math.max(1, millis)));
    }

    private WatchKey poll(long millis) {
        try {
            return millis == 0 ? watcher.poll() : watcher.poll(millis, TimeUnit.MILLISECONDS);
        } catch (ClosedWatchServiceException e) {
            return null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
    }

    private void drain(WatchKey key) {
        for (; key != null; key = poll(0)) {
            for (WatchEvent<?> event : key.pollEvents()) {
                if (event.kind() == StandardWatchEventKinds.OVERFLOW) {
                    rescanRequested = true;
                } else if (key == inboxKey && event.context() instanceof Path name) {
                    if (event.kind() == StandardWatchEventKinds.ENTRY_CREATE) {
                        discover(name.toString());
                    } else {
                        forget(name.toString());
                    }
                }
            }
            if (!key.reset() && key == inboxKey) {
                // The inbox was removed: the next rescan creates and registers it again.
                rescanRequested = true;
            }
        }
    }

    private WatchKey registerInbox() throws IOException {
        return inbox.register(watcher, StandardWatchEventKinds.ENTRY_CREATE, StandardWatchEventKinds.ENTRY_DELETE);
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

    /** An inbox file waiting to be claimed. */
    private record Candidate(String name, int priority, Instant created) {
        static final Comparator<Candidate> ORDER = Comparator.comparingInt(Candidate::priority)
                .thenComparing(Candidate::created).thenComparing(Candidate::name);
    }
}
