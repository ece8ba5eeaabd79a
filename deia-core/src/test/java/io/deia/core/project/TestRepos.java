package io.deia.core.project;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Real git repositories for the project tests, made and inspected with the plain {@code git}
 * program (not deia's {@link Git}), so a fault in deia's runner cannot hide in the checks.
 */
final class TestRepos {
    private TestRepos() {
    }

    /** A new repository at {@code dir} on branch {@code main} with one commit holding {@code README.md}. */
    static Path init(Path dir) throws IOException {
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

    /** Writes {@code rel} in {@code dir} and commits it on the current branch, as the user. */
    static String commitFile(Path dir, String rel, String text) throws IOException {
        Path f = dir.resolve(rel);
        Files.createDirectories(f.getParent());
        Files.writeString(f, text);
        git(dir, "add", "--", rel);
        git(dir, "commit", "--quiet", "-m", "user: " + rel);
        return git(dir, "rev-parse", "HEAD").strip();
    }

    /** Runs {@code git args} in {@code dir} and returns its output; fails the test on a non-zero exit. */
    static String git(Path dir, String... args) {
        Run r = tryGit(dir, args);
        assertEquals(0, r.exit(), () -> "git " + String.join(" ", args) + " in " + dir + ": " + r.err());
        return r.out();
    }

    /** Runs {@code git args} in {@code dir} and returns its output as bytes; fails the test on a non-zero exit. */
    static byte[] gitBytes(Path dir, String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("git"));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        byte[] out = p.getInputStream().readAllBytes();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), "git " + String.join(" ", args));
        return out;
    }

    /** Runs {@code git args} in {@code dir}. */
    static Run tryGit(Path dir, String... args) {
        List<String> cmd = new ArrayList<>(List.of("git", "-c", "core.hooksPath=/dev/null", "-c", "core.quotePath=false"));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile());
        pb.environment().put("LC_ALL", "C");
        pb.environment().remove("GIT_DIR");
        pb.environment().remove("GIT_WORK_TREE");
        pb.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
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
            throw new java.io.UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** How one git command ended. */
    record Run(int exit, String out, String err) {
    }
}
