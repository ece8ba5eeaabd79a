package io.deia.core.task;

import io.deia.core.DeiaException;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The retry bookkeeping of kept responses: back-off, the degraded reason, and which errors are retried. */
class PendingResponsesTest {

    private static TaskOutcomes.Outcome item(long seq) {
        ClaimedTasks.Claim claim = new ClaimedTasks.Claim(Path.of("t" + seq + "~x.md"), seq, "x.md", "o/" + seq, 1, false);
        return TaskOutcomes.Outcome.answered(claim, Path.of("x.response.md"));
    }

    @Test
    void keptTasksAreDueAfterTheBackOffWhichDoublesAndTheReasonClearsWhenAllAreWritten() throws Exception {
        PendingResponses p = new PendingResponses("BOT-001");
        assertEquals(Long.MAX_VALUE, p.millisUntilRetry());
        assertNull(p.reason());
        TaskOutcomes.Outcome a = item(1);
        p.keep(a, "No space left on device");
        assertEquals(1, p.size());
        assertTrue(p.reason().contains("1 kept") && p.reason().contains("No space left on device"), p.reason());
        assertTrue(p.millisUntilRetry() <= PendingResponses.FIRST_RETRY_MS);
        assertEquals(List.of(), p.takeDue(false), "not due before the back-off");
        List<TaskOutcomes.Outcome> forced = p.takeDue(true);
        assertEquals(List.of(a), forced);
        // The retry fails again: kept, and the next wait is twice as long.
        p.keep(a, "No space left on device");
        p.roundDone(1);
        assertTrue(p.millisUntilRetry() > PendingResponses.FIRST_RETRY_MS, "backed off: " + p.millisUntilRetry());
        assertTrue(p.reason() != null);
        // The retry succeeds: nothing kept, not degraded any more.
        assertEquals(List.of(a), p.takeDue(true));
        p.roundDone(1);
        assertNull(p.reason());
        assertEquals(0, p.size());
    }

    @Test
    void onlyDiskTroubleIsRetried() {
        assertTrue(TaskOutcomes.isIoTrouble(DeiaException.io("cannot write", Path.of("x"), new IOException("No space left on device"))));
        assertTrue(TaskOutcomes.isIoTrouble(new java.io.UncheckedIOException(new IOException("Read-only file system"))));
        assertFalse(TaskOutcomes.isIoTrouble(DeiaException.invalid("task id '%s' is invalid", "..")));
        assertFalse(TaskOutcomes.isIoTrouble(new IllegalStateException("a bug")));
    }
}
