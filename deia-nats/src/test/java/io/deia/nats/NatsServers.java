package io.deia.nats;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

/**
 * Real {@code nats-server} processes for tests, on 127.0.0.1 with JetStream and a store folder of
 * their own: one server, or a cluster of several whose members can be killed (-9) and restarted on
 * the same ports and store (a machine coming back). {@code scripts/test.sh} installs the Debian
 * package when it is missing; a test needing it fails (it is not skipped) when it is not there.
 */
public final class NatsServers implements AutoCloseable {
    /** How long a started server may take to accept connections. */
    private static final Duration READY_WAIT = Duration.ofSeconds(15);

    private final Path root;
    private final List<Member> members = new ArrayList<>();

    private NatsServers(Path root) {
        this.root = root;
    }

    /** One JetStream server. */
    public static NatsServers single(Path root) throws IOException {
        NatsServers s = new NatsServers(root);
        s.members.add(new Member(0, freePort(), -1, root.resolve("n0")));
        s.members.get(0).start(s.routes(0));
        s.members.get(0).awaitReady();
        return s;
    }

    /** A JetStream cluster of {@code size} servers (named n0, n1, …), all started and ready. */
    public static NatsServers cluster(Path root, int size) throws IOException {
        NatsServers s = new NatsServers(root);
        for (int i = 0; i < size; i++) {
            s.members.add(new Member(i, freePort(), freePort(), root.resolve("n" + i)));
        }
        for (int i = 0; i < size; i++) {
            s.members.get(i).start(s.routes(i));
        }
        for (Member m : s.members) {
            m.awaitReady();
        }
        return s;
    }

    /** The client URL of every member, for {@code backend.servers}. */
    public List<String> urls() {
        return members.stream().map(Member::url).collect(Collectors.toList());
    }

    /** The client URL of one member. */
    public String url(int member) {
        return members.get(member).url();
    }

    /** Kills one member with SIGKILL and waits until it is gone. */
    public void kill(int member) {
        members.get(member).kill();
    }

    /** Starts a killed or stopped member again on its ports and store, and waits until it is ready. */
    public void restart(int member) throws IOException {
        Member m = members.get(member);
        m.start(routes(member));
        m.awaitReady();
    }

    /** The member's log file (its server's own output). */
    public Path log(int member) {
        return members.get(member).dir.resolve("server.log");
    }

    private String routes(int except) {
        return members.stream().filter(m -> m.index != except && m.clusterPort > 0)
                .map(m -> "nats://127.0.0.1:" + m.clusterPort).collect(Collectors.joining(","));
    }

    @Override
    public void close() {
        for (Member m : members) {
            m.kill();
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    private static final class Member {
        final int index;
        final int port;
        final int clusterPort;
        final Path dir;
        Process process;

        Member(int index, int port, int clusterPort, Path dir) {
            this.index = index;
            this.port = port;
            this.clusterPort = clusterPort;
            this.dir = dir;
        }

        String url() {
            return "nats://127.0.0.1:" + port;
        }

        void start(String routes) throws IOException {
            Files.createDirectories(dir);
            List<String> cmd = new ArrayList<>(List.of("nats-server", "-a", "127.0.0.1", "-p", String.valueOf(port),
                    "-js", "-sd", dir.resolve("store").toString(), "--server_name", "n" + index));
            if (clusterPort > 0) {
                cmd.addAll(List.of("--cluster_name", "deia-test", "--cluster", "nats://127.0.0.1:" + clusterPort,
                        "--routes", routes));
            }
            process = new ProcessBuilder(cmd).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(dir.resolve("server.log").toFile())).start();
        }

        void awaitReady() throws IOException {
            long deadline = System.nanoTime() + READY_WAIT.toNanos();
            while (System.nanoTime() < deadline) {
                if (!process.isAlive()) {
                    throw new IOException("nats-server n" + index + " exited with " + process.exitValue() + "; see "
                            + dir.resolve("server.log"));
                }
                try (Socket s = new Socket()) {
                    s.connect(new InetSocketAddress("127.0.0.1", port), 200);
                    return;
                } catch (IOException e) {
                    try {
                        Thread.sleep(20);
                    } catch (InterruptedException ie) {
                        Thread.currentThread().interrupt();
                        throw new IOException("interrupted while waiting for nats-server", ie);
                    }
                }
            }
            throw new IOException("nats-server n" + index + " did not accept connections on " + port + " within " + READY_WAIT);
        }

        void kill() {
            Process p = process;
            if (p != null && p.isAlive()) {
                p.destroyForcibly();
                try {
                    p.waitFor();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }
    }
}
