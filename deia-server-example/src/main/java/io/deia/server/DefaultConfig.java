package io.deia.server;

import io.deia.core.config.AgentType;
import io.deia.core.config.DeiaConfig;
import io.deia.core.config.Profile;
import io.deia.core.internal.io.Json;
import io.deia.http.bot.BotRunner;
import io.deia.server.demo.DemoAgent;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The configuration used when there is no config file ({@code --config} not given and no
 * {@code <hive>/deia.json}): every built-in default of the server lives here, in the same JSON form
 * as a {@code deia.json}, so copying it into a file is the way to start customising.
 *
 * <p>Built-in profiles:
 * <ul>
 *   <li>{@code demo} — the offline {@link DemoAgent}, run by this JVM's own {@code java} from this
 *       jar; needs no API key and no network. {@code serve --demo} launches two bots with it.</li>
 *   <li>{@code echo} — {@code /bin/cat}: the reply is the prompt.</li>
 *   <li>{@code claude}, {@code codex}, {@code gemini} — the real CLIs (on {@code PATH}), with their
 *       API key taken from the server's environment ({@code ANTHROPIC_API_KEY}, {@code OPENAI_API_KEY},
 *       {@code GEMINI_API_KEY}); launching one without its key fails with a message naming it.</li>
 * </ul>
 */
public final class DefaultConfig {
    /** The built-in configuration, as a config file would spell it (the demo profile is added by {@link #config()}). */
    public static final String JSON = """
            {
              "profiles": {
                "echo": {"agent": "command", "executable": "/bin/cat", "prompt_mode": "stdin"},
                "claude": {"agent": "claude-code", "permission_mode": "acceptEdits",
                           "secret_env": {"ANTHROPIC_API_KEY": "ANTHROPIC_API_KEY"}},
                "codex": {"agent": "codex", "permission_mode": "workspace-write",
                          "secret_env": {"OPENAI_API_KEY": "OPENAI_API_KEY"}},
                "gemini": {"agent": "gemini", "model": "gemini-2.5-flash", "permission_mode": "auto_edit",
                           "secret_env": {"GEMINI_API_KEY": "GEMINI_API_KEY"}}
              }
            }
            """;

    /** The profile a bot runs when none is named. */
    public static final String DEFAULT_PROFILE = BotRunner.DEFAULT_PROFILE;

    /** The offline profile the demo bots use. */
    public static final String DEMO_PROFILE = "demo";

    private DefaultConfig() {
    }

    /** The built-in configuration, parsed and validated. */
    public static DeiaConfig config() {
        DeiaConfig base = Json.read(JSON, DeiaConfig.class, "built-in default config");
        Map<String, Profile> profiles = new LinkedHashMap<>();
        profiles.put(DEMO_PROFILE, demoProfile());
        profiles.putAll(base.profiles());
        return base.toBuilder().profiles(profiles).build();
    }

    /**
     * The demo profile: a {@code command} agent that runs {@link DemoAgent} with this JVM's java
     * binary and class path. A bot runner started from the same jar computes the same profile, so
     * the launcher and its bots agree on it without a config file.
     */
    static Profile demoProfile() {
        String java = ProcessHandle.current().info().command().orElse("java");
        String classPath = System.getProperty("java.class.path");
        List<String> args = List.of("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xshare:auto", "-Xmx32m",
                "-cp", classPath, DemoAgent.class.getName());
        return Profile.builder(AgentType.COMMAND).name(DEMO_PROFILE).executable(java).args(args).promptMode("stdin")
                .timeoutS(60).build();
    }
}
