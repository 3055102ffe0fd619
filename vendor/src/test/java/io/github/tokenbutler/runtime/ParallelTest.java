package io.github.tokenbutler.runtime;

import io.github.tokenbutler.runtime.Llama3.Parallel;
import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The runtime's worker pool: every unit of a job runs exactly once, also when the workers were told to park
 * between jobs ({@link Parallel#releaseCores}, which an OpenCL driver on the host's cores asks for) and must be
 * woken by the next job; and once released, the idle workers do park.
 */
class ParallelTest {
    @Test
    void jobsAfterReleasingTheCoresRunEveryUnitOnce() {
        int n = 10_000;
        for (int round = 0; round < 2_000; round++) {
            long[] hits = new long[n];
            Parallel.forRange(n, 16, (start, end, worker) -> {
                for (int i = start; i < end; i++) hits[i]++;
            });
            for (int i = 0; i < n; i++) assertEquals(1, hits[i], "round " + round + ", unit " + i);
            if (round % 2 == 0) Parallel.releaseCores();
        }
    }

    @Test
    void releasedWorkersPark() throws InterruptedException {
        AtomicLong sum = new AtomicLong();
        Parallel.forRange(1_000, 1, (start, end, worker) -> sum.addAndGet(end - start));
        assertEquals(1_000, sum.get());
        Parallel.releaseCores();
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (true) {
            boolean allParked = Thread.getAllStackTraces().keySet().stream()
                    .filter(t -> t.getName().startsWith("tokenbutler-worker-"))
                    .allMatch(t -> t.getState() == Thread.State.WAITING);
            if (allParked) break;
            assertTrue(System.nanoTime() < deadline, "the workers did not park within 5 s of releaseCores");
            Thread.sleep(1);
        }
    }
}
