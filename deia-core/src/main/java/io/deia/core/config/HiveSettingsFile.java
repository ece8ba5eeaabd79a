package io.deia.core.config;

import io.deia.core.HiveLayout;
import io.deia.core.internal.io.LogSafe;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;

/**
 * A runner's view of {@code hive/settings.json} ({@link HiveSettings}): read again only when the
 * file's modification time or size changed since the last read (one {@code stat} per call
 * otherwise), the settings of the runner's own config while no {@code serve} has published any. A
 * file that cannot be parsed keeps the last good settings and is logged once per change.
 *
 * <p>Thread-safe.
 */
public final class HiveSettingsFile {
    private static final Logger log = LoggerFactory.getLogger(HiveSettingsFile.class);

    private final HiveLayout hive;
    private final HiveSettings fallback;
    private HiveSettings current;
    private FileTime seenTime;
    private long seenSize = -1;

    /**
     * @param hive     the hive whose settings file is read
     * @param fallback the settings while the hive has none published (usually {@code HiveSettings.of(config)})
     */
    public HiveSettingsFile(HiveLayout hive, HiveSettings fallback) {
        this.hive = hive;
        this.fallback = fallback;
        this.current = fallback;
    }

    /** The settings now in force. */
    public synchronized HiveSettings current() {
        BasicFileAttributes attrs;
        try {
            attrs = Files.readAttributes(hive.settingsFile(), BasicFileAttributes.class);
        } catch (NoSuchFileException e) {
            seenTime = null;
            seenSize = -1;
            current = fallback;
            return current;
        } catch (IOException e) {
            return current;
        }
        if (attrs.lastModifiedTime().equals(seenTime) && attrs.size() == seenSize) {
            return current;
        }
        seenTime = attrs.lastModifiedTime();
        seenSize = attrs.size();
        try {
            current = HiveSettings.read(hive).orElse(fallback);
        } catch (RuntimeException e) {
            log.warn("hive settings {} cannot be read, keeping the last good ones: {}", hive.settingsFile(),
                    LogSafe.printable(e.getMessage()));
        }
        return current;
    }
}
