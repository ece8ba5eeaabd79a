package io.deia.core.agent;

import io.deia.core.DeiaException;
import io.deia.core.config.Profile;
import io.deia.core.internal.HiveGuard;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.Map;

/** Creates the agent a profile asks for, and checks up front that its executable exists. */
public final class Agents {
    private Agents() {
    }

    /**
     * The agent for {@code context.profile().agent()}. Starts no process yet (the first turn does).
     *
     * @throws DeiaException (unprocessable) when the executable is missing or a secret variable is not set
     */
    public static Agent create(AgentContext context) {
        Profile profile = context.profile();
        resolveExecutable(profile, context.parentEnv());
        // The agent keeps its CLI config (and, without a project, works) inside the hive: real folders
        // of ours (0700), so a link planted at either cannot send the agent's writes elsewhere. A
        // project's worktree is the user's repository's, made by git and checked by BotWorktree.
        if (context.worktree() == null) {
            HiveGuard.dir(context.hive(), context.workspace());
        } else if (!Files.isDirectory(context.worktree(), LinkOption.NOFOLLOW_LINKS)) {
            throw DeiaException.unprocessable("bot %s: its worktree %s does not exist", context.botId(), context.worktree());
        }
        HiveGuard.dir(context.hive(), context.home());
        return switch (profile.agent()) {
            case COMMAND -> new CommandAgent(context);
            case CLAUDE_CODE -> new ClaudeCodeAgent(context);
            case CODEX -> new CodexAgent(context);
            case GEMINI -> new GeminiAgent(context);
        };
    }

    /**
     * Fails when the profile's executable cannot be run: not found on {@code PATH}, or not
     * executable. Called when a bot is launched, so the user sees the reason at once.
     *
     * @throws DeiaException (unprocessable) naming the executable and the profile
     */
    public static void checkExecutable(Profile profile) {
        resolveExecutable(profile, System.getenv());
    }

    /** The absolute path of the profile's executable, looked up on {@code env}'s PATH when it has no slash. */
    static String resolveExecutable(Profile profile, Map<String, String> env) {
        String exe = profile.executable();
        if (exe == null || exe.isBlank()) {
            throw DeiaException.unprocessable("profile %s: agent %s needs an executable", profile.name(), profile.agent().id());
        }
        if (exe.contains("/")) {
            Path p = Path.of(exe).toAbsolutePath();
            if (Files.isRegularFile(p) && Files.isExecutable(p)) {
                return p.toString();
            }
            throw DeiaException.unprocessable("profile %s: executable %s %s", profile.name(), exe,
                    Files.exists(p) ? "is not executable" : "does not exist");
        }
        String path = env.getOrDefault("PATH", System.getenv("PATH"));
        if (path != null) {
            for (String dir : path.split(File.pathSeparator)) {
                if (dir.isEmpty()) {
                    continue;
                }
                Path candidate = Path.of(dir, exe);
                if (Files.isRegularFile(candidate) && Files.isExecutable(candidate)) {
                    return candidate.toAbsolutePath().toString();
                }
            }
        }
        throw DeiaException.unprocessable("profile %s: executable %s not found on PATH", profile.name(), exe);
    }
}
