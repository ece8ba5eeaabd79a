package io.deia.core.webhook;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * {@code hive/webhooks/dispatcher.lock}: only the {@code serve} holding it delivers the hive's
 * webhooks, so two controllers of one hive do not both send every event. The kernel drops the lock
 * when its holder dies; another dispatcher takes it on its next try.
 */
final class DispatcherLock implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(DispatcherLock.class);

    private final Path file;
    private FileChannel channel;
    private FileLock lock;
    private boolean toldWaiting;

    DispatcherLock(Path file) {
        this.file = file;
    }

    /** True while held; tries to take it when not (logs once that another one holds it). */
    boolean held() {
        if (lock != null) {
            return true;
        }
        try {
            if (channel == null) {
                channel = FileChannel.open(file, java.util.Set.of(StandardOpenOption.CREATE, StandardOpenOption.WRITE),
                        io.deia.core.internal.HiveGuard.fileAttributes());
            }
            lock = channel.tryLock();
        } catch (OverlappingFileLockException e) {
            lock = null;
        } catch (IOException e) {
            log.warn("cannot take the webhook dispatcher lock: {}", e.toString());
        }
        if (lock == null && !toldWaiting) {
            toldWaiting = true;
            log.warn("another serve delivers this hive's webhooks; this one waits until it stops");
        }
        return lock != null;
    }

    @Override
    public void close() {
        try {
            if (lock != null) {
                lock.release();
            }
            if (channel != null) {
                channel.close();
            }
        } catch (IOException e) {
            log.debug("releasing the webhook dispatcher lock: {}", e.toString());
        }
    }
}
