package io.deia.core.bot;

import io.deia.core.HiveLayout;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Tells a bot runner that its hive folder was deleted, so that it stops instead of running on
 * with nobody able to reach it. The folder's identity (its file key: device and inode) is taken at
 * start and compared every heartbeat interval: a folder that is missing or is another folder (the
 * runner's own registry writes recreate {@code .deia/hive} after a deletion) for {@code misses}
 * looks in a row is gone. A check, not a watch service: a deleted root cannot be watched.
 */
public final class HiveFolderWatch implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(HiveFolderWatch.class);

    private final String botId;
    private final Path root;
    private final Object identity;
    private final int misses;
    private final Runnable onGone;
    private final ScheduledExecutorService timer;
    private int missed;

    private HiveFolderWatch(String botId, HiveLayout hive, Duration every, int misses, Runnable onGone) throws IOException {
        this.botId = botId;
        this.root = hive.root().toAbsolutePath();
        this.identity = identity(root);
        this.misses = misses;
        this.onGone = Objects.requireNonNull(onGone, "onGone");
        this.timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "deia-hive-watch-" + botId);
            t.setDaemon(true);
            return t;
        });
        timer.scheduleWithFixedDelay(this::look, every.toMillis(), every.toMillis(), TimeUnit.MILLISECONDS);
    }

    /**
     * Starts looking at {@code hive}'s root folder every {@code every}; {@code onGone} runs once,
     * on the watch's thread, after {@code misses} looks in a row found it deleted or replaced.
     *
     * @throws IOException when the folder cannot be read now
     */
    public static HiveFolderWatch start(String botId, HiveLayout hive, Duration every, int misses, Runnable onGone)
            throws IOException {
        if (misses < 1 || every.isNegative() || every.isZero()) {
            throw new IllegalArgumentException("misses must be >= 1 and every > 0");
        }
        return new HiveFolderWatch(botId, hive, every, misses, onGone);
    }

    private static Object identity(Path dir) throws IOException {
        BasicFileAttributes a = Files.readAttributes(dir, BasicFileAttributes.class);
        // Without a file key (some file systems) only a missing folder is noticed.
        return a.fileKey() != null ? a.fileKey() : dir;
    }

    private void look() {
        Object now;
        try {
            now = identity(root);
        } catch (IOException e) {
            now = null;
        }
        if (identity.equals(now)) {
            missed = 0;
            return;
        }
        missed++;
        if (missed < misses) {
            log.warn("[{}] hive folder {} is {} ({} of {} looks before stopping)", botId, root,
                    now == null ? "missing" : "a different folder now", missed, misses);
            return;
        }
        log.error("[{}] hive folder {} was deleted: stopping this runner (nobody can reach it through that hive any more)",
                botId, root);
        timer.shutdown();
        onGone.run();
    }

    @Override
    public void close() {
        timer.shutdownNow();
    }
}
