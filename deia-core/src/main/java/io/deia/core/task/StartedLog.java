package io.deia.core.task;

import io.deia.core.internal.HiveGuard;
import io.deia.core.internal.io.AtomicFiles;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashMap;
import java.util.Map;

/**
 * The {@code started.log} of one monitor's owner folder (see {@link ClaimedTasks}): one line
 * {@code <seq> <n>} appended before attempt n of claim seq starts. Each line is one
 * {@code write(2)} to a file opened with {@code O_APPEND}, so a killed process leaves every line it
 * wrote whole; no fsync (the log only has to outlive a killed process). A line cut by a power cut
 * is skipped when read.
 *
 * <p>The log does not grow without bound: once it holds more than {@value #COMPACT_AT_BYTES} bytes
 * it is replaced, atomically, by the lines of the claims not yet archived (the only ones an
 * adoption can still ask about). Used by the monitor's worker thread only.
 */
final class StartedLog implements AutoCloseable {
    /** File name inside the owner folder. */
    static final String FILE = "started.log";
    /** Size after which the next append rewrites the log with the open claims' lines only. */
    static final long COMPACT_AT_BYTES = 64 * 1024;

    private static final Logger log = LoggerFactory.getLogger(StartedLog.class);

    private final String botId;
    private final Path file;
    /** Attempts started per claim not yet archived: what a compaction keeps. */
    private final Map<Long, Integer> open = new HashMap<>();
    private FileChannel channel;
    private long size;

    StartedLog(String botId, Path file) {
        this.botId = botId;
        this.file = file;
    }

    /** Logs that attempt {@code attempt} of claim {@code seq} starts; returns once the line is written. */
    void append(long seq, int attempt) throws IOException {
        open.merge(seq, attempt, Math::max);
        if (channel == null) {
            channel = FileChannel.open(file, java.util.Set.of(StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.APPEND, java.nio.file.LinkOption.NOFOLLOW_LINKS), HiveGuard.fileAttributes());
            size = channel.size();
        } else if (size > COMPACT_AT_BYTES) {
            compact();
            return;
        }
        ByteBuffer line = ByteBuffer.wrap((seq + " " + attempt + "\n").getBytes(StandardCharsets.US_ASCII));
        while (line.hasRemaining()) {
            size += channel.write(line);
        }
    }

    /** Claim {@code seq} is archived: a compaction leaves its lines out. */
    void forget(long seq) {
        open.remove(seq);
    }

    /**
     * Replaces the log by the lines of the open claims (the line just appended among them), then
     * appends to the new file. A crash leaves the old log or the new one, both holding every open
     * claim's count.
     */
    private void compact() throws IOException {
        StringBuilder lines = new StringBuilder();
        open.forEach((seq, attempts) -> lines.append(seq).append(' ').append(attempts).append('\n'));
        byte[] bytes = lines.toString().getBytes(StandardCharsets.US_ASCII);
        AtomicFiles.writeUnsynced(file, bytes);
        channel.close();
        channel = FileChannel.open(file, StandardOpenOption.WRITE, StandardOpenOption.APPEND,
                java.nio.file.LinkOption.NOFOLLOW_LINKS);
        size = bytes.length;
        log.debug("[{}] compacted {} to the {} claim(s) not yet archived", botId, file, open.size());
    }

    @Override
    public void close() {
        if (channel != null) {
            try {
                channel.close();
            } catch (IOException e) {
                log.warn("[{}] cannot close {}: {}", botId, file, e.toString());
            }
            channel = null;
        }
    }

    /**
     * The highest attempt logged per claim seq in {@code file}; empty when it is missing.
     * Lines that are not two decimal numbers (cut by a power cut) are skipped.
     */
    static Map<Long, Integer> read(Path file) {
        Map<Long, Integer> attempts = new HashMap<>();
        String text;
        try {
            text = new String(Files.readAllBytes(file), StandardCharsets.US_ASCII);
        } catch (NoSuchFileException e) {
            return attempts;
        } catch (IOException e) {
            log.warn("cannot read {}; attempts it logged are not counted: {}", file, e.toString());
            return attempts;
        }
        for (String line : text.split("\n")) {
            int space = line.indexOf(' ');
            if (space <= 0 || space != line.lastIndexOf(' ')) {
                continue;
            }
            try {
                long seq = Long.parseLong(line.substring(0, space));
                int n = Integer.parseInt(line.substring(space + 1));
                if (seq > 0 && n > 0) {
                    attempts.merge(seq, n, Math::max);
                }
            } catch (NumberFormatException e) {
                // A line cut short: its attempt is not counted (see the class comment).
            }
        }
        return attempts;
    }
}
