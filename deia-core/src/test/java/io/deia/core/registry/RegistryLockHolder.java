package io.deia.core.registry;

import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * A second process for {@link RegistryCombiningTest}: holds the registry's OS lock, the way a writer
 * in the middle of its write does, until told to let go. Arguments: the lock file, a folder for the
 * signal files ({@code locked} written once the lock is held; exits when {@code release} appears).
 */
public final class RegistryLockHolder {
    private RegistryLockHolder() {
    }

    public static void main(String[] args) throws Exception {
        Path lockFile = Path.of(args[0]);
        Path signals = Path.of(args[1]);
        try (FileChannel ch = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
             FileLock held = ch.lock()) {
            Files.writeString(signals.resolve("locked"), "locked");
            while (!Files.exists(signals.resolve("release"))) {
                Thread.sleep(2);
            }
        }
    }
}
