package io.deia.core.agent;

/**
 * What one turn of a per-turn process makes of the process's stdout: events while it runs, and
 * the {@link TurnResult} once it has exited.
 */
interface TurnOutput extends AgentProcess.LineSink {

    /**
     * Builds the turn's result after the process exited and all its output was read. A process
     * that was not forced to end and exited with a nonzero code gives a {@link TurnStatus#FAILED}
     * result: its retry may already be running (see {@link ImmediateRetry}).
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

        /** A one-line reason for a failed turn: the forced end, else the exit code and stderr's last line. */
        String reason(String program) {
            if (forced == TurnStatus.TIMEOUT) {
                return program + " did not finish in time and was stopped";
            }
            if (forced == TurnStatus.INTERRUPTED) {
                return program + " was interrupted";
            }
            String tail = stderrTail == null || stderrTail.isBlank() ? "" : ": " + lastLines(stderrTail, 5);
            return program + " exited with code " + exitCode + tail;
        }

        static String lastLines(String text, int n) {
            String[] lines = text.strip().split("\n");
            int from = Math.max(0, lines.length - n);
            return String.join("\n", java.util.Arrays.copyOfRange(lines, from, lines.length));
        }
    }
}
