package io.github.tokenbutler.plugin.kernel;

import io.github.tokenbutler.runtime.Llama3.Parallel;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * Runs the units (heads or KV groups) of one attention call in parallel, the calling thread included. Two
 * kinds:
 * <ul>
 *   <li>{@link #shared()}: the runtime's own pool ({@link Parallel}, sized by -Dtokenbutler.threads). The
 *       default: its workers are already spinning when attention starts (they just ran the Q/K/V matmuls),
 *       and a second set of threads would fight them for the same cores.</li>
 *   <li>{@code new HeadWorkerPool(n, name)}: n threads of our own (option threads=N), for a host whose pool is
 *       not wanted. Idle workers spin briefly and then park.</li>
 * </ul>
 * Either way a round allocates nothing, units are handed out one at a time so that uneven units (H2O's kept
 * sets differ per head) balance, and worker indices are stable (0 = the caller), so per-worker scratch
 * buffers can be indexed by them. One round at a time; not reentrant.
 */
public final class HeadWorkerPool implements AutoCloseable {
    /** One unit of work; worker is in 0..threads()-1. */
    @FunctionalInterface
    public interface UnitTask {
        void run(int unit, int worker);
    }

    // About 10-50 microseconds of spinning: long enough to catch the next round of a batched call, short
    // enough not to burn a core between decode steps.
    private static final int SPIN_ROUNDS = 1 << 12;

    private final Thread[] workers;
    /** Set for the runtime's shared pool: units go through Parallel.forRange. */
    private final Parallel.Body sharedBody;
    private final AtomicInteger nextUnit = new AtomicInteger();
    private final AtomicInteger running = new AtomicInteger();
    private volatile UnitTask task;
    private volatile int units;
    private volatile long round;
    private volatile boolean closed;
    private volatile Thread caller;
    private volatile Throwable failure;

    /** The runtime's shared pool ({@link Parallel#THREADS} threads); close() leaves it running. */
    public static HeadWorkerPool shared() { return new HeadWorkerPool(); }

    private HeadWorkerPool() {
        workers = new Thread[0];
        sharedBody = (start, end, worker) -> {
            UnitTask t = task;
            for (int u = start; u < end; u++) t.run(u, worker);
        };
    }

    /** @param threads total threads including the caller, 1 or more (1: everything runs on the caller) */
    public HeadWorkerPool(int threads, String name) {
        if (threads < 1) throw new IllegalArgumentException("threads must be at least 1, got " + threads);
        sharedBody = null;
        workers = new Thread[threads - 1];
        for (int i = 0; i < workers.length; i++) {
            int index = i + 1;
            Thread t = new Thread(() -> workLoop(index), name + "-" + index);
            t.setDaemon(true);
            workers[i] = t;
            t.start();
        }
    }

    /** Worker indices given to tasks are 0..threads()-1. */
    public int threads() { return sharedBody != null ? Parallel.THREADS : workers.length + 1; }

    /**
     * Runs task for units 0..nUnits-1 and returns when all are done. With parallel false (or one thread)
     * everything runs on the caller, in unit order. The first exception thrown by a unit is rethrown here
     * after every thread has stopped working on the round.
     */
    public void run(int nUnits, UnitTask task, boolean parallel) {
        if (closed) throw new IllegalStateException("worker pool is closed");
        if (!parallel || threads() == 1 || nUnits <= 1) {
            for (int u = 0; u < nUnits; u++) task.run(u, 0);
            return;
        }
        if (sharedBody != null) {
            this.task = task;
            try {
                Parallel.forRange(nUnits, 1, sharedBody);
            } finally {
                this.task = null;
            }
            return;
        }
        this.task = task;
        this.units = nUnits;
        this.failure = null;
        this.caller = Thread.currentThread();
        nextUnit.set(0);
        running.set(workers.length);
        round++; // volatile write: publishes the fields above to workers that read `round`
        for (Thread w : workers) LockSupport.unpark(w);
        try {
            work(0);
        } catch (Throwable e) {
            failure = e;
            nextUnit.set(Integer.MAX_VALUE / 2);
        }
        for (int spins = 0; running.get() > 0; spins++) {
            if (spins < SPIN_ROUNDS) Thread.onSpinWait(); else LockSupport.park(this);
        }
        this.task = null;
        Throwable f = failure;
        if (f != null) {
            failure = null;
            if (f instanceof RuntimeException r) throw r;
            if (f instanceof Error e) throw e;
            throw new IllegalStateException(f);
        }
    }

    private void work(int worker) {
        UnitTask t = task;
        int n = units;
        for (int u; (u = nextUnit.getAndIncrement()) < n; ) t.run(u, worker);
    }

    private void workLoop(int index) {
        long seen = 0;
        while (!closed) {
            long r = round;
            if (r == seen) {
                for (int spins = 0; round == seen && !closed; spins++) {
                    if (spins < SPIN_ROUNDS) Thread.onSpinWait(); else LockSupport.park(this);
                }
                continue;
            }
            seen = r;
            try {
                work(index);
            } catch (Throwable e) {
                failure = e;
                nextUnit.set(Integer.MAX_VALUE / 2); // stop handing out units; the round is failing anyway
            } finally {
                if (running.decrementAndGet() == 0) LockSupport.unpark(caller);
            }
        }
    }

    /** Stops the worker threads (they are daemons, so a forgotten close does not keep the JVM alive). */
    @Override
    public void close() {
        closed = true;
        for (Thread w : workers) LockSupport.unpark(w);
    }
}
