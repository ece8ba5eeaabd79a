package io.deia.core.schedule;

import io.deia.core.HiveLayout;
import io.deia.core.internal.io.Json;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The hive's line of bots waiting for a turn slot: one file per waiting bot in
 * {@code hive/slots/waiting/<BOT-ID>.json} ({@link WaitingEntry}), locked by its runner while it
 * waits. Anyone may read the line ({@link #entries()}, {@link #positions()}: the controller's
 * {@code queue_position}); runners enter and leave it through {@link TurnSlots}.
 */
public final class WaitingLine {
    private static final Logger log = LoggerFactory.getLogger(WaitingLine.class);
    private static final String SUFFIX = ".json";

    private final SlotFiles files;

    /** The line of this hive. */
    public WaitingLine(HiveLayout hive) {
        this(new SlotFiles(hive));
    }

    WaitingLine(SlotFiles files) {
        this.files = files;
    }

    /**
     * The live entries in line order (first = next to be served, hive-wide). Entries of runners that
     * died are left out. Reads without the line's file lock: an entry being written at that moment
     * is left out this once.
     */
    public List<WaitingEntry> entries() {
        ReentrantLock jvm = files.jvmLineLock();
        jvm.lock();
        try {
            return read(false);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the waiting line " + files.waitingDir, e);
        } finally {
            jvm.unlock();
        }
    }

    /** Each waiting bot's place in line, 1-based, in line order. */
    public Map<String, Integer> positions() {
        Map<String, Integer> out = new LinkedHashMap<>();
        for (WaitingEntry e : entries()) {
            out.putIfAbsent(e.botId(), out.size() + 1);
        }
        return out;
    }

    /**
     * The live entries in line order; with {@code clean} (only under the line lock) the files of
     * dead runners are deleted.
     */
    List<WaitingEntry> read(boolean clean) throws IOException {
        List<WaitingEntry> out = new ArrayList<>();
        if (!Files.isDirectory(files.waitingDir)) {
            return out;
        }
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(files.waitingDir, "*" + SUFFIX)) {
            for (Path file : entries) {
                WaitingEntry e = readLive(file, clean);
                if (e != null) {
                    out.add(e);
                }
            }
        } catch (NoSuchFileException e) {
            return out;
        }
        out.sort(WaitingEntry.ORDER);
        return out;
    }

    private WaitingEntry readLive(Path file, boolean clean) throws IOException {
        String here = HeldFile.contentHere(file);
        String text = here;
        if (here == null) {
            if (clean ? HeldFile.deleteIfAbandoned(file) : !HeldFile.isLocked(file)) {
                if (clean) {
                    log.info("waiting line: removed the entry {} of a runner that died", file.getFileName());
                }
                return null;
            }
            try {
                text = Files.readString(file, StandardCharsets.UTF_8);
            } catch (NoSuchFileException e) {
                return null;
            }
        }
        try {
            return Json.read(text, WaitingEntry.class, "waiting entry " + file.getFileName());
        } catch (RuntimeException e) {
            // Being written right now (entries are written in place, under the lock their liveness is read from).
            return null;
        }
    }

    /** Enters the line: writes and locks this bot's entry; under the line lock. */
    HeldFile enter(WaitingEntry entry) throws IOException {
        HeldFile held = HeldFile.lock(files.waitingDir.resolve(entry.botId() + SUFFIX), Json.write(entry), true);
        if (held == null) {
            throw new IOException("the waiting entry of " + entry.botId() + " is held by another live process");
        }
        return held;
    }
}
