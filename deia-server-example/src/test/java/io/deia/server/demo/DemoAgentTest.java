package io.deia.server.demo;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DemoAgentTest {
    @TempDir
    Path workspace;

    private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    private final PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);

    @Test
    void analysesThePromptLineByLine() throws Exception {
        assertEquals(0, DemoAgent.answer("  two words\nand a line  ", "BOT-9", workspace, out));
        String reply = bytes.toString(StandardCharsets.UTF_8);
        assertTrue(reply.startsWith("Hello from BOT-9, the offline demo agent"), reply);
        assertTrue(reply.contains("You wrote 5 words on 2 lines."), reply);
        assertTrue(reply.contains("In capitals: TWO WORDS\nAND A LINE"), reply);
    }

    @Test
    void writesAFileInItsWorkspaceWhenAsked() throws Exception {
        assertEquals(0, DemoAgent.answer("write notes.txt: remember the milk", "BOT-9", workspace, out));
        assertEquals("remember the milk\n", Files.readString(workspace.resolve("notes.txt"), StandardCharsets.UTF_8));
        assertTrue(bytes.toString(StandardCharsets.UTF_8).contains("BOT-9 wrote 18 bytes to"));
    }

    @Test
    void aNameThatWouldLeaveTheWorkspaceIsJustText() throws Exception {
        assertEquals(0, DemoAgent.answer("write ../escape.txt: nope", "BOT-9", workspace, out));
        assertFalse(Files.exists(workspace.resolveSibling("escape.txt")));
        assertTrue(bytes.toString(StandardCharsets.UTF_8).contains("In capitals: WRITE ../ESCAPE.TXT: NOPE"));
    }

    @Test
    void anEmptyPromptFails() throws Exception {
        assertEquals(1, DemoAgent.answer(" \n ", "BOT-9", workspace, out));
        assertEquals("", bytes.toString(StandardCharsets.UTF_8));
    }
}
