package io.deia.core.project;

/**
 * What a task did to its project, as recorded in the response's front matter: the task's branch,
 * where it started, and deia's commit of the agent's changes.
 *
 * @param project      the project's name
 * @param branch       the task branch, {@code deia/<BOT-ID>/<TASK-ID>}
 * @param baseCommit   the tip of {@code base} the branch was made from
 * @param commit       the branch's tip after the task, or null when the task changed nothing
 * @param filesChanged files that differ between {@code baseCommit} and {@code commit}
 * @param insertions   lines added (binary files count none)
 * @param deletions    lines removed
 */
public record TaskChange(String project, String branch, String baseCommit, String commit, int filesChanged,
                         int insertions, int deletions) {
}
