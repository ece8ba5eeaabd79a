package io.deia.http.controller;

import io.deia.core.HiveLayout;
import io.deia.core.HiveToken;
import io.deia.core.agent.Agent;
import io.deia.core.agent.AgentContext;
import io.deia.core.agent.Agents;
import io.deia.core.bot.BotRuntime;
import io.deia.core.config.DeiaConfig;
import io.deia.core.config.Profile;
import io.deia.core.registry.JsonFileServiceRegistry;
import io.deia.http.bot.BotHttpService;

import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;

/**
 * A real bot runner process for the controller tests, wired like the {@code bot} command of the
 * reference server (which lives in a module downstream of this one): the real {@link BotRuntime},
 * {@link BotHttpService}, agent and registry. Arguments are the ones {@code RunnerCommand.currentJvm}
 * passes: {@code bot --id ID --port N --profile NAME --hive DIR --config FILE}.
 */
public final class TestBotRunner {
    private TestBotRunner() {
    }

    public static void main(String[] args) {
        Map<String, String> opts = new HashMap<>();
        for (int i = 1; i + 1 < args.length; i += 2) {
            opts.put(args[i], args[i + 1]);
        }
        String botId = opts.get("--id");
        int port = Integer.parseInt(opts.get("--port"));
        HiveLayout hive = new HiveLayout(Path.of(opts.get("--hive")));
        DeiaConfig config = DeiaConfig.load(Path.of(opts.get("--config")));
        Profile profile = config.requireProfile(opts.get("--profile"));
        Agent agent = Agents.create(new AgentContext(botId, profile, hive, System.getenv()));
        BotRuntime runtime = BotRuntime.builder().botId(botId).profile(profile).config(config).hive(hive)
                .registry(new JsonFileServiceRegistry(hive, config)).agent(agent).port(port).build();
        BotHttpService http = BotHttpService.builder(runtime).token(HiveToken.loadOrCreate(hive)).port(port).stopGrace(Duration.ofSeconds(1)).build().start();
        runtime.start();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> runtime.stop(Duration.ofSeconds(1))));
        runtime.stopped().join();
        http.close();
        System.exit(0);
    }
}
