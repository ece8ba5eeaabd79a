package io.deia.core.project;

import io.deia.core.DeiaException;
import io.deia.core.HiveLayout;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Pattern;

/**
 * A git repository bots can work on, as configured under {@code projects} in {@code deia.json}:
 *
 * <pre>{@code
 * "projects": {
 *   "shop": {"path": "/home/me/src/shop", "base": "main", "copy_files": [".env", "config/local.*"]}
 * }
 * }</pre>
 *
 * A bot launched with a project works in its own git worktree of it
 * ({@code <worktree_root>/<project>/<BOT-ID>}), a branch per task; see {@code docs/projects.md}.
 * The shape is checked when the config is read; {@link #verify()} checks the repository itself.
 *
 * @param name         the project's name (the key under {@code projects}); launch requests name it
 * @param path         absolute path of the repository (a work tree or a bare repository)
 * @param base         the branch task branches start from and merges go to ({@code main})
 * @param copyFiles    glob patterns, relative to the repository's top folder, of files to copy into
 *                     each new worktree (ignored files agents need, such as {@code .env}); empty by default
 * @param worktreeRoot where worktrees go, or null for {@code <hive>/worktrees}
 */
public record Project(String name, Path path, String base, List<String> copyFiles, Path worktreeRoot) {
    /** What a project name may look like: it becomes a folder name. */
    public static final String NAME_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$";
    private static final Pattern NAME = Pattern.compile(NAME_PATTERN);

    public Project {
        if (path == null) {
            throw new IllegalArgumentException("project " + name + ": \"path\" is required");
        }
        if (!path.isAbsolute()) {
            throw new IllegalArgumentException("project " + name + ": \"path\" must be absolute, was " + path);
        }
        path = path.normalize();
        base = base == null ? "main" : base;
        if (base.isBlank() || base.startsWith("-") || base.contains("..") || base.chars().anyMatch(c -> c <= ' ')) {
            throw new IllegalArgumentException("project " + name + ": \"base\" is not a branch name: '" + base + "'");
        }
        copyFiles = copyFiles == null ? List.of() : List.copyOf(copyFiles);
        for (String glob : copyFiles) {
            if (glob.isBlank() || glob.startsWith("/") || Path.of(glob).normalize().startsWith("..")) {
                throw new IllegalArgumentException("project " + name
                        + ": \"copy_files\" entries must be relative to the repository, was '" + glob + "'");
            }
        }
        if (worktreeRoot != null && !worktreeRoot.isAbsolute()) {
            throw new IllegalArgumentException("project " + name + ": \"worktree_root\" must be absolute, was " + worktreeRoot);
        }
        worktreeRoot = worktreeRoot == null ? null : worktreeRoot.normalize();
    }

    /** This project under its configured name (the config's map key), whose form is checked. */
    public Project withName(String configuredName) {
        if (configuredName == null || !NAME.matcher(configuredName).matches()) {
            throw new IllegalArgumentException("project name '" + configuredName + "' is invalid; expected " + NAME_PATTERN);
        }
        return new Project(configuredName, path, base, copyFiles, worktreeRoot);
    }

    /** The folder holding this project's worktrees: {@code <worktree_root>/<name>}. */
    public Path worktreesDir(HiveLayout hive) {
        Path root = worktreeRoot != null ? worktreeRoot : hive.root().resolve("worktrees");
        return root.resolve(name);
    }

    /** The worktree of one bot: {@code <worktree_root>/<name>/<BOT-ID>}. */
    public Path worktree(HiveLayout hive, String botId) {
        return worktreesDir(hive).resolve(botId);
    }

    /**
     * Checks the repository with git: {@code path} must be the top folder of a git repository (work
     * tree or bare) and {@code base} one of its branches.
     *
     * @throws DeiaException {@code UNPROCESSABLE} naming the project and the field at fault
     */
    public void verify() {
        if (!Files.isDirectory(path)) {
            throw DeiaException.unprocessable("project %s: \"path\" %s is not a folder", name, path);
        }
        Git git = Git.at(path);
        // One git for all of it: bare?, inside a git folder?, the git folder, the way up to the top.
        Git.Result kind = git.tryRun("rev-parse", "--is-bare-repository", "--is-inside-git-dir",
                "--path-format=absolute", "--git-dir", "--show-cdup");
        if (!kind.ok()) {
            throw DeiaException.unprocessable("project %s: \"path\" %s is not a git repository (%s)", name, path,
                    kind.errorLine());
        }
        // A folder inside a repository passes rev-parse too, but worktrees, copy_files and the user's
        // checkout are all about the repository's top: name the top, not a part of it.
        List<String> answers = kind.out().lines().toList();
        boolean bare = answers.size() > 2 && answers.get(0).equals("true");
        boolean inGitDir = answers.size() > 2 && answers.get(1).equals("true");
        boolean atTop = bare ? sameFolder(Path.of(answers.get(2)), path)
                : !inGitDir && answers.size() > 3 && answers.get(3).isEmpty();
        if (!atTop) {
            throw DeiaException.unprocessable("project %s: \"path\" %s is inside a git repository, not its top folder",
                    name, path);
        }
        if (!git.tryRun("rev-parse", "--verify", "--quiet", "refs/heads/" + base + "^{commit}").ok()) {
            throw DeiaException.unprocessable("project %s: \"base\" branch '%s' does not exist in %s", name, base, path);
        }
    }

    private static boolean sameFolder(Path a, Path b) {
        try {
            return Files.isSameFile(a, b);
        } catch (IOException e) {
            return false;
        }
    }
}
