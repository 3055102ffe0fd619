/**
 * Text corpora as token sequences, shared by evaluation and training.
 *
 * <p>In: a UTF-8 text file of stories separated by {@code <|endoftext|>} lines ({@link io.github.tokenbutler.corpus.Stories})
 * and a tokenizer. Out: one token stream with BOS between stories, cut into BOS-prefixed chunks of a fixed length
 * ({@link io.github.tokenbutler.corpus.TokenChunks}).
 */
package io.github.tokenbutler.corpus;
