package io.deia.core.testkit;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Real git repositories for tests of project bots, made and inspected with the plain {@code git}
 * program (not deia's own git runner), so a fault in deia cannot hide in the checks.
 */
public final class GitRepos {
    /**
     * A {@code command} agent's script ({@code sh -c SCRIPT sh GATE}, prompt on stdin) that works on
     * files in its cwd as the prompt's first line says: {@code write FILE TEXT…}, {@code append FILE
     * TEXT…}, {@code lock FILE TEXT…} (writes, then takes git's index lock as another git would, so
     * deia's commit fails), {@code wait FILE TEXT…} (appends, then holds the turn until GATE exists),
     * {@code fail FILE TEXT…} (writes, then exits 3); anything else changes nothing. Replies
     * {@code did: ACTION FILE}.
     */
    public static final String WRITER_SCRIPT = """
            gate="$1"
            p=$(cat)
            set -f
            set -- $(printf '%s\\n' "$p" | head -n 1)
            act="$1"; [ $# -gt 0 ] && shift
            f="$1"; [ $# -gt 0 ] && shift
            case "$act" in
              write) mkdir -p "$(dirname "$f")"; printf '%s\\n' "$*" > "$f";;
              append) printf '%s\\n' "$*" >> "$f";;
              lock) printf '%s\\n' "$*" > "$f"; : > "$(git rev-parse --git-path index.lock)";;
              wait) printf '%s\\n' "$*" >> "$f"; while [ ! -e "$gate" ]; do sleep 0.02; done;;
              fail) printf '%s\\n' "$*" > "$f"; echo "agent broke" >&2; exit 3;;
            esac
            printf 'did: %s %s' "$act" "$f"
            """;

    private GitRepos() {
    }

    /** A new repository at {@code dir} on branch {@code main} with one commit holding {@code README.md}. */
    public static Path init(Path dir) throws IOException {
        Files.createDirectories(dir);
        git(dir, "init", "--quiet", "-b", "main");
        git(dir, "config", "user.name", "The User");
        git(dir, "config", "user.email", "user@example.invalid");
        git(dir, "config", "commit.gpgsign", "false");
        Files.writeString(dir.resolve("README.md"), "hello\n");
        git(dir, "add", "README.md");
        git(dir, "commit", "--quiet", "-m", "first");
        return dir;
    }

    /** Writes {@code rel} in {@code dir} and commits it on the current branch as the user; returns the commit. */
    public static String commitFile(Path dir, String rel, String text) throws IOException {
        Path f = dir.resolve(rel);
        Files.createDirectories(f.getParent());
        Files.writeString(f, text);
        git(dir, "add", "--", rel);
        git(dir, "commit", "--quiet", "-m", "user: " + rel);
        return tip(dir, "HEAD");
    }

    /** The commit {@code rev} names. */
    public static String tip(Path dir, String rev) {
        return git(dir, "rev-parse", "--verify", rev + "^{commit}").strip();
    }

    /** True when branch {@code name} exists. */
    public static boolean hasBranch(Path dir, String name) {
        return tryGit(dir, "show-ref", "--verify", "--quiet", "refs/heads/" + name).exit() == 0;
    }

    /** The branches under {@code prefix} (e.g. {@code deia/BOT-A/}), short names, sorted. */
    public static List<String> branches(Path dir, String prefix) {
        String out = git(dir, "for-each-ref", "--format=%(refname:short)", "refs/heads/" + prefix);
        return out.lines().filter(l -> !l.isBlank()).sorted().toList();
    }

    /** The files commit {@code rev} changed against its first parent, sorted. */
    public static List<String> filesOf(Path dir, String rev) {
        return Arrays.stream(git(dir, "diff-tree", "--no-commit-id", "--name-only", "-r", rev).split("\n"))
                .filter(l -> !l.isBlank()).sorted().toList();
    }

    /** {@code git log -1 --format=<format> rev}, without the final newline. */
    public static String show(Path dir, String rev, String format) {
        String out = git(dir, "log", "-1", "--format=" + format, rev);
        return out.endsWith("\n") ? out.substring(0, out.length() - 1) : out;
    }

    /** Runs {@code git args} in {@code dir} and returns its output; fails the test on a non-zero exit. */
    public static String git(Path dir, String... args) {
        Run r = tryGit(dir, args);
        assertEquals(0, r.exit(), () -> "git " + String.join(" ", args) + " in " + dir + ": " + r.err());
        return r.out();
    }

    /** Runs {@code git args} in {@code dir}. */
    public static Run tryGit(Path dir, String... args) {
        List<String> cmd = new ArrayList<>(List.of("git", "-c", "core.hooksPath=/dev/null", "-c", "core.quotePath=false"));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile());
        pb.environment().put("LC_ALL", "C");
        pb.environment().remove("GIT_DIR");
        pb.environment().remove("GIT_WORK_TREE");
        pb.environment().remove("GIT_INDEX_FILE");
        pb.redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        try {
            Path errFile = Files.createTempFile("git-err", ".txt");
            pb.redirectError(errFile.toFile());
            Process p = pb.start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), "git " + String.join(" ", args) + " did not end");
            String err = Files.readString(errFile);
            Files.delete(errFile);
            return new Run(p.exitValue(), out, err);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /**
     * How one git command ended.
     *
     * @param exit its exit code
     * @param out  its standard output
     * @param err  its standard error
     */
    public record Run(int exit, String out, String err) {
    }
}
