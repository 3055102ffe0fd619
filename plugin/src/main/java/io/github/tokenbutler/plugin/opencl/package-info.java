/**
 * The OpenCL backend (LWJGL 3 over the system's ICD loader, libOpenCL.so.1) of the tokenbutler policy's
 * per-token work: the predictor's incremental step, importance scoring, top-k selection and sparse attention,
 * one kernel per {@code .cl} resource next to these classes. Top-k and attention come in two forms with the same
 * results, a work-group per row for GPUs and a work-item per row for CPU drivers such as PoCL
 * ({@code OpenClKernels.Form}, chosen by the device's type). Chosen with
 * {@code --attention-opt backend=opencl|auto} ({@link io.github.tokenbutler.plugin.hook.AttentionBackends}); found
 * by ServiceLoader through {@link
 * io.github.tokenbutler.plugin.opencl.OpenClBackendProvider}.
 *
 * <p><b>In:</b> per token, the layer-0 attention input and the rotary angles for the v1 predictor's step, whose
 * K/V cache, importance queries and importance keys stay on the device (quantize_keys.cl stores the keys bit for
 * bit as the CPU's store would); per layer 1..L-1 and call, the queries and the runtime's K/V caches, of which only
 * the rows the device has not seen are sent (the device keeps a mirror). With a v2 predictor, whose producers and
 * key projections run on the CPU, per layer and call the layer's new importance-key blocks and the call's importance
 * queries of that layer go up instead. {@link io.github.tokenbutler.plugin.opencl.ClContext#busTraffic} counts the
 * bytes that cross.
 *
 * <p><b>Out:</b> the attention output of every query head of the call, in the runtime's layout, for the
 * output projection; the attended-pair count for the statistics; when the device gives up under {@code auto},
 * its v1 predictor state, read back once into the CPU's {@link io.github.tokenbutler.plugin.predictor.ImportanceState}
 * (a v2 state is the CPU's all along).
 *
 * <p>The small wrapper ({@link io.github.tokenbutler.plugin.opencl.Cl}, {@link
 * io.github.tokenbutler.plugin.opencl.ClContext}, {@link io.github.tokenbutler.plugin.opencl.ClProgram},
 * {@link io.github.tokenbutler.plugin.opencl.ClKernel}, {@link io.github.tokenbutler.plugin.opencl.ClBuffer})
 * checks every call's error code (the message names the call and the error), surfaces build logs and
 * releases resources in reverse order of creation.
 */
package io.github.tokenbutler.plugin.opencl;
