package io.deia.core.launch;

import io.deia.core.config.Profile;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.stream.Collectors;

/**
 * A {@link RunnerCommand} that starts a Java main class: {@code <java> <profile.runnerJvmOptions()>
 * <extra JVM options> -cp <class path> <mainClass> bot --id ID --port N --profile NAME --hive DIR
 * [--config FILE]}. Knowing that the runner is a JVM (its java, class path and options) is what lets
 * the launcher give it a class data sharing archive ({@link RunnerClassArchive}).
 */
public final class JvmRunnerCommand implements RunnerCommand {
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

    /**
     * True when every class path entry is a jar file. The JVM archives classes from jars only (a
     * build's {@code target/classes} folder is not archived), so only then is an archive worth it.
     */
    public boolean classPathIsJarsOnly() {
        return !classPath.isEmpty() && classPath.stream().allMatch(Files::isRegularFile);
    }

    @Override
    public List<String> argv(String botId, int port, Profile profile, Path hive, Path configFile) {
        return argv(botId, port, profile, hive, configFile, List.of());
    }

    /** The argv with {@code extraJvmOptions} after the profile's JVM options. */
    public List<String> argv(String botId, int port, Profile profile, Path hive, Path configFile,
                             List<String> extraJvmOptions) {
        List<String> argv = new ArrayList<>();
        argv.add(javaCommand);
        argv.addAll(profile.runnerJvmOptions());
        argv.addAll(extraJvmOptions);
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
