package io.deia.core.webhook;

import io.deia.core.DeiaException;
import io.deia.core.HiveLayout;
import io.deia.core.internal.HiveGuard;
import io.deia.core.internal.io.AtomicFiles;
import io.deia.core.internal.io.Json;
import io.deia.core.internal.io.LogSafe;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.channels.SeekableByteChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;

/**
 * The dispatcher's files in the hive: the outbox ({@code hive/webhooks/outbox/<millis>-<id>.json},
 * written by the producers), the delivery state of each event with an attempt recorded
 * ({@code hive/webhooks/deliveries/}, see {@link DeliveryState}) and the dead deliveries
 * ({@code hive/webhooks/dead/<millis>-<id>--<webhook key>.json}: the {@link DeadDelivery} and the event).
 * Events are named by their outbox file name without {@code .json} (the "stem"): time first, so
 * names sort oldest first.
 */
final class OutboxStore {
    private static final Logger log = LoggerFactory.getLogger(OutboxStore.class);
    /** An outbox file: 13-digit milliseconds, a dash, the event id. Anything else there is not an event. */
    static final Pattern EVENT_FILE = Pattern.compile("^\\d{13}-[A-Za-z0-9_]{1,80}\\.json$");
    private static final String SUFFIX = ".json";
    private static final String DEAD_SEPARATOR = "--";
    /** Events are small; a file over this in the outbox is not one of ours. */
    static final int MAX_EVENT_BYTES = 64 * 1024;

    private final HiveLayout hive;
    private final Path outbox;
    private final Path deliveries;
    private final Path dead;

    /** The dead record as written: what the API lists and the event for a hand-made resend. */
    record DeadFile(DeadDelivery delivery, Map<String, Object> event) {
    }

    OutboxStore(HiveLayout hive) {
        this.hive = hive;
        this.outbox = hive.webhookOutboxDir();
        this.deliveries = outbox.resolveSibling("deliveries");
        this.dead = hive.webhookDeadDir();
    }

    /** Creates the folders (checked: real folders of this hive, no links). */
    void open() {
        HiveGuard.dir(hive, outbox.getParent());
        HiveGuard.dir(hive, outbox);
        HiveGuard.dir(hive, deliveries);
        HiveGuard.dir(hive, dead);
    }

    Path outboxDir() {
        return outbox;
    }

    /** The outbox's events by stem, oldest first; temp files, links and foreign names are skipped. */
    TreeSet<String> listOutbox() {
        TreeSet<String> stems = new TreeSet<>();
        try (DirectoryStream<Path> files = Files.newDirectoryStream(outbox)) {
            for (Path f : files) {
                String name = f.getFileName().toString();
                if (EVENT_FILE.matcher(name).matches() && Files.isRegularFile(f, LinkOption.NOFOLLOW_LINKS)) {
                    stems.add(name.substring(0, name.length() - SUFFIX.length()));
                }
            }
        } catch (NoSuchFileException e) {
            return stems;
        } catch (IOException e) {
            throw DeiaException.io("cannot list", outbox, e);
        }
        return stems;
    }

    /** The event file's exact bytes (what is sent and signed), or null when it is gone. */
    byte[] readEvent(String stem) throws IOException {
        Path file = outbox.resolve(stem + SUFFIX);
        try (SeekableByteChannel ch = Files.newByteChannel(file, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS)) {
            if (ch.size() > MAX_EVENT_BYTES) {
                throw new IOException("event file " + file.getFileName() + " is " + ch.size() + " bytes, over "
                        + MAX_EVENT_BYTES);
            }
            java.nio.ByteBuffer buf = java.nio.ByteBuffer.allocate((int) ch.size());
            while (buf.hasRemaining() && ch.read(buf) >= 0) {
                // reads until full or end of file
            }
            return java.util.Arrays.copyOf(buf.array(), buf.position());
        } catch (NoSuchFileException e) {
            return null;
        }
    }

    /** The recorded deliveries of an event, or null when none is recorded (or the record is unreadable: logged). */
    DeliveryState readState(String stem) {
        Path file = deliveries.resolve(stem + SUFFIX);
        if (!Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS)) {
            return null;
        }
        try {
            return Json.read(AtomicFiles.readString(file), DeliveryState.class, "webhook delivery state " + file.getFileName());
        } catch (RuntimeException e) {
            log.warn("webhook delivery state {} cannot be read, its event is sent as if never tried: {}",
                    file.getFileName(), LogSafe.printable(e.getMessage()));
            return null;
        }
    }

    /** Records an event's deliveries, atomically and durably. */
    void writeState(String stem, DeliveryState state) {
        AtomicFiles.writeString(deliveries.resolve(stem + SUFFIX), Json.write(state));
    }

    /** Records a dead delivery with its event, durably, before the event may leave the outbox. */
    void writeDead(String stem, String hookKey, DeadDelivery delivery, byte[] event) {
        @SuppressWarnings("unchecked")
        Map<String, Object> body = Json.read(new String(event, java.nio.charset.StandardCharsets.UTF_8), Map.class, "webhook event");
        AtomicFiles.writeString(dead.resolve(stem + DEAD_SEPARATOR + hookKey + SUFFIX), Json.write(new DeadFile(delivery, body)));
    }

    /**
     * The event is done with (delivered or dead everywhere): its file goes, then its state. Not
     * synced: a crash that undoes the removal sends the event again, which at-least-once allows.
     */
    void finish(String stem) {
        delete(outbox.resolve(stem + SUFFIX));
        delete(deliveries.resolve(stem + SUFFIX));
    }

    /** An outbox file that is not a readable event is moved aside to {@code dead/<name>.unreadable}, never sent. */
    void quarantine(String stem, String why) {
        try {
            AtomicFiles.move(outbox.resolve(stem + SUFFIX), dead.resolve(stem + ".unreadable"));
            log.error("webhook outbox file {}.json is not an event ({}); moved to {}", stem, LogSafe.printable(why),
                    hive.root().relativize(dead.resolve(stem + ".unreadable")));
        } catch (IOException e) {
            log.error("webhook outbox file {}.json is not an event ({}) and cannot be moved aside: {}", stem,
                    LogSafe.printable(why), e.toString());
        }
        delete(deliveries.resolve(stem + SUFFIX));
    }

    /** Removes delivery states whose event is no longer in the outbox (a crash between the two removals). */
    void removeOrphanStates(Set<String> stems) {
        try (DirectoryStream<Path> files = Files.newDirectoryStream(deliveries)) {
            for (Path f : files) {
                String name = f.getFileName().toString();
                if (EVENT_FILE.matcher(name).matches() && !stems.contains(name.substring(0, name.length() - SUFFIX.length()))) {
                    delete(f);
                }
            }
        } catch (IOException e) {
            log.warn("cannot list {}: {}", deliveries, e.toString());
        }
        AtomicFiles.cleanTempFiles(deliveries);
    }

    /** How many dead deliveries are recorded. */
    long countDead() {
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dead, "*" + DEAD_SEPARATOR + "*" + SUFFIX)) {
            long n = 0;
            for (Path ignored : files) {
                n++;
            }
            return n;
        } catch (NoSuchFileException e) {
            return 0;
        } catch (IOException e) {
            throw DeiaException.io("cannot list", dead, e);
        }
    }

    /** The dead deliveries, newest first, at most {@code limit}; unreadable records are logged and skipped. */
    List<DeadDelivery> listDead(int limit) {
        List<Path> files = new ArrayList<>();
        try (DirectoryStream<Path> dir = Files.newDirectoryStream(dead, "*" + DEAD_SEPARATOR + "*" + SUFFIX)) {
            dir.forEach(files::add);
        } catch (NoSuchFileException e) {
            return List.of();
        } catch (IOException e) {
            throw DeiaException.io("cannot list", dead, e);
        }
        files.sort(Comparator.comparing((Path p) -> p.getFileName().toString()).reversed());
        List<DeadDelivery> out = new ArrayList<>();
        for (Path f : files) {
            if (out.size() >= limit) {
                break;
            }
            try {
                out.add(Json.read(AtomicFiles.readString(f), DeadFile.class, "dead webhook delivery " + f.getFileName()).delivery());
            } catch (RuntimeException e) {
                log.warn("skipped unreadable dead webhook delivery {}: {}", f.getFileName(), LogSafe.printable(e.getMessage()));
            }
        }
        return out;
    }

    private static void delete(Path file) {
        try {
            Files.deleteIfExists(file);
        } catch (IOException e) {
            log.warn("cannot remove {}: {}", file, e.toString());
        }
    }
}
