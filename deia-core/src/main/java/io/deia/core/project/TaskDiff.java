package io.deia.core.project;

import com.fasterxml.jackson.annotation.JsonInclude;

import java.util.List;

/**
 * What a task's branch changed, against the point where it left {@code base} (their merge base), as
 * {@code GET /api/bot/{id}/tasks/{task_id}/diff} and {@code task diff} show it.
 *
 * @param branch    the task branch, {@code deia/<BOT-ID>/<TASK-ID>}
 * @param base      the project's base branch
 * @param mergeBase the commit the diff is taken from: where the branch left {@code base}
 * @param commit    the branch's tip
 * @param files     every file that differs, in git's order
 * @param patch     the unified diff, cut at a line end when it is over the limit
 * @param truncated true when {@code patch} was cut
 */
public record TaskDiff(String branch, String base, String mergeBase, String commit, List<FileChange> files, String patch,
                       boolean truncated) {
    /** The largest patch sent whole: 2 MiB. */
    public static final long MAX_PATCH_BYTES = 2L * 1024 * 1024;

    /** A diff; {@code files} is copied. */
    public TaskDiff {
        files = List.copyOf(files);
    }

    /**
     * One changed file.
     *
     * @param path       its path in the repository (after a rename, the new one), exactly as git has it
     * @param oldPath    the path it had before, for {@code renamed} and {@code copied}; else null
     * @param status     {@code added}, {@code modified}, {@code deleted}, {@code renamed}, {@code copied} or {@code type_changed}
     * @param insertions lines added, null for a binary file
     * @param deletions  lines removed, null for a binary file
     * @param binary     true when git sees the file as binary (no line counts)
     */
    public record FileChange(String path, String oldPath, String status,
                             @JsonInclude(JsonInclude.Include.ALWAYS) Integer insertions,
                             @JsonInclude(JsonInclude.Include.ALWAYS) Integer deletions, boolean binary) {
    }
}
