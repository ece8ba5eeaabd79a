package io.deia.server;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MainTest {
    @TempDir
    Path dir;

    private record Run(int code, String out, String err) {
    }

    private static Run run(String... args) {
        CommandLine cli = Main.commandLine();
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        cli.setOut(new PrintWriter(out));
        cli.setErr(new PrintWriter(err));
        int code = cli.execute(args);
        return new Run(code, out.toString(), err.toString());
    }

    private static void assertOneLine(Run r) {
        assertEquals(1, r.err.strip().lines().count(), "one line on stderr: " + r.err);
    }

    @Test
    void helpListsEveryCommandAndEachCommandHasHelp() {
        Run main = run("--help");
        assertEquals(0, main.code);
        assertTrue(main.out.contains("Usage: deia-server.jar"), main.out);
        for (Class<?> command : Main.COMMANDS) {
            String name = command.getAnnotation(CommandLine.Command.class).name();
            assertTrue(main.out.contains(name), name + " listed: " + main.out);
            Run sub = run(name, "--help");
            assertEquals(0, sub.code, name);
            assertTrue(sub.out.contains("Usage: deia-server.jar " + name), sub.out);
            Class<?>[] leaves = command.getAnnotation(CommandLine.Command.class).subcommands();
            if (leaves.length == 0) {
                assertTrue(sub.out.contains("--hive"), sub.out);
            }
            for (Class<?> leaf : leaves) {
                // A command group (task) takes --hive on its subcommands (task submit).
                String leafName = leaf.getAnnotation(CommandLine.Command.class).name();
                Run leafHelp = run(name, leafName, "--help");
                assertEquals(0, leafHelp.code, name + " " + leafName);
                assertTrue(leafHelp.out.contains("--hive"), leafHelp.out);
            }
        }
        assertTrue(run("bot", "--help").out.contains("--id"));
    }

    @Test
    void versionNamesTheBuild() {
        Run r = run("--version");
        assertEquals(0, r.code);
        assertTrue(r.out.startsWith("deia "), r.out);
        assertTrue(!r.out.contains("${"), r.out);
    }

    @Test
    void badUsageExitsTwoWithOneLine() {
        for (String[] args : new String[][]{{}, {"no-such-command"}, {"bot"}, {"bot", "--id", "BOT-1"},
                {"bot", "--id", "BOT-1", "--port", "notanumber"}, {"bot", "--id", "../escape", "--port", "8101"},
                {"bot", "--id", "BOT-1", "--port", "70000"}}) {
            Run r = run(args);
            assertEquals(Main.USAGE, r.code, String.join(" ", args) + ": " + r.err);
            assertOneLine(r);
        }
    }

    @Test
    void unknownProfileAndMissingConfigAreBadUsage() {
        Run profile = run("bot", "--id", "BOT-1", "--port", "8101", "--hive", dir.toString(), "--profile", "nope");
        assertEquals(Main.USAGE, profile.code, profile.err);
        assertTrue(profile.err.contains("unknown profile 'nope'"), profile.err);
        assertOneLine(profile);

        Run config = run("bot", "--id", "BOT-1", "--port", "8101", "--config", dir.resolve("missing.json").toString());
        assertEquals(Main.USAGE, config.code, config.err);
        assertOneLine(config);
    }

    @Test
    void configFileInTheHiveIsReadAndAPortInUseFailsWithOne() throws Exception {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("deia.json"),
                "{\"profiles\":{\"mine\":{\"agent\":\"command\",\"executable\":\"/bin/cat\"}}}");
        try (ServerSocket taken = new ServerSocket(0, 1, java.net.InetAddress.getByName("127.0.0.1"))) {
            Run r = run("bot", "--id", "BOT-1", "--port", String.valueOf(taken.getLocalPort()), "--hive", dir.toString(),
                    "--profile", "mine");
            assertEquals(Main.FAILURE, r.code, r.err);
            assertTrue(r.err.contains("cannot serve HTTP"), r.err);
            assertOneLine(r);
        }
        Run echo = run("bot", "--id", "BOT-1", "--port", "8101", "--hive", dir.toString(), "--profile", "echo");
        assertEquals(Main.USAGE, echo.code, "the hive's config replaces the defaults: " + echo.err);
    }

    @Test
    void defaultConfigHasTheEchoProfile() {
        assertEquals("/bin/cat", DefaultConfig.config().requireProfile(DefaultConfig.DEFAULT_PROFILE).executable());
    }
}
