/**
 * Output files of every tool, written whole or not at all.
 *
 * <p>In: a target path and its bytes (or, from {@code gguf.GgufWriter}, a stream of tensors). Out: the file
 * complete under its name, or nothing: the output's folder is probed for writability before the long work
 * starts, its size is checked against the free space before the first byte, the bytes go to a temporary
 * file beside the target that is renamed over it, and a shutdown hook deletes unfinished temporary files on
 * Ctrl-C and SIGTERM. I/O failures become one-line {@code UserError}s in words.
 */
package io.github.tokenbutler.files;
