package io.deia.core.project;

import io.deia.core.HiveLayout;
import io.deia.core.internal.io.AtomicFiles;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * What a new worktree gets besides git's checkout: the project's {@code copy_files} from the user's
 * work tree, and the hive kept out of git's untracked files when it lies inside the repository.
 * A bare repository has neither a work tree to copy from nor files to hide.
 */
final class WorktreeSetup {
    private static final Logger log = LoggerFactory.getLogger(WorktreeSetup.class);

    private final HiveLayout hive;
    private final Project project;
    private final String botId;
    private final Path dir;
    private final Path commonDir;

    private WorktreeSetup(HiveLayout hive, Project project, String botId, Path dir, Path commonDir) {
        this.hive = hive;
        this.project = project;
        this.botId = botId;
        this.dir = dir;
        this.commonDir = commonDir;
    }

    /** The setup of bot {@code botId}'s new worktree {@code dir} of {@code project}. */
    static WorktreeSetup of(HiveLayout hive, Project project, String botId, Path dir, Path commonDir) {
        return new WorktreeSetup(hive, project, botId, dir, commonDir);
    }

    /** Copies the files and updates {@code info/exclude}. */
    void run() throws IOException {
        Git.Result top = Git.at(project.path()).tryRun("rev-parse", "--show-toplevel");
        if (!top.ok() || top.firstLine().isBlank()) {
            return; // a bare repository
        }
        Path repoTop = Path.of(top.firstLine().strip());
        copyFiles(repoTop);
        excludeHive(repoTop);
    }

    /**
     * Copies the ignored files agents need ({@code copy_files} globs) from the main work tree. Only
     * files git ignores in the worktree are copied: anything else would be committed by the next
     * turn, and a {@code .env} the user forgot to ignore must not end up on a branch.
     */
    private void copyFiles(Path source) throws IOException {
        if (project.copyFiles().isEmpty()) {
            return;
        }
        List<String> found = new ArrayList<>();
        for (String glob : project.copyFiles()) {
            CopyGlobs.matches(source, glob, List.of(hive.root(), project.worktreesDir(hive)), found);
        }
        List<String> wanted = found.stream().distinct()
                .filter(rel -> !Files.exists(dir.resolve(rel), LinkOption.NOFOLLOW_LINKS)).toList();
        if (wanted.isEmpty()) {
            return;
        }
        byte[] input = String.join("\0", wanted).concat("\0").getBytes(StandardCharsets.UTF_8);
        Git.Result ignored = Git.at(dir).tryRunWithInput(input, "check-ignore", "-z", "--stdin");
        Set<String> ignoredPaths = new HashSet<>(Arrays.asList(ignored.out().split("\0")));
        for (String rel : wanted) {
            if (!ignoredPaths.contains(rel)) {
                log.warn("[{}] copy_files: {} is not ignored by git, so a turn would commit it; not copied", botId, rel);
                continue;
            }
            Path target = dir.resolve(rel);
            Files.createDirectories(target.getParent());
            Files.copy(source.resolve(rel), target, StandardCopyOption.COPY_ATTRIBUTES);
            log.info("[{}] copied {} into the worktree", botId, rel);
        }
    }

    /** When the hive or the worktrees lie inside the repository, git is told to ignore them. */
    private void excludeHive(Path repoTop) {
        List<String> lines = new ArrayList<>();
        Path hiveRoot = realPath(hive.root());
        for (Path inside : List.of(hiveRoot, realPath(project.worktreesDir(hive)))) {
            Path real = inside;
            boolean coveredByHive = !real.equals(hiveRoot) && real.startsWith(hiveRoot) && hiveRoot.startsWith(repoTop);
            if (real.startsWith(repoTop) && !real.equals(repoTop) && !coveredByHive) {
                lines.add("/" + repoTop.relativize(real).toString().replace('\\', '/') + "/");
            }
        }
        if (lines.isEmpty()) {
            return;
        }
        Path exclude = commonDir.resolve("info").resolve("exclude");
        String text = Files.isRegularFile(exclude) ? AtomicFiles.readString(exclude) : "";
        StringBuilder added = new StringBuilder(text);
        for (String line : lines) {
            if (!text.lines().anyMatch(line::equals)) {
                if (added.length() > 0 && added.charAt(added.length() - 1) != '\n') {
                    added.append('\n');
                }
                added.append(line).append('\n');
            }
        }
        if (added.length() != text.length()) {
            AtomicFiles.writeString(exclude, added.toString());
            log.info("[{}] added {} to {}", botId, lines, exclude);
        }
    }

    /** git names folders by their real path (links resolved); so must the comparisons with them. */
    private static Path realPath(Path p) {
        Path abs = p.toAbsolutePath().normalize();
        try {
            return abs.toRealPath();
        } catch (IOException e) {
            return abs;
        }
    }

}
