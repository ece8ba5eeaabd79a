package io.deia.core.task;

import io.deia.core.agent.AgentEventListener;
import io.deia.core.agent.TurnResult;
import io.deia.core.agent.TurnStatus;
import io.deia.core.internal.process.ProcessTrees;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Test executor: runs the task's prompt as a real {@code sh -c} script, with TASK_ID and ATTEMPT
 * in its environment; stdout is the output, a non-zero exit a failure, the timeout a TIMEOUT.
 */
final class ShellTaskExecutor implements TaskExecutor {
    private final Path scratch;
    private final Map<String, String> env;

    ShellTaskExecutor(Path scratch, Map<String, String> env) {
        this.scratch = scratch;
        this.env = env;
    }

    @Override
    public TurnResult execute(Task task, int attempt, Duration timeout, AgentEventListener events) {
        long t0 = System.nanoTime();
        Path out = null;
        Process p = null;
        try {
            Files.createDirectories(scratch);
            out = Files.createTempFile(scratch, "out", ".txt");
            ProcessBuilder pb = new ProcessBuilder("sh", "-c", task.prompt())
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                    .redirectOutput(out.toFile())
                    .redirectError(ProcessBuilder.Redirect.DISCARD);
            pb.environment().putAll(env);
            pb.environment().put("TASK_ID", task.taskId());
            pb.environment().put("ATTEMPT", Integer.toString(attempt));
            p = pb.start();
            boolean done = p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
            long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
            String text = Files.readString(out, StandardCharsets.UTF_8);
            if (!done) {
                ProcessTrees.kill(p.toHandle());
                return new TurnResult(TurnStatus.TIMEOUT, text, null, null, null, null, ms, null,
                        "no answer within " + timeout.toMillis() + " ms");
            }
            int exit = p.exitValue();
            if (exit != 0) {
                return new TurnResult(TurnStatus.FAILED, text, null, null, null, null, ms, exit, "exit code " + exit);
            }
            return new TurnResult(TurnStatus.COMPLETED, text, "sess-" + task.taskId(), 0.001, 10L, 5L, ms, 0, null);
        } catch (InterruptedException e) {
            if (p != null) {
                ProcessTrees.kill(p.toHandle());
            }
            return new TurnResult(TurnStatus.INTERRUPTED, "", null, null, null, null, 0, null, "interrupted");
        } catch (IOException e) {
            return TurnResult.failed(e.toString(), 0, null);
        } finally {
            if (out != null) {
                try {
                    Files.deleteIfExists(out);
                } catch (IOException ignored) {
                    // scratch file of a test
                }
            }
        }
    }
}
