package io.deia.core.project;

import io.deia.core.DeiaException;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads a task branch's change with three git commands: line counts ({@code --numstat}), statuses
 * ({@code --name-status}) and the patch, all NUL-separated where names appear so that spaces,
 * newlines and UTF-8 in file names come through exactly.
 */
final class DiffReader {
    /** Settings a user's config could change that would alter what a client reads. */
    private static final List<String> PLAIN = List.of("--no-color", "--no-ext-diff", "--no-textconv", "--no-relative", "-M");

    private DiffReader() {
    }

    /**
     * The diff of {@code branch} against its merge base with {@code base}.
     *
     * @param repo          git in the repository
     * @param base          the base branch (short name)
     * @param branch        the task branch (short name)
     * @param maxPatchBytes the patch is cut (at a line end) beyond this many bytes
     * @throws DeiaException {@code UNPROCESSABLE} when the branch and base share no history or git fails
     */
    static TaskDiff read(Git repo, String base, String branch, long maxPatchBytes) {
        String baseTip = ProjectReview.tip(repo, base)
                .orElseThrow(() -> DeiaException.unprocessable("base branch '%s' no longer exists", base));
        String tip = ProjectReview.tip(repo, branch)
                .orElseThrow(() -> DeiaException.notFound("branch %s does not exist", branch));
        Git.Result mb = repo.tryRun("merge-base", baseTip, tip);
        if (!mb.ok()) {
            throw DeiaException.unprocessable("branch %s shares no history with %s", branch, base);
        }
        String mergeBase = mb.firstLine().strip();
        Map<String, int[]> counts = numstat(repo.run(args("diff", "-z", "--numstat", mergeBase, tip)));
        List<TaskDiff.FileChange> files = new ArrayList<>();
        String[] f = repo.run(args("diff", "-z", "--name-status", mergeBase, tip)).split("\0", -1);
        for (int i = 0; i + 1 < f.length && !f[i].isEmpty(); ) {
            char letter = f[i].charAt(0);
            boolean twoPaths = letter == 'R' || letter == 'C';
            String oldPath = twoPaths ? f[i + 1] : null;
            String path = twoPaths ? f[i + 2] : f[i + 1];
            int[] c = counts.get(path);
            boolean binary = c == null;
            files.add(new TaskDiff.FileChange(path, oldPath, status(letter), binary ? null : c[0], binary ? null : c[1], binary));
            i += twoPaths ? 3 : 2;
        }
        Git.Result patch = repo.tryRunLimited(maxPatchBytes,
                args("diff", "--src-prefix=a/", "--dst-prefix=b/", mergeBase, tip));
        if (!patch.ok()) {
            throw DeiaException.unprocessable("git diff failed for %s: %s", branch, patch.errorLine());
        }
        return new TaskDiff(branch, base, mergeBase, tip, files, text(patch), patch.truncated());
    }

    private static String[] args(String command, String... more) {
        List<String> all = new ArrayList<>();
        all.add(command);
        all.addAll(PLAIN);
        all.addAll(List.of(more));
        return all.toArray(String[]::new);
    }

    /**
     * {@code added deleted path} per file; a rename is {@code added deleted <empty> old new}. Binary
     * files show {@code -} for both counts and are left out (no entry means binary).
     */
    private static Map<String, int[]> numstat(String out) {
        Map<String, int[]> counts = new HashMap<>();
        String[] f = out.split("\0", -1);
        for (int i = 0; i < f.length && !f[i].isEmpty(); i++) {
            String[] cols = f[i].split("\t", 3);
            String path = cols[2];
            if (path.isEmpty()) {
                path = f[i + 2];
                i += 2;
            }
            if (!cols[0].equals("-")) {
                counts.put(path, new int[]{Integer.parseInt(cols[0]), Integer.parseInt(cols[1])});
            }
        }
        return counts;
    }

    private static String status(char letter) {
        return switch (letter) {
            case 'A' -> "added";
            case 'D' -> "deleted";
            case 'R' -> "renamed";
            case 'C' -> "copied";
            case 'T' -> "type_changed";
            default -> "modified";
        };
    }

    /** The patch as text; a cut one ends at its last whole line, so no character is split. */
    private static String text(Git.Result patch) {
        byte[] out = patch.stdout();
        int end = out.length;
        if (patch.truncated()) {
            while (end > 0 && out[end - 1] != '\n') {
                end--;
            }
        }
        return new String(out, 0, end, StandardCharsets.UTF_8);
    }
}
