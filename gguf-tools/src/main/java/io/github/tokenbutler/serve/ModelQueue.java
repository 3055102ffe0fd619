package io.github.tokenbutler.serve;

import io.github.tokenbutler.runtime.Llama3.Completion;
import io.github.tokenbutler.runtime.Llama3.GenerationParams;
import io.github.tokenbutler.runtime.Llama3.UserError;

import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * The one line in front of the model: requests wait here and run one at a time on a single worker thread, because
 * a model holds one sequence's state and its matmuls already use every core. At most {@code capacity} wait; one
 * more is refused with 503 and a Retry-After from the recent time per request, instead of making clients wait
 * without end.
 */
final class ModelQueue {
    /**
     * What a job reports, in this order: started, text (0 or more), then done or failed. On the worker thread, except
     * a failed for a job that never ran (withdrawn, or refused by close), which comes on the thread that ended it.
     */
    interface Listener {
        void started();
        void text(String piece);
        void done(Completion completion);
        void failed(ApiError error);

        /**
         * One of the calls above threw, so the answer is half written or not at all: give up on its connection (close
         * it) and count the request as answered, or the connection would wait for an answer that never comes.
         */
        void abort(Throwable cause);
    }

    /** One request in the queue or on the model. */
    static final class Job {
        final GenerationRequest request;
        final Listener listener;
        private volatile boolean cancelled;

        Job(GenerationRequest request, Listener listener) {
            this.request = request;
            this.listener = listener;
        }

        /** Ends the job after its current token (or before it starts): the client went away, or the server stops. */
        void cancel() { cancelled = true; }

        boolean cancelled() { return cancelled; }
    }

    private static final Job STOP = new Job(null, null);

    private final TextModel model;
    private final BlockingQueue<Job> waiting;
    private final int capacity;
    private final Consumer<String> log;
    private final Thread worker;
    private volatile Job running;
    private volatile boolean closed;
    /** Recent seconds per job, smoothed, for Retry-After. */
    private volatile double secondsPerJob = 1;

    ModelQueue(TextModel model, int capacity, Consumer<String> log) {
        this.model = model;
        this.capacity = capacity;
        this.waiting = new ArrayBlockingQueue<>(capacity + 1); // + 1: room for STOP even when full
        this.log = log;
        this.worker = Thread.ofPlatform().name("serve-model").daemon(true).unstarted(this::work);
        worker.start();
    }

    /** Queues a job, or refuses it with 503 when {@code capacity} wait already (or the server is stopping). */
    void submit(Job job) {
        // offer() alone would let the spare slot kept for STOP take one request too many; the lock also keeps a job
        // from slipping in behind STOP while close() drains.
        synchronized (waiting) {
            if (closed) throw ApiError.server(503, "shutting_down", "the server is shutting down");
            if (waiting.size() >= capacity || !waiting.offer(job)) {
                int retry = (int) Math.max(1, Math.min(60, Math.ceil(secondsPerJob * (waiting.size() + 1))));
                throw new ApiError(503, "server_error", "the server is busy: " + waiting.size() + " requests are waiting for the model"
                        + " (at most " + capacity + "); retry after " + retry + " s", null, "queue_full", retry);
            }
        }
    }

    /**
     * Takes a job out of the line when its client left while it waited, so that it frees its place now rather than
     * when the worker reaches it; the job then fails (503 cancelled) here. False when it was not waiting: already
     * running, done, or never queued.
     */
    boolean withdraw(Job job) {
        job.cancel();
        boolean removed;
        synchronized (waiting) {
            removed = waiting.remove(job);
        }
        if (removed) report(job, l -> l.failed(ApiError.server(503, "cancelled", "the request was cancelled before it ran")));
        return removed;
    }

    int waitingCount() { return waiting.size(); }

    int capacity() { return capacity; }

    boolean busy() { return running != null; }

    private void work() {
        while (true) {
            Job job;
            try {
                job = waiting.take();
            } catch (InterruptedException e) {
                return;
            }
            if (job == STOP) return;
            // close() may have drained the line just after this job left it, and not seen it running yet.
            if (closed) {
                report(job, l -> l.failed(ApiError.server(503, "shutting_down", "the server is shutting down")));
                continue;
            }
            if (job.cancelled()) { // its client left while it waited: nothing to generate, but the answer is settled
                report(job, l -> l.failed(ApiError.server(503, "cancelled", "the request was cancelled before it ran")));
                continue;
            }
            running = job;
            long t0 = System.nanoTime();
            try {
                run(job);
            } catch (RuntimeException | Error e) {
                abort(job, e);
            } finally {
                running = null;
                double seconds = (System.nanoTime() - t0) / 1e9;
                secondsPerJob = 0.8 * secondsPerJob + 0.2 * seconds;
            }
        }
    }

    private void run(Job job) {
        GenerationRequest r = job.request;
        long seed = r.seed() != null ? r.seed() : System.nanoTime();
        // closed too, not only the job's flag: close() cancels what it sees running, which may miss a job just taken.
        GenerationParams params = new GenerationParams(r.maxTokens(), r.temperature(), r.topP(), seed, 1f, 64, r.stop(),
                () -> job.cancelled() || closed);
        Completion c;
        try {
            job.listener.started();
            c = model.generate(r, params, piece -> {
                if (!piece.isEmpty()) job.listener.text(piece);
            });
        } catch (ApiError e) {
            job.listener.failed(e);
            return;
        } catch (UserError e) {
            // The request was checked before it queued, so what is left is the model's (non-finite logits and the like).
            log.accept("generation failed: " + e.getMessage());
            job.listener.failed(ApiError.server(500, "generation_failed", "generation failed: " + e.getMessage()));
            return;
        } catch (RuntimeException | Error e) {
            // Whatever it was, the worker goes on: one bad generation must not leave every later request waiting.
            log.accept("generation failed (internal error): " + e);
            // The cause stays in the log: class names and internals are nothing a client can act on, nor should see.
            job.listener.failed(ApiError.server(500, "internal_error", "internal error during the generation; the server's log has the cause"));
            return;
        }
        job.listener.done(c);
    }

    /** Runs one report of a job's listener; if it throws, the job's connection is given up rather than left waiting. */
    private void report(Job job, Consumer<Listener> call) {
        try {
            call.accept(job.listener);
        } catch (RuntimeException | Error e) {
            abort(job, e);
        }
    }

    private void abort(Job job, Throwable cause) {
        log.accept("answering a request failed, its connection is closed: " + cause);
        try {
            job.listener.abort(cause);
        } catch (RuntimeException | Error e) {
            log.accept("closing the connection of a failed answer failed too: " + e);
        }
    }

    /**
     * Refuses new jobs, cancels the waiting ones (503) and the running one (after its current token), and waits up to
     * 10 s for the worker to finish. A prefill in progress is not interrupted (cancel is asked between tokens), so a
     * long prompt can outlast the wait.
     *
     * @return whether the worker has stopped, so that the model is free to close; false: a generation still runs on it
     */
    boolean close() {
        java.util.List<Job> refused = new java.util.ArrayList<>();
        synchronized (waiting) {
            if (!closed) {
                closed = true;
                for (Job j; (j = waiting.poll()) != null; ) {
                    if (j == STOP) continue;
                    j.cancel();
                    refused.add(j);
                }
                waiting.offer(STOP);
            }
        }
        for (Job j : refused) report(j, l -> l.failed(ApiError.server(503, "shutting_down", "the server is shutting down")));
        Job current = running;
        if (current != null) current.cancel();
        try {
            worker.join(TimeUnit.SECONDS.toMillis(10));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return !worker.isAlive();
    }
}
