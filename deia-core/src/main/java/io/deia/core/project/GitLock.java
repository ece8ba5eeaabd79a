package io.deia.core.project;

import io.deia.core.DeiaException;
import io.deia.core.HiveLayout;
import io.deia.core.internal.HiveGuard;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A lock held across threads and processes (bot runners and the controller are separate JVMs):
 * an OS file lock under the hive, taken by one thread of a JVM at a time.
 *
 * <ul>
 *   <li>{@link #repository}: one per repository, around every git command that changes its shared
 *       state (worktree add/remove, branch and ref updates, commits, merges). Held for the length of
 *       one git operation.</li>
 *   <li>{@link #worktree}: one per bot worktree, held by the bot for a whole turn and its commit, so
 *       that the controller never switches a worktree under a running agent
 *       ({@link #tryWorktree} answers "busy" instead of waiting).</li>
 * </ul>
 *
 * <p>A {@link FileLock} belongs to the whole JVM and a second {@code lock()} from another thread
 * throws instead of waiting, so threads first queue on an in-JVM lock per file. The lock is
 * reentrant for its thread (the OS lock is taken once).
 */
public final class GitLock implements AutoCloseable {
    private static final Map<Path, ReentrantLock> IN_JVM = new ConcurrentHashMap<>();
    private static final Set<OpenOption> OPEN =
            Set.of(StandardOpenOption.CREATE, StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS);

    private final ReentrantLock inJvm;
    private final FileChannel channel;
    private final FileLock osLock;

    private GitLock(ReentrantLock inJvm, FileChannel channel, FileLock osLock) {
        this.inJvm = inJvm;
        this.channel = channel;
        this.osLock = osLock;
    }

    /**
     * Waits for the lock of the repository whose common git folder is {@code commonDir}
     * ({@code git rev-parse --git-common-dir}, absolute): {@code hive/locks/repo-<hash>.lock}.
     */
    public static GitLock repository(HiveLayout hive, Path commonDir) {
        return acquire(repositoryLockFile(hive, commonDir), true).orElseThrow();
    }

    /** Waits for the lock of bot {@code botId}'s worktree ({@code bots/<BOT-ID>/worktree.lock}). */
    public static GitLock worktree(HiveLayout hive, String botId) {
        return acquire(hive.botDir(botId).resolve("worktree.lock"), true).orElseThrow();
    }

    /** The lock of bot {@code botId}'s worktree when nobody holds it (no turn runs), else empty. */
    public static Optional<GitLock> tryWorktree(HiveLayout hive, String botId) {
        return acquire(hive.botDir(botId).resolve("worktree.lock"), false);
    }

    /** The lock file of a repository: named by a hash of its common git folder's real path. */
    static Path repositoryLockFile(HiveLayout hive, Path commonDir) {
        Path real = commonDir.toAbsolutePath().normalize();
        try {
            real = real.toRealPath();
        } catch (IOException e) {
            // not there (yet): the normalized path names it as well
        }
        try {
            byte[] hash = MessageDigest.getInstance("SHA-256").digest(real.toString().getBytes(StandardCharsets.UTF_8));
            return hive.hiveDir().resolve("locks").resolve("repo-" + HexFormat.of().formatHex(hash, 0, 8) + ".lock");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
    }

    private static Optional<GitLock> acquire(Path file, boolean wait) {
        ReentrantLock inJvm = IN_JVM.computeIfAbsent(file, f -> new ReentrantLock());
        if (wait) {
            inJvm.lock();
        } else if (!inJvm.tryLock()) {
            return Optional.empty();
        }
        if (inJvm.getHoldCount() > 1) {
            return Optional.of(new GitLock(inJvm, null, null));
        }
        FileChannel ch = null;
        try {
            ch = open(file);
            FileLock os = wait ? ch.lock() : ch.tryLock();
            if (os == null) {
                ch.close();
                inJvm.unlock();
                return Optional.empty();
            }
            return Optional.of(new GitLock(inJvm, ch, os));
        } catch (IOException | RuntimeException e) {
            try {
                if (ch != null) {
                    ch.close();
                }
            } catch (IOException ignored) {
                // the lock was not taken; the first error says why
            }
            inJvm.unlock();
            throw DeiaException.io("cannot take the git lock", file, e instanceof IOException io ? io : new IOException(e));
        }
    }

    private static FileChannel open(Path lockFile) throws IOException {
        try {
            return FileChannel.open(lockFile, OPEN, HiveGuard.fileAttributes());
        } catch (NoSuchFileException e) {
            Files.createDirectories(lockFile.getParent(), HiveGuard.folderAttributes());
            return FileChannel.open(lockFile, OPEN, HiveGuard.fileAttributes());
        }
    }

    /** Releases the lock (the OS lock when this was the outermost hold). */
    @Override
    public void close() {
        try {
            if (osLock != null) {
                osLock.release();
                channel.close();
            }
        } catch (IOException e) {
            // closing the channel drops the OS lock whatever happened; nothing is left held
        } finally {
            inJvm.unlock();
        }
    }
}
