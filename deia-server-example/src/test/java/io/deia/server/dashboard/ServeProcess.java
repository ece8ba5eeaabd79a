package io.deia.server.dashboard;

import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A real {@code Main serve} controller in its own JVM (same class path as the tests), so a test can
 * stop it the way an operator would (SIGTERM) and start it again on the same port while the bot
 * runners it launched keep running.
 */
public final class ServeProcess implements AutoCloseable {
    /** What serve prints when its stdout is not a terminal: the address and where the token file is. */
    private static final Pattern DASHBOARD_URL = Pattern.compile("(http://127\\.0\\.0\\.1:(\\d+))/ \\(the token is in ");

    private final Path hive;
    private final Path config;
    private final Path log;
    private final List<String> extraArgs;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
    private Process process;
    private int port;
    private String dashboardUrl;
    private String token;
    private int starts;
    private final java.util.Map<String, String> extraEnv = new java.util.HashMap<>();

    /**
     * @param hive      the hive folder
     * @param config    the config file, or null for the built-in defaults
     * @param log       where the controller's output goes (one file per start, numbered)
     * @param extraArgs more {@code serve} options, e.g. {@code --demo}
     */
    public ServeProcess(Path hive, Path config, Path log, String... extraArgs) {
        this.hive = hive;
        this.config = config;
        this.log = log;
        this.extraArgs = List.of(extraArgs);
    }

    /** Adds variables to the controller's environment (its bot runners inherit them), for the next {@link #start()}. */
    public ServeProcess environment(java.util.Map<String, String> env) {
        extraEnv.putAll(env);
        return this;
    }

    /** Starts {@code serve} on a free port the first time, on the same port after that. */
    public void start() throws IOException {
        if (port == 0) {
            port = freePort();
        }
        starts++;
        Path runLog = log.resolveSibling(log.getFileName() + "." + starts);
        List<String> argv = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx256m"));
        // The build's coverage agent, when present, goes along so serve's own code is measured too
        // (the data is appended to the module's file when serve exits on SIGTERM).
        java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments().stream()
                .filter(a -> a.startsWith("-javaagent:") && a.contains("jacoco")).forEach(argv::add);
        argv.addAll(List.of("-cp", System.getProperty("java.class.path"),
                "io.deia.server.Main", "serve",
                "--hive", hive.toString(), "--bind", "127.0.0.1", "--port", Integer.toString(port)));
        if (config != null) {
            argv.addAll(List.of("--config", config.toString()));
        }
        argv.addAll(extraArgs);
        ProcessBuilder pb = new ProcessBuilder(argv).redirectErrorStream(true).redirectOutput(runLog.toFile());
        pb.environment().putAll(extraEnv);
        process = pb.start();
        await("serve prints its dashboard URL (log " + runLog + ")").atMost(Duration.ofSeconds(60))
                .pollInterval(Duration.ofMillis(100))
                .failFast("serve exited early, see " + runLog, () -> !process.isAlive())
                .until(() -> findUrl(runLog));
        await("serve answers /health").atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(100))
                .ignoreExceptions().until(() -> get("/health", false).statusCode() == 200);
    }

    private boolean findUrl(Path runLog) throws IOException {
        if (!Files.exists(runLog)) {
            return false;
        }
        Matcher m = DASHBOARD_URL.matcher(Files.readString(runLog, StandardCharsets.UTF_8));
        if (!m.find()) {
            return false;
        }
        port = Integer.parseInt(m.group(2));
        token = Files.readString(hive.resolve("token"), StandardCharsets.UTF_8).trim();
        dashboardUrl = m.group(1) + "/?token=" + token;
        return true;
    }

    /** Stops the controller like an operator would (SIGTERM); its bots are separate processes and live on. */
    public void stop() throws InterruptedException {
        if (process == null) {
            return;
        }
        process.destroy();
        if (!process.waitFor(30, TimeUnit.SECONDS)) {
            process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
        process = null;
    }

    public HttpResponse<String> get(String path, boolean withToken) throws IOException, InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(baseUrl() + path)).timeout(Duration.ofSeconds(10));
        if (withToken) {
            b.header("Authorization", "Bearer " + token);
        }
        return http.send(b.GET().build(), HttpResponse.BodyHandlers.ofString());
    }

    public HttpResponse<String> post(String path, String json) throws IOException, InterruptedException {
        return http.send(HttpRequest.newBuilder(URI.create(baseUrl() + path)).timeout(Duration.ofSeconds(60))
                        .header("Authorization", "Bearer " + token).header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(json)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    public String dashboardUrl() {
        return dashboardUrl;
    }

    public String baseUrl() {
        return "http://127.0.0.1:" + port;
    }

    public String token() {
        return token;
    }

    /** Kills the controller with SIGKILL (a crash), leaving its bots running; {@link #start()} brings it back on the same port. */
    public void crash() throws InterruptedException {
        if (process == null) {
            return;
        }
        process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        process = null;
    }

    /** The controller's pid, or -1 when it is not running. */
    public long pid() {
        return process == null ? -1 : process.pid();
    }

    /** Asks the controller (while it runs) to stop these bots; errors are ignored, leftovers are killed after. */
    public void stopBots(List<String> botIds) {
        if (process == null) {
            return;
        }
        for (String id : botIds) {
            try {
                post("/api/bot/" + id + "/stop", "");
            } catch (IOException | InterruptedException | RuntimeException e) {
                // Teardown goes on: killLeftovers() ends whatever is still running.
            }
        }
    }

    /** Ends every process still running for this hive (bot runners and their agents): nothing outlives the test. */
    public void killLeftovers() {
        String marker = hive.toString();
        List<ProcessHandle> doomed = new ArrayList<>();
        ProcessHandle.allProcesses()
                .filter(p -> p.info().arguments().map(args -> String.join(" ", args).contains(marker)).orElse(false))
                .forEach(p -> {
                    p.descendants().forEach(doomed::add);
                    doomed.add(p);
                });
        doomed.forEach(ProcessHandle::destroyForcibly);
        // Wait for them: the test's temp folder is deleted next, and a live runner would still write into it.
        for (ProcessHandle p : doomed) {
            try {
                p.onExit().get(10, TimeUnit.SECONDS);
            } catch (Exception e) {
                throw new IllegalStateException("process " + p.pid() + " did not exit", e);
            }
        }
    }

    @Override
    public void close() throws InterruptedException {
        stop();
        killLeftovers();
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }
}
