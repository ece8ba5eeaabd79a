package io.deia.core.launch.internal;

import io.deia.core.DeiaException;
import io.deia.core.io.AtomicFiles;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/** The bot's log file: rotation before a (re)start and the tail quoted in launch errors. */
public final class BotLogFiles {
    /** How many bytes from the end of the log are read to find the last lines. */
    private static final int TAIL_WINDOW = 16 * 1024;

    private BotLogFiles() {
    }

    /**
     * Renames {@code log} to {@code log.1} (replacing an older one) when it is larger than
     * {@code maxBytes}, so one crash-looping bot cannot fill the disk. The runner appends to the
     * log file it is given, so rotation happens only while no runner writes it: before a spawn.
     *
     * @return true when the log was rotated
     */
    public static boolean rotateIfLarger(Path log, long maxBytes) {
        try {
            if (!Files.isRegularFile(log) || Files.size(log) <= maxBytes) {
                return false;
            }
            AtomicFiles.move(log, log.resolveSibling(log.getFileName() + ".1"));
            return true;
        } catch (IOException e) {
            throw DeiaException.io("cannot rotate log", log, e);
        }
    }

    /**
     * The last {@code lines} lines of the log, or an empty string when there is no log. Decoded
     * leniently: the window may start inside a multi-byte character, and a crash message must be
     * shown even when the runner printed bytes that are not UTF-8.
     */
    public static String tail(Path log, int lines) {
        if (!Files.isRegularFile(log)) {
            return "";
        }
        try (RandomAccessFile file = new RandomAccessFile(log.toFile(), "r")) {
            long length = file.length();
            long from = Math.max(0, length - TAIL_WINDOW);
            byte[] bytes = new byte[(int) (length - from)];
            file.seek(from);
            file.readFully(bytes);
            List<String> all = Arrays.asList(new String(bytes, StandardCharsets.UTF_8).split("\r?\n"));
            return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
        } catch (IOException e) {
            return "(cannot read " + log + ": " + e + ")";
        }
    }
}
