package io.deia.core.config;

import java.net.URI;
import java.util.List;
import java.util.Locale;

/**
 * Where a hive's shared state lives ({@code "backend"} in {@code deia.json}). {@code file} (the
 * default) is the hive folder on one machine and needs no server; {@code nats} shares the hive
 * across machines through a NATS JetStream cluster (module {@code deia-nats}).
 *
 * <pre>{@code
 * "backend": {"type": "nats", "servers": ["nats://10.0.0.5:4222", "nats://10.0.0.6:4222"],
 *             "name": "default", "creds": "env:DEIA_NATS_CREDS",
 *             "tls": {"ca_file": "/etc/deia/ca.pem"}}
 * }</pre>
 *
 * @param type    {@code file} or {@code nats}
 * @param servers for {@code nats}: the server URLs ({@code nats://} or {@code tls://})
 * @param name    the shared hive's name ({@code default}): the prefix of its streams, buckets and subjects
 * @param creds   for {@code nats}: {@code env:NAME} naming a variable that holds the path of a NATS
 *                credentials file, or null; the file's contents are never logged
 * @param tls     for {@code nats}: TLS settings, or null for plain connections (or {@code tls://} URLs)
 */
public record Backend(String type, List<String> servers, String name, String creds, Tls tls) {
    /** The embedded default: the hive folder. */
    public static final Backend FILE = new Backend("file", null, null, null, null);

    public Backend {
        type = type == null ? "file" : type.toLowerCase(Locale.ROOT);
        if (!type.equals("file") && !type.equals("nats")) {
            throw new IllegalArgumentException("backend.type must be file or nats, was '" + type + "'");
        }
        servers = servers == null ? List.of() : List.copyOf(servers);
        name = name == null ? "default" : name;
        if (!name.matches("^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")) {
            throw new IllegalArgumentException("backend.name must be 1-32 letters, digits, '_' or '-', was '" + name + "'");
        }
        if (type.equals("nats")) {
            if (servers.isEmpty()) {
                throw new IllegalArgumentException("backend.servers: a nats backend needs at least one server URL");
            }
            for (String s : servers) {
                URI uri;
                try {
                    uri = URI.create(s);
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException("backend.servers: '" + s + "' is not a URL");
                }
                String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
                if (!scheme.equals("nats") && !scheme.equals("tls") || uri.getHost() == null) {
                    throw new IllegalArgumentException("backend.servers: '" + s + "' must be nats://host:port or tls://host:port");
                }
                if (uri.getUserInfo() != null) {
                    throw new IllegalArgumentException("backend.servers: put credentials in \"creds\", not in the URL");
                }
            }
        }
        if (creds != null && !creds.matches("^env:[A-Za-z_][A-Za-z0-9_]*$")) {
            throw new IllegalArgumentException("backend.creds must name an environment variable as \"env:NAME\"");
        }
    }

    /** True for the NATS backend. */
    public boolean isNats() {
        return type.equals("nats");
    }

    /**
     * TLS for the NATS connection: files in PEM form.
     *
     * @param caFile   the CA certificates to trust, or null for the JVM's default trust store
     * @param certFile this client's certificate (mutual TLS), or null
     * @param keyFile  this client's private key (mutual TLS), or null
     */
    public record Tls(String caFile, String certFile, String keyFile) {
        public Tls {
            if ((certFile == null) != (keyFile == null)) {
                throw new IllegalArgumentException("backend.tls: cert_file and key_file go together");
            }
        }
    }
}
