package io.deia.core.agent;

import io.deia.core.config.Profile;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The {@code codex} agent: {@code codex exec --json … -} per turn with the prompt on stdin, which
 * is then closed (Codex reads it to EOF): never in argv, where every user could read it in
 * {@code ps}. Then {@code codex exec resume <thread_id> … -} for the next turns; the
 * thread id is kept in {@code bots/<id>/agent-session.json}. {@code CODEX_HOME} is
 * {@code bots/<id>/home/.codex}.
 *
 * <p>Endpoint: Codex ignores {@code OPENAI_BASE_URL}, so when {@code profile.env} has
 * {@code OPENAI_BASE_URL} it becomes a custom provider {@code deia} ({@code wire_api=responses},
 * key from the variable named by {@code profile.env.CODEX_ENV_KEY}, default {@code OPENAI_API_KEY}).
 * Retries are bounded ({@code request_max_retries}/{@code stream_max_retries} =
 * {@code profile.env.CODEX_MAX_RETRIES}, default 1; no unbounded connection retries).
 * {@code permission_mode} is passed as {@code --sandbox}.
 */
final class CodexAgent extends OneShotAgent {
    /** Use {@link Agents#create}. */
    CodexAgent(AgentContext context) {
        super(context, "codex", Map.of("CODEX_HOME", context.home().resolve(".codex").toAbsolutePath().toString()), true);
    }

    @Override
    protected List<String> argv(TurnRequest request) {
        try {
            java.nio.file.Files.createDirectories(context.home().resolve(".codex"), io.deia.core.internal.HiveGuard.folderAttributes());
        } catch (java.io.IOException e) {
            throw io.deia.core.DeiaException.io("cannot create", context.home().resolve(".codex"), e);
        }
        Profile profile = context.profile();
        List<String> argv = new ArrayList<>(List.of(executable, "exec"));
        String thread = stats.sessionId();
        if (thread != null) {
            argv.add("resume");
            argv.add(thread);
        }
        argv.addAll(List.of("--json", "--skip-git-repo-check", "-c", "analytics.enabled=false", "--disable", "plugins",
                "--disable", "unbounded_connection_retries"));
        if (profile.model() != null && !profile.model().isBlank()) {
            argv.add("-m");
            argv.add(profile.model());
        }
        String baseUrl = env.get("OPENAI_BASE_URL");
        String retries = env.getOrDefault("CODEX_MAX_RETRIES", "1");
        if (baseUrl != null && !baseUrl.isBlank()) {
            String keyVar = env.getOrDefault("CODEX_ENV_KEY", "OPENAI_API_KEY");
            argv.addAll(List.of("-c", "model_provider=deia",
                    "-c", "model_providers.deia.name=\"deia\"",
                    "-c", "model_providers.deia.base_url=\"" + baseUrl + "\"",
                    "-c", "model_providers.deia.env_key=\"" + keyVar + "\"",
                    "-c", "model_providers.deia.wire_api=\"responses\"",
                    "-c", "model_providers.deia.request_max_retries=" + retries,
                    "-c", "model_providers.deia.stream_max_retries=" + retries));
        } else {
            argv.addAll(List.of("-c", "model_providers.openai.request_max_retries=" + retries,
                    "-c", "model_providers.openai.stream_max_retries=" + retries));
        }
        if (profile.permissionMode() != null && !profile.permissionMode().isBlank() && thread == null) {
            argv.add("--sandbox");
            argv.add(profile.permissionMode());
        } else if (profile.permissionMode() != null && !profile.permissionMode().isBlank()) {
            argv.add("-c");
            argv.add("sandbox_mode=\"" + profile.permissionMode() + "\"");
        }
        argv.addAll(profile.args());
        // The prompt comes on stdin ("-"): argv is visible to every user in ps.
        argv.add("--");
        argv.add("-");
        return argv;
    }

    @Override
    protected TurnOutput newTurnOutput(TurnRequest request, AgentEventListener listener) {
        return TurnOutput.parsed(new CodexJsonParser(botId), listener, maxLineBytes());
    }
}
