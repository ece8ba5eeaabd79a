package io.deia.core.project;

import io.deia.core.DeiaException;
import io.deia.core.HiveLayout;
import io.deia.core.config.DeiaConfig;
import io.deia.core.internal.BotIds;
import io.deia.core.internal.io.AtomicFiles;
import io.deia.core.internal.io.Json;
import io.deia.core.internal.io.LogSafe;
import io.deia.core.task.ResponseFiles;
import io.deia.core.task.TaskIds;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Review of a task's work on a project, from the controller or the command line: the diff of its
 * branch, merging it into {@code base}, discarding it (and undoing that), and removing a stopped
 * bot's worktree.
 *
 * <p>The user's checkout is never put at risk: a merge is computed without any checkout
 * ({@code git merge-tree --write-tree}, {@code commit-tree}) and only moves the {@code base} ref,
 * compare-and-swap on its old tip. When {@code base} is checked out in a work tree, that tree is
 * updated by {@code git merge --ff-only} only when it is clean; otherwise the merge is refused
 * ({@link FileConflictException} with the dirty files) and nothing changes. Every change to the
 * repository runs under its {@link GitLock#repository repository lock}.
 *
 * <p>The project of a task is the one its response file names ({@code project} in the front
 * matter); a task still running has none yet, so the bot's binding ({@code bots/<BOT-ID>/project.json})
 * names it then.
 */
public final class ProjectReview {
    private static final Logger log = LoggerFactory.getLogger(ProjectReview.class);
    private static final Map<String, String> DEIA_IDENTITY = Map.of(
            "GIT_AUTHOR_NAME", "deia", "GIT_AUTHOR_EMAIL", "deia@deia.invalid",
            "GIT_COMMITTER_NAME", "deia", "GIT_COMMITTER_EMAIL", "deia@deia.invalid");

    private final HiveLayout hive;
    private final DeiaConfig config;
    private final DiscardedBranches discarded;

    /** Review for the bots of {@code hive}, on the projects of {@code config}. */
    public ProjectReview(HiveLayout hive, DeiaConfig config) {
        this.hive = hive;
        this.config = config;
        this.discarded = new DiscardedBranches(hive);
    }

    /**
     * The diff of task {@code taskId}'s branch against where it left {@code base}; the patch is cut
     * at {@link TaskDiff#MAX_PATCH_BYTES}.
     *
     * @throws DeiaException {@code NOT_FOUND} when the task has no project or no branch,
     *                       {@code INVALID_ARGUMENT} for a malformed id, {@code UNPROCESSABLE} when the
     *                       project is gone from the config or its repository fails
     */
    public TaskDiff diff(String botId, String taskId) {
        Target t = target(botId, taskId);
        requireBranch(t);
        return DiffReader.read(t.repo(), t.project().base(), t.branch(), TaskDiff.MAX_PATCH_BYTES);
    }

    /**
     * Merges the task's branch into {@code base}: a fast-forward when {@code base} has not moved since
     * the branch left it, else a merge commit {@code Merge deia/<BOT-ID>/<TASK-ID> into <base>}.
     *
     * @throws FileConflictException when the changes conflict (the conflicting files), or when
     *                               {@code base} is checked out in a work tree with uncommitted changes
     *                               (its changed files); nothing is changed in either case
     * @throws DeiaException         {@code CONFLICT} when {@code base} moved during the merge (try again),
     *                               {@code NOT_FOUND} when the task has no branch
     */
    public Merged merge(String botId, String taskId) {
        Target t = target(botId, taskId);
        String base = t.project().base();
        Git repo = t.repo();
        try (GitLock ignored = GitLock.repository(hive, BotWorktree.commonDir(t.project()))) {
            String tip = requireBranch(t);
            String old = tip(repo, base)
                    .orElseThrow(() -> DeiaException.unprocessable("base branch '%s' no longer exists", base));
            if (isAncestor(repo, tip, old)) {
                log.info("[{}] {} is already on {}: nothing to merge", botId, t.branch(), base);
                return new Merged(true, base, old, false, true);
            }
            boolean fastForward = isAncestor(repo, old, tip);
            String merged = fastForward ? tip : mergeCommit(t, old, tip);
            moveBase(t, old, merged);
            log.info("[{}] merged {} into {} ({}): {} is now {}", botId, t.branch(), base,
                    fastForward ? "fast-forward" : "merge commit", base, shortId(merged));
            return new Merged(true, base, merged, fastForward, false);
        }
    }

    /**
     * Deletes the task's branch, keeping its tip as {@code refs/deia/discarded/<BOT-ID>/<TASK-ID>}
     * for 30 days ({@link #restore} brings it back). When the bot's worktree is on the branch it is
     * first switched to {@code deia/<BOT-ID>/chat}, reset to the tip of {@code base}.
     *
     * @throws DeiaException {@code CONFLICT} when the bot is running a turn in that worktree, or the
     *                       branch is checked out in a work tree that is not the bot's
     */
    public Discarded discard(String botId, String taskId) {
        return discarded.discard(target(botId, taskId));
    }

    /**
     * Brings back a discarded task branch at the tip it had.
     *
     * @throws DeiaException {@code NOT_FOUND} when nothing is kept for the task,
     *                       {@code CONFLICT} when its branch exists again
     */
    public Restored restore(String botId, String taskId) {
        return discarded.restore(target(botId, taskId));
    }

    /**
     * Removes the worktree of a bot ({@code git worktree remove --force}) after committing anything
     * left uncommitted in it; its branches stay. The caller makes sure the bot is stopped.
     *
     * @throws DeiaException {@code NOT_FOUND} when the bot has no worktree, {@code CONFLICT} when a
     *                       turn holds the worktree
     */
    public WorktreeRemoved removeWorktree(String botId) {
        BotIds.requireValid(botId);
        BotWorktree.Binding binding = BotWorktree.binding(hive, botId)
                .orElseThrow(() -> DeiaException.notFound("bot %s has no worktree: it never ran on a project", botId));
        Project project = config.requireProject(binding.project());
        project.verify();
        Path dir = project.worktree(hive, botId);
        Git repo = Git.at(project.path());
        Worktrees.Entry entry = Worktrees.at(repo, dir).orElseThrow(() -> DeiaException.notFound(
                "bot %s has no worktree of project %s (removed already)", botId, project.name()));
        try (GitLock turn = GitLock.tryWorktree(hive, botId).orElseThrow(() -> DeiaException.conflict(
                "bot %s is running a turn in its worktree; stop the bot first", botId));
             GitLock repoLock = GitLock.repository(hive, BotWorktree.commonDir(project))) {
            String branch = entry.branch() == null ? null : entry.branch().substring("refs/heads/".length());
            if (!entry.prunable()) {
                BotWorktree.of(hive, project, botId).commitTurn("deia: changes left in the worktree before it was removed");
                repo.run("worktree", "remove", "--force", dir.toString());
            }
            repo.run("worktree", "prune");
            log.info("[{}] worktree of project {} removed; its branches are kept (it was on {})", botId, project.name(), branch);
            return new WorktreeRemoved(true, botId, project.name(), branch);
        }
    }

    /**
     * The project task {@code taskId} of bot {@code botId} worked on: the one its response names, else
     * the one the bot is bound to.
     *
     * @throws DeiaException {@code NOT_FOUND} when neither names one, {@code UNPROCESSABLE} when the
     *                       named project is not (any longer) in the config
     */
    public Project projectOf(String botId, String taskId) {
        BotIds.requireValid(botId);
        requireTaskId(taskId);
        String name = projectInResponse(botId, taskId)
                .or(() -> BotWorktree.binding(hive, botId).map(BotWorktree.Binding::project))
                .orElseThrow(() -> DeiaException.notFound(
                        "task %s of bot %s is not on a project: no response names one and the bot never ran on one", taskId, botId));
        return config.requireProject(name);
    }

    private Target target(String botId, String taskId) {
        Project project = projectOf(botId, taskId);
        project.verify();
        return new Target(project, Git.at(project.path()), botId, taskId, BotWorktree.taskBranch(botId, taskId));
    }

    private static void requireTaskId(String taskId) {
        if (!TaskIds.isValid(taskId)) {
            throw DeiaException.invalid("task id '%s' is invalid; expected %s", LogSafe.printable(taskId, 80), TaskIds.PATTERN);
        }
    }

    /**
     * The {@code project} field of the task's response front matter. Read tolerantly: a response
     * without it, or one that cannot be read, leaves the choice to the bot's binding.
     */
    private Optional<String> projectInResponse(String botId, String taskId) {
        Path file = hive.responsesDir(botId).resolve(taskId + ResponseFiles.SUFFIX);
        if (!Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS)) {
            return Optional.empty();
        }
        try {
            String text = AtomicFiles.readString(file);
            int end = text.startsWith("---\n") ? text.indexOf("\n---\n", 3) : -1;
            for (String line : end < 0 ? new String[0] : text.substring(4, end).split("\n")) {
                if (line.startsWith("project: ")) {
                    String value = line.substring("project: ".length()).strip();
                    return Optional.of(value.startsWith("\"") ? Json.read(value, String.class, file.toString()) : value);
                }
            }
        } catch (DeiaException e) {
            log.warn("[{}] cannot read the project of task {} from its response: {}", botId, taskId,
                    LogSafe.printable(e.getMessage()));
        }
        return Optional.empty();
    }

    /** The tip of the task's branch. */
    private String requireBranch(Target t) {
        return tip(t.repo(), t.branch()).orElseThrow(() -> DeiaException.notFound("task %s of bot %s has no branch %s%s",
                t.taskId(), t.botId(), t.branch(), discarded.isKept(t) ? " (it was discarded; restore brings it back)" : ""));
    }

    /** The merge commit of {@code old} and {@code tip}, made without touching any work tree. */
    private String mergeCommit(Target t, String old, String tip) {
        Git repo = t.repo();
        Git.Result r = repo.tryRun("merge-tree", "--write-tree", "--name-only", "--no-messages", "-z", old, tip);
        String[] out = r.out().split("\0");
        if (r.exitCode() == 1) {
            List<String> files = new ArrayList<>(new LinkedHashSet<>(List.of(out).subList(1, out.length)));
            files.removeIf(String::isEmpty);
            log.info("[{}] merge of {} into {} refused: {} file(s) conflict", t.botId(), t.branch(), t.project().base(), files.size());
            throw new FileConflictException(String.format("merging %s into %s conflicts in %d file(s); nothing was changed",
                    t.branch(), t.project().base(), files.size()), files);
        }
        if (!r.ok()) {
            throw DeiaException.unprocessable("git merge-tree failed for %s: %s", t.branch(), r.errorLine());
        }
        // The merge is made on the user's behalf: their identity when git has one, else deia's.
        boolean identity = repo.tryRun("var", "GIT_AUTHOR_IDENT").ok() && repo.tryRun("var", "GIT_COMMITTER_IDENT").ok();
        return (identity ? repo : repo.withEnv(DEIA_IDENTITY)).run("commit-tree", out[0].strip(), "-p", old, "-p", tip,
                "-m", "Merge " + t.branch() + " into " + t.project().base()).strip();
    }

    /**
     * Moves {@code base} from {@code old} to {@code merged}: by a fast-forward in the work tree that
     * has it checked out, when that tree is clean, else as a ref update that fails if {@code base}
     * moved in the meantime.
     */
    private void moveBase(Target t, String old, String merged) {
        String base = t.project().base();
        Optional<Worktrees.Entry> rebasing = Worktrees.rebasing(t.repo(), base);
        if (rebasing.isPresent()) {
            log.info("[{}] merge of {} refused: {} is being rebased or bisected in {}", t.botId(), t.branch(), base,
                    rebasing.get().path());
            throw DeiaException.conflict("%s is being rebased or bisected in %s; finish or abort that, then merge again "
                    + "(nothing was changed)", base, rebasing.get().path());
        }
        Optional<Worktrees.Entry> checkedOut = Worktrees.withBranch(t.repo(), base);
        if (checkedOut.isEmpty()) {
            Git.Result r = t.repo().tryRun("update-ref", "-m", "deia: merge " + t.branch(), "refs/heads/" + base, merged, old);
            if (!r.ok()) {
                throw DeiaException.conflict("%s moved while the merge was made; nothing was changed, try again (%s)", base, r.errorLine());
            }
            return;
        }
        Path tree = checkedOut.get().path();
        List<String> inTheWay = UserTree.inTheWay(t.repo(), tree, old, merged);
        if (!inTheWay.isEmpty()) {
            log.info("[{}] merge of {} refused: {} is checked out with {} uncommitted file(s) in the way", t.botId(), t.branch(),
                    base, inTheWay.size());
            throw new FileConflictException(String.format("%s is checked out in %s with uncommitted changes; commit or "
                    + "stash them and merge again (nothing was changed)", base, tree), inTheWay);
        }
        Git.Result r = Git.at(tree).tryRun("merge", "--ff-only", "--quiet", "--no-autostash", merged);
        if (!r.ok()) {
            throw DeiaException.conflict("git refused to update %s checked out in %s; nothing was changed: %s", base, tree,
                    r.errorLine());
        }
    }

    /** The commit branch {@code branch} points at, if it exists. */
    static Optional<String> tip(Git repo, String branch) {
        return commitOf(repo, "refs/heads/" + branch);
    }

    /** The commit {@code ref} (a full ref name) points at, if it exists. */
    static Optional<String> commitOf(Git repo, String ref) {
        Git.Result r = repo.tryRun("rev-parse", "--verify", "--quiet", ref + "^{commit}");
        return r.ok() ? Optional.of(r.firstLine().strip()) : Optional.empty();
    }

    /** True when commit {@code a} is {@code b} or one of its ancestors. */
    static boolean isAncestor(Git repo, String a, String b) {
        Git.Result r = repo.tryRun("merge-base", "--is-ancestor", a, b);
        if (r.exitCode() > 1) {
            throw DeiaException.unprocessable("git merge-base failed: %s", r.errorLine());
        }
        return r.ok();
    }

    static String shortId(String commit) {
        return commit.substring(0, Math.min(10, commit.length()));
    }

    /** One task of one bot on its project; {@code branch} is {@code deia/<BOT-ID>/<TASK-ID>}. */
    record Target(Project project, Git repo, String botId, String taskId, String branch) {
    }

    /**
     * A merge done.
     *
     * @param merged        always true
     * @param base          the branch merged into
     * @param commit        {@code base}'s new tip (the task's tip after a fast-forward, else the merge commit)
     * @param fastForward   true when {@code base} was moved forward to the task's tip
     * @param alreadyMerged true when the task's work was on {@code base} already and nothing moved
     */
    public record Merged(boolean merged, String base, String commit, boolean fastForward, boolean alreadyMerged) {
    }

    /**
     * A discard done.
     *
     * @param discarded always true
     * @param branch    the branch deleted
     * @param keptAs    the ref its tip is kept under for 30 days
     * @param commit    the tip kept
     */
    public record Discarded(boolean discarded, String branch, String keptAs, String commit) {
    }

    /**
     * A restore done.
     *
     * @param restored always true
     * @param branch   the branch made again
     * @param commit   its tip
     */
    public record Restored(boolean restored, String branch, String commit) {
    }

    /**
     * A worktree removed.
     *
     * @param worktreeRemoved always true
     * @param botId           the bot
     * @param project         the project the worktree was of
     * @param branch          the branch it was on (kept), or null when it was on none
     */
    public record WorktreeRemoved(boolean worktreeRemoved, String botId, String project, String branch) {
    }
}
