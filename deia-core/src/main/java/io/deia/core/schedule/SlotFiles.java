package io.deia.core.schedule;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.HiveLayout;
import io.deia.core.agent.AgentLeftovers;
import io.deia.core.internal.BotIds;
import io.deia.core.internal.HiveGuard;
import io.deia.core.internal.io.AtomicFiles;
import io.deia.core.internal.io.Json;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;
import java.util.regex.Pattern;

/**
 * The files of {@code hive/slots/}: one lock file per turn slot ({@code hive-<i>.lock} for the hive's
 * {@code max_concurrent_turns}, {@code profile-<name>-<i>.lock} for a profile's {@code max_concurrent}),
 * held locked by the runner whose turn uses it; {@code line.lock}, held for the moment a runner looks
 * at the line and takes slots (so two runners never both take the last slot out of turn); the
 * {@code released} marker, touched after every release so that waiters watching the folder wake; and
 * {@code waiting/}, the line ({@link WaitingLine}).
 */
final class SlotFiles {
    static final String LINE_LOCK = "line.lock";
    static final String RELEASED = "released";
    static final String WAITING = "waiting";
    private static final String HIVE_PREFIX = "hive-";
    private static final String PROFILE_PREFIX = "profile-";
    private static final String LOCK_SUFFIX = ".lock";
    private static final Pattern SAFE_NAME = Pattern.compile("[A-Za-z0-9_]{1,40}");
    /** One per slots folder: the threads of this JVM take the line lock one at a time (see {@link HeldFile}). */
    private static final Map<Path, ReentrantLock> JVM_LINE_LOCKS = new ConcurrentHashMap<>();

    private final HiveLayout hive;
    final Path dir;
    final Path waitingDir;
    private volatile boolean ready;

    SlotFiles(HiveLayout hive) {
        this.hive = hive;
        this.dir = hive.slotsDir().toAbsolutePath().normalize();
        this.waitingDir = dir.resolve(WAITING);
    }

    /** Creates the folders (mode 0700, checked like every hive folder) the first time. */
    void ensureDirs() {
        if (!ready) {
            HiveGuard.dir(hive, hive.slotsDir());
            HiveGuard.dir(hive, hive.slotsDir().resolve(WAITING));
            ready = true;
        }
    }

    /** Work done under the line lock. */
    interface LineWork<T> {
        T run() throws IOException;
    }

    /** Runs {@code work} holding the line lock: this JVM's lock for the folder, then the file lock. */
    <T> T underLineLock(LineWork<T> work) throws IOException, InterruptedException {
        ReentrantLock jvm = jvmLineLock();
        jvm.lockInterruptibly();
        try (FileChannel channel = FileChannel.open(dir.resolve(LINE_LOCK),
                Set.of(StandardOpenOption.CREATE, StandardOpenOption.WRITE), HiveGuard.fileAttributes());
             FileLock ignored = channel.lock()) {
            return work.run();
        } finally {
            jvm.unlock();
        }
    }

    /** This JVM's side of the line lock alone: enough for a reader that opens no file a waiter holds. */
    ReentrantLock jvmLineLock() {
        return JVM_LINE_LOCKS.computeIfAbsent(dir, d -> new ReentrantLock());
    }

    /** The file name stem of a profile's slots: the name itself when plain, else a hash of it. */
    static String profileKey(String profile) {
        if (SAFE_NAME.matcher(profile).matches()) {
            return profile;
        }
        try {
            byte[] hash = MessageDigest.getInstance("SHA-256").digest(profile.getBytes(StandardCharsets.UTF_8));
            return "h" + HexFormat.of().formatHex(hash, 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is part of every JVM", e);
        }
    }

    /** Slots held now (by live processes), counted over every slot file whatever its index. */
    record Held(int hive, Map<String, Integer> profiles) {
        int profile(String key) {
            return profiles.getOrDefault(key, 0);
        }
    }

    /** Counts the slots held now; under the line lock (it probes every slot file). */
    Held held() throws IOException {
        int hiveHeld = 0;
        Map<String, Integer> profiles = new HashMap<>();
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, "*" + LOCK_SUFFIX)) {
            for (Path file : files) {
                String name = file.getFileName().toString();
                boolean hiveSlot = name.startsWith(HIVE_PREFIX);
                String profile = name.startsWith(PROFILE_PREFIX) ? profileOf(name) : null;
                if ((hiveSlot || profile != null) && busy(file)) {
                    if (hiveSlot) {
                        hiveHeld++;
                    } else {
                        profiles.merge(profile, 1, Integer::sum);
                    }
                }
            }
        } catch (NoSuchFileException e) {
            // no slot was ever taken
        }
        return new Held(hiveHeld, profiles);
    }

    /**
     * True when the slot is in use: locked by a live runner, or left by a runner killed during its
     * turn whose agent still runs (the kernel freed the lock, but that turn goes on until the agent
     * ends or the bot's next runner ends it). A free slot's file is empty; one that still names a
     * holder whose agent is gone is emptied here. Under the line lock.
     */
    boolean busy(Path file) throws IOException {
        if (HeldFile.isLocked(file)) {
            return true;
        }
        String holder = staleHolder(file);
        if (holder == null) {
            return false;
        }
        if (AgentLeftovers.hasLeftover(hive, holder)) {
            return true;
        }
        clearStale(file);
        return false;
    }

    /** The bot named by a free slot file that was not released (its runner died), or null. */
    private static String staleHolder(Path file) throws IOException {
        String text;
        try {
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            return null;
        }
        if (text.isBlank()) {
            return null;
        }
        try {
            String botId = Json.read(text, JsonNode.class, file.getFileName().toString()).path("bot_id").asText("");
            return BotIds.isValid(botId) ? botId : null;
        } catch (RuntimeException e) {
            return null;
        }
    }

    private static void clearStale(Path file) throws IOException {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.WRITE)) {
            FileLock lock = channel.tryLock();
            if (lock != null) {
                channel.truncate(0);
                lock.release();
            }
        } catch (NoSuchFileException e) {
            // gone: nothing to clear
        }
    }

    /** {@code profile-<key>-<i>.lock} → key; null for another name. */
    private static String profileOf(String name) {
        String stem = name.substring(PROFILE_PREFIX.length(), name.length() - LOCK_SUFFIX.length());
        int dash = stem.lastIndexOf('-');
        return dash <= 0 ? null : stem.substring(0, dash);
    }

    /** Takes the first free hive slot below {@code limit}, or null. */
    HeldFile takeHiveSlot(int limit, String holder) throws IOException {
        return take(HIVE_PREFIX, limit, holder);
    }

    /** Takes the first free slot of the profile below {@code limit}, or null. */
    HeldFile takeProfileSlot(String profile, int limit, String holder) throws IOException {
        return take(PROFILE_PREFIX + profileKey(profile) + "-", limit, holder);
    }

    private HeldFile take(String prefix, int limit, String holder) throws IOException {
        for (int i = 0; i < limit; i++) {
            Path file = dir.resolve(prefix + i + LOCK_SUFFIX);
            if (HeldFile.isHeldHere(file) || busy(file)) {
                continue;
            }
            HeldFile held = HeldFile.lock(file, holder, false);
            if (held != null) {
                return held;
            }
        }
        return null;
    }

    /**
     * Touches the {@code released} marker: the event that wakes the waiters watching this folder
     * (a lock release alone makes none). Its content does not matter, so it is not rewritten.
     */
    void signalRelease() {
        Path marker = dir.resolve(RELEASED);
        try {
            Files.setLastModifiedTime(marker, FileTime.fromMillis(System.currentTimeMillis()));
        } catch (NoSuchFileException e) {
            AtomicFiles.writeUnsynced(marker, "touched after every slot release\n".getBytes(StandardCharsets.UTF_8));
        } catch (IOException e) {
            // Waiters recheck on their own every second: a missed wake-up only delays them.
        }
    }
}
