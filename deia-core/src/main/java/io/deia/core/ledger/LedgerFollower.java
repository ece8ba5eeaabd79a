package io.deia.core.ledger;

import io.deia.core.DeiaException;
import io.deia.core.HiveLayout;
import io.deia.core.internal.BotIds;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * Follows every bot's ledger in a hive: each {@link #readNew()} returns only the lines appended
 * since the previous call, by keeping one {@link Ledger.Tail} (a byte offset) per ledger file. A
 * reader that is asked often (a metrics scrape every few seconds) thus costs one directory listing
 * and one {@code stat} per bot when nothing was appended (a ledger whose size did not change is not
 * opened), however long the ledgers are.
 *
 * <p>A ledger file that appears later (a new bot) is picked up from its first line; one that
 * disappears is forgotten (and read from its start should it come back). Not thread-safe: one
 * caller at a time.
 */
public final class LedgerFollower {
    private static final Logger log = LoggerFactory.getLogger(LedgerFollower.class);
    private static final String SUFFIX = ".jsonl";

    private final HiveLayout hive;
    private final Map<String, Ledger.Tail> tails = new HashMap<>();
    /** Each ledger's size when it was last read: an unchanged size means nothing to read. */
    private final Map<String, Long> sizes = new HashMap<>();

    public LedgerFollower(HiveLayout hive) {
        this.hive = hive;
    }

    /**
     * The entries appended to each ledger since the last call (everything on the first call), by
     * bot id in the order of the ledger files' names; bots with nothing new are left out.
     *
     * @throws DeiaException when the ledger folder or a ledger cannot be read
     */
    public Map<String, List<LedgerEntry>> readNew() {
        Map<String, Long> present = ledgerSizes();
        tails.keySet().retainAll(present.keySet());
        sizes.keySet().retainAll(present.keySet());
        Map<String, List<LedgerEntry>> out = new LinkedHashMap<>();
        for (Map.Entry<String, Long> file : present.entrySet()) {
            String botId = file.getKey();
            // The size from the listing's stat: a ledger that did not change is not even opened.
            if (file.getValue().equals(sizes.put(botId, file.getValue()))) {
                continue;
            }
            Ledger.Tail tail = tails.computeIfAbsent(botId, id -> {
                log.debug("[{}] following its ledger", id);
                return new Ledger.Tail(hive.ledgerFile(id));
            });
            List<LedgerEntry> entries = tail.readNew();
            if (!entries.isEmpty()) {
                out.put(botId, entries);
            }
        }
        return out;
    }

    /** The number of ledger files followed now. */
    public int followed() {
        return tails.size();
    }

    /** The ledger files and their sizes, by bot id in order. */
    private SortedMap<String, Long> ledgerSizes() {
        SortedMap<String, Long> ledgers = new TreeMap<>();
        try (var files = Files.newDirectoryStream(hive.ledgerDir(), "*" + SUFFIX)) {
            for (Path f : files) {
                String name = f.getFileName().toString();
                String id = name.substring(0, name.length() - SUFFIX.length());
                // Only the bots' runners write here, under valid ids; anything else is not a ledger.
                if (!BotIds.isValid(id)) {
                    continue;
                }
                BasicFileAttributes attributes;
                try {
                    attributes = Files.readAttributes(f, BasicFileAttributes.class);
                } catch (NoSuchFileException gone) {
                    continue; // removed since the listing
                }
                if (attributes.isRegularFile()) {
                    ledgers.put(id, attributes.size());
                }
            }
        } catch (NoSuchFileException e) {
            return ledgers;
        } catch (IOException e) {
            throw DeiaException.io("cannot list the ledgers in", hive.ledgerDir(), e);
        }
        return ledgers;
    }
}
