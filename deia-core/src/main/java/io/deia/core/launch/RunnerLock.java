package io.deia.core.launch;

import io.deia.core.HiveLayout;
import io.deia.core.internal.HiveGuard;
import io.deia.core.internal.process.ProcessTrees;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;

/**
 * The per-bot runner lock, {@code <hive>/bots/<BOT-ID>/runner.lock}: an exclusive OS file lock
 * ({@link FileChannel#lock()}, {@code fcntl} on Linux) that a bot's runner process holds for its
 * whole life. It does two jobs with one kernel fact, that a process's locks go away the moment it
 * dies, however it dies (SIGKILL included, and before it lingers as a zombie):
 * <ul>
 *   <li><b>one runner per bot</b>: a second runner for the same bot cannot take it and exits,
 *       whichever controller started it;</li>
 *   <li><b>death notice without polling</b>: a supervisor blocks in {@link #awaitRunnerExit} on
 *       the same lock and gets it as soon as the runner is gone. That works for runners this JVM
 *       did not start (adopted after a controller restart), for which the JDK's
 *       {@code ProcessHandle.onExit()} only polls, slowly, and never sees an unreaped zombie.</li>
 * </ul>
 * The file's content is the last {@link Spawn} a launcher recorded for the bot.
 */
public final class RunnerLock implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(RunnerLock.class);
    /** How often a runner tries again while a supervisor holds the lock for a moment. */
    private static final Duration RETRY = Duration.ofMillis(10);

    private final FileChannel channel;
    private final FileLock lock;
    private final Path file;

    private RunnerLock(FileChannel channel, FileLock lock, Path file) {
        this.channel = channel;
        this.lock = lock;
        this.file = file;
    }

    /** The lock file of a bot. */
    public static Path file(HiveLayout hive, String botId) {
        return hive.botDir(botId).resolve("runner.lock");
    }

    /**
     * Takes the lock for a runner that is starting. A supervisor may hold it for a moment (it takes
     * it to learn whether an earlier runner is gone), so this tries for up to {@code patience}.
     *
     * @return the held lock, or empty when another live process keeps it: another runner of the bot
     * @throws IOException when the lock file cannot be made or opened
     */
    public static Optional<RunnerLock> acquire(HiveLayout hive, String botId, Duration patience) throws IOException {
        Path file = file(hive, botId);
        FileChannel channel = open(hive, file);
        long deadline = System.nanoTime() + patience.toNanos();
        try {
            while (true) {
                FileLock lock = channel.tryLock();
                if (lock != null) {
                    return Optional.of(new RunnerLock(channel, lock, file));
                }
                if (System.nanoTime() > deadline) {
                    channel.close();
                    return Optional.empty();
                }
                Thread.sleep(RETRY.toMillis());
            }
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        } catch (InterruptedException e) {
            channel.close();
            Thread.currentThread().interrupt();
            return Optional.empty();
        }
    }

    /**
     * Opens (creating it 0600 in a checked 0700 folder) the lock file, never through a link: like
     * every file of the hive it is private, and a link planted there must not be followed.
     */
    private static FileChannel open(HiveLayout hive, Path file) throws IOException {
        HiveGuard.dir(hive, file.getParent());
        return FileChannel.open(file, Set.of(StandardOpenOption.CREATE, StandardOpenOption.READ,
                StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS), HiveGuard.fileAttributes());
    }

    /**
     * Blocks until the runner with this pid and start instant is gone. Blocks on the lock (no
     * polling) while the runner holds it; while a live runner does not hold it yet (it is still
     * starting) it looks again every {@code recheck}. Interrupting the calling thread ends the wait
     * with an {@link InterruptedException}.
     *
     * @throws IOException when the lock file cannot be opened (e.g. the hive was deleted)
     */
    public static void awaitRunnerExit(HiveLayout hive, String botId, long pid, Instant start, Duration recheck)
            throws IOException, InterruptedException {
        Path file = file(hive, botId);
        while (true) {
            try (FileChannel channel = open(hive, file)) {
                // Released at once: the next runner must be able to take it.
                channel.lock().release();
            } catch (java.nio.channels.ClosedByInterruptException e) {
                throw new InterruptedException("interrupted while waiting for the runner lock of " + botId);
            } catch (OverlappingFileLockException e) {
                // Another thread of this JVM waits on the same file (an older watch that is ending).
                log.debug("[{}] runner lock is being waited on by another thread of this process", botId);
            }
            if (Thread.interrupted()) {
                throw new InterruptedException("interrupted while waiting for the runner lock of " + botId);
            }
            if (!ProcessTrees.isSameProcessAlive(pid, start)) {
                return;
            }
            // Free lock, live runner: it has not taken its lock yet.
            Thread.sleep(recheck.toMillis());
        }
    }

    /**
     * Completes once the runner process {@code runner} of {@code botId} is gone, waiting in
     * {@link #awaitRunnerExit} on {@code executor}; when the lock file cannot be opened it looks at
     * the process every {@code recheck} instead. Never completes normally when the waiting thread is
     * interrupted (a launcher that closes): then it is cancelled.
     */
    public static CompletableFuture<Void> whenGone(HiveLayout hive, String botId, ProcessHandle runner, Duration recheck,
                                                   Executor executor) {
        long pid = runner.pid();
        Instant start = runner.info().startInstant().orElse(null);
        return CompletableFuture.runAsync(() -> {
            try {
                try {
                    awaitRunnerExit(hive, botId, pid, start, recheck);
                } catch (IOException e) {
                    log.warn("[{}] cannot wait on the runner lock ({}); watching pid {} instead", botId, e.toString(), pid);
                    while (ProcessTrees.isSameProcessAlive(pid, start)) {
                        Thread.sleep(recheck.toMillis());
                    }
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new CancellationException("stopped waiting for the runner of " + botId);
            }
        }, executor);
    }

    /**
     * What a launcher writes into the lock file the moment it has spawned a runner: the registry
     * entry's reservation instant ({@code attempt}, naming that launch or restart) and the runner's
     * pid and start instant. With it a controller that finds a launch whose launcher died before
     * recording the pid can tell a runner that was spawned (alive: it registers soon; dead: a death
     * to count) from a launch cut short before any runner existed.
     */
    record Spawn(Instant attempt, long pid, Instant start) {
    }

    /**
     * Records a spawn. A plain write without fsync: it must outlive the launcher's process (a kill -9
     * right after the spawn), not the machine, and so it lands microseconds after the spawn, where
     * the registry's durable write takes milliseconds.
     */
    static void recordSpawn(HiveLayout hive, String botId, Spawn spawn) throws IOException {
        byte[] line = (spawn.attempt() + " " + spawn.pid() + " " + spawn.start() + "\n").getBytes(StandardCharsets.UTF_8);
        try (FileChannel channel = open(hive, file(hive, botId))) {
            channel.write(ByteBuffer.wrap(line), 0);
            channel.truncate(line.length);
        }
    }

    /** The last spawn recorded for the bot; empty when there is none or it cannot be read. */
    static Optional<Spawn> lastSpawn(HiveLayout hive, String botId) {
        try (InputStream in = Files.newInputStream(file(hive, botId), LinkOption.NOFOLLOW_LINKS)) {
            String[] f = new String(in.readNBytes(200), StandardCharsets.UTF_8).split("\n", 2)[0].split(" ");
            return Optional.of(new Spawn(Instant.parse(f[0]), Long.parseLong(f[1]),
                    f[2].equals("null") ? null : Instant.parse(f[2])));
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }

    /**
     * True when a live process holds the bot's lock: a runner of the bot, whatever the registry
     * says (or a thread of this JVM waits on it, which means the same).
     */
    static boolean isHeld(HiveLayout hive, String botId) {
        try (FileChannel channel = open(hive, file(hive, botId))) {
            return channel.tryLock() == null; // a lock taken here goes with the channel
        } catch (OverlappingFileLockException e) {
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** The lock file. */
    public Path path() {
        return file;
    }

    /** Releases the lock (the process's exit does the same). */
    @Override
    public void close() throws IOException {
        try {
            lock.release();
        } finally {
            channel.close();
        }
    }
}
