package io.deia.core.launch;

import io.deia.core.DeiaException;
import io.deia.core.internal.launch.BotProbe;
import io.deia.core.internal.process.ProcessTrees;
import io.deia.core.registry.BotRecord;
import io.deia.core.registry.BotState;
import io.deia.core.registry.ServiceRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Stops a bot's runner: {@code POST /stop}, a grace period, then SIGTERM and SIGKILL to every
 * process of the runner's tree (collected before the first signal, plus its process group), and
 * records the bot {@link BotState#STOPPED} (pid 0, port freed, not wanted) so dashboards still show it.
 */
final class RunnerStopper {
    private static final Logger log = LoggerFactory.getLogger(RunnerStopper.class);

    private final ServiceRegistry registry;
    private final BotProbe probe;
    private final Duration stopGrace;
    private final Duration killGrace;

    RunnerStopper(ServiceRegistry registry, BotProbe probe, Duration stopGrace, Duration killGrace) {
        this.registry = registry;
        this.probe = probe;
        this.stopGrace = stopGrace;
        this.killGrace = killGrace;
    }

    /**
     * Stops the bot, under its lock and after its supervision ended ({@code watch}: the runner it
     * supervised, or null when it only knows the registry's entry).
     *
     * @throws DeiaException {@code NOT_FOUND} when the registry has no such bot
     */
    BotRecord stop(String botId, Watch watch) {
        Optional<BotRecord> entry = registry.get(botId);
        if (entry.isEmpty() && watch == null) {
            throw DeiaException.notFound("no bot %s in the registry", botId);
        }
        ProcessHandle runner = watch != null && watch.handle != null ? watch.handle
                : entry.filter(r -> ProcessTrees.isSameProcessAlive(r.pid(), r.processStart()))
                .flatMap(r -> ProcessHandle.of(r.pid())).orElse(null);
        Integer exitCode = null;
        if (runner != null && ProcessTrees.isRunning(runner)) {
            exitCode = endRunner(botId, runner, watch == null ? null : watch.process, entry.orElse(null));
        }
        Integer code = exitCode;
        BotRecord last = entry.orElseGet(() -> watch.lastRecord);
        BotRecord stopped = last.toBuilder().state(BotState.STOPPED).pid(0).processStart(null).wanted(false)
                .lastExitCode(code != null ? code : last.lastExitCode()).build();
        BotRecord stored = registry.update(botId, r -> r.toBuilder().state(BotState.STOPPED).pid(0).wanted(false)
                        .processStart(null).lastExitCode(code != null ? code : r.lastExitCode()).build())
                // The runner deregisters itself on a graceful stop: keep a record that it stopped.
                .orElseGet(() -> registry.register(stopped));
        log.info("[{}] stopped (exit code {})", botId, code);
        return stored;
    }

    /**
     * Ends a runner and its whole tree: {@code POST /stop}, up to {@link #stopGrace} for it to
     * exit, then SIGTERM/SIGKILL to every process seen in its tree or process group.
     *
     * @return the exit code when the runner is this JVM's child, else null
     */
    private Integer endRunner(String botId, ProcessHandle runner, Process child, BotRecord entry) {
        // Collected before any signal: once the runner is gone its children are re-parented and
        // no longer show up as its descendants.
        Set<ProcessHandle> members = new LinkedHashSet<>(ProcessTrees.tree(runner));
        int status = entry == null ? -1 : probe.requestStop(entry.host(), entry.port());
        log.info("[{}] stopping pid {} ({} processes in its tree; POST /stop answered {})", botId, runner.pid(),
                members.size(), status);
        if (status >= 200 && status < 300) {
            awaitExit(runner, stopGrace);
        }
        members.addAll(ProcessTrees.tree(runner));
        members.addAll(ProcessTrees.processGroup(runner.pid()));
        List<ProcessHandle> left = members.stream().filter(ProcessTrees::isRunning).toList();
        if (!left.isEmpty()) {
            log.info("[{}] {} processes left after the graceful stop; sending SIGTERM", botId, left.size());
            signalAll(botId, left);
        }
        if (child != null) {
            awaitExit(child, Duration.ofSeconds(5));
            return child.isAlive() ? null : child.exitValue();
        }
        return null;
    }

    /**
     * SIGTERM to every member at once (one by one would let the runner wait for a turn whose
     * processes have not been told yet), {@link #killGrace} for all, then SIGKILL to what is left
     * and to anything those forked meanwhile.
     */
    private void signalAll(String botId, List<ProcessHandle> members) {
        members.forEach(ProcessHandle::destroy);
        long deadline = System.nanoTime() + killGrace.toNanos();
        for (ProcessHandle h : members) {
            long left = deadline - System.nanoTime();
            if (left > 0 && ProcessTrees.isRunning(h)) {
                awaitExit(h, Duration.ofNanos(left));
            }
        }
        for (ProcessHandle h : members) {
            if (ProcessTrees.isRunning(h)) {
                log.info("[{}] pid {} ignored SIGTERM for {} ms; sending SIGKILL", botId, h.pid(), killGrace.toMillis());
                if (!ProcessTrees.kill(h)) {
                    log.warn("[{}] pid {} survived SIGKILL", botId, h.pid());
                }
            }
        }
    }

    /**
     * Waits until the process has ended or is a zombie. onExit() of a non-child polls slowly and
     * counts zombies as alive (orphans wait for pid 1 to reap them), so it is checked every 20 ms.
     */
    private static void awaitExit(ProcessHandle handle, Duration limit) {
        long deadline = System.nanoTime() + limit.toNanos();
        while (ProcessTrees.isRunning(handle)) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                return;
            }
            try {
                handle.onExit().get(Math.min(left, TimeUnit.MILLISECONDS.toNanos(20)), TimeUnit.NANOSECONDS);
            } catch (TimeoutException | ExecutionException e) {
                // look again
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    /** Waits up to {@code limit} for a child to exit. */
    static void awaitExit(Process process, Duration limit) {
        try {
            process.waitFor(limit.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
