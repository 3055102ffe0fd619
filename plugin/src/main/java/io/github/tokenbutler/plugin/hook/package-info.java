/**
 * The attention hooks the runtime finds by ServiceLoader: {@code tokenbutler}, {@code oracle}, {@code streaming},
 * {@code h2o}, {@code quest} and {@code random}, one {@link io.github.tokenbutler.plugin.hook.SparseAttentionHook}
 * subclass per name, all opening a {@link io.github.tokenbutler.plugin.hook.SparseAttention}: orchestration of the
 * predictor's step, the chosen backend's {@link io.github.tokenbutler.plugin.hook.BackendAttention} (the CPU's or a
 * device's selection and attention) and the statistics.
 *
 * <p><b>In:</b> the hook options (checked by {@link io.github.tokenbutler.plugin.hook.AttentionOptions}), the
 * layer-0 attention input of every token (for the predictor), and per layer the queries and the runtime's live
 * K/V caches.
 *
 * <p><b>Out:</b> the attention output of every head of layers 1..L-1 computed over the selected positions only
 * (layer 0 goes back to the runtime's dense attention), plus selection statistics and timings.
 */
package io.github.tokenbutler.plugin.hook;
