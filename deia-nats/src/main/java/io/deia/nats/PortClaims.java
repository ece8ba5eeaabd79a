package io.deia.nats;

import io.deia.core.internal.io.Json;
import io.deia.core.registry.BotRecord;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Collectors;

/**
 * The ports recently reserved on one node, stored in the registry bucket under
 * {@code ports.<node>}. KV compare-and-set guards one key only, so two launchers reserving for two
 * different bots on the same node could both pick the same free port from the entries they read;
 * each reservation therefore first claims its port here, by compare-and-set on this one key per
 * node: of two concurrent claims one fails, reads again and sees the other's port. A claim is needed
 * only until the bot's own entry holds the port, so claims older than {@code ttl} are dropped.
 *
 * @param claims port → the bot that claimed it and when
 */
record PortClaims(Map<Integer, Claim> claims) {
    /** One claimed port. */
    record Claim(String botId, Instant at) {
    }

    PortClaims {
        claims = claims == null ? Map.of() : Map.copyOf(claims);
    }

    static String key(String node) {
        return "ports." + node;
    }

    static PortClaims parse(byte[] value) {
        if (value == null) {
            return new PortClaims(Map.of());
        }
        try {
            return Json.read(new String(value, StandardCharsets.UTF_8), PortClaims.class, "port claims");
        } catch (RuntimeException e) {
            // A damaged claims value only loses claims younger than a minute: start afresh.
            return new PortClaims(Map.of());
        }
    }

    /**
     * Ports claimed by bots other than {@code botId} within {@code ttl} before {@code now} whose own
     * entry (in {@code entries}) is not written yet: once the claimer's entry is written from its
     * reservation on, the entry says whether it holds the port (a failed bot frees it).
     */
    Set<Integer> heldByOthers(String botId, Instant now, Duration ttl, Map<String, BotRecord> entries) {
        return claims.entrySet().stream()
                .filter(e -> !e.getValue().botId().equals(botId) && e.getValue().at().plus(ttl).isAfter(now))
                .filter(e -> {
                    BotRecord r = entries.get(e.getValue().botId());
                    return r == null || r.registeredAt() == null || r.registeredAt().isBefore(e.getValue().at());
                })
                .map(Map.Entry::getKey).collect(Collectors.toSet());
    }

    /** These claims, without expired ones and those of {@code botId}, plus {@code port} for {@code botId}. */
    PortClaims with(int port, String botId, Instant now, Duration ttl) {
        Map<Integer, Claim> next = new TreeMap<>();
        claims.forEach((p, c) -> {
            if (!c.botId().equals(botId) && c.at().plus(ttl).isAfter(now)) {
                next.put(p, c);
            }
        });
        next.put(port, new Claim(botId, now));
        return new PortClaims(next);
    }
}
