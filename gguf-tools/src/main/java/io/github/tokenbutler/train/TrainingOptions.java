package io.github.tokenbutler.train;

import io.github.tokenbutler.runtime.Llama3.UserError;

/**
 * The hyper-parameters that decide what a run computes. They are stored in every checkpoint; a resumed run
 * takes them from there (changing one mid-run would break the promise that a resumed run equals an
 * uninterrupted one). How a run is watched (threads, validation, checkpoint interval) is not in here.
 *
 * @param seqLen      tokens per sequence, BOS included
 * @param steps       optimizer steps
 * @param batch       sequences per step
 * @param lr          peak learning rate
 * @param warmup      linear warm-up steps
 * @param weightDecay AdamW decoupled weight decay (linear weights only)
 * @param clip        global gradient-norm limit (0: none)
 * @param seed        initial weights and data order
 * @param loss        what the predicted logits are fitted to
 */
public record TrainingOptions(int seqLen, int steps, int batch, double lr, int warmup, double weightDecay, double clip, long seed,
                              TrainingLoss loss) {
    public TrainingOptions {
        if (loss == null) throw new IllegalArgumentException("loss must not be null");
        if (seqLen < 2) throw new UserError("train: --seq-len must be at least 2 (BOS and one token), got " + seqLen);
        if (steps < 1) throw new UserError("train: --steps must be at least 1, got " + steps);
        if (batch < 1) throw new UserError("train: --batch must be at least 1, got " + batch);
        if (!(lr > 0) || Double.isInfinite(lr)) throw new UserError("train: --lr must be a positive number, got " + lr);
        if (warmup < 0 || warmup >= steps && steps > 1) {
            throw new UserError("train: --warmup must be in 0.." + (steps - 1) + " (fewer than --steps " + steps + "), got " + warmup);
        }
        if (!(weightDecay >= 0) || Double.isInfinite(weightDecay)) throw new UserError("train: --weight-decay must be >= 0, got " + weightDecay);
        if (!(clip >= 0) || Double.isInfinite(clip)) throw new UserError("train: --clip must be >= 0 (0: no clipping), got " + clip);
    }

    public LrSchedule schedule() { return new LrSchedule(lr, warmup, steps); }
}
