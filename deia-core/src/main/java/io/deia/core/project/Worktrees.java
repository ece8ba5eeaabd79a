package io.deia.core.project;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The work trees of a repository as git lists them ({@code git worktree list --porcelain -z}): the
 * main one (or the bare repository itself) first, then every linked worktree, bots' included.
 */
final class Worktrees {
    private Worktrees() {
    }

    /**
     * One work tree.
     *
     * @param path      its folder
     * @param head      the commit checked out, or null in a bare repository
     * @param branch    the full name of the branch checked out ({@code refs/heads/main}), or null when detached or bare
     * @param bare      true for the bare repository's own entry, which has no files
     * @param prunable  true when git found its folder gone
     */
    record Entry(Path path, String head, String branch, boolean bare, boolean prunable) {
        /** True when this entry names the same folder as {@code dir}, links resolved. */
        boolean isAt(Path dir) {
            return real(path).equals(real(dir));
        }
    }

    /** Every work tree of the repository {@code repo} runs in. */
    static List<Entry> list(Git repo) {
        String out = repo.run("worktree", "list", "--porcelain", "-z");
        List<Entry> entries = new ArrayList<>();
        Path path = null;
        String head = null;
        String branch = null;
        boolean bare = false;
        boolean prunable = false;
        // Fields end in NUL; an empty field ends one work tree.
        for (String field : out.split("\0", -1)) {
            if (field.isEmpty()) {
                if (path != null) {
                    entries.add(new Entry(path, head, branch, bare, prunable));
                }
                path = null;
                head = null;
                branch = null;
                bare = false;
                prunable = false;
            } else if (field.startsWith("worktree ")) {
                path = Path.of(field.substring("worktree ".length()));
            } else if (field.startsWith("HEAD ")) {
                head = field.substring("HEAD ".length());
            } else if (field.startsWith("branch ")) {
                branch = field.substring("branch ".length());
            } else if (field.equals("bare")) {
                bare = true;
            } else if (field.equals("prunable") || field.startsWith("prunable ")) {
                prunable = true;
            }
        }
        return entries;
    }

    /** The work tree (with files, still there) where branch {@code branch} (short name) is checked out. */
    static Optional<Entry> withBranch(Git repo, String branch) {
        String ref = "refs/heads/" + branch;
        return list(repo).stream().filter(e -> !e.bare() && !e.prunable() && ref.equals(e.branch())).findFirst();
    }

    /**
     * The work tree where {@code branch} (short name) is being rebased or bisected: git shows it
     * detached meanwhile and moves the branch when it is done, so nothing else may move it.
     */
    static Optional<Entry> rebasing(Git repo, String branch) {
        String ref = "refs/heads/" + branch;
        for (Entry e : list(repo)) {
            if (e.bare() || e.prunable() || e.branch() != null) {
                continue;
            }
            Git.Result gitDir = Git.at(e.path()).tryRun("rev-parse", "--path-format=absolute", "--git-dir");
            if (!gitDir.ok()) {
                continue;
            }
            Path dir = Path.of(gitDir.firstLine().strip());
            for (String state : List.of("rebase-merge/head-name", "rebase-apply/head-name", "BISECT_START")) {
                String named = firstLine(dir.resolve(state));
                if (ref.equals(named) || branch.equals(named)) {
                    return Optional.of(e);
                }
            }
        }
        return Optional.empty();
    }

    private static String firstLine(Path file) {
        try {
            return Files.isRegularFile(file) ? Files.readString(file).strip() : null;
        } catch (IOException e) {
            return null; // gone in the meantime: the operation ended
        }
    }

    /** The registered work tree at {@code dir}, if git knows one there. */
    static Optional<Entry> at(Git repo, Path dir) {
        return list(repo).stream().filter(e -> !e.bare() && e.isAt(dir)).findFirst();
    }

    private static Path real(Path p) {
        Path abs = p.toAbsolutePath().normalize();
        try {
            return abs.toRealPath();
        } catch (IOException e) {
            return abs;
        }
    }
}
