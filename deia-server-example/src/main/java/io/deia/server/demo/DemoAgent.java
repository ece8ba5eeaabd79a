package io.deia.server.demo;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The offline agent behind the demo profile: a real program that a {@code command} agent runs once
 * per turn, so the demo works with no API key and no network. It reads the prompt on stdin and
 * answers line by line (each line streams to the dashboard as it is printed).
 *
 * <p>It understands one instruction, to show an agent doing work in its workspace:
 * {@code write NAME: TEXT} writes TEXT to the file NAME in the current folder (the bot's workspace).
 * Anything else gets a short analysis of the prompt. Its exit code is 0, or 1 for an empty prompt.
 */
public final class DemoAgent {
    private static final Pattern WRITE = Pattern.compile("(?is)^\\s*write\\s+([A-Za-z0-9][A-Za-z0-9._-]{0,63})\\s*:\\s*(.*)$");

    private DemoAgent() {
    }

    public static void main(String[] args) throws IOException, InterruptedException {
        String prompt = new String(System.in.readAllBytes(), StandardCharsets.UTF_8);
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        String bot = System.getenv().getOrDefault("DEIA_BOT_ID", "demo bot");
        System.exit(answer(prompt, bot, Path.of("").toAbsolutePath(), out));
    }

    /**
     * Answers one prompt.
     *
     * @param workspace where {@code write NAME: TEXT} puts its file
     * @return the exit code: 0, or 1 for an empty prompt (with the reason on stderr)
     */
    static int answer(String prompt, String bot, Path workspace, PrintStream out) throws IOException, InterruptedException {
        prompt = prompt.strip();
        if (prompt.isEmpty()) {
            System.err.println("empty prompt");
            return 1;
        }
        Matcher write = WRITE.matcher(prompt);
        if (write.matches()) {
            Path file = workspace.resolve(write.group(1));
            // Private like everything else in the hive (the workspace is inside it), whatever the umask.
            try (var ch = Files.newByteChannel(file, java.util.Set.of(java.nio.file.StandardOpenOption.CREATE,
                    java.nio.file.StandardOpenOption.WRITE, java.nio.file.StandardOpenOption.TRUNCATE_EXISTING,
                    java.nio.file.LinkOption.NOFOLLOW_LINKS), io.deia.core.internal.HiveGuard.fileAttributes())) {
                ch.write(java.nio.ByteBuffer.wrap((write.group(2) + "\n").getBytes(StandardCharsets.UTF_8)));
            }
            say(out, bot + " wrote " + Files.size(file) + " bytes to " + file + ".");
            return 0;
        }
        String[] words = prompt.split("\\s+");
        long lines = prompt.lines().count();
        say(out, "Hello from " + bot + ", the offline demo agent (no model, no network).");
        say(out, "You wrote " + words.length + (words.length == 1 ? " word" : " words") + " on " + lines
                + (lines == 1 ? " line" : " lines") + ".");
        say(out, "In capitals: " + prompt.toUpperCase(Locale.ROOT));
        say(out, "Try \"write notes.txt: some text\" to have me write a file in my workspace.");
        return 0;
    }

    /** One line of the answer, with a short pause so the reply visibly streams. */
    private static void say(PrintStream out, String line) throws InterruptedException {
        out.println(line);
        Thread.sleep(40);
    }
}
