package io.deia.core.project;

import java.io.IOException;
import java.nio.file.FileSystems;
import java.nio.file.FileVisitOption;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.EnumSet;
import java.util.List;

/**
 * Finds the files a {@code copy_files} glob names in a work tree, walking only the folders the glob
 * can reach: a repository of ten thousand files is not read in whole to find its {@code .env}.
 * The glob's leading segments without wildcards name the folder to start from; without {@code **}
 * (or braces, which may hold a {@code /}) the walk goes no deeper than the glob's remaining segments.
 */
final class CopyGlobs {
    private CopyGlobs() {
    }

    /**
     * Adds to {@code found} the paths (relative to {@code top}, with {@code /}) of the regular files
     * under {@code top} matching {@code glob}, skipping {@code .git} folders and the folders in {@code skip}.
     */
    static void matches(Path top, String glob, List<Path> skip, List<String> found) throws IOException {
        String[] segments = glob.split("/+");
        int literal = 0;
        while (literal < segments.length - 1 && !hasWildcard(segments[literal])) {
            literal++;
        }
        Path start = top;
        for (int i = 0; i < literal; i++) {
            start = start.resolve(segments[i]);
        }
        if (!hasWildcard(segments[segments.length - 1]) && literal == segments.length - 1) {
            Path file = start.resolve(segments[literal]);
            if (Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS)) {
                found.add(top.relativize(file).toString());
            }
            return;
        }
        if (!Files.isDirectory(start, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        String rest = String.join("/", List.of(segments).subList(literal, segments.length));
        int depth = rest.contains("**") || rest.contains("{") ? Integer.MAX_VALUE : segments.length - literal;
        PathMatcher matcher = FileSystems.getDefault().getPathMatcher("glob:" + glob);
        Path from = start;
        Files.walkFileTree(from, EnumSet.noneOf(FileVisitOption.class), depth, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult preVisitDirectory(Path d, BasicFileAttributes attrs) {
                boolean skipped = !d.equals(from) && (d.getFileName().toString().equals(".git")
                        || skip.stream().anyMatch(d::startsWith));
                return skipped ? FileVisitResult.SKIP_SUBTREE : FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFile(Path f, BasicFileAttributes attrs) {
                Path rel = top.relativize(f);
                if (attrs.isRegularFile() && matcher.matches(rel)) {
                    found.add(rel.toString());
                }
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFileFailed(Path f, IOException e) {
                return FileVisitResult.CONTINUE; // an unreadable folder holds nothing to copy
            }
        });
    }

    private static boolean hasWildcard(String segment) {
        return segment.chars().anyMatch(c -> c == '*' || c == '?' || c == '[' || c == '{' || c == '\\');
    }
}
