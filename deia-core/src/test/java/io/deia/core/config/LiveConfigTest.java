package io.deia.core.config;

import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;
import io.deia.core.HiveLayout;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LiveConfigTest {
    @TempDir
    Path dir;

    private Path write(String json) throws Exception {
        Path file = dir.resolve("deia.json");
        Files.writeString(file, json);
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
        return file;
    }

    @Test
    void publishesAtStartAndAgainOnAGoodReload() throws Exception {
        HiveLayout hive = new HiveLayout(dir.resolve(".deia"));
        Files.createDirectories(hive.hiveDir());
        Path file = write("{\"max_concurrent_turns\": 2}");
        LiveConfig live = new LiveConfig(hive, file, DeiaConfig.load(file));
        assertEquals(2, live.publish().maxConcurrentTurns());
        assertEquals(2, HiveSettings.read(hive).orElseThrow().maxConcurrentTurns());
        write("{\"max_concurrent_turns\": 5}");
        assertEquals(5, live.reload().maxConcurrentTurns());
        assertEquals(5, live.get().maxConcurrentTurns());
        assertEquals(5, HiveSettings.read(hive).orElseThrow().maxConcurrentTurns());
        assertEquals(file, live.file());
    }

    @Test
    void aBadFileChangesNothing() throws Exception {
        HiveLayout hive = new HiveLayout(dir.resolve(".deia"));
        Files.createDirectories(hive.hiveDir());
        Path file = write("{\"max_concurrent_turns\": 2}");
        DeiaConfig initial = DeiaConfig.load(file);
        LiveConfig live = new LiveConfig(hive, file, initial);
        live.publish();
        String published = Files.readString(hive.settingsFile());
        write("{\"max_concurrent_turns\": -1}");
        DeiaException e = assertThrows(DeiaException.class, live::reload);
        assertEquals(ErrorCode.UNPROCESSABLE, e.code());
        assertTrue(e.getMessage().contains(file.toString()) && e.getMessage().contains("max_concurrent_turns"), e.getMessage());
        assertSame(initial, live.get());
        assertEquals(published, Files.readString(hive.settingsFile()), "nothing published");
    }

    @Test
    void withoutAFileThereIsNothingToReload() {
        LiveConfig live = new LiveConfig(new HiveLayout(dir.resolve(".deia")), null, DeiaConfig.builder().build());
        DeiaException e = assertThrows(DeiaException.class, live::reload);
        assertEquals(ErrorCode.UNPROCESSABLE, e.code());
        assertTrue(e.getMessage().contains("no config file"), e.getMessage());
    }
}
