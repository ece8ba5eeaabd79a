package io.deia.core.task;

import io.deia.core.io.GroupCommit;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * Makes a batch of claims durable on a background thread, so a {@link TaskQueueMonitor}'s worker
 * can claim its next tasks and run the current one while their folder fsyncs are under way: the
 * fsyncs then overlap the agent's turn instead of preceding the next task's. The worker still waits
 * for a batch's {@link CompletableFuture} before it runs any task of that batch, so no task starts
 * before its claim is durable.
 *
 * <p>The thread exists only while there is work: it ends after {@value #IDLE_SECONDS} s without a
 * batch, so an idle bot holds no extra thread. Batches are committed one at a time, in order.
 */
final class ClaimCommits implements AutoCloseable {
    /** Seconds the thread stays after its last batch. */
    static final long IDLE_SECONDS = 2;

    private final ThreadPoolExecutor executor;

    /** @param botId names the thread */
    ClaimCommits(String botId) {
        executor = new ThreadPoolExecutor(1, 1, IDLE_SECONDS, TimeUnit.SECONDS, new LinkedBlockingQueue<>(), r -> {
            Thread t = new Thread(r, "deia-task-claim-sync-" + botId);
            t.setDaemon(true);
            return t;
        });
        executor.allowCoreThreadTimeOut(true);
    }

    /**
     * Commits {@code batch} in the background. The caller must not touch the batch afterwards.
     *
     * @return completes when every claim of the batch is durable, or exceptionally with the
     * {@link java.io.IOException} of the fsync that failed (then none of the batch may be taken as
     * durable); after {@link #close()} the batch is committed on the calling thread instead
     */
    CompletableFuture<Void> commit(GroupCommit batch) {
        CompletableFuture<Void> durable = new CompletableFuture<>();
        Runnable job = () -> {
            try {
                batch.commit();
                durable.complete(null);
            } catch (Exception e) {
                durable.completeExceptionally(e);
            }
        };
        try {
            executor.execute(job);
        } catch (RejectedExecutionException e) {
            job.run();
        }
        return durable;
    }

    /** Lets the batches already handed over finish, then ends the thread. */
    @Override
    public void close() {
        executor.shutdown();
        boolean interrupted = false;
        while (true) {
            try {
                if (executor.awaitTermination(1, TimeUnit.MINUTES)) {
                    break;
                }
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }
}
