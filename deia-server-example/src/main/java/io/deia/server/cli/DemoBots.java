package io.deia.server.cli;

import io.deia.core.DeiaException;
import io.deia.core.config.DeiaConfig;
import io.deia.core.launch.BotLauncher;
import io.deia.core.registry.BotRecord;
import io.deia.core.registry.ServiceRegistry;
import io.deia.core.task.TaskQueue;
import io.deia.server.DefaultConfig;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.PrintStream;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What {@code serve --demo} adds: two bots on the offline demo profile, each given a sample task,
 * so a new user sees live bots and finished work in the dashboard without an API key. Bots that a
 * previous {@code serve} left running are adopted, not launched twice.
 */
final class DemoBots {
    static final String BOT_1 = "BOT-001";
    static final String BOT_2 = "BOT-002";

    private static final Logger log = LoggerFactory.getLogger(DemoBots.class);

    private final BotLauncher launcher;
    private final ServiceRegistry registry;
    private final TaskQueue tasks;
    private final DeiaConfig config;

    DemoBots(BotLauncher launcher, ServiceRegistry registry, TaskQueue tasks, DeiaConfig config) {
        this.launcher = launcher;
        this.registry = registry;
        this.tasks = tasks;
        this.config = config;
    }

    /** Launches the bots that are not running yet, submits one sample task to each, and says so on {@code out}. */
    void start(PrintStream out) {
        config.profile(DefaultConfig.DEMO_PROFILE).orElseThrow(() -> DeiaException.unprocessable(
                "--demo needs a profile named '%s' in the config; configured profiles: %s",
                DefaultConfig.DEMO_PROFILE, config.profiles().keySet()));
        Map<String, String> toLaunch = new LinkedHashMap<>();
        for (String bot : List.of(BOT_1, BOT_2)) {
            boolean running = registry.get(bot).map(r -> r.state().isLive() && r.pid() > 0).orElse(false);
            if (running) {
                out.println("demo: " + bot + " is already running; adopted");
            } else {
                toLaunch.put(bot, DefaultConfig.DEMO_PROFILE);
            }
        }
        for (BotRecord r : launcher.launchAll(toLaunch)) {
            out.println("demo: launched " + r.botId() + " (pid " + r.pid() + ", port " + r.port() + ")");
        }
        submit(out, BOT_1, "Summarise what a hive of coding-agent bots is for, in one sentence.");
        submit(out, BOT_2, "write hello.txt: Hello from the deia demo. This file was written by BOT-002's agent.");
    }

    private void submit(PrintStream out, String bot, String prompt) {
        String markdown = "---\nfrom: deia-demo\npriority: P1\n---\n" + prompt + "\n";
        String taskId = tasks.submit(bot, markdown);
        log.info("[{}] demo task {} submitted", bot, taskId);
        out.println("demo: task " + taskId + " submitted to " + bot);
    }
}
