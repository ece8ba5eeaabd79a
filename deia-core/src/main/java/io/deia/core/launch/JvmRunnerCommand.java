package io.deia.core.launch;

import io.deia.core.config.Profile;

import java.io.File;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.stream.Collectors;

/**
 * A {@link RunnerCommand} that starts a Java main class: {@code <java> <profile.runnerJvmOptions()>
 * -cp <class path> <mainClass> bot --id ID --port N --profile NAME --hive DIR [--config FILE]
 * [--project NAME]} (the project through {@link RunnerCommand#argv(String, int, Profile, Path, Path, String)}).
 */
public final class JvmRunnerCommand implements RunnerCommand {
    /**
     * The library's runner main class, {@code io.deia.http.bot.BotRunner} in deia-http (named, not
     * referenced: deia-core does not depend on deia-http). It reads its profiles from the config file.
     */
    public static final String LIBRARY_MAIN_CLASS = "io.deia.http.bot.BotRunner";

    private final String javaCommand;
    private final List<Path> classPath;
    private final String mainClass;

    /**
     * @param javaCommand the java executable
     * @param classPath   the runner's class path entries (made absolute: the runner starts in the
     *                    bot's folder)
     * @param mainClass   a main class whose {@code bot} subcommand runs one bot
     */
    public JvmRunnerCommand(String javaCommand, List<Path> classPath, String mainClass) {
        this.javaCommand = Objects.requireNonNull(javaCommand, "javaCommand");
        this.classPath = classPath.stream().map(Path::toAbsolutePath).toList();
        this.mainClass = Objects.requireNonNull(mainClass, "mainClass");
    }

    /** The java executable. */
    public String javaCommand() {
        return javaCommand;
    }

    /** The absolute class path entries. */
    public List<Path> classPath() {
        return classPath;
    }

    /** The main class. */
    public String mainClass() {
        return mainClass;
    }

    @Override
    public List<String> argv(String botId, int port, Profile profile, Path hive, Path configFile) {
        List<String> argv = new ArrayList<>();
        argv.add(javaCommand);
        argv.addAll(profile.runnerJvmOptions());
        argv.add("-cp");
        argv.add(classPath.stream().map(Path::toString).collect(Collectors.joining(File.pathSeparator)));
        argv.add(mainClass);
        argv.addAll(List.of("bot", "--id", botId, "--port", Integer.toString(port),
                "--profile", profile.name(), "--hive", hive.toString()));
        if (configFile != null) {
            argv.add("--config");
            argv.add(configFile.toString());
        }
        return argv;
    }
}
