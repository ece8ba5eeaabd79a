package io.deia.core.config;

import java.net.URI;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * One webhook of the hive ({@code "webhooks"} in {@code deia.json}): events of the listed types are
 * POSTed to {@code url} as JSON, signed with {@code X-Deia-Signature: sha256=<hex HMAC-SHA256 of the
 * body>} under the secret, which is read from the environment ({@code "env:NAME"}), never written in
 * the file and never logged.
 *
 * <pre>{@code
 * "webhooks": [{"url": "https://hooks.example.com/deia",
 *               "events": ["task.completed", "task.failed", "bot.failed"],
 *               "secret": "env:DEIA_HOOK_SECRET"}]
 * }</pre>
 *
 * @param url    where events are POSTed: http or https, no user info; redirects are not followed
 * @param events the event types sent there (see {@link #EVENT_TYPES}); all of them when absent
 * @param secret {@code env:NAME}: the environment variable holding the signing secret, or null to
 *               send unsigned
 */
public record Webhook(String url, List<String> events, String secret) {
    /** Every event type a webhook can ask for. */
    public static final Set<String> EVENT_TYPES = Set.of("task.completed", "task.failed", "bot.failed",
            "bot.over_budget", "permission.requested");

    public Webhook {
        if (url == null || url.isBlank()) {
            throw new IllegalArgumentException("webhook needs a url");
        }
        URI uri;
        try {
            uri = URI.create(url);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("webhook url '" + url + "' is not a URL: " + e.getMessage());
        }
        String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
        if (!scheme.equals("http") && !scheme.equals("https") || uri.getHost() == null) {
            throw new IllegalArgumentException("webhook url '" + url + "' must be an http:// or https:// URL with a host");
        }
        if (uri.getUserInfo() != null) {
            throw new IllegalArgumentException("webhook url must not carry a user name or password; use \"secret\"");
        }
        events = events == null || events.isEmpty() ? List.copyOf(new java.util.TreeSet<>(EVENT_TYPES)) : List.copyOf(events);
        for (String e : events) {
            if (!EVENT_TYPES.contains(e)) {
                throw new IllegalArgumentException("webhook event '" + e + "' is unknown; known: " + new java.util.TreeSet<>(EVENT_TYPES));
            }
        }
        if (secret != null && !secret.matches("^env:[A-Za-z_][A-Za-z0-9_]*$")) {
            throw new IllegalArgumentException("webhook secret must name an environment variable as \"env:NAME\";"
                    + " a secret is never written in the config file");
        }
    }

    /** True when events of this type go to this webhook. */
    public boolean wants(String eventType) {
        return events.contains(eventType);
    }

    /**
     * The signing secret from the environment, or null when the webhook has none.
     *
     * @throws IllegalStateException when the named variable is not set or empty
     */
    public byte[] secretBytes() {
        return secretBytes(System::getenv);
    }

    /**
     * The signing secret looked up with {@code env} (the process environment in production), or
     * null when the webhook has none.
     *
     * @throws IllegalStateException when the named variable is not set or empty
     */
    public byte[] secretBytes(java.util.function.UnaryOperator<String> env) {
        if (secret == null) {
            return null;
        }
        String name = secret.substring("env:".length());
        String value = env.apply(name);
        if (value == null || value.isEmpty()) {
            throw new IllegalStateException("webhook secret variable " + name + " is not set");
        }
        return value.getBytes(java.nio.charset.StandardCharsets.UTF_8);
    }

    /** A short stable key of this webhook (12 hex digits of its URL's SHA-256), used in outbox file names. */
    public String key() {
        try {
            byte[] d = java.security.MessageDigest.getInstance("SHA-256").digest(url.getBytes(java.nio.charset.StandardCharsets.UTF_8));
            return java.util.HexFormat.of().formatHex(d, 0, 6);
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is part of every Java runtime", e);
        }
    }

    @Override
    public String toString() {
        // Never the secret's value; its variable name is not secret.
        return "Webhook[" + url + " " + events + (secret == null ? "" : " " + secret) + "]";
    }
}
