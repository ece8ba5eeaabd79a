package io.deia.core.permission;

import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;
import io.deia.core.permission.PermissionAnswer.DecidedBy;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The broker with real threads, a real scheduler and a listener that records what it is told. */
class PermissionBrokerTest {
    private final ScheduledExecutorService scheduler = Executors.newSingleThreadScheduledExecutor();
    /** "asked id" and "ended id decision by", in the order the listener heard them. */
    private final List<String> heard = new CopyOnWriteArrayList<>();
    private final List<PermissionRequest> asked = new CopyOnWriteArrayList<>();

    private final PermissionListener recorder = new PermissionListener() {
        @Override
        public void requested(PermissionRequest request) {
            asked.add(request);
            heard.add("asked " + request.requestId());
        }

        @Override
        public void resolved(PermissionRequest request, PermissionAnswer answer) {
            heard.add("ended " + request.requestId() + " " + answer.decision().id() + " " + answer.by().id());
        }
    };

    @AfterEach
    void stopScheduler() {
        scheduler.shutdownNow();
    }

    private PermissionBroker broker(int timeoutS, List<String> allow, List<String> deny, List<String> denyPatterns) {
        return new PermissionBroker("BOT-007", new ApprovalPolicy("ask", timeoutS, allow, deny), denyPatterns, recorder, scheduler);
    }

    private static ToolCall bash(String command) {
        return new ToolCall("Bash", command, Map.of("command", command), List.of("Bash(" + command + ")"));
    }

    private static PermissionAnswer now(PendingPermission p) {
        assertTrue(p.answer().isDone(), "decided at once: " + p.requestId());
        return p.answer().join();
    }

    @Test
    void policyRulesDecideAtOnceAndStillTellBothEvents() {
        PermissionBroker broker = broker(900, List.of("Read", "Bash(git status*)"), List.of("Bash(rm -rf*)"), List.of());
        PendingPermission read = broker.ask(new ToolCall("Read", "/srv/a.txt", Map.of("file_path", "/srv/a.txt"), null));
        PendingPermission status = broker.ask(bash("git status --short"));
        PendingPermission rm = broker.ask(bash("rm -rf /srv"));
        assertEquals(PermissionDecision.ALLOW, now(read).decision());
        assertEquals(DecidedBy.POLICY, now(read).by());
        assertEquals(PermissionDecision.ALLOW, now(status).decision());
        assertEquals(PermissionDecision.DENY, now(rm).decision());
        assertEquals(DecidedBy.POLICY, now(rm).by());
        assertTrue(now(rm).message().contains("approval.deny"), now(rm).message());
        assertEquals(List.of("asked " + read.requestId(), "ended " + read.requestId() + " allow policy",
                "asked " + status.requestId(), "ended " + status.requestId() + " allow policy",
                "asked " + rm.requestId(), "ended " + rm.requestId() + " deny policy"), heard);
        assertTrue(broker.pending().isEmpty());
        assertFalse(broker.waiting());
        assertTrue(PermissionBroker.isRequestId(read.requestId()), read.requestId());
        // A policy decision is final: a person answering it later gets a conflict.
        assertEquals(ErrorCode.CONFLICT, assertThrows(DeiaException.class,
                () -> broker.answer(rm.requestId(), PermissionDecision.ALLOW, null)).code());
    }

    @Test
    void denyPatternsApplyToTheShellCommandAndToTheInput() {
        PermissionBroker broker = broker(900, List.of("Bash"), List.of(), List.of("(?i)\\bsudo\\b"));
        PermissionAnswer bySubject = now(broker.ask(bash("SUDO apt-get install x")));
        assertEquals(PermissionDecision.DENY, bySubject.decision(), "deny_patterns win over an allow rule");
        assertEquals(DecidedBy.POLICY, bySubject.by());
        assertTrue(bySubject.message().contains("deny pattern '(?i)\\bsudo\\b'"), bySubject.message());
        PermissionAnswer byInput = now(broker.ask(new ToolCall("Write", "/srv/x.sh",
                Map.of("file_path", "/srv/x.sh", "content", "#!/bin/sh\nsudo reboot\n"), null)));
        assertEquals(PermissionDecision.DENY, byInput.decision());
        assertEquals(PermissionDecision.ALLOW, now(broker.ask(bash("ls -la"))).decision(), "the pattern does not match");
    }

    @Test
    void aPendingRequestIsListedAndAPersonAnswersIt() {
        PermissionBroker broker = broker(900, List.of(), List.of(), List.of());
        broker.beginTurn("T-42");
        PendingPermission p = broker.ask(bash("make deploy"));
        assertFalse(p.answer().isDone());
        assertTrue(broker.waiting());
        PermissionRequest listed = broker.pending().get(0);
        assertEquals(p.requestId(), listed.requestId());
        assertEquals("T-42", listed.taskId());
        assertEquals("Bash", listed.tool());
        assertEquals("make deploy", listed.summary());
        assertEquals("{\"command\":\"make deploy\"}", listed.input());
        assertNull(listed.inputTruncated());
        assertEquals(List.of("Bash(make deploy)"), listed.suggestions());
        assertEquals(Duration.ofSeconds(900), Duration.between(listed.createdAt(), listed.expiresAt()));

        PermissionAnswer answer = broker.answer(p.requestId(), PermissionDecision.DENY, null);
        assertEquals(answer, p.answer().join());
        assertEquals(DecidedBy.USER, answer.by());
        assertEquals("denied by a person", answer.message(), "the agent is always told why");
        assertFalse(broker.waiting());
        assertEquals(List.of("asked " + p.requestId(), "ended " + p.requestId() + " deny user"), heard);
        DeiaException twice = assertThrows(DeiaException.class, () -> broker.answer(p.requestId(), PermissionDecision.ALLOW, null));
        assertEquals(ErrorCode.CONFLICT, twice.code());
        assertTrue(twice.getMessage().contains("deny by user"), twice.getMessage());
        assertEquals(ErrorCode.NOT_FOUND, assertThrows(DeiaException.class,
                () -> broker.answer("perm-000000000000000000000000", PermissionDecision.ALLOW, null)).code());
        assertEquals(ErrorCode.NOT_FOUND, assertThrows(DeiaException.class,
                () -> broker.answer("../status", PermissionDecision.ALLOW, null)).code());
    }

    @Test
    void largeInputIsCutForDisplayButTheWholeOfItIsChecked() {
        PermissionBroker broker = broker(900, List.of(), List.of(), List.of("SECRET-TAIL"));
        String big = "é".repeat(20_000);
        PendingPermission p = broker.ask(new ToolCall("Write", "/srv/big.txt", Map.of("content", big), null));
        PermissionRequest shown = asked.get(0);
        assertTrue(shown.input().getBytes(java.nio.charset.StandardCharsets.UTF_8).length <= PermissionBroker.MAX_INPUT_BYTES);
        assertEquals(Boolean.TRUE, shown.inputTruncated());
        assertFalse(p.answer().isDone());
        PermissionAnswer tail = now(broker.ask(new ToolCall("Write", "/srv/big.txt", Map.of("content", big + "SECRET-TAIL"), null)));
        assertEquals(PermissionDecision.DENY, tail.decision(), "a pattern past the display limit still denies");
    }

    @Test
    void nobodyAnsweringInTimeDenies() throws Exception {
        PermissionBroker broker = broker(1, List.of(), List.of(), List.of());
        PendingPermission p = broker.ask(bash("terraform apply"));
        PermissionAnswer answer = p.answer().get(10, TimeUnit.SECONDS);
        assertEquals(PermissionDecision.DENY, answer.decision());
        assertEquals(DecidedBy.TIMEOUT, answer.by());
        assertTrue(answer.message().contains("nobody answered"), answer.message());
        assertFalse(broker.waiting());
        assertEquals(ErrorCode.CONFLICT, assertThrows(DeiaException.class,
                () -> broker.answer(p.requestId(), PermissionDecision.ALLOW, null)).code(), "a late allow changes nothing");
    }

    @Test
    void allowSessionIsRememberedForTheSessionOnly() {
        PermissionBroker broker = broker(900, List.of(), List.of(), List.of());
        broker.beginTurn(null);
        PendingPermission first = broker.ask(bash("npm test"));
        broker.answer(first.requestId(), PermissionDecision.ALLOW_SESSION, null);
        assertEquals(PermissionDecision.ALLOW_SESSION, first.answer().join().decision());
        PermissionAnswer again = now(broker.ask(bash("npm test")));
        assertEquals(PermissionDecision.ALLOW, again.decision());
        assertEquals(DecidedBy.POLICY, again.by());
        assertFalse(broker.ask(bash("npm publish")).answer().isDone(), "another command is asked");
        broker.endTurn("session-1");
        broker.beginTurn(null);
        assertTrue(broker.ask(bash("npm test")).answer().isDone(), "same session, next turn: still remembered");
        broker.endTurn("session-2");
        assertFalse(broker.ask(bash("npm test")).answer().isDone(), "a new agent session asks again");
    }

    @Test
    void withdrawAndTheEndOfTheTurnCancel() {
        PermissionBroker broker = broker(900, List.of(), List.of(), List.of());
        broker.beginTurn("T-1");
        PendingPermission withdrawn = broker.ask(bash("a"));
        PendingPermission left1 = broker.ask(bash("b"));
        PendingPermission left2 = broker.ask(new ToolCall("Edit", "/srv/f", Map.of(), null));
        broker.withdraw(withdrawn.requestId());
        assertEquals(DecidedBy.CANCELLED, withdrawn.answer().join().by());
        assertEquals(PermissionDecision.DENY, withdrawn.answer().join().decision());
        broker.withdraw("perm-ffffffffffffffffffffffff");
        assertEquals(2, broker.pending().size());
        broker.endTurn(null);
        for (PendingPermission p : List.of(left1, left2)) {
            assertEquals(DecidedBy.CANCELLED, p.answer().join().by());
            assertTrue(p.answer().join().message().contains("turn ended"), p.answer().join().message());
        }
        assertFalse(broker.waiting());
        broker.close();
        PermissionAnswer afterClose = now(broker.ask(bash("c")));
        assertEquals(DecidedBy.CANCELLED, afterClose.by());
        assertTrue(heard.stream().filter(h -> h.startsWith("ended")).allMatch(h -> h.endsWith("deny cancelled")), heard.toString());
    }

    @Test
    void twoPeopleAnsweringAtOnceGetOneAnswerAndOneConflictEveryTime() throws Exception {
        PermissionBroker broker = broker(900, List.of(), List.of(), List.of());
        ExecutorService people = Executors.newFixedThreadPool(4);
        AtomicInteger wins = new AtomicInteger();
        AtomicInteger conflicts = new AtomicInteger();
        int rounds = 300;
        try {
            for (int i = 0; i < rounds; i++) {
                PendingPermission p = broker.ask(bash("echo " + i));
                CountDownLatch go = new CountDownLatch(1);
                List<Future<?>> both = new ArrayList<>();
                for (PermissionDecision d : List.of(PermissionDecision.ALLOW, PermissionDecision.DENY)) {
                    both.add(people.submit(() -> {
                        go.await();
                        try {
                            broker.answer(p.requestId(), d, null);
                            wins.incrementAndGet();
                        } catch (DeiaException e) {
                            assertEquals(ErrorCode.CONFLICT, e.code(), e.getMessage());
                            conflicts.incrementAndGet();
                        }
                        return null;
                    }));
                }
                if (i % 3 == 0) {
                    // A third party: the agent withdrawing at the same moment.
                    both.add(people.submit(() -> {
                        go.await();
                        broker.withdraw(p.requestId());
                        return null;
                    }));
                }
                go.countDown();
                for (Future<?> f : both) {
                    f.get(10, TimeUnit.SECONDS);
                }
                assertTrue(p.answer().isDone());
            }
        } finally {
            people.shutdownNow();
        }
        assertEquals(rounds * 2, wins.get() + conflicts.get());
        assertTrue(wins.get() <= rounds && wins.get() >= rounds - rounds / 3 - 1, "wins " + wins);
        assertTrue(conflicts.get() >= rounds, "every round has at least one loser: " + conflicts);
        // Each request was told asked once, then ended once.
        List<String> snapshot = List.copyOf(heard);
        for (PermissionRequest r : asked) {
            List<String> mine = snapshot.stream().filter(h -> h.contains(r.requestId())).toList();
            assertEquals(2, mine.size(), mine.toString());
            assertEquals("asked " + r.requestId(), mine.get(0));
            assertTrue(mine.get(1).startsWith("ended " + r.requestId()), mine.toString());
        }
        assertFalse(broker.waiting());
    }
}
