package io.deia.server.launch;

import io.deia.core.HiveLayout;
import io.deia.core.config.DeiaConfig;
import io.deia.core.config.Profile;
import io.deia.core.internal.io.AtomicFiles;
import io.deia.core.internal.io.Json;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

/**
 * A hive folder with a {@code deia.json} whose profiles tag every runner JVM with a marker system
 * property, so /proc scans find exactly this test's processes.
 */
final class TestHive {
    final String marker = "deia-acceptance-" + UUID.randomUUID();
    final HiveLayout layout;
    final DeiaConfig config;

    TestHive(Path dir, String sleepTag) {
        layout = new HiveLayout(dir.resolve(".deia"));
        List<String> jvm = new ArrayList<>(Profile.DEFAULT_RUNNER_JVM_OPTIONS);
        jvm.add("-Ddeia.test.marker=" + marker);
        String restart = "{\"policy\":\"on-failure\",\"max_restarts\":2,\"window_s\":60,\"backoff_initial_ms\":100,"
                + "\"backoff_max_ms\":400,\"stable_after_s\":30}";
        // A port range apart from the default one that other test suites on this machine use.
        String json = "{\"ports\":{\"from\":19200,\"to\":19399},\"profiles\":{"
                + "\"echo\":{\"agent\":\"command\",\"executable\":\"/bin/cat\",\"runner_jvm_options\":" + Json.write(jvm)
                + ",\"restart\":" + restart + "},"
                + "\"badjvm\":{\"agent\":\"command\",\"executable\":\"/bin/cat\",\"runner_jvm_options\":"
                + Json.write(List.of("-XX:+NoSuchDeiaOption", "-Ddeia.test.marker=" + marker)) + "},"
                + "\"deaf\":{\"agent\":\"command\",\"executable\":\"/bin/cat\",\"start_timeout_s\":3,\"runner_jvm_options\":"
                + Json.write(List.of("-agentlib:jdwp=transport=dt_socket,server=y,suspend=y,address=127.0.0.1:0",
                "-Ddeia.test.marker=" + marker)) + "},"
                + "\"spawner\":{\"agent\":\"command\",\"executable\":\"/bin/sh\",\"args\":[\"-c\",\"sleep " + sleepTag
                + " & sleep " + sleepTag + " & cat; wait\"],\"runner_jvm_options\":" + Json.write(jvm) + "}"
                + "}}";
        AtomicFiles.writeString(layout.defaultConfigFile(), json);
        config = DeiaConfig.load(layout.defaultConfigFile());
    }
}
