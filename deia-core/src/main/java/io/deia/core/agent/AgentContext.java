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
 */
public record AgentContext(String botId, Profile profile, HiveLayout hive, Map<String, String> parentEnv) {
    public AgentContext {
        BotIds.requireValid(botId);
        Objects.requireNonNull(profile, "profile");
        Objects.requireNonNull(hive, "hive");
        parentEnv = parentEnv == null ? Map.of() : Map.copyOf(parentEnv);
    }

    /** The agent's working folder: {@code bots/<id>/workspace}. */
    public Path workspace() {
        return hive.workspaceDir(botId);
    }

    /** The agent's HOME (and CLI config folder): {@code bots/<id>/home}. */
    public Path home() {
        return hive.agentHomeDir(botId);
    }
}
