/**
 * Writing GGUF files and producing the GGML block layouts the runtime reads.
 *
 * <p>{@link io.github.tokenbutler.gguf.GgufWriter} builds a file (metadata, tensor table, aligned data)
 * and writes it atomically; {@link io.github.tokenbutler.gguf.Quantizers} turns float rows into the
 * Q8_0, Q4_0, Q4_1, Q4_K, Q5_K and Q6_K blocks of ggml-common.h (and back, for tests and re-quantizing);
 * {@link io.github.tokenbutler.gguf.QuantMix} says which type each tensor of a file gets. Reading is not
 * here: the project has one GGUF reader, {@code Llama3.GGUF} in the runtime.
 */
package io.github.tokenbutler.gguf;
