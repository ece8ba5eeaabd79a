package io.deia.core.project;

import io.deia.core.DeiaException;
import io.deia.core.HiveLayout;
import io.deia.core.internal.BotIds;
import io.deia.core.internal.io.AtomicFiles;
import io.deia.core.internal.io.Json;
import io.deia.core.task.TaskIds;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One bot's git worktree of a {@link Project}: where its agent works, on branch
 * {@code deia/<BOT-ID>/chat} or on the branch of its current task, {@code deia/<BOT-ID>/<TASK-ID>}.
 *
 * <p>The bot calls {@link #ensure()} before every turn (a worktree the user deleted by hand is made
 * again from the branch it was on), {@link #startTask} before a task's first turn, and
 * {@link #commitTurn} after every turn: whatever the agent changed becomes a commit by
 * {@code deia <BOT-ID>} on the current branch, so nothing is ever left uncommitted. Git commands
 * that change the repository's shared state run under the repository's {@link GitLock}.
 *
 * <p>Which project and branch the bot is on is kept in {@code bots/<BOT-ID>/project.json}, so the
 * controller finds the worktree of a stopped bot and a worktree deleted by hand comes back on its branch.
 */
public final class BotWorktree {
    private static final Logger log = LoggerFactory.getLogger(BotWorktree.class);
    private static final Pattern SHORTSTAT = Pattern.compile(
            "(\\d+) files? changed(?:, (\\d+) insertions?\\(\\+\\))?(?:, (\\d+) deletions?\\(-\\))?");

    private final HiveLayout hive;
    private final Project project;
    private final String botId;
    private final Path dir;
    private final Git repo;
    /** Base commits of tasks started by this runner (a restarted runner uses the merge base). */
    private final Map<String, String> baseCommits = new ConcurrentHashMap<>();
    private volatile Path commonDir;

    private BotWorktree(HiveLayout hive, Project project, String botId) {
        this.hive = hive;
        this.project = project;
        this.botId = BotIds.requireValid(botId);
        this.dir = project.worktree(hive, botId);
        this.repo = Git.at(project.path());
    }

    /** The worktree of {@code botId} on {@code project}; nothing is created before {@link #ensure()}. */
    public static BotWorktree of(HiveLayout hive, Project project, String botId) {
        return new BotWorktree(hive, project, botId);
    }

    /** The bot's own branch, for chat outside any task: {@code deia/<BOT-ID>/chat}. */
    public static String chatBranch(String botId) {
        return "deia/" + botId + "/chat";
    }

    /**
     * The branch of one task: {@code deia/<BOT-ID>/<TASK-ID>}; a task whose id is {@code chat} gets
     * {@code chat-task}, so it never meets the chat branch.
     *
     * @throws DeiaException {@code INVALID_ARGUMENT} for a task id that is invalid or cannot be part of a ref name
     */
    public static String taskBranch(String botId, String taskId) {
        // A task id git cannot hold in a ref name is refused here, naming the id, not by git later.
        if (!TaskIds.isValid(taskId) || taskId.contains("..") || taskId.endsWith(".") || taskId.endsWith(".lock")) {
            throw DeiaException.invalid("task id '%s' cannot name a git branch; expected %s, without '..' and not ending"
                    + " in '.' or '.lock'", taskId, TaskIds.PATTERN);
        }
        return "deia/" + botId + "/" + ("chat".equals(taskId) ? "chat-task" : taskId);
    }

    /** The worktree folder: {@code <worktree_root>/<project>/<BOT-ID>}. */
    public Path dir() {
        return dir;
    }

    /** The project this worktree belongs to. */
    public Project project() {
        return project;
    }

    /** Waits until no other thread or process works in this worktree; held for a whole turn. */
    public GitLock lockTurn() {
        return GitLock.worktree(hive, botId);
    }

    /**
     * Makes sure the worktree exists and is usable: creates it (branch {@code deia/<BOT-ID>/chat}
     * from {@code base}, or the branch it was on when it was deleted by hand), copies the project's
     * {@code copy_files} into a new one, keeps the hive out of git's untracked files, and removes
     * lock files a killed git left behind. Cheap when the worktree is there.
     *
     * @throws DeiaException {@code UNPROCESSABLE} when git refuses, naming the command and its error
     */
    public void ensure() {
        if (Files.isDirectory(dir.resolve(".git"), LinkOption.NOFOLLOW_LINKS) || Files.isRegularFile(dir.resolve(".git"), LinkOption.NOFOLLOW_LINKS)) {
            recoverStaleLocks();
            return;
        }
        try (GitLock ignored = GitLock.repository(hive, commonDir())) {
            repo.run("worktree", "prune");
            String branch = binding(hive, botId).filter(b -> project.name().equals(b.project())).map(Binding::branch)
                    .orElse(chatBranch(botId));
            if (!branchExists(branch)) {
                branch = chatBranch(botId);
            }
            Files.createDirectories(dir.getParent());
            if (branchExists(branch)) {
                repo.run("worktree", "add", "--quiet", dir.toString(), branch);
            } else {
                repo.run("worktree", "add", "--quiet", "-b", branch, dir.toString(), "refs/heads/" + project.base());
            }
            log.info("[{}] worktree of project {} created at {} on {}", botId, project.name(), dir, branch);
            WorktreeSetup.of(hive, project, botId, dir, commonDir()).run();
            writeBinding(branch);
        } catch (IOException e) {
            throw DeiaException.io("cannot create the worktree", dir, e);
        }
    }

    /**
     * Puts the worktree on the task's branch: made from the current tip of {@code base}, or the
     * existing branch when the task is being retried. Changes left uncommitted by a turn that was
     * killed are committed first, on the branch they were made on.
     *
     * @return the branch name
     */
    public String startTask(String taskId) {
        String branch = taskBranch(botId, taskId);
        ensure();
        commitTurn("deia: changes left by an interrupted turn");
        try (GitLock ignored = GitLock.repository(hive, commonDir())) {
            Git wt = Git.at(dir);
            // One git for both refs: a task start is a handful of git processes, each a fork and exec.
            Map<String, String> tips = new HashMap<>();
            repo.run("for-each-ref", "--format=%(refname) %(objectname)", "refs/heads/" + project.base(),
                    "refs/heads/" + branch).lines().map(l -> l.split(" ", 2)).filter(f -> f.length == 2)
                    .forEach(f -> tips.put(f[0], f[1]));
            if (tips.containsKey("refs/heads/" + branch)) {
                wt.run("switch", "--quiet", branch);
                baseCommits.computeIfAbsent(taskId, t -> mergeBase(branch));
            } else {
                String baseTip = tips.get("refs/heads/" + project.base());
                if (baseTip == null) {
                    throw DeiaException.unprocessable("project %s: base branch '%s' no longer exists", project.name(),
                            project.base());
                }
                wt.run("switch", "--quiet", "--no-track", "-c", branch, baseTip);
                baseCommits.put(taskId, baseTip);
            }
            writeBinding(branch);
        }
        log.info("[{}] task {} on branch {} from {} {}", botId, taskId, branch, project.base(),
                shortId(baseCommits.get(taskId)));
        return branch;
    }

    /**
     * Commits everything changed in the worktree ({@code git add -A}) on the current branch, as
     * {@code deia <BOT-ID>}, with {@code message}. No change, no commit.
     *
     * @return the new commit's id, or empty when nothing changed
     */
    public Optional<String> commitTurn(String message) {
        Git wt = Git.at(dir).withEnv(Map.of(
                "GIT_AUTHOR_NAME", "deia " + botId, "GIT_AUTHOR_EMAIL", botId + "@deia.invalid",
                "GIT_COMMITTER_NAME", "deia " + botId, "GIT_COMMITTER_EMAIL", botId + "@deia.invalid"));
        // Most calls find nothing changed; a status, outside the repository lock, says so in one git.
        // --untracked-files is explicit: a user's status.showUntrackedFiles=no would hide new files.
        Git.Result status = wt.tryRun("status", "--porcelain", "-z", "--untracked-files=normal");
        if (status.ok() && status.stdout().length == 0) {
            return Optional.empty();
        }
        try (GitLock ignored = GitLock.repository(hive, commonDir())) {
            wt.run("add", "-A");
            if (wt.tryRun("diff", "--cached", "--quiet").ok()) {
                return Optional.empty();
            }
            wt.run("commit", "--quiet", "--no-verify", "-m", message);
            List<String> head = wt.run("rev-parse", "HEAD", "--abbrev-ref", "HEAD").lines().toList();
            String commit = head.get(0).strip();
            log.info("[{}] committed {} on {}: {}", botId, shortId(commit), head.size() > 1 ? head.get(1) : "?",
                    firstLine(message));
            return Optional.of(commit);
        }
    }

    /**
     * What task {@code taskId} did: its branch, the base it started from, its tip when that differs
     * from the base, and the size of the change.
     *
     * @return empty when the task has no branch (it never started on this project)
     */
    public Optional<TaskChange> changeOf(String taskId) {
        String branch = taskBranch(botId, taskId);
        if (!branchExists(branch)) {
            return Optional.empty();
        }
        String tip = repo.run("rev-parse", "refs/heads/" + branch).strip();
        String base = baseCommits.computeIfAbsent(taskId, t -> mergeBase(branch));
        if (tip.equals(base)) {
            return Optional.of(new TaskChange(project.name(), branch, base, null, 0, 0, 0));
        }
        Matcher m = SHORTSTAT.matcher(repo.run("diff", "--shortstat", base, tip));
        boolean any = m.find();
        return Optional.of(new TaskChange(project.name(), branch, base, tip, any ? Integer.parseInt(m.group(1)) : 0,
                any && m.group(2) != null ? Integer.parseInt(m.group(2)) : 0,
                any && m.group(3) != null ? Integer.parseInt(m.group(3)) : 0));
    }

    /** The branch the worktree is on, or null when it is on no branch. */
    public String currentBranch() {
        Git.Result r = Git.at(dir).tryRun("symbolic-ref", "--quiet", "--short", "HEAD");
        return r.ok() ? r.firstLine() : null;
    }

    /** The repository's common git folder (absolute), which names its lock. */
    public Path commonDir() {
        Path c = commonDir;
        if (c == null) {
            c = commonDir(project);
            commonDir = c;
        }
        return c;
    }

    /** The common git folder of {@code project}'s repository ({@code git rev-parse --git-common-dir}). */
    public static Path commonDir(Project project) {
        return Path.of(Git.at(project.path()).run("rev-parse", "--path-format=absolute", "--git-common-dir").strip());
    }

    private boolean branchExists(String branch) {
        return repo.tryRun("show-ref", "--verify", "--quiet", "refs/heads/" + branch).ok();
    }

    private String mergeBase(String branch) {
        Git.Result r = repo.tryRun("merge-base", "refs/heads/" + project.base(), "refs/heads/" + branch);
        return r.ok() ? r.firstLine() : repo.run("rev-parse", "refs/heads/" + branch).strip();
    }

    /**
     * A git killed in the middle of a command (the runner was killed -9) leaves its lock files, and
     * every later command in the worktree fails on them. The caller holds the worktree lock, so no
     * deia git runs in this worktree; the repository lock keeps other bots' ref updates out.
     */
    private void recoverStaleLocks() {
        Path own = ownGitDir();
        if (own == null) {
            return;
        }
        try (GitLock ignored = GitLock.repository(hive, commonDir())) {
            List<Path> stale = new ArrayList<>(List.of(own.resolve("index.lock"), own.resolve("HEAD.lock")));
            Path refs = commonDir().resolve("refs/heads/deia").resolve(botId);
            if (Files.isDirectory(refs, LinkOption.NOFOLLOW_LINKS)) {
                try (var s = Files.walk(refs)) {
                    s.filter(p -> p.getFileName().toString().endsWith(".lock")).forEach(stale::add);
                }
            }
            for (Path lock : stale) {
                if (Files.deleteIfExists(lock)) {
                    log.warn("[{}] removed {} left by a git that was killed", botId, lock);
                }
            }
        } catch (IOException e) {
            throw DeiaException.io("cannot remove a stale git lock", own, e);
        }
    }

    /**
     * The worktree's own git folder ({@code <common>/worktrees/<name>}, where its index and HEAD are),
     * read from its {@code .git} file as git itself does, without starting a git; null when it has none.
     */
    private Path ownGitDir() {
        Path dotGit = dir.resolve(".git");
        if (Files.isDirectory(dotGit, LinkOption.NOFOLLOW_LINKS)) {
            return dotGit;
        }
        try {
            String text = Files.readString(dotGit, StandardCharsets.UTF_8).strip();
            if (text.startsWith("gitdir:")) {
                return dir.resolve(text.substring("gitdir:".length()).strip()).normalize();
            }
        } catch (IOException e) {
            // unreadable: asked from git below
        }
        Git.Result r = Git.at(dir).tryRun("rev-parse", "--path-format=absolute", "--git-dir");
        return r.ok() ? Path.of(r.firstLine().strip()) : null;
    }

    private void writeBinding(String branch) {
        AtomicFiles.writeString(bindingFile(hive, botId),
                Json.writePretty(new Binding(project.name(), dir.toString(), branch)));
    }

    private static Path bindingFile(HiveLayout hive, String botId) {
        return hive.botDir(botId).resolve("project.json");
    }

    /**
     * The project a bot last worked on, from {@code bots/<BOT-ID>/project.json}.
     *
     * @return empty when the bot never ran on a project
     */
    public static Optional<Binding> binding(HiveLayout hive, String botId) {
        Path file = bindingFile(hive, botId);
        if (!Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS)) {
            return Optional.empty();
        }
        return Optional.of(Json.read(AtomicFiles.readString(file), Binding.class, file.toString()));
    }

    /**
     * Which project, worktree and branch a bot is on ({@code bots/<BOT-ID>/project.json}).
     *
     * @param project  the project's name
     * @param worktree the worktree folder
     * @param branch   the branch the worktree was last put on
     */
    public record Binding(String project, String worktree, String branch) {
    }

    private static String shortId(String commit) {
        return commit == null ? "-" : commit.substring(0, Math.min(10, commit.length()));
    }

    private static String firstLine(String message) {
        int nl = message.indexOf('\n');
        return nl < 0 ? message : message.substring(0, nl);
    }
}
