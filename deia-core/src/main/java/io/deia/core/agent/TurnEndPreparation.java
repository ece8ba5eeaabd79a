package io.deia.core.agent;

import io.deia.core.process.ProcessTrees;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Gets the end of a turn ready while the first turn's process works, once per JVM, on a background
 * thread: the resident signalling shell (the group kill that ends every turn goes through it) and the
 * classes that only a turn's end and the retry path use.
 *
 * <p>Why: both are otherwise loaded the first time a turn ends. In a bot runner that was just
 * (re)started, that first end is typically the crash of its agent, so the cost fell between the
 * agent's exit and the start of its retry: measured with {@code -Xlog:class+load} and {@code perf}
 * on the first crash in a fresh runner, a program start for the shell plus class loading, ~10-20 ms
 * on this 2-core machine, against ~3 ms for a later crash.
 */
final class TurnEndPreparation {
    private static final Logger log = LoggerFactory.getLogger(TurnEndPreparation.class);
    /** Classes that the end of a turn needs and nothing before it loads (found with {@code -Xlog:class+load}). */
    static final List<String> CLASSES = List.of(
            "io.deia.core.agent.TurnOutput$TurnEnd", "io.deia.core.agent.TurnStatus", "io.deia.core.agent.AgentEvent$Result",
            "io.deia.core.task.TaskEvent");
    private static final AtomicBoolean STARTED = new AtomicBoolean();

    private TurnEndPreparation() {
    }

    /** Starts {@link #run} on a daemon thread the first time it is called in this JVM; returns at once. */
    static void startOnce() {
        if (STARTED.compareAndSet(false, true)) {
            Thread t = new Thread(TurnEndPreparation::run, "deia-turn-end-prepare");
            t.setDaemon(true);
            t.start();
        }
    }

    /**
     * Loads and initializes {@link #CLASSES}, runs the standby's line building once, and starts the
     * signalling shell, on the calling thread.
     *
     * @return true when every class loaded, the line was built and the shell answered
     */
    static boolean run() {
        boolean ok = true;
        ClassLoader loader = TurnEndPreparation.class.getClassLoader();
        for (String name : CLASSES) {
            try {
                Class.forName(name, true, loader);
            } catch (ClassNotFoundException | LinkageError e) {
                log.debug("cannot load {} ahead of use: {}", name, e.toString());
                ok = false;
            }
        }
        // The code that hands a retry to the standby, run once on made-up input (it has no side
        // effects): the first retry in a runner otherwise resolves it in the interpreter between the
        // crash and the retry (measured ~0.2-0.3 ms there).
        String line = AgentStandby.execLine(List.of(AgentStandby.SHELL, "it's", "a\nb"), Path.of("/"), Map.of("PWD", "/"), false, 1);
        ok &= line != null && Files.isExecutable(Path.of(AgentStandby.SHELL)) && Files.isDirectory(Path.of("/"));
        return ProcessTrees.prepareSignals() && ok;
    }
}
