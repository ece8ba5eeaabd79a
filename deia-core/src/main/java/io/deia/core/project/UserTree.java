package io.deia.core.project;

import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * What a merge would find in the way in a work tree where {@code base} is checked out: the user's
 * uncommitted changes, and files the merge would add where the user has an untracked or ignored
 * file (or a file where the merge needs a folder). Any of them means the tree is not touched.
 */
final class UserTree {
    private UserTree() {
    }

    /**
     * The paths in the way of moving the work tree {@code tree} from {@code old} to {@code merged};
     * empty when it can be fast-forwarded without touching anything of the user's.
     */
    static List<String> inTheWay(Git repo, Path tree, String old, String merged) {
        List<String> files = new ArrayList<>();
        String[] status = Git.at(tree).run("status", "--porcelain=v1", "-z", "--untracked-files=no").split("\0", -1);
        for (int i = 0; i < status.length; i++) {
            String entry = status[i];
            if (entry.length() < 4) {
                continue;
            }
            files.add(entry.substring(3));
            if (entry.charAt(0) == 'R' || entry.charAt(0) == 'C') {
                i++; // -z puts a rename's old name in the next field
            }
        }
        if (!files.isEmpty()) {
            return files;
        }
        String added = repo.run("diff", "--no-renames", "--name-only", "-z", "--diff-filter=A", old, merged);
        for (String path : added.split("\0")) {
            if (!path.isEmpty() && occupied(tree, path)) {
                files.add(path);
            }
        }
        return files;
    }

    /** True when something is at {@code path}, or a file is where one of its folders would go. */
    private static boolean occupied(Path tree, String path) {
        String[] parts = path.split("/");
        Path p = tree;
        for (int i = 0; i < parts.length; i++) {
            p = p.resolve(parts[i]);
            boolean exists = Files.exists(p, LinkOption.NOFOLLOW_LINKS);
            if (i == parts.length - 1 ? exists : exists && !Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
                return true;
            }
        }
        return false;
    }
}
