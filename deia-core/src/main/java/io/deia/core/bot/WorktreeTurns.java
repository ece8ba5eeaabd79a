package io.deia.core.bot;

import io.deia.core.DeiaException;
import io.deia.core.agent.Agent;
import io.deia.core.agent.TurnResult;
import io.deia.core.agent.TurnStatus;
import io.deia.core.internal.io.LogSafe;
import io.deia.core.project.BotWorktree;
import io.deia.core.project.GitLock;
import io.deia.core.project.TaskChange;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.util.Optional;

/**
 * The git side of a project bot's turns ({@link Turns}): before a turn, the worktree lock, a
 * worktree that exists and, for a task, the task's branch; after it, deia's commit of whatever the
 * agent changed. A commit that fails loses nothing: the changes stay in the worktree and the next
 * turn's commit takes them. A task turn whose commit failed ends {@code failed} naming the failure
 * (an interrupted one stays interrupted); a chat turn keeps its reply and carries the failure in its error.
 */
final class WorktreeTurns {
    private static final Logger log = LoggerFactory.getLogger(WorktreeTurns.class);
    /** Longest commit subject taken from a prompt; git shows subjects on one line. */
    static final int MAX_SUBJECT_CHARS = 120;

    private final String botId;
    private final BotWorktree worktree;
    private final Agent agent;

    WorktreeTurns(String botId, BotWorktree worktree, Agent agent) {
        this.botId = botId;
        this.worktree = worktree;
        this.agent = agent;
    }

    /**
     * Takes the worktree lock (held until the caller closes it, after {@link #commit}), makes sure
     * the worktree exists and, for a task, puts it on the task's branch (the existing one when the
     * task is retried). A worktree made again (deleted by hand) is announced to the agent, whose
     * long-lived process would otherwise go on in the deleted folder.
     *
     * @param taskId the task of the turn, or null for a chat message
     * @throws DeiaException when git cannot prepare the worktree; the lock is released then
     */
    GitLock begin(String taskId) {
        boolean interrupted = Thread.interrupted();
        GitLock lock = worktree.lockTurn();
        try {
            boolean present = Files.exists(worktree.dir().resolve(".git"), LinkOption.NOFOLLOW_LINKS);
            worktree.ensure();
            if (!present) {
                agent.workspaceRecreated();
            }
            if (taskId != null) {
                worktree.startTask(taskId);
            }
            return lock;
        } catch (RuntimeException e) {
            lock.close();
            throw e;
        } finally {
            restore(interrupted);
        }
    }

    /**
     * Commits what the turn changed on the worktree's current branch: {@code <first line of the
     * prompt> (<TASK-ID>)} for a task, {@code chat: <first line>} for a chat message.
     *
     * @return {@code result}, or for a failed commit: a task turn {@code failed} (an interrupted one
     *         stays {@code interrupted}) with an error naming it, a chat turn with the failure added to its error
     */
    TurnResult commit(String prompt, String taskId, TurnResult result) {
        // A stop may have interrupted this thread during the turn: git must not be killed mid-commit
        // for that (it would leave its index lock behind), so the flag waits until the commit ends.
        boolean interrupted = Thread.interrupted();
        try {
            worktree.commitTurn(commitMessage(prompt, taskId));
            return result;
        } catch (RuntimeException e) {
            String why = "deia could not commit the turn's changes on " + branchName() + ": "
                    + LogSafe.printable(e.getMessage(), 2000)
                    + "; they stay in the worktree and the next turn's commit takes them";
            log.error("[{}] {} {}", botId, taskId == null ? "chat turn:" : "task " + taskId + ":", why);
            String error = result.error() == null ? why : result.error() + "; " + why;
            // An interrupted task stays interrupted: cut short by a stop, it is retried by the next
            // start, whose first commit takes these changes.
            TurnStatus status = taskId == null || result.status() == TurnStatus.INTERRUPTED ? result.status()
                    : TurnStatus.FAILED;
            return new TurnResult(status, result.text(), result.sessionId(), result.costUsd(), result.inputTokens(),
                    result.outputTokens(), result.durationMs(), result.exitCode(), error);
        } finally {
            restore(interrupted);
        }
    }

    /** What task {@code taskId} did to the project ({@link BotWorktree#changeOf}). */
    Optional<TaskChange> changeOf(String taskId) {
        return worktree.changeOf(taskId);
    }

    private String branchName() {
        try {
            String b = worktree.currentBranch();
            return b == null ? "a detached HEAD" : b;
        } catch (RuntimeException e) {
            return "the worktree " + worktree.dir();
        }
    }

    /** {@code <first line> (<TASK-ID>)} for a task, {@code chat: <first line>} for a chat message. */
    static String commitMessage(String prompt, String taskId) {
        String first = firstLine(prompt);
        if (taskId == null) {
            return "chat: " + (first.isEmpty() ? "(empty message)" : first);
        }
        return first.isEmpty() ? "task " + taskId : first + " (" + taskId + ")";
    }

    /** The first non-blank line, stripped and cut after {@link #MAX_SUBJECT_CHARS} characters (ending in …). */
    static String firstLine(String text) {
        String line = text == null ? "" : text.lines().map(String::strip).filter(l -> !l.isEmpty()).findFirst().orElse("");
        // Control characters escaped: a prompt must not put terminal escapes into the user's git log.
        return LogSafe.printable(line, MAX_SUBJECT_CHARS);
    }

    private static void restore(boolean interrupted) {
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }
}
