package io.deia.core.agent;

import io.deia.core.DeiaException;
import io.deia.core.config.Profile;
import io.deia.core.io.AtomicFiles;

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
public final class GeminiAgent extends OneShotAgent {
    static final String DEFAULT_MODEL = "gemini-2.5-flash";
    static final String SETTINGS = "{\"security\":{\"auth\":{\"selectedType\":\"gemini-api-key\"}},"
            + "\"privacy\":{\"usageStatisticsEnabled\":false},\"telemetry\":{\"enabled\":false}}\n";

    private final SessionStore sessions;
    private boolean sessionStarted;

    /** Use {@link Agents#create}. */
    GeminiAgent(AgentContext context) {
        super(context, Map.of("GEMINI_CLI_NO_RELAUNCH", "true", "GEMINI_CLI_TRUST_WORKSPACE", "true"));
        this.sessions = new SessionStore(context, type());
        String stored = sessions.load();
        sessionStarted = stored != null;
        stats.session(stored != null ? stored : UUID.randomUUID().toString());
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
    public String type() {
        return "gemini";
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

    /** The prompt, on stdin: argv is visible to every user in {@code ps}. */
    @Override
    protected String stdinText(TurnRequest request) {
        return request.prompt();
    }

    @Override
    protected void afterTurn(TurnResult result) {
        if (result.sessionId() != null) {
            sessionStarted = true;
            sessions.save(result.sessionId());
        }
    }

    @Override
    protected TurnOutput newTurnOutput(TurnRequest request, AgentEventListener listener) {
        GeminiStreamParser parser = new GeminiStreamParser(botId);
        return new TurnOutput() {
            private boolean dropped;

            @Override
            public void onLine(String line, boolean newline, boolean truncated) {
                if (!truncated) {
                    parser.parse(line).forEach(listener::onEvent);
                } else {
                    // Half a JSON event cannot be parsed; the reply says one was dropped.
                    dropped = true;
                }
            }

            @Override
            public TurnResult finish(TurnEnd end) {
                TurnStatus status;
                String error = null;
                if (end.forced() != null) {
                    status = end.forced();
                    error = end.reason("gemini");
                } else if ("success".equals(parser.status()) && Integer.valueOf(0).equals(end.exitCode())) {
                    status = TurnStatus.COMPLETED;
                } else {
                    status = TurnStatus.FAILED;
                    error = parser.error() != null ? parser.error() : end.reason("gemini");
                }
                String text = parser.text() + (dropped ? BoundedText.lineDroppedMark(maxLineBytes()) : "");
                return new TurnResult(status, text, parser.sessionId(), null, parser.inputTokens(),
                        parser.outputTokens(), end.durationMs(), end.exitCode(), error);
            }
        };
    }
}
