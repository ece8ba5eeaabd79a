package io.deia.core.agent;

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
