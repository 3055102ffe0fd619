/**
 * The CPU backend: {@link io.github.tokenbutler.plugin.kernel.CpuBackend} (found by ServiceLoader as
 * {@code backend=cpu}, like the OpenCL one) opens a {@link io.github.tokenbutler.plugin.kernel.CpuSparseAttention}
 * per model state, which runs the selection of the {@code selection} package and the kernel below per unit.
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
