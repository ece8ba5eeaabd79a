package io.deia.core.bot;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** deia's commit messages, made from the turn's prompt. */
class WorktreeTurnsTest {
    @Test
    void aTaskCommitIsItsFirstLineAndIdAChatCommitSaysChat() {
        assertEquals("fix the login bug (T-7)", WorktreeTurns.commitMessage("\n\n   fix the login bug  \nand its test\n", "T-7"));
        assertEquals("chat: also fix the test", WorktreeTurns.commitMessage("also fix the test\nplease", null));
        assertEquals("task T-8", WorktreeTurns.commitMessage(" \n\t\n", "T-8"));
        assertEquals("chat: (empty message)", WorktreeTurns.commitMessage("", null));
        assertEquals("écris naïve.txt — 完了 (T-9)", WorktreeTurns.commitMessage("écris naïve.txt — 完了", "T-9"));
    }

    @Test
    void aLongOrHostileFirstLineIsCutAndEscaped() {
        String subject = WorktreeTurns.commitMessage("x".repeat(500), "T-1");
        assertEquals(WorktreeTurns.MAX_SUBJECT_CHARS + 1 + " (T-1)".length(), subject.length(), subject);
        assertTrue(subject.endsWith("… (T-1)"), subject);
        String escaped = WorktreeTurns.commitMessage("red \u001b[31mtext\u0007 here", null);
        assertEquals("chat: red \\u001b[31mtext\\u0007 here", escaped);
    }
}
