package io.deia.server.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.deia.core.HiveLayout;
import io.deia.core.internal.io.AtomicFiles;
import io.deia.core.internal.io.Json;
import io.deia.core.internal.process.ProcessTrees;
import io.deia.core.testkit.ProcessChecks;
import io.deia.server.Main;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** launch, status, task submit and stop through the command line, with the real runner. */
class LauncherCommandsTest {
    @TempDir
    Path dir;

    private final String marker = "deia-cli-" + UUID.randomUUID();

    @AfterEach
    void tearDown() {
        ProcessChecks.runningWithMarker(marker).forEach(pid -> ProcessHandle.of(pid).ifPresent(ProcessTrees::kill));
    }

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

    @Test
    void launchStatusTaskAndStopFromTheCommandLine() throws Exception {
        HiveLayout hive = new HiveLayout(dir.resolve(".deia"));
        // A port range of its own: other suites on this machine use the default range at the same time.
        AtomicFiles.writeString(hive.defaultConfigFile(), "{\"ports\":{\"from\":19600,\"to\":19699},\"profiles\":{\"echo\":{\"agent\":\"command\","
                + "\"executable\":\"/bin/cat\",\"runner_jvm_options\":[\"-Xmx64m\",\"-Ddeia.test.marker=" + marker + "\"]}}}");
        String h = hive.root().toString();

        Run launch = run("launch", "BOT-C1", "--hive", h, "--json");
        assertEquals(0, launch.code, launch.err);
        long pid = Json.read(launch.out, JsonNode.class, "launch").get("pid").asLong();
        assertTrue(ProcessChecks.isRunning(pid), "the bot outlives the command");

        Run status = run("status", "--hive", h);
        assertEquals(0, status.code, status.err);
        assertTrue(status.out.contains("BOT-C1") && status.out.contains("pid " + pid), status.out);
        Run json = run("status", "BOT-C1", "--json", "--hive", h);
        assertEquals(pid, Json.read(json.out, JsonNode.class, "status").get("live").get("pid").asLong(), json.out);
        assertEquals(1, Json.read(run("status", "--json", "--hive", h).out, JsonNode.class, "all").get("bots").size());

        Path task = dir.resolve("t.md");
        Files.writeString(task, "---\ntask_id: cli-task-1\n---\nsay hi\n");
        Run submit = run("task", "--hive", h, "submit", "BOT-C1", task.toString());
        assertEquals(0, submit.code, submit.err);
        assertEquals("cli-task-1", submit.out.strip());

        Run stop = run("stop", "BOT-C1", "--hive", h);
        assertEquals(0, stop.code, stop.err);
        assertTrue(stop.out.contains("BOT-C1 stopped"), stop.out);
        assertFalse(ProcessChecks.isRunning(pid));
        // The bot obeyed the command's POST /stop (sent with the hive's token), not a signal.
        assertTrue(Files.readString(hive.botLogFile("BOT-C1")).contains("[BOT-C1] stop requested over HTTP"),
                Files.readString(hive.botLogFile("BOT-C1")));
        assertTrue(run("status", "BOT-C1", "--hive", h).out.contains("stopped"));

        Run unknown = run("stop", "BOT-NONE", "--hive", h);
        assertEquals(1, unknown.code);
        assertTrue(unknown.err.contains("no bot BOT-NONE"), unknown.err);
        assertEquals(2, run("launch", "BOT-C2", "--profile", "nope", "--hive", h).code);
        assertEquals(1, run("status", "BOT-NONE", "--hive", h).code);
    }
}
