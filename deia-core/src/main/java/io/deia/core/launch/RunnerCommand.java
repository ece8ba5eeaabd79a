package io.deia.core.launch;

import io.deia.core.config.Profile;

import java.io.File;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * How to start one bot runner process: produces the argv (no shell) for a bot id, its port, its
 * profile, the hive folder and the config file (null when none). {@link BotLauncher} prefixes it
 * with {@code setsid} and redirects its output to the bot's log file.
 */
@FunctionalInterface
public interface RunnerCommand {

    /**
     * The argv of the runner for one bot.
     *
     * @param botId      validated bot id
     * @param port       the port reserved for the bot's HTTP service
     * @param profile    the bot's profile
     * @param hive       the hive folder ({@code .deia})
     * @param configFile the config file the launcher read, or null when it runs on built-in defaults
     */
    List<String> argv(String botId, int port, Profile profile, Path hive, Path configFile);

    /**
     * The argv of the runner for one bot that may work on a configured project: {@link #argv(String,
     * int, Profile, Path, Path)} followed by {@code --project NAME} when {@code project} is not null
     * (the runner's {@code bot} options end that argv, so the option joins them).
     *
     * @param project the name of a configured project (checked by the launcher), or null for none
     */
    default List<String> argv(String botId, int port, Profile profile, Path hive, Path configFile, String project) {
        List<String> argv = new ArrayList<>(argv(botId, port, profile, hive, configFile));
        if (project != null) {
            argv.add("--project");
            argv.add(project);
        }
        return argv;
    }

    /**
     * A runner started as {@code <this JVM's java> <profile.runnerJvmOptions()> -cp <this JVM's class path>
     * <mainClass> bot --id ID --port N --profile NAME --hive DIR [--config FILE] [--project NAME]}. The class path is
     * this JVM's, so it works both from the shaded jar (the jar is the class path) and from tests
     * (the build's class path).
     *
     * @param mainClass a main class whose {@code bot} subcommand runs one bot
     */
    static JvmRunnerCommand currentJvm(String mainClass) {
        Objects.requireNonNull(mainClass, "mainClass");
        String javaCommand = ProcessHandle.current().info().command()
                .orElseGet(() -> Path.of(System.getProperty("java.home"), "bin", "java").toString());
        // Absolute, because the runner starts in the bot's folder and `java -jar deia-server.jar`
        // leaves a relative class path.
        List<Path> classPath = Arrays.stream(System.getProperty("java.class.path").split(File.pathSeparator))
                .filter(e -> !e.isEmpty())
                .map(Path::of)
                .toList();
        return new JvmRunnerCommand(javaCommand, classPath, mainClass);
    }

    /**
     * {@link #currentJvm(String)} with the library's runner ({@link JvmRunnerCommand#LIBRARY_MAIN_CLASS}):
     * needs deia-core and deia-http on this JVM's class path, and a config file for the profiles
     * ({@link BotLauncher.Builder#configFile} or {@code <hive>/deia.json}).
     */
    static JvmRunnerCommand currentJvm() {
        return currentJvm(JvmRunnerCommand.LIBRARY_MAIN_CLASS);
    }
}
