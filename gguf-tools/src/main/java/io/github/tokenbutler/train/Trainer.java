package io.github.tokenbutler.train;

import io.github.tokenbutler.plugin.predictor.PredictorConfig;
import io.github.tokenbutler.plugin.predictor.RevisedPredictorConfig;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Function;

/**
 * The training loop: per step, the base model yields the batch's teacher samples (one sequence at a time,
 * dense, on the calling thread and the runtime's own workers), then the sequences' losses and gradients are
 * computed in parallel (one task per sequence) and summed in batch order, the global norm is clipped and
 * AdamW updates the weights. Because every sequence's gradient is computed alone and the sum has a fixed
 * order, the result is the same bits on any number of threads.
 */
public final class Trainer implements AutoCloseable {
    /** The mutable state of a run: what a checkpoint holds. */
    public static final class State {
        public final double[] params;
        public final AdamW adam;
        public int step;

        public State(double[] params, AdamW adam, int step) {
            this.params = params;
            this.adam = adam;
            this.step = step;
        }
    }

    /** Loss and hit-rate over some sequences. */
    public record Measure(double loss, double hitRate) {
        @Override public String toString() { return String.format(Locale.ROOT, "loss %.4f, hit-rate %.3f", loss, hitRate); }
    }

    private final ParameterLayout layout;
    private final SequenceGradient backprop;
    /** What a checkpoint records of the predictor: exactly one is set. */
    private final PredictorConfig config;
    private final RevisedPredictorConfig revised;
    private final TrainingOptions options;
    private final ExecutorService pool;
    private final int threads;
    private volatile boolean stopRequested;

    /** Trains a v1 predictor. */
    public Trainer(PredictorConfig config, TrainingOptions options, int threads) {
        this(new ParameterLayout(config), config, null, options, threads);
    }

    /** Trains a v2 (revised) predictor. */
    public Trainer(RevisedPredictorConfig revised, TrainingOptions options, int threads) {
        this(new ParameterLayout(revised), null, revised, options, threads);
    }

    private Trainer(ParameterLayout layout, PredictorConfig config, RevisedPredictorConfig revised, TrainingOptions options, int threads) {
        this.layout = layout;
        this.config = config;
        this.revised = revised;
        this.backprop = config != null ? new PredictorBackprop(layout, options.seqLen(), options.loss()) : new RevisedBackprop(revised, options.loss());
        this.options = options;
        this.threads = threads;
        this.pool = Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r, "train-worker");
            t.setDaemon(true);
            return t;
        });
    }

    public ParameterLayout layout() { return layout; }

    public int threads() { return threads; }

    /** Asks the loop to stop after the current step (Ctrl-C). */
    public void requestStop() { stopRequested = true; }

    public boolean stopRequested() { return stopRequested; }

    /** Called after every step and when the loop ends; lets the command validate, checkpoint and report. */
    public interface Listener {
        void afterStep(State state, Measure train, double lr, double gradNorm);
    }

    /**
     * Runs steps state.step .. options.steps-1 (or until a stop is requested).
     * @param teacher the teacher sample of a token sequence
     * @param data    the training sequences
     */
    public void run(State state, TrainingData data, Function<int[], TeacherSample> teacher, Listener listener) {
        LrSchedule schedule = options.schedule();
        int batch = options.batch();
        while (state.step < options.steps() && !stopRequested) {
            List<TeacherSample> samples = new ArrayList<>(batch);
            for (int b = 0; b < batch; b++) samples.add(teacher.apply(data.atRunPosition((long) state.step * batch + b)));
            double[] grad = new double[layout.size()];
            Measure m = lossAndGradient(state.params, samples, grad);
            double norm = AdamW.clipGlobalNorm(grad, options.clip());
            double lr = schedule.at(state.step);
            state.adam.update(state.params, grad, lr, state.step + 1);
            state.step++;
            listener.afterStep(state, m, lr, norm);
        }
    }

    /** Mean loss and hit-rate over the samples, without gradients (validation). */
    public Measure evaluate(double[] params, List<TeacherSample> samples) {
        return lossAndGradient(params, samples, null);
    }

    /** Mean over the samples; grad (if not null) receives the mean gradient. */
    Measure lossAndGradient(double[] params, List<TeacherSample> samples, double[] grad) {
        List<Future<Object[]>> futures = new ArrayList<>();
        for (int index = 0; index < samples.size(); index++) {
            TeacherSample s = samples.get(index);
            // The hit-rate costs two selections per query row; in training the first sequence of the batch is
            // enough for the progress line, validation measures every sequence.
            boolean measure = grad == null || index == 0;
            futures.add(pool.submit(() -> {
                double[] g = grad == null ? null : new double[layout.size()];
                return new Object[]{backprop.lossAndGradient(params, s, g, measure), g};
            }));
        }
        double loss = 0, hitSum = 0;
        long hitRows = 0;
        for (Future<Object[]> f : futures) {
            Object[] r;
            try {
                r = f.get();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted", e);
            } catch (ExecutionException e) {
                if (e.getCause() instanceof RuntimeException re) throw re;
                throw new IllegalStateException(e.getCause());
            }
            PredictorBackprop.SequenceLoss sl = (PredictorBackprop.SequenceLoss) r[0];
            loss += sl.loss();
            hitSum += sl.hitSum();
            hitRows += sl.hitRows();
            if (grad != null) {
                double[] g = (double[]) r[1];
                for (int i = 0; i < g.length; i++) grad[i] += g[i];
            }
        }
        int n = samples.size();
        if (grad != null) for (int i = 0; i < grad.length; i++) grad[i] /= n;
        return new Measure(loss / n, hitRows == 0 ? Double.NaN : hitSum / hitRows);
    }

    /** Writes a checkpoint of the state. */
    public TrainingCheckpoint checkpoint(State state, String modelName) {
        return new TrainingCheckpoint(config, revised, modelName, options, state.step, state.params.clone(),
                state.adam.firstMoment().clone(), state.adam.secondMoment().clone());
    }

    public void writeCheckpoint(State state, String modelName, Path file) {
        checkpoint(state, modelName).write(file);
    }

    @Override public void close() { pool.shutdownNow(); }
}
