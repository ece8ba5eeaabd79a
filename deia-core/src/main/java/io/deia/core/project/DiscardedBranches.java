package io.deia.core.project;

import io.deia.core.DeiaException;
import io.deia.core.HiveLayout;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Discarded task branches: the branch is deleted but its tip is kept under
 * {@code refs/deia/discarded/<BOT-ID>/<TASK-ID>} (with a reflog entry, whose time says when it was
 * discarded) so a discard can be undone for {@link #KEEP} days; older ones are pruned by each
 * following discard. When the bot's worktree is on the discarded branch it is moved to its chat branch
 * reset to {@code base}; chat commits not on {@code base} are kept the same way, as
 * {@code refs/deia/discarded/<BOT-ID>/chat}.
 */
final class DiscardedBranches {
    /** How long a discarded branch's tip is kept. */
    static final Duration KEEP = Duration.ofDays(30);
    private static final String PREFIX = "refs/deia/discarded/";
    private static final Logger log = LoggerFactory.getLogger(DiscardedBranches.class);
    private static final Pattern REFLOG_TIME = Pattern.compile("@\\{(\\d+)}$");

    private final HiveLayout hive;

    DiscardedBranches(HiveLayout hive) {
        this.hive = hive;
    }

    ProjectReview.Discarded discard(ProjectReview.Target t) {
        Git repo = t.repo();
        Path botTree = t.project().worktree(hive, t.botId());
        boolean onBranch = checkedOutIn(t).isPresent();
        // A turn holds the worktree lock; it is taken before the repository's, as the bot does.
        GitLock turn = onBranch ? GitLock.tryWorktree(hive, t.botId()).orElseThrow(() -> {
            log.info("[{}] discard of {} refused: a turn is running on it", t.botId(), t.branch());
            return DeiaException.conflict("bot %s is running a turn on %s; discard it when the turn has ended",
                    t.botId(), t.branch());
        }) : null;
        try (turn; GitLock ignored = GitLock.repository(hive, BotWorktree.commonDir(t.project()))) {
            Optional<Worktrees.Entry> tree = checkedOutIn(t);
            if (tree.isPresent() && turn == null) {
                throw DeiaException.conflict("bot %s has just started working on %s; try again", t.botId(), t.branch());
            }
            if (tree.isPresent()) {
                // Whatever a killed turn left uncommitted becomes part of what is kept.
                BotWorktree.of(hive, t.project(), t.botId()).commitTurn("deia: changes left before the branch was discarded");
            }
            String tip = ProjectReview.tip(repo, t.branch()).orElseThrow(() -> DeiaException.notFound(
                    "task %s of bot %s has no branch %s%s", t.taskId(), t.botId(), t.branch(),
                    isKept(t) ? " (it is discarded already)" : ""));
            String kept = keptRef(t);
            repo.run("update-ref", "--create-reflog", "-m", "deia: discarded " + t.branch(), kept, tip);
            if (tree.isPresent()) {
                switchToChat(t, botTree);
            }
            repo.run("update-ref", "-m", "deia: discarded", "-d", "refs/heads/" + t.branch(), tip);
            log.info("[{}] discarded {} (tip {} kept as {})", t.botId(), t.branch(), ProjectReview.shortId(tip), kept);
            prune(t);
            return new ProjectReview.Discarded(true, t.branch(), kept, tip);
        }
    }

    ProjectReview.Restored restore(ProjectReview.Target t) {
        Git repo = t.repo();
        try (GitLock ignored = GitLock.repository(hive, BotWorktree.commonDir(t.project()))) {
            String kept = keptRef(t);
            String tip = ProjectReview.commitOf(repo, kept).orElseThrow(() -> DeiaException.notFound(
                    "nothing of task %s of bot %s is kept: it was never discarded, or more than %d days ago",
                    t.taskId(), t.botId(), KEEP.toDays()));
            if (ProjectReview.tip(repo, t.branch()).isPresent()) {
                throw DeiaException.conflict("branch %s exists again; the discarded one was not restored", t.branch());
            }
            // An empty old value: created only if nobody made the branch in the meantime.
            repo.run("update-ref", "-m", "deia: restored", "refs/heads/" + t.branch(), tip, "");
            repo.run("update-ref", "-d", kept, tip);
            log.info("[{}] restored {} at {}", t.botId(), t.branch(), ProjectReview.shortId(tip));
            return new ProjectReview.Restored(true, t.branch(), tip);
        }
    }

    /** True when a discarded tip of the task's branch is kept. */
    boolean isKept(ProjectReview.Target t) {
        return ProjectReview.commitOf(t.repo(), keptRef(t)).isPresent();
    }

    /** {@code refs/deia/discarded/<BOT-ID>/<last part of the branch name>}: the task id ({@code chat-task} for "chat"). */
    private static String keptRef(ProjectReview.Target t) {
        return PREFIX + t.botId() + "/" + t.branch().substring(t.branch().lastIndexOf('/') + 1);
    }

    private Optional<Worktrees.Entry> checkedOutIn(ProjectReview.Target t) {
        Optional<Worktrees.Entry> tree = Worktrees.withBranch(t.repo(), t.branch());
        if (tree.isPresent() && !tree.get().isAt(t.project().worktree(hive, t.botId()))) {
            throw DeiaException.conflict("branch %s is checked out in %s; switch that work tree to another branch first",
                    t.branch(), tree.get().path());
        }
        return tree;
    }

    /** Puts the bot's worktree on {@code deia/<BOT-ID>/chat} at the tip of {@code base}. */
    private void switchToChat(ProjectReview.Target t, Path botTree) {
        Git repo = t.repo();
        String chat = BotWorktree.chatBranch(t.botId());
        String base = t.project().base();
        String baseTip = ProjectReview.tip(repo, base)
                .orElseThrow(() -> DeiaException.unprocessable("base branch '%s' no longer exists", base));
        Optional<String> chatTip = ProjectReview.tip(repo, chat);
        if (chatTip.isPresent() && !ProjectReview.isAncestor(repo, chatTip.get(), baseTip)) {
            String kept = PREFIX + t.botId() + "/chat";
            repo.run("update-ref", "--create-reflog", "-m", "deia: " + chat + " reset to " + base, kept, chatTip.get());
            log.warn("[{}] {} had commits that are not on {}: kept as {} before it was reset", t.botId(), chat, base, kept);
        }
        Git.at(botTree).run("switch", "--quiet", "--no-track", "-C", chat, baseTip);
        log.info("[{}] worktree switched to {} at {} {}", t.botId(), chat, base, ProjectReview.shortId(baseTip));
    }

    /** Deletes the kept tips discarded more than {@link #KEEP} ago. */
    private void prune(ProjectReview.Target t) {
        Git repo = t.repo();
        long cutoff = Instant.now().minus(KEEP).getEpochSecond();
        String refs = repo.run("for-each-ref", "--format=%(refname) %(committerdate:unix)", PREFIX);
        for (String line : refs.split("\n")) {
            int space = line.lastIndexOf(' ');
            if (space <= 0) {
                continue;
            }
            String ref = line.substring(0, space);
            long since = keptSince(repo, ref).orElse(Long.parseLong(line.substring(space + 1)));
            if (since < cutoff) {
                repo.run("update-ref", "-d", ref);
                log.info("[{}] pruned {}: discarded {}, more than {} days ago", t.botId(), ref, Instant.ofEpochSecond(since),
                        KEEP.toDays());
            }
        }
    }

    /** When {@code ref} was last set, from its reflog (the commit's own date is when the bot made it). */
    private static OptionalLong keptSince(Git repo, String ref) {
        Git.Result r = repo.tryRun("log", "-g", "-n1", "--format=%gd", "--date=unix", ref, "--");
        Matcher m = REFLOG_TIME.matcher(r.ok() ? r.firstLine().strip() : "");
        return m.find() ? OptionalLong.of(Long.parseLong(m.group(1))) : OptionalLong.empty();
    }
}
