package io.deia.bench;

import io.deia.core.HiveLayout;
import io.deia.core.config.DeiaConfig;
import io.deia.core.internal.io.Json;
import io.deia.core.project.BotWorktree;
import io.deia.core.project.Git;
import io.deia.core.project.Project;
import io.deia.core.project.ProjectReview;
import io.deia.core.project.TaskDiff;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Figures of bots working on a git repository (issue 21), with the user's own {@code git}:
 *
 * <ul>
 *   <li>{@code worktree_create_ms}: a new bot's worktree of a repository of {@code files} files
 *       ({@link BotWorktree#ensure()}: {@code git worktree add} on a new branch from {@code main}, the
 *       {@code copy_files} globs, the hive excluded), median of {@code runs} bots; target ≤ 2 s for
 *       10,000 files.</li>
 *   <li>{@code task_start_p50_ms} / {@code _p99_ms}: {@link BotWorktree#startTask} on a project bot
 *       (the check for a deleted worktree and stale locks, the commit of anything left, a new branch
 *       from the tip of {@code main} and the switch to it), over {@code tasks} tasks each of which then
 *       commits one file (not timed); target p50 ≤ 150 ms. {@code commit_turn_p50_ms}: that commit.</li>
 *   <li>{@code git_worktree_add_ms}: {@code git worktree add} of the same repository alone, and
 *       {@code git_spawn_p50_ms}: one trivial git command ({@code rev-parse HEAD}); on a loaded machine
 *       these say how much of the figures above is git and process start-up rather than deia.</li>
 *   <li>{@code diff_p50_ms}: {@link ProjectReview#diff} of a task that changed {@code diffFiles}
 *       files, with the JSON the diff endpoint writes; median of 5; target ≤ 1 s for 500 files.</li>
 * </ul>
 *
 * <pre>
 * mvn -B -q -pl deia-bench -am package -DskipTests
 * java -cp "deia-server-example/target/deia-server.jar:deia-bench/target/classes" io.deia.bench.ProjectBenchmark \
 *     [files 10000] [tasks 30] [diffFiles 500] [runs 3] [dir]
 * </pre>
 * The repository, hive and worktrees are made in {@code dir} (default: a new temp folder) and
 * deleted at the end.
 */
public final class ProjectBenchmark {
    private static final Map<String, String> USER = Map.of(
            "GIT_AUTHOR_NAME", "Bench User", "GIT_AUTHOR_EMAIL", "user@bench.invalid",
            "GIT_COMMITTER_NAME", "Bench User", "GIT_COMMITTER_EMAIL", "user@bench.invalid");

    private ProjectBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        // Every git operation logs a line; the figures are the output that matters here.
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        int files = args.length > 0 ? Integer.parseInt(args[0]) : 10_000;
        int tasks = args.length > 1 ? Integer.parseInt(args[1]) : 30;
        int diffFiles = Math.min(files, args.length > 2 ? Integer.parseInt(args[2]) : 500);
        int runs = args.length > 3 ? Integer.parseInt(args[3]) : 3;
        Path work = args.length > 4 ? Files.createTempDirectory(Files.createDirectories(Path.of(args[4])), "project-")
                : Files.createTempDirectory("deia-bench-project-");
        System.out.printf("project benchmark: %d files, %d tasks, a %d-file diff, %d worktrees; %d cores, Java %s, %s; %s%n",
                files, tasks, diffFiles, runs, Runtime.getRuntime().availableProcessors(),
                System.getProperty("java.version"), Git.at(work).run("--version").strip(), work);
        System.out.printf("load average before: %s%n", loadAverage());
        try {
            Path repo = makeRepository(work.resolve("repo"), files);
            HiveLayout hive = new HiveLayout(work.resolve(".deia"));
            Project project = new Project("bench", repo, "main", List.of(".env", "config/local.*"), null);
            project.verify();
            BenchResult result = BenchResult.of("project").put("files", (double) files)
                    .put("diff_files", (double) diffFiles);

            // Each deia worktree is followed by the same checkout by git alone, so both see the same
            // machine: on a loaded one, and with the disk's write-back, git's own work is most of the figure.
            List<Double> creates = new ArrayList<>();
            List<Double> plain = new ArrayList<>();
            for (int i = 0; i < runs; i++) {
                BotWorktree wt = BotWorktree.of(hive, project, "CREATE-" + i);
                long t0 = System.nanoTime();
                wt.ensure();
                creates.add(ms(t0));
                Git.at(repo).run("worktree", "remove", "--force", wt.dir().toString());
                Path alone = work.resolve("plain-" + i);
                long t1 = System.nanoTime();
                Git.at(repo).run("worktree", "add", "--quiet", "-b", "plain-" + i, alone.toString(), "main");
                plain.add(ms(t1));
                Git.at(repo).run("worktree", "remove", "--force", alone.toString());
                System.out.printf("  worktree %d of %d files: deia %.0f ms, git worktree add alone %.0f ms%n", i + 1, files,
                        creates.get(i), plain.get(i));
            }
            result.put("worktree_create_ms", median(creates)).put("git_worktree_add_ms", median(plain));

            BotWorktree bot = BotWorktree.of(hive, project, "TASKS");
            bot.ensure();
            List<Double> starts = new ArrayList<>();
            List<Double> commits = new ArrayList<>();
            for (int i = 0; i < tasks; i++) {
                long t0 = System.nanoTime();
                bot.startTask("T" + i);
                starts.add(ms(t0));
                Files.writeString(bot.dir().resolve("task-" + i + ".txt"), "work of task " + i + "\n");
                long t1 = System.nanoTime();
                bot.commitTurn("task " + i + " (T" + i + ")").orElseThrow();
                commits.add(ms(t1));
            }
            List<Double> spawns = new ArrayList<>();
            for (int i = 0; i < 20; i++) {
                long t0 = System.nanoTime();
                Git.at(bot.dir()).run("rev-parse", "HEAD");
                spawns.add(ms(t0));
            }
            System.out.printf("  startTask: %s%n", summary(starts));
            System.out.printf("  one trivial git (rev-parse HEAD), the unit of these figures: %s%n", summary(spawns));
            result.put("git_spawn_p50_ms", percentile(spawns, 50));
            System.out.printf("  commitTurn of one file: %s%n", summary(commits));
            result.put("task_start_p50_ms", percentile(starts, 50)).put("task_start_p99_ms", percentile(starts, 99))
                    .put("commit_turn_p50_ms", percentile(commits, 50));

            BotWorktree differ = BotWorktree.of(hive, project, "DIFF");
            differ.ensure();
            differ.startTask("D1");
            changeFiles(differ.dir(), diffFiles);
            differ.commitTurn("a change of " + diffFiles + " files (D1)").orElseThrow();
            ProjectReview review = new ProjectReview(hive, DeiaConfig.builder().projects(Map.of("bench", project)).build());
            List<Double> diffs = new ArrayList<>();
            long patchBytes = 0;
            for (int i = 0; i < 5; i++) {
                long t0 = System.nanoTime();
                TaskDiff diff = review.diff("DIFF", "D1");
                patchBytes = Json.write(diff).getBytes(StandardCharsets.UTF_8).length;
                diffs.add(ms(t0));
                if (diff.files().size() != diffFiles) {
                    throw new IllegalStateException("the diff lists " + diff.files().size() + " files, not " + diffFiles);
                }
            }
            System.out.printf("  diff of %d files (%d bytes of JSON): %s%n", diffFiles, patchBytes, summary(diffs));
            result.put("diff_p50_ms", median(diffs));
            System.out.printf("load average after: %s%n", loadAverage());
            result.print();
        } finally {
            deleteTree(work);
        }
    }

    /** A repository of {@code files} files of about 40 lines each, in folders of 100, committed on main. */
    private static Path makeRepository(Path repo, int files) throws IOException {
        Files.createDirectories(repo);
        Git git = Git.at(repo).withEnv(USER);
        git.run("init", "--quiet", "-b", "main");
        StringBuilder body = new StringBuilder();
        for (int line = 0; line < 40; line++) {
            body.append("line ").append(line).append(" of a source file, long enough to look like code;\n");
        }
        for (int i = 0; i < files; i++) {
            Path f = repo.resolve(String.format("src/d%03d/File%05d.java", i / 100, i));
            Files.createDirectories(f.getParent());
            Files.writeString(f, "// file " + i + "\n" + body);
        }
        Files.writeString(repo.resolve(".gitignore"), ".env\nconfig/local.*\n");
        git.run("add", "-A");
        git.run("commit", "--quiet", "-m", "a repository of " + files + " files");
        // the ignored files copy_files brings into every worktree
        Files.writeString(repo.resolve(".env"), "TOKEN=bench\n");
        Files.createDirectories(repo.resolve("config"));
        Files.writeString(repo.resolve("config/local.json"), "{}\n");
        return repo;
    }

    /** Changes {@code count} files of the worktree: two lines edited and three added in each. */
    private static void changeFiles(Path worktree, int count) throws IOException {
        for (int i = 0; i < count; i++) {
            Path f = worktree.resolve(String.format("src/d%03d/File%05d.java", i / 100, i));
            String text = Files.readString(f).replace("line 3 ", "line three ").replace("line 20 ", "line twenty ");
            Files.writeString(f, text + "// added by the task\n// and another line\n// and a third\n");
        }
    }

    private static double ms(long since) {
        return (System.nanoTime() - since) / 1e6;
    }

    private static double median(List<Double> values) {
        return percentile(values, 50);
    }

    /** The nearest-rank percentile. */
    private static double percentile(List<Double> values, int p) {
        List<Double> sorted = new ArrayList<>(values);
        Collections.sort(sorted);
        int rank = (int) Math.ceil(p / 100.0 * sorted.size());
        return sorted.get(Math.max(0, Math.min(sorted.size() - 1, rank - 1)));
    }

    private static String summary(List<Double> values) {
        return String.format("n=%d p50=%.1f ms p99=%.1f ms min=%.1f ms max=%.1f ms", values.size(),
                percentile(values, 50), percentile(values, 99), Collections.min(values), Collections.max(values));
    }

    private static String loadAverage() {
        try {
            return String.join(" ", List.of(Files.readString(Path.of("/proc/loadavg")).split(" ")).subList(0, 3));
        } catch (IOException | RuntimeException e) {
            return "unknown";
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
