package io.deia.core.chat;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.DeiaException;
import io.deia.core.HiveLayout;
import io.deia.core.chat.HistoryStore.Entry;
import io.deia.core.chat.HistoryStore.Page;
import io.deia.core.internal.HiveGuard;
import io.deia.core.internal.io.AtomicFiles;
import io.deia.core.internal.io.ControlChars;
import io.deia.core.internal.io.Json;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.Set;

/**
 * One bot's history file for {@link HistoryStore}: opened lazily, indexed and recovered once (a torn
 * last line is cut off), then appended to durably and rotated at its size limit.
 */
final class HistoryFile {
    private static final Logger log = LoggerFactory.getLogger(HistoryFile.class);

    private final String botId;
    private final HiveLayout hive;
    private final Path file;
    private final Path rotated;
    private final long maxBytes;
    /** The last seq of the rotated file, when the current one holds no message yet. */
    private long baseSeq;
    /** Each message line in file order. */
    private final List<Line> lines = new ArrayList<>();
    /** Positional reads (and the truncate of a torn line on open). */
    private FileChannel reader;
    /** Appends: O_APPEND, so every write lands at the end even if the file was truncated. */
    private FileChannel channel;
    private long size;

    HistoryFile(String botId, HiveLayout hive, long maxBytes) {
        this.botId = botId;
        this.hive = hive;
        this.file = hive.historyFile(botId);
        this.rotated = file.resolveSibling(file.getFileName() + ".1");
        this.maxBytes = maxBytes;
    }

    synchronized Entry append(String role, String text, String clientMsgId, Double costUsd) {
        open();
        long seq = lastSeq() + 1;
        Entry entry = new Entry(seq, Instant.now(), role, ControlChars.escape(text), clientMsgId, costUsd);
        byte[] line = (Json.write(entry) + "\n").getBytes(StandardCharsets.UTF_8);
        if (size > 0 && size + line.length > maxBytes) {
            rotate();
        }
        try {
            ByteBuffer buf = ByteBuffer.wrap(line);
            while (buf.hasRemaining()) {
                channel.write(buf);
            }
            channel.force(false);
        } catch (IOException e) {
            // A full disk leaves part of the line written: cut it off at once (truncating needs
            // no free space) so readers never see a torn line. Should that fail as well, the
            // next open still finds and drops the torn tail.
            try {
                reader.truncate(size);
                reader.force(true);
            } catch (IOException | RuntimeException undo) {
                e.addSuppressed(undo);
            }
            closeChannel();
            throw DeiaException.io("cannot append to history", file, e);
        }
        lines.add(new Line(seq, size, line.length));
        size += line.length;
        return entry;
    }

    synchronized Page read(Long before, int limit) {
        open();
        int end = lines.size(); // exclusive index of the newest line to consider
        if (before != null) {
            int idx = Collections.binarySearch(lines, new Line(before, 0, 0), Comparator.comparingLong(Line::seq));
            end = idx >= 0 ? idx : -idx - 1;
        }
        int start = Math.max(0, end - limit);
        List<Entry> page = new ArrayList<>(end - start);
        for (int i = end - 1; i >= start; i--) {
            ByteBuffer buf = ByteBuffer.allocate(lines.get(i).length);
            try {
                while (buf.hasRemaining()) {
                    if (reader.read(buf, lines.get(i).offset + buf.position()) < 0) {
                        throw new IOException("history file shrank while open");
                    }
                }
            } catch (IOException e) {
                throw DeiaException.io("cannot read history", file, e);
            }
            String line = new String(buf.array(), 0, buf.position() - 1, StandardCharsets.UTF_8);
            page.add(Json.read(line, Entry.class, "history line"));
        }
        Long nextBefore = start > 0 ? lines.get(start).seq : null;
        return new Page(List.copyOf(page), nextBefore);
    }

    synchronized long lastSeq() {
        open();
        return lines.isEmpty() ? baseSeq : lines.get(lines.size() - 1).seq;
    }

    /** Renames the file to {@code .1} (replacing the older one) and starts a new one. */
    private void rotate() {
        long last = lastSeq();
        closeChannel();
        try {
            AtomicFiles.move(file, rotated);
        } catch (IOException e) {
            throw DeiaException.io("cannot rotate history", file, e);
        }
        open();
        log.info("[{}] history {} reached {} bytes: rotated to {}, sequence goes on after {}", botId, file, maxBytes,
                rotated.getFileName(), last);
    }

    /** The seq of the last readable line of the rotated file, 0 without one. */
    private long lastSeqOfRotated() {
        byte[] all;
        try {
            all = Files.readAllBytes(rotated);
        } catch (NoSuchFileException e) {
            return 0;
        } catch (IOException e) {
            log.warn("[{}] cannot read {}; sequence numbers restart after 0: {}", botId, rotated, e.toString());
            return 0;
        }
        List<String> rotatedLines = new String(all, StandardCharsets.UTF_8).lines().toList();
        for (int i = rotatedLines.size() - 1; i >= 0; i--) {
            Long seq = seqOf(rotatedLines.get(i).strip());
            if (seq != null) {
                return seq;
            }
        }
        return 0;
    }

    synchronized void close() {
        closeChannel();
    }

    private void closeChannel() {
        for (FileChannel ch : new FileChannel[] {reader, channel}) {
            if (ch != null) {
                try {
                    ch.close();
                } catch (IOException e) {
                    log.warn("[{}] closing history file {} failed: {}", botId, file, e.toString());
                }
            }
        }
        reader = null;
        channel = null;
        lines.clear();
        size = 0;
    }

    /** Opens the file and indexes it, dropping a torn or unreadable last line. */
    private void open() {
        if (reader != null && channel != null) {
            return;
        }
        try {
            Path dir = file.getParent();
            boolean existed = Files.exists(file, LinkOption.NOFOLLOW_LINKS);
            HiveGuard.dir(hive, dir);
            // NOFOLLOW_LINKS: a link planted at the history file must not make chat append elsewhere.
            reader = FileChannel.open(file, Set.of(StandardOpenOption.CREATE, StandardOpenOption.READ,
                    StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS), HiveGuard.fileAttributes());
            if (!existed) {
                // The new name must survive a crash too, not only the bytes written to it.
                AtomicFiles.fsyncDirectory(dir);
            }
            index();
            baseSeq = lines.isEmpty() ? lastSeqOfRotated() : 0;
            channel = FileChannel.open(file, StandardOpenOption.WRITE, StandardOpenOption.APPEND,
                    LinkOption.NOFOLLOW_LINKS);
        } catch (IOException e) {
            closeChannel();
            if (Files.isSymbolicLink(file)) {
                throw HiveGuard.plantedLink(file);
            }
            throw DeiaException.io("cannot open history", file, e);
        }
    }

    private void index() throws IOException {
        long length = reader.size();
        byte[] all = new byte[Math.toIntExact(length)];
        ByteBuffer buf = ByteBuffer.wrap(all);
        while (buf.hasRemaining() && reader.read(buf, buf.position()) >= 0) {
            // read until full
        }
        long lineStart = 0;
        long goodEnd = 0;
        int skipped = 0;
        for (int i = 0; i < all.length; i++) {
            if (all[i] != '\n') {
                continue;
            }
            String line = new String(all, (int) lineStart, (int) (i - lineStart), StandardCharsets.UTF_8);
            Long seq = seqOf(line);
            boolean last = i == all.length - 1;
            if (seq != null && (lines.isEmpty() || seq > lines.get(lines.size() - 1).seq)) {
                lines.add(new Line(seq, lineStart, (int) (i + 1 - lineStart)));
                goodEnd = i + 1;
            } else if (last) {
                // An unreadable final line is what a crash mid-write leaves: treat it as torn.
                break;
            } else {
                skipped++;
                goodEnd = i + 1;
                log.warn("[{}] history {} has an unreadable line at byte {}; it is skipped", botId, file, lineStart);
            }
            lineStart = i + 1;
        }
        if (goodEnd < length) {
            log.warn("[{}] history {} ends in a torn line ({} bytes after the last complete message); "
                    + "truncating it, {} earlier messages kept", botId, file, length - goodEnd, lines.size());
            reader.truncate(goodEnd);
            reader.force(true);
        }
        size = goodEnd;
        if (skipped > 0) {
            // Skipped lines stay in the file (nothing is rewritten) but are not indexed.
            log.warn("[{}] history {}: {} unreadable lines skipped", botId, file, skipped);
        }
        log.debug("[{}] history opened with {} messages", botId, lines.size());
    }

    private static Long seqOf(String line) {
        if (line.isBlank()) {
            return null;
        }
        try {
            var node = Json.read(line, JsonNode.class, "history line");
            var seq = node.get("seq");
            if (seq == null || !seq.canConvertToLong() || node.get("role") == null || node.get("text") == null) {
                return null;
            }
            return seq.asLong();
        } catch (DeiaException e) {
            return null;
        }
    }

    /** A message line: its seq, the byte offset where it starts and its length with the newline. */
    private record Line(long seq, long offset, int length) {
    }
}
