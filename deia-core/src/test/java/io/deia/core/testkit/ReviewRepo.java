package io.deia.core.testkit;

import io.deia.core.HiveLayout;
import io.deia.core.config.DeiaConfig;
import io.deia.core.project.BotWorktree;
import io.deia.core.project.GitLock;
import io.deia.core.project.Project;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * A real git repository made for a test, configured as project {@code shop} (base {@code main}) of
 * a hive beside it, with helpers that do what a project bot does through {@link BotWorktree}: start a
 * task, change files, commit the turn and write the task's response naming the project. Checks use
 * {@link GitRepos} (the plain {@code git} program).
 */
public final class ReviewRepo {
    /** The project's name in the config. */
    public static final String PROJECT = "shop";

    private final Path root;
    private final Path repo;
    private final HiveLayout hive;
    private final Project project;
    private final DeiaConfig config;

    private ReviewRepo(Path root, Path repo) {
        this.root = root;
        this.repo = repo;
        this.hive = new HiveLayout(root.resolve("hive"));
        this.project = new Project(PROJECT, repo, "main", List.of(), null);
        this.config = DeiaConfig.builder().projects(Map.of(PROJECT, project)).build();
    }

    /**
     * A work tree repository on {@code main} with one commit ({@code README.md}), under {@code dir}.
     */
    public static ReviewRepo create(Path dir) {
        Path repo = dir.resolve("repo");
        mkdirs(repo);
        git(repo, "init", "--quiet", "-b", "main");
        identity(repo);
        write(repo.resolve("README.md"), "shop\n");
        git(repo, "add", "-A");
        git(repo, "commit", "--quiet", "-m", "first");
        return new ReviewRepo(dir, repo);
    }

    /** A bare repository on {@code main} with one commit ({@code README.md}), under {@code dir}. */
    public static ReviewRepo createBare(Path dir) {
        ReviewRepo seed = create(dir.resolve("seed"));
        Path bare = dir.resolve("repo.git");
        git(dir, "clone", "--quiet", "--bare", seed.repo().toString(), bare.toString());
        identity(bare);
        return new ReviewRepo(dir, bare);
    }

    private static void identity(Path repo) {
        git(repo, "config", "user.name", "Test User");
        git(repo, "config", "user.email", "user@example.invalid");
    }

    /** The repository (the user's checkout, or the bare repository). */
    public Path repo() {
        return repo;
    }

    /** The hive beside it. */
    public HiveLayout hive() {
        return hive;
    }

    /** The project {@code shop}. */
    public Project project() {
        return project;
    }

    /** A config with project {@code shop}. */
    public DeiaConfig config() {
        return config;
    }

    /** The worktree of {@code botId}. */
    public BotWorktree worktree(String botId) {
        return BotWorktree.of(hive, project, botId);
    }

    /**
     * What a bot does for one task: its worktree on the task's branch, {@code files} written there
     * (a null content deletes the file), the turn committed and a response naming the project.
     *
     * @return the task branch's tip
     */
    public String task(String botId, String taskId, Map<String, byte[]> files) {
        BotWorktree wt = worktree(botId);
        try (GitLock ignored = wt.lockTurn()) {
            wt.ensure();
            wt.startTask(taskId);
            change(wt.dir(), files);
            wt.commitTurn("task " + taskId + " (" + taskId + ")");
        }
        writeResponse(botId, taskId, PROJECT);
        return git(repo, "rev-parse", "refs/heads/" + BotWorktree.taskBranch(botId, taskId)).strip();
    }

    /** The same with text files. */
    public String taskText(String botId, String taskId, Map<String, String> files) {
        return task(botId, taskId, bytes(files));
    }

    /** A minimal response file of a finished task, naming {@code projectName} (none when null). */
    public void writeResponse(String botId, String taskId, String projectName) {
        Path dir = hive.responsesDir(botId);
        mkdirs(dir);
        write(dir.resolve(taskId + ".response.md"), "---\ntask_id: " + taskId + "\nbot_id: " + botId
                + "\nstatus: completed\n" + (projectName == null ? "" : "project: " + projectName + "\n")
                + "branch: " + BotWorktree.taskBranch(botId, taskId) + "\n---\n\ndone\n");
    }

    /** A commit by the user on {@code main} in their checkout (work tree repositories only). */
    public String userCommit(Map<String, String> files) {
        change(repo, bytes(files));
        git(repo, "add", "-A");
        git(repo, "commit", "--quiet", "-m", "user change");
        return head();
    }

    /** The commit {@code main} points at. */
    public String main() {
        return git(repo, "rev-parse", "refs/heads/main").strip();
    }

    /** The user's checkout's HEAD commit. */
    public String head() {
        return git(repo, "rev-parse", "HEAD").strip();
    }

    /** {@code git status --porcelain} of the user's checkout (empty when clean). */
    public String status() {
        return git(repo, "status", "--porcelain");
    }

    /** The file {@code path} as committed on {@code ref}, or null when it is not there. */
    public String show(String ref, String path) {
        GitRepos.Run r = GitRepos.tryGit(repo, "show", ref + ":" + path);
        return r.exit() == 0 ? r.out() : null;
    }

    /**
     * Runs the plain {@code git} program in {@code dir} (not deia's runner, so a fault there cannot
     * hide in a check) and returns its output; fails the test when git fails.
     */
    public static String git(Path dir, String... args) {
        return GitRepos.git(dir, args);
    }

    /** Runs the plain {@code git} program in {@code dir}, whatever its exit code. */
    public static GitRepos.Run tryGit(Path dir, String... args) {
        return GitRepos.tryGit(dir, args);
    }

    /** Writes text as UTF-8, making folders. */
    public static void write(Path file, String text) {
        write(file, text.getBytes(StandardCharsets.UTF_8));
    }

    private static void write(Path file, byte[] data) {
        try {
            Files.createDirectories(file.getParent());
            Files.write(file, data);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void change(Path dir, Map<String, byte[]> files) {
        files.forEach((path, data) -> {
            try {
                if (data == null) {
                    Files.deleteIfExists(dir.resolve(path));
                } else {
                    write(dir.resolve(path), data);
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
    }

    private static Map<String, byte[]> bytes(Map<String, String> files) {
        Map<String, byte[]> out = new java.util.LinkedHashMap<>();
        files.forEach((k, v) -> out.put(k, v == null ? null : v.getBytes(StandardCharsets.UTF_8)));
        return out;
    }

    private static void mkdirs(Path dir) {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The folder holding the repository and the hive. */
    public Path root() {
        return root;
    }
}
