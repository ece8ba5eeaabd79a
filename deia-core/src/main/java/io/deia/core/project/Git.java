package io.deia.core.project;

import io.deia.core.DeiaException;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Runs the user's own {@code git} program in one folder. deia never reimplements git: worktrees,
 * branches, commits, diffs and merges are all git commands, so the repository stays exactly what
 * the user's tools expect.
 *
 * <p>Every command runs with the repository's hooks off ({@code core.hooksPath=/dev/null}: a
 * user's pre-commit hook is not deia's to run, and may wait for a terminal), no signing, no
 * automatic gc or maintenance, no file system monitor daemon left running in a worktree, file names unquoted, messages in English ({@code LC_ALL=C}), and without the
 * optional locks a status would take ({@code GIT_OPTIONAL_LOCKS=0}) so a read never blocks a bot's
 * commit. Variables that would point git elsewhere ({@code GIT_DIR}, {@code GIT_WORK_TREE},
 * {@code GIT_INDEX_FILE}, ...) are removed from the environment.
 */
public final class Git {
    /** How long one git command may run before it is killed. */
    public static final Duration DEFAULT_TIMEOUT = Duration.ofMinutes(2);
    private static final List<String> CONFIG = List.of(
            "-c", "core.hooksPath=/dev/null", "-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false",
            "-c", "gc.auto=0", "-c", "core.quotePath=false", "-c", "advice.detachedHead=false",
            "-c", "init.defaultBranch=main", "-c", "core.fsmonitor=false", "-c", "maintenance.auto=false");
    private static final List<String> UNSET = List.of("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE",
            "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_COMMON_DIR", "GIT_NAMESPACE",
            "GIT_CEILING_DIRECTORIES", "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT");

    /** Threads feeding and draining git's pipes; daemons, so they never keep a JVM alive. */
    private static final ExecutorService PIPES = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "deia-git-pipe");
        t.setDaemon(true);
        return t;
    });

    private final Path dir;
    private final Map<String, String> env;
    private final Duration timeout;

    private Git(Path dir, Map<String, String> env, Duration timeout) {
        this.dir = dir;
        this.env = env;
        this.timeout = timeout;
    }

    /** git run in {@code dir} (its working directory). */
    public static Git at(Path dir) {
        return new Git(dir, Map.of(), DEFAULT_TIMEOUT);
    }

    /** The same, with these variables added to git's environment (e.g. {@code GIT_AUTHOR_NAME}). */
    public Git withEnv(Map<String, String> more) {
        Map<String, String> merged = new LinkedHashMap<>(env);
        merged.putAll(more);
        return new Git(dir, Map.copyOf(merged), timeout);
    }

    /** The same, killed after {@code limit}. */
    public Git withTimeout(Duration limit) {
        return new Git(dir, env, limit);
    }

    /** The folder git runs in. */
    public Path dir() {
        return dir;
    }

    /**
     * Runs {@code git args...} and returns its standard output (UTF-8, trailing newline kept).
     *
     * @throws DeiaException {@code UNPROCESSABLE} with git's first error line when it exits non-zero;
     *                       {@code TIMEOUT} when it runs too long; {@code INTERNAL} when git cannot be started
     */
    public String run(String... args) {
        Result r = tryRun(args);
        if (!r.ok()) {
            throw DeiaException.unprocessable("git %s failed in %s: %s", args.length == 0 ? "" : args[0], dir, r.errorLine());
        }
        return r.out();
    }

    /** Runs {@code git args...} and returns how it ended, a non-zero exit included. */
    public Result tryRun(String... args) {
        return exec(null, Long.MAX_VALUE, args);
    }

    /** Runs {@code git args...} with {@code stdin} as its input. */
    public Result tryRunWithInput(byte[] stdin, String... args) {
        return exec(stdin, Long.MAX_VALUE, args);
    }

    /**
     * Runs {@code git args...} keeping at most {@code maxBytes} of its output; when there is more, the
     * process is ended and the result says {@link Result#truncated()}.
     */
    public Result tryRunLimited(long maxBytes, String... args) {
        return exec(null, maxBytes, args);
    }

    private Result exec(byte[] stdin, long maxBytes, String... args) {
        String name = args.length == 0 ? "" : args[0];
        List<String> cmd = new ArrayList<>(CONFIG.size() + args.length + 1);
        cmd.add("git");
        cmd.addAll(CONFIG);
        cmd.addAll(Arrays.asList(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile());
        Map<String, String> e = pb.environment();
        UNSET.forEach(e::remove);
        e.put("LC_ALL", "C");
        e.put("GIT_TERMINAL_PROMPT", "0");
        e.put("GIT_OPTIONAL_LOCKS", "0");
        e.putAll(env);
        if (stdin == null) {
            pb.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        }
        Process p;
        try {
            p = pb.start();
        } catch (IOException ex) {
            throw DeiaException.internal("cannot run git in " + dir + ": " + ex.getMessage(), ex);
        }
        // Input, output and errors each on their own thread: git blocks on a full pipe, so reading one
        // while writing another on this thread can wait forever, and so can a read of a git that hangs,
        // which only a bounded wait here can end.
        long deadline = System.nanoTime() + timeout.toNanos();
        Future<byte[]> err = PIPES.submit(() -> readUpTo(p.getErrorStream(), 64 * 1024, true));
        Future<byte[]> outF = PIPES.submit(() -> readUpTo(p.getInputStream(), maxBytes, false));
        if (stdin != null) {
            PIPES.submit(() -> {
                try (var in = p.getOutputStream()) {
                    in.write(stdin);
                } catch (IOException ex) {
                    // git ended before reading all its input; its exit code and error say why
                }
            });
        }
        try {
            byte[] out = outF.get(remaining(deadline), TimeUnit.NANOSECONDS);
            boolean truncated = out.length > maxBytes;
            if (truncated) {
                kill(p);
                out = Arrays.copyOf(out, (int) maxBytes);
            }
            if (!p.waitFor(remaining(deadline), TimeUnit.NANOSECONDS)) {
                throw new TimeoutException();
            }
            return new Result(truncated ? 0 : p.exitValue(), out, err.get(remaining(deadline), TimeUnit.NANOSECONDS),
                    truncated);
        } catch (TimeoutException ex) {
            kill(p);
            throw DeiaException.timeout("git %s in %s did not end within %d ms", name, dir, timeout.toMillis());
        } catch (ExecutionException ex) {
            kill(p);
            throw DeiaException.internal("git " + name + " in " + dir + ": " + ex.getCause(), ex.getCause());
        } catch (InterruptedException ex) {
            kill(p);
            Thread.currentThread().interrupt();
            throw DeiaException.unavailable("interrupted while git %s ran in %s", name, dir);
        }
    }

    private static long remaining(long deadline) {
        return Math.max(0, deadline - System.nanoTime());
    }

    /** Ends git and what it started (an alias's shell, a helper), which would otherwise hold its pipes open. */
    private static void kill(Process p) {
        p.descendants().forEach(ProcessHandle::destroyForcibly);
        p.destroyForcibly();
    }

    /**
     * Reads up to {@code max + 1} bytes (one more than kept, to tell "exactly max" from "more");
     * with {@code drain} the rest is read and dropped, so git never blocks on a full pipe.
     */
    private static byte[] readUpTo(InputStream in, long max, boolean drain) {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        byte[] chunk = new byte[64 * 1024];
        long limit = max == Long.MAX_VALUE ? Long.MAX_VALUE : max + 1;
        try (in) {
            int n;
            while (buf.size() < limit && (n = in.read(chunk, 0, (int) Math.min(chunk.length, limit - buf.size()))) > 0) {
                buf.write(chunk, 0, n);
            }
            if (drain) {
                in.transferTo(java.io.OutputStream.nullOutputStream());
            }
        } catch (IOException e) {
            // the process was ended: keep what was read
        }
        return buf.toByteArray();
    }

    /**
     * How one git command ended.
     *
     * @param exitCode  git's exit code (0 when the output was cut short on purpose)
     * @param stdout    its standard output
     * @param stderr    its standard error (first 64 KiB)
     * @param truncated true when the output was longer than asked for and was cut
     */
    public record Result(int exitCode, byte[] stdout, byte[] stderr, boolean truncated) {
        /** True when git exited 0. */
        public boolean ok() {
            return exitCode == 0;
        }

        /** Standard output as UTF-8. */
        public String out() {
            return new String(stdout, StandardCharsets.UTF_8);
        }

        /** Standard output, first line, without its newline. */
        public String firstLine() {
            String s = out();
            int nl = s.indexOf('\n');
            return nl < 0 ? s : s.substring(0, nl);
        }

        /** The first non-blank line of standard error, or the exit code when it has none. */
        public String errorLine() {
            for (String line : new String(stderr, StandardCharsets.UTF_8).split("\n")) {
                if (!line.isBlank()) {
                    return line.strip();
                }
            }
            return "exit code " + exitCode;
        }
    }
}
