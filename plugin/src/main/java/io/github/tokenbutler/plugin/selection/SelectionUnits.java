package io.github.tokenbutler.plugin.selection;

import io.github.tokenbutler.runtime.Llama3.ModelConfig;

/**
 * What one selection covers: a query head (gqa=head, the paper's setting), or a KV head whose query heads share
 * one selection (gqa=kv). The geometry every stage that loops over units uses.
 */
public record SelectionUnits(int nHeads, int nKvHeads, boolean perKvHead) {
    public static SelectionUnits of(ModelConfig config, boolean perKvHead) {
        return new SelectionUnits(config.nHeads(), config.nKvHeads(), perKvHead);
    }

    /** Query heads per KV head. */
    public int group() { return nHeads / nKvHeads; }

    /** Number of selection units per layer. */
    public int count() { return perKvHead ? nKvHeads : nHeads; }

    /** Query heads that share a unit's selection. */
    public int headsPerUnit() { return perKvHead ? group() : 1; }

    /** The first query head of a unit. */
    public int firstHead(int unit) { return perKvHead ? unit * group() : unit; }

    /** The KV head a unit reads. */
    public int kvHead(int unit) { return perKvHead ? unit : unit / group(); }
}
