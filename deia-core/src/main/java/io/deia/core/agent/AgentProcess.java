package io.deia.core.agent;

import io.deia.core.internal.io.LogSafe;
import io.deia.core.internal.process.ProcessTrees;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * One running agent CLI process and its plumbing, shared by every adapter: started without a
 * shell in a new session ({@code setsid}) so its whole process group can be ended; a clean
 * environment; stdout read line by line on a reader thread (lines capped in length, the rest of an
 * over-long line read and dropped, so a flood never fills memory); stderr kept as a bounded tail
 * for error messages; termination of the whole tree.
 */
final class AgentProcess {
    private static final Logger log = LoggerFactory.getLogger(AgentProcess.class);
    private static final int STDERR_TAIL_CHARS = 4096;
    private static final File DEV_NULL = new File("/dev/null");

    /** Receives stdout lines on the reader thread. */
    interface LineSink {
        /**
         * @param line      the line without its line break (at most the cap, when {@code truncated})
         * @param newline   whether the line ended with {@code \n} (false for a last unterminated line)
         * @param truncated whether the line was longer than the cap and its rest was dropped
         */
        void onLine(String line, boolean newline, boolean truncated);
    }

    private final String botId;
    private final String name;
    private final Process process;
    private final long pid;
    private final Thread stdoutReader;
    private final Thread stderrReader;
    private final StringBuilder stderrTail = new StringBuilder();
    private final OutputStream stdin;

    private AgentProcess(String botId, String name, Process process, LineSink sink, int maxLineBytes) {
        this.botId = botId;
        this.name = name;
        this.process = process;
        this.pid = process.pid();
        this.stdin = process.getOutputStream();
        this.stdoutReader = new Thread(() -> readLines(process.getInputStream(), sink, maxLineBytes),
                "deia-" + botId + "-" + name + "-out");
        this.stderrReader = new Thread(() -> readStderr(process.getErrorStream()), "deia-" + botId + "-" + name + "-err");
        stdoutReader.setDaemon(true);
        stderrReader.setDaemon(true);
        stdoutReader.start();
        stderrReader.start();
    }

    /**
     * Starts {@code argv} in {@code cwd} (created when missing) with exactly {@code env}.
     *
     * @param pipeStdin true to keep stdin as a pipe for {@link #writeLine}; false gives it /dev/null
     * @param recordFile where the running agent is recorded for {@link AgentLeftovers}, or null
     * @throws IOException when the program cannot be started
     */
    static AgentProcess start(String botId, String name, List<String> argv, Path cwd, Map<String, String> env,
                              boolean pipeStdin, int maxLineBytes, LineSink sink, Path recordFile) throws IOException {
        Files.createDirectories(cwd, io.deia.core.internal.HiveGuard.folderAttributes());
        List<String> command = new ArrayList<>(ProcessTrees.newSessionPrefix());
        command.addAll(argv);
        ProcessBuilder pb = new ProcessBuilder(command).directory(cwd.toFile());
        pb.environment().clear();
        pb.environment().putAll(env);
        if (recordFile != null) {
            // Last, so no profile variable can hide whose agent this is.
            pb.environment().putAll(AgentLeftovers.mark(recordFile));
        }
        if (!pipeStdin) {
            pb.redirectInput(ProcessBuilder.Redirect.from(DEV_NULL));
        }
        Process p = pb.start();
        if (recordFile != null) {
            AgentLeftovers.recordUnlessMarked(recordFile, p.toHandle());
        }
        AgentProcess ap = new AgentProcess(botId, name, p, sink, maxLineBytes);
        log.info("[{}] started {} pid {} in {} (env: {})", botId, name, ap.pid, cwd, AgentEnv.names(env));
        return ap;
    }

    long pid() {
        return pid;
    }

    boolean isAlive() {
        return process.isAlive();
    }

    /** Writes one line (a {@code \n} is added) to stdin and flushes it. */
    synchronized void writeLine(String line) throws IOException {
        stdin.write((line + "\n").getBytes(StandardCharsets.UTF_8));
        stdin.flush();
    }

    /** Writes {@code text} to stdin and closes it; a process that exits before reading it all is fine. */
    synchronized void writeAndClose(String text) {
        try (OutputStream out = stdin) {
            out.write(text.getBytes(StandardCharsets.UTF_8));
        } catch (IOException e) {
            log.debug("[{}] {} pid {} did not take all of stdin: {}", botId, name, pid, e.toString());
        }
    }

    /** Closes stdin (the CLIs end their session on EOF). */
    synchronized void closeStdin() {
        try {
            stdin.close();
        } catch (IOException e) {
            log.debug("[{}] closing stdin of {} pid {}: {}", botId, name, pid, e.toString());
        }
    }

    /** Waits up to {@code timeout} for the exit, not interruptible (used on the paths that end a process); null when it still runs. */
    Integer awaitExitUninterruptibly(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        boolean interrupted = false;
        while (true) {
            try {
                Integer code = process.waitFor(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS)
                        ? process.exitValue() : null;
                if (interrupted) {
                    Thread.currentThread().interrupt();
                }
                return code;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
    }

    /** Completes with the exit code when the process has exited. */
    java.util.concurrent.CompletableFuture<Integer> onExit() {
        return process.onExit().thenApply(Process::exitValue);
    }

    /** The exit code, or null while it runs. */
    Integer exitCode() {
        return process.isAlive() ? null : process.exitValue();
    }

    /** Sends SIGINT to the agent (the CLIs end the turn politely on it). */
    void sigint() {
        if (process.isAlive()) {
            log.info("[{}] sending SIGINT to {} pid {}", botId, name, pid);
            ProcessTrees.signal(pid, "INT");
        }
    }

    /**
     * Ends the process and everything it started: SIGTERM to the tree, SIGKILL after
     * {@code grace}; then whatever is left of its process group (children whose parent is already
     * gone); then drains the readers.
     */
    void terminate(Duration grace) {
        if (process.isAlive()) {
            log.info("[{}] terminating {} pid {} and its descendants", botId, name, pid);
            ProcessTrees.terminate(process.toHandle(), grace);
        }
        killGroupRemnants();
        awaitOutput(Duration.ofSeconds(2));
    }

    /**
     * Kills members of the process's group that outlived it (e.g. a background job of a script).
     * The group id is the pid because the process was started with setsid; Linux does not reuse a
     * pid while a group with that id still has members, so this cannot hit a stranger's group.
     */
    void killGroupRemnants() {
        if (process.isAlive() || ProcessTrees.newSessionPrefix().isEmpty()) {
            return;
        }
        if (ProcessTrees.signalGroup(pid, "KILL")) {
            log.info("[{}] killed leftover processes of {} group {}", botId, name, pid);
        }
    }

    /** Waits until stdout and stderr reached EOF (all lines delivered); false on timeout. */
    boolean awaitOutput(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        try {
            stdoutReader.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
            stderrReader.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return !stdoutReader.isAlive() && !stderrReader.isAlive();
    }

    /** The last few KB of stderr, trimmed. */
    String stderrTail() {
        synchronized (stderrTail) {
            return stderrTail.toString().strip();
        }
    }

    private void readLines(InputStream in, LineSink sink, int maxLineBytes) {
        ByteArrayOutputStream line = new ByteArrayOutputStream(256);
        boolean truncated = false;
        byte[] buf = new byte[16384];
        try (in) {
            int n;
            while ((n = in.read(buf)) > 0) {
                int start = 0;
                for (int i = 0; i < n; i++) {
                    if (buf[i] == '\n') {
                        truncated |= appendCapped(line, buf, start, i - start, maxLineBytes);
                        deliver(sink, line, true, truncated);
                        truncated = false;
                        start = i + 1;
                    }
                }
                truncated |= appendCapped(line, buf, start, n - start, maxLineBytes);
            }
            if (line.size() > 0 || truncated) {
                deliver(sink, line, false, truncated);
            }
        } catch (IOException e) {
            log.debug("[{}] stdout of {} pid {} closed: {}", botId, name, pid, e.toString());
        }
    }

    private static boolean appendCapped(ByteArrayOutputStream line, byte[] buf, int off, int len, int max) {
        int room = max - line.size();
        if (len <= room) {
            line.write(buf, off, len);
            return false;
        }
        line.write(buf, off, Math.max(0, room));
        return true;
    }

    private void deliver(LineSink sink, ByteArrayOutputStream line, boolean newline, boolean truncated) {
        String text = line.toString(StandardCharsets.UTF_8);
        line.reset();
        if (text.endsWith("\r")) {
            text = text.substring(0, text.length() - 1);
        }
        try {
            sink.onLine(text, newline, truncated);
        } catch (RuntimeException e) {
            // A listener bug must not stop the reader: the agent would block on a full pipe.
            log.warn("[{}] handling a line of {} pid {} failed", botId, name, pid, e);
        }
    }

    private void readStderr(InputStream in) {
        byte[] buf = new byte[8192];
        try (in) {
            int n;
            while ((n = in.read(buf)) > 0) {
                String chunk = new String(buf, 0, n, StandardCharsets.UTF_8);
                synchronized (stderrTail) {
                    stderrTail.append(chunk);
                    if (stderrTail.length() > STDERR_TAIL_CHARS) {
                        stderrTail.delete(0, stderrTail.length() - STDERR_TAIL_CHARS);
                    }
                }
                if (log.isDebugEnabled()) {
                    log.debug("[{}] {} stderr: {}", botId, name, LogSafe.printable(chunk.strip(), 4000));
                }
            }
        } catch (IOException e) {
            log.debug("[{}] stderr of {} pid {} closed: {}", botId, name, pid, e.toString());
        }
    }
}
