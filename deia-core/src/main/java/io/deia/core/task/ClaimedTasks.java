package io.deia.core.task;

import io.deia.core.DeiaException;
import io.deia.core.HiveLayout;
import io.deia.core.internal.HiveGuard;
import io.deia.core.internal.io.AtomicFiles;
import io.deia.core.internal.io.Json;
import io.deia.core.internal.io.LogSafe;
import io.deia.core.internal.process.ProcessTrees;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The claimed side of one monitor: the owner folder it claims into, and adoption of the claims of
 * monitors that died. Every step is one atomic rename, so a task is in exactly one place at every
 * instant and a crash between any two steps loses nothing.
 *
 * <pre>
 * hive/claimed/&lt;BOT-ID&gt;/
 *   o-&lt;pid&gt;-&lt;start-ms&gt;-&lt;monitor&gt;/           one folder per live (or dead) monitor = the owner
 *     t&lt;seq&gt;~&lt;original name&gt;               a claimed task, renamed in whole from the inbox
 *     s&lt;seq&gt;.json                          its state: original name, attempts started, claim key
 *     started.log                          one line "&lt;seq&gt; &lt;n&gt;" per attempt n started, appended
 *     closed                               written when the monitor closes
 *     r&lt;n&gt;~&lt;dead owner folder&gt;/            a dead monitor's folder while it is being adopted
 * </pre>
 *
 * <ul>
 *   <li>Claim: rename {@code tasks/<BOT>/<name>} to {@code <owner>/t<seq>~<name>}, durably. Of
 *       several monitors renaming the same file exactly one succeeds; the others get
 *       {@link NoSuchFileException}. Before attempt n starts, the line {@code <seq> <n>} is appended
 *       to the owner folder's {@code started.log} ({@link StartedLog}); the attempts a task has
 *       made are the highest n logged for it, or the state file's count when that is higher. The
 *       log is not fsynced: it must only outlive a killed process (that is when a task is
 *       retried), and after a power cut no agent runs on, so at worst an attempt goes uncounted.
 *       Its claim key is {@code <owner>/<seq>}.</li>
 *   <li>Owner alive: the pid runs with the recorded start instant and, when it is this JVM, the
 *       folder has no {@code closed} mark. A monitor writes that mark when it closes (its folder is
 *       removed too when no task is left in it), so the next monitor of the bot in the same JVM (a bot restarted in
 *       process) adopts them, while another monitor still open in this JVM is never adopted from.
 *       Only dead owners' folders are adopted, so a live monitor's in-flight task is never taken.</li>
 *   <li>Adopt: rename the dead folder whole to {@code <me>/r<n>~<dead folder>} (one winner), then for
 *       each task in it write {@code <me>/s<new>.json} (attempts, original name, claim key kept)
 *       and rename the task to {@code <me>/t<new>~<name>}; then delete the emptied folder.</li>
 * </ul>
 */
final class ClaimedTasks {
    private static final Logger log = LoggerFactory.getLogger(ClaimedTasks.class);
    private static final Pattern OWNER = Pattern.compile("^o-(\\d+)-(\\d+)-([0-9a-f]+)$");
    private static final Pattern TASK = Pattern.compile("^t(\\d+)~(.*)$", Pattern.DOTALL);
    private static final Pattern ADOPTED = Pattern.compile("^r(\\d+)~(.*)$");
    private static final int MAX_NAME_BYTES = 255;

    /** The mark of a closed monitor's folder (see the class comment). */
    private static final String CLOSED = "closed";
    private static final long MY_PID = ProcessHandle.current().pid();
    private static final Instant MY_START = ProcessHandle.current().info().startInstant().orElse(Instant.EPOCH);

    private final String botId;
    private final HiveLayout layout;
    private final Path root;
    private final Path inbox;
    private final Path mine;
    private final StartedLog started;
    private long seq;
    private int adoptions;

    /** A task claimed by this monitor. */
    static final class Claim {
        final Path file;
        final long seq;
        final String originalName;
        final String key;
        int attempts;
        final boolean recovered;

        Claim(Path file, long seq, String originalName, String key, int attempts, boolean recovered) {
            this.file = file;
            this.seq = seq;
            this.originalName = originalName;
            this.key = key;
            this.attempts = attempts;
            this.recovered = recovered;
        }
    }

    /** The state file's content. */
    record State(String originalName, int attempt, String claim) {
    }

    ClaimedTasks(String botId, HiveLayout layout) {
        this.botId = botId;
        this.layout = layout;
        this.root = layout.claimedDir(botId);
        this.inbox = layout.inboxDir(botId);
        String owner = "o-" + MY_PID + "-" + MY_START.toEpochMilli() + "-"
                + String.format("%08x", ThreadLocalRandom.current().nextInt());
        this.mine = root.resolve(owner);
        this.started = new StartedLog(botId, mine.resolve(StartedLog.FILE));
    }

    /** Creates this monitor's owner folder. */
    void open() {
        try {
            HiveGuard.dir(layout, mine);
            AtomicFiles.fsyncDirectory(root);
        } catch (IOException e) {
            throw DeiaException.io("cannot create", mine, e);
        }
    }

    /** Marks this monitor's folder closed (see the class comment); removes it when it holds no task. */
    void close(boolean removeFolderIfEmpty) {
        started.close();
        try {
            Files.createFile(mine.resolve(CLOSED));
        } catch (FileAlreadyExistsException | NoSuchFileException e) {
            // Closed before, or never opened.
        } catch (IOException e) {
            log.warn("[{}] cannot mark {} closed; its tasks are adopted once this process ends: {}", botId, mine, e.toString());
        }
        if (removeFolderIfEmpty && listTasks(mine).isEmpty()) {
            deleteTree(mine);
        }
    }

    String ownerName() {
        return mine.getFileName().toString();
    }

    /**
     * Claims {@code name} from the inbox: one rename, durable when this returns.
     *
     * @return the claim, or empty when another monitor took it first or it is gone
     */
    Optional<Claim> claim(String name) throws IOException {
        long s = ++seq;
        String claimName = claimFileName(s, name);
        String key = ownerName() + "/" + s;
        boolean needsState = !claimName.equals("t" + s + "~" + name);
        if (needsState) {
            writeState(s, new State(name, 0, key));
        }
        Path target = mine.resolve(claimName);
        try {
            AtomicFiles.move(inbox.resolve(name), target);
        } catch (NoSuchFileException e) {
            if (needsState) {
                Files.deleteIfExists(stateFile(mine, s));
            }
            return Optional.empty();
        }
        return Optional.of(new Claim(target, s, name, key, 0, false));
    }

    /**
     * Records that attempt {@code attempt} starts, before it starts.
     *
     * @throws DeiaException when neither the log nor the state file can be written (a full or
     *                       read-only disk); the claim's count is then unchanged and the attempt
     *                       must not run
     */
    void recordAttempt(Claim c, int attempt) {
        try {
            started.append(c.seq, attempt);
            c.attempts = attempt;
            return;
        } catch (IOException e) {
            log.warn("[{}] cannot log attempt {} of task {} as started ({}); recording it durably instead", botId,
                    attempt, c.originalName, e.toString());
        }
        writeState(c.seq, new State(c.originalName, attempt, c.key));
        c.attempts = attempt;
    }

    /**
     * Puts a claim that never started an attempt back into the inbox under its original name (or,
     * when that name was taken meanwhile, {@code <name>.<owner>-<seq>.md}), so a claim that cannot
     * start is not stranded in this monitor's folder. One rename: it needs no free space.
     *
     * @return where the task is now
     * @throws IOException when the rename fails (a read-only disk): the task stays claimed
     */
    Path putBack(Claim c) throws IOException {
        Path target = inbox.resolve(c.originalName);
        if (AtomicFiles.exists(target)) {
            target = inbox.resolve(TaskIds.fromFileName(c.originalName) + "." + ownerName() + "-" + c.seq + ".md");
        }
        AtomicFiles.move(c.file, target);
        try {
            dropState(c);
        } catch (IOException e) {
            log.warn("[{}] cannot delete the claim state of {}: {}", botId, c.originalName, e.toString());
        }
        return target;
    }

    /** Moves a finished task to the archive under {@code archiveName} (durably) and drops its state. */
    Path archive(Claim c, Path archiveDir, String archiveName) throws IOException {
        Path target = archiveDir.resolve(archiveName);
        if (AtomicFiles.exists(target)) {
            target = archiveDir.resolve(archiveName + "." + ownerName() + "-" + c.seq);
        }
        AtomicFiles.move(c.file, target);
        dropState(c);
        return target;
    }

    /** Deletes the state of a task that left this monitor's folder. */
    void dropState(Claim c) throws IOException {
        started.forget(c.seq);
        Files.deleteIfExists(stateFile(mine, c.seq));
    }

    /**
     * Adopts the folders of dead owners (never a live monitor's).
     *
     * @return the tasks now claimed by this monitor, each with its attempt count kept
     */
    List<Claim> adoptDead() {
        List<Claim> adopted = new ArrayList<>();
        for (Path owner : list(root)) {
            String name = owner.getFileName().toString();
            if (owner.equals(mine) || AtomicFiles.isTempFile(owner) || isAlive(owner)) {
                continue;
            }
            Path target = mine.resolve("r" + (++adoptions) + "~" + name);
            try {
                AtomicFiles.move(owner, target);
            } catch (NoSuchFileException e) {
                continue;
            } catch (IOException e) {
                log.warn("[{}] cannot adopt claims of dead monitor {}: {}", botId, LogSafe.printable(name), LogSafe.printable(e.toString()));
                continue;
            }
            log.info("[{}] adopting the claims of dead monitor {}", botId, LogSafe.printable(name));
            flatten(target, name, adopted);
        }
        return adopted;
    }

    private void flatten(Path dir, String ownerName, List<Claim> out) {
        for (Path nested : list(dir)) {
            Matcher m = ADOPTED.matcher(nested.getFileName().toString());
            if (m.matches() && Files.isDirectory(nested, LinkOption.NOFOLLOW_LINKS)) {
                flatten(nested, m.group(2), out);
            }
        }
        Map<Long, Integer> logged = StartedLog.read(dir.resolve(StartedLog.FILE));
        for (Path task : listTasks(dir)) {
            Matcher m = TASK.matcher(task.getFileName().toString());
            if (!m.matches()) {
                continue;
            }
            long oldSeq = Long.parseLong(m.group(1));
            State old = readState(stateFile(dir, oldSeq));
            String original = old != null && old.originalName() != null ? old.originalName() : m.group(2);
            // Attempts made: the state file's count (written on adoption, or when the log could
            // not be appended to), raised by the attempts logged as started later.
            int attempts = Math.max(old != null ? Math.max(old.attempt(), 0) : 0, logged.getOrDefault(oldSeq, 0));
            String key = old != null && old.claim() != null ? old.claim() : ownerName + "/" + oldSeq;
            long s = ++seq;
            writeState(s, new State(original, attempts, key));
            Path target = mine.resolve(claimFileName(s, original));
            try {
                AtomicFiles.move(task, target);
            } catch (IOException e) {
                throw DeiaException.io("cannot adopt", task, e);
            }
            log.info("[{}] adopted task {} ({} attempt(s) made)", botId, LogSafe.printable(original), attempts);
            out.add(new Claim(target, s, original, key, attempts, true));
        }
        deleteTree(dir);
    }

    /** True when the owner folder belongs to a monitor that still runs (see the class comment). */
    static boolean isAlive(Path owner) {
        Matcher m = OWNER.matcher(owner.getFileName().toString());
        if (!m.matches()) {
            return false;
        }
        long pid = Long.parseLong(m.group(1));
        long startMs = Long.parseLong(m.group(2));
        if (pid == MY_PID && startMs == MY_START.toEpochMilli()) {
            return !Files.exists(owner.resolve(CLOSED), LinkOption.NOFOLLOW_LINKS);
        }
        return ProcessTrees.isSameProcessAlive(pid, Instant.ofEpochMilli(startMs));
    }

    /**
     * Every task claimed for a bot by any monitor: (original name, attempts so far, file).
     * A snapshot for listings; it races with claims and adoption by design.
     */
    static List<Listed> listAll(HiveLayout layout, String botId) {
        List<Listed> out = new ArrayList<>();
        collect(layout.claimedDir(botId), out);
        return out;
    }

    record Listed(Path file, String originalName, int attempts) {
    }

    private static void collect(Path dir, List<Listed> out) {
        for (Path p : list(dir)) {
            String n = p.getFileName().toString();
            Matcher t = TASK.matcher(n);
            if (t.matches() && !AtomicFiles.isTempFile(p)) {
                State st = readState(stateFile(dir, Long.parseLong(t.group(1))));
                out.add(new Listed(p, st != null && st.originalName() != null ? st.originalName() : t.group(2),
                        st != null ? Math.max(1, st.attempt()) : 1));
            } else if ((OWNER.matcher(n).matches() || ADOPTED.matcher(n).matches())
                    && Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
                collect(p, out);
            }
        }
    }

    private static String claimFileName(long s, String name) {
        String full = "t" + s + "~" + name;
        return full.getBytes(StandardCharsets.UTF_8).length <= MAX_NAME_BYTES ? full : "t" + s + "~";
    }

    private void writeState(long s, State state) {
        AtomicFiles.write(stateFile(mine, s), Json.write(state).getBytes(StandardCharsets.UTF_8));
    }

    private static Path stateFile(Path dir, long s) {
        return dir.resolve("s" + s + ".json");
    }

    private static State readState(Path file) {
        if (!Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS)) {
            return null;
        }
        try {
            return Json.read(AtomicFiles.readString(file), State.class, file.toString());
        } catch (DeiaException e) {
            log.warn("unreadable claim state {}: {}", file, e.getMessage());
            return null;
        }
    }

    private static List<Path> listTasks(Path dir) {
        return list(dir).stream().filter(p -> TASK.matcher(p.getFileName().toString()).matches()).toList();
    }

    private static List<Path> list(Path dir) {
        List<Path> out = new ArrayList<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
            ds.forEach(out::add);
        } catch (NoSuchFileException e) {
            return out;
        } catch (IOException e) {
            throw DeiaException.io("cannot list", dir, e);
        }
        out.sort(null);
        return out;
    }

    /** Deletes state files, temp files and empty adopted folders; never a task (there is none left). */
    private void deleteTree(Path dir) {
        for (Path p : list(dir)) {
            if (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
                deleteTree(p);
            } else {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException e) {
                    log.warn("[{}] cannot delete {}: {}", botId, p, e.toString());
                }
            }
        }
        try {
            Files.deleteIfExists(dir);
            AtomicFiles.fsyncDirectory(dir.getParent());
        } catch (IOException e) {
            log.warn("[{}] cannot delete {}: {}", botId, dir, e.toString());
        }
    }
}
