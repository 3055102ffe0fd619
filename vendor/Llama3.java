///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 25+
//COMPILE_OPTIONS --add-modules=jdk.incubator.vector -Xlint:-incubating
//RUNTIME_OPTIONS --add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED
//
// Llama3.java: a single-file GGUF runtime for the llama architecture, in the style of
// llama2.c's run.c and llama3.java. It reads top to bottom as the data flows:
//   1. errors        UserError: what the user got wrong, printed without a stack trace
//   2. GGUF parsing  header, metadata, tensor infos; tensor data mapped, never copied
//   3. tensor types  one FloatTensor class per GGML quant type
//   4. model loading ModelConfig from metadata, Weights from tensors
//   5. forward       batched prefill and decode, with the AttentionHook extension point
//   6. tokenizer     SentencePiece BPE (`llama`) and byte-level BPE (`gpt2`)
//   7. sampler       greedy, temperature, top-p
//   8. chat format   Llama 3 chat template
//   9. CLI
// Self-contained: only the JDK and jdk.incubator.vector.
package io.github.tokenbutler.runtime;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

public final class Llama3 {
    private Llama3() {}

    // =====================================================================================
    // 1. Errors
    // =====================================================================================

    /**
     * A problem with the user's input (a file, an option, a prompt). The CLI prints the message
     * alone and exits non-zero; it is never shown with a stack trace.
     */
    public static class UserError extends RuntimeException {
        public UserError(String message) { super(message); }
        public UserError(String message, Throwable cause) { super(message, cause); }
    }

    /** A GGUF file that cannot be read: the message names the file, what was expected and what was found. */
    public static final class GGUFFormatException extends UserError {
        public GGUFFormatException(String message) { super(message); }
    }

    // =====================================================================================
    // 2. GGUF parsing (spec: ggml/docs/gguf.md). Little-endian throughout.
    //    header:  magic "GGUF" | u32 version | u64 tensor_count | u64 metadata_kv_count
    //    kv:      string key | u32 value_type | value
    //    tensors: string name | u32 n_dims | u64 ne[n_dims] | u32 ggml_type | u64 offset
    //    data:    starts at the first multiple of general.alignment (default 32) after the infos
    // =====================================================================================

    /** GGML tensor types with their block geometry (ggml.h / ggml.c type traits). */
    public enum GGMLType {
        F32(0, 1, 4), F16(1, 1, 2), Q4_0(2, 32, 18), Q4_1(3, 32, 20),
        Q5_0(6, 32, 22), Q5_1(7, 32, 24), Q8_0(8, 32, 34), Q8_1(9, 32, 36),
        Q2_K(10, 256, 84), Q3_K(11, 256, 110), Q4_K(12, 256, 144), Q5_K(13, 256, 176),
        Q6_K(14, 256, 210), Q8_K(15, 256, 292),
        IQ2_XXS(16, 256, 66), IQ2_XS(17, 256, 74), IQ3_XXS(18, 256, 98), IQ1_S(19, 256, 50),
        IQ4_NL(20, 32, 18), IQ3_S(21, 256, 110), IQ2_S(22, 256, 82), IQ4_XS(23, 256, 136),
        I8(24, 1, 1), I16(25, 1, 2), I32(26, 1, 4), I64(27, 1, 8), F64(28, 1, 8),
        IQ1_M(29, 256, 56), BF16(30, 1, 2);

        public final int id;
        /** Elements per block. */
        public final int blockSize;
        /** Bytes per block. */
        public final int typeSize;

        GGMLType(int id, int blockSize, int typeSize) { this.id = id; this.blockSize = blockSize; this.typeSize = typeSize; }

        /** Bytes taken by {@code elements} values; elements must be a multiple of blockSize. */
        public long byteSize(long elements) { return elements / blockSize * typeSize; }

        public static GGMLType fromId(int id) {
            for (GGMLType t : values()) if (t.id == id) return t;
            return null;
        }
    }

    /** One entry of the tensor table. {@code shape} is in GGUF order: shape[0] is the innermost (row) dimension. */
    public record TensorInfo(String name, GGMLType type, long[] shape, long offset) {
        public long elements() { long n = 1; for (long d : shape) n *= d; return n; }
        public long byteSize() { return type.byteSize(elements()); }
    }

    /** GGUF metadata value types (gguf.md: gguf_metadata_value_type). */
    public enum GGUFValueType {
        UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, INT64, FLOAT64
    }

    /**
     * A parsed GGUF file: metadata, tensor table, and the tensor data mapped read-only.
     * Metadata values are boxed Java values: UINT8/INT8 → Byte, UINT16/INT16 → Short, UINT32/INT32 →
     * Integer, UINT64/INT64 → Long, FLOAT32 → Float, FLOAT64 → Double, BOOL → Boolean, STRING → String;
     * arrays → primitive arrays (byte[], short[], int[], long[], float[], double[], boolean[]) or
     * String[] (arrays of arrays → Object[]). Unsigned values keep their bit pattern. The original type of
     * each key is in {@link #valueTypes()} (for arrays: the element type via {@link #arrayElementTypes()}).
     */
    public static final class GGUF implements AutoCloseable {
        public static final int MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
        public static final int DEFAULT_ALIGNMENT = 32;
        public static final List<Integer> SUPPORTED_VERSIONS = List.of(2, 3);

        private final Path path;
        private final int version;
        private final Map<String, Object> metadata;
        private final Map<String, GGUFValueType> valueTypes;
        private final Map<String, GGUFValueType> arrayElementTypes;
        private final Map<String, TensorInfo> tensors;
        private final int alignment;
        private final long dataOffset;
        private final Arena arena;
        private final MemorySegment file;

        private GGUF(Path path, int version, Map<String, Object> metadata, Map<String, GGUFValueType> valueTypes,
                     Map<String, GGUFValueType> arrayElementTypes, Map<String, TensorInfo> tensors,
                     int alignment, long dataOffset, Arena arena, MemorySegment file) {
            this.path = path; this.version = version; this.metadata = metadata; this.valueTypes = valueTypes;
            this.arrayElementTypes = arrayElementTypes; this.tensors = tensors; this.alignment = alignment;
            this.dataOffset = dataOffset; this.arena = arena; this.file = file;
        }

        public Path path() { return path; }
        public int version() { return version; }
        /** Metadata in file order. */
        public Map<String, Object> metadata() { return metadata; }
        public Map<String, GGUFValueType> valueTypes() { return valueTypes; }
        public Map<String, GGUFValueType> arrayElementTypes() { return arrayElementTypes; }
        /** Tensor infos in file order. */
        public Map<String, TensorInfo> tensors() { return tensors; }
        public int alignment() { return alignment; }
        /** Absolute file offset of the tensor data section. */
        public long dataOffset() { return dataOffset; }

        /** The bytes of one tensor, mapped from the file (no copy). */
        public MemorySegment tensorData(TensorInfo t) {
            return file.asSlice(dataOffset + t.offset(), t.byteSize());
        }

        public MemorySegment tensorData(String name) {
            TensorInfo t = tensors.get(name);
            if (t == null) throw new GGUFFormatException(path + ": tensor '" + name + "' is missing");
            return tensorData(t);
        }

        /** A metadata value, or {@code null} when absent. */
        @SuppressWarnings("unchecked")
        public <T> T get(String key) { return (T) metadata.get(key); }

        /** A required metadata value of the given Java type; a clear error when missing or of another type. */
        public <T> T require(String key, Class<T> type) {
            Object v = metadata.get(key);
            if (v == null) throw new GGUFFormatException(path + ": required metadata key '" + key + "' is missing");
            if (!type.isInstance(v)) {
                throw new GGUFFormatException(path + ": metadata key '" + key + "' should be " + type.getSimpleName()
                        + " but is " + valueTypes.get(key));
            }
            return type.cast(v);
        }

        /** An integer-valued key of any integer width, or {@code fallback} when absent. */
        public long getLong(String key, long fallback) {
            Object v = metadata.get(key);
            if (v == null) return fallback;
            if (v instanceof Number n && !(v instanceof Float) && !(v instanceof Double)) {
                return switch (v) {
                    case Integer i when valueTypes.get(key) == GGUFValueType.UINT32 -> Integer.toUnsignedLong(i);
                    case Short s when valueTypes.get(key) == GGUFValueType.UINT16 -> Short.toUnsignedInt(s);
                    case Byte b when valueTypes.get(key) == GGUFValueType.UINT8 -> Byte.toUnsignedInt(b);
                    default -> n.longValue();
                };
            }
            throw new GGUFFormatException(path + ": metadata key '" + key + "' should be an integer but is " + valueTypes.get(key));
        }

        /** A float-valued key (F32 or F64), or {@code fallback} when absent. */
        public float getFloat(String key, float fallback) {
            Object v = metadata.get(key);
            if (v == null) return fallback;
            if (v instanceof Float f) return f;
            if (v instanceof Double d) return (float) (double) d;
            throw new GGUFFormatException(path + ": metadata key '" + key + "' should be a float but is " + valueTypes.get(key));
        }

        @Override public void close() { arena.close(); }

        /** Parses a GGUF v2/v3 file and maps its tensor data. Every structural problem is a {@link GGUFFormatException}. */
        public static GGUF read(Path path) {
            if (!Files.isRegularFile(path)) throw new UserError("model file not found: " + path);
            Arena arena = Arena.ofShared();
            try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
                MemorySegment file = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
                GGUF gguf = new Parser(path, file).parse(arena);
                return gguf;
            } catch (IOException e) {
                arena.close();
                throw new UserError("cannot read " + path + ": " + e.getMessage(), e);
            } catch (RuntimeException e) {
                arena.close();
                throw e;
            }
        }

        /** Sequential little-endian reader over the mapped file, bounds-checked with clear messages. */
        private static final class Parser {
            private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
            private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
            private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
            private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
            private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
            // Far above any real model, far below what would make us allocate absurd arrays.
            private static final long MAX_COUNT = 1L << 28;
            private static final int MAX_DIMS = 4;

            private final Path path;
            private final MemorySegment file;
            private long pos;
            private String where = "header";

            Parser(Path path, MemorySegment file) { this.path = path; this.file = file; }

            private GGUFFormatException error(String what) {
                return new GGUFFormatException(path + ": " + what);
            }

            private void need(long n) {
                if (n < 0 || pos + n > file.byteSize()) {
                    throw error("file is truncated in the " + where + " (needed " + n + " bytes at offset " + pos
                            + ", file has " + file.byteSize() + ")");
                }
            }

            private byte u8() { need(1); return file.get(ValueLayout.JAVA_BYTE, pos++); }
            private short u16() { need(2); short v = file.get(I16, pos); pos += 2; return v; }
            private int u32() { need(4); int v = file.get(I32, pos); pos += 4; return v; }
            private long u64() { need(8); long v = file.get(I64, pos); pos += 8; return v; }
            private float f32() { need(4); float v = file.get(F32, pos); pos += 4; return v; }
            private double f64() { need(8); double v = file.get(F64, pos); pos += 8; return v; }

            private long count(String what) {
                long n = u64();
                if (n < 0 || n > MAX_COUNT) throw error(what + " is " + Long.toUnsignedString(n) + ", which is absurd (at most " + MAX_COUNT + ")");
                return n;
            }

            private String string() {
                long n = u64();
                if (n < 0 || n > file.byteSize()) throw error("string length " + Long.toUnsignedString(n) + " in the " + where + " exceeds the file size");
                need(n);
                byte[] bytes = file.asSlice(pos, n).toArray(ValueLayout.JAVA_BYTE);
                pos += n;
                return new String(bytes, StandardCharsets.UTF_8);
            }

            private GGUFValueType valueType() {
                int t = u32();
                GGUFValueType[] all = GGUFValueType.values();
                if (t < 0 || t >= all.length) throw error("unknown metadata value type " + t + " in the " + where + " (known: 0.." + (all.length - 1) + ")");
                return all[t];
            }

            private Object value(GGUFValueType type, Map<String, GGUFValueType> arrayTypes, String key) {
                return switch (type) {
                    case UINT8, INT8 -> u8();
                    case UINT16, INT16 -> u16();
                    case UINT32, INT32 -> u32();
                    case UINT64, INT64 -> u64();
                    case FLOAT32 -> f32();
                    case FLOAT64 -> f64();
                    case BOOL -> {
                        byte b = u8();
                        if (b != 0 && b != 1) throw error("metadata key '" + key + "' is a bool with value " + b + " (expected 0 or 1)");
                        yield b == 1;
                    }
                    case STRING -> string();
                    case ARRAY -> array(arrayTypes, key);
                };
            }

            private Object array(Map<String, GGUFValueType> arrayTypes, String key) {
                GGUFValueType et = valueType();
                long n = count("length of array '" + key + "'");
                if (arrayTypes != null) arrayTypes.put(key, et);
                int len = (int) n;
                switch (et) {
                    case UINT8, INT8 -> { need(n); byte[] a = file.asSlice(pos, n).toArray(ValueLayout.JAVA_BYTE); pos += n; return a; }
                    case UINT16, INT16 -> { short[] a = new short[len]; for (int i = 0; i < len; i++) a[i] = u16(); return a; }
                    case UINT32, INT32 -> { need(4 * n); int[] a = new int[len]; for (int i = 0; i < len; i++) a[i] = u32(); return a; }
                    case UINT64, INT64 -> { need(8 * n); long[] a = new long[len]; for (int i = 0; i < len; i++) a[i] = u64(); return a; }
                    case FLOAT32 -> { need(4 * n); float[] a = new float[len]; for (int i = 0; i < len; i++) a[i] = f32(); return a; }
                    case FLOAT64 -> { need(8 * n); double[] a = new double[len]; for (int i = 0; i < len; i++) a[i] = f64(); return a; }
                    case BOOL -> { boolean[] a = new boolean[len]; for (int i = 0; i < len; i++) a[i] = u8() != 0; return a; }
                    case STRING -> { String[] a = new String[len]; for (int i = 0; i < len; i++) a[i] = string(); return a; }
                    case ARRAY -> { Object[] a = new Object[len]; for (int i = 0; i < len; i++) a[i] = array(null, key); return a; }
                    default -> throw new IllegalStateException();
                }
            }

            GGUF parse(Arena arena) {
                need(4);
                int magic = u32();
                if (magic != MAGIC) {
                    throw error(String.format("not a GGUF file: magic is 0x%08x, expected 0x%08x (\"GGUF\")", magic, MAGIC));
                }
                int version = u32();
                if (!SUPPORTED_VERSIONS.contains(version)) {
                    throw error("unsupported GGUF version " + Integer.toUnsignedString(version) + " (supported: 2 and 3"
                            + (version == 1 ? "; version 1 files must be re-converted with a current llama.cpp" : "") + ")");
                }
                long tensorCount = count("tensor count");
                long kvCount = count("metadata entry count");

                Map<String, Object> metadata = new LinkedHashMap<>();
                Map<String, GGUFValueType> types = new LinkedHashMap<>();
                Map<String, GGUFValueType> arrayTypes = new LinkedHashMap<>();
                for (long i = 0; i < kvCount; i++) {
                    where = "metadata entry " + i;
                    String key = string();
                    where = "metadata entry '" + key + "'";
                    GGUFValueType type = valueType();
                    Object value = value(type, arrayTypes, key);
                    if (metadata.containsKey(key)) throw error("duplicate metadata key '" + key + "'");
                    metadata.put(key, value);
                    types.put(key, type);
                }

                int alignment = DEFAULT_ALIGNMENT;
                if (metadata.containsKey("general.alignment")) {
                    Object a = metadata.get("general.alignment");
                    if (!(a instanceof Integer ai) || types.get("general.alignment") != GGUFValueType.UINT32) {
                        throw error("general.alignment must be a UINT32, found " + types.get("general.alignment"));
                    }
                    alignment = ai;
                    if (alignment <= 0 || Integer.bitCount(alignment) != 1) {
                        throw error("general.alignment is " + Integer.toUnsignedString(alignment) + ", expected a power of two");
                    }
                }

                Map<String, TensorInfo> tensors = new LinkedHashMap<>();
                for (long i = 0; i < tensorCount; i++) {
                    where = "tensor info " + i;
                    String name = string();
                    where = "tensor info '" + name + "'";
                    int nDims = u32();
                    if (nDims < 1 || nDims > MAX_DIMS) throw error("tensor '" + name + "' has " + Integer.toUnsignedString(nDims) + " dimensions (expected 1.." + MAX_DIMS + ")");
                    long[] shape = new long[nDims];
                    long elements = 1;
                    for (int d = 0; d < nDims; d++) {
                        shape[d] = u64();
                        if (shape[d] <= 0 || shape[d] > (1L << 40) || Math.multiplyHigh(elements, shape[d]) != 0 || elements * shape[d] > (1L << 40)) {
                            throw error("tensor '" + name + "' has an absurd dimension " + Long.toUnsignedString(shape[d]) + " at index " + d);
                        }
                        elements *= shape[d];
                    }
                    int typeId = u32();
                    GGMLType type = GGMLType.fromId(typeId);
                    if (type == null) throw error("tensor '" + name + "' has unknown tensor type " + Integer.toUnsignedString(typeId));
                    if (shape[0] % type.blockSize != 0) {
                        throw error("tensor '" + name + "' of type " + type + " has row length " + shape[0] + ", not a multiple of its block size " + type.blockSize);
                    }
                    long offset = u64();
                    if (offset % alignment != 0) throw error("tensor '" + name + "' data offset " + offset + " is not a multiple of the alignment " + alignment);
                    if (tensors.containsKey(name)) throw error("duplicate tensor name '" + name + "'");
                    tensors.put(name, new TensorInfo(name, type, shape, offset));
                }

                long dataOffset = (pos + alignment - 1) / alignment * alignment;
                for (TensorInfo t : tensors.values()) {
                    long end = dataOffset + t.offset() + t.byteSize();
                    if (end > file.byteSize()) {
                        throw error("tensor data is truncated: tensor '" + t.name() + "' ends at byte " + end
                                + " but the file has " + file.byteSize() + " bytes");
                    }
                }
                return new GGUF(path, version, Collections.unmodifiableMap(metadata), Collections.unmodifiableMap(types),
                        Collections.unmodifiableMap(arrayTypes), Collections.unmodifiableMap(tensors), alignment, dataOffset, arena, file);
            }
        }
    }

    // =====================================================================================
    // 5. (part) The attention extension point
    // =====================================================================================

    /**
     * The shape of a loaded llama model, as a plugin sees it. headSize = dim / nHeads unless the file
     * says otherwise (attention.key_length); kvDim = nKvHeads * headSize.
     */
    public record ModelConfig(int dim, int hiddenDim, int nLayers, int nHeads, int nKvHeads, int headSize,
                              int vocabSize, int contextLength, float rmsNormEps, float ropeTheta) {
        public int kvDim() { return nKvHeads * headSize; }
        public int qDim() { return nHeads * headSize; }
        /** Query heads per KV head (grouped-query attention). */
        public int kvGroup() { return nHeads / nKvHeads; }
    }

    /** What an attention hook learns about the model it is attached to. */
    public record ModelInfo(ModelConfig config, GGUF gguf, Tokenizer tokenizer) {}

    /**
     * Replaces the attention computation of the runtime. Implementations are found with
     * {@link java.util.ServiceLoader} ({@code META-INF/services/io.github.tokenbutler.runtime.Llama3$AttentionHook})
     * and chosen by name with {@code --attention NAME} or {@code -Dtokenbutler.attention=NAME};
     * {@code dense} is built in.
     *
     * <p>Options come from {@code --attention-opt KEY=VALUE} (repeatable) and from system properties
     * {@code tokenbutler.attention.KEY=VALUE}; the command line wins. An implementation rejects an
     * unknown key or a bad value with a {@link UserError} naming the key, the expected and the actual value.
     */
    public interface AttentionHook {
        /** The name used with {@code --attention}. */
        String name();

        /** One line for the list shown when an unknown name is asked for. */
        default String description() { return ""; }

        /** Attaches to a loaded model; called once per model state (one sequence at a time). */
        Attention open(ModelInfo model, Map<String, String> options);

        /**
         * Per-state attention. Buffers are row-major; token i of a call is at position startPos + i and
         * sees key positions 0..startPos+i (causal). The caches hold positions 0..startPos+nTokens-1
         * (the current tokens' keys and values are already written, with RoPE applied to the keys).
         */
        interface Attention extends AutoCloseable {
            /** A new sequence starts at position 0: drop all per-sequence state. */
            void resetSequence();

            /**
             * The layer-0 attention input (hidden state after the layer-0 attention RMSNorm) of the
             * current tokens, called in prefill and decode before any layer's attention.
             * @param x [nTokens][dim], row-major; valid only during the call
             */
            default void layer0Input(int startPos, int nTokens, float[] x) {}

            /**
             * Computes attention for one layer, or returns false to let the runtime compute it densely.
             * @param q          [nTokens][nHeads*headSize] queries after RoPE
             * @param keyCache   [contextLength][nKvHeads*headSize] keys after RoPE (the runtime's live cache: read only)
             * @param valueCache [contextLength][nKvHeads*headSize] values (read only)
             * @param out        [nTokens][nHeads*headSize] to be filled: softmax(q·k/sqrt(headSize))·v per head
             */
            boolean attend(int layer, int startPos, int nTokens, float[] q, float[] keyCache, float[] valueCache, float[] out);

            /**
             * Benchmarks only: the runtime filled cache positions 0..nTokens-1 with synthetic keys and values
             * instead of running the model; make the per-sequence state consistent (e.g. synthetic importance keys).
             */
            default void syntheticPrefill(int nTokens, long seed) {}

            /** Where the hook's time went since the last reset, e.g. {"predictor": ns, "selection": ns, "attention": ns}. */
            default Map<String, Long> timingsNanos() { return Map.of(); }

            @Override default void close() {}
        }
    }

    /**
     * Dense causal attention, the reference every other attention must match. The arithmetic is fixed
     * so that a sparse kernel given every visible index reproduces it bit for bit:
     * scores s_t = dot(q_h, k_t) * (1/sqrt(headSize)) for t in index order; m = max s; e_t = (float) exp(s_t - m);
     * sum = e_0 + e_1 + ... in index order; out = 0, then for t in index order out += (e_t / sum) * v_t
     * with {@link VectorMath#axpy}. Use {@link #attendHead} with an index list to get the same arithmetic.
     */
    public static final class DenseAttention {
        private DenseAttention() {}

        /**
         * One query head over the given key positions.
         * @param q        query buffer; the head's queries at q[qOff .. qOff+headSize)
         * @param keyCache [contextLength][kvDim]; the head's keys at t*kvDim + kvOff
         * @param indices  key positions to attend, ascending; null means 0..count-1
         * @param count    how many entries of indices to use
         * @param scores   scratch of at least count floats
         * @param out      receives headSize floats at outOff (overwritten)
         */
        public static void attendHead(float[] q, int qOff, float[] keyCache, float[] valueCache, int kvDim, int kvOff,
                                      int headSize, int[] indices, int count, float[] scores, float[] out, int outOff) {
            float scale = (float) (1.0 / Math.sqrt(headSize));
            float max = Float.NEGATIVE_INFINITY;
            for (int i = 0; i < count; i++) {
                int t = indices == null ? i : indices[i];
                float s = VectorMath.dot(q, qOff, keyCache, t * kvDim + kvOff, headSize) * scale;
                scores[i] = s;
                if (s > max) max = s;
            }
            float sum = 0f;
            for (int i = 0; i < count; i++) {
                float e = (float) Math.exp(scores[i] - max);
                scores[i] = e;
                sum += e;
            }
            java.util.Arrays.fill(out, outOff, outOff + headSize, 0f);
            for (int i = 0; i < count; i++) {
                int t = indices == null ? i : indices[i];
                VectorMath.axpy(scores[i] / sum, valueCache, t * kvDim + kvOff, out, outOff, headSize);
            }
        }

        /** All heads of all current tokens, causal. Shapes as in {@link AttentionHook.Attention#attend}. */
        public static void attend(ModelConfig c, int startPos, int nTokens, float[] q, float[] keyCache, float[] valueCache,
                                  float[] out, float[] scores) {
            int hs = c.headSize(), qDim = c.qDim(), kvDim = c.kvDim(), group = c.kvGroup();
            for (int i = 0; i < nTokens; i++) {
                int visible = startPos + i + 1;
                for (int h = 0; h < c.nHeads(); h++) {
                    attendHead(q, i * qDim + h * hs, keyCache, valueCache, kvDim, (h / group) * hs, hs,
                            null, visible, scores, out, i * qDim + h * hs);
                }
            }
        }
    }

    /** Small float kernels shared by the runtime and plugins, so both do the same arithmetic. */
    public static final class VectorMath {
        private VectorMath() {}

        /** Sum of a[aOff+i]*b[bOff+i], i < n. Vectorized; the order of additions is fixed for a given n. */
        public static float dot(float[] a, int aOff, float[] b, int bOff, int n) {
            // TODO(runtime): Vector API version with a fixed reduction order.
            float s = 0f;
            for (int i = 0; i < n; i++) s += a[aOff + i] * b[bOff + i];
            return s;
        }

        /** y[yOff+i] += alpha * x[xOff+i], i < n. */
        public static void axpy(float alpha, float[] x, int xOff, float[] y, int yOff, int n) {
            for (int i = 0; i < n; i++) y[yOff + i] += alpha * x[xOff + i];
        }
    }

    // =====================================================================================
    // 4/5. (part) The programmatic API: load a model, make a state, run the forward pass.
    //      Implemented below in sections 4 and 5; the signatures are the contract plugins and tools use.
    // =====================================================================================

    /** How to load a model. contextLength 0 means "from the metadata" (llama.context_length). */
    public record LoadOptions(int contextLength) {
        public static LoadOptions defaults() { return new LoadOptions(0); }
    }

    /** A loaded model: config, tokenizer and weights mapped from the GGUF file. */
    public static final class Model implements AutoCloseable {
        /** Loads and validates a llama GGUF; every problem with the file is a {@link UserError}. */
        public static Model load(Path path, LoadOptions options) { throw new UnsupportedOperationException("TODO(runtime)"); }

        public ModelConfig config() { throw new UnsupportedOperationException("TODO(runtime)"); }
        public Tokenizer tokenizer() { throw new UnsupportedOperationException("TODO(runtime)"); }
        public GGUF gguf() { throw new UnsupportedOperationException("TODO(runtime)"); }
        public ModelInfo info() { return new ModelInfo(config(), gguf(), tokenizer()); }

        /** A fresh state (KV cache at position 0) whose attention goes through {@code attention}, or dense when null. */
        public State newState(AttentionHook.Attention attention) { throw new UnsupportedOperationException("TODO(runtime)"); }

        /**
         * Runs tokens[offset .. offset+nTokens) at positions startPos.. (batched; any nTokens, split internally).
         * startPos 0 starts a new sequence: the state and its attention are reset.
         * @return logits [nTokens][vocab] row-major when allLogits, else [vocab] of the last token
         */
        public float[] forward(State state, int[] tokens, int offset, int nTokens, int startPos, boolean allLogits) {
            throw new UnsupportedOperationException("TODO(runtime)");
        }

        @Override public void close() {}
    }

    /** Per-sequence state: the KV cache and the attention in use. */
    public static final class State {
        /** [layer][contextLength * kvDim], keys after RoPE. */
        public final float[][] keyCache;
        /** [layer][contextLength * kvDim]. */
        public final float[][] valueCache;
        /** Nanoseconds spent in attention (hook or dense) and in everything else, summed over forward calls. */
        public long attentionNanos, otherNanos;

        State(float[][] keyCache, float[][] valueCache) { this.keyCache = keyCache; this.valueCache = valueCache; }
    }

    /**
     * Finds an attention hook by name: "dense" (built in) or one found by ServiceLoader on the classpath.
     * An unknown name is a {@link UserError} listing the available ones.
     */
    public static AttentionHook findAttentionHook(String name) { throw new UnsupportedOperationException("TODO(runtime)"); }

    /**
     * The options for a hook: system properties tokenbutler.attention.KEY=VALUE, overridden by the
     * KEY=VALUE strings given on the command line (a string without '=' is a {@link UserError}).
     */
    public static Map<String, String> attentionOptions(List<String> commandLine) { throw new UnsupportedOperationException("TODO(runtime)"); }

    // =====================================================================================
    // 6. (part) Tokenizer API
    // =====================================================================================

    /** Text ↔ token ids, built from the GGUF's tokenizer.ggml.* metadata. */
    public interface Tokenizer {
        /** Encodes plain text; special-token text such as "<|eot_id|>" is NOT parsed as a special token. No BOS added. */
        int[] encode(String text);
        /** Encodes text in which special tokens written out literally become their ids. No BOS added. */
        int[] encodeWithSpecialTokens(String text);
        /** The text of a sequence of tokens (byte tokens joined into UTF-8; the SentencePiece leading space of the first piece kept). */
        String decode(int[] tokens);
        /** The bytes one token contributes when streamed after {@code previous} (-1 when first). */
        byte[] tokenBytes(int previous, int token);
        int vocabSize();
        int bosId();
        /** -1 when the vocabulary has none. */
        int eosId();
        /** Ids that end generation: EOS, and for Llama 3 chat also <|eot_id|> and <|eom_id|>. */
        int[] stopIds();
        /** Id of a special token by its text, or -1. */
        int specialTokenId(String text);
        /** Whether BOS is prepended (tokenizer.ggml.add_bos_token, default true). */
        boolean addBos();
    }
}
