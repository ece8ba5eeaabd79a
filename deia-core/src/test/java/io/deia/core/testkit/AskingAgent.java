package io.deia.core.testkit;

import io.deia.core.agent.Agent;
import io.deia.core.agent.AgentEvent;
import io.deia.core.agent.AgentEventListener;
import io.deia.core.agent.AgentHealth;
import io.deia.core.agent.TurnRequest;
import io.deia.core.agent.TurnResult;
import io.deia.core.agent.TurnStatus;
import io.deia.core.permission.PendingPermission;
import io.deia.core.permission.PermissionAnswer;
import io.deia.core.permission.PermissionGate;
import io.deia.core.permission.ToolCall;

import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * An agent of the tests that behaves as a CLI does in {@code ask} mode: a prompt {@code ask TOOL
 * SUBJECT} (e.g. {@code ask Bash git push}) asks the turn's {@link PermissionGate} about that call
 * and waits for the answer; the reply says {@code ran: SUBJECT} or {@code denied: MESSAGE}. Any
 * other prompt is answered at once ({@code said: PROMPT}); a turn without a gate replies
 * {@code no gate}. {@link #interrupt()} ends a waiting turn as interrupted, as a CLI's interrupt
 * does, leaving its request to the bot to cancel.
 */
public final class AskingAgent implements Agent {
    private final String sessionId;
    /** Every turn's request, in order. */
    public final List<TurnRequest> turns = new CopyOnWriteArrayList<>();
    private volatile CompletableFuture<Void> interruption;

    /** An agent whose session is {@code sessionId}. */
    public AskingAgent(String sessionId) {
        this.sessionId = sessionId;
    }

    @Override
    public String type() {
        return "asking";
    }

    @Override
    public TurnResult runTurn(TurnRequest request, AgentEventListener listener) {
        turns.add(request);
        CompletableFuture<Void> stop = new CompletableFuture<>();
        interruption = stop;
        long t0 = System.nanoTime();
        try {
            String prompt = request.prompt();
            if (!prompt.startsWith("ask ")) {
                return end(listener, TurnStatus.COMPLETED, "said: " + prompt, t0, null);
            }
            PermissionGate gate = request.permissions();
            if (gate == null) {
                return end(listener, TurnStatus.COMPLETED, "no gate", t0, null);
            }
            String[] parts = prompt.split(" ", 3);
            String subject = parts.length > 2 ? parts[2] : "";
            PendingPermission pending = gate.ask(new ToolCall(parts[1], subject, Map.of("command", subject),
                    List.of(parts[1] + "(" + subject + ")")));
            CompletableFuture.anyOf(pending.answer(), stop).get(request.timeout().toMillis(), TimeUnit.MILLISECONDS);
            if (!pending.answer().isDone()) {
                return end(listener, TurnStatus.INTERRUPTED, "", t0, "interrupted while asking " + pending.requestId());
            }
            PermissionAnswer answer = pending.answer().join();
            return end(listener, TurnStatus.COMPLETED, answer.decision().allows() ? "ran: " + subject
                    : "denied: " + answer.message(), t0, null);
        } catch (TimeoutException e) {
            return end(listener, TurnStatus.TIMEOUT, "", t0, "turn timed out");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return end(listener, TurnStatus.INTERRUPTED, "", t0, "thread interrupted");
        } catch (ExecutionException e) {
            return end(listener, TurnStatus.FAILED, "", t0, e.toString());
        } finally {
            interruption = null;
        }
    }

    private TurnResult end(AgentEventListener listener, TurnStatus status, String text, long t0, String error) {
        TurnResult result = new TurnResult(status, text, sessionId, null, null, null,
                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0), null, error);
        listener.onEvent(new AgentEvent.Result(result));
        return result;
    }

    @Override
    public boolean interrupt() {
        CompletableFuture<Void> stop = interruption;
        return stop != null && stop.complete(null);
    }

    @Override
    public AgentHealth health() {
        return new AgentHealth(type(), null, 0, null, sessionId, 0, 0, 0);
    }

    @Override
    public void close() {
        interrupt();
    }
}
