/**
 * The sparse attention computation on the CPU.
 *
 * <p><b>In:</b> the queries of one or more heads sharing a selection, the runtime's K/V caches and the selected
 * key positions (ascending).
 *
 * <p><b>Out:</b> softmax(q·k/sqrt(headSize))·v over those positions, bit-identical to the runtime's dense
 * attention when every visible position is selected, and the attention weights
 * ({@link io.github.tokenbutler.plugin.kernel.SparseAttentionKernel}); the heads of a call spread over a small
 * fixed thread pool ({@link io.github.tokenbutler.plugin.kernel.HeadWorkerPool}).
 */
package io.github.tokenbutler.plugin.kernel;
