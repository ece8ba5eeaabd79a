package io.deia.core.testkit;

import io.deia.core.permission.PendingPermission;
import io.deia.core.permission.PermissionAnswer;
import io.deia.core.permission.PermissionDecision;
import io.deia.core.permission.PermissionGate;
import io.deia.core.permission.ToolCall;

import java.time.Duration;
import java.time.Instant;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;

/**
 * A {@link PermissionGate} a test answers by hand: it records every request, answers none by itself
 * except after {@code timeout} (a deny by {@code timeout}, as the relay does) and on a withdraw
 * (ends {@code cancelled}). Answers are given from the test's thread, so an agent's reply to the CLI
 * is written from a thread other than its stdout reader, as with a person answering.
 */
public final class RecordingGate implements PermissionGate {
    /** One request the agent made. */
    public record Asked(ToolCall call, String requestId, CompletableFuture<PermissionAnswer> answer) {
        /** The answer, waiting for it up to 30 s. */
        public PermissionAnswer awaitAnswer() {
            return answer.orTimeout(30, TimeUnit.SECONDS).join();
        }
    }

    private final Duration timeout;
    private final List<Asked> asked = new CopyOnWriteArrayList<>();
    private final List<String> withdrawn = new CopyOnWriteArrayList<>();

    /** A gate whose requests are denied by {@code timeout} after {@code timeout}. */
    public RecordingGate(Duration timeout) {
        this.timeout = timeout;
    }

    @Override
    public PendingPermission ask(ToolCall call) {
        String id = "perm-" + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextLong());
        CompletableFuture<PermissionAnswer> answer = new CompletableFuture<>();
        CompletableFuture.delayedExecutor(timeout.toMillis(), TimeUnit.MILLISECONDS).execute(() -> answer.complete(
                new PermissionAnswer(PermissionDecision.DENY, "nobody answered within " + timeout.toSeconds() + " s",
                        PermissionAnswer.DecidedBy.TIMEOUT, Instant.now())));
        asked.add(new Asked(call, id, answer));
        return new PendingPermission(id, answer);
    }

    @Override
    public void withdraw(String requestId) {
        withdrawn.add(requestId);
        asked.stream().filter(a -> a.requestId().equals(requestId)).forEach(a -> a.answer().complete(
                new PermissionAnswer(PermissionDecision.DENY, null, PermissionAnswer.DecidedBy.CANCELLED, Instant.now())));
    }

    /** Answers request {@code a} as a person would. */
    public void answer(Asked a, PermissionDecision decision, String message) {
        a.answer().complete(new PermissionAnswer(decision, message, PermissionAnswer.DecidedBy.USER, Instant.now()));
    }

    /** The {@code n}-th request (from 1), waiting up to 30 s for it. */
    public Asked awaitAsked(int n) {
        await().atMost(30, TimeUnit.SECONDS).until(() -> asked.size() >= n);
        return asked.get(n - 1);
    }

    /** Every request so far. */
    public List<Asked> asked() {
        return List.copyOf(asked);
    }

    /** The ids the agent withdrew. */
    public List<String> withdrawn() {
        return List.copyOf(withdrawn);
    }
}
