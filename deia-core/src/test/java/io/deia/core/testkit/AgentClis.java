package io.deia.core.testkit;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Finds the real agent CLIs the build installs with npm into {@code <repo root>/agent-clis}
 * (see {@code scripts/test.sh}): walks up from {@code user.dir} to the folder holding
 * {@code agent-clis/}.
 */
public final class AgentClis {
    private AgentClis() {
    }

    /** The repository root (the folder that contains {@code agent-clis/}). */
    public static Path repoRoot() {
        Path dir = Path.of(System.getProperty("user.dir")).toAbsolutePath();
        for (Path d = dir; d != null; d = d.getParent()) {
            if (Files.isDirectory(d.resolve("agent-clis"))) {
                return d;
            }
        }
        throw new IllegalStateException("no agent-clis/ folder above " + dir);
    }

    /** {@code agent-clis/node_modules/.bin/<name>}; fails with the install hint when it is missing. */
    public static Path cli(String name) {
        Path exe = repoRoot().resolve("agent-clis/node_modules/.bin").resolve(name);
        if (!Files.isExecutable(exe)) {
            throw new IllegalStateException(exe + " is missing: run scripts/test.sh, or npm install --prefix agent-clis");
        }
        return exe;
    }

    public static Path claude() {
        return cli("claude");
    }

    public static Path codex() {
        return cli("codex");
    }

    public static Path gemini() {
        return cli("gemini");
    }
}
