package io.deia.core.registry;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.DeiaException;
import io.deia.core.HiveLayout;
import io.deia.core.io.AtomicFiles;
import io.deia.core.io.Json;
import io.deia.core.process.ProcessTrees;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Pattern;

/**
 * The request files of cross-process combining, in {@link HiveLayout#registryPendingDir()}: a
 * process that finds the registry lock taken writes its changes there as
 * {@code <writer>-<seq>.json} before it waits, so the lock holder can apply them in its own write
 * (see {@link RegistryCommitter}).
 *
 * <p>A request file is written atomically (temp + rename: a reader sees it whole or not at all)
 * but not fsynced: it is not a promise to anyone. Its change is acknowledged only once it is in the
 * durable {@code registry.json}; a crash of the machine that loses a request file also ends the
 * process that waits for it. Whether a request was applied is decided by the ledger inside
 * {@code registry.json}, never by whether its file still exists.
 */
final class RegistryRequests {
    /**
     * This JVM as a writer of requests: pid and process start (milliseconds), so a ledger entry can
     * be told to belong to a process that is gone even when its pid was reused.
     */
    static final String WRITER = ProcessHandle.current().pid() + "-"
            + ProcessHandle.current().info().startInstant().map(Instant::toEpochMilli).orElse(0L);
    /** Temp files older than this are left by a writer that died mid-write (a live write takes microseconds). */
    static final Duration ABANDONED_TEMP_AGE = Duration.ofSeconds(60);

    private static final Pattern WRITER_FORM = Pattern.compile("[0-9]{1,19}-[0-9]{1,19}");
    /** Request numbers of this JVM, increasing over every hive it writes to. */
    private static final AtomicLong SEQ = new AtomicLong();
    private static final Logger log = LoggerFactory.getLogger(RegistryRequests.class);

    private final Path dir;

    /** One request: who asked, its number, and its changes in order. */
    record Request(String writer, long seq, List<PortableChange> changes) {
    }

    /** A request as found on disk, with its file. */
    record Found(Request request, Path file) {
    }

    RegistryRequests(HiveLayout hive) {
        this.dir = hive.registryPendingDir();
    }

    Path dir() {
        return dir;
    }

    /** Writes {@code changes} as this JVM's next request and returns it with its file. */
    Found stage(List<PortableChange> changes) {
        Request request = new Request(WRITER, SEQ.incrementAndGet(), List.copyOf(changes));
        Path file = dir.resolve(WRITER + "-" + request.seq() + ".json");
        AtomicFiles.writeUnsynced(file, Json.write(request).getBytes(StandardCharsets.UTF_8));
        return new Found(request, file);
    }

    /**
     * Every readable request in the folder, oldest number first per writer. A file that cannot be
     * read as a request is removed (logged): no live writer produces one, since requests are
     * renamed in whole. Temp files older than {@link #ABANDONED_TEMP_AGE} are removed too.
     */
    List<Found> list() {
        List<Found> found = new ArrayList<>();
        if (!Files.isDirectory(dir)) {
            return found;
        }
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir)) {
            for (Path f : files) {
                if (AtomicFiles.isTempFile(f)) {
                    removeIfAbandoned(f);
                    continue;
                }
                Request r = read(f);
                if (r != null) {
                    found.add(new Found(r, f));
                }
            }
        } catch (IOException e) {
            log.warn("cannot list registry requests in {}: {}", dir, e.toString());
        }
        found.sort(Comparator.comparing((Found f) -> f.request().writer()).thenComparingLong(f -> f.request().seq()));
        return found;
    }

    /** The request in {@code f}, or null (and the file removed) when it is not one. */
    private Request read(Path f) {
        try {
            byte[] bytes = Files.readAllBytes(f);
            JsonNode node = Json.readTree(new String(bytes, StandardCharsets.UTF_8), f.toString());
            String writer = node.path("writer").asText("");
            JsonNode seq = node.get("seq");
            JsonNode changes = node.get("changes");
            if (!WRITER_FORM.matcher(writer).matches() || seq == null || !seq.canConvertToLong() || changes == null
                    || !changes.isArray() || changes.isEmpty()) {
                throw DeiaException.invalid("not a registry request");
            }
            List<PortableChange> list = new ArrayList<>();
            for (JsonNode c : changes) {
                list.add(Json.mapper().treeToValue(c, PortableChange.class));
            }
            return new Request(writer, seq.asLong(), List.copyOf(list));
        } catch (NoSuchFileException gone) {
            return null;
        } catch (IOException | RuntimeException e) {
            log.warn("removing unreadable registry request {}: {}", f.getFileName(), e.getMessage());
            delete(f);
            return null;
        }
    }

    private void removeIfAbandoned(Path temp) {
        try {
            if (Files.getLastModifiedTime(temp).toInstant().isBefore(Instant.now().minus(ABANDONED_TEMP_AGE))) {
                log.warn("removing registry request temp file {} left by a writer that died mid-write", temp.getFileName());
                delete(temp);
            }
        } catch (IOException e) {
            // gone meanwhile: its writer renamed it into place or it was removed
        }
    }

    /** Whether any file is in the request folder (cheap: no file is read). */
    boolean anyWaiting() {
        if (!Files.isDirectory(dir)) {
            return false;
        }
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir)) {
            return files.iterator().hasNext();
        } catch (IOException e) {
            return false;
        }
    }

    /** Removes a request file; a file already gone is fine. */
    void delete(Path f) {
        try {
            Files.deleteIfExists(f);
        } catch (IOException e) {
            log.warn("cannot remove registry request {}: {}", f, e.toString());
        }
    }

    /** Removes every request file (after a registry rebuild lost the ledger; waiting writers apply their own). */
    int discardAll() {
        List<Found> all = list();
        all.forEach(f -> delete(f.file()));
        return all.size();
    }

    /** Whether the writer (pid and start milliseconds) is a process that is still running. */
    static boolean writerAlive(String writer) {
        if (!WRITER_FORM.matcher(writer).matches()) {
            return false;
        }
        String[] parts = writer.split("-");
        long pid = Long.parseLong(parts[0]);
        long startMillis = Long.parseLong(parts[1]);
        return ProcessTrees.startInstant(pid).map(i -> i.toEpochMilli() == startMillis).orElse(false);
    }
}
