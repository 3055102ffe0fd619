package io.github.tokenbutler.gguf;

import io.github.tokenbutler.gguf.LlamaGguf.Hyperparameters;
import io.github.tokenbutler.runtime.Llama3;
import io.github.tokenbutler.runtime.Llama3.GGMLType;
import io.github.tokenbutler.runtime.Llama3.UserError;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * llama2.c's legacy checkpoint (export version 0, what run.c reads) plus a SentencePiece vocabulary →
 * a llama GGUF. The checkpoint is seven little-endian int32 (dim, hidden_dim, n_layers, n_heads,
 * n_kv_heads, vocab_size, seq_len; a negative vocab_size means a separate classifier follows) and then
 * float32 arrays, each stacked over layers:
 * <pre>
 * token_embedding[vocab][dim]  rms_att[L][dim]  wq[L][dim][dim]  wk[L][kv_dim][dim]  wv[L][kv_dim][dim]
 * wo[L][dim][dim]  rms_ffn[L][dim]  w1[L][hidden][dim]  w2[L][dim][hidden]  w3[L][hidden][dim]  rms_final[dim]
 * freq_cis_real[seq_len][head_size/2]  freq_cis_imag[seq_len][head_size/2]  (wcls[vocab][dim] if not shared)
 * </pre>
 * Each matrix is PyTorch's [out][in], so its GGUF shape is [in, out]: row length = input size, as GGUF
 * wants. No permutation of wq/wk: llama2.c rotates adjacent pairs (2i, 2i+1) of each head, which is the
 * GGUF llama convention (rope type "normal"); only Hugging Face checkpoints need llama.cpp's permute.
 */
public final class Llama2cConverter {
    private Llama2cConverter() {}

    static final int HEADER_BYTES = 7 * 4;
    /** llama2.c's export versions 1 and 2 start with this uint32 ("ak42" little-endian). */
    static final int EXPORT_MAGIC = 0x616b3432;
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** The checkpoint header. */
    public record Header(int dim, int hiddenDim, int layers, int heads, int kvHeads, int vocab, boolean sharedClassifier, int seqLen) {
        int headSize() { return dim / heads; }
        int kvDim() { return kvHeads * headSize(); }

        /** Number of float32 values after the header. */
        long floats() {
            long d = dim, h = hiddenDim, l = layers, v = vocab, kv = kvDim();
            long n = v * d                    // token embedding
                    + l * d                   // rms_att
                    + l * d * d               // wq
                    + 2 * l * kv * d          // wk, wv
                    + l * d * d               // wo
                    + l * d                   // rms_ffn
                    + 3 * l * h * d           // w1, w2, w3
                    + d                       // rms_final
                    + (long) seqLen * headSize(); // freq_cis_real + freq_cis_imag, seq_len * head_size/2 each
            if (!sharedClassifier) n += v * d;
            return n;
        }

        long expectedFileSize() { return HEADER_BYTES + 4 * floats(); }
    }

    static Header readHeader(Path checkpoint, MemorySegment file) {
        if (file.byteSize() < HEADER_BYTES) {
            throw new UserError("checkpoint " + checkpoint + " is truncated: the llama2.c header needs " + HEADER_BYTES
                    + " bytes, the file has " + file.byteSize());
        }
        int[] h = new int[7];
        for (int i = 0; i < 7; i++) h[i] = file.get(I32, 4L * i);
        if (h[0] == EXPORT_MAGIC) {
            throw new UserError("checkpoint " + checkpoint + " is a llama2.c export version " + h[1]
                    + " file (magic \"ak42\"); only the legacy format (export.py --version 0, what run.c reads) is supported");
        }
        String[] names = {"dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"};
        // Far above any llama2.c model; catches files that are not checkpoints before sizes overflow.
        int[] limits = {65536, 1 << 20, 1024, 1024, 1024, 1 << 22, 1 << 22};
        for (int i = 0; i < 7; i++) {
            int v = i == 5 ? Math.abs(h[i]) : h[i];
            if (v <= 0 || v > limits[i] || (i == 5 && h[i] == Integer.MIN_VALUE)) {
                throw new UserError("checkpoint " + checkpoint + " does not look like a llama2.c checkpoint: header " + names[i]
                        + " is " + h[i] + " (expected 1.." + limits[i] + ")");
            }
        }
        Header header = new Header(h[0], h[1], h[2], h[3], h[4], Math.abs(h[5]), h[5] > 0, h[6]);
        if (header.dim() % header.heads() != 0) {
            throw new UserError("checkpoint " + checkpoint + ": dim " + header.dim() + " is not a multiple of n_heads " + header.heads());
        }
        if (header.heads() % header.kvHeads() != 0) {
            throw new UserError("checkpoint " + checkpoint + ": n_heads " + header.heads() + " is not a multiple of n_kv_heads " + header.kvHeads());
        }
        long expected = header.expectedFileSize();
        if (file.byteSize() != expected) {
            String what = file.byteSize() < expected ? "is truncated" : "is larger than its header says";
            throw new UserError("checkpoint " + checkpoint + " " + what + ": expected " + expected + " bytes for dim " + header.dim()
                    + ", hidden_dim " + header.hiddenDim() + ", " + header.layers() + " layers, " + header.heads() + "/" + header.kvHeads()
                    + " heads, vocab " + header.vocab() + (header.sharedClassifier() ? " (shared classifier)" : " (separate classifier)")
                    + ", seq_len " + header.seqLen() + "; the file has " + file.byteSize() + " bytes");
        }
        return header;
    }

    /** Converts and writes {@code out} atomically; returns the model's hyperparameters. */
    public static Hyperparameters convert(Path checkpoint, Path vocabFile, Path out) {
        return convert(checkpoint, vocabFile, out, GgufWriter.Progress.NONE);
    }

    public static Hyperparameters convert(Path checkpoint, Path vocabFile, Path out, GgufWriter.Progress progress) {
        Llama3.requireReadableFile(checkpoint, "checkpoint file");
        Llama3.requireReadableFile(vocabFile, "vocabulary file");
        try (Arena arena = Arena.ofConfined(); FileChannel ch = FileChannel.open(checkpoint, StandardOpenOption.READ)) {
            MemorySegment file = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
            Header header = readHeader(checkpoint, file);
            SpmVocab vocab = SpmVocab.read(vocabFile);
            if (vocab.size() != header.vocab()) {
                throw new UserError("vocabulary " + vocabFile + " has " + vocab.size() + " pieces but checkpoint " + checkpoint
                        + " has vocab_size " + header.vocab());
            }
            String stem = checkpoint.getFileName().toString().replaceFirst("\\.bin$", "");
            Hyperparameters hp = new Hyperparameters("llama2.c " + stem, header.dim(), header.hiddenDim(), header.layers(),
                    header.heads(), header.kvHeads(), header.vocab(), header.seqLen(), 10000f, 1e-5f, header.sharedClassifier())
                    .validate("checkpoint " + checkpoint);
            GgufWriter w = new GgufWriter();
            LlamaGguf.putHyperparameters(w, hp, GGMLType.F32);
            vocab.putInto(w);
            addTensors(w, header, file);
            w.write(out, progress);
            return hp;
        } catch (IOException e) {
            throw UserError.io("cannot convert checkpoint " + checkpoint, e);
        }
    }

    private static void addTensors(GgufWriter w, Header h, MemorySegment file) {
        long d = h.dim(), hid = h.hiddenDim(), kv = h.kvDim(), v = h.vocab();
        int layers = h.layers();
        Cursor c = new Cursor(file);
        MemorySegment embedding = c.take(v * d);
        MemorySegment rmsAtt = c.take(layers * d);
        MemorySegment wq = c.take(layers * d * d);
        MemorySegment wk = c.take(layers * kv * d);
        MemorySegment wv = c.take(layers * kv * d);
        MemorySegment wo = c.take(layers * d * d);
        MemorySegment rmsFfn = c.take(layers * d);
        MemorySegment w1 = c.take(layers * hid * d);
        MemorySegment w2 = c.take(layers * d * hid);
        MemorySegment w3 = c.take(layers * hid * d);
        MemorySegment rmsFinal = c.take(d);
        c.take((long) h.seqLen() * h.headSize()); // RoPE tables: recomputed by the runtime from rope.freq_base
        MemorySegment wcls = h.sharedClassifier() ? null : c.take(v * d);

        w.addTensor(LlamaGguf.TOKEN_EMBD, GGMLType.F32, new long[] {d, v}, embedding);
        for (int l = 0; l < layers; l++) {
            w.addTensor(LlamaGguf.block(l, LlamaGguf.ATTN_NORM), GGMLType.F32, new long[] {d}, layer(rmsAtt, l, d));
            w.addTensor(LlamaGguf.block(l, LlamaGguf.ATTN_Q), GGMLType.F32, new long[] {d, d}, layer(wq, l, d * d));
            w.addTensor(LlamaGguf.block(l, LlamaGguf.ATTN_K), GGMLType.F32, new long[] {d, kv}, layer(wk, l, kv * d));
            w.addTensor(LlamaGguf.block(l, LlamaGguf.ATTN_V), GGMLType.F32, new long[] {d, kv}, layer(wv, l, kv * d));
            w.addTensor(LlamaGguf.block(l, LlamaGguf.ATTN_OUTPUT), GGMLType.F32, new long[] {d, d}, layer(wo, l, d * d));
            w.addTensor(LlamaGguf.block(l, LlamaGguf.FFN_NORM), GGMLType.F32, new long[] {d}, layer(rmsFfn, l, d));
            w.addTensor(LlamaGguf.block(l, LlamaGguf.FFN_GATE), GGMLType.F32, new long[] {d, hid}, layer(w1, l, hid * d));
            w.addTensor(LlamaGguf.block(l, LlamaGguf.FFN_DOWN), GGMLType.F32, new long[] {hid, d}, layer(w2, l, d * hid));
            w.addTensor(LlamaGguf.block(l, LlamaGguf.FFN_UP), GGMLType.F32, new long[] {d, hid}, layer(w3, l, hid * d));
        }
        w.addTensor(LlamaGguf.OUTPUT_NORM, GGMLType.F32, new long[] {d}, rmsFinal);
        // A shared classifier is the embedding table: no output.weight, the runtime uses token_embd.
        if (wcls != null) w.addTensor(LlamaGguf.OUTPUT, GGMLType.F32, new long[] {d, v}, wcls);
    }

    private static MemorySegment layer(MemorySegment stacked, int layer, long floatsPerLayer) {
        return stacked.asSlice(4 * floatsPerLayer * layer, 4 * floatsPerLayer);
    }

    /** Walks the float arrays after the header in file order. */
    private static final class Cursor {
        private final MemorySegment file;
        private long pos = HEADER_BYTES;

        Cursor(MemorySegment file) { this.file = file; }

        MemorySegment take(long floats) {
            MemorySegment s = file.asSlice(pos, 4 * floats);
            pos += 4 * floats;
            return s;
        }
    }
}
