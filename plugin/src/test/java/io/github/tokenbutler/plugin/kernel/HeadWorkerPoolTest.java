package io.github.tokenbutler.plugin.kernel;

import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicIntegerArray;

import static org.junit.jupiter.api.Assertions.*;

class HeadWorkerPoolTest {
    @Test
    void everyUnitRunsExactlyOncePerRoundOnAValidWorker() {
        try (HeadWorkerPool pool = new HeadWorkerPool(3, "test")) {
            for (int round = 0; round < 2000; round++) {
                int units = 1 + round % 40;
                AtomicIntegerArray runs = new AtomicIntegerArray(units);
                pool.run(units, (u, w) -> {
                    assertTrue(w >= 0 && w < 3);
                    runs.incrementAndGet(u);
                }, true);
                for (int u = 0; u < units; u++) assertEquals(1, runs.get(u), "round " + round + " unit " + u);
            }
        }
    }

    @Test
    void withoutParallelismEverythingRunsOnTheCallerInOrder() {
        try (HeadWorkerPool pool = new HeadWorkerPool(2, "test")) {
            int[] next = {0};
            pool.run(10, (u, w) -> {
                assertEquals(0, w);
                assertEquals(next[0]++, u);
            }, false);
            assertEquals(10, next[0]);
        }
    }

    @Test
    void aFailingUnitIsRethrownAndThePoolStaysUsable() {
        try (HeadWorkerPool pool = new HeadWorkerPool(2, "test")) {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> pool.run(16, (u, w) -> {
                if (u == 7) throw new IllegalStateException("unit 7");
            }, true));
            assertEquals("unit 7", e.getMessage());
            AtomicIntegerArray runs = new AtomicIntegerArray(16);
            pool.run(16, (u, w) -> runs.incrementAndGet(u), true);
            for (int u = 0; u < 16; u++) assertEquals(1, runs.get(u));
        }
    }
}
