package io.deia.core.agent;

import io.deia.core.DeiaException;
import io.deia.core.config.DeiaConfig;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The {@code command} agent: runs {@code profile.executable} with {@code profile.args} (no shell)
 * once per turn. The prompt goes to stdin (which is then closed) when {@code prompt_mode} is
 * {@code stdin} (the default), or replaces {@code {prompt}} inside the arguments when the profile
 * asks for {@code arg} and accepts that every user can read it in {@code ps}. Every
 * stdout line is streamed as a {@link AgentEvent.TextDelta}; the reply is all of stdout (kept up
 * to {@value #MAX_REPLY_CHARS} characters); exit code 0 completes the turn, anything else fails it
 * with the end of stderr as the reason.
 */
final class CommandAgent extends OneShotAgent {
    /** The reply kept in memory; the rest of a flood is read and dropped. */
    static final int MAX_REPLY_CHARS = 1024 * 1024;
    /** The longest stdout line kept; the rest of a longer one is dropped, and the cut marked. */
    static final int MAX_LINE_BYTES = 64 * 1024;

    /** Use {@link Agents#create}. */
    CommandAgent(AgentContext context) {
        super(context, "command", Map.of(), false);
        // Checked here too, for profiles built in code rather than read from a config file.
        if (!"arg".equals(context.profile().promptMode())
                && context.profile().args().stream().anyMatch(a -> a.contains(DeiaConfig.PROMPT_PLACEHOLDER))) {
            throw DeiaException.invalid("profile '%s': %s", context.profile().name(), DeiaConfig.PROMPT_IN_ARGV);
        }
    }

    @Override
    protected List<String> argv(TurnRequest request) {
        List<String> argv = new ArrayList<>();
        argv.add(executable);
        boolean inArgs = "arg".equals(context.profile().promptMode());
        for (String a : context.profile().args()) {
            argv.add(inArgs ? a.replace("{prompt}", request.prompt()) : a);
        }
        return argv;
    }

    @Override
    protected String stdinText(TurnRequest request) {
        return "arg".equals(context.profile().promptMode()) ? null : request.prompt();
    }

    @Override
    protected int maxLineBytes() {
        return MAX_LINE_BYTES;
    }

    @Override
    protected TurnOutput newTurnOutput(TurnRequest request, AgentEventListener listener) {
        return new TurnOutput() {
            private final BoundedText reply = new BoundedText(MAX_REPLY_CHARS);
            private boolean announcedTruncation;

            @Override
            public void onLine(String line, boolean newline, boolean truncated) {
                // A cut line says so where it was cut (the reader kept its first MAX_LINE_BYTES).
                String text = line + (truncated ? BoundedText.lineCutMark(MAX_LINE_BYTES) : "") + (newline ? "\n" : "");
                if (reply.append(text)) {
                    listener.onEvent(new AgentEvent.TextDelta(text));
                } else if (!announcedTruncation) {
                    announcedTruncation = true;
                    listener.onEvent(new AgentEvent.Error("output over " + MAX_REPLY_CHARS + " characters; the rest is dropped"));
                }
            }

            @Override
            public TurnResult finish(TurnEnd end) {
                return end.result(executable, true, null, reply.toString(), null, null, null);
            }
        };
    }
}
