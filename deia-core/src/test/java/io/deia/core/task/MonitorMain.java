package io.deia.core.task;

import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;

/**
 * A task monitor in its own JVM, for the multi-process tests: {@code MonitorMain <hive> <maxAttempts>}.
 * Runs until killed; SIGTERM closes the monitor through a shutdown hook.
 */
public final class MonitorMain {
    private MonitorMain() {
    }

    public static void main(String[] args) throws Exception {
        TaskTestHive hive = new TaskTestHive(Path.of(args[0]), 64 * 1024);
        TaskQueueMonitor monitor = hive.monitor(TaskTestHive.profile(30, Integer.parseInt(args[1]), 10));
        monitor.start();
        Runtime.getRuntime().addShutdownHook(new Thread(monitor::close));
        new CountDownLatch(1).await();
    }

    /** Starts {@code MonitorMain} as a child JVM with this JVM's class path. */
    static Process spawn(Path hive, int maxAttempts, Path log) throws java.io.IOException {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        return new ProcessBuilder(java, "-Xmx64m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xshare:auto",
                "-cp", System.getProperty("java.class.path"), MonitorMain.class.getName(), hive.toString(),
                Integer.toString(maxAttempts))
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                .start();
    }
}
