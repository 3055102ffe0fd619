/**
 * TokenButler for the Llama3.java runtime: the runtime finds this plugin's attention hooks by ServiceLoader and
 * hands each one the attention of layers 1..L-1. Data flows through one package per stage:
 * <ol>
 *   <li>{@code predictor}: the learned TokenButler predictor, fed with the layer-0 attention input, predicts every
 *       layer's and head's attention logits over the past tokens;</li>
 *   <li>{@code selection}: a policy (tokenbutler, oracle, streaming, h2o, quest, random) turns its evidence into the
 *       key positions each head attends to under the shared budget rule;</li>
 *   <li>{@code kernel}: the CPU backend: selection and the sparse attention over those positions;</li>
 *   <li>{@code opencl}: the OpenCL backend of the tokenbutler policy: the predictor's step, its importance state,
 *       scoring, top-k and sparse attention on a device;</li>
 *   <li>{@code hook}: the runtime-facing glue: options, the backend chosen once, orchestration per model state,
 *       statistics, timings.</li>
 * </ol>
 */
package io.github.tokenbutler.plugin;
