package io.deia.core.process;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

/**
 * Sends named signals to a process or a whole process group through one long-lived {@code /bin/sh}
 * per JVM, whose built-in {@code kill} needs no new process.
 *
 * <p>Why: the JDK can only SIGTERM/SIGKILL single pids, so SIGINT and process-group signals need
 * {@code kill}; starting {@code /bin/kill} costs two program starts (2–5 ms here) on every turn's
 * end, which is on the path of every task and of every restart of a crashed agent. A command to
 * the resident shell is a pipe round trip. The shell is started on first use or ahead of it by
 * {@link #prepare} (so its start is not on the path of the first signal); when it is gone
 * (killed, closed), the next call starts {@code kill} as a program instead and a later call starts
 * a new shell. It exits by itself when this JVM dies (its stdin reaches end of file).
 */
final class Signaller {
    private static final Logger log = LoggerFactory.getLogger(Signaller.class);
    private final String shellPath;
    private Process shell;
    private OutputStream commands;
    private BufferedReader answers;

    Signaller() {
        this("/bin/sh");
    }

    /** With another shell program (tests: one that is missing or does not answer). */
    Signaller(String shellPath) {
        this.shellPath = shellPath;
    }

    /**
     * Sends {@code signal} ({@code INT}, {@code TERM}, {@code KILL}, …; validated by the caller) to
     * {@code target}: a pid, or {@code -pgid} for a whole process group.
     *
     * @return true when the signal was delivered to at least one process
     */
    synchronized boolean send(String signal, String target) {
        String line = "kill -s " + signal + " -- " + target + " 2>/dev/null; echo $?\n";
        try {
            ensureShell();
            commands.write(line.getBytes(StandardCharsets.US_ASCII));
            commands.flush();
            String status = answers.readLine();
            if (status != null) {
                return status.equals("0");
            }
            log.warn("the signalling shell (pid {}) ended; sending {} to {} with the kill program", shell.pid(), signal, target);
        } catch (IOException e) {
            log.warn("the signalling shell failed ({}); sending {} to {} with the kill program", e.toString(), signal, target);
        }
        discardShell();
        return killProgram(signal, target);
    }

    /**
     * Starts the shell now unless it runs, with one harmless round trip (signal 0 to this JVM, a
     * liveness check), so that the classes and the process of the signalling path are ready before
     * the first real signal is due.
     *
     * @return true when the shell answered
     */
    synchronized boolean prepare() {
        try {
            ensureShell();
        } catch (IOException e) {
            log.debug("cannot start the signalling shell ahead of use: {}", e.toString());
            return false;
        }
        String line = "kill -s 0 -- " + ProcessHandle.current().pid() + " 2>/dev/null; echo $?\n";
        try {
            commands.write(line.getBytes(StandardCharsets.US_ASCII));
            commands.flush();
            if ("0".equals(answers.readLine())) {
                return true;
            }
            log.debug("the signalling shell (pid {}) did not answer; the next signal starts another", shell.pid());
        } catch (IOException e) {
            log.debug("the signalling shell did not answer its first command: {}", e.toString());
        }
        discardShell();
        return false;
    }

    private void ensureShell() throws IOException {
        if (shell != null && shell.isAlive()) {
            return;
        }
        discardShell();
        ProcessBuilder pb = new ProcessBuilder(shellPath).redirectError(ProcessBuilder.Redirect.DISCARD);
        pb.environment().clear();
        pb.environment().put("PATH", "/usr/bin:/bin");
        shell = pb.start();
        commands = shell.getOutputStream();
        answers = new BufferedReader(new InputStreamReader(shell.getInputStream(), StandardCharsets.US_ASCII));
        log.debug("signalling shell started: pid {}", shell.pid());
    }

    private void discardShell() {
        if (shell != null) {
            shell.destroyForcibly();
            shell = null;
            commands = null;
            answers = null;
        }
    }

    /** The slow way: {@code kill} as a program of its own. */
    static boolean killProgram(String signal, String target) {
        try {
            Process p = new ProcessBuilder("kill", "-s", signal, "--", target)
                    .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            return p.waitFor(5, TimeUnit.SECONDS) && p.exitValue() == 0;
        } catch (IOException e) {
            log.warn("cannot run kill -s {} {}: {}", signal, target, e.toString());
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }
}
