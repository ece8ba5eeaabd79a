package io.deia.server.cli;

import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;
import io.deia.server.DefaultConfig;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BotArgvTest {
    @Test
    void readsTheLaunchersCommandLine() {
        BotCommand bot = BotArgv.parse("bot", "--id", "BOT-001", "--port", "8101", "--profile", "claude",
                "--hive", "/tmp/h/.deia", "--config", "/tmp/h/deia.json", "--stop-grace", "7").orElseThrow();
        assertEquals("BOT-001", bot.botId);
        assertEquals(8101, bot.port);
        assertEquals("claude", bot.profileName);
        assertEquals(7, bot.stopGraceS);
        assertEquals(Path.of("/tmp/h/.deia"), bot.hiveOptions.hive);
        assertEquals(Path.of("/tmp/h/deia.json"), bot.hiveOptions.config);
    }

    @Test
    void takesEqualsFormsAndPicocliDefaults() {
        BotCommand bot = BotArgv.parse("bot", "--port=65535", "--id=BOT-2").orElseThrow();
        assertEquals("BOT-2", bot.botId);
        assertEquals(65535, bot.port);
        assertEquals(DefaultConfig.DEFAULT_PROFILE, bot.profileName);
        assertEquals(5, bot.stopGraceS);
        assertEquals(Path.of(HiveOptions.DEFAULT_HIVE), bot.hiveOptions.hive);
        assertNull(bot.hiveOptions.config);
    }

    @Test
    void leavesEverythingElseToPicocli() {
        String[][] others = {
                {}, {"serve"}, {"bot"}, {"bot", "--help"}, {"bot", "-h"}, {"bot", "--version"},
                {"bot", "--id", "BOT-1"}, {"bot", "--port", "8101"}, {"bot", "--id", "BOT-1", "--port"},
                {"bot", "--id", "BOT-1", "--port", "8101", "--unknown", "x"},
                {"bot", "--id", "BOT-1", "--id", "BOT-2", "--port", "8101"},
                {"bot", "--id", "BOT-1", "--port", "0"}, {"bot", "--id", "BOT-1", "--port", "65536"},
                {"bot", "--id", "BOT-1", "--port", "notanumber"}, {"bot", "--id", "BOT-1", "--port", "+8101"},
                {"bot", "--id", "BOT-1", "--port", "12345678901"},
                {"bot", "--id", "--port", "8101"}, {"bot", "--id=", "--port", "8101"},
                {"bot", "--id", "BOT-1", "--port", "8101", "--stop-grace", "-1"},
                {"bot", "--id", "BOT-1", "--port", "8101", "--hive", "@args.txt"},
                {"bot", "@args.txt"}, {"bot", "--id", "BOT-1", "--port", "8101", "extra"},
        };
        for (String[] args : others) {
            assertEquals(Optional.empty(), BotArgv.parse(args).map(b -> b.botId), String.join(" ", args));
        }
    }

    @Test
    void aPortOutOfRangeWithoutPicocliIsBadUsage() {
        BotCommand bot = BotArgv.parse("bot", "--id", "BOT-1", "--port", "8101").orElseThrow();
        bot.port = 0;
        DeiaException e = assertThrows(DeiaException.class, bot::call);
        assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
    }

    @Test
    void aBadIdIsLeftToTheCommandWhichRejectsIt() {
        assertTrue(BotArgv.parse("bot", "--id", "../escape", "--port", "8101").isPresent());
    }
}
