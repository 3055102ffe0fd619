/**
 * Reading trained predictor checkpoints written by PyTorch, without running any of their code.
 *
 * <p><b>In:</b> a file written by {@code torch.save} (the zip format: {@code data.pkl}, a pickle, plus one raw
 * little-endian file per storage under {@code data/}) or a safetensors file (an 8-byte little-endian header length,
 * a JSON header of dtype, shape and data offsets per tensor, the raw data).
 *
 * <p><b>Out:</b> {@link io.github.tokenbutler.checkpoint.Checkpoint}: the state dicts the file holds (one, or a list
 * of them as the authors' training code saves one per producer layer), each a map from tensor name to a
 * {@link io.github.tokenbutler.checkpoint.CheckpointTensor} whose values are read, as floats, only when asked for.
 *
 * <p>The pickle is read by {@link io.github.tokenbutler.checkpoint.RestrictedUnpickler}, which knows only the
 * opcodes and the handful of classes a state dict needs and refuses everything else, naming the opcode or class and
 * its offset; nothing in a file is ever executed or instantiated.
 */
package io.github.tokenbutler.checkpoint;
