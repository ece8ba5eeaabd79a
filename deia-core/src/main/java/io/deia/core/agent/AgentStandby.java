package io.deia.core.agent;

import io.deia.core.process.ProcessTrees;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The next turn's process, started ahead of the turn: a {@code /bin/sh} that is already the leader
 * of its own session ({@code setsid}), with the agent's exact environment, in the workspace, and
 * waiting on its stdin for one line. Starting a turn then only writes that line — the turn's argv,
 * shell-quoted — and the shell {@code exec}s the agent in place (same pid, same session, same pipes).
 *
 * <p>Why: a turn started the usual way pays, between "start this turn" and the agent running, for
 * the JVM's spawn (a {@code vfork}, the JDK's {@code jspawnhelper} program and its hand-shake), a
 * {@code setsid} program start and the thread start-up of the JVM side. Measured on this 2-core machine
 * that is most of the time between a crashed agent's exit and its retry running. With a standby
 * prepared while the previous turn runs, all of that is off that path; what is left is one pipe write
 * and the shell's {@code exec}.
 *
 * <p>What a turn sees is the same as with a fresh start: argv, environment (the shell's own
 * {@code PWD}/{@code OLDPWD} are removed or restored to the agent environment's values), working
 * folder, stdin ({@code /dev/null} unless the turn writes to it), stdout and stderr pipes, process
 * group and session. A standby is not used, and the turn starts the usual way, when the line would be
 * long (the shell reads its stdin one byte at a time), an argument holds a NUL, the executable is
 * gone, or the standby is not alive. Agents are found by their environment mark after a runner dies,
 * and a standby carries that mark, so it is ended with them; without {@code /proc} (no marks) or
 * without {@code setsid} there is no standby. {@code -Ddeia.agent.standby=false} turns it off.
 */
final class AgentStandby {
    private static final Logger log = LoggerFactory.getLogger(AgentStandby.class);
    /** The shell that waits; POSIX {@code sh} ({@code dash} on Debian), which reads a pipe byte by byte. */
    static final String SHELL = "/bin/sh";
    /** The longest exec line handed to a standby, in UTF-8 bytes; longer argv start the usual way. */
    static final int MAX_LINE_BYTES = 4096;
    /**
     * The standby's script. {@code nl} holds a newline for arguments that contain one (the line
     * itself must not); no line (stdin closed) means the standby is no longer wanted.
     */
    static final String SCRIPT = "nl='\n'; IFS= read -r deia_exec_line || exit 0; eval \"$deia_exec_line\"";
    /** Names the standby in {@code ps} before it becomes the agent. */
    static final String NAME = "deia-agent-standby";

    private final String botId;
    private final Process process;
    private final Path cwd;

    private AgentStandby(String botId, Process process, Path cwd) {
        this.botId = botId;
        this.process = process;
        this.cwd = cwd;
    }

    /** Whether standbys can be used here: {@code /proc} marks, {@code setsid}, {@code /bin/sh}, not turned off. */
    static boolean available() {
        return AgentLeftovers.BY_MARK && !ProcessTrees.newSessionPrefix().isEmpty()
                && Files.isExecutable(Path.of(SHELL)) && !"false".equalsIgnoreCase(System.getProperty("deia.agent.standby"));
    }

    /**
     * Starts a standby in {@code cwd} (created when missing) with exactly {@code env} plus the agent
     * mark of {@code recordFile}.
     *
     * @throws IOException when it cannot be started
     */
    static AgentStandby start(String botId, Path cwd, Map<String, String> env, Path recordFile) throws IOException {
        Files.createDirectories(cwd, io.deia.core.HiveGuard.folderAttributes());
        List<String> command = new ArrayList<>(ProcessTrees.newSessionPrefix());
        command.addAll(List.of(SHELL, "-c", SCRIPT, NAME));
        ProcessBuilder pb = new ProcessBuilder(command).directory(cwd.toFile());
        pb.environment().clear();
        pb.environment().putAll(env);
        pb.environment().putAll(AgentLeftovers.mark(recordFile));
        Process p = pb.start();
        log.debug("[{}] agent standby pid {} ready in {}", botId, p.pid(), cwd);
        return new AgentStandby(botId, p, cwd);
    }

    long pid() {
        return process.pid();
    }

    /**
     * Makes this standby the turn's process: hands it {@code argv} and returns it as a running
     * {@link AgentProcess}. Null when this standby cannot take the turn (it is then ended and the
     * caller starts the turn the usual way); a standby is used at most once either way.
     *
     * @param env       the agent environment the standby was started with (for {@code PWD}/{@code OLDPWD})
     * @param pipeStdin true when the turn writes to stdin; otherwise the agent gets {@code /dev/null}
     * @param killGroup a process group the standby kills (SIGKILL) before it becomes the agent: the
     *                  group of the failed attempt this turn retries at once; 0 for none
     */
    AgentProcess activate(String name, List<String> argv, Path workspace, Map<String, String> env, boolean pipeStdin,
                          long killGroup, int maxLineBytes, AgentProcess.LineSink sink) {
        String line = execLine(argv, workspace, env, pipeStdin, killGroup);
        if (line == null || !workspace.equals(cwd) || !Files.isExecutable(Path.of(argv.get(0))) || !process.isAlive()) {
            discard();
            return null;
        }
        OutputStream stdin = process.getOutputStream();
        try {
            if (!Files.isDirectory(workspace)) {
                // Removed since the standby started in it: made again, as a fresh start would.
                // (Not unconditionally: on an existing folder createDirectories throws and catches
                // an exception, which costs a cold runner's retry ~0.1-1 ms.)
                Files.createDirectories(workspace, io.deia.core.HiveGuard.folderAttributes());
            }
            stdin.write((line + "\n").getBytes(StandardCharsets.UTF_8));
            stdin.flush();
            if (!pipeStdin) {
                stdin.close();
            }
        } catch (IOException e) {
            log.debug("[{}] agent standby pid {} did not take the turn: {}", botId, process.pid(), e.toString());
            discard();
            return null;
        }
        AgentProcess started = AgentProcess.of(botId, name, process, sink, maxLineBytes);
        log.info("[{}] started {} pid {} in {} from a standby (env: {})", botId, name, process.pid(), cwd, AgentEnv.names(env));
        return started;
    }

    /** Ends an unused standby (it is alone in its session: nothing else to end). */
    void discard() {
        if (process.isAlive()) {
            process.destroyForcibly();
            log.debug("[{}] agent standby pid {} discarded", botId, process.pid());
        }
        try {
            process.getOutputStream().close();
        } catch (IOException e) {
            log.debug("[{}] closing stdin of standby pid {}: {}", botId, process.pid(), e.toString());
        }
    }

    /**
     * The line the standby evaluates: kill {@code killGroup} unless it is 0, enter {@code workspace},
     * restore {@code PWD}/{@code OLDPWD} to the agent environment's values (or remove them, as a fresh
     * start would have none), then {@code exec} the argv. Null when the argv cannot be handed over
     * this way.
     */
    static String execLine(List<String> argv, Path workspace, Map<String, String> env, boolean pipeStdin, long killGroup) {
        if (argv.isEmpty()) {
            return null;
        }
        StringBuilder b = new StringBuilder(160);
        if (killGroup > 0) {
            // The shell's built-in kill: no program start between the failed attempt and its retry.
            b.append("kill -s KILL -- -").append(killGroup).append(" 2>/dev/null; ");
        }
        // The folder may have been removed and made again since the standby started in it.
        b.append("cd -P -- ").append(quote(workspace.toString())).append(" || exit 127; ");
        for (String var : List.of("PWD", "OLDPWD")) {
            String value = env.get(var);
            if (value == null) {
                b.append("unset ").append(var).append("; ");
            } else {
                b.append("export ").append(var).append('=').append(quote(value)).append("; ");
            }
        }
        b.append("exec");
        for (String a : argv) {
            if (a.indexOf('\0') >= 0) {
                return null;
            }
            b.append(' ').append(quote(a));
        }
        if (!pipeStdin) {
            b.append(" </dev/null");
        }
        String line = b.toString();
        return line.getBytes(StandardCharsets.UTF_8).length <= MAX_LINE_BYTES ? line : null;
    }

    /** One shell word for {@code s}, taken literally: single-quoted; a newline comes from {@code $nl}. */
    static String quote(String s) {
        return "'" + s.replace("'", "'\\''").replace("\n", "'\"$nl\"'") + "'";
    }
}
