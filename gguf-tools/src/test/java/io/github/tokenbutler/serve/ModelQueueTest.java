package io.github.tokenbutler.serve;

import io.github.tokenbutler.runtime.Llama3.Completion;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static io.github.tokenbutler.serve.QueueAndCancelTest.await;
import static org.junit.jupiter.api.Assertions.*;

/**
 * The queue without HTTP, on a {@link ScriptedModel}: what each job's listener is told when a waiting job is
 * withdrawn, when a listener throws, and when the queue closes.
 */
@Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class ModelQueueTest {
    /** Records the calls; throws from done when told to, as a listener whose write fails would. */
    static final class RecordingListener implements ModelQueue.Listener {
        final List<String> calls = new CopyOnWriteArrayList<>();
        final boolean throwOnDone;

        RecordingListener(boolean throwOnDone) { this.throwOnDone = throwOnDone; }

        @Override public void started() { calls.add("started"); }
        @Override public void text(String piece) {}

        @Override public void done(Completion completion) {
            calls.add("done " + completion.finish());
            if (throwOnDone) throw new IllegalStateException("the answer cannot be written");
        }

        @Override public void failed(ApiError error) { calls.add("failed " + error.code()); }
        @Override public void abort(Throwable cause) { calls.add("abort " + cause.getMessage()); }

        boolean settled() { return calls.stream().anyMatch(c -> c.startsWith("done") || c.startsWith("failed") || c.startsWith("abort")); }
    }

    static GenerationRequest prompt(int maxTokens) {
        return new GenerationRequest(null, "hello", maxTokens, 0f, 1f, 1L, List.of(), false, false);
    }

    @Test
    void aWithdrawnJobFreesItsPlaceAtOnceAndNeverRuns() throws Exception {
        ScriptedModel model = new ScriptedModel(1);
        List<String> log = new CopyOnWriteArrayList<>();
        ModelQueue queue = new ModelQueue(model, 1, log::add);
        try {
            model.closeGate();
            RecordingListener first = new RecordingListener(false), second = new RecordingListener(false);
            queue.submit(new ModelQueue.Job(prompt(2), first));
            await("the first job on the model", () -> model.started.get() == 1);
            ModelQueue.Job waiting = new ModelQueue.Job(prompt(2), second);
            queue.submit(waiting);
            assertEquals(1, queue.waitingCount());

            assertTrue(queue.withdraw(waiting));
            assertEquals(0, queue.waitingCount(), "the place is free before the worker gets there");
            assertEquals(List.of("failed cancelled"), second.calls);
            assertFalse(queue.withdraw(waiting), "withdrawn once");
            queue.submit(new ModelQueue.Job(prompt(2), new RecordingListener(false))); // the freed place takes another

            model.openGate();
            await("the first job done", first::settled);
            assertEquals(List.of("started", "done length"), first.calls);
        } finally {
            assertTrue(queue.close(), "the worker stopped");
        }
        assertEquals(2, model.started.get(), "the withdrawn job never reached the model");
    }

    @Test
    void aListenerThatThrowsHasItsAnswerAbortedAndTheWorkerGoesOn() throws Exception {
        ScriptedModel model = new ScriptedModel(1);
        List<String> log = new CopyOnWriteArrayList<>();
        ModelQueue queue = new ModelQueue(model, 4, log::add);
        try {
            RecordingListener broken = new RecordingListener(true), next = new RecordingListener(false);
            queue.submit(new ModelQueue.Job(prompt(2), broken));
            queue.submit(new ModelQueue.Job(prompt(2), next));
            await("the second job done", next::settled);
            assertEquals(List.of("started", "done length", "abort the answer cannot be written"), broken.calls);
            assertEquals(List.of("started", "done length"), next.calls);
            assertTrue(log.stream().anyMatch(l -> l.contains("its connection is closed")), log.toString());
        } finally {
            assertTrue(queue.close());
        }
    }

    @Test
    void closeCancelsTheRunningJobRefusesTheWaitingAndSaysTheWorkerStopped() throws Exception {
        ScriptedModel model = new ScriptedModel(5);
        ModelQueue queue = new ModelQueue(model, 4, line -> {});
        RecordingListener running = new RecordingListener(false), waiting = new RecordingListener(false);
        queue.submit(new ModelQueue.Job(prompt(5000), running));
        await("the first job on the model", () -> model.started.get() == 1);
        queue.submit(new ModelQueue.Job(prompt(2), waiting));
        long t0 = System.nanoTime();
        assertTrue(queue.close(), "the worker stopped");
        assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(5), "close waited for the whole generation");
        assertEquals(List.of("started", "done cancelled"), running.calls);
        assertEquals(List.of("failed shutting_down"), waiting.calls);
        assertThrows(ApiError.class, () -> queue.submit(new ModelQueue.Job(prompt(2), new RecordingListener(false))));
        assertTrue(queue.close(), "a second close says the same");
    }
}
