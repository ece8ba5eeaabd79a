package io.deia.core.project;

import io.deia.core.HiveLayout;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Run as its own JVM by {@link GitLockTest}: takes bot {@code args[1]}'s worktree lock in hive
 * {@code args[0]}, creates the file {@code args[2]} to say so, and holds the lock until the file
 * {@code args[3]} exists (or until it is killed).
 */
public final class GitLockHolder {
    private GitLockHolder() {
    }

    public static void main(String[] args) throws Exception {
        HiveLayout hive = new HiveLayout(Path.of(args[0]));
        try (GitLock held = GitLock.worktree(hive, args[1])) {
            Files.writeString(Path.of(args[2]), "held");
            Path release = Path.of(args[3]);
            while (!Files.exists(release)) {
                Thread.sleep(10);
            }
        }
    }
}
