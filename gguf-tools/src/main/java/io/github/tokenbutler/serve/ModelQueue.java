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
final class ModelQueue implements AutoCloseable {
    /** What a job reports, on the worker thread, in this order: started, text (0 or more), then done or failed. */
    interface Listener {
        void started();
        void text(String piece);
        void done(Completion completion);
        void failed(ApiError error);
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
            if (job.cancelled()) { // its client left while it waited: nothing to generate, but the answer is settled
                job.listener.failed(ApiError.server(503, "cancelled", "the request was cancelled before it ran"));
                continue;
            }
            running = job;
            long t0 = System.nanoTime();
            try {
                run(job);
            } catch (RuntimeException | Error e) {
                log.accept("answering a request failed: " + e); // the listener's own failure; its connection is the one to suffer
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
        GenerationParams params = new GenerationParams(r.maxTokens(), r.temperature(), r.topP(), seed, 1f, 64, r.stop(), job::cancelled);
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
            job.listener.failed(ApiError.server(500, "internal_error", "internal error: " + e));
            return;
        }
        job.listener.done(c);
    }

    /**
     * Refuses new jobs, cancels the waiting ones (503) and the running one (after its current token), and waits for
     * the worker to finish.
     */
    @Override public void close() {
        Job j;
        synchronized (waiting) {
            if (closed) return;
            closed = true;
            while ((j = waiting.poll()) != null) {
                if (j == STOP) continue;
                j.cancel();
                j.listener.failed(ApiError.server(503, "shutting_down", "the server is shutting down"));
            }
            waiting.offer(STOP);
        }
        Job current = running;
        if (current != null) current.cancel();
        try {
            worker.join(TimeUnit.SECONDS.toMillis(10));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
