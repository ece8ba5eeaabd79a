package io.deia.core.internal.process;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * Finding, identifying and ending whole process trees. Agent CLIs start children of their own
 * (Node, shells, tools), and killing only the parent leaves them running, so every stop in deia
 * goes through {@link #terminate}.
 *
 * <p>A process is identified by (pid, start instant): the pid alone may have been reused by an
 * unrelated process since it was recorded.
 */
public final class ProcessTrees {
    private static final Logger log = LoggerFactory.getLogger(ProcessTrees.class);
    private static final boolean PROC_FS = Files.isDirectory(Path.of("/proc/self"));

    private ProcessTrees() {
    }

    /**
     * The start instant of a live process, as the JDK reports it (stable, 10 ms ticks on Linux).
     * Empty when the process is gone or a zombie.
     */
    public static Optional<Instant> startInstant(long pid) {
        return ProcessHandle.of(pid).filter(ProcessTrees::isRunning).flatMap(h -> h.info().startInstant());
    }

    /**
     * True when a process with this pid runs now and started at {@code startInstant} (so it is the
     * same process that was recorded, not a later one that reused the pid).
     */
    public static boolean isSameProcessAlive(long pid, Instant startInstant) {
        if (pid <= 0) {
            return false;
        }
        Optional<Instant> actual = startInstant(pid);
        return actual.isPresent() && (startInstant == null || actual.get().equals(startInstant));
    }

    /** True when the process is alive and not a zombie (the JDK counts zombies as alive). */
    public static boolean isRunning(ProcessHandle h) {
        if (!h.isAlive()) {
            return false;
        }
        return !PROC_FS || procState(h.pid()).map(s -> s != 'Z' && s != 'X').orElse(false);
    }

    /** The process and all its descendants alive now, parent first. */
    public static List<ProcessHandle> tree(ProcessHandle root) {
        Map<Long, ProcessHandle> all = new LinkedHashMap<>();
        all.put(root.pid(), root);
        root.descendants().forEach(d -> all.put(d.pid(), d));
        if (PROC_FS && isGroupLeader(root.pid())) {
            // Started under setsid: members that were re-parented away still carry the group id.
            for (ProcessHandle h : processGroup(root.pid())) {
                all.putIfAbsent(h.pid(), h);
            }
        }
        return new ArrayList<>(all.values());
    }

    /**
     * Ends {@code root} and every descendant: SIGTERM to all, wait up to {@code grace}, then
     * SIGKILL to whatever is left (looking again for children forked meanwhile).
     *
     * @return true when nothing of the tree is left running
     */
    public static boolean terminate(ProcessHandle root, Duration grace) {
        List<ProcessHandle> members = tree(root);
        for (ProcessHandle h : members) {
            h.destroy();
        }
        long deadline = System.nanoTime() + grace.toNanos();
        if (!awaitAll(members, deadline)) {
            List<ProcessHandle> left = new ArrayList<>();
            for (ProcessHandle h : members) {
                if (isRunning(h)) {
                    left.addAll(tree(h));
                }
            }
            for (ProcessHandle h : left) {
                log.debug("pid {} ignored SIGTERM for {} ms; sending SIGKILL", h.pid(), grace.toMillis());
                h.destroyForcibly();
            }
            members.addAll(left);
        }
        return awaitAll(members, System.nanoTime() + TimeUnit.SECONDS.toNanos(5));
    }

    /** Kills the tree at once with SIGKILL. */
    public static boolean kill(ProcessHandle root) {
        List<ProcessHandle> members = tree(root);
        members.forEach(ProcessHandle::destroyForcibly);
        return awaitAll(members, System.nanoTime() + TimeUnit.SECONDS.toNanos(5));
    }

    /**
     * Sends a named signal ({@code INT}, {@code TERM}, {@code KILL}, …) to one pid; the JDK has no
     * API for SIGINT, so this runs the {@code kill} program (signals are rare: a spawn each is fine).
     *
     * @return true when the signal was delivered
     */
    public static boolean signal(long pid, String signal) {
        return kill(checkedSignal(signal), Long.toString(pid));
    }

    /**
     * Sends a named signal to every member of process group {@code pgid} at once (one
     * {@code kill(-pgid)}): also reaches members whose parent is gone.
     *
     * @return true when at least one member received it, false when the group has no member left
     */
    public static boolean signalGroup(long pgid, String signal) {
        if (pgid <= 1) {
            throw new IllegalArgumentException("not a process group of ours: " + pgid);
        }
        return kill(checkedSignal(signal), "-" + pgid);
    }

    /** Runs {@code kill -s signal -- target}; true when it delivered the signal (exit code 0). */
    private static boolean kill(String signal, String target) {
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

    private static String checkedSignal(String signal) {
        if (signal == null || !signal.matches("[A-Z0-9]{1,8}")) {
            throw new IllegalArgumentException("bad signal name " + signal);
        }
        return signal;
    }

    /**
     * The argv prefix that starts a program in a new session and process group ({@code setsid}),
     * so its whole group can be found and signalled later; empty where {@code setsid} is missing.
     */
    public static List<String> newSessionPrefix() {
        for (String candidate : List.of("/usr/bin/setsid", "/bin/setsid")) {
            if (Files.isExecutable(Path.of(candidate))) {
                return List.of(candidate);
            }
        }
        return List.of();
    }

    private static boolean awaitAll(List<ProcessHandle> members, long deadlineNanos) {
        for (ProcessHandle h : members) {
            while (isRunning(h)) {
                long left = deadlineNanos - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                try {
                    // onExit() of a non-child polls slowly; a short sleep bounded by the deadline is quicker.
                    h.onExit().get(Math.min(left, TimeUnit.MILLISECONDS.toNanos(20)), TimeUnit.NANOSECONDS);
                } catch (java.util.concurrent.TimeoutException e) {
                    // check again
                } catch (java.util.concurrent.ExecutionException e) {
                    return !isRunning(h);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return false;
                }
            }
        }
        return true;
    }

    private static boolean isGroupLeader(long pid) {
        return procStatField(pid, 5).map(pgid -> pgid.equals(Long.toString(pid))).orElse(false);
    }

    /**
     * The live members of process group {@code pgid} (Linux /proc; empty elsewhere). Members stay
     * in the group after its leader exits, so this finds what a runner started under setsid left.
     */
    public static List<ProcessHandle> processGroup(long pgid) {
        if (!PROC_FS) {
            return List.of();
        }
        String want = Long.toString(pgid);
        List<ProcessHandle> members = new ArrayList<>();
        ProcessHandle.allProcesses().forEach(h -> {
            if (procStatField(h.pid(), 5).map(want::equals).orElse(false)) {
                members.add(h);
            }
        });
        return members;
    }

    private static Optional<Character> procState(long pid) {
        return procStatField(pid, 3).map(s -> s.charAt(0));
    }

    /** Field n (1-based, as in proc(5)) of /proc/pid/stat; the command name may hold spaces. */
    private static Optional<String> procStatField(long pid, int n) {
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"), StandardCharsets.UTF_8);
            int close = stat.lastIndexOf(')');
            if (close < 0) {
                return Optional.empty();
            }
            String[] rest = stat.substring(close + 2).split(" ");
            int index = n - 3;
            return index >= 0 && index < rest.length ? Optional.of(rest[index]) : Optional.empty();
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }
}
