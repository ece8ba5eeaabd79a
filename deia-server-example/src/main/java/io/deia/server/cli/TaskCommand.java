package io.deia.server.cli;

import io.deia.core.DeiaException;
import io.deia.core.internal.BotIds;
import io.deia.core.internal.io.AtomicFiles;
import io.deia.core.internal.io.Utf8;
import io.deia.core.registry.BotRecord;
import io.deia.core.registry.JsonFileServiceRegistry;
import io.deia.core.task.FileTaskQueue;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code task submit BOT-ID FILE|-}: hands a task file to a bot's inbox; {@code task diff|merge|discard|restore}
 * review a task's work on a project ({@link TaskReviewCommands}).
 */
@Command(name = "task", mixinStandardHelpOptions = true, description = "Work with bot tasks.",
        subcommands = {TaskCommand.Submit.class, TaskReviewCommands.Diff.class, TaskReviewCommands.Merge.class,
                TaskReviewCommands.Discard.class, TaskReviewCommands.Restore.class})
public final class TaskCommand implements Runnable {
    /** Accepted before the subcommand too ({@code task --hive DIR submit …}). */
    @Mixin
    HiveOptions hiveOptions;

    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        throw new picocli.CommandLine.ParameterException(spec.commandLine(), "a task command is required (submit, diff, merge, discard, restore)");
    }

    /** {@code task submit BOT-ID FILE|-}. */
    @Command(name = "submit", mixinStandardHelpOptions = true,
            description = {"Stage a task file and move it atomically into the bot's inbox; prints the task id.",
                    "The bot must be in the registry (it need not run: it picks the task up when it starts)."})
    public static final class Submit implements Callable<Integer> {
        @Mixin
        HiveOptions hiveOptions;

        @Spec
        CommandSpec spec;

        @ParentCommand
        TaskCommand parent;

        @Parameters(index = "0", paramLabel = "BOT-ID", description = "The bot to give the task to.")
        String botId;

        @Parameters(index = "1", paramLabel = "FILE", description = "The task file (Markdown), or - for stdin.")
        String file;

        @Override
        public Integer call() {
            String markdown;
            if ("-".equals(file)) {
                try {
                    markdown = Utf8.decodeStrict(System.in.readAllBytes(), "standard input");
                } catch (IOException e) {
                    throw new UncheckedIOException("cannot read standard input", e);
                }
            } else {
                // The user's own file, outside the hive: a link they made to it is followed.
                Path path = Path.of(file);
                try {
                    path = path.toRealPath();
                } catch (IOException e) {
                    // missing or unreadable: readString names the file as given
                }
                markdown = AtomicFiles.readString(path);
            }
            var parsed = spec.commandLine().getParseResult();
            HiveOptions hive = parsed.hasMatchedOption("--hive") || parsed.hasMatchedOption("--config")
                    || parent == null ? hiveOptions : parent.hiveOptions;
            requireKnown(hive, botId);
            String taskId = new FileTaskQueue(hive.layout(), hive.config()).submit(botId, markdown);
            spec.commandLine().getOut().println(taskId);
            spec.commandLine().getOut().flush();
            return 0;
        }

        /**
         * A bot the registry does not know would never read its inbox: refused, as the API does
         * (404), naming the bots there are. A known bot need not run (it picks the task up at start).
         */
        private static void requireKnown(HiveOptions hive, String botId) {
            BotIds.requireValid(botId);
            List<String> known = new JsonFileServiceRegistry(hive.layout(), hive.config()).list().stream()
                    .map(BotRecord::botId).toList();
            if (!known.contains(botId)) {
                throw DeiaException.notFound("no bot %s in the registry of %s; known bots: %s", botId,
                        hive.layout().root(), known.isEmpty() ? "none (launch one first)" : String.join(", ", known));
            }
        }
    }
}
