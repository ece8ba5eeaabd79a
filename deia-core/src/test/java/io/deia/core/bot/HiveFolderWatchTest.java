package io.deia.core.bot;

import io.deia.core.HiveLayout;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A runner's check that its hive folder still is the folder it started in. */
class HiveFolderWatchTest {
    @TempDir
    Path dir;

    @Test
    void aDeletedHiveIsReportedOnceAfterTheGivenMisses() throws Exception {
        HiveLayout hive = new HiveLayout(Files.createDirectories(dir.resolve(".deia")));
        CountDownLatch gone = new CountDownLatch(1);
        AtomicInteger calls = new AtomicInteger();
        try (HiveFolderWatch watch = HiveFolderWatch.start("BOT-1", hive, Duration.ofMillis(20), 2, () -> {
            calls.incrementAndGet();
            gone.countDown();
        })) {
            Files.delete(hive.root());
            assertTrue(gone.await(10, TimeUnit.SECONDS), "noticed");
            assertEquals(1, calls.get());
        }
    }

    @Test
    void aHiveDeletedAndMadeAgainIsAnotherFolder() throws Exception {
        HiveLayout hive = new HiveLayout(Files.createDirectories(dir.resolve(".deia")));
        CountDownLatch gone = new CountDownLatch(1);
        try (HiveFolderWatch watch = HiveFolderWatch.start("BOT-1", hive, Duration.ofMillis(20), 2, gone::countDown)) {
            // What the runner's own registry writes do after an rm -rf: the path exists again.
            Path keep = Files.createDirectories(dir.resolve("keep"));
            Files.move(hive.root(), keep.resolve("old"));
            Files.createDirectories(hive.hiveDir());
            assertTrue(gone.await(10, TimeUnit.SECONDS), "a new folder at the same path is not the hive");
        }
    }

    @Test
    void badArgumentsAndAMissingHiveAreRefused() throws Exception {
        HiveLayout hive = new HiveLayout(Files.createDirectories(dir.resolve(".deia")));
        assertThrows(IllegalArgumentException.class, () -> HiveFolderWatch.start("BOT-1", hive, Duration.ZERO, 1, () -> { }));
        assertThrows(IllegalArgumentException.class, () -> HiveFolderWatch.start("BOT-1", hive, Duration.ofSeconds(1), 0, () -> { }));
        assertThrows(java.io.IOException.class, () -> HiveFolderWatch.start("BOT-1", new HiveLayout(dir.resolve("none")),
                Duration.ofSeconds(1), 1, () -> { }));
    }
}
