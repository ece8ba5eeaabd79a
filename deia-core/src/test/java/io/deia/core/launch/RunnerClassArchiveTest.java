package io.deia.core.launch;

import io.deia.core.config.AgentType;
import io.deia.core.config.DeiaConfig;
import io.deia.core.config.Profile;
import io.deia.core.config.RestartPolicy;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Real training runs of the test runner main from a real jar, and real JVMs accepting or refusing
 * the archive.
 */
class RunnerClassArchiveTest {
    @TempDir
    static Path jarDir;

    @TempDir
    Path dir;

    private static List<Path> jarClassPath;

    private DeiaConfig config;
    private Path archives;

    /** deia-core's classes and the test runner packed in a jar, plus the dependency jars of this JVM. */
    @BeforeAll
    static void packRunnerJar() throws IOException {
        Path jar = jarDir.resolve("runner.jar");
        try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(jar))) {
            for (String entry : System.getProperty("java.class.path").split(File.pathSeparator)) {
                Path root = Path.of(entry);
                if (Files.isDirectory(root)) {
                    addTree(out, root);
                }
            }
        }
        jarClassPath = new ArrayList<>(List.of(jar));
        Arrays.stream(System.getProperty("java.class.path").split(File.pathSeparator))
                .map(Path::of).filter(Files::isRegularFile).forEach(jarClassPath::add);
    }

    private static void addTree(JarOutputStream out, Path root) throws IOException {
        try (Stream<Path> files = Files.walk(root)) {
            for (Path f : files.filter(Files::isRegularFile).toList()) {
                out.putNextEntry(new JarEntry(root.relativize(f).toString().replace(File.separatorChar, '/')));
                Files.copy(f, out);
                out.closeEntry();
            }
        }
    }

    @BeforeEach
    void setUp() {
        archives = dir.resolve("cds");
        Map<String, Profile> profiles = new LinkedHashMap<>();
        profiles.put("echo", profile(List.of("-XX:+UseSerialGC", "-Xmx64m", "-XX:TieredStopAtLevel=1", "-Xshare:auto")));
        // A JVM told -Xshare:off can neither write nor use an archive.
        profiles.put("noshare", profile(List.of("-XX:+UseSerialGC", "-Xmx64m", "-Xshare:off")));
        config = DeiaConfig.builder().ports(new DeiaConfig.PortRange(19600, 19699)).profiles(profiles).build();
    }

    private static Profile profile(List<String> jvmOptions) {
        return Profile.builder(AgentType.COMMAND).executable("/bin/cat").startTimeoutS(20)
                .runnerJvmOptions(jvmOptions).restart(RestartPolicy.DEFAULT).build();
    }

    private JvmRunnerCommand jarRunner() {
        return new JvmRunnerCommand(RunnerCommand.currentJvm(TestRunnerMain.class.getName()).javaCommand(),
                jarClassPath, TestRunnerMain.class.getName());
    }

    private List<Path> archiveFiles() throws IOException {
        if (!Files.isDirectory(archives)) {
            return List.of();
        }
        try (Stream<Path> files = Files.list(archives)) {
            return files.toList();
        }
    }

    @Test
    void anArchiveOfAnotherJarIsNotUsed() throws Exception {
        Profile echo = config.requireProfile("echo");
        RunnerClassArchive archive = new RunnerClassArchive(jarRunner(), archives);
        Path made = archive.create(echo, "BOT-D").orElseThrow();
        assertEquals(Optional.of(made), archive.find(echo));

        // The jar is rebuilt: the old archive no longer fits, and is not offered.
        Path jar = jarClassPath.get(0);
        Files.setLastModifiedTime(jar, FileTime.fromMillis(Files.getLastModifiedTime(jar).toMillis() + 2000));
        try {
            assertTrue(new RunnerClassArchive(jarRunner(), archives).find(echo).isEmpty());
            assertTrue(Files.exists(made), "kept: another installation may still use that jar");
        } finally {
            Files.setLastModifiedTime(jar, FileTime.fromMillis(Files.getLastModifiedTime(jar).toMillis() - 2000));
        }
    }

    @Test
    void aJvmThatCannotShareGetsNoArchive() throws Exception {
        RunnerClassArchive archive = new RunnerClassArchive(jarRunner(), archives);
        Profile noShare = config.requireProfile("noshare");
        assertTrue(archive.create(noShare, "BOT-E").isEmpty());
        assertEquals(List.of(), archiveFiles().stream().filter(f -> f.toString().endsWith(".jsa")).toList(),
                "no archive and no temp file");
        assertTrue(archive.find(noShare).isEmpty());
    }

    @Test
    void aClassPathWithFoldersGetsNoArchive() {
        assertFalse(new RunnerClassArchive(RunnerCommand.currentJvm(TestRunnerMain.class.getName()), archives).applies(),
                "the build's class folders cannot be archived");
        assertTrue(new RunnerClassArchive(jarRunner(), archives).applies());
    }
}
