package io.deia.core.internal.launch;

import io.deia.core.DeiaException;
import io.deia.core.internal.HiveGuard;
import io.deia.core.internal.io.AtomicFiles;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.List;
import java.util.Set;

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
            HiveGuard.requireNoLink(log);
            if (!Files.isRegularFile(log, LinkOption.NOFOLLOW_LINKS) || Files.size(log) <= maxBytes) {
                return false;
            }
            AtomicFiles.move(log, log.resolveSibling(log.getFileName() + ".1"));
            return true;
        } catch (IOException e) {
            throw DeiaException.io("cannot rotate log", log, e);
        }
    }

    /**
     * Makes sure {@code log} is a regular file of its own before a runner's output is appended to
     * it: created empty and private (0600) when missing; a symbolic link there is refused, since
     * the runner's output would be appended (and the file created) wherever it points.
     *
     * @throws DeiaException when it is a link or cannot be created
     */
    public static void prepare(Path log) {
        try {
            Files.newByteChannel(log, Set.of(StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.APPEND, LinkOption.NOFOLLOW_LINKS), HiveGuard.fileAttributes()).close();
        } catch (IOException e) {
            if (Files.isSymbolicLink(log)) {
                throw HiveGuard.plantedLink(log);
            }
            throw DeiaException.io("cannot create log", log, e);
        }
    }

    /**
     * The last {@code lines} lines of the log, or an empty string when there is no log. Decoded
     * leniently: the window may start inside a multi-byte character, and a crash message must be
     * shown even when the runner printed bytes that are not UTF-8.
     */
    public static String tail(Path log, int lines) {
        if (!Files.isRegularFile(log, LinkOption.NOFOLLOW_LINKS)) {
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
