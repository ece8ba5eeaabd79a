package io.deia.core.registry;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.deia.core.BotIds;
import io.deia.core.DeiaException;
import io.deia.core.HiveLayout;
import io.deia.core.io.AtomicFiles;
import io.deia.core.io.Json;
import io.deia.core.io.Utf8;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The on-disk form of the registry: reading (tolerant, entry by entry), writing (atomic, durable),
 * and the evidence and salvage steps for a damaged file. It knows nothing of locking; the caller
 * holds the registry lock for everything except {@link #read()}.
 *
 * <pre>{@code
 * {"version": 1, "updated_at": "2026-11-26T10:15:00.123Z",
 *  "bots": {"BOT-001": {"bot_id": "BOT-001", "pid": 4242, ..., "state": "idle", "status": "idle"}}}
 * }</pre>
 */
final class RegistryFile {
    /** Schema version written to the file; readers accept any version and read what they know. */
    static final int VERSION = 1;

    private static final Logger log = LoggerFactory.getLogger(RegistryFile.class);
    /** Tokenises the file's outer object only; each entry is mapped by {@link Json}, within its limits. */
    private static final JsonFactory ENVELOPE = new JsonFactory();
    private static final DateTimeFormatter EVIDENCE_STAMP =
            DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss.SSS'Z'").withZone(ZoneOffset.UTC);

    private final HiveLayout hive;
    private final Path file;
    /**
     * The bytes this object last read or wrote and the entries they hold. Parsing is a pure function
     * of the bytes, so when a read finds exactly these bytes again (no process has written since)
     * the entries are reused instead of parsed again. Byte equality, not file metadata: an inode
     * number freed by one rename can be reused by the next temp file within one timestamp tick.
     */
    private volatile Snapshot last;
    /**
     * Per bot id, the JSON text of its entry as last parsed here and the record it gives. Another
     * process's write usually changes one entry of many; the others are recognised by their text and
     * not mapped again (the mapping, not the tokenising, is what a parse spends its time on).
     */
    private volatile Map<String, ParsedEntry> entries = Map.of();
    /** Per bot, the entry last written to its heartbeat file durably by this JVM. */
    private final Map<String, BotRecord> durableHeartbeats = new ConcurrentHashMap<>();
    /** Per bot, the entry last written to its heartbeat file by this JVM (durably or not). */
    private final Map<String, BotRecord> writtenHeartbeats = new ConcurrentHashMap<>();

    /** Bytes of a whole, undamaged file and its entries (unmodifiable). */
    private record Snapshot(byte[] bytes, SortedMap<String, BotRecord> bots) {
    }

    /** The text of one entry of the {@code bots} object and the record read from it. */
    record ParsedEntry(String text, BotRecord record) {
    }

    RegistryFile(HiveLayout hive) {
        this.hive = hive;
        this.file = hive.registryFile();
    }

    Path path() {
        return file;
    }

    /**
     * What a read found: the entries that could be read, and what was wrong with the rest.
     *
     * @param bots     readable entries by bot id
     * @param problems empty when the file was missing or whole and valid
     */
    record Contents(SortedMap<String, BotRecord> bots, List<String> problems) {
        boolean damaged() {
            return !problems.isEmpty();
        }
    }

    /** The document as written: field order is the order in the file. */
    record Document(int version, Instant updatedAt, SortedMap<String, BotRecord> bots) {
    }

    /**
     * Reads the file without any lock: safe because writers replace it by atomic rename, so this sees
     * one whole version. A missing file is an empty registry. The entries of a file without damage
     * are unmodifiable.
     */
    Contents read() {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            return new Contents(new TreeMap<>(), List.of());
        } catch (IOException e) {
            throw DeiaException.io("cannot read", file, e);
        }
        Snapshot known = last;
        if (known != null && Arrays.equals(known.bytes(), bytes)) {
            return new Contents(known.bots(), List.of());
        }
        Map<String, ParsedEntry> seen = new HashMap<>();
        Contents contents = parse(bytes, entries, seen);
        if (contents.damaged()) {
            return contents;
        }
        entries = seen;
        Snapshot parsed = new Snapshot(bytes, Collections.unmodifiableSortedMap(contents.bots()));
        last = parsed;
        return new Contents(parsed.bots(), List.of());
    }

    /**
     * Parses registry bytes entry by entry with a streaming parser, so that one bad entry, or a file
     * cut off half way, still yields every entry before (and, for a bad entry, after) the damage.
     */
    static Contents parse(byte[] bytes) {
        return parse(bytes, Map.of(), new HashMap<>());
    }

    /**
     * Like {@link #parse(byte[])}; an entry whose text equals its text in {@code known} is taken
     * from there instead of being mapped again. Every entry read is put into {@code seen}.
     */
    static Contents parse(byte[] bytes, Map<String, ParsedEntry> known, Map<String, ParsedEntry> seen) {
        SortedMap<String, BotRecord> bots = new TreeMap<>();
        List<String> problems = new ArrayList<>();
        if (bytes.length == 0) {
            problems.add("the file is empty");
            return new Contents(bots, problems);
        }
        String text;
        try {
            text = Utf8.decodeStrict(bytes, "registry.json");
        } catch (DeiaException e) {
            problems.add(e.getMessage());
            return new Contents(bots, problems);
        }
        try (JsonParser p = ENVELOPE.createParser(text)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                problems.add("the root is not a JSON object");
                return new Contents(bots, problems);
            }
            boolean sawBots = false;
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String name = p.currentName();
                JsonToken value = p.nextToken();
                if ("bots".equals(name) && value == JsonToken.START_OBJECT) {
                    sawBots = true;
                    readEntries(p, text, known, seen, bots, problems);
                } else {
                    p.skipChildren();
                }
            }
            if (!sawBots) {
                problems.add("no \"bots\" object");
            }
            if (p.nextToken() != null) {
                problems.add("content after the root object");
            }
        } catch (JsonProcessingException e) {
            problems.add("not valid JSON: " + e.getOriginalMessage() + " at " + e.getLocation());
        } catch (IOException e) {
            problems.add("not valid JSON: " + e);
        }
        return new Contents(bots, problems);
    }

    private static void readEntries(JsonParser p, String text, Map<String, ParsedEntry> known, Map<String, ParsedEntry> seen,
                                    Map<String, BotRecord> bots, List<String> problems) throws IOException {
        while (p.nextToken() == JsonToken.FIELD_NAME) {
            String id = p.currentName();
            boolean object = p.nextToken() == JsonToken.START_OBJECT;
            long start = p.currentTokenLocation().getCharOffset();
            // Skipping throws when the file ends inside the entry; the caller then keeps what it has.
            p.skipChildren();
            if (!object) {
                problems.add("entry '" + printable(id) + "' is unreadable: not a JSON object");
                continue;
            }
            String entry = text.substring((int) start, (int) p.currentLocation().getCharOffset());
            ParsedEntry same = known.get(id);
            try {
                BotRecord record = same != null && same.text().equals(entry) ? same.record() : toRecord(id, entry);
                bots.put(id, record);
                seen.put(id, new ParsedEntry(entry, record));
            } catch (RuntimeException e) {
                problems.add("entry '" + printable(id) + "' is unreadable: " + e.getMessage());
            }
        }
    }

    /** The entry's record; a missing {@code bot_id} is the key it is filed under. */
    private static BotRecord toRecord(String id, String entry) {
        BotIds.requireValid(id);
        ObjectNode object = Json.read(entry, ObjectNode.class, "the entry");
        JsonNode declared = object.get("bot_id");
        if (declared == null || declared.isNull()) {
            object.put("bot_id", id);
        } else if (!id.equals(declared.asText())) {
            throw DeiaException.invalid("it is filed under '%s' but names bot_id '%s'", id, printable(declared.asText()));
        }
        return Json.convert(object, BotRecord.class);
    }

    /** Replaces the file with {@code bots}, atomically and durably. */
    void write(Map<String, BotRecord> bots) {
        write(bots, null);
    }

    /**
     * Creates the temp file of a later {@link #write(Map, AtomicFiles.Prepared)} now, outside the
     * lock (see {@link AtomicFiles#prepare} for why that pays).
     */
    AtomicFiles.Prepared prepareWrite() {
        return AtomicFiles.prepare(file);
    }

    /**
     * Like {@link #write(Map)}, through {@code prepared} (a temp file made ahead by
     * {@link #prepareWrite()}) when it is given and still unused; else the ordinary way.
     */
    void write(Map<String, BotRecord> bots, AtomicFiles.Prepared prepared) {
        SortedMap<String, BotRecord> copy = new TreeMap<>(bots);
        byte[] bytes = serialise(Instant.now(), copy);
        last = null;
        if (prepared != null && prepared.target().equals(file.toAbsolutePath()) && !prepared.filled() && prepared.open()) {
            prepared.commit(bytes, true);
        } else {
            AtomicFiles.write(file, bytes);
        }
        // The entries read back from these bytes equal the ones just written (values are stored in
        // file precision), so the next read-modify-write of this process skips the parse when no
        // other process wrote in between.
        last = new Snapshot(bytes, Collections.unmodifiableSortedMap(copy));
    }

    /** The file's bytes for {@code bots}, updated at {@code updatedAt}. */
    static byte[] serialise(Instant updatedAt, SortedMap<String, BotRecord> bots) {
        return Json.writePretty(new Document(VERSION, updatedAt, bots)).getBytes(StandardCharsets.UTF_8);
    }

    /**
     * Renames the damaged file to {@code registry.json.corrupt-<UTC timestamp>} next to it, so the
     * evidence survives the rebuild. Caller holds the lock.
     *
     * @return where it went
     */
    Path keepAside() throws IOException {
        String base = file.getFileName() + ".corrupt-" + EVIDENCE_STAMP.format(Instant.now());
        Path target = file.resolveSibling(base);
        for (int n = 1; Files.exists(target); n++) {
            target = file.resolveSibling(base + "-" + n);
        }
        AtomicFiles.move(file, target);
        return target;
    }

    /**
     * Every readable heartbeat file, as registry entries: the last record each bot wrote. Used to
     * fill in entries a damaged registry lost. Unreadable heartbeat files are logged and skipped.
     */
    SortedMap<String, BotRecord> readHeartbeats() {
        SortedMap<String, BotRecord> found = new TreeMap<>();
        Path dir = hive.heartbeatsDir();
        if (!Files.isDirectory(dir)) {
            return found;
        }
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, "*.json")) {
            for (Path hb : files) {
                if (AtomicFiles.isTempFile(hb)) {
                    continue;
                }
                String name = hb.getFileName().toString();
                String id = name.substring(0, name.length() - ".json".length());
                try {
                    BotRecord r = Json.read(AtomicFiles.readString(hb), BotRecord.class, hb.toString());
                    if (!r.botId().equals(id)) {
                        throw DeiaException.invalid("%s names bot_id %s", hb, r.botId());
                    }
                    found.put(id, r);
                } catch (DeiaException e) {
                    log.warn("[{}] heartbeat file unreadable, not used for the registry rebuild: {}", printable(id), e.getMessage());
                }
            }
        } catch (IOException e) {
            log.warn("cannot list heartbeats in {}: {}", dir, e.toString());
        }
        return found;
    }

    /** Removes a bot's heartbeat file so a later rebuild cannot bring back a removed entry. */
    void deleteHeartbeat(String botId) {
        durableHeartbeats.remove(botId);
        writtenHeartbeats.remove(botId);
        Path hb = hive.heartbeatFile(botId);
        try {
            Files.deleteIfExists(hb);
        } catch (IOException e) {
            log.warn("[{}] cannot delete heartbeat file {}: {}", botId, hb, e.toString());
        }
    }

    /**
     * Writes a bot's heartbeat file, its latest registry entry, always atomically (no reader ever
     * sees a partial file). Durably (fsync of file and folder) when the file is new or the entry
     * differs from the one last written durably here in anything but {@code state} and
     * {@code last_heartbeat}; a refresh that changes only those two is written without fsync
     * ({@link AtomicFiles#writeUnsynced}).
     *
     * <p>Why a refresh may skip the fsync: the heartbeat file is not the record of truth. The same
     * beat is already durable in {@code registry.json}, which is written first; the heartbeat file
     * is only the material for rebuilding a registry file damaged beyond reading. A refresh lost by a
     * power cut or kernel crash leaves the previous, durable version (same pid, start instant, port,
     * profile), and state and heartbeat time of a process that such a crash has ended anyway are
     * what the reaper recomputes from the pid. The two fsyncs per beat, on the other hand, compete in
     * the file system journal with every other process's registry write.
     */
    void writeHeartbeat(BotRecord record) {
        writeHeartbeat(record, null);
    }

    /**
     * Like {@link #writeHeartbeat(BotRecord)}; when {@code prepared} (from
     * {@link #prepareHeartbeat}) holds exactly {@code record} and the write is a refresh, its temp
     * file, filled before the lock was taken, is renamed into place, so no file is made and nothing
     * is serialised under the lock. Any other case writes the ordinary way.
     */
    void writeHeartbeat(BotRecord record, PreparedHeartbeat prepared) {
        String botId = record.botId();
        Path hb = hive.heartbeatFile(botId);
        BotRecord durable = durableHeartbeats.get(botId);
        if (durable != null && sameButLiveness(durable, record) && Files.exists(hb)) {
            if (prepared != null && prepared.record().equals(record) && prepared.write().filled()
                    && prepared.write().target().equals(hb.toAbsolutePath())) {
                prepared.write().commit(false);
            } else {
                AtomicFiles.writeUnsynced(hb, Json.writePretty(record).getBytes(StandardCharsets.UTF_8));
            }
            writtenHeartbeats.put(botId, record);
            return;
        }
        AtomicFiles.write(hb, Json.writePretty(record).getBytes(StandardCharsets.UTF_8));
        durableHeartbeats.put(botId, record);
        writtenHeartbeats.put(botId, record);
    }

    /**
     * A heartbeat file's next version, written to a temp file before the registry lock is taken:
     * the entry this JVM last wrote for the bot with {@code state} and {@code beatAt}, which is what
     * the heartbeat will commit unless another writer changed the entry meanwhile (then the temp
     * file is not used). Null when no refresh of a known entry is expected (first beat of this JVM,
     * or other fields changed: that write is durable and made under the lock).
     */
    PreparedHeartbeat prepareHeartbeat(String botId, BotState state, Instant beatAt) {
        BotRecord base = writtenHeartbeats.get(botId);
        BotRecord durable = durableHeartbeats.get(botId);
        if (base == null || durable == null) {
            return null;
        }
        BotRecord expected = base.toBuilder().state(state).lastHeartbeat(beatAt).build();
        if (!sameButLiveness(durable, expected)) {
            return null;
        }
        AtomicFiles.Prepared write = AtomicFiles.prepare(hive.heartbeatFile(botId));
        try {
            write.fill(Json.writePretty(expected).getBytes(StandardCharsets.UTF_8));
        } catch (RuntimeException e) {
            write.close();
            throw e;
        }
        return new PreparedHeartbeat(expected, write);
    }

    /** A heartbeat file version written ahead (see {@link #prepareHeartbeat}); close it when done. */
    record PreparedHeartbeat(BotRecord record, AtomicFiles.Prepared write) implements AutoCloseable {
        @Override
        public void close() {
            write.close();
        }
    }

    /** Equal apart from the two fields a heartbeat refreshes. */
    private static boolean sameButLiveness(BotRecord a, BotRecord b) {
        return a.toBuilder().state(b.state()).lastHeartbeat(b.lastHeartbeat()).build().equals(b);
    }

    /**
     * Removes temp files a registry writer left when it died mid-write: of {@code registry.json} and
     * of heartbeat files. Only a dead process's: the caller holds the lock, but a lock file removed
     * under load lets a second process in, and a temp file a running process made ahead of its next
     * write ({@link AtomicFiles#prepare}) lives outside the lock anyway. Every temp file names the
     * process that made it (pid and start instant, see {@link AtomicFiles#isTempOfLiveProcess}).
     */
    int cleanOwnTempFiles() {
        String prefix = AtomicFiles.TEMP_PREFIX + file.getFileName() + ".";
        return removeDeadTemps(file.getParent(), name -> name.startsWith(prefix))
                + removeDeadTemps(hive.heartbeatsDir(), name -> name.startsWith(AtomicFiles.TEMP_PREFIX));
    }

    private static int removeDeadTemps(Path dir, java.util.function.Predicate<String> isTemp) {
        if (!Files.isDirectory(dir)) {
            return 0;
        }
        int removed = 0;
        try (DirectoryStream<Path> temps = Files.newDirectoryStream(dir, p -> isTemp.test(p.getFileName().toString()))) {
            for (Path t : temps) {
                if (!AtomicFiles.isTempOfLiveProcess(t) && Files.deleteIfExists(t)) {
                    removed++;
                }
            }
        } catch (IOException e) {
            log.warn("cannot clean registry temp files in {}: {}", dir, e.toString());
        }
        return removed;
    }

    /** Ids as read from a damaged file may hold anything: keep log lines and messages printable. */
    static String printable(String s) {
        return io.deia.core.io.LogSafe.printable(s, 80);
    }
}
