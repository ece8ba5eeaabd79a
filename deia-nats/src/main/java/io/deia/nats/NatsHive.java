package io.deia.nats;

import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;
import io.deia.core.config.Backend;
import io.nats.client.Connection;
import io.nats.client.ConnectionListener;
import io.nats.client.ErrorListener;
import io.nats.client.JetStream;
import io.nats.client.JetStreamApiException;
import io.nats.client.JetStreamManagement;
import io.nats.client.KeyValueManagement;
import io.nats.client.Nats;
import io.nats.client.Options;
import io.nats.client.api.ServerInfo;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.UnaryOperator;

/**
 * One process's connection to a shared hive's NATS JetStream ({@code backend} of type {@code nats}
 * in {@code deia.json}), checked at start so that a wrong setting fails at once with a clear message
 * and leaves nothing behind (the connection is closed before the error is thrown):
 * <ul>
 *   <li>no server reachable: {@link ErrorCode#UNAVAILABLE} naming the URLs;</li>
 *   <li>credentials refused: {@link ErrorCode#UNAUTHORIZED} ("authorization");</li>
 *   <li>a server without JetStream: {@link ErrorCode#UNAVAILABLE} saying to start it with {@code -js};</li>
 *   <li>a server older than {@value #MIN_VERSION}: {@link ErrorCode#UNPROCESSABLE}.</li>
 * </ul>
 *
 * <p><b>Credentials.</b> {@code creds: "env:NAME"}: the variable holds the path of a NATS credentials
 * file (JWT and NKey seed, or a seed alone for NKey users); the client reads it when it authenticates.
 * {@code tls}: see {@link NatsTls}. Neither the file contents nor the seed are ever logged.
 *
 * <p><b>Reconnect.</b> After a successful start the client reconnects forever, with exponential
 * back-off from 100 ms to 5 s plus jitter, and buffers what is published meanwhile (the client's
 * reconnect buffer, 8 MB by default): a node cut off from NATS keeps its results and sends them once
 * the connection is back.
 *
 * <p><b>Version.</b> deia relies on JetStream KV buckets with a bucket-wide TTL (max age) and
 * compare-and-set on a key's revision, both in 2.9. It does not rely on per-key TTL or limit markers
 * (2.11+), which a 2.9 server silently ignores.
 */
public final class NatsHive implements AutoCloseable {
    /** The oldest nats-server deia runs on. */
    public static final String MIN_VERSION = "2.9.0";
    /** Replicas of streams and buckets on a cluster of this size or larger. */
    public static final int MAX_REPLICAS = 3;

    private static final Logger log = LoggerFactory.getLogger(NatsHive.class);
    private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(5);
    private static final Duration FIRST_RECONNECT_WAIT = Duration.ofMillis(100);
    private static final Duration MAX_RECONNECT_WAIT = Duration.ofSeconds(5);
    /** How long a new connection waits for JetStream to answer (a new cluster electing its leader). */
    private static final Duration JETSTREAM_WAIT = Duration.ofSeconds(15);

    private final String name;
    private final Connection connection;
    private final JetStream jetStream;
    private final JetStreamManagement management;
    private final KeyValueManagement keyValueManagement;
    private final int clusterSize;

    private NatsHive(String name, Connection connection, int clusterSize) throws IOException {
        this.name = name;
        this.connection = connection;
        this.jetStream = connection.jetStream();
        this.management = connection.jetStreamManagement();
        this.keyValueManagement = connection.keyValueManagement();
        this.clusterSize = clusterSize;
    }

    /**
     * Connects to {@code backend}'s servers as {@code connectionName} (shown by the server's
     * monitoring, e.g. {@code deia-node-host-a}), reading {@code creds} variables from the process
     * environment.
     */
    public static NatsHive connect(Backend backend, String connectionName) {
        return connect(backend, connectionName, System::getenv);
    }

    /**
     * {@link #connect(Backend, String)} with {@code env} resolving the variable {@code creds} names.
     *
     * @throws DeiaException as listed in the class description; {@code INVALID_ARGUMENT} for a
     *         backend that is not {@code nats}, or a credentials variable that is unset or names an
     *         unreadable file
     */
    public static NatsHive connect(Backend backend, String connectionName, UnaryOperator<String> env) {
        Objects.requireNonNull(backend, "backend");
        if (!backend.isNats()) {
            throw DeiaException.invalid("backend.type is %s, not nats", backend.type());
        }
        Options.Builder options = Options.builder()
                .servers(backend.servers().toArray(new String[0]))
                .connectionName(Objects.requireNonNull(connectionName, "connectionName"))
                .connectionTimeout(CONNECT_TIMEOUT)
                .maxReconnects(-1)
                .reconnectDelayHandler(NatsHive::backOff)
                .connectionListener(new Listener(backend.name()));
        ServerErrors errors = new ServerErrors(backend.name());
        options.errorListener(errors);
        if (backend.creds() != null) {
            options.authHandler(Nats.credentials(credsFile(backend.creds(), env).toString()));
        }
        if (backend.tls() != null) {
            options.sslContext(NatsTls.context(backend.tls()));
        }
        Connection connection;
        try {
            connection = Nats.connect(options.build());
        } catch (IOException e) {
            throw connectFailure(backend, errors.last, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw DeiaException.unavailable("interrupted while connecting to NATS at %s", backend.servers());
        }
        try {
            return checked(backend, connection);
        } catch (RuntimeException e) {
            closeQuietly(connection);
            throw e;
        }
    }

    private static NatsHive checked(Backend backend, Connection connection) {
        ServerInfo info = connection.getServerInfo();
        String where = info.getServerName() + " " + connection.getConnectedUrl();
        if (info.isOlderThanVersion(MIN_VERSION)) {
            throw DeiaException.unprocessable("nats-server %s at %s is too old: deia needs %s or newer (KV bucket TTL "
                    + "and revision compare-and-set)", info.getVersion(), where, MIN_VERSION);
        }
        if (!info.isJetStreamAvailable()) {
            throw noJetStream(where);
        }
        int size = clusterSize(info);
        try {
            NatsHive hive = new NatsHive(backend.name(), connection, size);
            hive.awaitJetStream(where);
            log.info("connected to NATS hive '{}' at {} (nats-server {}, cluster {}, {} server(s), replicas {}); "
                            + "deia relies on KV bucket TTL (max age) and revision compare-and-set, not on per-key TTL "
                            + "(needs 2.11)", backend.name(), where, info.getVersion(),
                    info.getCluster() == null ? "none" : info.getCluster(), size, hive.replicas());
            return hive;
        } catch (JetStreamApiException e) {
            if (e.getErrorCode() == 503 || e.getApiErrorCode() == 10039) {
                throw noJetStream(where);
            }
            throw DeiaException.unavailable("NATS at %s refused the JetStream account check: %s", where,
                    e.getErrorDescription());
        } catch (IOException e) {
            throw DeiaException.unavailable("NATS at %s did not answer the JetStream account check (%s)", where,
                    e.getMessage());
        }
    }

    /**
     * Asks for the account's JetStream statistics until they come: the account may lack JetStream
     * on a server that has it, and a freshly started cluster answers only once it elected its
     * JetStream leader (a cluster that lost its quorum never does: that is an error too).
     */
    private void awaitJetStream(String where) throws IOException, JetStreamApiException {
        long deadline = System.nanoTime() + JETSTREAM_WAIT.toNanos();
        while (true) {
            try {
                management.getAccountStatistics();
                return;
            } catch (IOException e) {
                if (System.nanoTime() > deadline) {
                    throw new IOException("no JetStream answer within " + JETSTREAM_WAIT.toSeconds() + " s: the "
                            + "cluster may have no JetStream leader (a quorum of its servers must run)", e);
                }
                log.info("NATS hive '{}': JetStream at {} not ready yet ({}); asking again", name, where, e.getMessage());
            } catch (JetStreamApiException e) {
                if (e.getErrorCode() != 503 || e.getApiErrorCode() == 10039 || System.nanoTime() > deadline) {
                    throw e;
                }
                try {
                    Thread.sleep(250);
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    throw new IOException("interrupted while waiting for JetStream", ie);
                }
            }
        }
    }

    private static DeiaException noJetStream(String where) {
        return DeiaException.unavailable("nats-server %s has no JetStream for this account: start nats-server with -js "
                + "(and a store folder, -sd DIR) or enable jetstream in its config", where);
    }

    /**
     * How many servers the cluster has, as far as the connected server knows: itself plus the
     * client URLs it advertises for the others (a member that is down when this process connects is
     * not counted).
     */
    private static int clusterSize(ServerInfo info) {
        if (info.getCluster() == null) {
            return 1;
        }
        Set<String> servers = new HashSet<>(info.getConnectURLs());
        servers.add(info.getHost() + ":" + info.getPort());
        return servers.size();
    }

    private static Path credsFile(String creds, UnaryOperator<String> env) {
        String variable = creds.substring("env:".length());
        String value = env.apply(variable);
        if (value == null || value.isBlank()) {
            throw DeiaException.invalid("backend.creds: environment variable %s is not set (it must hold the path of a "
                    + "NATS credentials file)", variable);
        }
        Path file = Path.of(value);
        if (!Files.isReadable(file)) {
            throw DeiaException.invalid("backend.creds: the credentials file named by %s (%s) is missing or unreadable",
                    variable, file);
        }
        return file;
    }

    private static DeiaException connectFailure(Backend backend, String serverError, IOException e) {
        String text = (serverError == null ? "" : serverError) + " " + e;
        for (Throwable t = e.getCause(); t != null; t = t.getCause()) {
            text += " " + t;
        }
        String lower = text.toLowerCase(Locale.ROOT);
        if (lower.contains("authorization") || lower.contains("authentication") || lower.contains("user credentials")) {
            return new DeiaException(ErrorCode.UNAUTHORIZED, "NATS at " + backend.servers() + " refused this client: "
                    + "authorization failed (check backend.creds, the credentials file and the server's users)", e);
        }
        if (lower.contains("ssl") || lower.contains("tls") || lower.contains("certificate")) {
            return new DeiaException(ErrorCode.UNAVAILABLE, "TLS with NATS at " + backend.servers() + " failed ("
                    + e.getMessage() + "): check backend.tls and the URL scheme", e);
        }
        return new DeiaException(ErrorCode.UNAVAILABLE, "cannot reach NATS at " + backend.servers() + ": "
                + e.getMessage(), e);
    }

    /** Exponential back-off with jitter, so that many nodes do not reconnect in lock step. */
    private static Duration backOff(long attempt) {
        long base = FIRST_RECONNECT_WAIT.toMillis() << Math.min(attempt, 6);
        long capped = Math.min(base, MAX_RECONNECT_WAIT.toMillis());
        return Duration.ofMillis(capped / 2 + ThreadLocalRandom.current().nextLong(capped / 2 + 1));
    }

    private static void closeQuietly(Connection connection) {
        try {
            connection.close();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** The shared hive's name ({@code backend.name}): the prefix of its streams, buckets and subjects. */
    public String name() {
        return name;
    }

    /** The client connection (reconnects by itself). */
    public Connection connection() {
        return connection;
    }

    /** JetStream publishing and consuming on this connection. */
    public JetStream jetStream() {
        return jetStream;
    }

    /** JetStream stream and consumer management on this connection. */
    public JetStreamManagement management() {
        return management;
    }

    /** KV bucket management on this connection. */
    public KeyValueManagement keyValueManagement() {
        return keyValueManagement;
    }

    /** How many servers the cluster had when this process connected (1 for a single server). */
    public int clusterSize() {
        return clusterSize;
    }

    /** The replica count for streams and buckets this hive creates: min(3, cluster size). */
    public int replicas() {
        return Math.min(MAX_REPLICAS, clusterSize);
    }

    /** Closes the connection (buffered messages are flushed first by the client). */
    @Override
    public void close() {
        log.info("closing NATS connection of hive '{}'", name);
        closeQuietly(connection);
    }

    /** Remembers the last error the server sent during connect, and logs errors afterwards. */
    private static final class ServerErrors implements ErrorListener {
        private final String hive;
        volatile String last;

        ServerErrors(String hive) {
            this.hive = hive;
        }

        @Override
        public void errorOccurred(Connection conn, String error) {
            last = error;
            log.warn("NATS hive '{}': server error: {}", hive, error);
        }

        @Override
        public void exceptionOccurred(Connection conn, Exception exp) {
            log.debug("NATS hive '{}': client exception: {}", hive, exp.toString());
        }
    }

    /** Logs the connection's life: a disconnect, a reconnect, the close. */
    private static final class Listener implements ConnectionListener {
        private final String hive;

        Listener(String hive) {
            this.hive = hive;
        }

        @Override
        public void connectionEvent(Connection conn, Events type) {
            switch (type) {
                case DISCONNECTED -> log.warn("NATS hive '{}': disconnected; reconnecting (publishes are buffered)", hive);
                case RECONNECTED -> log.info("NATS hive '{}': reconnected to {}", hive, conn.getConnectedUrl());
                case CLOSED -> log.debug("NATS hive '{}': connection closed", hive);
                default -> log.debug("NATS hive '{}': {}", hive, type);
            }
        }
    }
}
