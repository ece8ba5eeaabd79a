package io.deia.core.project;

import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GitTest {
    @TempDir
    Path tmp;

    @Test
    void runReturnsGitsOutput() throws Exception {
        Path repo = TestRepos.init(tmp.resolve("repo"));
        Git git = Git.at(repo);
        assertEquals(repo, git.dir());
        assertEquals("main\n", git.run("branch", "--show-current"));
        assertEquals(TestRepos.git(repo, "rev-parse", "HEAD"), git.run("rev-parse", "HEAD"));
        Git.Result r = git.tryRun("log", "--format=%s");
        assertTrue(r.ok());
        assertEquals("first", r.firstLine());
        assertFalse(r.truncated());
    }

    @Test
    void aFailingCommandIs422WithGitsErrorLine() throws Exception {
        Path repo = TestRepos.init(tmp.resolve("repo"));
        DeiaException e = assertThrows(DeiaException.class, () -> Git.at(repo).run("rev-parse", "--verify", "nope"));
        assertEquals(ErrorCode.UNPROCESSABLE, e.code());
        assertTrue(e.getMessage().contains("git rev-parse failed in " + repo), e.getMessage());
        assertTrue(e.getMessage().contains("fatal: Needed a single revision"), e.getMessage());

        Git.Result r = Git.at(repo).tryRun("switch", "no-such-branch");
        assertFalse(r.ok());
        assertNotEquals(0, r.exitCode());
        assertTrue(r.errorLine().startsWith("fatal: invalid reference: no-such-branch"), r.errorLine());
    }

    @Test
    void aFailureWithoutMessageNamesTheExitCode() throws Exception {
        Path repo = TestRepos.init(tmp.resolve("repo"));
        Files.writeString(repo.resolve("README.md"), "changed\n");
        Git.Result r = Git.at(repo).tryRun("diff", "--quiet");
        assertEquals(1, r.exitCode());
        assertEquals("exit code 1", r.errorLine());
    }

    @Test
    void gitThatCannotStartIsAnInternalError() {
        DeiaException e = assertThrows(DeiaException.class, () -> Git.at(tmp.resolve("absent")).run("status"));
        assertEquals(ErrorCode.INTERNAL, e.code());
        assertTrue(e.getMessage().contains("cannot run git"), e.getMessage());
    }

    @Test
    void limitedOutputIsCutAndSaysSo() throws Exception {
        Path repo = TestRepos.init(tmp.resolve("repo"));
        byte[] big = new byte[3 * 1024 * 1024];
        Arrays.fill(big, (byte) 'x');
        Files.write(repo.resolve("big.txt"), big);
        String blob = TestRepos.git(repo, "hash-object", "-w", "big.txt").strip();
        Git git = Git.at(repo);

        Git.Result cut = git.tryRunLimited(1000, "cat-file", "blob", blob);
        assertTrue(cut.truncated());
        assertTrue(cut.ok());
        assertEquals(1000, cut.stdout().length);

        Git.Result whole = git.tryRunLimited(big.length, "cat-file", "blob", blob);
        assertFalse(whole.truncated());
        assertArrayEquals(big, whole.stdout());

        Git.Result oneShort = git.tryRunLimited(big.length - 1, "cat-file", "blob", blob);
        assertTrue(oneShort.truncated());
        assertEquals(big.length - 1, oneShort.stdout().length);
    }

    @Test
    @Timeout(value = 30, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void inputIsFedWhileOutputIsRead() throws Exception {
        Path repo = TestRepos.init(tmp.resolve("repo"));
        byte[] kb = new byte[1024];
        Arrays.fill(kb, (byte) 'y');
        Files.write(repo.resolve("k.txt"), kb);
        String blob = TestRepos.git(repo, "hash-object", "-w", "k.txt").strip();
        // 200 KB of input and 4 MB of output: both pipes fill up before git has read all of its input.
        int n = 4000;
        byte[] stdin = (blob + "\n").repeat(n).getBytes(StandardCharsets.US_ASCII);
        Git.Result r = Git.at(repo).withTimeout(Duration.ofSeconds(30)).tryRunWithInput(stdin, "cat-file", "--batch");
        assertTrue(r.ok(), r.errorLine());
        String header = blob + " blob 1024\n";
        assertEquals((long) n * (header.length() + 1024 + 1), r.stdout().length);

        Git.Result hashed = Git.at(repo).tryRunWithInput(kb, "hash-object", "--stdin");
        assertEquals(blob, hashed.firstLine());
    }

    @Test
    @Timeout(value = 30, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void inputGitDoesNotReadIsDroppedWithoutError() throws Exception {
        Path repo = TestRepos.init(tmp.resolve("repo"));
        byte[] unread = new byte[8 * 1024 * 1024];
        Git.Result r = Git.at(repo).tryRunWithInput(unread, "rev-parse", "HEAD");
        assertTrue(r.ok(), r.errorLine());
        assertEquals(TestRepos.git(repo, "rev-parse", "HEAD").strip(), r.firstLine());
    }

    @Test
    @Timeout(value = 30, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void aGitThatRunsTooLongIsKilled() throws Exception {
        Path repo = TestRepos.init(tmp.resolve("repo"));
        Path marker = tmp.resolve("still-running");
        long t0 = System.nanoTime();
        // An alias runs a shell that keeps git's output open: only a bounded wait ends this call.
        DeiaException e = assertThrows(DeiaException.class, () -> Git.at(repo).withTimeout(Duration.ofMillis(500))
                .tryRun("-c", "alias.slow=!sleep 20; touch " + marker, "slow"));
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        assertEquals(ErrorCode.TIMEOUT, e.code());
        assertTrue(e.getMessage().contains("did not end within 500 ms"), e.getMessage());
        assertTrue(ms < 10_000, "took " + ms + " ms");
        // what git started was killed too, so the shell never reaches its touch
        assertTrue(ProcessHandle.current().descendants().noneMatch(h -> h.info().commandLine().orElse("").contains("sleep 20")),
                "the alias's sleep is still running");
        assertFalse(Files.exists(marker));
    }

    @Test
    void gitVariablesOfTheCallerDoNotLeakIntoDeiasGit() throws Exception {
        Path repo = TestRepos.init(tmp.resolve("repo"));
        Path other = TestRepos.init(tmp.resolve("other"));
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-XX:TieredStopAtLevel=1", "-Xmx64m", "-cp", System.getProperty("java.class.path"),
                GitEnvProbe.class.getName(), repo.toString()));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectError(tmp.resolve("probe.err").toFile());
        pb.environment().putAll(Map.of("GIT_DIR", other.resolve(".git").toString(), "GIT_WORK_TREE", other.toString(),
                "GIT_INDEX_FILE", other.resolve(".git/index").toString(), "GIT_CONFIG_PARAMETERS", "'user.name'='Leaked'"));
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), () -> out + readQuietly(tmp.resolve("probe.err")));
        List<String> lines = out.lines().toList();
        assertEquals(repo.resolve(".git").toRealPath().toString(), lines.get(0));
        assertTrue(lines.get(1).startsWith("The User <user@example.invalid>"), lines.get(1));
    }

    private static String readQuietly(Path f) {
        try {
            return Files.readString(f);
        } catch (IOException e) {
            return "";
        }
    }

    @Test
    void addedVariablesReachGit() throws Exception {
        Path repo = TestRepos.init(tmp.resolve("repo"));
        Git git = Git.at(repo).withEnv(Map.of("GIT_AUTHOR_NAME", "deia BOT-1", "GIT_AUTHOR_EMAIL", "BOT-1@deia.invalid"));
        assertTrue(git.run("var", "GIT_AUTHOR_IDENT").startsWith("deia BOT-1 <BOT-1@deia.invalid>"));
        assertTrue(Git.at(repo).run("var", "GIT_AUTHOR_IDENT").startsWith("The User"));
    }

    @Test
    void theUsersHooksNeverRun() throws Exception {
        Path repo = TestRepos.init(tmp.resolve("repo"));
        Path hooks = Files.createDirectories(tmp.resolve("hooks"));
        Path marker = tmp.resolve("hook-ran");
        for (Path dir : List.of(hooks, repo.resolve(".git/hooks"))) {
            Path hook = dir.resolve("pre-commit");
            Files.writeString(hook, "#!/bin/sh\ntouch '" + marker + "'\nexit 1\n");
            Files.setPosixFilePermissions(hook, PosixFilePermissions.fromString("rwxr-xr-x"));
        }
        TestRepos.git(repo, "config", "core.hooksPath", hooks.toString());
        Files.writeString(repo.resolve("a.txt"), "a\n");
        TestRepos.git(repo, "add", "a.txt");
        // the hook is real: the user's own git commit is stopped by it
        ProcessBuilder plain = new ProcessBuilder("git", "commit", "-q", "-m", "by the user").directory(repo.toFile())
                .redirectErrorStream(true).redirectOutput(tmp.resolve("plain.log").toFile());
        assertEquals(1, plain.start().waitFor());
        assertTrue(Files.exists(marker));
        Files.delete(marker);

        Git.at(repo).run("commit", "-q", "-m", "by deia");
        assertEquals("by deia", TestRepos.git(repo, "log", "-1", "--format=%s").strip());
        assertFalse(Files.exists(marker));
    }

    @Test
    void fileNamesComeUnquoted() throws Exception {
        Path repo = TestRepos.init(tmp.resolve("repo"));
        TestRepos.commitFile(repo, "dossier/résumé final.txt", "x\n");
        assertTrue(Git.at(repo).run("ls-files").lines().anyMatch("dossier/résumé final.txt"::equals));
    }
}
