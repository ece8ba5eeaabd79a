package io.deia.core.agent;

import io.deia.core.DeiaException;
import io.deia.core.config.Profile;
import io.deia.core.internal.io.AtomicFiles;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * The {@code gemini} agent: {@code gemini -o stream-json -m MODEL} per turn with the prompt on
 * stdin, which is then closed (without {@code -p} and with stdin not a terminal Gemini runs
 * headless on what stdin holds): never in argv, where every user could read it in {@code ps}. The first turn names a new session ({@code --session-id <uuid>}), later turns
 * {@code --resume <uuid>} (kept in {@code bots/<id>/agent-session.json}). The model defaults to
 * {@value #DEFAULT_MODEL} because Gemini's own default first consults a side model for a minute.
 * {@code GEMINI_CLI_NO_RELAUNCH=true} keeps it one process (which then obeys signals) and
 * {@code GEMINI_CLI_TRUST_WORKSPACE=true} skips the trust prompt; {@code HOME/.gemini/settings.json}
 * selects API-key auth and turns usage statistics and telemetry off. {@code permission_mode} is
 * passed as {@code --approval-mode}; the endpoint comes from {@code profile.env.GOOGLE_GEMINI_BASE_URL}
 * and the key from {@code GEMINI_API_KEY} (normally through {@code secret_env}).
 */
final class GeminiAgent extends OneShotAgent {
    static final String DEFAULT_MODEL = "gemini-2.5-flash";
    static final String SETTINGS = "{\"security\":{\"auth\":{\"selectedType\":\"gemini-api-key\"}},"
            + "\"privacy\":{\"usageStatisticsEnabled\":false},\"telemetry\":{\"enabled\":false}}\n";

    /** Whether the session in {@link #stats} exists yet (is resumed) or is named by the next turn. */
    private boolean sessionStarted;

    /** Use {@link Agents#create}. */
    GeminiAgent(AgentContext context) {
        super(context, "gemini", Map.of("GEMINI_CLI_NO_RELAUNCH", "true", "GEMINI_CLI_TRUST_WORKSPACE", "true"), true);
        sessionStarted = stats.sessionId() != null;
        if (!sessionStarted) {
            stats.session(UUID.randomUUID().toString());
        }
        Path settings = context.home().resolve(".gemini").resolve("settings.json");
        if (!Files.exists(settings)) {
            try {
                AtomicFiles.writeString(settings, SETTINGS);
            } catch (RuntimeException e) {
                throw DeiaException.internal("[" + botId + "] cannot write " + settings, e);
            }
        }
    }

    @Override
    protected List<String> argv(TurnRequest request) {
        Profile profile = context.profile();
        List<String> argv = new ArrayList<>(List.of(executable, "-o", "stream-json", "-m",
                profile.model() == null || profile.model().isBlank() ? DEFAULT_MODEL : profile.model()));
        if (profile.permissionMode() != null && !profile.permissionMode().isBlank()) {
            argv.add("--approval-mode");
            argv.add(profile.permissionMode());
        }
        argv.add(sessionStarted ? "--resume" : "--session-id");
        argv.add(stats.sessionId());
        argv.addAll(profile.args());
        return argv;
    }

    @Override
    protected void saveSession(String sessionId) {
        super.saveSession(sessionId);
        sessionStarted = true;
    }

    @Override
    protected TurnOutput newTurnOutput(TurnRequest request, AgentEventListener listener) {
        return TurnOutput.parsed(new GeminiStreamParser(botId), listener, maxLineBytes());
    }
}
