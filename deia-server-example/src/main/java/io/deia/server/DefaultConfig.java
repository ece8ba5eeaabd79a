package io.deia.server;

import io.deia.core.config.DeiaConfig;
import io.deia.core.io.Json;

/**
 * The configuration used when there is no config file ({@code --config} not given and no
 * {@code <hive>/deia.json}): every built-in default of the server lives here, in the same JSON form
 * as a {@code deia.json}, so copying it into a file is the way to start customising.
 */
public final class DefaultConfig {
    /** The built-in configuration, as a config file would spell it. */
    public static final String JSON = """
            {
              "profiles": {
                "echo": {"agent": "command", "executable": "/bin/cat", "prompt_mode": "stdin"}
              }
            }
            """;

    /** The profile a bot runs when none is named. */
    public static final String DEFAULT_PROFILE = "echo";

    private DefaultConfig() {
    }

    /** The built-in configuration, parsed and validated. */
    public static DeiaConfig config() {
        return Json.read(JSON, DeiaConfig.class, "built-in default config");
    }
}
