package io.deia.core.ledger;

import io.deia.core.DeiaException;
import io.deia.core.HiveLayout;
import io.deia.core.internal.HiveGuard;
import io.deia.core.internal.io.Json;
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
import java.util.ArrayList;
import java.util.List;

/**
 * The bots' ledgers: {@code hive/ledger/<BOT-ID>.jsonl}, one {@link LedgerEntry} per line, appended
 * and forced to disk before {@link #append} returns, so a recorded cost survives any crash. Only the
 * bot's own runner appends to its file. A line torn by a crash mid-write (the last one, without its
 * newline) is skipped by readers, never taken as a record; the next append starts on a fresh line.
 */
public final class Ledger {
    private static final Logger log = LoggerFactory.getLogger(Ledger.class);

    private final HiveLayout hive;

    public Ledger(HiveLayout hive) {
        this.hive = hive;
    }

    /**
     * Appends one entry to its bot's ledger, durably.
     *
     * @throws DeiaException naming the file when it cannot be written
     */
    public void append(LedgerEntry entry) {
        Path file = hive.ledgerFile(entry.botId());
        byte[] line = (Json.write(entry) + "\n").getBytes(StandardCharsets.UTF_8);
        synchronized (this) {
            try {
                HiveGuard.dir(hive, hive.ledgerDir());
                // 0600 like every hive file: spend and task ids are the hive owner's business.
                try (FileChannel ch = FileChannel.open(file, java.util.Set.of(StandardOpenOption.CREATE,
                        StandardOpenOption.WRITE, StandardOpenOption.READ), HiveGuard.fileAttributes())) {
                    long size = ch.size();
                    ByteBuffer buf = ByteBuffer.wrap(line);
                    if (size > 0 && !endsWithNewline(ch, size)) {
                        // A crash tore the last line: start this entry on a line of its own.
                        buf = ByteBuffer.wrap(("\n" + new String(line, StandardCharsets.UTF_8)).getBytes(StandardCharsets.UTF_8));
                    }
                    long pos = size;
                    while (buf.hasRemaining()) {
                        pos += ch.write(buf, pos);
                    }
                    ch.force(false);
                }
            } catch (IOException e) {
                throw DeiaException.io("cannot append to the ledger", file, e);
            }
        }
    }

    private static boolean endsWithNewline(FileChannel ch, long size) throws IOException {
        ByteBuffer last = ByteBuffer.allocate(1);
        ch.read(last, size - 1);
        return last.get(0) == '\n';
    }

    /** Every readable entry of a bot's ledger, oldest first (empty when it has none). */
    public List<LedgerEntry> read(String botId) {
        return new Tail(hive.ledgerFile(botId)).readNew();
    }

    /** The bot ids that have a ledger. */
    public List<String> botIds() {
        List<String> ids = new ArrayList<>();
        try (var files = Files.newDirectoryStream(hive.ledgerDir(), "*.jsonl")) {
            for (Path f : files) {
                String name = f.getFileName().toString();
                ids.add(name.substring(0, name.length() - ".jsonl".length()));
            }
        } catch (NoSuchFileException e) {
            return ids;
        } catch (IOException e) {
            throw DeiaException.io("cannot list the ledgers in", hive.ledgerDir(), e);
        }
        ids.sort(null);
        return ids;
    }

    /** A follower of one ledger file: each {@link #readNew()} returns the complete lines added since the last. */
    public static final class Tail {
        private final Path file;
        private long offset;

        public Tail(Path file) {
            this.file = file;
        }

        /** The entries completed since the last call (a line without its newline yet waits for the next call). */
        public List<LedgerEntry> readNew() {
            List<LedgerEntry> entries = new ArrayList<>();
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
                long size = ch.size();
                if (size < offset) {
                    offset = 0; // replaced by a shorter file (deleted and started again)
                }
                if (size == offset) {
                    return entries;
                }
                ByteBuffer buf = ByteBuffer.allocate((int) Math.min(Integer.MAX_VALUE - 8, size - offset));
                while (buf.hasRemaining() && ch.read(buf, offset + buf.position()) > 0) {
                    // read to the end
                }
                byte[] bytes = buf.array();
                int start = 0;
                for (int i = 0; i < buf.position(); i++) {
                    if (bytes[i] == '\n') {
                        parse(new String(bytes, start, i - start, StandardCharsets.UTF_8), entries);
                        start = i + 1;
                    }
                }
                offset += start;
            } catch (NoSuchFileException e) {
                return entries;
            } catch (IOException e) {
                throw DeiaException.io("cannot read the ledger", file, e);
            }
            return entries;
        }

        private void parse(String line, List<LedgerEntry> into) {
            if (line.isBlank()) {
                return;
            }
            try {
                into.add(Json.read(line, LedgerEntry.class, "ledger " + file));
            } catch (RuntimeException e) {
                // A line torn by a crash before its newline was completed by the next append's newline.
                log.warn("skipping an unreadable line of {}: {}", file, e.getMessage());
            }
        }
    }
}
