package io.deia.core.agent;

import io.deia.core.HiveLayout;
import io.deia.core.config.Profile;
import io.deia.core.internal.BotIds;

import java.nio.file.Path;
import java.util.Map;
import java.util.Objects;

/**
 * Everything an agent needs to know about the bot it serves.
 *
 * @param botId     the bot's id (prefix of every log line)
 * @param profile   the bot's profile
 * @param hive      the hive layout (workspace, agent home, session files)
 * @param parentEnv the environment secrets are looked up in ({@link Profile#secretEnv()}); normally {@code System.getenv()}
 * @param worktree  the git worktree of the bot's project ({@code io.deia.core.project.BotWorktree#dir()}),
 *                  where the agent works instead of its private workspace; null for a bot without a project
 */
public record AgentContext(String botId, Profile profile, HiveLayout hive, Map<String, String> parentEnv, Path worktree) {
    public AgentContext {
        BotIds.requireValid(botId);
        Objects.requireNonNull(profile, "profile");
        Objects.requireNonNull(hive, "hive");
        parentEnv = parentEnv == null ? Map.of() : Map.copyOf(parentEnv);
        if (worktree != null && !worktree.isAbsolute()) {
            throw new IllegalArgumentException("worktree must be an absolute path, was " + worktree);
        }
        worktree = worktree == null ? null : worktree.normalize();
    }

    /** The context of a bot without a project: its agent works in {@code bots/<id>/workspace}. */
    public AgentContext(String botId, Profile profile, HiveLayout hive, Map<String, String> parentEnv) {
        this(botId, profile, hive, parentEnv, null);
    }

    /**
     * The agent's working folder: the project worktree when the bot has one, else
     * {@code bots/<id>/workspace}. CLIs that resume sessions find them by this folder.
     */
    public Path workspace() {
        return worktree != null ? worktree : hive.workspaceDir(botId);
    }

    /** The agent's HOME (and CLI config folder): {@code bots/<id>/home}. */
    public Path home() {
        return hive.agentHomeDir(botId);
    }
}
