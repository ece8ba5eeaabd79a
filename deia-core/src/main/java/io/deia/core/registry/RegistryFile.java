package io.deia.core.registry;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.deia.core.DeiaException;
import io.deia.core.HiveLayout;
import io.deia.core.internal.BotIds;
import io.deia.core.internal.io.AtomicFiles;
import io.deia.core.internal.io.Json;
import io.deia.core.internal.io.Utf8;
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
     * Per bot, the entry this object last wrote to its heartbeat file durably: a beat that changes
     * only state and time against it is written without fsync (see {@link #writeHeartbeat}).
     */
    private final Map<String, BotRecord> durableHeartbeats = new ConcurrentHashMap<>();

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
     * one whole version. A missing file is an empty registry.
     */
    Contents read() {
        try {
            return parse(Files.readAllBytes(file));
        } catch (NoSuchFileException e) {
            return new Contents(new TreeMap<>(), List.of());
        } catch (IOException e) {
            throw DeiaException.io("cannot read", file, e);
        }
    }

    /**
     * The entries for a change. A damaged file is renamed aside as evidence and rebuilt from every
     * entry that could still be read plus, for the entries it lost, the heartbeat files; the
     * rebuilt file is written before the entries are returned. Caller holds the lock.
     */
    SortedMap<String, BotRecord> readForUpdate() {
        Contents contents = read();
        if (!contents.damaged()) {
            return contents.bots();
        }
        SortedMap<String, BotRecord> rebuilt = new TreeMap<>(contents.bots());
        Path evidence = keepAside();
        List<String> fromHeartbeats = new ArrayList<>();
        readHeartbeats().forEach((id, r) -> {
            if (rebuilt.putIfAbsent(id, r) == null) {
                fromHeartbeats.add(id);
            }
        });
        write(rebuilt);
        log.error("registry {} was damaged ({}); kept it as {} and rebuilt it with {} entries ({} read from it, {} from heartbeat files {})",
                file, String.join("; ", contents.problems()), evidence.getFileName(), rebuilt.size(),
                contents.bots().size(), fromHeartbeats.size(), fromHeartbeats);
        return rebuilt;
    }

    /**
     * Parses registry bytes; a file that does not read whole is read entry by entry with a streaming
     * parser, so that one bad entry, or a file cut off half way, still yields every entry before
     * (and, for a bad entry, after) the damage.
     */
    static Contents parse(byte[] bytes) {
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
        try {
            // A whole file in one databind pass: half the CPU of entry by entry, and every change
            // parses the file under the lock. Whatever it refuses (damage, duplicate keys, an entry
            // without bot_id or filed under another id) is read entry by entry below, which names it.
            Document whole = Json.readStrict(text, Document.class, "registry.json");
            if (whole.bots() != null && whole.bots().entrySet().stream()
                    .allMatch(e -> e.getValue() != null && e.getKey().equals(e.getValue().botId()))) {
                return new Contents(new TreeMap<>(whole.bots()), problems);
            }
        } catch (DeiaException e) {
            // read entry by entry below
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
                    readEntries(p, text, bots, problems);
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

    private static void readEntries(JsonParser p, String text, Map<String, BotRecord> bots, List<String> problems)
            throws IOException {
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
            try {
                bots.put(id, toRecord(id, entry));
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

    /** Replaces the file with {@code bots}, atomically and durably. Caller holds the lock. */
    void write(Map<String, BotRecord> bots) {
        AtomicFiles.write(file, serialise(Instant.now(), new TreeMap<>(bots)));
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
    private Path keepAside() {
        String base = file.getFileName() + ".corrupt-" + EVIDENCE_STAMP.format(Instant.now());
        Path target = file.resolveSibling(base);
        for (int n = 1; Files.exists(target); n++) {
            target = file.resolveSibling(base + "-" + n);
        }
        try {
            AtomicFiles.move(file, target);
        } catch (IOException e) {
            throw DeiaException.io("cannot keep the damaged registry aside as " + target.getFileName() + ":", file, e);
        }
        return target;
    }

    /**
     * Every readable heartbeat file, as registry entries: the last record each bot wrote. Used to
     * fill in entries a damaged registry lost. Unreadable heartbeat files are logged and skipped.
     */
    private SortedMap<String, BotRecord> readHeartbeats() {
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

    /** Removes a bot's heartbeat file so a later rebuild cannot bring back a removed entry. Lock held. */
    void deleteHeartbeat(String botId) {
        durableHeartbeats.remove(botId);
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
     * ({@link AtomicFiles#writeUnsynced}). Lock held, after the durable registry write.
     *
     * <p>Why a refresh may skip the fsync: the heartbeat file is not the record of truth. The same
     * beat is already durable in {@code registry.json}; the heartbeat file is only the material for
     * rebuilding a registry file damaged beyond reading. A refresh lost by a power cut or kernel
     * crash leaves the previous, durable version (same pid, start instant, port, profile), and state
     * and heartbeat time of a process that such a crash has ended anyway are what the reaper
     * recomputes from the pid. Two more fsyncs per beat would halve the rate at which a hive's
     * runners can beat, since every beat of every runner queues on one lock.
     */
    void writeHeartbeat(BotRecord record) {
        String botId = record.botId();
        Path hb = hive.heartbeatFile(botId);
        byte[] bytes = Json.writePretty(record).getBytes(StandardCharsets.UTF_8);
        BotRecord durable = durableHeartbeats.get(botId);
        if (durable != null && sameButLiveness(durable, record) && Files.exists(hb)) {
            AtomicFiles.writeUnsynced(hb, bytes);
            return;
        }
        AtomicFiles.write(hb, bytes);
        durableHeartbeats.put(botId, record);
    }

    /** Equal apart from the two fields a heartbeat refreshes. */
    private static boolean sameButLiveness(BotRecord a, BotRecord b) {
        return a.toBuilder().state(b.state()).lastHeartbeat(b.lastHeartbeat()).build().equals(b);
    }

    /**
     * Removes temp files a registry writer left when it died mid-write: of {@code registry.json}
     * (and any other file of the hive folder) and of heartbeat files. Only a dead process's: the
     * caller holds the lock, but a lock file removed under load lets a second process in, so a
     * temp file of a running process may be its write under way (see
     * {@link AtomicFiles#isTempOfLiveProcess}).
     *
     * @return how many were removed
     */
    int cleanTempFiles() {
        return AtomicFiles.cleanTempFiles(file.getParent()) + AtomicFiles.cleanTempFiles(hive.heartbeatsDir());
    }

    /** Ids as read from a damaged file may hold anything: keep log lines and messages printable. */
    static String printable(String s) {
        return io.deia.core.internal.io.LogSafe.printable(s, 80);
    }
}
