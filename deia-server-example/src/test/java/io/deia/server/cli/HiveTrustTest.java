package io.deia.server.cli;

import io.deia.server.Main;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The review's attack on a hive another user can write: a planted {@code deia.json} whose
 * {@code demo} profile runs the other user's script. {@code serve --demo} (and every other command)
 * must refuse the hive with exit 2 and one line, and run nothing: the script's marker never appears.
 * The ownership cases run as root with the hive given to {@code nobody}.
 */
class HiveTrustTest {
    @TempDir
    Path dir;

    private record Run(int exit, String out, String err) {
    }

    /** The command line in its own JVM: a serve that was not refused would run until killed. */
    private Run run(String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx128m", "-cp", System.getProperty("java.class.path"), Main.class.getName()));
        cmd.addAll(List.of(args));
        Path out = dir.resolve("out-" + System.nanoTime());
        Path err = dir.resolve("err-" + System.nanoTime());
        Process p = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        try {
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
                return new Run(-1, Files.readString(out), Files.readString(err));
            }
            return new Run(p.exitValue(), Files.readString(out), Files.readString(err));
        } finally {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
        }
    }

    private static UserPrincipal nobody() throws IOException {
        assumeTrue("root".equals(System.getProperty("user.name")), "giving a hive to another user needs root");
        return FileSystems.getDefault().getUserPrincipalLookupService().lookupPrincipalByName("nobody");
    }

    /** A hive holding another user's deia.json whose demo profile would create {@code marker}. */
    private Path plantedHive(Path marker) throws IOException {
        Path hive = Files.createDirectories(dir.resolve(".deia"));
        Files.writeString(hive.resolve("deia.json"), "{\"profiles\":{\"demo\":{\"agent\":\"command\","
                + "\"executable\":\"/bin/sh\",\"args\":[\"-c\",\"touch " + marker + "\"]}}}", StandardCharsets.UTF_8);
        return hive;
    }

    private static void assertRefused(Run r, String reason, Path marker) {
        assertEquals(2, r.exit(), "exit 2 (out: " + r.out() + ", err: " + r.err() + ")");
        List<String> lines = r.err().lines().filter(l -> l.contains(reason)).toList();
        assertEquals(1, lines.size(), "one line gives the reason: " + r.err());
        assertTrue(lines.get(0).matches("^[a-z]+: .*") && lines.get(0).contains("docs/operations.md"),
                "the command's error line, saying where the fix is described: " + lines.get(0));
        assertFalse(Files.exists(marker), "the planted profile never ran");
        assertFalse(r.out().contains("http://"), "no controller started: " + r.out());
    }

    @Test
    void serveDemoRefusesAHiveOwnedByAnotherUserAndRunsNothing() throws Exception {
        Path marker = dir.resolve("pwned-by-nobody");
        Path hive = plantedHive(marker);
        UserPrincipal nobody = nobody();
        Files.setOwner(hive.resolve("deia.json"), nobody);
        Files.setOwner(hive, nobody);
        Run r = run("serve", "--demo", "--port", "0", "--hive", hive.toString());
        assertRefused(r, "hive " + hive + " is owned by nobody, not by root", marker);
        for (String[] command : List.of(new String[] {"launch", "BOT-001", "--profile", "demo"}, new String[] {"status"},
                new String[] {"stop", "BOT-001"}, new String[] {"bot", "--id", "BOT-001", "--port", "8101", "--profile", "demo"})) {
            List<String> args = new ArrayList<>(List.of(command));
            args.addAll(List.of("--hive", hive.toString()));
            assertRefused(run(args.toArray(String[]::new)), "is owned by nobody", marker);
        }
        try (var files = Files.list(hive)) {
            assertEquals(List.of(hive.resolve("deia.json")), files.toList(), "nothing was written into the hive");
        }
    }

    @Test
    void serveDemoRefusesAHiveOthersCanWriteAndRunsNothing() throws Exception {
        Path marker = dir.resolve("pwned-by-a-world-writable-hive");
        Path hive = plantedHive(marker);
        Files.setPosixFilePermissions(hive, PosixFilePermissions.fromString("rwxrwxrwx"));
        assertRefused(run("serve", "--demo", "--port", "0", "--hive", hive.toString()),
                "hive " + hive + " is writable by group or others (mode rwxrwxrwx)", marker);
        Path task = dir.resolve("task.md");
        Files.writeString(task, "hello");
        assertRefused(run("task", "submit", "BOT-001", task.toString(), "--hive", hive.toString()), "writable by group or others",
                marker);
    }

    @Test
    void aConfigFileOfAnotherUserOrWritableByOthersIsRefused() throws Exception {
        Path marker = dir.resolve("pwned-by-a-config");
        Path hive = plantedHive(marker);
        Files.setPosixFilePermissions(hive.resolve("deia.json"), PosixFilePermissions.fromString("rw-rw-rw-"));
        assertRefused(run("serve", "--demo", "--port", "0", "--hive", hive.toString()),
                hive.resolve("deia.json") + " is writable by group or others", marker);

        Path config = dir.resolve("other.json");
        Files.copy(hive.resolve("deia.json"), config);
        Files.delete(hive.resolve("deia.json"));
        Files.setPosixFilePermissions(config, PosixFilePermissions.fromString("rw-r--r--"));
        Files.setOwner(config, nobody());
        assertRefused(run("serve", "--demo", "--port", "0", "--hive", hive.toString(), "--config", config.toString()),
                "config file " + config + " is owned by nobody", marker);
    }

    @Test
    void aTokenLinkPlantedInTheHiveIsRefusedAndTheFileItLeadsToIsNotTouched() throws Exception {
        Path hive = Files.createDirectories(dir.resolve(".deia"));
        Path victim = dir.resolve("root-secret");
        String content = "a-root-only-secret-that-would-pass-as-a-token\n";
        Files.writeString(victim, content);
        Files.setPosixFilePermissions(victim, PosixFilePermissions.fromString("rw-r--r--"));
        Files.createSymbolicLink(hive.resolve("token"), victim);
        Run r = run("serve", "--port", "0", "--hive", hive.toString());
        assertRefused(r, hive.resolve("token") + " is a symbolic link", dir.resolve("no-marker"));
        assertEquals(content, Files.readString(victim));
        assertEquals("rw-r--r--", PosixFilePermissions.toString(Files.getPosixFilePermissions(victim)), "not chmod-ed");
        assertTrue(Files.isSymbolicLink(hive.resolve("token")));
    }

    @Test
    void serveShowsTheTokenOnATerminalAndOnlyWhereItIsEverywhereElse() {
        Path tokenFile = dir.resolve(".deia").resolve("token");
        String url = "http://127.0.0.1:8080/?token=SECRET-TOKEN-VALUE";
        assertEquals(url, ServeCommand.startLine("http://127.0.0.1:8080", url, tokenFile, true));
        String piped = ServeCommand.startLine("http://127.0.0.1:8080", url, tokenFile, false);
        assertFalse(piped.contains("SECRET-TOKEN-VALUE"), piped);
        assertTrue(piped.startsWith("http://127.0.0.1:8080/ ") && piped.contains("the token is in " + tokenFile), piped);
    }
}
