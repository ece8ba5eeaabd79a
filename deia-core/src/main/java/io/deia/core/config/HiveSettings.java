package io.deia.core.config;

import io.deia.core.HiveLayout;
import io.deia.core.internal.io.AtomicFiles;
import io.deia.core.internal.io.Json;

import java.nio.file.Files;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;

/**
 * The part of a hive's config that may change while bots run: turn limits, budgets, token prices and
 * which webhook event types are wanted. {@code serve} publishes it as {@code hive/settings.json} at
 * start and on {@code POST /api/config/reload} (or SIGHUP), and every runner reads it before each
 * turn ({@link HiveSettingsFile}), so a reload applies without restarting a bot. A runner of a hive
 * where no {@code serve} ever ran uses the settings of its own config.
 *
 * @param maxConcurrentTurns the hive's turn limit, or null for none
 * @param budget             the hive-wide budget, or null for none
 * @param profiles           per profile name: its limit, budget and prices
 * @param webhookEvents      the event types at least one webhook wants (no event of another type is written)
 * @param publishedAt        when {@code serve} wrote it (null for settings taken from a config)
 */
public record HiveSettings(Integer maxConcurrentTurns, Budget budget, Map<String, ProfileSettings> profiles,
                           List<String> webhookEvents, Instant publishedAt) {
    /** No limit, no budget, no webhook. */
    public static final HiveSettings NONE = new HiveSettings(null, null, Map.of(), List.of(), null);

    public HiveSettings {
        profiles = profiles == null ? Map.of() : Map.copyOf(profiles);
        webhookEvents = webhookEvents == null ? List.of() : List.copyOf(webhookEvents);
    }

    /**
     * A profile's changeable settings.
     *
     * @param maxConcurrent the profile's turn limit, or null for none
     * @param budget        the profile's budget, or null for none
     * @param prices        the profile's token prices, or null
     */
    public record ProfileSettings(Integer maxConcurrent, Budget budget, Prices prices) {
    }

    /** The settings of a config, as {@code serve} publishes them. */
    public static HiveSettings of(DeiaConfig config) {
        Map<String, ProfileSettings> profiles = new LinkedHashMap<>();
        config.profiles().forEach((name, p) -> profiles.put(name, new ProfileSettings(p.maxConcurrent(), p.budget(), p.prices())));
        TreeSet<String> events = new TreeSet<>();
        config.webhooks().forEach(w -> events.addAll(w.events()));
        return new HiveSettings(config.maxConcurrentTurns(), config.budget(), profiles, List.copyOf(events), null);
    }

    /** The named profile's settings; all unset for a profile these settings do not know. */
    public ProfileSettings profile(String name) {
        ProfileSettings p = name == null ? null : profiles.get(name);
        return p == null ? new ProfileSettings(null, null, null) : p;
    }

    /** True when at least one webhook wants events of this type. */
    public boolean wantsEvent(String type) {
        return webhookEvents.contains(type);
    }

    /** Writes these settings to {@code hive/settings.json}, atomically and durably, stamped with now. */
    public HiveSettings publish(HiveLayout hive) {
        HiveSettings stamped = new HiveSettings(maxConcurrentTurns, budget, profiles, webhookEvents, Instant.now());
        AtomicFiles.writeString(hive.settingsFile(), Json.writePretty(stamped));
        return stamped;
    }

    /**
     * The settings published in the hive, if any.
     *
     * @throws io.deia.core.DeiaException when the file exists but cannot be read or parsed
     */
    public static Optional<HiveSettings> read(HiveLayout hive) {
        if (!Files.isRegularFile(hive.settingsFile())) {
            return Optional.empty();
        }
        return Optional.of(Json.read(AtomicFiles.readString(hive.settingsFile()), HiveSettings.class,
                "hive settings " + hive.settingsFile()));
    }
}
