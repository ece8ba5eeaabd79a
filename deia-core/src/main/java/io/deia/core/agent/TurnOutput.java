package io.deia.core.agent;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.ArrayList;
import java.util.List;

/**
 * What one turn of a per-turn process makes of the process's stdout: events while it runs, and
 * the {@link TurnResult} once it has exited.
 */
interface TurnOutput extends AgentProcess.LineSink {

    /**
     * Builds the turn's result after the process exited and all its output was read.
     *
     * @param end how the process ended
     */
    TurnResult finish(TurnEnd end);

    /**
     * Reads one turn of a CLI that prints one JSON event per line ({@code gemini}),
     * keeping what the CLI reported: its session, its error and its token counts.
     */
    abstract class Parser {
        private final String botId;
        /** The CLI's name, in logs and reasons. */
        final String cli;
        protected String sessionId;
        protected String error;
        protected Long inputTokens;
        protected Long outputTokens;

        Parser(String botId, String cli) {
            this.botId = botId;
            this.cli = cli;
        }

        /** The events in one line; none for a blank or malformed line, or one that carries nothing for the bot. */
        final List<AgentEvent> parse(String line) {
            List<AgentEvent> events = new ArrayList<>(2);
            JsonNode node = StreamLines.object(botId, cli, line);
            if (node != null) {
                event(node.path("type").asText(""), node, events);
            }
            return events;
        }

        /** Reads one JSON event of {@code type}, adding what it means for the bot to {@code events}. */
        abstract void event(String type, JsonNode node, List<AgentEvent> events);

        /** Whether the CLI reported the turn as successful. */
        abstract boolean succeeded();

        /** The reply. */
        abstract String text();

        /** The CLI's session (thread) id, or null. */
        String sessionId() {
            return sessionId;
        }

        /** Why the turn failed, when the CLI said so; else null. */
        String error() {
            return error;
        }

        /** Reads the token counts of a usage object (null where a count is missing). */
        void tokens(JsonNode usage) {
            inputTokens = usage.hasNonNull("input_tokens") ? usage.path("input_tokens").asLong() : null;
            outputTokens = usage.hasNonNull("output_tokens") ? usage.path("output_tokens").asLong() : null;
        }
    }

    /**
     * The output of a CLI read by {@code parser}, its events passed to {@code listener}. A line cut
     * at {@code maxLineBytes} is half a JSON event and cannot be parsed: the reply says one was dropped.
     */
    static TurnOutput parsed(Parser parser, AgentEventListener listener, int maxLineBytes) {
        return new TurnOutput() {
            private boolean dropped;

            @Override
            public void onLine(String line, boolean newline, boolean truncated) {
                if (truncated) {
                    dropped = true;
                } else {
                    parser.parse(line).forEach(listener::onEvent);
                }
            }

            @Override
            public TurnResult finish(TurnEnd end) {
                String text = parser.text() + (dropped ? BoundedText.lineDroppedMark(maxLineBytes) : "");
                return end.result(parser.cli, parser.succeeded(), parser.error(), text, parser.sessionId(),
                        parser.inputTokens, parser.outputTokens);
            }
        };
    }

    /**
     * How a turn's process ended.
     *
     * @param exitCode   the exit code, or null when it could not be collected
     * @param forced     {@link TurnStatus#TIMEOUT} or {@link TurnStatus#INTERRUPTED} when deia ended it, else null
     * @param stderrTail the last part of stderr
     * @param durationMs wall time of the turn
     */
    record TurnEnd(Integer exitCode, TurnStatus forced, String stderrTail, long durationMs) {

        /**
         * The turn's result, with the status every agent maps the same way: the forced end when deia
         * ended the process; else completed when the CLI reported success and exited with 0; else
         * failed, with the CLI's own error or, without one, {@link #reason}.
         */
        TurnResult result(String program, boolean succeeded, String cliError, String text, String sessionId,
                          Long inputTokens, Long outputTokens) {
            TurnStatus status = forced != null ? forced
                    : succeeded && Integer.valueOf(0).equals(exitCode) ? TurnStatus.COMPLETED : TurnStatus.FAILED;
            String error = status == TurnStatus.COMPLETED ? null : forced == null && cliError != null ? cliError : reason(program);
            return new TurnResult(status, text, sessionId, null, inputTokens, outputTokens, durationMs, exitCode, error);
        }

        /** A one-line reason for a failed turn: the forced end, else the exit code and stderr's last lines. */
        String reason(String program) {
            if (forced != null) {
                return forcedReason(program, forced);
            }
            String tail = stderrTail == null || stderrTail.isBlank() ? "" : ": " + lastLines(stderrTail, 5);
            return program + " exited with code " + exitCode + tail;
        }

        /** Why a turn that deia ended ({@code TIMEOUT} or {@code INTERRUPTED}) did not complete. */
        static String forcedReason(String program, TurnStatus forced) {
            return forced == TurnStatus.TIMEOUT ? program + " did not finish in time and was stopped" : program + " was interrupted";
        }

        static String lastLines(String text, int n) {
            String[] lines = text.strip().split("\n");
            int from = Math.max(0, lines.length - n);
            return String.join("\n", java.util.Arrays.copyOfRange(lines, from, lines.length));
        }
    }
}
