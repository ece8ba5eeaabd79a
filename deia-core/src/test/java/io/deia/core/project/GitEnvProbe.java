package io.deia.core.project;

import java.nio.file.Path;

/**
 * Run as its own JVM by {@link GitTest} with git variables in its environment: prints the git folder
 * deia's {@link Git} finds in the folder named by its argument, and the author git would record.
 */
public final class GitEnvProbe {
    private GitEnvProbe() {
    }

    public static void main(String[] args) {
        Git git = Git.at(Path.of(args[0]));
        System.out.println(git.run("rev-parse", "--absolute-git-dir").strip());
        System.out.println(git.run("var", "GIT_AUTHOR_IDENT").strip());
    }
}
