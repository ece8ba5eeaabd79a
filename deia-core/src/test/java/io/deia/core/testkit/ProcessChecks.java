package io.deia.core.testkit;

import io.deia.core.internal.process.ProcessTrees;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/** Looks at live processes through /proc, for tests asserting that nothing outlived its owner. */
public final class ProcessChecks {
    private ProcessChecks() {
    }

    /** Pids of running (non-zombie) processes whose command line contains {@code marker}. */
    public static List<Long> runningWithMarker(String marker) {
        List<Long> pids = new ArrayList<>();
        try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
            procs.filter(p -> p.getFileName().toString().chars().allMatch(Character::isDigit)).forEach(p -> {
                try {
                    String cmd = new String(Files.readAllBytes(p.resolve("cmdline")), StandardCharsets.UTF_8).replace('\0', ' ');
                    long pid = Long.parseLong(p.getFileName().toString());
                    if (cmd.contains(marker) && pid != ProcessHandle.current().pid()
                            && ProcessHandle.of(pid).map(ProcessTrees::isRunning).orElse(false)) {
                        pids.add(pid);
                    }
                } catch (IOException | RuntimeException e) {
                    // the process ended while we looked
                }
            });
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        return pids;
    }

    /** Running processes whose process group id is {@code pgid} (members of a setsid-started tree). */
    public static List<Long> groupMembers(long pgid) {
        List<Long> pids = new ArrayList<>();
        try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
            procs.filter(p -> p.getFileName().toString().chars().allMatch(Character::isDigit)).forEach(p -> {
                try {
                    String stat = Files.readString(p.resolve("stat"), StandardCharsets.UTF_8);
                    String[] rest = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                    if (!rest[0].equals("Z") && !rest[0].equals("X") && rest[2].equals(Long.toString(pgid))) {
                        pids.add(Long.parseLong(p.getFileName().toString()));
                    }
                } catch (IOException | RuntimeException e) {
                    // the process ended while we looked
                }
            });
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        return pids;
    }

    /** True when the pid runs now (zombies count as gone). */
    public static boolean isRunning(long pid) {
        return ProcessHandle.of(pid).map(ProcessTrees::isRunning).orElse(false);
    }

    /** A process that ran and has ended: its pid and start instant identify no running process. */
    public record Ended(long pid, java.time.Instant start) {
    }

    /** Starts a process, notes its pid and start instant, ends it and waits until it is gone. */
    public static Ended endedProcess() throws IOException, InterruptedException {
        Process p = new ProcessBuilder("sleep", "60").start();
        java.time.Instant start = p.toHandle().info().startInstant().orElseThrow();
        p.destroyForcibly();
        p.waitFor();
        return new Ended(p.pid(), start);
    }
}
