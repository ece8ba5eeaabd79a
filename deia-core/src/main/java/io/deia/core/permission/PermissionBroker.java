package io.deia.core.permission;

import io.deia.core.DeiaException;
import io.deia.core.internal.io.Json;
import io.deia.core.internal.io.LogSafe;
import io.deia.core.permission.PermissionAnswer.DecidedBy;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.security.SecureRandom;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Pattern;

/**
 * A bot's {@link PermissionGate}: applies the profile's rules to every tool call its agent asks
 * about, keeps what they cannot decide waiting for a person, and ends each request exactly once.
 *
 * <p>In order: a call whose subject or input matches one of the profile's {@code deny_patterns} is
 * denied, then the {@link ApprovalPolicy}'s {@code deny} and {@code allow} rules decide, then an
 * {@code allow_session} answer given earlier in the same agent session allows an identical call (same
 * tool, same subject); all of these are decided {@code by} {@code policy}. Anything else waits until
 * a person {@linkplain #answer answers}, the agent {@linkplain #withdraw withdraws} it, its turn
 * {@linkplain #endTurn ends} (cancelled) or {@code approval.timeout_s} passes (denied {@code by}
 * {@code timeout}: nothing runs unless someone said so).
 *
 * <p>Every request is told to the {@link PermissionListener} twice, asked then resolved, in that
 * order even when a person answers from another thread at the same moment. Nothing is persisted: a
 * bot that restarts has no pending request, and its interrupted turn is retried by the task rules.
 *
 * <p>Thread-safe. The answer of a request completes exactly once; of two people answering at the
 * same time one gets the answer recorded, the other {@code CONFLICT}.
 */
public final class PermissionBroker implements PermissionGate, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(PermissionBroker.class);

    /** The largest {@link PermissionRequest#input()} shown, in UTF-8 bytes; longer input is cut. */
    public static final int MAX_INPUT_BYTES = 16 * 1024;
    /** The longest {@link PermissionRequest#summary()}, in characters. */
    public static final int MAX_SUMMARY_CHARS = 2000;
    /** The longest message a person may give with an answer, in characters. */
    public static final int MAX_MESSAGE_CHARS = 4000;
    /** What a request id looks like. */
    public static final Pattern REQUEST_ID = Pattern.compile("^perm-[0-9a-f]{24}$");
    /** How many ended requests are remembered, so that a late answer gets {@code CONFLICT} rather than {@code NOT_FOUND}. */
    private static final int ENDED_REMEMBERED = 1000;
    private static final SecureRandom RANDOM = new SecureRandom();

    private final String botId;
    private final ApprovalPolicy policy;
    private final List<Pattern> denyPatterns;
    private final PermissionListener listener;
    private final ScheduledExecutorService scheduler;
    private final Map<String, Waiting> pending = new ConcurrentHashMap<>();
    private final Map<String, PermissionAnswer> ended = new LinkedHashMap<>(64, 0.75f, false) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, PermissionAnswer> eldest) {
            return size() > ENDED_REMEMBERED;
        }
    };
    /** Calls a person allowed for the session when the CLI does not remember them itself. */
    private final Set<SessionRule> sessionRules = ConcurrentHashMap.newKeySet();
    private volatile String turnTaskId;
    /** The agent session the session rules belong to; null until a turn reported one. */
    private String sessionId;
    private boolean closed;

    /**
     * A broker for one bot.
     *
     * @param botId        the bot (log lines, messages)
     * @param policy       the profile's {@code approval}
     * @param denyPatterns the profile's {@code deny_patterns} (regular expressions, found anywhere in the call)
     * @param listener     told about every request asked and ended
     * @param scheduler    runs the timeouts; owned by the caller
     */
    public PermissionBroker(String botId, ApprovalPolicy policy, List<String> denyPatterns, PermissionListener listener,
                            ScheduledExecutorService scheduler) {
        this.botId = Objects.requireNonNull(botId, "botId");
        this.policy = Objects.requireNonNull(policy, "policy");
        this.denyPatterns = Objects.requireNonNull(denyPatterns, "denyPatterns").stream().map(Pattern::compile).toList();
        this.listener = Objects.requireNonNull(listener, "listener");
        this.scheduler = Objects.requireNonNull(scheduler, "scheduler");
    }

    /** True when {@code id} has the form of a request id ({@code perm-} and 24 hex digits). */
    public static boolean isRequestId(String id) {
        return id != null && REQUEST_ID.matcher(id).matches();
    }

    /** The policy this broker applies. */
    public ApprovalPolicy policy() {
        return policy;
    }

    /** A turn starts: its requests carry {@code taskId} (null for a chat turn). */
    public void beginTurn(String taskId) {
        turnTaskId = taskId;
    }

    /**
     * The turn ended (completed, failed, interrupted, timed out): every request still waiting is
     * cancelled, since no CLI waits for it any more. {@code sessionIdAfter} is the agent session the turn
     * ended in (null when unknown): the session rules are forgotten when it is not the one they
     * were given in.
     */
    public void endTurn(String sessionIdAfter) {
        turnTaskId = null;
        cancelAll("the turn ended before anyone answered");
        synchronized (this) {
            if (sessionIdAfter != null && sessionId != null && !sessionIdAfter.equals(sessionId) && !sessionRules.isEmpty()) {
                log.info("[{}] agent session changed: {} allow_session rule(s) forgotten", botId, sessionRules.size());
                sessionRules.clear();
            }
            if (sessionIdAfter != null) {
                sessionId = sessionIdAfter;
            }
        }
    }

    @Override
    public PendingPermission ask(ToolCall call) {
        Objects.requireNonNull(call, "call");
        Instant now = Instant.now();
        String id = "perm-" + HexFormat.of().formatHex(randomBytes());
        PermissionRequest request = ToolCallViews.request(id, turnTaskId, call, now, policy.timeout());
        Waiting w = new Waiting(request, call);
        Optional<PermissionAnswer> decided;
        // Held until the request is told: an answer from another thread waits here, so listeners
        // always see the request before its end.
        synchronized (w) {
            synchronized (this) {
                decided = closed ? Optional.of(new PermissionAnswer(PermissionDecision.DENY,
                        "the bot is stopping", DecidedBy.CANCELLED, now)) : decide(call, now);
                if (decided.isEmpty()) {
                    pending.put(id, w);
                }
            }
            log.info("[{}] permission {} asked{}: {} {}{}", botId, id, request.taskId() == null ? " (chat)" : " (task " + request.taskId() + ")",
                    call.tool(), LogSafe.printable(request.summary(), 200),
                    decided.isEmpty() ? "; waits for a person until " + Json.formatInstant(request.expiresAt()) : "");
            tell(() -> listener.requested(request));
        }
        if (decided.isPresent()) {
            finish(w, decided.get());
        } else {
            try {
                w.timer = scheduler.schedule(() -> finish(w, new PermissionAnswer(PermissionDecision.DENY,
                        "nobody answered this permission request within " + policy.timeoutS() + " s, so it is denied",
                        DecidedBy.TIMEOUT, Instant.now())), policy.timeout().toMillis(), TimeUnit.MILLISECONDS);
            } catch (RejectedExecutionException e) {
                finish(w, new PermissionAnswer(PermissionDecision.DENY, "the bot is stopping", DecidedBy.CANCELLED, Instant.now()));
            }
            if (w.outcome.get() != null && w.timer != null) {
                w.timer.cancel(false);
            }
        }
        return new PendingPermission(id, w.answer);
    }

    @Override
    public void withdraw(String requestId) {
        Waiting w = requestId == null ? null : pending.get(requestId);
        if (w != null) {
            finish(w, new PermissionAnswer(PermissionDecision.DENY, "the agent withdrew the request",
                    DecidedBy.CANCELLED, Instant.now()));
        }
    }

    /**
     * A person's answer to request {@code requestId}. The first answer wins; the agent gets it at once.
     *
     * @param message what the agent is told (a deny's reason); optional
     * @return the answer recorded
     * @throws DeiaException {@code NOT_FOUND} for an unknown request, {@code CONFLICT} when it has
     *                       ended already (answered, timed out, cancelled), {@code INVALID_ARGUMENT}
     *                       for a message over {@link #MAX_MESSAGE_CHARS}
     */
    public PermissionAnswer answer(String requestId, PermissionDecision decision, String message) {
        Objects.requireNonNull(decision, "decision");
        if (message != null && message.length() > MAX_MESSAGE_CHARS) {
            throw DeiaException.invalid("field 'message' is longer than %d characters", MAX_MESSAGE_CHARS);
        }
        String text = message == null || message.isBlank() ? null : message;
        if (text == null && decision == PermissionDecision.DENY) {
            text = "denied by a person";
        }
        Waiting w = isRequestId(requestId) ? pending.get(requestId) : null;
        if (w == null) {
            PermissionAnswer earlier = endedAnswer(requestId);
            if (earlier == null) {
                throw DeiaException.notFound("no permission request %s on bot %s", LogSafe.printable(requestId, 80), botId);
            }
            throw alreadyEnded(requestId, earlier);
        }
        PermissionAnswer answer = new PermissionAnswer(decision, text, DecidedBy.USER, Instant.now());
        if (!finish(w, answer)) {
            throw alreadyEnded(requestId, w.outcome.get());
        }
        return answer;
    }

    /** The requests waiting for a person, oldest first. */
    public List<PermissionRequest> pending() {
        List<PermissionRequest> out = new ArrayList<>();
        pending.values().forEach(w -> out.add(w.request));
        out.sort(Comparator.comparing(PermissionRequest::createdAt).thenComparing(PermissionRequest::requestId));
        return out;
    }

    /** True while any request waits for a person. */
    public boolean waiting() {
        return !pending.isEmpty();
    }

    /** Cancels every waiting request; later requests are cancelled at once. Idempotent. */
    @Override
    public void close() {
        synchronized (this) {
            closed = true;
        }
        cancelAll("the bot is stopping");
    }

    // ---------------------------------------------------------------- decisions

    private Optional<PermissionAnswer> decide(ToolCall call, Instant now) {
        List<String> texts = ToolCallViews.texts(call);
        for (Pattern p : denyPatterns) {
            if (texts.stream().anyMatch(t -> p.matcher(t).find())) {
                return Optional.of(new PermissionAnswer(PermissionDecision.DENY, "denied: the " + call.tool()
                        + " call matches the deny pattern '" + p.pattern() + "' of the bot's profile", DecidedBy.POLICY, now));
            }
        }
        Optional<PermissionDecision> ruled = policy.decide(call);
        if (ruled.isPresent()) {
            boolean allowed = ruled.get().allows();
            return Optional.of(new PermissionAnswer(ruled.get(), allowed ? null : "denied by the profile's approval.deny rules",
                    DecidedBy.POLICY, now));
        }
        if (sessionRules.contains(new SessionRule(call.tool(), call.subject()))) {
            return Optional.of(new PermissionAnswer(PermissionDecision.ALLOW, "allowed for this session earlier",
                    DecidedBy.POLICY, now));
        }
        return Optional.empty();
    }

    /** Ends {@code w} with {@code answer} unless it has ended; true when this call ended it. */
    private boolean finish(Waiting w, PermissionAnswer answer) {
        if (!w.outcome.compareAndSet(null, answer)) {
            return false;
        }
        String id = w.request.requestId();
        // Recorded as ended before it leaves the pending map: a concurrent answer finds one or the other.
        synchronized (ended) {
            ended.put(id, answer);
        }
        pending.remove(id);
        // Completed once it is no longer pending: whoever learns the answer sees the bot's new state.
        w.answer.complete(answer);
        ScheduledFuture<?> timer = w.timer;
        if (timer != null) {
            timer.cancel(false);
        }
        if (answer.decision() == PermissionDecision.ALLOW_SESSION) {
            sessionRules.add(new SessionRule(w.call.tool(), w.call.subject()));
        }
        log.info("[{}] permission {}: {} by {}{}", botId, id, answer.decision().id(), answer.by().id(),
                answer.message() == null ? "" : " (" + LogSafe.printable(answer.message(), 200) + ")");
        synchronized (w) {
            tell(() -> listener.resolved(w.request, answer));
        }
        return true;
    }

    private void cancelAll(String why) {
        for (Waiting w : List.copyOf(pending.values())) {
            finish(w, new PermissionAnswer(PermissionDecision.DENY, why, DecidedBy.CANCELLED, Instant.now()));
        }
    }

    private PermissionAnswer endedAnswer(String requestId) {
        synchronized (ended) {
            return ended.get(requestId);
        }
    }

    private DeiaException alreadyEnded(String requestId, PermissionAnswer earlier) {
        return DeiaException.conflict("permission request %s was already resolved: %s by %s at %s", requestId,
                earlier.decision().id(), earlier.by().id(), Json.formatInstant(earlier.at()));
    }

    private void tell(Runnable r) {
        try {
            r.run();
        } catch (RuntimeException e) {
            log.warn("[{}] a permission listener failed: {}", botId, e.toString());
        }
    }

    private static byte[] randomBytes() {
        byte[] b = new byte[12];
        RANDOM.nextBytes(b);
        return b;
    }

    /** One request's state while it waits. */
    private static final class Waiting {
        final PermissionRequest request;
        final ToolCall call;
        final CompletableFuture<PermissionAnswer> answer = new CompletableFuture<>();
        /** Set exactly once, by whoever ends the request first. */
        final AtomicReference<PermissionAnswer> outcome = new AtomicReference<>();
        volatile ScheduledFuture<?> timer;

        Waiting(PermissionRequest request, ToolCall call) {
            this.request = request;
            this.call = call;
        }
    }

    /** A call allowed for the session: the same tool with the same subject. */
    private record SessionRule(String tool, String subject) {
    }
}
