package io.deia.core.testing;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Starts a separate JVM running a {@code main} class from this JVM's class path: the way tests get
 * real concurrent processes (not threads) against one hive.
 */
public final class ChildJvm {
    private ChildJvm() {
    }

    /**
     * Starts {@code java -cp <this class path> mainClass args…} with a small heap and quick start-up
     * options; stdout and stderr go to {@code log}.
     */
    public static Process start(Class<?> mainClass, Path log, String... args) throws IOException {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(List.of("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xmx128m", "-Xshare:auto",
                "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn"));
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(mainClass.getName());
        cmd.addAll(List.of(args));
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    }
}
