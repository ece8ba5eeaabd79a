package io.deia.core.launch;

import io.deia.core.config.AgentType;
import io.deia.core.config.Profile;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The runner's argv: a project joins the {@code bot} options as {@code --project NAME}, and only then. */
class RunnerCommandTest {
    private static final Profile PROFILE = Profile.builder(AgentType.COMMAND).name("echo").executable("/bin/cat")
            .runnerJvmOptions(List.of("-Xmx64m")).build();
    private static final Path HIVE = Path.of("/hive/.deia");
    private static final Path CONFIG = Path.of("/hive/deia.json");

    @Test
    void theJvmRunnerEndsItsBotOptionsWithTheProject() {
        JvmRunnerCommand jvm = new JvmRunnerCommand("/jdk/bin/java", List.of(Path.of("/lib/a.jar"), Path.of("/lib/b.jar")),
                "io.example.Main");
        List<String> plain = List.of("/jdk/bin/java", "-Xmx64m", "-cp", "/lib/a.jar:/lib/b.jar", "io.example.Main",
                "bot", "--id", "BOT-1", "--port", "8101", "--profile", "echo", "--hive", "/hive/.deia",
                "--config", "/hive/deia.json");
        assertEquals(plain, jvm.argv("BOT-1", 8101, PROFILE, HIVE, CONFIG));
        assertEquals(plain, jvm.argv("BOT-1", 8101, PROFILE, HIVE, CONFIG, null), "no project, no option");
        List<String> withProject = new java.util.ArrayList<>(plain);
        withProject.addAll(List.of("--project", "shop"));
        assertEquals(withProject, jvm.argv("BOT-1", 8101, PROFILE, HIVE, CONFIG, "shop"));
        assertEquals(List.of("bot", "--id", "BOT-1", "--port", "8101", "--profile", "echo", "--hive", "/hive/.deia",
                        "--project", "shop"),
                jvm.argv("BOT-1", 8101, PROFILE, HIVE, null, "shop").subList(5, 16), "without a config file too");
    }

    @Test
    void anEmbeddersRunnerCommandGetsTheProjectAppended() {
        RunnerCommand own = (id, port, p, h, c) -> List.of("/opt/runner", "--bot", id, "--port", Integer.toString(port));
        assertEquals(List.of("/opt/runner", "--bot", "BOT-2", "--port", "9000", "--project", "shop.v2"),
                own.argv("BOT-2", 9000, PROFILE, HIVE, null, "shop.v2"));
        assertEquals(List.of("/opt/runner", "--bot", "BOT-2", "--port", "9000"), own.argv("BOT-2", 9000, PROFILE, HIVE, null, null));
    }
}
