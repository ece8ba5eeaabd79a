package io.deia.core.bot;

import io.deia.core.HiveLayout;
import io.deia.core.agent.AgentContext;
import io.deia.core.agent.Agents;
import io.deia.core.config.AgentType;
import io.deia.core.config.DeiaConfig;
import io.deia.core.config.Profile;
import io.deia.core.project.BotWorktree;
import io.deia.core.project.Project;
import io.deia.core.registry.BotRecord;
import io.deia.core.registry.JsonFileServiceRegistry;
import io.deia.core.testkit.GitRepos;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/**
 * A bot's own registry entry names its project: a runner that registers itself (started by hand, or
 * whose entry was lost and is written again by its heartbeat) keeps the project, so a later restart
 * by a launcher still starts it on its worktree.
 */
class ProjectPresenceTest {
    @TempDir
    Path dir;

    private final List<BotRuntime> runtimes = new ArrayList<>();

    @AfterEach
    void stopAll() {
        runtimes.forEach(BotRuntime::close);
    }

    private BotRuntime start(HiveLayout hive, DeiaConfig config, JsonFileServiceRegistry registry, String botId,
                             BotWorktree worktree) {
        Profile echo = config.requireProfile("echo");
        BotRuntime bot = BotRuntime.builder().botId(botId).profile(echo).config(config).hive(hive).registry(registry)
                .agent(Agents.create(new AgentContext(botId, echo, hive, System.getenv(),
                        worktree == null ? null : worktree.dir())))
                .worktree(worktree).port(25190 + runtimes.size()).build();
        runtimes.add(bot);
        return bot.start();
    }

    @Test
    void aBotsOwnRegistrationNamesItsProjectAndAHeartbeatThatWritesItAgainKeepsIt() throws Exception {
        Path repo = GitRepos.init(dir.resolve("repo"));
        HiveLayout hive = new HiveLayout(dir.resolve("hive"));
        Project shop = new Project("shop", repo, "main", List.of(), null);
        DeiaConfig config = DeiaConfig.builder().heartbeatIntervalS(1).heartbeatTtlS(30)
                .profiles(Map.of("echo", Profile.builder(AgentType.COMMAND).executable("/bin/cat").build()))
                .projects(Map.of("shop", shop)).build();
        JsonFileServiceRegistry registry = new JsonFileServiceRegistry(hive, config);
        BotWorktree worktree = BotWorktree.of(hive, shop, "BOT-P");
        worktree.ensure();

        start(hive, config, registry, "BOT-P", worktree);
        start(hive, config, registry, "BOT-N", null);
        assertEquals("shop", registry.get("BOT-P").orElseThrow().project(), "registered by the bot itself");
        assertNull(registry.get("BOT-N").orElseThrow().project());

        // The entry is lost (a registry restored from a backup, a hand edit): the heartbeat writes it again.
        registry.deregister("BOT-P");
        BotRecord again = await().atMost(Duration.ofSeconds(10)).until(() -> registry.get("BOT-P").orElse(null),
                r -> r != null);
        assertEquals("shop", again.project());
    }
}
