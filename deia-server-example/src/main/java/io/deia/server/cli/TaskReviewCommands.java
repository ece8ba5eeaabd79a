package io.deia.server.cli;

import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;
import io.deia.core.internal.io.Json;
import io.deia.core.project.FileConflictException;
import io.deia.core.project.ProjectReview;
import io.deia.core.project.TaskDiff;
import io.deia.http.bot.BotRunner;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.util.concurrent.Callable;

/**
 * {@code task diff|merge|discard|restore BOT-ID TASK-ID}: review of a task's work on a project,
 * straight on the hive and its config (no controller needed), with the same rules as the HTTP API
 * ({@link ProjectReview}). Exit code 3 means a conflict: nothing was changed.
 */
public final class TaskReviewCommands {
    /** Exit code of a refused merge, discard or restore (a conflict): nothing was changed. */
    public static final int CONFLICT = 3;

    private TaskReviewCommands() {
    }

    /** What the four commands share: the ids, the hive options, {@code --json} and the exit codes. */
    @Command(mixinStandardHelpOptions = true, exitCodeListHeading = "%nExit codes:%n",
            exitCodeList = {"0:done", "1:failed (no such task or branch, git failed)",
                    "2:bad usage, an invalid id, or a project missing from the config",
                    "3:conflict: nothing was changed (conflicting files are listed on stderr)"})
    abstract static class ReviewCommand implements Callable<Integer> {
        @Mixin
        HiveOptions hiveOptions;

        @Spec
        CommandSpec spec;

        @ParentCommand
        TaskCommand parent;

        @Parameters(index = "0", paramLabel = "BOT-ID", description = "The bot that ran the task.")
        String botId;

        @Parameters(index = "1", paramLabel = "TASK-ID", description = "The task.")
        String taskId;

        @Option(names = "--json", description = "Print the result as the HTTP API answers it.")
        boolean json;

        @Override
        public Integer call() {
            var parsed = spec.commandLine().getParseResult();
            HiveOptions hive = parsed.hasMatchedOption("--hive") || parsed.hasMatchedOption("--config")
                    || parent == null ? hiveOptions : parent.hiveOptions;
            ProjectReview review = new ProjectReview(hive.layout(), hive.config());
            PrintWriter out = spec.commandLine().getOut();
            try {
                Object result = run(review);
                out.print(json ? Json.writePretty(result) + "\n" : summary(result));
                out.flush();
                return BotRunner.OK;
            } catch (DeiaException e) {
                if (e.code() != ErrorCode.CONFLICT) {
                    throw e;
                }
                PrintWriter err = spec.commandLine().getErr();
                err.println("task " + spec.name() + ": " + e.getMessage());
                if (e instanceof FileConflictException conflict) {
                    conflict.files().forEach(f -> err.println("  " + f));
                }
                err.flush();
                return CONFLICT;
            }
        }

        /** Does the work. */
        abstract Object run(ProjectReview review);

        /** The result for a reader. */
        abstract String summary(Object result);
    }

    /** {@code task diff BOT-ID TASK-ID}. */
    @Command(name = "diff", description = {"Show what a task changed on its branch deia/<BOT-ID>/<TASK-ID>, against "
            + "where it left the project's base branch: the files, then the patch (cut at 2 MiB)."})
    public static final class Diff extends ReviewCommand {
        @Override
        Object run(ProjectReview review) {
            return review.diff(botId, taskId);
        }

        @Override
        String summary(Object result) {
            TaskDiff d = (TaskDiff) result;
            StringBuilder sb = new StringBuilder();
            sb.append(d.branch()).append(" against ").append(d.base()).append(" (from ").append(shortId(d.mergeBase()))
                    .append(" to ").append(shortId(d.commit())).append(")\n");
            for (TaskDiff.FileChange f : d.files()) {
                String counts = f.binary() ? "binary" : "+" + f.insertions() + " -" + f.deletions();
                sb.append(String.format("  %-12s %-14s %s%s%n", f.status(), counts, f.path(),
                        f.oldPath() == null ? "" : " (from " + f.oldPath() + ")"));
            }
            sb.append(d.files().size()).append(d.files().size() == 1 ? " file changed\n" : " files changed\n");
            if (!d.patch().isEmpty()) {
                sb.append('\n').append(d.patch());
                if (!d.patch().endsWith("\n")) {
                    sb.append('\n');
                }
            }
            if (d.truncated()) {
                sb.append("(the patch is longer than ").append(TaskDiff.MAX_PATCH_BYTES / (1024 * 1024))
                        .append(" MiB and was cut; git diff ").append(shortId(d.mergeBase())).append(' ')
                        .append(d.branch()).append(" shows all of it)\n");
            }
            return sb.toString();
        }
    }

    /** {@code task merge BOT-ID TASK-ID}. */
    @Command(name = "merge", description = {"Merge a task's branch into the project's base branch: a fast-forward "
            + "when the base has not moved, else a merge commit. Never touches a checkout with uncommitted changes: "
            + "a conflict, or such a checkout of the base branch, changes nothing and exits 3."})
    public static final class Merge extends ReviewCommand {
        @Override
        Object run(ProjectReview review) {
            return review.merge(botId, taskId);
        }

        @Override
        String summary(Object result) {
            ProjectReview.Merged m = (ProjectReview.Merged) result;
            if (m.alreadyMerged()) {
                return "nothing to merge: the work of " + taskId + " is on " + m.base() + " already (" + shortId(m.commit()) + ")\n";
            }
            return "merged " + taskId + " of " + botId + " into " + m.base() + (m.fastForward() ? " (fast-forward)" : " (merge commit)")
                    + ": " + m.base() + " is now " + shortId(m.commit()) + "\n";
        }
    }

    /** {@code task discard BOT-ID TASK-ID}. */
    @Command(name = "discard", description = {"Delete a task's branch, keeping its tip for 30 days (task restore "
            + "brings it back). A bot's worktree on that branch is moved to its chat branch at the base's tip; "
            + "while the bot runs a turn there, nothing is changed and the command exits 3."})
    public static final class Discard extends ReviewCommand {
        @Override
        Object run(ProjectReview review) {
            return review.discard(botId, taskId);
        }

        @Override
        String summary(Object result) {
            ProjectReview.Discarded d = (ProjectReview.Discarded) result;
            return "discarded " + d.branch() + "; its tip " + shortId(d.commit()) + " is kept as " + d.keptAs()
                    + " for 30 days (task restore " + botId + " " + taskId + " brings it back)\n";
        }
    }

    /** {@code task restore BOT-ID TASK-ID}. */
    @Command(name = "restore", description = {"Bring back a discarded task branch at the tip it had; exits 3 when "
            + "the branch exists again."})
    public static final class Restore extends ReviewCommand {
        @Override
        Object run(ProjectReview review) {
            return review.restore(botId, taskId);
        }

        @Override
        String summary(Object result) {
            ProjectReview.Restored r = (ProjectReview.Restored) result;
            return "restored " + r.branch() + " at " + shortId(r.commit()) + "\n";
        }
    }

    private static String shortId(String commit) {
        return commit.substring(0, Math.min(10, commit.length()));
    }
}
