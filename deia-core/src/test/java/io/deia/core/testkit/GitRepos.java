package io.deia.core.testkit;

import io.deia.core.project.Project;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Real git repositories for the launch tests of projects, made with the plain {@code git} program
 * in a test's temporary folder.
 */
public final class GitRepos {
    private GitRepos() {
    }

    /** A new repository at {@code dir} on branch {@code main} with one commit holding {@code README.md}. */
    public static Path init(Path dir) {
        try {
            Files.createDirectories(dir);
            Files.writeString(dir.resolve("README.md"), "hello\n");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        git(dir, "init", "--quiet", "-b", "main");
        git(dir, "add", "README.md");
        git(dir, "-c", "user.name=The User", "-c", "user.email=user@example.invalid", "-c", "commit.gpgsign=false",
                "commit", "--quiet", "-m", "first");
        return dir;
    }

    /** A project named {@code name} on the repository at {@code repo} with base {@code base}. */
    public static Project project(String name, Path repo, String base) {
        return new Project(name, repo, base, List.of(), null);
    }

    /**
     * Runs {@code git args} in {@code dir} and returns its output.
     *
     * @throws IllegalStateException naming the command and git's error output when it fails
     */
    public static String git(Path dir, String... args) {
        List<String> cmd = new ArrayList<>(List.of("git", "-c", "core.hooksPath=/dev/null"));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true);
        pb.environment().put("LC_ALL", "C");
        pb.environment().remove("GIT_DIR");
        pb.environment().remove("GIT_WORK_TREE");
        pb.redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        try {
            Process p = pb.start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IllegalStateException("git " + String.join(" ", args) + " did not end in " + dir);
            }
            if (p.exitValue() != 0) {
                throw new IllegalStateException("git " + String.join(" ", args) + " in " + dir + " exited with "
                        + p.exitValue() + ": " + out);
            }
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while running git", e);
        }
    }
}
