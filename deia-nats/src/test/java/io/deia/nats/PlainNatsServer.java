package io.deia.nats;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * One nats-server on 127.0.0.1 started with arguments of the test's choice (no JetStream unless
 * given {@code -js}, a user and password, TLS…), for the connection error tests that
 * {@link NatsServers} (always JetStream, no auth) does not cover.
 */
final class PlainNatsServer implements AutoCloseable {
    final int port;
    private final Process process;

    private PlainNatsServer(int port, Process process) {
        this.port = port;
        this.process = process;
    }

    static PlainNatsServer start(Path dir, String... args) throws IOException {
        Files.createDirectories(dir);
        int port = freePort();
        List<String> cmd = new ArrayList<>(List.of("nats-server", "-a", "127.0.0.1", "-p", String.valueOf(port)));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(dir.resolve("server.log").toFile())).start();
        long deadline = System.nanoTime() + 15_000_000_000L;
        while (System.nanoTime() < deadline) {
            if (!p.isAlive()) {
                throw new IOException("nats-server exited with " + p.exitValue() + ": " + Files.readString(dir.resolve("server.log")));
            }
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", port), 200);
                return new PlainNatsServer(port, p);
            } catch (IOException e) {
                try {
                    Thread.sleep(20);
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    throw new IOException(ie);
                }
            }
        }
        p.destroyForcibly();
        throw new IOException("nats-server did not start on " + port);
    }

    String url() {
        return "nats://127.0.0.1:" + port;
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    @Override
    public void close() throws InterruptedException {
        process.destroyForcibly().waitFor();
    }
}
