package io.deia.core.config;

import io.deia.core.DeiaException;
import io.deia.core.HiveLayout;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.util.Objects;
import java.util.function.Supplier;

/**
 * The controller's config as it is now: the one {@code serve} started with until a reload
 * ({@code POST /api/config/reload}, SIGHUP) reads the file again. Controller components that must
 * follow a reload take this as their {@code Supplier<DeiaConfig>} and ask it each time they need the
 * config, never keeping what it returned. A reload also publishes the new {@link HiveSettings} to the
 * hive, which is how running bots learn it (they read {@code hive/settings.json} before every turn).
 *
 * <p>Thread-safe.
 */
public final class LiveConfig implements Supplier<DeiaConfig> {
    private static final Logger log = LoggerFactory.getLogger(LiveConfig.class);

    private final HiveLayout hive;
    private final Path file;
    private volatile DeiaConfig current;

    /**
     * @param hive    where the settings are published
     * @param file    the config file {@code serve} read, or null when it runs on built-in defaults
     * @param initial the config read from it at start
     */
    public LiveConfig(HiveLayout hive, Path file, DeiaConfig initial) {
        this.hive = Objects.requireNonNull(hive, "hive");
        this.file = file;
        this.current = Objects.requireNonNull(initial, "initial");
    }

    /** The config in force. */
    @Override
    public DeiaConfig get() {
        return current;
    }

    /** The config file a reload reads, or null. */
    public Path file() {
        return file;
    }

    /** Publishes the settings of the config in force to the hive ({@code serve} does at start); returns them. */
    public synchronized HiveSettings publish() {
        HiveSettings published = HiveSettings.of(current).publish(hive);
        log.info("hive settings published: max_concurrent_turns {}, {} profiles", published.maxConcurrentTurns(),
                published.profiles().size());
        return published;
    }

    /**
     * Reads and validates the config file again; when it is good, makes it the config in force and
     * publishes its settings. When it is not, nothing changes.
     *
     * @return the settings published
     * @throws DeiaException {@code UNPROCESSABLE} naming the file and what is wrong in it, or saying that
     *                       there is no file (built-in defaults)
     */
    public synchronized HiveSettings reload() {
        if (file == null) {
            throw DeiaException.unprocessable("the controller runs on the built-in config: there is no config file to reload"
                    + " (start serve with --config FILE or put deia.json in the hive)");
        }
        DeiaConfig next;
        try {
            next = DeiaConfig.load(file);
        } catch (DeiaException e) {
            log.warn("config reload refused, nothing changed: {}", e.getMessage());
            throw DeiaException.unprocessable("%s; nothing was changed", e.getMessage());
        }
        current = next;
        HiveSettings published = HiveSettings.of(next).publish(hive);
        log.info("config reloaded from {}: max_concurrent_turns {}, {} profiles", file, published.maxConcurrentTurns(),
                published.profiles().size());
        return published;
    }
}
