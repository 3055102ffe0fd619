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
//   8. chat format   chat template families (Llama 3, Llama 2, Mistral, ChatML, Zephyr, Gemma, Phi-3)
//   9. Java API      Generator, GenerationParams, ChatMessage, Completion (nested here: see vendor/README.md)
//  10. CLI
// Self-contained: only the JDK and jdk.incubator.vector. As a library: the Maven artifact
// io.github.tokenbutler:tokenbutler-runtime (README.md, "From your own Java program").
package io.github.tokenbutler.runtime;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.PriorityQueue;
import java.util.Properties;
import java.util.ServiceConfigurationError;
import java.util.ServiceLoader;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A GGUF runtime for the llama architecture in one file: the CLI ({@link #main}) and a Java API.
 *
 * <p>The Java API, nested here so that the runtime stays one file that jbang runs:
 * <ul>
 *   <li>{@link Generator}: a model loaded with its attention (dense or a plugin's hook, such as TokenButler);
 *       {@link Generator#generate generate} continues a prompt, {@link Generator#chat chat} answers messages;</li>
 *   <li>{@link GenerationParams}: token limit, sampling (temperature, top-p, seed, repeat penalty), stop
 *       strings and cancellation;</li>
 *   <li>{@link ChatMessage}, {@link Completion} (text, token counts, why it ended, speed),
 *       {@link LoadOptions} (context length, KV cache types);</li>
 *   <li>{@link UserError}: every problem with the input (a file, a value), as one line saying what was wrong.</li>
 * </ul>
 * <pre>{@code
 * import io.github.tokenbutler.runtime.Llama3.Completion;
 * import io.github.tokenbutler.runtime.Llama3.GenerationParams;
 * import io.github.tokenbutler.runtime.Llama3.Generator;
 *
 * try (Generator g = Generator.open(Path.of("stories260K.gguf"))) {
 *     Completion c = g.generate("Once upon a time", GenerationParams.greedy(64), System.out::print);
 * }
 * }</pre>
 * The JVM needs {@code --add-modules jdk.incubator.vector} (and {@code --enable-native-access=ALL-UNNAMED} to map
 * model files without a warning). The other public types (tensors, the forward pass, {@link AttentionHook}) are
 * the extension point for plugins and the tools' building blocks.
 */
public final class Llama3 {
    private Llama3() {}

    // =====================================================================================
    // 1. Errors
    // =====================================================================================

    /**
     * A problem with the user's input (a file, an option, a prompt, a value given to the Java API). The message is
     * one printable line that names what was wrong, what was expected and what was given; the CLI prints it alone
     * and exits non-zero, never with a stack trace. A program using the API can show {@link #getMessage()} as it is.
     */
    public static class UserError extends RuntimeException {
        /**
         * An error with its message.
         *
         * @param message what was wrong, expected and given; control characters are escaped
         */
        public UserError(String message) { super(printable(message)); }
        /**
         * An error with its message and the exception behind it.
         *
         * @param message what was wrong, expected and given; control characters are escaped
         * @param cause   the exception behind it (an I/O error), kept for debugging
         */
        public UserError(String message, Throwable cause) { super(printable(message), cause); }

        /**
         * "doing: what went wrong" in words for an I/O failure, e.g. "cannot write out.gguf: the file system is
         * read-only", instead of an exception's class name and errno text.
         *
         * @param doing what failed, e.g. "cannot write out.gguf"
         * @param e     the I/O failure
         * @return the error, with e as its cause
         */
        public static UserError io(String doing, IOException e) {
            String reason = e instanceof FileSystemException f && f.getReason() != null ? f.getReason() : String.valueOf(e.getMessage());
            String words = switch (e) {
                case AccessDeniedException a -> "permission denied" + (a.getFile() != null ? " (" + a.getFile() + ")" : "");
                case NoSuchFileException n -> "no such file or folder: " + n.getFile();
                case FileAlreadyExistsException x -> x.getFile() + " already exists";
                case NotDirectoryException d -> d.getFile() + " is not a folder";
                case DirectoryNotEmptyException d -> "folder " + d.getFile() + " is not empty";
                default -> reason.contains("Read-only file system") ? "the file system is read-only"
                        : reason.contains("No space left") ? "the disk is full"
                        : reason.contains("quota") ? "the disk quota is exceeded"
                        : reason.contains("Permission denied") ? "permission denied"
                        : reason;
            };
            return new UserError(doing + ": " + words, e);
        }
    }

    /**
     * Text from a file as a message shows it: quoted, control characters escaped (\n, \xNN), and cut after
     * 64 characters, so that a corrupt name never prints raw bytes or a megabyte of garbage.
     */
    public static String quote(String fromFile) {
        int max = 64;
        String shown = fromFile.length() > max ? fromFile.substring(0, max) : fromFile;
        return "'" + printable(shown) + (fromFile.length() > max ? "'... (" + fromFile.length() + " characters)" : "'");
    }

    /** s with control characters (C0, DEL, C1) escaped: every message stays one printable line. */
    public static String printable(String s) {
        if (s == null || s.chars().noneMatch(Llama3::isControl)) return s;
        StringBuilder sb = new StringBuilder(s.length() + 16);
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (!isControl(c)) sb.append(c);
            else if (c == '\n') sb.append("\\n");
            else if (c == '\t') sb.append("\\t");
            else if (c == '\r') sb.append("\\r");
            else sb.append(String.format("\\x%02x", (int) c));
        }
        return sb.toString();
    }

    /**
     * path, when it is a readable file; else a UserError saying which of "not found", "is a folder" and
     * "cannot be read" it is. what names the file's role, e.g. "model file".
     */
    public static Path requireReadableFile(Path path, String what) {
        if (Files.isDirectory(path)) throw new UserError(what + " " + path + " is a folder, expected a file");
        if (!Files.exists(path)) throw new UserError(what + " not found: " + path);
        if (!Files.isRegularFile(path)) throw new UserError(what + " " + path + " is not a regular file");
        if (!Files.isReadable(path)) throw new UserError(what + " " + path + " cannot be read: permission denied");
        return path;
    }

    /**
     * The kernels use the incubating Vector API, which a JVM resolves only when asked: without it the first kernel
     * call would fail with a NoClassDefFoundError. Said in words, with the flag, before anything runs.
     */
    public static void requireVectorModule() {
        if (ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()) {
            throw new UserError("this JVM was started without the Vector API module: add --add-modules jdk.incubator.vector"
                    + " to the java command line (./tokenbutler and the jbang header do)");
        }
    }

    private static boolean isControl(int c) { return c < 0x20 || (c >= 0x7f && c < 0xa0); }

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
            requireReadableFile(path, "GGUF file");
            Arena arena = Arena.ofShared();
            try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
                MemorySegment file = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
                GGUF gguf = new Parser(path, file).parse(arena);
                return gguf;
            } catch (IOException e) {
                arena.close();
                throw UserError.io("cannot read " + path, e);
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
            private static final int MAX_ARRAY_NESTING = 4;

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
                        if (b != 0 && b != 1) throw error("metadata key " + quote(key) + " is a bool with value " + b + " (expected 0 or 1)");
                        yield b == 1;
                    }
                    case STRING -> string();
                    case ARRAY -> array(arrayTypes, key, 1);
                };
            }

            private Object array(Map<String, GGUFValueType> arrayTypes, String key, int depth) {
                if (depth > MAX_ARRAY_NESTING) throw error("array " + quote(key) + " nests arrays more than " + MAX_ARRAY_NESTING + " deep");
                GGUFValueType et = valueType();
                long n = count("length of array " + quote(key));
                if (arrayTypes != null) arrayTypes.put(key, et);
                int len = (int) n;
                // The smallest encoding of each element (a string: its u64 length; an array: type and length),
                // checked against the bytes left before anything is allocated from n.
                need(n * switch (et) {
                    case UINT8, INT8, BOOL -> 1;
                    case UINT16, INT16 -> 2;
                    case UINT32, INT32, FLOAT32 -> 4;
                    case UINT64, INT64, FLOAT64, STRING -> 8;
                    case ARRAY -> 12;
                });
                return switch (et) {
                    case UINT8, INT8 -> { byte[] a = file.asSlice(pos, n).toArray(ValueLayout.JAVA_BYTE); pos += n; yield a; }
                    case UINT16, INT16 -> { short[] a = new short[len]; for (int i = 0; i < len; i++) a[i] = u16(); yield a; }
                    case UINT32, INT32 -> { int[] a = new int[len]; for (int i = 0; i < len; i++) a[i] = u32(); yield a; }
                    case UINT64, INT64 -> { long[] a = new long[len]; for (int i = 0; i < len; i++) a[i] = u64(); yield a; }
                    case FLOAT32 -> { float[] a = new float[len]; for (int i = 0; i < len; i++) a[i] = f32(); yield a; }
                    case FLOAT64 -> { double[] a = new double[len]; for (int i = 0; i < len; i++) a[i] = f64(); yield a; }
                    case BOOL -> { boolean[] a = new boolean[len]; for (int i = 0; i < len; i++) a[i] = u8() != 0; yield a; }
                    case STRING -> { String[] a = new String[len]; for (int i = 0; i < len; i++) a[i] = string(); yield a; }
                    case ARRAY -> { Object[] a = new Object[len]; for (int i = 0; i < len; i++) a[i] = array(null, key, depth + 1); yield a; }
                };
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
                    where = "metadata entry " + quote(key);
                    GGUFValueType type = valueType();
                    Object value = value(type, arrayTypes, key);
                    if (metadata.containsKey(key)) throw error("duplicate metadata key " + quote(key));
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
                    where = "tensor info " + quote(name);
                    int nDims = u32();
                    if (nDims < 1 || nDims > MAX_DIMS) throw error("tensor " + quote(name) + " has " + Integer.toUnsignedString(nDims) + " dimensions (expected 1.." + MAX_DIMS + ")");
                    long[] shape = new long[nDims];
                    long elements = 1;
                    for (int d = 0; d < nDims; d++) {
                        shape[d] = u64();
                        if (shape[d] <= 0 || shape[d] > (1L << 40) || Math.multiplyHigh(elements, shape[d]) != 0 || elements * shape[d] > (1L << 40)) {
                            throw error("tensor " + quote(name) + " has an absurd dimension " + Long.toUnsignedString(shape[d]) + " at index " + d);
                        }
                        elements *= shape[d];
                    }
                    int typeId = u32();
                    GGMLType type = GGMLType.fromId(typeId);
                    if (type == null) throw error("tensor " + quote(name) + " has unknown tensor type " + Integer.toUnsignedString(typeId));
                    if (shape[0] % type.blockSize != 0) {
                        throw error("tensor " + quote(name) + " of type " + type + " has row length " + shape[0] + ", not a multiple of its block size " + type.blockSize);
                    }
                    long offset = u64();
                    if (offset % alignment != 0) throw error("tensor " + quote(name) + " data offset " + Long.toUnsignedString(offset) + " is not a multiple of the alignment " + alignment);
                    if (tensors.containsKey(name)) throw error("duplicate tensor name " + quote(name));
                    tensors.put(name, new TensorInfo(name, type, shape, offset));
                }

                long dataOffset = (pos + alignment - 1) / alignment * alignment;
                for (TensorInfo t : tensors.values()) {
                    // Offsets are u64 read into a long: one at or above 2^63 is negative here, and a sum with it
                    // would wrap around. Refused first; then every term is below 2^62 and the sum cannot overflow.
                    if (t.offset() < 0 || t.offset() > file.byteSize()) {
                        throw error("tensor " + quote(t.name()) + " has data offset " + Long.toUnsignedString(t.offset())
                                + ", beyond the end of the file (" + file.byteSize() + " bytes)");
                    }
                    long end = dataOffset + t.offset() + t.byteSize();
                    if (end > file.byteSize()) {
                        throw error("tensor data is truncated: tensor " + quote(t.name()) + " ends at byte " + end
                                + " but the file has " + file.byteSize() + " bytes");
                    }
                }
                List<TensorInfo> byOffset = new ArrayList<>(tensors.values());
                byOffset.sort(Comparator.comparingLong(TensorInfo::offset));
                for (int i = 1; i < byOffset.size(); i++) {
                    TensorInfo a = byOffset.get(i - 1), b = byOffset.get(i);
                    if (a.offset() + a.byteSize() > b.offset()) {
                        throw error("the data of tensors " + quote(a.name()) + " (bytes " + a.offset() + ".." + (a.offset() + a.byteSize())
                                + " of the data section) and " + quote(b.name()) + " (from byte " + b.offset() + ") overlap");
                    }
                }
                return new GGUF(path, version, Collections.unmodifiableMap(metadata), Collections.unmodifiableMap(types),
                        Collections.unmodifiableMap(arrayTypes), Collections.unmodifiableMap(tensors), alignment, dataOffset, arena, file);
            }
        }
    }

    // =====================================================================================
    // 3. Tensor types. Block layouts are ggml's (ggml-common.h block_* structs, dequantize_row_*),
    //    little-endian with f16 scales. A FloatTensor reads its bytes where the file is mapped:
    //    weights are never copied. Every type has a scalar and a Vector API kernel; the scalar ones
    //    run when -Dtokenbutler.vector=false (or when the CPU's vectors are too narrow).
    // =====================================================================================

    /** Vector API settings shared by every kernel. */
    static final class Simd {
        private Simd() {}
        static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
        /** Float lanes per vector: 16 with AVX-512, 8 with AVX2, 4 with NEON. */
        static final int L = F.length();
        /** Byte loads feeding float conversions: as many bytes as float lanes, but at least 8 (the smallest byte vector). */
        static final VectorSpecies<Byte> B = L >= 16 ? ByteVector.SPECIES_128 : ByteVector.SPECIES_64;
        static final int BL = B.length();
        /** Float vectors made from one byte vector: 1, or 2 when floats come 4 to a vector. */
        static final int PARTS = BL / L;
        /** L shorts and L ints: f16/bf16 loads and their widening. */
        static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(Math.max(64, L * 16)));
        static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
        /** Full-width short vectors (32 lanes with AVX-512): copies of f16 rows. */
        static final VectorSpecies<Short> SW = ShortVector.SPECIES_PREFERRED;
        /** The 16-lane kernels' species as JDK constants: C2 intrinsifies casts to a species from VectorSpecies.of less reliably. */
        static final VectorSpecies<Float> F16L = FloatVector.SPECIES_512;
        static final VectorSpecies<Integer> I16L = IntVector.SPECIES_512;
        static final VectorSpecies<Byte> B16L = ByteVector.SPECIES_128;
        static final boolean ENABLED = !"false".equalsIgnoreCase(System.getProperty("tokenbutler.vector", "true"))
                && L >= 4 && L <= 16 && S.length() == L;
        static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

        /**
         * The sum of the lanes in a fixed order: lane i is added to lane i^8, then i^4, i^2, i^1 (butterfly).
         * Vector.reduceLanes leaves the order open (interpreted and compiled code may differ), and splitting
         * the vector with reinterpretShape is not intrinsified (it goes through memory and cost more than the
         * dot products it finished); rearrange with a constant shuffle is one permute instruction.
         */
        static float sum(FloatVector v) {
            if (v.species() != F) {
                float s = 0f;
                for (int i = 0; i < v.length(); i++) s += v.lane(i);
                return s;
            }
            if (L >= 16) v = v.add(v.rearrange(XOR8));
            if (L >= 8) v = v.add(v.rearrange(XOR4));
            v = v.add(v.rearrange(XOR2));
            v = v.add(v.rearrange(XOR1));
            return v.lane(0);
        }

        /** {@link #sum} of 16 lanes stored at a[off..off+16), in the same order, so the same bits. */
        static float sum16(float[] a, int off) {
            float s0 = a[off] + a[off + 8], s1 = a[off + 1] + a[off + 9], s2 = a[off + 2] + a[off + 10], s3 = a[off + 3] + a[off + 11];
            float s4 = a[off + 4] + a[off + 12], s5 = a[off + 5] + a[off + 13], s6 = a[off + 6] + a[off + 14], s7 = a[off + 7] + a[off + 15];
            float t0 = s0 + s4, t1 = s1 + s5, t2 = s2 + s6, t3 = s3 + s7;
            return (t0 + t2) + (t1 + t3);
        }

        private static final VectorShuffle<Float> XOR8 = xor(8), XOR4 = xor(4), XOR2 = xor(2), XOR1 = xor(1);

        /** Lane i takes lane i^k (identity where that is out of range, for shuffles a narrower vector does not use). */
        private static VectorShuffle<Float> xor(int k) {
            return VectorShuffle.fromOp(F, i -> (i ^ k) < L ? i ^ k : i);
        }

        /** IEEE half-precision bits (in the low 16 bits of each int lane) to float, subnormals, infinities and NaN included. */
        static FloatVector halfToFloat(IntVector h) {
            IntVector magnitude = h.and(0x7FFF);
            // Moving exponent and mantissa 13 bits up and multiplying by 2^112 re-biases the exponent (15 -> 127)
            // and turns f16 subnormals into the right float; infinities and NaN need their exponent set to all ones.
            FloatVector finite = magnitude.lanewise(VectorOperators.LSHL, 13).reinterpretAsFloats().mul(0x1p112f);
            VectorMask<Integer> special = magnitude.compare(VectorOperators.GE, 0x7C00);
            IntVector bits = finite.reinterpretAsInts()
                    .blend(magnitude.lanewise(VectorOperators.LSHL, 13).or(0x7F800000), special);
            return bits.or(h.and(0x8000).lanewise(VectorOperators.LSHL, 16)).reinterpretAsFloats();
        }
    }

    static final ValueLayout.OfShort SHORT_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfInt INT_LE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfFloat FLOAT_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    static float f16(MemorySegment m, long at) { return Float.float16ToFloat(m.get(SHORT_LE, at)); }
    static int u8(MemorySegment m, long at) { return Byte.toUnsignedInt(m.get(ValueLayout.JAVA_BYTE, at)); }
    static int i8(MemorySegment m, long at) { return m.get(ValueLayout.JAVA_BYTE, at); }

    /**
     * A tensor of one GGML type, read in place from the mapped file. Elements are numbered row-major
     * (GGUF shape[0] is the row length), so row r of a [rows][cols] matrix starts at element r*cols.
     * Ranges given to {@link #dot} and {@link #dequantize} start and end on block boundaries.
     */
    public abstract static class FloatTensor {
        /** The types this runtime computes with; any other is refused when a model is loaded. */
        public static final List<GGMLType> SUPPORTED = List.of(GGMLType.F32, GGMLType.F16, GGMLType.BF16,
                GGMLType.Q8_0, GGMLType.Q4_0, GGMLType.Q4_1, GGMLType.Q4_K, GGMLType.Q5_K, GGMLType.Q6_K);

        final String name;
        /** The tensor's bytes: size/blockSize blocks of typeSize bytes. */
        final MemorySegment data;
        final long size;

        FloatTensor(String name, MemorySegment data, long size) {
            this.name = name;
            this.data = data;
            this.size = size;
            if (data.byteSize() != type().byteSize(size)) {
                throw new GGUFFormatException("tensor '" + name + "' of type " + type() + " and " + size + " elements needs "
                        + type().byteSize(size) + " bytes, got " + data.byteSize());
            }
        }

        /** Wraps tensor bytes; an unsupported type is a {@link UserError} naming the tensor, its type and the supported ones. */
        public static FloatTensor of(TensorInfo info, MemorySegment data) {
            String n = info.name();
            long size = info.elements();
            return switch (info.type()) {
                case F32 -> new F32Tensor(n, data, size);
                case F16 -> new F16Tensor(n, data, size);
                case BF16 -> new BF16Tensor(n, data, size);
                case Q8_0 -> new Q8_0Tensor(n, data, size);
                case Q4_0 -> new Q4_0Tensor(n, data, size);
                case Q4_1 -> new Q4_1Tensor(n, data, size);
                case Q4_K -> new Q4_KTensor(n, data, size);
                case Q5_K -> new Q5_KTensor(n, data, size);
                case Q6_K -> new Q6_KTensor(n, data, size);
                default -> throw new UserError("tensor " + quote(n) + " has type " + info.type()
                        + ", which this runtime does not support (supported: " + supportedList() + ")");
            };
        }

        /** The named tensor of a GGUF file. */
        public static FloatTensor of(GGUF gguf, String name) {
            TensorInfo t = gguf.tensors().get(name);
            if (t == null) throw new GGUFFormatException(gguf.path() + ": tensor '" + name + "' is missing");
            return of(t, gguf.tensorData(t));
        }

        static String supportedList() {
            StringBuilder sb = new StringBuilder();
            for (GGMLType t : SUPPORTED) sb.append(sb.isEmpty() ? "" : ", ").append(t);
            return sb.toString();
        }

        public String name() { return name; }
        public long size() { return size; }
        public abstract GGMLType type();

        /** One element. Slow: for inspection and tests, not for kernels. */
        public abstract float getFloat(long index);

        /**
         * The index of the first element that is NaN, infinite or beyond ±2^100 (far outside any trained weight, and
         * enough to overflow a hidden state), or -1: llama.cpp's --check-tensors, and a little more. For a block type,
         * the first element of the first block whose f16 scale (or min) is not finite; its integer quants are
         * finite by construction, and an f16 cannot exceed 65504.
         */
        public abstract long firstBadValue();

        /** {@link #firstBadValue} of a block type: the f16 fields at these byte offsets in every block. */
        final long firstBadScale(int... fieldOffsets) {
            GGMLType t = type();
            long blocks = size / t.blockSize;
            for (long b = 0; b < blocks; b++) {
                long at = b * t.typeSize;
                for (int f : fieldOffsets) {
                    if ((data.get(SHORT_LE, at + f) & 0x7c00) == 0x7c00) return b * t.blockSize;
                }
            }
            return -1;
        }

        /** Elements [from, from+n) as floats into out[outOff..]; from and n are multiples of the block size. */
        public final void dequantize(long from, float[] out, int outOff, int n) {
            checkRange(from, n);
            Objects.checkFromIndexSize(outOff, n, out.length);
            if (Simd.ENABLED) dequantizeVector(from, out, outOff, n); else dequantizeScalar(from, out, outOff, n);
        }

        /** Elements [from, from+n) as a new float array. */
        public final float[] dequantize(long from, int n) {
            float[] out = new float[n];
            dequantize(from, out, 0, n);
            return out;
        }

        /** The whole tensor as floats (it must have fewer than 2^31 elements). */
        public final float[] dequantizeAll() {
            if (size > Integer.MAX_VALUE - 8) throw new UserError("tensor '" + name + "' has " + size + " elements, too many for one float array");
            return dequantize(0, (int) size);
        }

        /** Sum over i < n of element(offset+i) * x[xOff+i]; offset and n are multiples of the block size. */
        public final float dot(long offset, float[] x, int xOff, int n) {
            checkRange(offset, n);
            Objects.checkFromIndexSize(xOff, n, x.length);
            return Simd.ENABLED ? dotVector(offset, x, xOff, n) : dotScalar(offset, x, xOff, n);
        }

        /**
         * {@link #dot} without the range check, for the forward pass, whose ranges are whole rows of tensors
         * whose shapes were checked at load (the check's long divisions would otherwise run once per row).
         */
        final float dotRow(long offset, float[] x, int xOff, int n) {
            return Simd.ENABLED ? dotVector(offset, x, xOff, n) : dotScalar(offset, x, xOff, n);
        }

        /**
         * Four rows' {@link #dotRow}s, into res[0..3], equal to four dotRow calls bit for bit. The matmul
         * gives it rows a quarter of its chunk apart: one core keeps more cache misses in flight over four
         * independent memory streams than over one (Q8_0, one thread, weights out of cache: 9.5 GB/s
         * against 6.1 for one row at a time).
         */
        void dotRows4(long o0, long o1, long o2, long o3, float[] x, int n, float[] res) {
            res[0] = dotRow(o0, x, 0, n);
            res[1] = dotRow(o1, x, 0, n);
            res[2] = dotRow(o2, x, 0, n);
            res[3] = dotRow(o3, x, 0, n);
        }

        /**
         * x as {@link #dotRowPrepared} and {@link #dotRows4Prepared} read it: x itself, except where a type's
         * kernel decodes a block in another element order (Q6_K with 16 float lanes) and x is reordered to
         * match, once per matmul chunk instead of shuffling every weight block. scratch holds at least n floats.
         */
        float[] prepare(float[] x, int n, float[] scratch) { return x; }
        /** {@link #dotRow} with an input made by {@link #prepare}. */
        float dotRowPrepared(long offset, float[] px, int n) { return dotRow(offset, px, 0, n); }
        /** {@link #dotRows4} with an input made by {@link #prepare}. */
        void dotRows4Prepared(long o0, long o1, long o2, long o3, float[] px, int n, float[] res) { dotRows4(o0, o1, o2, o3, px, n, res); }

        /**
         * out[outOff + r] (+)= row r · x for rows [r0, r1) of a [rows][cols] matrix: one token's share of a
         * matmul. scratch holds at least cols floats. This default goes through {@link #dotRows4Prepared};
         * a type overrides it where a loop of its own over several rows streams the weights faster.
         */
        void matvec(float[] x, int cols, float[] out, int outOff, int r0, int r1, boolean accumulate, float[] scratch) {
            float[] px = prepare(x, cols, scratch);
            int q = (r1 - r0) / 4;
            float[] d4 = new float[4];
            for (int i = r0; i < r0 + q; i++) {
                dotRows4Prepared((long) i * cols, (long) (i + q) * cols, (long) (i + 2 * q) * cols, (long) (i + 3 * q) * cols, px, cols, d4);
                for (int k = 0; k < 4; k++) {
                    int o = outOff + i + k * q;
                    out[o] = accumulate ? out[o] + d4[k] : d4[k];
                }
            }
            for (int r = r0 + 4 * q; r < r1; r++) {
                float d = dotRowPrepared((long) r * cols, px, cols);
                out[outOff + r] = accumulate ? out[outOff + r] + d : d;
            }
        }

        /** Bytes a decode matvec over the whole tensor reads: its data, or the copy made at load that decode reads instead. */
        long decodeBytes() { return data.byteSize(); }

        /** Whether {@link #matvecQuantized} runs this tensor's decode matvec: its input then comes quantized, once per matmul. */
        boolean takesQuantizedInput() { return false; }

        /**
         * {@link #matvec} from an input quantized to 8 bits ({@link QuantizedInput}), for the types with an int8 kernel.
         * @return false when this tensor has none, or not for these rows: the caller then runs {@link #matvec}
         */
        boolean matvecQuantized(QuantizedInput x, float[] out, int outOff, int r0, int r1, boolean accumulate) { return false; }

        /**
         * The decode matvec of a type with a two-row kernel ({@link RowPairs}): rows in pairs a quarter of the range
         * apart, so that four memory streams are in flight (see {@link #dotRows4}); the rows left over go one at a
         * time through {@link #dotRow}. xsum: x's sums over each 32 elements (see {@link #blockSums}), for the types
         * whose blocks add an offset to every weight.
         */
        final void matvecInPairs(RowPairs kernel, float[] x, float[] xsum, int cols, float[] out, int outOff, int r0, int r1, boolean accumulate) {
            long rowBytes = type().byteSize(cols);
            int q = (r1 - r0) / 4;
            for (int r = r0; r < r0 + q; r++) {
                kernel.rows2(r * rowBytes, q * rowBytes, x, xsum, cols, out, outOff + r, q, accumulate);
                kernel.rows2((r + 2L * q) * rowBytes, q * rowBytes, x, xsum, cols, out, outOff + r + 2 * q, q, accumulate);
            }
            for (int r = r0 + 4 * q; r < r1; r++) {
                float d = dotRow((long) r * cols, x, 0, cols);
                out[outOff + r] = accumulate ? out[outOff + r] + d : d;
            }
        }

        /** xsum[b] = the sum of x[32b .. 32b+32), in the fixed order of two 16-lane vectors and {@link Simd#sum}; 16 lanes only. */
        static float[] blockSums(float[] x, int cols, float[] xsum) {
            for (int b = 0; b < cols / 32; b++) {
                xsum[b] = Simd.sum(FloatVector.fromArray(Simd.F16L, x, 32 * b).add(FloatVector.fromArray(Simd.F16L, x, 32 * b + 16)));
            }
            return xsum;
        }

        private void checkRange(long from, int n) {
            int bs = type().blockSize;
            if (from < 0 || n < 0 || from + n > size || from % bs != 0 || n % bs != 0) {
                throw new IllegalArgumentException("tensor '" + name + "' (" + type() + ", " + size + " elements, blocks of " + bs
                        + "): bad range [" + from + ", " + (from + n) + ")");
            }
        }

        abstract void dequantizeScalar(long from, float[] out, int outOff, int n);
        abstract float dotScalar(long offset, float[] x, int xOff, int n);
        abstract void dequantizeVector(long from, float[] out, int outOff, int n);
        abstract float dotVector(long offset, float[] x, int xOff, int n);

        @Override public String toString() { return name + " (" + type() + ", " + size + " elements)"; }
    }

    /**
     * A decode matvec's input quantized to 8 bits per 32 elements, once per matmul, for the int8 kernels
     * ({@link FloatTensor#matvecQuantized}): q = floor(x * (1/d) + 1/2) (in float) with d = max |x| / 127
     * over each block, as llama.cpp quantizes the activations of its Q8_0 matvec. pairs[j] holds q[2j] in its low 16 bits and q[2j+1] in its high
     * 16 bits, the form the kernels broadcast.
     */
    static final class QuantizedInput {
        int[] pairs = new int[0];
        float[] scales = new float[0];
        /** The quantized values' sum over each block (Q4_0's -8 offset). */
        int[] sums = new int[0];
        int cols;

        private final short[] block = new short[32];

        /** Quantizes x[0..cols); cols is a multiple of 32. */
        void quantize(float[] x, int cols) {
            if (cols % 32 != 0) throw new IllegalArgumentException("cols must be a multiple of 32, got " + cols);
            if (pairs.length < cols / 2) {
                pairs = new int[cols / 2];
                scales = new float[cols / 32];
                sums = new int[cols / 32];
            }
            this.cols = cols;
            if (Simd.ENABLED && Simd.L == 16) {
                quantize16(x, cols);
                return;
            }
            for (int b = 0; b < cols / 32; b++) {
                float amax = 0f;
                for (int k = 0; k < 32; k++) amax = Math.max(amax, Math.abs(x[32 * b + k]));
                // NaN or Inf in x make the scale NaN or Inf: the logits then show it (Forward.requireFinite)
                float d = amax / 127f, id = d != 0f ? 1f / d : 0f;
                scales[b] = d;
                int sum = 0;
                for (int j = 0; j < 16; j++) {
                    int lo = (int) Math.floor(x[32 * b + 2 * j] * id + 0.5f), hi = (int) Math.floor(x[32 * b + 2 * j + 1] * id + 0.5f);
                    pairs[16 * b + j] = hi << 16 | (lo & 0xFFFF);
                    sum += lo + hi;
                }
                sums[b] = sum;
            }
        }

        /**
         * {@link #quantize} with 16 float lanes (3.2 ns an element in the scalar loop, about 1.5% of a 1B decode step):
         * the same values, scales, sums and packing.
         */
        private void quantize16(float[] x, int cols) {
            var F = Simd.F16L;
            var I = Simd.I16L;
            short[] q = block;
            for (int b = 0; b < cols / 32; b++) {
                FloatVector v0 = FloatVector.fromArray(F, x, 32 * b), v1 = FloatVector.fromArray(F, x, 32 * b + 16);
                // NaN or Inf in x make the scale NaN or Inf: the logits then show it (Forward.requireFinite)
                float amax = v0.abs().max(v1.abs()).reduceLanes(VectorOperators.MAX); // a NaN lane makes it NaN (Math.max)
                float d = amax / 127f, id = d != 0f ? 1f / d : 0f;
                scales[b] = d;
                FloatVector z0 = v0.mul(id).add(0.5f), z1 = v1.mul(id).add(0.5f);
                IntVector t0 = (IntVector) z0.convert(VectorOperators.F2I, 0), t1 = (IntVector) z1.convert(VectorOperators.F2I, 0);
                // truncation toward zero, then one less where that rose above z: the floor
                t0 = t0.sub(1, ((FloatVector) t0.convert(VectorOperators.I2F, 0)).compare(VectorOperators.GT, z0).cast(I));
                t1 = t1.sub(1, ((FloatVector) t1.convert(VectorOperators.I2F, 0)).compare(VectorOperators.GT, z1).cast(I));
                sums[b] = t0.add(t1).reduceLanes(VectorOperators.ADD);
                // the 32 values as shorts in element order, read back as 16 ints: x86's lanes are little-endian, so
                // int j holds element 2j in its low half and 2j + 1 in its high half, the packing of pairs
                ((ShortVector) t0.convertShape(VectorOperators.I2S, ShortVector.SPECIES_256, 0)).intoArray(q, 0);
                ((ShortVector) t1.convertShape(VectorOperators.I2S, ShortVector.SPECIES_256, 0)).intoArray(q, 16);
                ShortVector.fromArray(ShortVector.SPECIES_512, q, 0).reinterpretAsInts().intoArray(pairs, 16 * b);
            }
        }

        /** The quantized value of element i. */
        int value(int i) {
            int p = pairs[i / 2];
            return i % 2 == 0 ? (short) p : p >> 16;
        }
    }

    /**
     * A decode kernel for 16 float lanes (AVX-512) that computes two weight rows per call: in one loop that loads each
     * x vector once for both (Q4_0, Q4_1, BF16), or one loop per row where a row's block code is already as much as
     * C2 compiles well (Q4_K, Q5_K). Each implementation writes its block code out in the loop, so that its bytecode
     * exceeds C2's FreqInlineSize (325 bytes): it is then compiled on its own, never inlined into the matmul's lambda,
     * where the Vector API calls would exceed the caller's inlining node budget and fall back to boxed vectors.
     * Within the loop nothing may be left as a call (a call spills every vector register), and the method must stay
     * small enough for C1's register allocator, or it never gets as far as C2 (both measured: 5x and 20x slower).
     * {@code MatvecBenchmark --random TYPE ROWS COLS} (test sources) times one.
     */
    interface RowPairs {
        /**
         * out[o] (+)= row at byte b0 · x and out[o + step] (+)= row at byte b0 + stride · x, rows of cols elements.
         * @param xsum x's sums over each 32 elements ({@link FloatTensor#blockSums}), for types with block offsets
         */
        void rows2(long b0, long stride, float[] x, float[] xsum, int cols, float[] out, int o, int step, boolean accumulate);
    }

    /** A {@link RowPairs} kernel with one row per loop: the pair is two calls of {@link #row}. */
    interface RowAtATime extends RowPairs {
        /** The row whose blocks start at byte b, dotted with x (xsum as for {@link RowPairs#rows2}). */
        float row(long b, float[] x, float[] xsum, int cols);

        @Override default void rows2(long b0, long stride, float[] x, float[] xsum, int cols, float[] out, int o, int step, boolean accumulate) {
            float s0 = row(b0, x, xsum, cols), s1 = row(b0 + stride, x, xsum, cols);
            if (accumulate) {
                out[o] += s0; out[o + step] += s1;
            } else {
                out[o] = s0; out[o + step] = s1;
            }
        }
    }

    /** F32: 4 bytes per element. */
    public static final class F32Tensor extends FloatTensor {
        F32Tensor(String name, MemorySegment data, long size) { super(name, data, size); }
        @Override public GGMLType type() { return GGMLType.F32; }
        @Override public float getFloat(long i) { return data.get(FLOAT_LE, i * 4); }
        @Override public long firstBadValue() {
            for (long i = 0; i < size; i++) {
                if (((data.get(INT_LE, i * 4) >>> 23) & 0xff) >= 127 + 100) return i;
            }
            return -1;
        }

        @Override void dequantizeScalar(long from, float[] out, int outOff, int n) {
            for (int i = 0; i < n; i++) out[outOff + i] = data.get(FLOAT_LE, (from + i) * 4);
        }
        @Override void dequantizeVector(long from, float[] out, int outOff, int n) {
            MemorySegment.copy(data, FLOAT_LE, from * 4, out, outOff, n);
        }
        @Override float dotScalar(long offset, float[] x, int xOff, int n) {
            float s = 0f;
            for (int i = 0; i < n; i++) s += data.get(FLOAT_LE, (offset + i) * 4) * x[xOff + i];
            return s;
        }
        @Override float dotVector(long offset, float[] x, int xOff, int n) {
            var F = Simd.F;
            int L = Simd.L, i = 0;
            FloatVector acc0 = FloatVector.zero(F), acc1 = FloatVector.zero(F);
            for (; i + 2 * L <= n; i += 2 * L) {
                acc0 = FloatVector.fromMemorySegment(F, data, (offset + i) * 4, Simd.LE).fma(FloatVector.fromArray(F, x, xOff + i), acc0);
                acc1 = FloatVector.fromMemorySegment(F, data, (offset + i + L) * 4, Simd.LE).fma(FloatVector.fromArray(F, x, xOff + i + L), acc1);
            }
            for (; i + L <= n; i += L) {
                acc0 = FloatVector.fromMemorySegment(F, data, (offset + i) * 4, Simd.LE).fma(FloatVector.fromArray(F, x, xOff + i), acc0);
            }
            float s = Simd.sum(acc0.add(acc1));
            for (; i < n; i++) s += data.get(FLOAT_LE, (offset + i) * 4) * x[xOff + i];
            return s;
        }
    }

    /** F16 and BF16 share their loops; only the bits-to-float conversion differs. */
    abstract static class HalfTensor extends FloatTensor {
        HalfTensor(String name, MemorySegment data, long size) { super(name, data, size); }
        abstract float toFloat(short bits);
        abstract FloatVector toFloat(IntVector bits);

        @Override public float getFloat(long i) { return toFloat(data.get(SHORT_LE, i * 2)); }
        /** The smallest biased exponent this type's 16-bit format counts as bad: Inf/NaN for f16, beyond 2^100 for bf16. */
        abstract int badExponent();
        /** Where this type's exponent field starts (f16 10, bf16 7) and its all-ones value. */
        abstract int exponentShift();
        abstract int exponentOnes();
        @Override public long firstBadValue() {
            int shift = exponentShift(), ones = exponentOnes(), bad = badExponent();
            for (long i = 0; i < size; i++) {
                if (((data.get(SHORT_LE, i * 2) >>> shift) & ones) >= bad) return i;
            }
            return -1;
        }

        @Override void dequantizeScalar(long from, float[] out, int outOff, int n) {
            for (int i = 0; i < n; i++) out[outOff + i] = toFloat(data.get(SHORT_LE, (from + i) * 2));
        }
        @Override float dotScalar(long offset, float[] x, int xOff, int n) {
            float s = 0f;
            for (int i = 0; i < n; i++) s += toFloat(data.get(SHORT_LE, (offset + i) * 2)) * x[xOff + i];
            return s;
        }
        private FloatVector load(long element) {
            ShortVector bits = ShortVector.fromMemorySegment(Simd.S, data, element * 2, Simd.LE);
            return toFloat((IntVector) bits.convertShape(VectorOperators.S2I, Simd.I, 0));
        }
        @Override void dequantizeVector(long from, float[] out, int outOff, int n) {
            int L = Simd.L, i = 0;
            for (; i + L <= n; i += L) load(from + i).intoArray(out, outOff + i);
            for (; i < n; i++) out[outOff + i] = toFloat(data.get(SHORT_LE, (from + i) * 2));
        }
        @Override float dotVector(long offset, float[] x, int xOff, int n) {
            var F = Simd.F;
            int L = Simd.L, i = 0;
            FloatVector acc = FloatVector.zero(F);
            for (; i + L <= n; i += L) acc = load(offset + i).fma(FloatVector.fromArray(F, x, xOff + i), acc);
            float s = Simd.sum(acc);
            for (; i < n; i++) s += toFloat(data.get(SHORT_LE, (offset + i) * 2)) * x[xOff + i];
            return s;
        }
    }

    /** F16: IEEE half precision. */
    public static final class F16Tensor extends HalfTensor {
        F16Tensor(String name, MemorySegment data, long size) { super(name, data, size); }
        @Override public GGMLType type() { return GGMLType.F16; }
        @Override int exponentShift() { return 10; }
        @Override int exponentOnes() { return 0x1f; }
        @Override int badExponent() { return 0x1f; }
        @Override float toFloat(short bits) { return Float.float16ToFloat(bits); }
        @Override FloatVector toFloat(IntVector bits) { return Simd.halfToFloat(bits); }
    }

    /** BF16: the upper 16 bits of an f32. */
    public static final class BF16Tensor extends HalfTensor implements RowPairs {
        BF16Tensor(String name, MemorySegment data, long size) { super(name, data, size); }

        /**
         * Two rows per loop, two accumulators a row (one chain of fused multiply-adds waited on the FMA latency).
         * F16 keeps the one-row loop: its exact widening ({@link Simd#halfToFloat}) in a two-row loop measured slower.
         */
        @Override void matvec(float[] x, int cols, float[] out, int outOff, int r0, int r1, boolean accumulate, float[] scratch) {
            if (!Simd.ENABLED || Simd.L != 16 || cols % 32 != 0) {
                super.matvec(x, cols, out, outOff, r0, r1, accumulate, scratch);
                return;
            }
            matvecInPairs(this, x, null, cols, out, outOff, r0, r1, accumulate);
        }
        @Override public void rows2(long b0, long stride, float[] x, float[] xsum, int cols, float[] out, int o, int step, boolean accumulate) {
            var F = Simd.F16L;
            var S = ShortVector.SPECIES_256;
            long b1 = b0 + stride;
            FloatVector a0 = FloatVector.zero(F), a1 = a0, e0 = a0, e1 = a0;
            for (int j = 0; j < cols; j += 32, b0 += 64, b1 += 64) {
                FloatVector x0 = FloatVector.fromArray(F, x, j), x1 = FloatVector.fromArray(F, x, j + 16);
                IntVector h = (IntVector) ShortVector.fromMemorySegment(S, data, b0, Simd.LE).castShape(Simd.I16L, 0);
                a0 = h.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x0, a0);
                h = (IntVector) ShortVector.fromMemorySegment(S, data, b0 + 32, Simd.LE).castShape(Simd.I16L, 0);
                e0 = h.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x1, e0);
                h = (IntVector) ShortVector.fromMemorySegment(S, data, b1, Simd.LE).castShape(Simd.I16L, 0);
                a1 = h.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x0, a1);
                h = (IntVector) ShortVector.fromMemorySegment(S, data, b1 + 32, Simd.LE).castShape(Simd.I16L, 0);
                e1 = h.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x1, e1);
            }
            float s0 = Simd.sum(a0.add(e0)), s1 = Simd.sum(a1.add(e1));
            if (accumulate) {
                out[o] += s0; out[o + step] += s1;
            } else {
                out[o] = s0; out[o + step] = s1;
            }
        }

        @Override public GGMLType type() { return GGMLType.BF16; }
        @Override int exponentShift() { return 7; }
        @Override int exponentOnes() { return 0xff; }
        @Override int badExponent() { return 127 + 100; }
        @Override float toFloat(short bits) { return Float.intBitsToFloat(bits << 16); }
        @Override FloatVector toFloat(IntVector bits) { return bits.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats(); }
    }

    /**
     * A quantized type whose decode can run from a copy on the heap in row groups of 16 (Q8_0, Q4_0), with an int8
     * kernel against x quantized to 8 bits ({@link QuantizedInput}).
     *
     * <p>Why a copy: the same vector loop streams 20-25 GB/s out of DRAM from a heap array and 9-14 GB/s through a
     * MemorySegment (native memory, the mapped file and a segment over a heap array all read alike: the access path,
     * not the memory; one thread, a 256 MiB sum), and byte-to-float conversions cap the float loops at 15-18 G
     * elements/s even in cache. Why row groups: a 32-byte load then holds a column pair of all 16 rows, so that the
     * products of 16 rows come in 16-bit lanes (one multiply per 32) and each row's sum ends in its own int lane, with
     * no lane sums: for lanes holding (even, odd) column products, (v << 16 >> 16) + (v >> 16) adds each 32-bit lane's
     * halves. Group g holds rows 16g..16g+15; each type lays out a group's blocks in its own way (its
     * {@link #fillGroup}); the f16 scales are [g][block][row]. The copy is made at load while the copies fit a budget
     * of the heap (Model), and the mapped blocks still serve everything else (token embeddings, prefill).
     */
    abstract static sealed class RowGroupTensor extends FloatTensor permits Q8_0Tensor, Q4_0Tensor {
        RowGroupTensor(String name, MemorySegment data, long size) { super(name, data, size); }

        /** The copy's bytes and f16 scales, null until {@link #repackRowGroups}; columns of a row. */
        byte[] groupQ;
        short[] groupD;
        int groupCols;

        /**
         * Builds the row-group copy for a [size / cols][cols] matrix whose rows come in whole groups of 16 (Simd with 16
         * float lanes, fewer than 2^31 elements); else does nothing. A scale that is Inf or NaN (a damaged file) keeps
         * the exact path, whose logits then show it.
         * @return the bytes the copy takes on the heap, 0 when none was made
         */
        long repackRowGroups(int cols) {
            if (!Simd.ENABLED || Simd.L != 16 || groupQ != null || cols % 32 != 0 || size % (16L * cols) != 0 || size > Integer.MAX_VALUE - 8) return 0;
            int blocks = cols / 32, groups = (int) (size / (16L * cols)), blockBytes = type().typeSize;
            long rowBytes = (long) blocks * blockBytes;
            if (firstBadValue() >= 0) return 0;
            byte[] q;
            short[] d;
            try {
                q = new byte[(int) (size / 32 * (blockBytes - 2))];
                d = new short[(int) (size / 32)];
            } catch (OutOfMemoryError e) { // a heap too small for the copy: decode reads the mapped blocks instead
                return 0;
            }
            Parallel.forRange(groups, (from, to, worker) -> {
                // a group's 16 rows in one bulk copy, then rearranged between heap arrays
                byte[] rows16 = new byte[(int) (16 * rowBytes)];
                for (int g = from; g < to; g++) {
                    MemorySegment.copy(data, ValueLayout.JAVA_BYTE, 16L * g * rowBytes, rows16, 0, rows16.length);
                    for (int r = 0; r < 16; r++) {
                        for (int b = 0; b < blocks; b++) d[(g * blocks + b) * 16 + r] = (short) PAIR.get(rows16, (int) (r * rowBytes) + b * blockBytes);
                    }
                    fillGroup(rows16, (int) rowBytes, g * blocks, blocks, q);
                }
            });
            groupQ = q;
            groupD = d;
            groupCols = cols;
            return q.length + 2L * d.length;
        }

        /** One group's blocks (its 16 rows of rowBytes each in rows16) into q, from the group's first block number on. */
        abstract void fillGroup(byte[] rows16, int rowBytes, int firstBlock, int blocks, byte[] q);

        @Override final boolean takesQuantizedInput() { return groupQ != null; }

        @Override final boolean matvecQuantized(QuantizedInput x, float[] out, int outOff, int r0, int r1, boolean accumulate) {
            if (groupQ == null || x.cols != groupCols) return false;
            return inGroupPairs(this::rowGroups2, x, out, outOff, r0, r1, accumulate);
        }

        /** A kernel over the rows of groups ga and gb (which may be the same group), into out[outOff + 16g ..]. */
        interface GroupPairKernel {
            void run(int ga, int gb, QuantizedInput x, float[] out, int outOff, boolean accumulate);
        }

        /**
         * Rows [r0, r1) by a row-group kernel, two groups a half range apart per call (two memory streams, each x pair
         * loaded once for both); false when the range is not whole groups.
         */
        static boolean inGroupPairs(GroupPairKernel kernel, QuantizedInput x, float[] out, int outOff, int r0, int r1, boolean accumulate) {
            if (r0 % 16 != 0 || r1 % 16 != 0) return false;
            int g0 = r0 / 16, n = (r1 - r0) / 16, half = n / 2;
            for (int g = g0; g < g0 + half; g++) kernel.run(g, g + half, x, out, outOff, accumulate);
            if (n % 2 == 1) kernel.run(g0 + n - 1, g0 + n - 1, x, out, outOff, accumulate);
            return true;
        }

        /**
         * Rows of groups ga and gb (which may be the same group) dotted with x into out[outOff + 16g ..]. Each type writes
         * its loop out in full: it must exceed C2's FreqInlineSize and stay within its inlining node budget (see RowPairs).
         */
        abstract void rowGroups2(int ga, int gb, QuantizedInput x, float[] out, int outOff, boolean accumulate);

        /** The plain reference of {@link #matvecQuantized} for one row: the same integer products and scales, in float64. */
        abstract double dotQuantizedPlain(int row, QuantizedInput x);

        // The kernels widen the f16 scales, sign-extended to ints, as (h << 13) & 0x8FFFE000 read as a float, times
        // 2^112: exponent and mantissa moved up 13 bits (the sign-extended bits above them masked off, the sign kept in
        // bit 31), the factor re-biasing the exponent, which also makes subnormals right; exact for finite f16, and the
        // copies hold no Inf or NaN scale. Three operations where Simd.halfToFloat needs ten, written out in each loop:
        // the longer form, or a helper method that returns or takes a vector, pushed the loop past C2's inlining node
        // budget, and a vector that crosses a call that is not inlined is boxed (5x slower; 6 GB of boxed vectors a
        // few seconds into a 1B decode, seen in a flight recording).
        static final int SCALE_MASK = 0x8FFFE000;
        static final float SCALE_BIAS = 0x1p112f;

        static final VectorSpecies<Byte> GROUP_BYTES = ByteVector.SPECIES_256;
        static final VectorSpecies<Short> GROUP_SHORTS = ShortVector.SPECIES_512, GROUP_SCALES = ShortVector.SPECIES_256;
        /** Two bytes of a byte[] as one little-endian short. */
        static final java.lang.invoke.VarHandle PAIR = java.lang.invoke.MethodHandles.byteArrayViewVarHandle(short[].class, ByteOrder.LITTLE_ENDIAN);
    }

    /**
     * Q8_0, block_q8_0 (34 bytes per 32 elements): f16 d | int8 qs[32]; x[j] = qs[j] * d.
     * No software prefetch: touching a byte ahead of the block (Java has no prefetch instruction) made
     * C2 compile the loop 5x slower; the hardware prefetchers follow these sequential rows well.
     */
    public static final class Q8_0Tensor extends RowGroupTensor {
        Q8_0Tensor(String name, MemorySegment data, long size) { super(name, data, size); }
        @Override public GGMLType type() { return GGMLType.Q8_0; }
        @Override public long firstBadValue() { return firstBadScale(0); }

        @Override public float getFloat(long i) {
            long block = i / 32 * 34;
            return i8(data, block + 2 + i % 32) * f16(data, block);
        }
        @Override void dequantizeScalar(long from, float[] out, int outOff, int n) {
            for (int j = 0; j < n; j += 32) {
                long block = (from + j) / 32 * 34;
                float d = f16(data, block);
                for (int k = 0; k < 32; k++) out[outOff + j + k] = i8(data, block + 2 + k) * d;
            }
        }
        @Override float dotScalar(long offset, float[] x, int xOff, int n) {
            float s = 0f;
            for (int j = 0; j < n; j += 32) {
                long block = (offset + j) / 32 * 34;
                float blockSum = 0f;
                for (int k = 0; k < 32; k++) blockSum += i8(data, block + 2 + k) * x[xOff + j + k];
                s += blockSum * f16(data, block);
            }
            return s;
        }
        @Override void dequantizeVector(long from, float[] out, int outOff, int n) {
            var F = Simd.F;
            for (int j = 0; j < n; j += 32) {
                long block = (from + j) / 32 * 34;
                FloatVector d = FloatVector.broadcast(F, f16(data, block));
                for (int c = 0; c < 32; c += Simd.BL) {
                    ByteVector q = ByteVector.fromMemorySegment(Simd.B, data, block + 2 + c, Simd.LE);
                    for (int p = 0; p < Simd.PARTS; p++) {
                        ((FloatVector) q.castShape(F, p)).mul(d).intoArray(out, outOff + j + c + p * Simd.L);
                    }
                }
            }
        }
        @Override float dotVector(long offset, float[] x, int xOff, int n) {
            var F = Simd.F;
            long block = offset / 32 * 34;
            FloatVector acc = FloatVector.zero(F);
            for (int j = 0; j < n; j += 32, block += 34) acc = block(block, x, xOff + j, acc);
            return Simd.sum(acc);
        }
        /** {@link #dotVector} on four rows at once (same sums in the same order). */
        @Override void dotRows4(long o0, long o1, long o2, long o3, float[] x, int n, float[] res) {
            if (!Simd.ENABLED) {
                super.dotRows4(o0, o1, o2, o3, x, n, res);
                return;
            }
            var F = Simd.F;
            long b0 = o0 / 32 * 34, b1 = o1 / 32 * 34, b2 = o2 / 32 * 34, b3 = o3 / 32 * 34;
            FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
            for (int j = 0; j < n; j += 32, b0 += 34, b1 += 34, b2 += 34, b3 += 34) {
                a0 = block(b0, x, j, a0);
                a1 = block(b1, x, j, a1);
                a2 = block(b2, x, j, a2);
                a3 = block(b3, x, j, a3);
            }
            res[0] = Simd.sum(a0);
            res[1] = Simd.sum(a1);
            res[2] = Simd.sum(a2);
            res[3] = Simd.sum(a3);
        }
        @Override void matvec(float[] x, int cols, float[] out, int outOff, int r0, int r1, boolean accumulate, float[] scratch) {
            if (!Simd.ENABLED || Simd.L != 16) {
                super.matvec(x, cols, out, outOff, r0, r1, accumulate, scratch);
                return;
            }
            long rowBytes = cols / 32 * 34L;
            int q = (r1 - r0) / 4;
            for (int r = r0; r < r0 + q; r++) rows4(r * rowBytes, q * rowBytes, x, cols, out, outOff + r, q, accumulate);
            for (int r = r0 + 4 * q; r < r1; r++) {
                float d = dotRow((long) r * cols, x, 0, cols);
                out[outOff + r] = accumulate ? out[outOff + r] + d : d;
            }
        }
        /**
         * Four rows whose blocks start at b0, b0+stride, ...; results to out[o], out[o+step], ... The block code
         * is written out four times so that the bytecode exceeds C2's FreqInlineSize (325 bytes): compiled on
         * its own, never inlined into a caller whose inlining node budget the Vector API calls would exhaust
         * (they then fall back to boxed vectors; see RowPairs).
         */
        private void rows4(long b0, long stride, float[] x, int cols, float[] out, int o, int step, boolean accumulate) {
            var F = Simd.F16L;
            var B = Simd.B16L;
            long b1 = b0 + stride, b2 = b1 + stride, b3 = b2 + stride;
            FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
            for (int j = 0; j < cols; j += 32, b0 += 34, b1 += 34, b2 += 34, b3 += 34) {
                FloatVector x0 = FloatVector.fromArray(F, x, j), x1 = FloatVector.fromArray(F, x, j + 16);
                FloatVector q0 = (FloatVector) ByteVector.fromMemorySegment(B, data, b0 + 2, Simd.LE).castShape(F, 0);
                FloatVector q1 = (FloatVector) ByteVector.fromMemorySegment(B, data, b0 + 18, Simd.LE).castShape(F, 0);
                a0 = q1.fma(x1, q0.mul(x0)).fma(FloatVector.broadcast(F, Float.float16ToFloat(data.get(SHORT_LE, b0))), a0);
                q0 = (FloatVector) ByteVector.fromMemorySegment(B, data, b1 + 2, Simd.LE).castShape(F, 0);
                q1 = (FloatVector) ByteVector.fromMemorySegment(B, data, b1 + 18, Simd.LE).castShape(F, 0);
                a1 = q1.fma(x1, q0.mul(x0)).fma(FloatVector.broadcast(F, Float.float16ToFloat(data.get(SHORT_LE, b1))), a1);
                q0 = (FloatVector) ByteVector.fromMemorySegment(B, data, b2 + 2, Simd.LE).castShape(F, 0);
                q1 = (FloatVector) ByteVector.fromMemorySegment(B, data, b2 + 18, Simd.LE).castShape(F, 0);
                a2 = q1.fma(x1, q0.mul(x0)).fma(FloatVector.broadcast(F, Float.float16ToFloat(data.get(SHORT_LE, b2))), a2);
                q0 = (FloatVector) ByteVector.fromMemorySegment(B, data, b3 + 2, Simd.LE).castShape(F, 0);
                q1 = (FloatVector) ByteVector.fromMemorySegment(B, data, b3 + 18, Simd.LE).castShape(F, 0);
                a3 = q1.fma(x1, q0.mul(x0)).fma(FloatVector.broadcast(F, Float.float16ToFloat(data.get(SHORT_LE, b3))), a3);
            }
            float s0 = Simd.sum(a0), s1 = Simd.sum(a1);
            float s2 = Simd.sum(a2), s3 = Simd.sum(a3);
            if (accumulate) {
                out[o] += s0; out[o + step] += s1; out[o + 2 * step] += s2; out[o + 3 * step] += s3;
            } else {
                out[o] = s0; out[o + step] = s1; out[o + 2 * step] = s2; out[o + 3 * step] = s3;
            }
        }
        /** acc + d * (q · x) over one block. Two small methods, not one: C2 inlines only small callees, and a
         *  vector passed to a call that is not inlined is boxed, which costs more than the block's arithmetic. */
        private FloatVector block(long block, float[] x, int xi, FloatVector acc) {
            return Simd.L == 16 ? block16(block, x, xi, acc) : blockAnyWidth(block, x, xi, acc);
        }
        private FloatVector block16(long block, float[] x, int xi, FloatVector acc) {
            var F = Simd.F16L;
            FloatVector s;
            FloatVector q0 = (FloatVector) ByteVector.fromMemorySegment(Simd.B16L, data, block + 2, Simd.LE).castShape(F, 0);
            FloatVector q1 = (FloatVector) ByteVector.fromMemorySegment(Simd.B16L, data, block + 18, Simd.LE).castShape(F, 0);
            s = q0.mul(FloatVector.fromArray(F, x, xi)).add(q1.mul(FloatVector.fromArray(F, x, xi + 16)));
            return s.fma(FloatVector.broadcast(F, f16(data, block)), acc);
        }
        private FloatVector blockAnyWidth(long block, float[] x, int xi, FloatVector acc) {
            var F = Simd.F;
            FloatVector s;
            s = FloatVector.zero(F);
            for (int c = 0; c < 32; c += Simd.BL) {
                ByteVector q = ByteVector.fromMemorySegment(Simd.B, data, block + 2 + c, Simd.LE);
                for (int p = 0; p < Simd.PARTS; p++) {
                    s = ((FloatVector) q.castShape(F, p)).fma(FloatVector.fromArray(F, x, xi + c + p * Simd.L), s);
                }
            }
            return s.fma(FloatVector.broadcast(F, f16(data, block)), acc);
        }

        // ---- decode from the row-group copy (RowGroupTensor) ----
        //
        // Block b of group g is 512 bytes at (g * blocks + b) * 512: byte 32p + 2r + h is q[16g + r][32b + 2p + h], so a
        // 32-byte load widened to 16-bit lanes holds column pair p of the 16 rows, the even column in the low half of
        // each 32-bit lane. Times x's pair (both halves of one int, broadcast), two such products added in 16 bits
        // (|q x| <= 128 * 127: two fit) and each 32-bit lane's halves added: each row's sum in its own int lane.
        // 2 threads, 128 MiB (MatvecBenchmark --random Q8_0 65536 2048 10 -Dpar=true): 17-23 G elements/s from the
        // mapped blocks, 23-30 with -Dgrouped=true; one thread in cache (256 x 1024): 11.8 -> 19.2.

        @Override void fillGroup(byte[] rows16, int rowBytes, int firstBlock, int blocks, byte[] q) {
            for (int r = 0; r < 16; r++) {
                for (int b = 0; b < blocks; b++) {
                    int src = r * rowBytes + 34 * b + 2, dst = (firstBlock + b) * 512 + 2 * r;
                    for (int p = 0; p < 16; p++) PAIR.set(q, dst + 32 * p, (short) PAIR.get(rows16, src + 2 * p));
                }
            }
        }

        @Override void rowGroups2(int ga, int gb, QuantizedInput x, float[] out, int outOff, boolean accumulate) {
            var F = Simd.F16L;
            var I = Simd.I16L;
            int blocks = groupCols / 32;
            byte[] q = groupQ;
            int[] xp = x.pairs;
            float[] dx = x.scales;
            int qa = ga * blocks * 512, qb = gb * blocks * 512;
            FloatVector acca = FloatVector.zero(F), accb = acca;
            for (int b = 0; b < blocks; b++, qa += 512, qb += 512) {
                IntVector sa = IntVector.zero(I), sb = sa;
                for (int p = 0; p < 16; p += 2) {
                    ShortVector x0 = IntVector.broadcast(I, xp[16 * b + p]).reinterpretAsShorts();
                    ShortVector x1 = IntVector.broadcast(I, xp[16 * b + p + 1]).reinterpretAsShorts();
                    IntVector v = ((ShortVector) ByteVector.fromArray(GROUP_BYTES, q, qa + 32 * p).castShape(GROUP_SHORTS, 0)).mul(x0)
                            .add(((ShortVector) ByteVector.fromArray(GROUP_BYTES, q, qa + 32 * p + 32).castShape(GROUP_SHORTS, 0)).mul(x1))
                            .reinterpretAsInts();
                    sa = sa.add(v.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16)).add(v.lanewise(VectorOperators.ASHR, 16));
                    v = ((ShortVector) ByteVector.fromArray(GROUP_BYTES, q, qb + 32 * p).castShape(GROUP_SHORTS, 0)).mul(x0)
                            .add(((ShortVector) ByteVector.fromArray(GROUP_BYTES, q, qb + 32 * p + 32).castShape(GROUP_SHORTS, 0)).mul(x1))
                            .reinterpretAsInts();
                    sb = sb.add(v.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16)).add(v.lanewise(VectorOperators.ASHR, 16));
                }
                float scale = dx[b];
                FloatVector da = ((IntVector) ShortVector.fromArray(GROUP_SCALES, groupD, (ga * blocks + b) * 16).castShape(I, 0))
                        .lanewise(VectorOperators.LSHL, 13).and(SCALE_MASK).reinterpretAsFloats().mul(SCALE_BIAS);
                FloatVector db = ((IntVector) ShortVector.fromArray(GROUP_SCALES, groupD, (gb * blocks + b) * 16).castShape(I, 0))
                        .lanewise(VectorOperators.LSHL, 13).and(SCALE_MASK).reinterpretAsFloats().mul(SCALE_BIAS);
                acca = ((FloatVector) sa.castShape(F, 0)).fma(da.mul(scale), acca);
                accb = ((FloatVector) sb.castShape(F, 0)).fma(db.mul(scale), accb);
            }
            int oa = outOff + 16 * ga, ob = outOff + 16 * gb;
            if (accumulate) {
                acca = acca.add(FloatVector.fromArray(F, out, oa));
                accb = accb.add(FloatVector.fromArray(F, out, ob));
            }
            acca.intoArray(out, oa);
            if (gb != ga) accb.intoArray(out, ob);
        }

        @Override double dotQuantizedPlain(int row, QuantizedInput x) {
            long rowBytes = groupCols / 32 * 34L;
            double s = 0;
            for (int b = 0; b < groupCols / 32; b++) {
                long block = row * rowBytes + 34L * b;
                long isum = 0;
                for (int k = 0; k < 32; k++) isum += (long) i8(data, block + 2 + k) * x.value(32 * b + k);
                s += (double) f16(data, block) * x.scales[b] * isum;
            }
            return s;
        }
    }


    /** Q4_0, block_q4_0 (18 bytes per 32 elements): f16 d | u8 qs[16]; x[j] = ((qs[j] & 15) - 8) * d, x[j+16] = ((qs[j] >> 4) - 8) * d. */
    public static final class Q4_0Tensor extends RowGroupTensor implements RowPairs {
        Q4_0Tensor(String name, MemorySegment data, long size) { super(name, data, size); }
        @Override public GGMLType type() { return GGMLType.Q4_0; }
        @Override public long firstBadValue() { return firstBadScale(0); }

        @Override public float getFloat(long i) {
            long block = i / 32 * 18;
            int k = (int) (i % 32);
            int q = u8(data, block + 2 + (k & 15));
            return ((k < 16 ? q & 15 : q >> 4) - 8) * f16(data, block);
        }
        @Override void dequantizeScalar(long from, float[] out, int outOff, int n) {
            for (int j = 0; j < n; j += 32) {
                long block = (from + j) / 32 * 18;
                float d = f16(data, block);
                for (int k = 0; k < 16; k++) {
                    int q = u8(data, block + 2 + k);
                    out[outOff + j + k] = ((q & 15) - 8) * d;
                    out[outOff + j + k + 16] = ((q >> 4) - 8) * d;
                }
            }
        }
        @Override float dotScalar(long offset, float[] x, int xOff, int n) {
            float s = 0f;
            for (int j = 0; j < n; j += 32) {
                long block = (offset + j) / 32 * 18;
                float blockSum = 0f;
                for (int k = 0; k < 16; k++) {
                    int q = u8(data, block + 2 + k);
                    blockSum += ((q & 15) - 8) * x[xOff + j + k] + ((q >> 4) - 8) * x[xOff + j + k + 16];
                }
                s += blockSum * f16(data, block);
            }
            return s;
        }
        @Override void dequantizeVector(long from, float[] out, int outOff, int n) {
            var F = Simd.F;
            for (int j = 0; j < n; j += 32) {
                long block = (from + j) / 32 * 18;
                FloatVector d = FloatVector.broadcast(F, f16(data, block));
                for (int c = 0; c < 16; c += Simd.BL) {
                    ByteVector q = ByteVector.fromMemorySegment(Simd.B, data, block + 2 + c, Simd.LE);
                    ByteVector lo = q.and((byte) 15).sub((byte) 8), hi = q.lanewise(VectorOperators.LSHR, 4).sub((byte) 8);
                    for (int p = 0; p < Simd.PARTS; p++) {
                        ((FloatVector) lo.castShape(F, p)).mul(d).intoArray(out, outOff + j + c + p * Simd.L);
                        ((FloatVector) hi.castShape(F, p)).mul(d).intoArray(out, outOff + j + 16 + c + p * Simd.L);
                    }
                }
            }
        }
        @Override float dotVector(long offset, float[] x, int xOff, int n) {
            var F = Simd.F;
            long block = offset / 32 * 18;
            FloatVector acc = FloatVector.zero(F);
            for (int j = 0; j < n; j += 32, block += 18) acc = block(block, x, xOff + j, acc);
            return Simd.sum(acc);
        }
        /** {@link #dotVector} on four rows at once (same sums in the same order). */
        @Override void dotRows4(long o0, long o1, long o2, long o3, float[] x, int n, float[] res) {
            if (!Simd.ENABLED) {
                super.dotRows4(o0, o1, o2, o3, x, n, res);
                return;
            }
            dotRows2(o0, o1, x, n, res, 0);
            dotRows2(o2, o3, x, n, res, 2);
        }
        /**
         * Rows in pairs ({@link RowPairs}), each x vector loaded once for the pair (two rows per loop: four exceed
         * what C2 compiles without falling back). The -8 offset is taken out of the loop:
         * sum((q-8)*x*d) = sum(q*x*d) - 8*sum(d*sum(x)) per block, the block sums of x computed once per call into
         * scratch.
         */
        @Override void matvec(float[] x, int cols, float[] out, int outOff, int r0, int r1, boolean accumulate, float[] scratch) {
            if (!Simd.ENABLED || Simd.L != 16) {
                super.matvec(x, cols, out, outOff, r0, r1, accumulate, scratch);
                return;
            }
            matvecInPairs(this, x, blockSums(x, cols, scratch), cols, out, outOff, r0, r1, accumulate);
        }
        @Override public void rows2(long b0, long stride, float[] x, float[] xsum, int cols, float[] out, int o, int step, boolean accumulate) {
            var F = Simd.F16L;
            long b1 = b0 + stride;
            FloatVector a0 = FloatVector.zero(F), a1 = a0;
            float c0 = 0f, c1 = 0f;
            for (int j = 0, blk = 0; j < cols; j += 32, blk++, b0 += 18, b1 += 18) {
                FloatVector x0 = FloatVector.fromArray(F, x, j), x1 = FloatVector.fromArray(F, x, j + 16);
                float xs = 8f * xsum[blk]; // exact: a power of two
                float d0 = Float.float16ToFloat(data.get(SHORT_LE, b0)), d1 = Float.float16ToFloat(data.get(SHORT_LE, b1));
                ByteVector q = ByteVector.fromMemorySegment(Simd.B16L, data, b0 + 2, Simd.LE);
                FloatVector lo = (FloatVector) q.and((byte) 15).castShape(F, 0);
                FloatVector hi = (FloatVector) q.reinterpretAsInts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes().and((byte) 15).castShape(F, 0);
                a0 = hi.fma(x1, lo.mul(x0)).fma(FloatVector.broadcast(F, d0), a0);
                q = ByteVector.fromMemorySegment(Simd.B16L, data, b1 + 2, Simd.LE);
                lo = (FloatVector) q.and((byte) 15).castShape(F, 0);
                hi = (FloatVector) q.reinterpretAsInts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes().and((byte) 15).castShape(F, 0);
                a1 = hi.fma(x1, lo.mul(x0)).fma(FloatVector.broadcast(F, d1), a1);
                c0 = Math.fma(d0, xs, c0);
                c1 = Math.fma(d1, xs, c1);
            }
            float s0 = Simd.sum(a0) - c0, s1 = Simd.sum(a1) - c1;
            if (accumulate) {
                out[o] += s0; out[o + step] += s1;
            } else {
                out[o] = s0; out[o + step] = s1;
            }
        }
        /** Two rows at a time here: four block calls in one loop exceed C2's inlining node budget (NodeCountInliningCutoff). */
        private void dotRows2(long o0, long o1, float[] x, int n, float[] res, int at) {
            var F = Simd.F;
            long b0 = o0 / 32 * 18, b1 = o1 / 32 * 18;
            FloatVector a0 = FloatVector.zero(F), a1 = a0;
            for (int j = 0; j < n; j += 32, b0 += 18, b1 += 18) {
                a0 = block(b0, x, j, a0);
                a1 = block(b1, x, j, a1);
            }
            res[at] = Simd.sum(a0);
            res[at + 1] = Simd.sum(a1);
        }
        /** acc + d * (q · x) over one block. Two small methods, not one: C2 inlines only small callees, and a
         *  vector passed to a call that is not inlined is boxed, which costs more than the block's arithmetic. */
        private FloatVector block(long block, float[] x, int xi, FloatVector acc) {
            return Simd.L == 16 ? block16(block, x, xi, acc) : blockAnyWidth(block, x, xi, acc);
        }
        private FloatVector block16(long block, float[] x, int xi, FloatVector acc) {
            var F = Simd.F16L;
            FloatVector s;
            // Nibbles are split after widening to ints: x86 has no byte shifts, so byte-lane LSHR is emulated slowly.
            IntVector q = (IntVector) ByteVector.fromMemorySegment(Simd.B16L, data, block + 2, Simd.LE).castShape(Simd.I16L, 0);
            FloatVector lo = (FloatVector) q.and(15).sub(8).castShape(Simd.F16L, 0);
            FloatVector hi = (FloatVector) q.lanewise(VectorOperators.ASHR, 4).and(15).sub(8).castShape(Simd.F16L, 0);
            s = lo.mul(FloatVector.fromArray(F, x, xi)).add(hi.mul(FloatVector.fromArray(F, x, xi + 16)));
            return s.fma(FloatVector.broadcast(F, f16(data, block)), acc);
        }
        private FloatVector blockAnyWidth(long block, float[] x, int xi, FloatVector acc) {
            var F = Simd.F;
            FloatVector s;
            s = FloatVector.zero(F);
            for (int c = 0; c < 16; c += Simd.BL) {
                ByteVector q = ByteVector.fromMemorySegment(Simd.B, data, block + 2 + c, Simd.LE);
                ByteVector lo = q.and((byte) 15).sub((byte) 8), hi = q.lanewise(VectorOperators.LSHR, 4).sub((byte) 8);
                for (int p = 0; p < Simd.PARTS; p++) {
                    s = ((FloatVector) lo.castShape(F, p)).fma(FloatVector.fromArray(F, x, xi + c + p * Simd.L), s);
                    s = ((FloatVector) hi.castShape(F, p)).fma(FloatVector.fromArray(F, x, xi + 16 + c + p * Simd.L), s);
                }
            }
            return s.fma(FloatVector.broadcast(F, f16(data, block)), acc);
        }

        // ---- decode from the row-group copy (RowGroupTensor) ----
        //
        // Block b of group g is 256 bytes at (g * blocks + b) * 256: byte 32p + 2r + h (p < 8) holds column 2p + h of row
        // 16g + r in its low nibble and column 2p + 16 + h in its high nibble, as the file's 4-bit values (q, 0..15;
        // the weight is (q - 8) d). One 32-byte load widened (zero-extended) to 16-bit lanes, masked and shifted, gives
        // column pairs p and p + 8 of the 16 rows, each as Q8_0's kernel has its pairs. The nibbles being unsigned, 16
        // products stay within 16 bits (16 * 15 * 127 < 32768): one pair-sum per block. The -8 leaves the loop:
        // sum((q - 8) x) = sum(q x) - 8 sum(x), x's quantized block sums once per matmul (QuantizedInput.sums).

        @Override void fillGroup(byte[] rows16, int rowBytes, int firstBlock, int blocks, byte[] q) {
            for (int r = 0; r < 16; r++) {
                for (int b = 0; b < blocks; b++) {
                    // the file's qs[j] holds column j in its low nibble and column j + 16 in its high one already
                    int src = r * rowBytes + 18 * b + 2, dst = (firstBlock + b) * 256 + 2 * r;
                    for (int p = 0; p < 8; p++) PAIR.set(q, dst + 32 * p, (short) PAIR.get(rows16, src + 2 * p));
                }
            }
        }

        @Override void rowGroups2(int ga, int gb, QuantizedInput x, float[] out, int outOff, boolean accumulate) {
            var F = Simd.F16L;
            var I = Simd.I16L;
            int blocks = groupCols / 32;
            byte[] q = groupQ;
            int[] xp = x.pairs, xs = x.sums;
            float[] dx = x.scales;
            int qa = ga * blocks * 256, qb = gb * blocks * 256;
            FloatVector acca = FloatVector.zero(F), accb = acca;
            for (int b = 0; b < blocks; b++, qa += 256, qb += 256) {
                ShortVector ta = ShortVector.zero(GROUP_SHORTS), tb = ta;
                for (int p = 0; p < 8; p++) {
                    ShortVector x0 = IntVector.broadcast(I, xp[16 * b + p]).reinterpretAsShorts();
                    ShortVector x1 = IntVector.broadcast(I, xp[16 * b + p + 8]).reinterpretAsShorts();
                    ShortVector v = (ShortVector) ByteVector.fromArray(GROUP_BYTES, q, qa + 32 * p).convertShape(VectorOperators.ZERO_EXTEND_B2S, GROUP_SHORTS, 0);
                    ta = ta.add(v.and((short) 15).mul(x0)).add(v.lanewise(VectorOperators.LSHR, 4).mul(x1));
                    v = (ShortVector) ByteVector.fromArray(GROUP_BYTES, q, qb + 32 * p).convertShape(VectorOperators.ZERO_EXTEND_B2S, GROUP_SHORTS, 0);
                    tb = tb.add(v.and((short) 15).mul(x0)).add(v.lanewise(VectorOperators.LSHR, 4).mul(x1));
                }
                IntVector va = ta.reinterpretAsInts(), vb = tb.reinterpretAsInts();
                int offset = 8 * xs[b];
                IntVector sa = va.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16).add(va.lanewise(VectorOperators.ASHR, 16)).sub(offset);
                IntVector sb = vb.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16).add(vb.lanewise(VectorOperators.ASHR, 16)).sub(offset);
                float scale = dx[b];
                FloatVector da = ((IntVector) ShortVector.fromArray(GROUP_SCALES, groupD, (ga * blocks + b) * 16).castShape(I, 0))
                        .lanewise(VectorOperators.LSHL, 13).and(SCALE_MASK).reinterpretAsFloats().mul(SCALE_BIAS);
                FloatVector db = ((IntVector) ShortVector.fromArray(GROUP_SCALES, groupD, (gb * blocks + b) * 16).castShape(I, 0))
                        .lanewise(VectorOperators.LSHL, 13).and(SCALE_MASK).reinterpretAsFloats().mul(SCALE_BIAS);
                acca = ((FloatVector) sa.castShape(F, 0)).fma(da.mul(scale), acca);
                accb = ((FloatVector) sb.castShape(F, 0)).fma(db.mul(scale), accb);
            }
            int oa = outOff + 16 * ga, ob = outOff + 16 * gb;
            if (accumulate) {
                acca = acca.add(FloatVector.fromArray(F, out, oa));
                accb = accb.add(FloatVector.fromArray(F, out, ob));
            }
            acca.intoArray(out, oa);
            if (gb != ga) accb.intoArray(out, ob);
        }

        @Override double dotQuantizedPlain(int row, QuantizedInput x) {
            long rowBytes = groupCols / 32 * 18L;
            double s = 0;
            for (int b = 0; b < groupCols / 32; b++) {
                long block = row * rowBytes + 18L * b;
                long isum = 0;
                for (int k = 0; k < 16; k++) {
                    int qs = u8(data, block + 2 + k);
                    isum += (long) ((qs & 15) - 8) * x.value(32 * b + k) + (long) ((qs >> 4) - 8) * x.value(32 * b + k + 16);
                }
                s += (double) f16(data, block) * x.scales[b] * isum;
            }
            return s;
        }
    }

    /** Q4_1, block_q4_1 (20 bytes per 32 elements): f16 d | f16 m | u8 qs[16]; x[j] = (qs[j] & 15) * d + m, x[j+16] = (qs[j] >> 4) * d + m. */
    public static final class Q4_1Tensor extends FloatTensor implements RowPairs {
        Q4_1Tensor(String name, MemorySegment data, long size) { super(name, data, size); }

        /** Two rows per loop; the offset m is taken out of the loop: sum((q*d + m)*x) = d*sum(q*x) + m*sum(x) per block. */
        @Override void matvec(float[] x, int cols, float[] out, int outOff, int r0, int r1, boolean accumulate, float[] scratch) {
            if (!Simd.ENABLED || Simd.L != 16) {
                super.matvec(x, cols, out, outOff, r0, r1, accumulate, scratch);
                return;
            }
            matvecInPairs(this, x, blockSums(x, cols, scratch), cols, out, outOff, r0, r1, accumulate);
        }
        @Override public void rows2(long b0, long stride, float[] x, float[] xsum, int cols, float[] out, int o, int step, boolean accumulate) {
            var F = Simd.F16L;
            long b1 = b0 + stride;
            FloatVector a0 = FloatVector.zero(F), a1 = a0;
            float c0 = 0f, c1 = 0f;
            for (int j = 0, blk = 0; j < cols; j += 32, blk++, b0 += 20, b1 += 20) {
                FloatVector x0 = FloatVector.fromArray(F, x, j), x1 = FloatVector.fromArray(F, x, j + 16);
                float xs = xsum[blk];
                ByteVector q = ByteVector.fromMemorySegment(Simd.B16L, data, b0 + 4, Simd.LE);
                FloatVector lo = (FloatVector) q.and((byte) 15).castShape(F, 0);
                FloatVector hi = (FloatVector) q.reinterpretAsInts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes().and((byte) 15).castShape(F, 0);
                a0 = hi.fma(x1, lo.mul(x0)).fma(FloatVector.broadcast(F, Float.float16ToFloat(data.get(SHORT_LE, b0))), a0);
                c0 = Math.fma(Float.float16ToFloat(data.get(SHORT_LE, b0 + 2)), xs, c0);
                q = ByteVector.fromMemorySegment(Simd.B16L, data, b1 + 4, Simd.LE);
                lo = (FloatVector) q.and((byte) 15).castShape(F, 0);
                hi = (FloatVector) q.reinterpretAsInts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes().and((byte) 15).castShape(F, 0);
                a1 = hi.fma(x1, lo.mul(x0)).fma(FloatVector.broadcast(F, Float.float16ToFloat(data.get(SHORT_LE, b1))), a1);
                c1 = Math.fma(Float.float16ToFloat(data.get(SHORT_LE, b1 + 2)), xs, c1);
            }
            float s0 = Simd.sum(a0) + c0, s1 = Simd.sum(a1) + c1;
            if (accumulate) {
                out[o] += s0; out[o + step] += s1;
            } else {
                out[o] = s0; out[o + step] = s1;
            }
        }
        @Override public GGMLType type() { return GGMLType.Q4_1; }
        @Override public long firstBadValue() { return firstBadScale(0, 2); }

        @Override public float getFloat(long i) {
            long block = i / 32 * 20;
            int k = (int) (i % 32);
            int q = u8(data, block + 4 + (k & 15));
            return (k < 16 ? q & 15 : q >> 4) * f16(data, block) + f16(data, block + 2);
        }
        @Override void dequantizeScalar(long from, float[] out, int outOff, int n) {
            for (int j = 0; j < n; j += 32) {
                long block = (from + j) / 32 * 20;
                float d = f16(data, block), m = f16(data, block + 2);
                for (int k = 0; k < 16; k++) {
                    int q = u8(data, block + 4 + k);
                    out[outOff + j + k] = (q & 15) * d + m;
                    out[outOff + j + k + 16] = (q >> 4) * d + m;
                }
            }
        }
        @Override float dotScalar(long offset, float[] x, int xOff, int n) {
            float s = 0f;
            for (int j = 0; j < n; j += 32) {
                long block = (offset + j) / 32 * 20;
                float qx = 0f, xs = 0f;
                for (int k = 0; k < 16; k++) {
                    int q = u8(data, block + 4 + k);
                    float x0 = x[xOff + j + k], x1 = x[xOff + j + k + 16];
                    qx += (q & 15) * x0 + (q >> 4) * x1;
                    xs += x0 + x1;
                }
                s += qx * f16(data, block) + xs * f16(data, block + 2);
            }
            return s;
        }
        @Override void dequantizeVector(long from, float[] out, int outOff, int n) {
            var F = Simd.F;
            for (int j = 0; j < n; j += 32) {
                long block = (from + j) / 32 * 20;
                FloatVector d = FloatVector.broadcast(F, f16(data, block)), m = FloatVector.broadcast(F, f16(data, block + 2));
                for (int c = 0; c < 16; c += Simd.BL) {
                    ByteVector q = ByteVector.fromMemorySegment(Simd.B, data, block + 4 + c, Simd.LE);
                    ByteVector lo = q.and((byte) 15), hi = q.lanewise(VectorOperators.LSHR, 4);
                    for (int p = 0; p < Simd.PARTS; p++) {
                        ((FloatVector) lo.castShape(F, p)).fma(d, m).intoArray(out, outOff + j + c + p * Simd.L);
                        ((FloatVector) hi.castShape(F, p)).fma(d, m).intoArray(out, outOff + j + 16 + c + p * Simd.L);
                    }
                }
            }
        }
        @Override float dotVector(long offset, float[] x, int xOff, int n) {
            var F = Simd.F;
            FloatVector accQ = FloatVector.zero(F), accM = FloatVector.zero(F);
            for (int j = 0; j < n; j += 32) {
                long block = (offset + j) / 32 * 20;
                FloatVector qx = FloatVector.zero(F), xs = FloatVector.zero(F);
                for (int c = 0; c < 16; c += Simd.BL) {
                    ByteVector q = ByteVector.fromMemorySegment(Simd.B, data, block + 4 + c, Simd.LE);
                    ByteVector lo = q.and((byte) 15), hi = q.lanewise(VectorOperators.LSHR, 4);
                    for (int p = 0; p < Simd.PARTS; p++) {
                        FloatVector x0 = FloatVector.fromArray(F, x, xOff + j + c + p * Simd.L);
                        FloatVector x1 = FloatVector.fromArray(F, x, xOff + j + 16 + c + p * Simd.L);
                        qx = ((FloatVector) lo.castShape(F, p)).fma(x0, qx);
                        qx = ((FloatVector) hi.castShape(F, p)).fma(x1, qx);
                        xs = xs.add(x0).add(x1);
                    }
                }
                accQ = qx.fma(FloatVector.broadcast(F, f16(data, block)), accQ);
                accM = xs.fma(FloatVector.broadcast(F, f16(data, block + 2)), accM);
            }
            return Simd.sum(accQ.add(accM));
        }
    }

    /**
     * The 6-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K super-block, packed in 12 bytes
     * (ggml get_scale_min_k4): sub-blocks 0-3 keep theirs in the low 6 bits of bytes j and j+4;
     * sub-blocks 4-7 take 4 low bits from byte j+4 and their 2 high bits from the top of bytes j-4 / j.
     */
    static int kScale(MemorySegment m, long scales, int j) {
        return j < 4 ? u8(m, scales + j) & 63
                : (u8(m, scales + j + 4) & 15) | ((u8(m, scales + j - 4) >> 6) << 4);
    }

    static int kMin(MemorySegment m, long scales, int j) {
        return j < 4 ? u8(m, scales + j + 4) & 63
                : (u8(m, scales + j + 4) >> 4) | ((u8(m, scales + j) >> 6) << 4);
    }

    /**
     * The K-quant types share one vector loop: every 32 consecutive elements have one scale and one
     * offset (x = q * d - m; for Q6_K each 16 have a scale and m = 0). The loop either accumulates the
     * dot product with x or stores the dequantized values.
     */
    abstract static class KQuantTensor extends FloatTensor {
        KQuantTensor(String name, MemorySegment data, long size) { super(name, data, size); }

        @Override public float getFloat(long i) {
            float[] block = new float[256];
            dequantizeScalar(i / 256 * 256, block, 0, 256);
            return block[(int) (i % 256)];
        }
        @Override float dotScalar(long offset, float[] x, int xOff, int n) {
            float[] block = new float[256];
            float s = 0f;
            for (int j = 0; j < n; j += 256) {
                dequantizeScalar(offset + j, block, 0, 256);
                for (int k = 0; k < 256; k++) s += block[k] * x[xOff + j + k];
            }
            return s;
        }
        @Override void dequantizeVector(long from, float[] out, int outOff, int n) { vectorLoop(from, null, 0, out, outOff, n); }
        @Override float dotVector(long offset, float[] x, int xOff, int n) { return vectorLoop(offset, x, xOff, null, 0, n); }

        /** Dot with x (out == null) or dequantize into out (x == null). */
        abstract float vectorLoop(long from, float[] x, int xOff, float[] out, int outOff, int n);

        /** Either acc += w * x[xi..] or out[oi..] = w. */
        static FloatVector emit(FloatVector w, float[] x, int xi, float[] out, int oi, FloatVector acc) {
            if (x != null) return w.fma(FloatVector.fromArray(Simd.F, x, xi), acc);
            w.intoArray(out, oi);
            return acc;
        }
    }

    /**
     * Q4_K, block_q4_K (144 bytes per 256 elements): f16 d | f16 dmin | u8 scales[12] | u8 qs[128].
     * Sub-block pairs (2g, 2g+1) use qs[32g..32g+32): low nibbles are elements 64g+l, high nibbles 64g+32+l;
     * x = d*scale * q - dmin*min with scale/min from {@link #kScale}/{@link #kMin}.
     */
    public static final class Q4_KTensor extends KQuantTensor implements RowAtATime {
        Q4_KTensor(String name, MemorySegment data, long size) { super(name, data, size); }
        @Override public GGMLType type() { return GGMLType.Q4_K; }
        @Override public long firstBadValue() { return firstBadScale(0, 2); }

        /**
         * Rows in pairs ({@link RowPairs}), one loop per row; the mins are taken out of the loop: sum((d*sc*q - dmin*m)*x)
         * over a sub-block is d*sc*sum(q*x) - dmin*m*sum(x), with x's 32-element sums computed once per matvec. Nibbles
         * are split in int lanes (x86 has no byte shifts); low and high nibbles (sub-blocks 2g and 2g+1) keep one
         * accumulator each.
         */
        @Override void matvec(float[] x, int cols, float[] out, int outOff, int r0, int r1, boolean accumulate, float[] scratch) {
            if (!Simd.ENABLED || Simd.L != 16) {
                super.matvec(x, cols, out, outOff, r0, r1, accumulate, scratch);
                return;
            }
            matvecInPairs(this, x, blockSums(x, cols, scratch), cols, out, outOff, r0, r1, accumulate);
        }
        /**
         * One row: the four 64-element groups of a block written out, the 6-bit scales and mins ({@link #kScale},
         * {@link #kMin}) extracted in place: calls left in this loop (C2 stops inlining at its node budget) spill every
         * vector register and ran 5x slower.
         */
        @Override public float row(long b, float[] x, float[] xsum, int cols) {
            var F = Simd.F16L;
            var B = Simd.B16L;
            FloatVector a = FloatVector.zero(F), e = a;
            float c = 0f;
            for (int j = 0, sub = 0; j < cols; j += 256, sub += 8, b += 144) {
                float d = f16(data, b), dmin = f16(data, b + 2);
                int u = data.get(INT_LE, b + 4), v = data.get(INT_LE, b + 8), w = data.get(INT_LE, b + 12);
                ByteVector qa, qb;
                FloatVector lo, hi;
                    qa = ByteVector.fromMemorySegment(B, data, b + 16, Simd.LE);
                    qb = ByteVector.fromMemorySegment(B, data, b + 32, Simd.LE);
                    lo = ((FloatVector) qb.and((byte) 15).castShape(F, 0)).fma(FloatVector.fromArray(F, x, j + 16),
                            ((FloatVector) qa.and((byte) 15).castShape(F, 0)).mul(FloatVector.fromArray(F, x, j + 0)));
                    hi = ((FloatVector) qb.reinterpretAsInts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes().and((byte) 15).castShape(F, 0))
                            .fma(FloatVector.fromArray(F, x, j + 48),
                                    ((FloatVector) qa.reinterpretAsInts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes().and((byte) 15).castShape(F, 0))
                                            .mul(FloatVector.fromArray(F, x, j + 32)));
                    a = lo.fma(FloatVector.broadcast(F, d * ((u >>> 0) & 63)), a);
                    e = hi.fma(FloatVector.broadcast(F, d * ((u >>> 8) & 63)), e);
                    qa = ByteVector.fromMemorySegment(B, data, b + 48, Simd.LE);
                    qb = ByteVector.fromMemorySegment(B, data, b + 64, Simd.LE);
                    lo = ((FloatVector) qb.and((byte) 15).castShape(F, 0)).fma(FloatVector.fromArray(F, x, j + 80),
                            ((FloatVector) qa.and((byte) 15).castShape(F, 0)).mul(FloatVector.fromArray(F, x, j + 64)));
                    hi = ((FloatVector) qb.reinterpretAsInts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes().and((byte) 15).castShape(F, 0))
                            .fma(FloatVector.fromArray(F, x, j + 112),
                                    ((FloatVector) qa.reinterpretAsInts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes().and((byte) 15).castShape(F, 0))
                                            .mul(FloatVector.fromArray(F, x, j + 96)));
                    a = lo.fma(FloatVector.broadcast(F, d * ((u >>> 16) & 63)), a);
                    e = hi.fma(FloatVector.broadcast(F, d * ((u >>> 24) & 63)), e);
                    qa = ByteVector.fromMemorySegment(B, data, b + 80, Simd.LE);
                    qb = ByteVector.fromMemorySegment(B, data, b + 96, Simd.LE);
                    lo = ((FloatVector) qb.and((byte) 15).castShape(F, 0)).fma(FloatVector.fromArray(F, x, j + 144),
                            ((FloatVector) qa.and((byte) 15).castShape(F, 0)).mul(FloatVector.fromArray(F, x, j + 128)));
                    hi = ((FloatVector) qb.reinterpretAsInts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes().and((byte) 15).castShape(F, 0))
                            .fma(FloatVector.fromArray(F, x, j + 176),
                                    ((FloatVector) qa.reinterpretAsInts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes().and((byte) 15).castShape(F, 0))
                                            .mul(FloatVector.fromArray(F, x, j + 160)));
                    a = lo.fma(FloatVector.broadcast(F, d * (((w >>> 0) & 15) | (((u >>> 6) & 3) << 4))), a);
                    e = hi.fma(FloatVector.broadcast(F, d * (((w >>> 8) & 15) | (((u >>> 14) & 3) << 4))), e);
                    qa = ByteVector.fromMemorySegment(B, data, b + 112, Simd.LE);
                    qb = ByteVector.fromMemorySegment(B, data, b + 128, Simd.LE);
                    lo = ((FloatVector) qb.and((byte) 15).castShape(F, 0)).fma(FloatVector.fromArray(F, x, j + 208),
                            ((FloatVector) qa.and((byte) 15).castShape(F, 0)).mul(FloatVector.fromArray(F, x, j + 192)));
                    hi = ((FloatVector) qb.reinterpretAsInts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes().and((byte) 15).castShape(F, 0))
                            .fma(FloatVector.fromArray(F, x, j + 240),
                                    ((FloatVector) qa.reinterpretAsInts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes().and((byte) 15).castShape(F, 0))
                                            .mul(FloatVector.fromArray(F, x, j + 224)));
                    a = lo.fma(FloatVector.broadcast(F, d * (((w >>> 16) & 15) | (((u >>> 22) & 3) << 4))), a);
                    e = hi.fma(FloatVector.broadcast(F, d * (((w >>> 24) & 15) | (((u >>> 30) & 3) << 4))), e);
                float m = ((v >>> 0) & 63) * xsum[sub] + ((v >>> 8) & 63) * xsum[sub + 1] + ((v >>> 16) & 63) * xsum[sub + 2]
                        + ((v >>> 24) & 63) * xsum[sub + 3] + (((w >>> 4) & 15) | (((v >>> 6) & 3) << 4)) * xsum[sub + 4] + (((w >>> 12) & 15) | (((v >>> 14) & 3) << 4)) * xsum[sub + 5]
                        + (((w >>> 20) & 15) | (((v >>> 22) & 3) << 4)) * xsum[sub + 6] + (((w >>> 28) & 15) | (((v >>> 30) & 3) << 4)) * xsum[sub + 7];
                c = Math.fma(dmin, m, c);
            }
            return Simd.sum(a.add(e)) - c;
        }
        @Override void dequantizeScalar(long from, float[] out, int outOff, int n) {
            for (int j = 0; j < n; j += 256) {
                long block = (from + j) / 256 * 144;
                float d = f16(data, block), dmin = f16(data, block + 2);
                long scales = block + 4, qs = block + 16;
                for (int g = 0; g < 4; g++) {
                    float d1 = d * kScale(data, scales, 2 * g), m1 = dmin * kMin(data, scales, 2 * g);
                    float d2 = d * kScale(data, scales, 2 * g + 1), m2 = dmin * kMin(data, scales, 2 * g + 1);
                    for (int l = 0; l < 32; l++) {
                        int q = u8(data, qs + 32 * g + l);
                        out[outOff + j + 64 * g + l] = d1 * (q & 15) - m1;
                        out[outOff + j + 64 * g + 32 + l] = d2 * (q >> 4) - m2;
                    }
                }
            }
        }
        @Override float vectorLoop(long from, float[] x, int xOff, float[] out, int outOff, int n) {
            var F = Simd.F;
            FloatVector acc = FloatVector.zero(F);
            for (int j = 0; j < n; j += 256) {
                long block = (from + j) / 256 * 144;
                float d = f16(data, block), dmin = f16(data, block + 2);
                long scales = block + 4, qs = block + 16;
                for (int g = 0; g < 4; g++) {
                    FloatVector d1 = FloatVector.broadcast(F, d * kScale(data, scales, 2 * g));
                    FloatVector m1 = FloatVector.broadcast(F, -(dmin * kMin(data, scales, 2 * g)));
                    FloatVector d2 = FloatVector.broadcast(F, d * kScale(data, scales, 2 * g + 1));
                    FloatVector m2 = FloatVector.broadcast(F, -(dmin * kMin(data, scales, 2 * g + 1)));
                    for (int c = 0; c < 32; c += Simd.BL) {
                        ByteVector q = ByteVector.fromMemorySegment(Simd.B, data, qs + 32 * g + c, Simd.LE);
                        ByteVector lo = q.and((byte) 15), hi = q.lanewise(VectorOperators.LSHR, 4);
                        for (int p = 0; p < Simd.PARTS; p++) {
                            int e = j + 64 * g + c + p * Simd.L;
                            acc = emit(((FloatVector) lo.castShape(F, p)).fma(d1, m1), x, xOff + e, out, outOff + e, acc);
                            acc = emit(((FloatVector) hi.castShape(F, p)).fma(d2, m2), x, xOff + e + 32, out, outOff + e + 32, acc);
                        }
                    }
                }
            }
            return Simd.sum(acc);
        }

        // ---- decode from a copy in row groups of 16 (as RowGroupTensor's, with a scale and an offset per 32 columns) ----
        //
        // Each 32-column sub-block's nibbles in Q4_0's row-group layout (256 bytes a group: byte 32p + 2r + h holds
        // columns 2p + h and 2p + 16 + h of row r), and per sub-block and row the float scale d * sc and offset
        // dmin * m (exact: an f16 times a 6-bit integer). w = a q - b, so sum(w x) = a sum(q x) - b sum(x), with x's
        // quantized block sums. Q4_0's loop then serves: unsigned nibbles, 16 products in 16 bits, one pair-sum per
        // sub-block. The copy holds 0.75 bytes a weight (the file 0.5625): float scales keep it exact.

        private byte[] groupQ;
        private float[] groupA, groupB;
        private int groupCols;

        /**
         * Builds the row-group copy for a [size / cols][cols] matrix whose rows come in whole groups of 16 (Simd with 16
         * float lanes, fewer than 2^31 elements); else does nothing.
         * @return the bytes the copy takes on the heap, 0 when none was made
         */
        long repackRowGroups(int cols) {
            if (!Simd.ENABLED || Simd.L != 16 || groupQ != null || cols % 256 != 0 || size % (16L * cols) != 0 || size > Integer.MAX_VALUE - 8) return 0;
            int blocks = cols / 32, groups = (int) (size / (16L * cols)), supers = cols / 256;
            byte[] q;
            float[] a, b;
            try {
                q = new byte[(int) (size / 2)];
                a = new float[(int) (size / 32)];
                b = new float[(int) (size / 32)];
            } catch (OutOfMemoryError e) { // a heap too small for the copy: decode reads the mapped blocks instead
                return 0;
            }
            Parallel.forRange(groups, (from, to, worker) -> {
                byte[] nibble = new byte[256];
                for (int g = from; g < to; g++) {
                    for (int r = 0; r < 16; r++) {
                        for (int s = 0; s < supers; s++) {
                            long block = ((16L * g + r) * supers + s) * 144;
                            float d = f16(data, block), dmin = f16(data, block + 2);
                            for (int i = 0; i < 128; i++) {
                                int v = u8(data, block + 16 + i), chunk = i / 32, l = i % 32;
                                nibble[64 * chunk + l] = (byte) (v & 15);
                                nibble[64 * chunk + 32 + l] = (byte) (v >> 4);
                            }
                            for (int j = 0; j < 8; j++) {
                                int sub = (g * blocks + 8 * s + j), dst = sub * 256 + 2 * r;
                                a[sub * 16 + r] = d * kScale(data, block + 4, j);
                                b[sub * 16 + r] = dmin * kMin(data, block + 4, j);
                                for (int p = 0; p < 8; p++) {
                                    for (int h = 0; h < 2; h++) {
                                        q[dst + 32 * p + h] = (byte) (nibble[32 * j + 2 * p + h] | nibble[32 * j + 2 * p + 16 + h] << 4);
                                    }
                                }
                            }
                        }
                    }
                }
            });
            groupQ = q;
            groupA = a;
            groupB = b;
            groupCols = cols;
            return q.length + 8L * a.length;
        }

        /** The copy, when there is one. */
        @Override long decodeBytes() { return groupQ != null ? groupQ.length + 8L * groupA.length : data.byteSize(); }

        @Override boolean takesQuantizedInput() { return groupQ != null; }

        @Override boolean matvecQuantized(QuantizedInput x, float[] out, int outOff, int r0, int r1, boolean accumulate) {
            if (groupQ == null || x.cols != groupCols) return false;
            return RowGroupTensor.inGroupPairs(this::rowGroups2, x, out, outOff, r0, r1, accumulate);
        }

        private void rowGroups2(int ga, int gb, QuantizedInput x, float[] out, int outOff, boolean accumulate) {
            var F = Simd.F16L;
            var I = Simd.I16L;
            var B = RowGroupTensor.GROUP_BYTES;
            var S = RowGroupTensor.GROUP_SHORTS;
            int blocks = groupCols / 32;
            byte[] q = groupQ;
            float[] scales = groupA, offsets = groupB;
            int[] xp = x.pairs, xs = x.sums;
            float[] dx = x.scales;
            int qa = ga * blocks * 256, qb = gb * blocks * 256;
            FloatVector acca = FloatVector.zero(F), accb = acca;
            for (int b = 0; b < blocks; b++, qa += 256, qb += 256) {
                ShortVector ta = ShortVector.zero(S), tb = ta;
                for (int p = 0; p < 8; p++) {
                    ShortVector x0 = IntVector.broadcast(I, xp[16 * b + p]).reinterpretAsShorts();
                    ShortVector x1 = IntVector.broadcast(I, xp[16 * b + p + 8]).reinterpretAsShorts();
                    ShortVector v = (ShortVector) ByteVector.fromArray(B, q, qa + 32 * p).convertShape(VectorOperators.ZERO_EXTEND_B2S, S, 0);
                    ta = ta.add(v.and((short) 15).mul(x0)).add(v.lanewise(VectorOperators.LSHR, 4).mul(x1));
                    v = (ShortVector) ByteVector.fromArray(B, q, qb + 32 * p).convertShape(VectorOperators.ZERO_EXTEND_B2S, S, 0);
                    tb = tb.add(v.and((short) 15).mul(x0)).add(v.lanewise(VectorOperators.LSHR, 4).mul(x1));
                }
                IntVector va = ta.reinterpretAsInts(), vb = tb.reinterpretAsInts();
                IntVector sa = va.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16).add(va.lanewise(VectorOperators.ASHR, 16));
                IntVector sb = vb.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16).add(vb.lanewise(VectorOperators.ASHR, 16));
                float scale = dx[b], offset = -dx[b] * xs[b];
                int ia = (ga * blocks + b) * 16, ib = (gb * blocks + b) * 16;
                acca = ((FloatVector) sa.castShape(F, 0)).fma(FloatVector.fromArray(F, scales, ia).mul(scale), acca);
                acca = FloatVector.fromArray(F, offsets, ia).fma(FloatVector.broadcast(F, offset), acca);
                accb = ((FloatVector) sb.castShape(F, 0)).fma(FloatVector.fromArray(F, scales, ib).mul(scale), accb);
                accb = FloatVector.fromArray(F, offsets, ib).fma(FloatVector.broadcast(F, offset), accb);
            }
            int oa = outOff + 16 * ga, ob = outOff + 16 * gb;
            if (accumulate) {
                acca = acca.add(FloatVector.fromArray(F, out, oa));
                accb = accb.add(FloatVector.fromArray(F, out, ob));
            }
            acca.intoArray(out, oa);
            if (gb != ga) accb.intoArray(out, ob);
        }

        /** The plain reference of {@link #matvecQuantized} for one row: the same integer products and scales, in float64. */
        double dotQuantizedPlain(int row, QuantizedInput x) {
            float[] w = new float[256];
            double s = 0;
            for (int sb = 0; sb < groupCols / 256; sb++) {
                long block = ((long) row * (groupCols / 256) + sb) * 144;
                for (int j = 0; j < 8; j++) {
                    double a = (double) f16(data, block) * kScale(data, block + 4, j), b = (double) f16(data, block + 2) * kMin(data, block + 4, j);
                    long isum = 0, xsum = 0;
                    for (int k = 0; k < 32; k++) {
                        int v = u8(data, block + 16 + 32 * (j / 2) + k), nib = j % 2 == 0 ? v & 15 : v >> 4;
                        int xv = x.value(256 * sb + 32 * j + k);
                        isum += (long) nib * xv;
                        xsum += xv;
                    }
                    s += (a * isum - b * xsum) * x.scales[(256 * sb + 32 * j) / 32];
                }
            }
            return s;
        }
    }

    /**
     * Q5_K, block_q5_K (176 bytes per 256 elements): f16 d | f16 dmin | u8 scales[12] | u8 qh[32] | u8 qs[128].
     * As Q4_K, with a fifth bit per element: element 64g+l takes bit 2g of qh[l], element 64g+32+l bit 2g+1.
     */
    public static final class Q5_KTensor extends KQuantTensor implements RowAtATime {
        Q5_KTensor(String name, MemorySegment data, long size) { super(name, data, size); }
        @Override public GGMLType type() { return GGMLType.Q5_K; }
        @Override public long firstBadValue() { return firstBadScale(0, 2); }

        /** As Q4_K's kernel, each nibble given its fifth bit from qh. */
        @Override void matvec(float[] x, int cols, float[] out, int outOff, int r0, int r1, boolean accumulate, float[] scratch) {
            if (!Simd.ENABLED || Simd.L != 16) {
                super.matvec(x, cols, out, outOff, r0, r1, accumulate, scratch);
                return;
            }
            matvecInPairs(this, x, blockSums(x, cols, scratch), cols, out, outOff, r0, r1, accumulate);
        }
        /**
         * One row; element 64g+l takes bit 2g of qh[l] (bit 2g+1 for 64g+32+l), moved to bit 4 in int lanes. The
         * scales are extracted in place as in Q4_K (no calls in the loop), but the four groups stay a loop: written
         * out, the method was too large for C1's register allocator and never reached C2.
         */
        @Override public float row(long b, float[] x, float[] xsum, int cols) {
            var F = Simd.F16L;
            var B = Simd.B16L;
            FloatVector a = FloatVector.zero(F), e = a;
            float c = 0f;
            for (int j = 0, sub = 0; j < cols; j += 256, sub += 8, b += 176) {
                float d = f16(data, b), dmin = f16(data, b + 2);
                int u = data.get(INT_LE, b + 4), v = data.get(INT_LE, b + 8), w = data.get(INT_LE, b + 12);
                IntVector ha = ByteVector.fromMemorySegment(B, data, b + 16, Simd.LE).reinterpretAsInts();
                IntVector hb = ByteVector.fromMemorySegment(B, data, b + 32, Simd.LE).reinterpretAsInts();
                float m = 0f;
                for (int g = 0; g < 4; g++) {
                    int k = 2 * g, at = j + 64 * g;
                    int scLo, scHi, mnLo, mnHi;
                    if (g < 2) {
                        scLo = (u >>> (16 * g)) & 63; scHi = (u >>> (16 * g + 8)) & 63;
                        mnLo = (v >>> (16 * g)) & 63; mnHi = (v >>> (16 * g + 8)) & 63;
                    } else {
                        int q = 16 * (g - 2);
                        scLo = ((w >>> q) & 15) | (((u >>> (q + 6)) & 3) << 4);
                        scHi = ((w >>> (q + 8)) & 15) | (((u >>> (q + 14)) & 3) << 4);
                        mnLo = ((w >>> (q + 4)) & 15) | (((v >>> (q + 6)) & 3) << 4);
                        mnHi = ((w >>> (q + 12)) & 15) | (((v >>> (q + 14)) & 3) << 4);
                    }
                    ByteVector qa = ByteVector.fromMemorySegment(B, data, b + 48 + 32 * g, Simd.LE);
                    ByteVector qb = ByteVector.fromMemorySegment(B, data, b + 64 + 32 * g, Simd.LE);
                    ByteVector la = qa.and((byte) 15).or(ha.lanewise(VectorOperators.LSHR, k).lanewise(VectorOperators.LSHL, 4).reinterpretAsBytes().and((byte) 16));
                    ByteVector lb = qb.and((byte) 15).or(hb.lanewise(VectorOperators.LSHR, k).lanewise(VectorOperators.LSHL, 4).reinterpretAsBytes().and((byte) 16));
                    ByteVector ua = qa.reinterpretAsInts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes().and((byte) 15)
                            .or(ha.lanewise(VectorOperators.LSHR, k + 1).lanewise(VectorOperators.LSHL, 4).reinterpretAsBytes().and((byte) 16));
                    ByteVector ub = qb.reinterpretAsInts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes().and((byte) 15)
                            .or(hb.lanewise(VectorOperators.LSHR, k + 1).lanewise(VectorOperators.LSHL, 4).reinterpretAsBytes().and((byte) 16));
                    FloatVector lo = ((FloatVector) lb.castShape(F, 0)).fma(FloatVector.fromArray(F, x, at + 16),
                            ((FloatVector) la.castShape(F, 0)).mul(FloatVector.fromArray(F, x, at)));
                    FloatVector hi = ((FloatVector) ub.castShape(F, 0)).fma(FloatVector.fromArray(F, x, at + 48),
                            ((FloatVector) ua.castShape(F, 0)).mul(FloatVector.fromArray(F, x, at + 32)));
                    a = lo.fma(FloatVector.broadcast(F, d * scLo), a);
                    e = hi.fma(FloatVector.broadcast(F, d * scHi), e);
                    m = Math.fma(mnLo, xsum[sub + k], Math.fma(mnHi, xsum[sub + k + 1], m));
                }
                c = Math.fma(dmin, m, c);
            }
            return Simd.sum(a.add(e)) - c;
        }
        @Override void dequantizeScalar(long from, float[] out, int outOff, int n) {
            for (int j = 0; j < n; j += 256) {
                long block = (from + j) / 256 * 176;
                float d = f16(data, block), dmin = f16(data, block + 2);
                long scales = block + 4, qh = block + 16, qs = block + 48;
                for (int g = 0; g < 4; g++) {
                    float d1 = d * kScale(data, scales, 2 * g), m1 = dmin * kMin(data, scales, 2 * g);
                    float d2 = d * kScale(data, scales, 2 * g + 1), m2 = dmin * kMin(data, scales, 2 * g + 1);
                    for (int l = 0; l < 32; l++) {
                        int q = u8(data, qs + 32 * g + l), h = u8(data, qh + l);
                        out[outOff + j + 64 * g + l] = d1 * ((q & 15) | ((h >> (2 * g)) & 1) << 4) - m1;
                        out[outOff + j + 64 * g + 32 + l] = d2 * ((q >> 4) | ((h >> (2 * g + 1)) & 1) << 4) - m2;
                    }
                }
            }
        }
        @Override float vectorLoop(long from, float[] x, int xOff, float[] out, int outOff, int n) {
            var F = Simd.F;
            FloatVector acc = FloatVector.zero(F);
            for (int j = 0; j < n; j += 256) {
                long block = (from + j) / 256 * 176;
                float d = f16(data, block), dmin = f16(data, block + 2);
                long scales = block + 4, qh = block + 16, qs = block + 48;
                for (int g = 0; g < 4; g++) {
                    FloatVector d1 = FloatVector.broadcast(F, d * kScale(data, scales, 2 * g));
                    FloatVector m1 = FloatVector.broadcast(F, -(dmin * kMin(data, scales, 2 * g)));
                    FloatVector d2 = FloatVector.broadcast(F, d * kScale(data, scales, 2 * g + 1));
                    FloatVector m2 = FloatVector.broadcast(F, -(dmin * kMin(data, scales, 2 * g + 1)));
                    for (int c = 0; c < 32; c += Simd.BL) {
                        ByteVector q = ByteVector.fromMemorySegment(Simd.B, data, qs + 32 * g + c, Simd.LE);
                        ByteVector h = ByteVector.fromMemorySegment(Simd.B, data, qh + c, Simd.LE);
                        ByteVector lo = q.and((byte) 15).or(h.lanewise(VectorOperators.LSHR, 2 * g).and((byte) 1).lanewise(VectorOperators.LSHL, 4));
                        ByteVector hi = q.lanewise(VectorOperators.LSHR, 4).or(h.lanewise(VectorOperators.LSHR, 2 * g + 1).and((byte) 1).lanewise(VectorOperators.LSHL, 4));
                        for (int p = 0; p < Simd.PARTS; p++) {
                            int e = j + 64 * g + c + p * Simd.L;
                            acc = emit(((FloatVector) lo.castShape(F, p)).fma(d1, m1), x, xOff + e, out, outOff + e, acc);
                            acc = emit(((FloatVector) hi.castShape(F, p)).fma(d2, m2), x, xOff + e + 32, out, outOff + e + 32, acc);
                        }
                    }
                }
            }
            return Simd.sum(acc);
        }
    }

    /**
     * Q6_K, block_q6_K (210 bytes per 256 elements): u8 ql[128] | u8 qh[64] | int8 scales[16] | f16 d.
     * Each half h (128 elements) uses ql[64h..], qh[32h..], scales[8h..]; for l < 32 the four elements
     * l, l+32, l+64, l+96 are the low nibble of ql[l], of ql[l+32], the high nibble of ql[l], of ql[l+32],
     * each with 2 more bits from qh[l] (bits 0-1, 2-3, 4-5, 6-7), minus 32, times d * scales[l/16 + 0, 2, 4, 6].
     */
    public static final class Q6_KTensor extends KQuantTensor {
        Q6_KTensor(String name, MemorySegment data, long size) { super(name, data, size); }
        @Override public GGMLType type() { return GGMLType.Q6_K; }
        @Override public long firstBadValue() { return firstBadScale(208); }

        @Override void dequantizeScalar(long from, float[] out, int outOff, int n) {
            for (int j = 0; j < n; j += 256) {
                long block = (from + j) / 256 * 210;
                float d = f16(data, block + 208);
                for (int half = 0; half < 2; half++) {
                    long ql = block + 64 * half, qh = block + 128 + 32 * half, sc = block + 192 + 8 * half;
                    int o = outOff + j + 128 * half;
                    for (int l = 0; l < 32; l++) {
                        int is = l / 16, a = u8(data, ql + l), b = u8(data, ql + l + 32), h = u8(data, qh + l);
                        out[o + l] = d * i8(data, sc + is) * (((a & 15) | (h & 3) << 4) - 32);
                        out[o + l + 32] = d * i8(data, sc + is + 2) * (((b & 15) | ((h >> 2) & 3) << 4) - 32);
                        out[o + l + 64] = d * i8(data, sc + is + 4) * (((a >> 4) | ((h >> 4) & 3) << 4) - 32);
                        out[o + l + 96] = d * i8(data, sc + is + 6) * (((b >> 4) | ((h >> 6) & 3) << 4) - 32);
                    }
                }
            }
        }
        @Override float dotVector(long offset, float[] x, int xOff, int n) {
            return Simd.L == 16 ? dot16(offset, x, xOff, n) : vectorLoop(offset, x, xOff, null, 0, n);
        }

        /**
         * The dot product for 16-lane floats (AVX-512), where it decides a Q4_0 model's speed (its output matrix
         * is Q6_K). The 6-bit values are assembled in int lanes, which have the shifts byte lanes lack on x86.
         */
        private float dot16(long from, float[] x, int xOff, int n) {
            var F = Simd.F16L;
            var I = Simd.I16L;
            FloatVector acc0 = FloatVector.zero(F), acc1 = FloatVector.zero(F);
            for (int j = 0; j < n; j += 256) {
                long block = (from + j) / 256 * 210;
                float d = f16(data, block + 208);
                for (int half = 0; half < 2; half++) {
                    long ql = block + 64 * half, qh = block + 128 + 32 * half, sc = block + 192 + 8 * half;
                    int e = xOff + j + 128 * half;
                    for (int c = 0; c < 32; c += 16, e += 16) {
                        IntVector a = (IntVector) ByteVector.fromMemorySegment(Simd.B16L, data, ql + c, Simd.LE).castShape(I, 0);
                        IntVector b = (IntVector) ByteVector.fromMemorySegment(Simd.B16L, data, ql + 32 + c, Simd.LE).castShape(I, 0);
                        IntVector h = (IntVector) ByteVector.fromMemorySegment(Simd.B16L, data, qh + c, Simd.LE).castShape(I, 0);
                        int is = c / 16;
                        FloatVector q1 = (FloatVector) a.and(15).or(h.and(3).lanewise(VectorOperators.LSHL, 4)).sub(32).castShape(F, 0);
                        FloatVector q2 = (FloatVector) b.and(15).or(h.and(12).lanewise(VectorOperators.LSHL, 2)).sub(32).castShape(F, 0);
                        FloatVector q3 = (FloatVector) a.lanewise(VectorOperators.ASHR, 4).and(15).or(h.and(48)).sub(32).castShape(F, 0);
                        FloatVector q4 = (FloatVector) b.lanewise(VectorOperators.ASHR, 4).and(15)
                                .or(h.lanewise(VectorOperators.ASHR, 2).and(48)).sub(32).castShape(F, 0);
                        FloatVector s0 = q1.mul(FloatVector.fromArray(F, x, e)).mul(d * i8(data, sc + is))
                                .add(q2.mul(FloatVector.fromArray(F, x, e + 32)).mul(d * i8(data, sc + is + 2)));
                        FloatVector s1 = q3.mul(FloatVector.fromArray(F, x, e + 64)).mul(d * i8(data, sc + is + 4))
                                .add(q4.mul(FloatVector.fromArray(F, x, e + 96)).mul(d * i8(data, sc + is + 6)));
                        acc0 = acc0.add(s0);
                        acc1 = acc1.add(s1);
                    }
                }
            }
            return Simd.sum(acc0.add(acc1));
        }

        // ---- decode from an int8 copy: q - 32 as bytes and d * scale per 16 elements as floats ----
        //
        // A Q6_K matvec is bound by arithmetic (the 6-bit values take a dozen int operations per vector to
        // assemble: 7.7 G elements/s on one core), not by memory. The copy holds exactly the same values
        // (d * scale * (q - 32): an f16 times an int8 is exact in float) at 10 bits per weight instead of 6.56,
        // and its loop is Q8_0's: one widening load, one multiply and one fused multiply-add per 16 weights.

        /** Whether {@link #repackForDecode} made a copy. */
        boolean repacked() { return int8 != null || groupQ != null; }

        /** The copy, when there is one: a byte per weight and a float per 16. */
        @Override long decodeBytes() { return repacked() ? size + 4 * (size / 16) : data.byteSize(); }

        /** [rows][cols] q - 32 in -32..31, and [rows][cols/16] d * scale; null until {@link #repackForDecode}. */
        private byte[] int8;
        private float[] scales16;
        /**
         * The same values in row groups of 16 (see RowGroupTensor), when the rows come in whole groups: bytes as Q8_0's
         * copy lays them out ([group][32-column block][pair][row][2]), scales [group][block][16-column half][row].
         */
        private byte[] groupQ;
        private float[] groupScales;
        private int groupCols;

        /** {@link #repackForDecode(int)} without the row-group layout (the rows' length unknown). */
        long repackForDecode() { return repackForDecode(0); }

        /**
         * Builds the int8 copy that decode then reads (for the output matrix of Q4_0/Q4_K files: a quarter of a 1B
         * model's decode work): in row groups of 16 for {@link #matvecQuantized} when cols (the rows' length, 0 if not
         * known) makes whole groups, else row by row for {@link #matvec}. Needs Simd with 16 float lanes and fewer than
         * 2^31 elements; else does nothing.
         * @return the bytes the copy takes on the heap, 0 when none was made
         */
        long repackForDecode(int cols) {
            if (!PERMUTED || size > Integer.MAX_VALUE - 8 || repacked()) return 0;
            boolean grouped = cols > 0 && cols % 256 == 0 && size % (16L * cols) == 0;
            byte[] q;
            float[] sc;
            try {
                q = new byte[(int) size];
                sc = new float[(int) (size / 16)];
            } catch (OutOfMemoryError e) { // a heap too small for the copy: decode reads the Q6_K blocks instead
                return 0;
            }
            Parallel.forRange((int) (size / 256), (from, to, worker) -> {
                byte[] bq = new byte[256];
                float[] bs = new float[16];
                for (int b = from; b < to; b++) {
                    decodeBlock(b, bq, bs);
                    if (!grouped) {
                        System.arraycopy(bq, 0, q, b * 256, 256);
                        System.arraycopy(bs, 0, sc, b * 16, 16);
                        continue;
                    }
                    int row = (int) ((long) b * 256 / cols), col0 = (int) ((long) b * 256 % cols), blocks = cols / 32;
                    int g = row / 16, r = row % 16;
                    for (int i = 0; i < 256; i++) {
                        int col = col0 + i, blk = col / 32, within = col % 32;
                        q[(g * blocks + blk) * 512 + 32 * (within / 2) + 2 * r + within % 2] = bq[i];
                    }
                    for (int i = 0; i < 16; i++) {
                        int col = col0 + 16 * i, blk = col / 32;
                        sc[((g * blocks + blk) * 2 + (col % 32) / 16) * 16 + r] = bs[i];
                    }
                }
            });
            if (grouped) {
                groupQ = q;
                groupScales = sc;
                groupCols = cols;
            } else {
                int8 = q;
                scales16 = sc;
            }
            return q.length + 4L * sc.length;
        }

        /** Superblock b's 256 values q - 32 into q (in element order) and its 16 scales d * scale into sc. */
        private void decodeBlock(int b, byte[] q, float[] sc) {
            long block = (long) b * 210;
            float d = f16(data, block + 208);
            for (int half = 0; half < 2; half++) {
                long ql = block + 64 * half, qh = block + 128 + 32 * half, scOff = block + 192 + 8 * half;
                int o = 128 * half;
                for (int l = 0; l < 32; l++) {
                    int a = u8(data, ql + l), c = u8(data, ql + l + 32), h = u8(data, qh + l);
                    q[o + l] = (byte) (((a & 15) | (h & 3) << 4) - 32);
                    q[o + l + 32] = (byte) (((c & 15) | ((h >> 2) & 3) << 4) - 32);
                    q[o + l + 64] = (byte) (((a >> 4) | ((h >> 4) & 3) << 4) - 32);
                    q[o + l + 96] = (byte) (((c >> 4) | ((h >> 6) & 3) << 4) - 32);
                }
                for (int is = 0; is < 2; is++) {
                    for (int k = 0; k < 4; k++) sc[(o + 32 * k + 16 * is) >> 4] = d * i8(data, scOff + is + 2 * k);
                }
            }
        }

        @Override boolean takesQuantizedInput() { return groupQ != null; }

        @Override boolean matvecQuantized(QuantizedInput x, float[] out, int outOff, int r0, int r1, boolean accumulate) {
            if (groupQ == null || x.cols != groupCols) return false;
            return RowGroupTensor.inGroupPairs(this::rowGroups2, x, out, outOff, r0, r1, accumulate);
        }

        /**
         * Q8_0's row-group loop (RowGroupTensor) with a scale per 16 columns: each 32-column block's pairs in two halves
         * of 8, each half's int sums scaled on its own. |q - 32| <= 32, so two products fit in 16 bits as for Q8_0.
         */
        private void rowGroups2(int ga, int gb, QuantizedInput x, float[] out, int outOff, boolean accumulate) {
            var F = Simd.F16L;
            var I = Simd.I16L;
            var B = RowGroupTensor.GROUP_BYTES;
            var S = RowGroupTensor.GROUP_SHORTS;
            int blocks = groupCols / 32;
            byte[] q = groupQ;
            float[] gs = groupScales;
            int[] xp = x.pairs;
            float[] dx = x.scales;
            int qa = ga * blocks * 512, qb = gb * blocks * 512;
            FloatVector acca = FloatVector.zero(F), accb = acca;
            for (int b = 0; b < blocks; b++, qa += 512, qb += 512) {
                for (int h = 0; h < 2; h++) {
                    IntVector sa = IntVector.zero(I), sb = sa;
                    for (int p = 8 * h; p < 8 * h + 8; p += 2) {
                        ShortVector x0 = IntVector.broadcast(I, xp[16 * b + p]).reinterpretAsShorts();
                        ShortVector x1 = IntVector.broadcast(I, xp[16 * b + p + 1]).reinterpretAsShorts();
                        IntVector v = ((ShortVector) ByteVector.fromArray(B, q, qa + 32 * p).castShape(S, 0)).mul(x0)
                                .add(((ShortVector) ByteVector.fromArray(B, q, qa + 32 * p + 32).castShape(S, 0)).mul(x1))
                                .reinterpretAsInts();
                        sa = sa.add(v.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16)).add(v.lanewise(VectorOperators.ASHR, 16));
                        v = ((ShortVector) ByteVector.fromArray(B, q, qb + 32 * p).castShape(S, 0)).mul(x0)
                                .add(((ShortVector) ByteVector.fromArray(B, q, qb + 32 * p + 32).castShape(S, 0)).mul(x1))
                                .reinterpretAsInts();
                        sb = sb.add(v.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16)).add(v.lanewise(VectorOperators.ASHR, 16));
                    }
                    float scale = dx[b];
                    acca = ((FloatVector) sa.castShape(F, 0)).fma(FloatVector.fromArray(F, gs, ((ga * blocks + b) * 2 + h) * 16).mul(scale), acca);
                    accb = ((FloatVector) sb.castShape(F, 0)).fma(FloatVector.fromArray(F, gs, ((gb * blocks + b) * 2 + h) * 16).mul(scale), accb);
                }
            }
            int oa = outOff + 16 * ga, ob = outOff + 16 * gb;
            if (accumulate) {
                acca = acca.add(FloatVector.fromArray(F, out, oa));
                accb = accb.add(FloatVector.fromArray(F, out, ob));
            }
            acca.intoArray(out, oa);
            if (gb != ga) accb.intoArray(out, ob);
        }

        /** The plain reference of {@link #matvecQuantized} for one row: the same integer products and scales, in float64. */
        double dotQuantizedPlain(int row, QuantizedInput x) {
            byte[] bq = new byte[256];
            float[] bs = new float[16];
            double s = 0;
            for (int b = 0; b < groupCols / 256; b++) {
                decodeBlock((int) ((long) row * groupCols / 256) + b, bq, bs);
                for (int i = 0; i < 16; i++) {
                    long isum = 0;
                    for (int k = 0; k < 16; k++) isum += (long) bq[16 * i + k] * x.value(256 * b + 16 * i + k);
                    s += (double) bs[i] * x.scales[(256 * b + 16 * i) / 32] * isum;
                }
            }
            return s;
        }

        // ---- the matmul kernel for 16 float lanes: int lanes over whole 4-byte words, x reordered to match ----
        //
        // One 64-byte load of ql gives 16 int lanes of 4 bytes each; byte k of lane i is ql[4i + k]. Taking
        // byte k of every lane (a shift and a mask) gives 16 values whose elements are 4i + k (lanes 0-7, from
        // ql[0..31]) and 32 + 4(i-8) + k (lanes 8-15, from ql[32..63]); their high nibbles are the elements
        // 64 higher. The 2-bit high parts come from one 64-byte load of both halves' qh, duplicated per half;
        // lanes 0-7 take bits 0-1 (4-5 for high nibbles), lanes 8-15 bits 2-3 (6-7): a per-lane shift. Scales
        // are per 16 elements, so per lane too, and constant over k: they multiply the sum over k once.
        // No byte lanes and no byte-to-int casts, which C2 compiles poorly on x86 (1.8 GB/s on one core).

        private static final boolean PERMUTED = Simd.ENABLED && Simd.L == 16;
        private static final VectorShuffle<Integer> QH_HALF0 = VectorShuffle.fromOp(IntVector.SPECIES_512, i -> i & 7);
        private static final VectorShuffle<Integer> QH_HALF1 = VectorShuffle.fromOp(IntVector.SPECIES_512, i -> 8 + (i & 7));
        /** Scale index of each lane: low nibbles of half 0 use scales 0-3 (4 lanes each), high nibbles 4-7, half 1 8-11 and 12-15. */
        private static final VectorShuffle<Float> SC_LOW0 = VectorShuffle.fromOp(FloatVector.SPECIES_512, i -> i / 4);
        private static final VectorShuffle<Float> SC_HIGH0 = VectorShuffle.fromOp(FloatVector.SPECIES_512, i -> 4 + i / 4);
        private static final VectorShuffle<Float> SC_LOW1 = VectorShuffle.fromOp(FloatVector.SPECIES_512, i -> 8 + i / 4);
        private static final VectorShuffle<Float> SC_HIGH1 = VectorShuffle.fromOp(FloatVector.SPECIES_512, i -> 12 + i / 4);
        private static final IntVector QH_SHIFT_LOW = IntVector.fromArray(IntVector.SPECIES_512, new int[] {0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2}, 0);
        private static final IntVector QH_SHIFT_HIGH = IntVector.fromArray(IntVector.SPECIES_512, new int[] {4, 4, 4, 4, 4, 4, 4, 4, 6, 6, 6, 6, 6, 6, 6, 6}, 0);

        /** Element (within a block) read by lane i of the kernel's vector number v (0..15): half v/8, byte k=(v/2)%4, low nibble when v is even. */
        static int permutedElement(int v, int i) {
            int half = v / 8, k = (v / 2) % 4, high = v % 2;
            return 128 * half + 64 * high + (i < 8 ? 4 * i + k : 32 + 4 * (i - 8) + k);
        }
        private static final int[] PERMUTATION = new int[256];
        static {
            for (int v = 0; v < 16; v++) for (int i = 0; i < 16; i++) PERMUTATION[16 * v + i] = permutedElement(v, i);
        }

        @Override void matvec(float[] x, int cols, float[] out, int outOff, int r0, int r1, boolean accumulate, float[] scratch) {
            if (int8 == null) {
                super.matvec(x, cols, out, outOff, r0, r1, accumulate, scratch);
                return;
            }
            int q = (r1 - r0) / 4;
            for (int r = r0; r < r0 + q; r++) int8Rows4(r, q, x, cols, out, outOff + r, accumulate);
            for (int r = r0 + 4 * q; r < r1; r++) {
                float d = int8Row(r, x, cols);
                out[outOff + r] = accumulate ? out[outOff + r] + d : d;
            }
        }

        private float int8Row(int r, float[] x, int cols) {
            var F = Simd.F16L;
            FloatVector acc = FloatVector.zero(F);
            int at = r * cols;
            for (int j = 0; j < cols; j += 16) {
                FloatVector w = (FloatVector) ByteVector.fromArray(Simd.B16L, int8, at + j).castShape(F, 0);
                acc = w.mul(FloatVector.fromArray(F, x, j)).fma(FloatVector.broadcast(F, scales16[(at + j) >> 4]), acc);
            }
            return Simd.sum(acc);
        }

        /**
         * Rows r, r+step, r+2*step, r+3*step of the int8 copy (four memory streams, as Q8_0), each x vector loaded
         * once for the four; written out in one method above C2's FreqInlineSize (see RowPairs).
         */
        private void int8Rows4(int r, int step, float[] x, int cols, float[] out, int o, boolean accumulate) {
            var F = Simd.F16L;
            var B = Simd.B16L;
            int p0 = r * cols, p1 = (r + step) * cols, p2 = (r + 2 * step) * cols, p3 = (r + 3 * step) * cols;
            FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
            for (int j = 0; j < cols; j += 16) {
                FloatVector xv = FloatVector.fromArray(F, x, j);
                FloatVector w = (FloatVector) ByteVector.fromArray(B, int8, p0 + j).castShape(F, 0);
                a0 = w.mul(xv).fma(FloatVector.broadcast(F, scales16[(p0 + j) >> 4]), a0);
                w = (FloatVector) ByteVector.fromArray(B, int8, p1 + j).castShape(F, 0);
                a1 = w.mul(xv).fma(FloatVector.broadcast(F, scales16[(p1 + j) >> 4]), a1);
                w = (FloatVector) ByteVector.fromArray(B, int8, p2 + j).castShape(F, 0);
                a2 = w.mul(xv).fma(FloatVector.broadcast(F, scales16[(p2 + j) >> 4]), a2);
                w = (FloatVector) ByteVector.fromArray(B, int8, p3 + j).castShape(F, 0);
                a3 = w.mul(xv).fma(FloatVector.broadcast(F, scales16[(p3 + j) >> 4]), a3);
            }
            float s0 = Simd.sum(a0), s1 = Simd.sum(a1);
            float s2 = Simd.sum(a2), s3 = Simd.sum(a3);
            if (accumulate) {
                out[o] += s0; out[o + step] += s1; out[o + 2 * step] += s2; out[o + 3 * step] += s3;
            } else {
                out[o] = s0; out[o + step] = s1; out[o + 2 * step] = s2; out[o + 3 * step] = s3;
            }
        }

        @Override float[] prepare(float[] x, int n, float[] scratch) {
            if (!PERMUTED) return x;
            for (int b = 0; b < n; b += 256) {
                for (int i = 0; i < 256; i++) scratch[b + i] = x[b + PERMUTATION[i]];
            }
            return scratch;
        }
        @Override float dotRowPrepared(long offset, float[] px, int n) {
            return PERMUTED ? dotPermuted(offset / 256 * 210, px, n) : super.dotRowPrepared(offset, px, n);
        }
        @Override void dotRows4Prepared(long o0, long o1, long o2, long o3, float[] px, int n, float[] res) {
            if (!PERMUTED) {
                super.dotRows4Prepared(o0, o1, o2, o3, px, n, res);
                return;
            }
            // One row per call: this kernel is bound by arithmetic, not by memory latency.
            res[0] = dotPermuted(o0 / 256 * 210, px, n);
            res[1] = dotPermuted(o1 / 256 * 210, px, n);
            res[2] = dotPermuted(o2 / 256 * 210, px, n);
            res[3] = dotPermuted(o3 / 256 * 210, px, n);
        }
        private float dotPermuted(long block, float[] px, int n) {
            var F = Simd.F16L;
            var I = Simd.I16L;
            FloatVector acc = FloatVector.zero(F);
            for (int j = 0; j < n; j += 256, block += 210) {
                FloatVector scales = ((FloatVector) ByteVector.fromMemorySegment(Simd.B16L, data, block + 192, Simd.LE).castShape(F, 0))
                        .mul(f16(data, block + 208));
                IntVector qhBoth = IntVector.fromMemorySegment(I, data, block + 128, Simd.LE);
                for (int half = 0; half < 2; half++) {
                    IntVector ql = IntVector.fromMemorySegment(I, data, block + 64 * half, Simd.LE);
                    IntVector qh = qhBoth.rearrange(half == 0 ? QH_HALF0 : QH_HALF1);
                    FloatVector low = FloatVector.zero(F), high = low;
                    int e = j + 128 * half;
                    for (int k = 0; k < 4; k++, e += 32) {
                        IntVector qlk = ql.lanewise(VectorOperators.LSHR, 8 * k), qhk = qh.lanewise(VectorOperators.LSHR, 8 * k);
                        IntVector lo = qlk.and(15).or(qhk.lanewise(VectorOperators.LSHR, QH_SHIFT_LOW).and(3).lanewise(VectorOperators.LSHL, 4));
                        IntVector hi = qlk.lanewise(VectorOperators.LSHR, 4).and(15)
                                .or(qhk.lanewise(VectorOperators.LSHR, QH_SHIFT_HIGH).and(3).lanewise(VectorOperators.LSHL, 4));
                        low = ((FloatVector) lo.sub(32).castShape(F, 0)).fma(FloatVector.fromArray(F, px, e), low);
                        high = ((FloatVector) hi.sub(32).castShape(F, 0)).fma(FloatVector.fromArray(F, px, e + 16), high);
                    }
                    acc = low.fma(scales.rearrange(half == 0 ? SC_LOW0 : SC_LOW1), acc);
                    acc = high.fma(scales.rearrange(half == 0 ? SC_HIGH0 : SC_HIGH1), acc);
                }
            }
            return Simd.sum(acc);
        }

        @Override float vectorLoop(long from, float[] x, int xOff, float[] out, int outOff, int n) {
            var F = Simd.F;
            FloatVector acc = FloatVector.zero(F);
            for (int j = 0; j < n; j += 256) {
                long block = (from + j) / 256 * 210;
                float d = f16(data, block + 208);
                for (int half = 0; half < 2; half++) {
                    long ql = block + 64 * half, qh = block + 128 + 32 * half, sc = block + 192 + 8 * half;
                    int e0 = j + 128 * half;
                    for (int c = 0; c < 32; c += Simd.BL) {
                        ByteVector a = ByteVector.fromMemorySegment(Simd.B, data, ql + c, Simd.LE);
                        ByteVector b = ByteVector.fromMemorySegment(Simd.B, data, ql + 32 + c, Simd.LE);
                        ByteVector h = ByteVector.fromMemorySegment(Simd.B, data, qh + c, Simd.LE);
                        ByteVector q1 = a.and((byte) 15).or(h.and((byte) 3).lanewise(VectorOperators.LSHL, 4)).sub((byte) 32);
                        ByteVector q2 = b.and((byte) 15).or(h.lanewise(VectorOperators.LSHR, 2).and((byte) 3).lanewise(VectorOperators.LSHL, 4)).sub((byte) 32);
                        ByteVector q3 = a.lanewise(VectorOperators.LSHR, 4).or(h.lanewise(VectorOperators.LSHR, 4).and((byte) 3).lanewise(VectorOperators.LSHL, 4)).sub((byte) 32);
                        ByteVector q4 = b.lanewise(VectorOperators.LSHR, 4).or(h.lanewise(VectorOperators.LSHR, 6).lanewise(VectorOperators.LSHL, 4)).sub((byte) 32);
                        for (int p = 0; p < Simd.PARTS; p++) {
                            int l = c + p * Simd.L, is = l / 16, e = e0 + l;
                            acc = emit(((FloatVector) q1.castShape(F, p)).mul(d * i8(data, sc + is)), x, xOff + e, out, outOff + e, acc);
                            acc = emit(((FloatVector) q2.castShape(F, p)).mul(d * i8(data, sc + is + 2)), x, xOff + e + 32, out, outOff + e + 32, acc);
                            acc = emit(((FloatVector) q3.castShape(F, p)).mul(d * i8(data, sc + is + 4)), x, xOff + e + 64, out, outOff + e + 64, acc);
                            acc = emit(((FloatVector) q4.castShape(F, p)).mul(d * i8(data, sc + is + 6)), x, xOff + e + 96, out, outOff + e + 96, acc);
                        }
                    }
                }
            }
            return Simd.sum(acc);
        }
    }

    // =====================================================================================
    // 4. Model loading: ModelConfig from the llama.* metadata, then every tensor checked against it
    //    (presence, type, shape). Tensor names and shapes are llama.cpp's GGUF conventions; shapes
    //    below are written [rows][cols] (GGUF lists them the other way round: [cols, rows]).
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

    /** What an attention hook learns about the model it is attached to. tokenizer is null for a file without one. */
    public record ModelInfo(ModelConfig config, GGUF gguf, Tokenizer tokenizer) {}

    /**
     * How to load a model: the CLI's {@code --context}, {@code --cache-type-k} and {@code --cache-type-v}. Immutable.
     * The KV cache grows as tokens arrive, so a large context costs memory only when it is used.
     *
     * @param contextLength the most tokens (prompt and generated) a sequence holds; 0 means the model's own
     *                      ({@code llama.context_length}); a negative value is a {@link UserError} at load
     * @param keyType       how the KV cache stores keys ({@link KvType#F16} by default, as llama.cpp)
     * @param valueType     how the KV cache stores values ({@link KvType#F16} by default)
     */
    public record LoadOptions(int contextLength, KvType keyType, KvType valueType) {
        /**
         * Checks that both cache types are given.
         *
         * @throws NullPointerException when keyType or valueType is null
         */
        public LoadOptions {
            Objects.requireNonNull(keyType, "keyType");
            Objects.requireNonNull(valueType, "valueType");
        }
        /**
         * A context length with f16 keys and values.
         *
         * @param contextLength the most tokens a sequence holds; 0 means the model's own
         */
        public LoadOptions(int contextLength) { this(contextLength, KvType.F16, KvType.F16); }
        /**
         * The model's own context length, f16 keys and values.
         *
         * @return the options
         */
        public static LoadOptions defaults() { return new LoadOptions(0); }
    }

    /** A loaded model: config, tokenizer and weights mapped from the GGUF file. */
    public static final class Model implements AutoCloseable {
        private final GGUF gguf;
        private final ModelConfig config;
        private final Tokenizer tokenizer;
        /** Leading dimensions of each head that RoPE rotates (llama.rope.dimension_count, default headSize). */
        final int ropeDim;
        /** [ropeDim/2] angle per position of each rotated pair, Llama 3.1 scaling applied. */
        final float[] ropeFreqs;
        final FloatTensor tokenEmbedding; // [vocab][dim]
        final Layer[] layers;
        final float[] outputNorm;         // [dim]
        final FloatTensor output;         // [vocab][dim]; token_embd.weight when the file has no output.weight
        /** Bytes of weights one decode step reads: every matrix once (a copy made at load instead of its matrix), plus one embedding row. */
        final long weightBytesPerToken;
        /** How each new state's KV cache stores keys and values. */
        final KvType keyType, valueType;
        /** Heap bytes of weight copies made at load for faster decode (Q8_0, Q4_0, Q4_K and Q6_K matrices), 0 if none; the time it took. */
        final long repackedBytes, repackNanos;

        /** One transformer block. */
        static final class Layer {
            float[] attnNorm;             // [dim]
            FloatTensor wq;               // [qDim][dim]
            FloatTensor wk, wv;           // [kvDim][dim]
            FloatTensor wo;               // [dim][qDim]
            float[] ffnNorm;              // [dim]
            FloatTensor gate, up;         // [hidden][dim]
            FloatTensor down;             // [dim][hidden]
        }

        /** Loads and validates a llama GGUF; every problem with the file is a {@link UserError}. */
        public static Model load(Path path, LoadOptions options) {
            requireVectorModule();
            GGUF gguf = GGUF.read(requireReadableFile(path, "model file"));
            try {
                return new Model(gguf, options);
            } catch (RuntimeException e) {
                gguf.close();
                throw e;
            }
        }

        private Model(GGUF gguf, LoadOptions options) {
            this.gguf = gguf;
            this.keyType = options.keyType();
            this.valueType = options.valueType();
            Path path = gguf.path();
            Object arch = gguf.get("general.architecture");
            if (arch == null) throw new GGUFFormatException(path + ": required metadata key 'general.architecture' is missing");
            if (!"llama".equals(arch)) {
                throw new UserError(path + ": model architecture " + (arch instanceof String a ? quote(a) : "of type " + gguf.valueTypes().get("general.architecture"))
                        + " is not supported (this runtime runs 'llama' models)");
            }
            // Upper bounds far above any published model, checked before anything is sized from them.
            int dim = intKey(gguf, "llama.embedding_length", -1, 1 << 20);
            int hidden = intKey(gguf, "llama.feed_forward_length", -1, 1 << 22);
            int nLayers = intKey(gguf, "llama.block_count", -1, 1 << 12);
            int nHeads = intKey(gguf, "llama.attention.head_count", -1, 1 << 12);
            int nKvHeads = intKey(gguf, "llama.attention.head_count_kv", nHeads, 1 << 12);
            if (nKvHeads > nHeads || nHeads % nKvHeads != 0) {
                throw new GGUFFormatException(path + ": llama.attention.head_count (" + nHeads + ") must be a multiple of llama.attention.head_count_kv (" + nKvHeads + ")");
            }
            if (!gguf.metadata().containsKey("llama.attention.key_length") && dim % nHeads != 0) {
                throw new GGUFFormatException(path + ": llama.embedding_length (" + dim + ") is not a multiple of llama.attention.head_count (" + nHeads + ") and llama.attention.key_length is absent");
            }
            if (dim < nHeads && !gguf.metadata().containsKey("llama.attention.key_length")) {
                throw new GGUFFormatException(path + ": llama.embedding_length (" + dim + ") is smaller than llama.attention.head_count (" + nHeads + ")");
            }
            int headSize = intKey(gguf, "llama.attention.key_length", dim / nHeads, 1 << 12);
            int valueLength = intKey(gguf, "llama.attention.value_length", headSize, 1 << 12);
            if (valueLength != headSize) {
                throw new UserError(path + ": llama.attention.value_length (" + valueLength + ") differs from key_length (" + headSize + "); this runtime needs them equal");
            }
            int fileContext = intKey(gguf, "llama.context_length", -1, 1 << 30);
            if (options.contextLength() < 0) throw new UserError("context length must be positive, got " + options.contextLength());
            int contextLength = options.contextLength() > 0 ? options.contextLength() : fileContext;
            if (!gguf.metadata().containsKey("llama.attention.layer_norm_rms_epsilon")) {
                throw new GGUFFormatException(path + ": required metadata key 'llama.attention.layer_norm_rms_epsilon' is missing");
            }
            float eps = gguf.getFloat("llama.attention.layer_norm_rms_epsilon", 0f);
            float theta = gguf.getFloat("llama.rope.freq_base", 10000f);
            // Real models use 1e-6..1e-5 and 1e4..1e7; far outside, the file is damaged and decoding would be garbage.
            if (!(eps > 0f && eps <= 1e-2f)) {
                throw new GGUFFormatException(path + ": llama.attention.layer_norm_rms_epsilon is " + eps + ", expected a number in (0, 0.01]");
            }
            if (!(theta > 1f && theta <= 1e12f)) {
                throw new GGUFFormatException(path + ": llama.rope.freq_base is " + theta + ", expected a number in (1, 1e12]");
            }
            ropeDim = intKey(gguf, "llama.rope.dimension_count", headSize, 1 << 12);
            if (ropeDim % 2 != 0 || ropeDim > headSize || headSize % 2 != 0) {
                throw new GGUFFormatException(path + ": llama.rope.dimension_count (" + ropeDim + ") must be even and at most the head size (" + headSize + ")");
            }

            requireBlocks(gguf, nLayers);
            Shapes shapes = new Shapes(gguf);
            TensorInfo embd = shapes.info("token_embd.weight");
            if (embd.shape().length != 2 || embd.shape()[0] != dim) {
                throw new GGUFFormatException(path + ": tensor 'token_embd.weight' has shape " + Arrays.toString(embd.shape())
                        + ", expected [" + dim + ", vocab] (llama.embedding_length, vocabulary size)");
            }
            if (embd.shape()[1] > Integer.MAX_VALUE) throw new GGUFFormatException(path + ": vocabulary of " + embd.shape()[1] + " tokens is too large");
            int vocab = (int) embd.shape()[1];
            int qDim = nHeads * headSize, kvDim = nKvHeads * headSize;
            config = new ModelConfig(dim, hidden, nLayers, nHeads, nKvHeads, headSize, vocab, contextLength, eps, theta);

            tokenEmbedding = shapes.matrix("token_embd.weight", vocab, dim, "vocab", "embedding_length");
            layers = new Layer[nLayers];
            for (int l = 0; l < nLayers; l++) {
                String p = "blk." + l + ".";
                Layer layer = new Layer();
                layer.attnNorm = shapes.vector(p + "attn_norm.weight", dim);
                layer.wq = shapes.matrix(p + "attn_q.weight", qDim, dim, "head_count*key_length", "embedding_length");
                layer.wk = shapes.matrix(p + "attn_k.weight", kvDim, dim, "head_count_kv*key_length", "embedding_length");
                layer.wv = shapes.matrix(p + "attn_v.weight", kvDim, dim, "head_count_kv*key_length", "embedding_length");
                layer.wo = shapes.matrix(p + "attn_output.weight", dim, qDim, "embedding_length", "head_count*key_length");
                layer.ffnNorm = shapes.vector(p + "ffn_norm.weight", dim);
                layer.gate = shapes.matrix(p + "ffn_gate.weight", hidden, dim, "feed_forward_length", "embedding_length");
                layer.up = shapes.matrix(p + "ffn_up.weight", hidden, dim, "feed_forward_length", "embedding_length");
                layer.down = shapes.matrix(p + "ffn_down.weight", dim, hidden, "embedding_length", "feed_forward_length");
                layers[l] = layer;
            }
            outputNorm = shapes.vector("output_norm.weight", dim);
            output = gguf.tensors().containsKey("output.weight")
                    ? shapes.matrix("output.weight", vocab, dim, "vocab", "embedding_length")
                    : tokenEmbedding;
            // Decode reads copies of some matrices, made here while they stay within a quarter of the heap (which the KV
            // cache grows into): the matrices with their row lengths, the output matrix first, then each layer's.
            record Matrix(FloatTensor w, int cols) {}
            List<Matrix> matrices = new ArrayList<>(List.of(new Matrix(output, dim)));
            for (Layer layer : layers) {
                matrices.addAll(List.of(new Matrix(layer.wq, dim), new Matrix(layer.wk, dim), new Matrix(layer.wv, dim), new Matrix(layer.wo, qDim),
                        new Matrix(layer.gate, dim), new Matrix(layer.up, dim), new Matrix(layer.down, hidden)));
            }
            long repacked = 0, budget = Runtime.getRuntime().maxMemory() / 4, repackStart = System.nanoTime();
            if (!"false".equalsIgnoreCase(System.getProperty("tokenbutler.repack", "true"))) {
                // Q6_K first (the output matrix of Q4_0/Q4_K files; attn_v and ffn_down of some layers in Q4_K_M/Q5_K_M
                // files): bound by arithmetic, not memory, its own kernel runs at half the speed of the types around it
                // (Q6_KTensor.repackForDecode). Then Q8_0 and Q4_0 (row groups of the file's bytes,
                // RowGroupTensor.repackRowGroups) and Q4_K (float scales and offsets: 0.75 bytes a weight against the
                // file's 0.5625): on the heap, which streams about twice as fast as a mapped file, with int8 kernels.
                for (Matrix m : matrices) {
                    if (m.w() instanceof Q6_KTensor q6 && repacked + q6.size() * 5 / 4 <= budget) repacked += q6.repackForDecode(m.cols());
                }
                for (Matrix m : matrices) {
                    if (m.w() instanceof RowGroupTensor g && repacked + g.data.byteSize() <= budget) repacked += g.repackRowGroups(m.cols());
                    if (m.w() instanceof Q4_KTensor q4k && repacked + q4k.size() * 3 / 4 <= budget) repacked += q4k.repackRowGroups(m.cols());
                }
            }
            repackedBytes = repacked;
            repackNanos = System.nanoTime() - repackStart;
            long bytes = tokenEmbedding.data.byteSize() / vocab;
            for (Matrix m : matrices) bytes += m.w().decodeBytes();
            weightBytesPerToken = bytes;

            ropeFreqs = ropeFrequencies(gguf, shapes, ropeDim, theta);
            tokenizer = loadTokenizer(gguf, vocab);
        }

        /**
         * llama.cpp's --check-tensors: every weight matrix scanned for NaN and Inf (the norm vectors are
         * checked at load, and every forward pass checks its logits). A UserError names the first bad
         * tensor with its row and column.
         * @return the bytes scanned
         */
        public long checkTensors() {
            List<FloatTensor> all = new ArrayList<>();
            all.add(tokenEmbedding);
            for (Layer l : layers) all.addAll(List.of(l.wq, l.wk, l.wv, l.wo, l.gate, l.up, l.down));
            if (output != tokenEmbedding) all.add(output);
            long bytes = 0;
            for (FloatTensor t : all) {
                long i = t.firstBadValue();
                if (i >= 0) {
                    long cols = gguf.tensors().get(t.name()).shape()[0];
                    throw new GGUFFormatException(gguf.path() + ": tensor '" + t.name() + "' (" + t.type() + ") holds " + t.getFloat(i)
                            + " at row " + i / cols + ", column " + i % cols + (t.type().blockSize > 1 ? " (its block's scale is not finite)" : ""));
                }
                bytes += t.data.byteSize();
            }
            return bytes;
        }

        /** Looks tensors up and checks their shape and type, with messages naming what the config expects. */
        private static final class Shapes {
            final GGUF gguf;
            Shapes(GGUF gguf) { this.gguf = gguf; }

            TensorInfo info(String name) {
                TensorInfo t = gguf.tensors().get(name);
                if (t == null) throw new GGUFFormatException(gguf.path() + ": tensor '" + name + "' is missing");
                return t;
            }

            FloatTensor matrix(String name, long rows, long cols, String rowsWhat, String colsWhat) {
                TensorInfo t = info(name);
                if (t.shape().length != 2 || t.shape()[0] != cols || t.shape()[1] != rows) {
                    throw new GGUFFormatException(gguf.path() + ": tensor '" + name + "' has shape " + Arrays.toString(t.shape())
                            + ", expected [" + cols + ", " + rows + "] (" + colsWhat + ", " + rowsWhat + ")");
                }
                return FloatTensor.of(t, gguf.tensorData(t));
            }

            /** A small 1-D tensor (norm weights, rope factors), copied into a float array. */
            float[] vector(String name, long length) {
                TensorInfo t = info(name);
                if (t.shape().length != 1 || t.shape()[0] != length) {
                    throw new GGUFFormatException(gguf.path() + ": tensor '" + name + "' has shape " + Arrays.toString(t.shape())
                            + ", expected [" + length + "]");
                }
                float[] v = FloatTensor.of(t, gguf.tensorData(t)).dequantizeAll();
                // Copied anyway, so checked for free: a NaN here would turn every token into garbage.
                for (int i = 0; i < v.length; i++) {
                    if (!Float.isFinite(v[i])) throw new GGUFFormatException(gguf.path() + ": tensor '" + name + "' holds " + v[i] + " at element " + i);
                }
                return v;
            }
        }

        /** A metadata value in 1..max; fallback < 0 makes the key required. */
        static int intKey(GGUF gguf, String key, int fallback, int max) {
            if (!gguf.metadata().containsKey(key)) {
                if (fallback >= 0) return fallback;
                throw new GGUFFormatException(gguf.path() + ": required metadata key '" + key + "' is missing");
            }
            long v = gguf.getLong(key, 0);
            if (v <= 0 || v > max) {
                throw new GGUFFormatException(gguf.path() + ": metadata key '" + key + "' is " + Long.toUnsignedString(v)
                        + ", expected an integer in 1.." + max);
            }
            return (int) v;
        }

        /**
         * llama.block_count against the tensors present: at most the tensor count (a block has 9), and no
         * blk.N.* tensor at or above it (a smaller count would silently drop layers).
         */
        private static void requireBlocks(GGUF gguf, int nLayers) {
            if ((long) nLayers * 9 > gguf.tensors().size()) {
                throw new GGUFFormatException(gguf.path() + ": llama.block_count is " + nLayers + " but the file has only "
                        + gguf.tensors().size() + " tensors (each block has 9)");
            }
            for (String name : gguf.tensors().keySet()) {
                if (!name.startsWith("blk.")) continue;
                int dot = name.indexOf('.', 4);
                long block;
                try {
                    block = Long.parseLong(name.substring(4, dot < 0 ? name.length() : dot));
                } catch (NumberFormatException e) {
                    continue; // not a block's tensor: unused, like any other extra tensor
                }
                if (block >= nLayers) {
                    throw new GGUFFormatException(gguf.path() + ": tensor " + quote(name) + " belongs to block " + block
                            + " but llama.block_count is " + nLayers);
                }
            }
        }

        /**
         * theta^(-2j/ropeDim) for each rotated pair j, with Llama 3.1 long-context scaling when the file
         * asks for it: the tensor rope_freqs.weight (one divisor per pair, what llama.cpp's converter
         * writes) or metadata llama.rope.scaling.type = llama3 / linear.
         */
        private static float[] ropeFrequencies(GGUF gguf, Shapes shapes, int ropeDim, float theta) {
            float[] freqs = new float[ropeDim / 2];
            for (int j = 0; j < freqs.length; j++) freqs[j] = (float) (1.0 / Math.pow(theta, (2.0 * j) / ropeDim));
            Object type = gguf.get("llama.rope.scaling.type");
            if (gguf.tensors().containsKey("rope_freqs.weight")) {
                float[] divisors = shapes.vector("rope_freqs.weight", ropeDim / 2);
                for (int j = 0; j < freqs.length; j++) {
                    if (!(divisors[j] > 0f && divisors[j] < Float.POSITIVE_INFINITY)) {
                        throw new GGUFFormatException(gguf.path() + ": rope_freqs.weight[" + j + "] is " + divisors[j] + ", expected a finite number > 0");
                    }
                    freqs[j] /= divisors[j];
                }
            } else if (type == null || "none".equals(type)) {
                return freqs;
            } else if ("llama3".equals(type)) {
                float factor = requireFloat(gguf, "llama.rope.scaling.factor");
                float low = requireFloat(gguf, "llama.rope.scaling.low_freq_factor");
                float high = requireFloat(gguf, "llama.rope.scaling.high_freq_factor");
                int original = intKey(gguf, "llama.rope.scaling.original_context_length", -1, 1 << 30);
                if (!(factor > 0f && factor <= 1e4f) || !(low > 0f) || !(high > low) || !Float.isFinite(high)) {
                    throw new GGUFFormatException(gguf.path() + ": llama3 rope scaling needs factor > 0 and high_freq_factor > low_freq_factor > 0, got factor "
                            + factor + ", low " + low + ", high " + high);
                }
                llama3Scaling(freqs, factor, low, high, original);
            } else if ("linear".equals(type)) {
                float factor = requireFloat(gguf, "llama.rope.scaling.factor");
                if (!(factor > 0f && factor <= 1e4f)) throw new GGUFFormatException(gguf.path() + ": llama.rope.scaling.factor is " + factor + ", expected a number in (0, 10000]");
                for (int j = 0; j < freqs.length; j++) freqs[j] /= factor;
            } else {
                throw new UserError(gguf.path() + ": llama.rope.scaling.type '" + type + "' is not supported (supported: none, linear, llama3)");
            }
            return freqs;
        }

        private static float requireFloat(GGUF gguf, String key) {
            if (!gguf.metadata().containsKey(key)) throw new GGUFFormatException(gguf.path() + ": required metadata key '" + key + "' is missing");
            return gguf.getFloat(key, 0f);
        }

        /**
         * Llama 3.1 frequency scaling (Meta's apply_scaling): wavelengths shorter than
         * originalContext/highFreqFactor keep their frequency, longer than originalContext/lowFreqFactor
         * are divided by factor, and those between are interpolated.
         */
        static void llama3Scaling(float[] freqs, float factor, float lowFreqFactor, float highFreqFactor, int originalContext) {
            double lowFreqWavelen = originalContext / (double) lowFreqFactor;
            double highFreqWavelen = originalContext / (double) highFreqFactor;
            for (int j = 0; j < freqs.length; j++) {
                double freq = freqs[j], wavelen = 2 * Math.PI / freq;
                if (wavelen < highFreqWavelen) continue;
                if (wavelen > lowFreqWavelen) {
                    freqs[j] = (float) (freq / factor);
                } else {
                    double smooth = (originalContext / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
                    freqs[j] = (float) ((1 - smooth) * freq / factor + smooth * freq);
                }
            }
        }

        private static Tokenizer loadTokenizer(GGUF gguf, int vocab) {
            if (!gguf.metadata().containsKey("tokenizer.ggml.model")) return null;
            Tokenizer t = Tokenizers.fromGGUF(gguf);
            if (t.vocabSize() > vocab) {
                throw new GGUFFormatException(gguf.path() + ": the tokenizer has " + t.vocabSize() + " tokens but token_embd.weight only "
                        + vocab + " rows");
            }
            return t;
        }

        public ModelConfig config() { return config; }
        /** The tokenizer, or a {@link UserError} when the file has none (tokenizer.ggml.* metadata absent). */
        public Tokenizer tokenizer() {
            if (tokenizer == null) throw new UserError(gguf.path() + ": the model file has no tokenizer (no tokenizer.ggml.* metadata)");
            return tokenizer;
        }
        public boolean hasTokenizer() { return tokenizer != null; }
        public GGUF gguf() { return gguf; }
        public ModelInfo info() { return new ModelInfo(config, gguf, tokenizer); }
        /** Bytes of weight data one decode step reads (every matrix once, plus one embedding row). */
        public long weightBytesPerToken() { return weightBytesPerToken; }
        /** Heap bytes of weight copies made at load for faster decode (-Dtokenbutler.repack=false: none). */
        public long repackedBytes() { return repackedBytes; }

        /** Nanoseconds the load spent making those copies. */
        public long repackNanos() { return repackNanos; }

        /** How each new state's KV cache stores keys. */
        public KvType keyType() { return keyType; }
        /** How each new state's KV cache stores values. */
        public KvType valueType() { return valueType; }
        /** Bytes of K and V one decode step at position pos reads with dense attention: every layer's rows 0..pos. */
        public long kvBytesPerToken(int pos) {
            return (long) (pos + 1) * config.nLayers() * (keyType.bytes(config.kvDim()) + valueType.bytes(config.kvDim()));
        }
        /** The token embedding matrix [vocab][dim]. */
        public FloatTensor tokenEmbedding() { return tokenEmbedding; }

        /**
         * A fresh state (KV cache at position 0) whose attention goes through {@code attention}, or dense when null.
         * The KV cache starts small and grows as tokens arrive ({@link State#ensureCapacity}), up to the context.
         */
        public State newState(AttentionHook.Attention attention) { return newState(attention, State.INITIAL_TOKENS); }

        /** {@link #newState(AttentionHook.Attention)} with room for initialTokens positions from the start (at most the context). */
        public State newState(AttentionHook.Attention attention, int initialTokens) {
            long perLayer = (long) config.contextLength() * config.kvDim();
            if (perLayer > Integer.MAX_VALUE - 8) {
                throw new UserError("context " + config.contextLength() + " x KV width " + config.kvDim() + " is too large for one cache array per layer; use a smaller --context");
            }
            State s = new State(this, keyType, valueType, attention);
            s.ensureCapacity(Math.max(1, Math.min(initialTokens, config.contextLength())));
            return s;
        }

        /**
         * Runs tokens[offset .. offset+nTokens) at positions startPos.. (batched; any nTokens, split internally).
         * startPos 0 starts a new sequence: the state, its timings and its attention are reset.
         * @return logits [nTokens][vocab] row-major when allLogits, else [vocab] of the last token (a new array)
         */
        public float[] forward(State state, int[] tokens, int offset, int nTokens, int startPos, boolean allLogits) {
            return Forward.run(this, state, tokens, offset, nTokens, startPos, allLogits);
        }

        @Override public void close() { gguf.close(); }
    }

    // =====================================================================================
    // 5. Forward pass: batched prefill and decode, with the AttentionHook extension point.
    //    Per layer: RMSNorm -> Q,K,V -> RoPE -> KV cache -> attention (hook, else dense) -> Wo ->
    //    residual -> RMSNorm -> SwiGLU FFN -> residual. Matmuls read each weight row once per batch
    //    and split rows across a small fixed thread pool.
    // =====================================================================================


    /** How the KV cache stores its rows: llama.cpp's --cache-type-k/-v names. */
    public enum KvType {
        /** 4 bytes per element. */
        F32("f32"),
        /** IEEE half precision, 2 bytes per element (the default: exact for every value an f16 can hold). */
        F16("f16"),
        /** Blocks of 32 elements as int8 with one f16 scale (ggml's block_q8_0: 34 bytes per 32 elements). */
        Q8_0("q8_0");

        public final String cliName;
        KvType(String cliName) { this.cliName = cliName; }

        /** The type named as on llama.cpp's command line (f32, f16, q8_0), or a UserError listing those. */
        public static KvType parse(String option, String value) {
            for (KvType t : values()) if (t.cliName.equalsIgnoreCase(value.trim())) return t;
            throw new UserError("option " + option + " expects f32, f16 or q8_0, got '" + value + "'");
        }

        /** Bytes of n elements (n a multiple of 32 for Q8_0). */
        public long bytes(long n) {
            return switch (this) {
                case F32 -> 4 * n;
                case F16 -> 2 * n;
                case Q8_0 -> n / 32 * 34;
            };
        }

        @Override public String toString() { return cliName; }
    }

    /**
     * One layer's keys or values: rows of {@code width} elements (nKvHeads*headSize) at positions 0..capacity-1,
     * stored as {@link #type}. Rows are written once, when a token's K and V are computed (rounded or quantized
     * then), and read back exactly as stored: {@link #read} and {@link #gather} dequantize slices into floats.
     *
     * <p>Layout: head-major. Each run of {@link #unit} elements of a row (a KV head, headSize elements, in the
     * runtime's cache) is stored with the same run of every other position: element e of position pos is at
     * {@link #index}(pos, e) = ((e / unit) * capacity + pos) * unit + e % unit, so one head's rows follow one after
     * the other and attention over a head streams one contiguous range. With unit = width this is the plain
     * [position][width] layout ({@link #wrap}). The arrays behind a type ({@link #f32()}, {@link #f16()},
     * {@link #q8()} with {@link #q8Scales()}, one f16 scale per 32 elements of the same numbering) are for kernels
     * that read the stored form directly. They are replaced by larger ones when the cache grows: read them during a
     * call, keep no reference past it.
     */
    public static final class KvRows {
        public final KvType type;
        /** Elements per row. */
        public final int width;
        /** Elements of a row stored together per position (headSize; width for the plain layout). */
        public final int unit;
        private float[] f32 = new float[0];      // [width/unit][capacity][unit]
        private short[] f16 = new short[0];      // [width/unit][capacity][unit], half-precision bits
        private byte[] q8 = new byte[0];         // [width/unit][capacity][unit] int8
        private short[] q8Scales = new short[0]; // [width/unit][capacity][unit/32], f16 bits of each block's scale
        private int capacity;

        public KvRows(KvType type, int width, int unit) {
            if (unit <= 0 || width % unit != 0) throw new IllegalArgumentException("rows of " + width + " elements in runs of " + unit);
            if (type == KvType.Q8_0 && unit % 32 != 0) {
                throw new UserError("a q8_0 KV cache needs rows of a multiple of 32 elements; this model's are " + unit + " (use f16 or f32)");
            }
            this.type = type;
            this.width = width;
            this.unit = unit;
        }

        /**
         * The run length of a cache of this type: one head (headSize), except for q8_0 with heads that are not whole
         * 32-element blocks (tiny models), whose blocks then run across heads in the plain row-major layout.
         */
        public static int unitFor(KvType type, int width, int headSize) {
            return type == KvType.Q8_0 && headSize % 32 != 0 ? width : headSize;
        }

        /** An f32 view of rows already laid out as [rows][width] floats (not copied): for tools and tests that hold plain arrays. */
        public static KvRows wrap(float[] rows, int width) {
            KvRows r = new KvRows(KvType.F32, width, width);
            r.f32 = rows;
            r.capacity = rows.length / width;
            return r;
        }

        /** A copy of f32 rows [rows][width] stored as type, in runs of unit (rounded or quantized as {@link #write} does). */
        public static KvRows of(KvType type, float[] rows, int width, int unit) {
            KvRows r = new KvRows(type, width, unit);
            r.grow(rows.length / width);
            r.write(0, rows, 0, rows.length / width);
            return r;
        }

        public int capacity() { return capacity; }
        /** Where element e of position pos is in the arrays. */
        public int index(int pos, int e) { return ((e / unit) * capacity + pos) * unit + e % unit; }
        /** Bytes of one stored row. */
        public long rowBytes() { return type.bytes(width); }
        public float[] f32() { return f32; }
        public short[] f16() { return f16; }
        public byte[] q8() { return q8; }
        public short[] q8Scales() { return q8Scales; }

        /** Room for rows positions; the rows held so far are kept. */
        void grow(int rows) {
            if (rows <= capacity) return;
            long n = (long) rows * width;
            if (n > Integer.MAX_VALUE - 8) throw new UserError(rows + " positions of " + width + " elements do not fit in one array per layer; use a smaller --context");
            int runs = width / unit, old = capacity;
            switch (type) {
                case F32 -> f32 = regroup(f32, new float[(int) n], runs, old, rows, unit);
                case F16 -> f16 = regroup(f16, new short[(int) n], runs, old, rows, unit);
                case Q8_0 -> {
                    q8 = regroup(q8, new byte[(int) n], runs, old, rows, unit);
                    q8Scales = regroup(q8Scales, new short[(int) (n / 32)], runs, old, rows, unit / 32);
                }
            }
            capacity = rows;
        }

        /** Each run's first oldRows positions of per elements from src into dst, which holds newRows per run. */
        private static <A> A regroup(A src, A dst, int runs, int oldRows, int newRows, int per) {
            for (int r = 0; r < runs && oldRows > 0; r++) System.arraycopy(src, r * oldRows * per, dst, r * newRows * per, oldRows * per);
            return dst;
        }

        /**
         * Stores rows pos..pos+rows-1 from src[srcOff ..] ([rows][width] floats): as they are (f32), rounded to
         * nearest (f16), or per block of 32 with d = max|x|/127 rounded to f16 and q = round(x/d) (q8_0, as
         * ggml's quantize_row_q8_0).
         */
        public void write(int pos, float[] src, int srcOff, int rows) {
            Objects.checkFromIndexSize(pos, rows, capacity);
            for (int t = 0; t < rows; t++) {
                for (int e = 0; e < width; e += unit) {
                    int from = srcOff + t * width + e, at = index(pos + t, e);
                    switch (type) {
                        case F32 -> System.arraycopy(src, from, f32, at, unit);
                        case F16 -> {
                            for (int i = 0; i < unit; i++) f16[at + i] = Float.floatToFloat16(src[from + i]);
                        }
                        case Q8_0 -> {
                            for (int b = 0; b < unit; b += 32) {
                                float amax = 0f;
                                for (int i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(src[from + b + i]));
                                short dBits = Float.floatToFloat16(amax / 127f);
                                float d = Float.float16ToFloat(dBits), inv = d == 0f ? 0f : 1f / d;
                                q8Scales[(at + b) >> 5] = dBits;
                                for (int i = 0; i < 32; i++) q8[at + b + i] = (byte) Math.max(-127, Math.min(127, Math.round(src[from + b + i] * inv)));
                            }
                        }
                    }
                }
            }
        }

        /** Elements [off, off+n) of row pos as floats into dst[dstOff ..]: exactly what {@link #write} stored (for q8_0, q * d). */
        public void read(int pos, int off, int n, float[] dst, int dstOff) {
            for (int i = 0; i < n; ) {
                int e = off + i, run = Math.min(n - i, unit - e % unit), at = index(pos, e);
                switch (type) {
                    case F32 -> System.arraycopy(f32, at, dst, dstOff + i, run);
                    case F16 -> {
                        for (int k = 0; k < run; k++) dst[dstOff + i + k] = Float.float16ToFloat(f16[at + k]);
                    }
                    case Q8_0 -> {
                        for (int k = 0; k < run; k++) dst[dstOff + i + k] = q8[at + k] * Float.float16ToFloat(q8Scales[(at + k) >> 5]);
                    }
                }
                i += run;
            }
        }

        /**
         * Elements [off, off+n) of the rows at positions idx[from..to) (or from..to-1 when idx is null), as
         * floats packed one after the other into dst: the tile that the attention kernels compute on for
         * f16 and q8_0 caches. The same values as {@link #read}, vectorized.
         */
        public void gather(int[] idx, int from, int to, int off, int n, float[] dst) {
            gather(idx, from, to, off, n, dst, null);
        }

        /**
         * {@link #gather} with room for the rows' halves (at least (to-from)*n shorts; null: none) for an f16 cache:
         * scattered rows are first copied into it and then widened in one loop, which C2 compiles to the hardware's
         * half-to-float conversion (16 lanes an instruction). A plain loop over one 64-element row ran scalar
         * (C2's unrolled vector loop is longer than the row), and widening a row with vector bit operations took
         * ten instructions per vector; see AttentionBenchmark's figures in vendor/README.md.
         */
        public void gather(int[] idx, int from, int to, int off, int n, float[] dst, short[] halves) {
            if (off % unit + n > unit || (type == KvType.Q8_0 && ((off | n) & 31) != 0)) { // across runs, or not on whole blocks
                for (int j = from, o = 0; j < to; j++, o += n) read(idx == null ? j : idx[j], off, n, dst, o);
                return;
            }
            int base = index(0, off); // position p of this run at base + p * unit
            if (type == KvType.F16 && (idx == null ? n == unit : halves != null)) {
                if (idx == null) { // whole rows of one run follow one another
                    widenHalves(f16, base + from * unit, dst, 0, (to - from) * n);
                } else {
                    copyHalfRows(idx, from, to, base, n, halves);
                    widenHalves(halves, 0, dst, 0, (to - from) * n);
                }
                return;
            }
            int o = 0;
            for (int j = from; j < to; j++, o += n) {
                int at = base + (idx == null ? j : idx[j]) * unit;
                switch (type) {
                    case F32 -> System.arraycopy(f32, at, dst, o, n);
                    case F16 -> widenHalves(f16, at, dst, o, n);
                    case Q8_0 -> q8Row(at, n, dst, o);
                }
            }
        }

        /** The f16 elements [base + idx[j]*unit, +n) of the rows j in [from, to) packed into halves[0..]. */
        private void copyHalfRows(int[] idx, int from, int to, int base, int n, short[] halves) {
            short[] h = f16;
            int o = 0;
            if (Simd.ENABLED && n == 2 * Simd.SW.length()) { // heads of 64 with AVX-512 (32 with AVX2): two loads a row
                int half = Simd.SW.length();
                for (int j = from; j < to; j++, o += n) {
                    int at = base + idx[j] * unit;
                    ShortVector.fromArray(Simd.SW, h, at).intoArray(halves, o);
                    ShortVector.fromArray(Simd.SW, h, at + half).intoArray(halves, o + half);
                }
                return;
            }
            for (int j = from; j < to; j++, o += n) System.arraycopy(h, base + idx[j] * unit, halves, o, n);
        }

        /** dst[o + i] = the float of half src[at + i], i < n: a loop C2 vectorizes with the hardware's conversion. */
        private static void widenHalves(short[] src, int at, float[] dst, int o, int n) {
            for (int i = 0; i < n; i++) dst[o + i] = Float.float16ToFloat(src[at + i]);
        }

        /**
         * Touches elements [off, off+n) of the rows at positions idx[from..to), one load per cache line, so that a
         * {@link #gather} of them that follows finds them in cache. Java has no prefetch instruction, and a gather
         * of scattered rows waits on one miss after another (its conversions fill the reorder window); these loads,
         * a few instructions each in one tight loop, put dozens of misses in flight at once. On rows picked at 25%
         * density this took the attention over them from 143-175 to 104-107 ns a row (AttentionBenchmark: K and V,
         * 4 heads, f16, 64K positions, one thread). Rows in position order need none of it: the hardware prefetcher streams them.
         * @return a sum of the values loaded, which the caller must store somewhere (else C2 drops the loads);
         *         a field of an object of its own thread, to keep the cache line unshared
         */
        public int prefetch(int[] idx, int from, int to, int off, int n) {
            if (idx == null || from >= to) return 0;
            if (off % unit + n > unit) return 0; // across runs (the plain layout of tiny heads): rows of a few lines, left to the gather
            // a load every 64 bytes and one at the run's last element: one in each cache line the run touches, however aligned
            int sum = 0, base = index(0, off), last = n - 1;
            switch (type) {
                case F32 -> {
                    for (int j = from; j < to; j++) {
                        int at = base + idx[j] * unit;
                        for (int i = 0; i < last; i += 16) sum += Float.floatToRawIntBits(f32[at + i]);
                        sum += Float.floatToRawIntBits(f32[at + last]);
                    }
                }
                case F16 -> {
                    if (n > 32 && n <= 64) { // heads of 33 to 64 (most models: 64): three fixed loads, no inner loop
                        for (int j = from; j < to; j++) {
                            int at = base + idx[j] * unit;
                            sum += f16[at] + f16[at + 32] + f16[at + last];
                        }
                    } else {
                        for (int j = from; j < to; j++) {
                            int at = base + idx[j] * unit;
                            for (int i = 0; i < last; i += 32) sum += f16[at + i];
                            sum += f16[at + last];
                        }
                    }
                }
                case Q8_0 -> {
                    for (int j = from; j < to; j++) {
                        int at = base + idx[j] * unit;
                        for (int i = 0; i < last; i += 64) sum += q8[at + i];
                        sum += q8[at + last] + q8Scales[at >> 5];
                    }
                }
            }
            return sum;
        }

        /** Where a thread's {@link #prefetch} results go (set on its own tile), so that C2 cannot drop the loads. */
        int touched;

        /** q8_0 elements [at, at+n) (whole blocks) as q * d into dst[o..]. */
        private void q8Row(int at, int n, float[] dst, int o) {
            for (int b = 0; b < n; b += 32) {
                float d = Float.float16ToFloat(q8Scales[(at + b) >> 5]);
                int i = 0;
                if (Simd.ENABLED && Simd.PARTS == 1) {
                    FloatVector dv = FloatVector.broadcast(Simd.F, d);
                    for (; i + Simd.L <= 32; i += Simd.L) {
                        ((FloatVector) ByteVector.fromArray(Simd.B, q8, at + b + i).castShape(Simd.F, 0)).mul(dv).intoArray(dst, o + b + i);
                    }
                }
                for (; i < 32; i++) dst[o + b + i] = q8[at + b + i] * d;
            }
        }

        /** Sum over i < n of element (pos, off+i) * x[xOff+i]: one stored row slice against a vector. */
        public float dot(int pos, int off, float[] x, int xOff, int n, float[] scratch) {
            if (type == KvType.F32 && off % unit + n <= unit) return VectorMath.dot(f32, index(pos, off), x, xOff, n);
            read(pos, off, n, scratch, 0);
            return VectorMath.dot(scratch, 0, x, xOff, n);
        }
    }

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
             * The attention input of a layer (the hidden state after that layer's attention RMSNorm) for the
             * current tokens, called in prefill and decode for every layer, before the layer's Q/K/V matmuls
             * (so layer 0's comes before any layer's attention). A predictor reads the layers it needs (v1:
             * layer 0; v2: its producer layers) and ignores the rest.
             * @param x [nTokens][dim], row-major; valid only during the call
             */
            default void attentionInput(int layer, int startPos, int nTokens, float[] x) {}

            /**
             * This layer's keys of the current tokens before RoPE (right after the K matmul), for a predictor that
             * rotates keys its own way; the cache receives them rotated.
             * @param k [nTokens][nKvHeads*headSize], row-major; valid only during the call
             */
            default void keysBeforeRope(int layer, int startPos, int nTokens, float[] k) {}

            /**
             * Computes attention for one layer, or returns false to let the runtime compute it densely.
             * @param q          [nTokens][nHeads*headSize] queries after RoPE
             * @param keys       this layer's keys after RoPE, rows of nKvHeads*headSize in the cache's stored type (the
             *                   runtime's live cache: read only), capacity >= startPos + nTokens; the cache grows by
             *                   replacing its arrays, so a hook reads them during the call and keeps none past it
             * @param values     this layer's values, likewise
             * @param out        [nTokens][nHeads*headSize] to be filled: softmax(q·k/sqrt(headSize))·v per head
             */
            boolean attend(int layer, int startPos, int nTokens, float[] q, KvRows keys, KvRows values, float[] out);

            @Override default void close() {}
        }
    }

    /**
     * Dense causal attention, the reference every other attention must match. The arithmetic is fixed
     * so that a sparse kernel given every visible index reproduces it bit for bit:
     * scores s_t = q_h · k_t * (1/sqrt(headSize)) for t in index order (k_t as the cache stores it, exactly);
     * {@link VectorMath#softmax} of the scores (its own exponential, a fixed order of additions for a given count);
     * out = 0, then for t in index order out = fma(w_t, v_t, out) per element. Use {@link #attendHead} with an index
     * list to get the same arithmetic.
     */
    public static final class DenseAttention {
        private DenseAttention() {}

        /** Positions per tile when an f16 or q8_0 cache is turned into floats for the scalar kernels (a few KB: stays in L1/L2). */
        static final int TILE = 64;
        private static final ThreadLocal<KvRows> TILES = new ThreadLocal<>();

        /**
         * One query head over the given key positions: {@link #attendGroup} with one head.
         * @param q        query buffer; the head's queries at q[qOff .. qOff+headSize)
         * @param keys     one layer's keys; the head's keys at element kvOff of each row
         * @param indices  key positions to attend, ascending; null means 0..count-1
         * @param count    how many entries of indices to use
         * @param scores   scratch of at least count floats (receives the attention weights)
         * @param out      receives headSize floats at outOff (overwritten)
         */
        public static void attendHead(float[] q, int qOff, KvRows keys, KvRows values, int kvOff,
                                      int headSize, int[] indices, int count, float[] scores, float[] out, int outOff) {
            attendGroup(q, qOff, 1, keys, values, kvOff, headSize, indices, count, scores, count, out, outOff);
        }

        /**
         * Query heads h = 0..heads-1 of one KV group over the same key positions. Each K and V row is read once
         * for the whole group (GQA: the heads share it), which is what makes attention memory-friendly; each
         * head's arithmetic is unchanged, so the result does not depend on how many heads go together.
         * An f32 cache is read in place; f16 and q8_0 rows are turned into floats {@link #TILE} positions at a
         * time (exactly, vectorized: {@link KvRows#gather}) and the same kernels run on the tile, the value sums
         * carried from tile to tile in the output, so that the order of every addition is the same as in one sweep.
         * (Kernels that convert as they load were tried: the three load paths in one loop exceeded C2's inlining
         * budget and ran at half the speed.)
         * @param qOff         query of head h at q[qOff + h*headSize ..]
         * @param kvOff        offset of the group's KV head inside a cache row (kvHead * headSize)
         * @param indices      key positions, ascending, indices[0..count); null means 0..count-1
         * @param weights      receives head h's attention weights at weights[h*weightStride + j], j < count
         * @param weightStride at least count
         * @param outOff       output of head h at out[outOff + h*headSize ..] (overwritten)
         */
        public static void attendGroup(float[] q, int qOff, int heads, KvRows keys, KvRows values, int kvOff,
                                       int headSize, int[] indices, int count, float[] weights, int weightStride, float[] out, int outOff) {
            if (count > weightStride) throw new IllegalArgumentException("weightStride " + weightStride + " is below count " + count);
            if (keys.width != values.width) throw new IllegalArgumentException("key rows of " + keys.width + " and value rows of " + values.width + " elements");
            float scale = (float) (1.0 / Math.sqrt(headSize));
            boolean inPlace = keys.type == KvType.F32 && values.type == KvType.F32;
            KvRows tile = inPlace ? null : tile(headSize);
            if (inPlace) {
                logits(q, qOff, heads, keys, kvOff, headSize, indices, 0, count, scale, weights, weightStride);
            } else {
                // scattered rows (a sparse selection) are prefetched a tile ahead: see KvRows.prefetch
                tile.touched += keys.prefetch(indices, 0, Math.min(count, TILE), kvOff, headSize);
                for (int t0 = 0; t0 < count; t0 += TILE) {
                    int t1 = Math.min(count, t0 + TILE);
                    tile.touched += t1 < count ? keys.prefetch(indices, t1, Math.min(count, t1 + TILE), kvOff, headSize)
                            : values.prefetch(indices, 0, Math.min(count, TILE), kvOff, headSize);
                    keys.gather(indices, t0, t1, kvOff, headSize, tile.f32(), tile.f16());
                    logits(q, qOff, heads, tile, 0, headSize, null, t0, t1 - t0, scale, weights, weightStride);
                }
            }
            for (int h = 0; h < heads; h++) VectorMath.softmax(weights, h * weightStride, count);
            for (int h0 = 0; h0 < heads; h0 += 4) {
                int hn = Math.min(4, heads - h0);
                if (inPlace) {
                    weightedSum(weights, weightStride, 0, h0, hn, values, kvOff, headSize, indices, count, false, out, outOff);
                } else {
                    for (int t0 = 0; t0 < count; t0 += TILE) {
                        int t1 = Math.min(count, t0 + TILE);
                        if (t1 < count) tile.touched += values.prefetch(indices, t1, Math.min(count, t1 + TILE), kvOff, headSize);
                        values.gather(indices, t0, t1, kvOff, headSize, tile.f32(), tile.f16());
                        weightedSum(weights, weightStride, t0, h0, hn, tile, 0, headSize, null, t1 - t0, t0 > 0, out, outOff);
                    }
                }
            }
        }

        /** This thread's tile: TILE rows of headSize floats, as an f32 view, with TILE rows of halves beside them. */
        private static KvRows tile(int headSize) {
            KvRows t = TILES.get();
            if (t == null || t.width != headSize) {
                TILES.set(t = KvRows.wrap(new float[TILE * headSize], headSize));
                t.f16 = new short[TILE * headSize]; // room for an f16 gather's halves
            }
            return t;
        }

        /** weights[h*weightStride + w0 + j] = q_h · k_j * scale for the count rows j of rows (positions indices[j], or j), head slice at kvOff. */
        private static void logits(float[] q, int qOff, int heads, KvRows rows, int kvOff, int headSize, int[] indices,
                                   int w0, int count, float scale, float[] weights, int weightStride) {
            if (Simd.ENABLED && headSize == 4 * Simd.L) {
                // one head's rows: unit apart from the head's first (head-major layout)
                logitsFourSlices(q, qOff, heads, rows.f32(), rows.unit, rows.index(0, kvOff), indices, w0, count, scale, weights, weightStride);
                return;
            }
            float[] k = rows.f32(); // f32 rows: the cache's own or a tile
            int base = rows.index(0, kvOff);
            for (int j = 0; j < count; j++) {
                int kOff = (indices == null ? j : indices[j]) * rows.unit + base;
                for (int h = 0; h < heads; h++) {
                    weights[h * weightStride + w0 + j] = VectorMath.dot(q, qOff + h * headSize, k, kOff, headSize) * scale;
                }
            }
        }

        /**
         * The logits when a head is four vectors long (head size 64 with AVX-512, 32 with AVX2: most Llama
         * models): the key row is loaded once into registers for all the heads of the group, and each head's
         * dot product is one multiply, three fused multiply-adds and the fixed-order lane sum. (Merging the lane
         * sums of 16 rows into one vector, a quarter of the shuffles, measured slower: each head then reloads the
         * rows.)
         */
        private static void logitsFourSlices(float[] q, int qOff, int heads, float[] keyCache, int kvDim, int kvOff,
                                             int[] indices, int w0, int count, float scale, float[] weights, int weightStride) {
            if (heads == 4 && Simd.L == 16) {
                logitsFourByFour(q, qOff, keyCache, kvDim, kvOff, indices, w0, count, scale, weights, weightStride);
                return;
            }
            var F = Simd.F;
            int L = Simd.L, hs = 4 * L;
            for (int j = 0; j < count; j++) {
                int kOff = (indices == null ? j : indices[j]) * kvDim + kvOff;
                FloatVector k0 = FloatVector.fromArray(F, keyCache, kOff), k1 = FloatVector.fromArray(F, keyCache, kOff + L);
                FloatVector k2 = FloatVector.fromArray(F, keyCache, kOff + 2 * L), k3 = FloatVector.fromArray(F, keyCache, kOff + 3 * L);
                for (int h = 0; h < heads; h++) {
                    int qh = qOff + h * hs;
                    FloatVector acc = FloatVector.fromArray(F, q, qh).mul(k0);
                    acc = FloatVector.fromArray(F, q, qh + L).fma(k1, acc);
                    acc = FloatVector.fromArray(F, q, qh + 2 * L).fma(k2, acc);
                    acc = FloatVector.fromArray(F, q, qh + 3 * L).fma(k3, acc);
                    weights[h * weightStride + w0 + j] = Simd.sum(acc) * scale;
                }
            }
        }

        /**
         * {@link #logitsFourSlices} for four heads of 16-lane vectors (Llama 3's groups of 4 with AVX-512): the
         * four heads' lane sums go through one butterfly. Each step adds the same two lanes as {@link Simd#sum}
         * (i and i^8, i^4, i^2, i^1), so each head's sum has the same bits; blends keep the heads apart, with head
         * 0's sum ending in lane 0, head 2's in lane 4, head 1's in lane 8 and head 3's in lane 12: 16 vector
         * operations for the four sums instead of 32.
         */
        private static void logitsFourByFour(float[] q, int qOff, float[] keyCache, int kvDim, int kvOff,
                                             int[] indices, int w0, int count, float scale, float[] weights, int weightStride) {
            var F = Simd.F;
            int L = Simd.L, hs = 4 * L, q1 = qOff + hs, q2 = q1 + hs, q3 = q2 + hs;
            int wa = w0, wb = wa + weightStride, wc = wb + weightStride, wd = wc + weightStride;
            for (int j = 0; j < count; j++) {
                int kOff = (indices == null ? j : indices[j]) * kvDim + kvOff;
                FloatVector k0 = FloatVector.fromArray(F, keyCache, kOff), k1 = FloatVector.fromArray(F, keyCache, kOff + L);
                FloatVector k2 = FloatVector.fromArray(F, keyCache, kOff + 2 * L), k3 = FloatVector.fromArray(F, keyCache, kOff + 3 * L);
                FloatVector a = FloatVector.fromArray(F, q, qOff).mul(k0);
                a = FloatVector.fromArray(F, q, qOff + L).fma(k1, a);
                a = FloatVector.fromArray(F, q, qOff + 2 * L).fma(k2, a);
                a = FloatVector.fromArray(F, q, qOff + 3 * L).fma(k3, a);
                FloatVector b = FloatVector.fromArray(F, q, q1).mul(k0);
                b = FloatVector.fromArray(F, q, q1 + L).fma(k1, b);
                b = FloatVector.fromArray(F, q, q1 + 2 * L).fma(k2, b);
                b = FloatVector.fromArray(F, q, q1 + 3 * L).fma(k3, b);
                FloatVector c = FloatVector.fromArray(F, q, q2).mul(k0);
                c = FloatVector.fromArray(F, q, q2 + L).fma(k1, c);
                c = FloatVector.fromArray(F, q, q2 + 2 * L).fma(k2, c);
                c = FloatVector.fromArray(F, q, q2 + 3 * L).fma(k3, c);
                FloatVector d = FloatVector.fromArray(F, q, q3).mul(k0);
                d = FloatVector.fromArray(F, q, q3 + L).fma(k1, d);
                d = FloatVector.fromArray(F, q, q3 + 2 * L).fma(k2, d);
                d = FloatVector.fromArray(F, q, q3 + 3 * L).fma(k3, d);
                // i + i^8: a's in lanes 0-7 and b's in 8-15 of ab (c and d likewise)
                FloatVector ab = a.blend(b, UPPER_EIGHT).add(b.blend(a, UPPER_EIGHT).rearrange(Simd.XOR8));
                FloatVector cd = c.blend(d, UPPER_EIGHT).add(d.blend(c, UPPER_EIGHT).rearrange(Simd.XOR8));
                // i + i^4: a in lanes 0-3, c in 4-7, b in 8-11, d in 12-15
                FloatVector s = ab.blend(cd, UPPER_FOURS).add(cd.blend(ab, UPPER_FOURS).rearrange(Simd.XOR4));
                s = s.add(s.rearrange(Simd.XOR2));
                s = s.add(s.rearrange(Simd.XOR1)).mul(scale);
                weights[wa + j] = s.lane(0);
                weights[wb + j] = s.lane(8);
                weights[wc + j] = s.lane(4);
                weights[wd + j] = s.lane(12);
            }
        }

        /** Lanes 8-15, and lanes 4-7 and 12-15, of a 16-lane vector: the blends of {@link #logitsFourByFour}. */
        private static final VectorMask<Float> UPPER_EIGHT = Simd.L == 16 ? VectorMask.fromLong(Simd.F, 0xFF00L) : null;
        private static final VectorMask<Float> UPPER_FOURS = Simd.L == 16 ? VectorMask.fromLong(Simd.F, 0xF0F0L) : null;

        /**
         * out_h (+)= sum over j in index order of weight_h[wBase + j] * v_j, for up to four heads h0..h0+hn-1: element by
         * element a chain of fused multiply-adds starting from 0 (or, when accumulate, from what out holds: the
         * previous tile's chain), the same whatever the vector width or the loop order.
         * Four accumulators stay in registers across the keys (accumulating in the output array made every key
         * wait for the previous key's store); they hold one L-wide slice of four heads, or with fewer heads
         * several slices of each, so that a lone head (a per-head sparse selection) reads each row in one sweep.
         */
        private static void weightedSum(float[] weights, int stride, int wBase, int h0, int hn, KvRows values, int kvOff,
                                        int headSize, int[] indices, int count, boolean accumulate, float[] out, int outOff) {
            // one head's rows are unit apart from the head's first (head-major layout): kvDim and kvOff as in a [pos][kvDim] array
            int c = 0, kvDim = values.unit;
            kvOff = values.index(0, kvOff);
            float[] valueCache = values.f32(); // f32 rows: the cache's own or a tile
            if (Simd.ENABLED && hn == 4 && headSize == 4 * Simd.L) {
                weightedSumFourByFour(weights, stride, wBase, h0, valueCache, kvDim, kvOff, headSize, indices, count, accumulate, out, outOff);
                return;
            }
            if (Simd.ENABLED) {
                var F = Simd.F;
                int L = Simd.L, slices = headSize / L, perSweep = Math.max(1, 4 / hn);
                for (int c0 = 0; c0 < slices; c0 += perSweep) {
                    int cn = Math.min(perSweep, slices - c0), slots = hn * cn;
                    // slot k < slots: head h0 + k / cn (weights at wK), slice c0 + k % cn (at vK in the head)
                    int w0 = h0 * stride + wBase, w1 = (h0 + 1 / cn) * stride + wBase, w2 = (h0 + 2 / cn) * stride + wBase, w3 = (h0 + 3 / cn) * stride + wBase;
                    int v0 = c0 * L, v1 = (c0 + 1 % cn) * L, v2 = (c0 + 2 % cn) * L, v3 = (c0 + 3 % cn) * L;
                    int o0 = outOff + h0 * headSize + v0, o1 = outOff + (h0 + 1 / cn) * headSize + v1;
                    int o2 = outOff + (h0 + 2 / cn) * headSize + v2, o3 = outOff + (h0 + 3 / cn) * headSize + v3;
                    FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
                    if (accumulate) {
                                        a0 = FloatVector.fromArray(F, out, o0);
                        if (slots > 1) a1 = FloatVector.fromArray(F, out, o1);
                        if (slots > 2) a2 = FloatVector.fromArray(F, out, o2);
                        if (slots > 3) a3 = FloatVector.fromArray(F, out, o3);
                    }
                    for (int j = 0; j < count; j++) {
                        int row = (indices == null ? j : indices[j]) * kvDim + kvOff;
                        a0 = FloatVector.fromArray(F, valueCache, row + v0).fma(FloatVector.broadcast(F, weights[w0 + j]), a0);
                        if (slots > 1) a1 = FloatVector.fromArray(F, valueCache, row + v1).fma(FloatVector.broadcast(F, weights[w1 + j]), a1);
                        if (slots > 2) a2 = FloatVector.fromArray(F, valueCache, row + v2).fma(FloatVector.broadcast(F, weights[w2 + j]), a2);
                        if (slots > 3) a3 = FloatVector.fromArray(F, valueCache, row + v3).fma(FloatVector.broadcast(F, weights[w3 + j]), a3);
                    }
                                    a0.intoArray(out, o0);
                    if (slots > 1) a1.intoArray(out, o1);
                    if (slots > 2) a2.intoArray(out, o2);
                    if (slots > 3) a3.intoArray(out, o3);
                }
                c = slices * L;
            }
            for (int h = h0; h < h0 + hn; h++) {
                for (int e = c; e < headSize; e++) {
                    float acc = accumulate ? out[outOff + h * headSize + e] : 0f;
                    for (int j = 0; j < count; j++) {
                        acc = Math.fma(weights[h * stride + wBase + j], valueCache[(indices == null ? j : indices[j]) * kvDim + kvOff + e], acc);
                    }
                    out[outOff + h * headSize + e] = acc;
                }
            }
        }

        /**
         * {@link #weightedSum} for four heads of four vectors each (GQA groups of 4 with head size 4L): sixteen
         * accumulators, one per head and slice, so that each value row is loaded once and sixteen independent chains
         * keep both FMA units busy (four sweeps of four chains waited on the FMA latency). Every element's chain is
         * the same as in the general loop, so the result is too.
         */
        private static void weightedSumFourByFour(float[] weights, int stride, int wBase, int h0, float[] v, int kvDim, int kvOff,
                                                  int headSize, int[] indices, int count, boolean accumulate, float[] out, int outOff) {
            var F = Simd.F;
            int L = Simd.L;
            int w0 = h0 * stride + wBase, w1 = w0 + stride, w2 = w1 + stride, w3 = w2 + stride;
            int o0 = outOff + h0 * headSize, o1 = o0 + headSize, o2 = o1 + headSize, o3 = o2 + headSize;
            FloatVector a00, a01, a02, a03, a10, a11, a12, a13, a20, a21, a22, a23, a30, a31, a32, a33;
            if (accumulate) {
                a00 = FloatVector.fromArray(F, out, o0); a01 = FloatVector.fromArray(F, out, o0 + L);
                a02 = FloatVector.fromArray(F, out, o0 + 2 * L); a03 = FloatVector.fromArray(F, out, o0 + 3 * L);
                a10 = FloatVector.fromArray(F, out, o1); a11 = FloatVector.fromArray(F, out, o1 + L);
                a12 = FloatVector.fromArray(F, out, o1 + 2 * L); a13 = FloatVector.fromArray(F, out, o1 + 3 * L);
                a20 = FloatVector.fromArray(F, out, o2); a21 = FloatVector.fromArray(F, out, o2 + L);
                a22 = FloatVector.fromArray(F, out, o2 + 2 * L); a23 = FloatVector.fromArray(F, out, o2 + 3 * L);
                a30 = FloatVector.fromArray(F, out, o3); a31 = FloatVector.fromArray(F, out, o3 + L);
                a32 = FloatVector.fromArray(F, out, o3 + 2 * L); a33 = FloatVector.fromArray(F, out, o3 + 3 * L);
            } else {
                a00 = a01 = a02 = a03 = a10 = a11 = a12 = a13 = a20 = a21 = a22 = a23 = a30 = a31 = a32 = a33 = FloatVector.zero(F);
            }
            for (int j = 0; j < count; j++) {
                int r = (indices == null ? j : indices[j]) * kvDim + kvOff;
                FloatVector v0 = FloatVector.fromArray(F, v, r), v1 = FloatVector.fromArray(F, v, r + L);
                FloatVector v2 = FloatVector.fromArray(F, v, r + 2 * L), v3 = FloatVector.fromArray(F, v, r + 3 * L);
                FloatVector b = FloatVector.broadcast(F, weights[w0 + j]);
                a00 = v0.fma(b, a00); a01 = v1.fma(b, a01); a02 = v2.fma(b, a02); a03 = v3.fma(b, a03);
                b = FloatVector.broadcast(F, weights[w1 + j]);
                a10 = v0.fma(b, a10); a11 = v1.fma(b, a11); a12 = v2.fma(b, a12); a13 = v3.fma(b, a13);
                b = FloatVector.broadcast(F, weights[w2 + j]);
                a20 = v0.fma(b, a20); a21 = v1.fma(b, a21); a22 = v2.fma(b, a22); a23 = v3.fma(b, a23);
                b = FloatVector.broadcast(F, weights[w3 + j]);
                a30 = v0.fma(b, a30); a31 = v1.fma(b, a31); a32 = v2.fma(b, a32); a33 = v3.fma(b, a33);
            }
            a00.intoArray(out, o0); a01.intoArray(out, o0 + L); a02.intoArray(out, o0 + 2 * L); a03.intoArray(out, o0 + 3 * L);
            a10.intoArray(out, o1); a11.intoArray(out, o1 + L); a12.intoArray(out, o1 + 2 * L); a13.intoArray(out, o1 + 3 * L);
            a20.intoArray(out, o2); a21.intoArray(out, o2 + L); a22.intoArray(out, o2 + 2 * L); a23.intoArray(out, o2 + 3 * L);
            a30.intoArray(out, o3); a31.intoArray(out, o3 + L); a32.intoArray(out, o3 + 2 * L); a33.intoArray(out, o3 + 3 * L);
        }

        /**
         * All heads of all current tokens, causal. Shapes as in {@link AttentionHook.Attention#attend};
         * scores: scratch of at least kvGroup * (startPos + nTokens) floats.
         */
        public static void attend(ModelConfig c, int startPos, int nTokens, float[] q, KvRows keys, KvRows values,
                                  float[] out, float[] scores) {
            int hs = c.headSize(), qDim = c.qDim(), group = c.kvGroup();
            for (int i = 0; i < nTokens; i++) {
                int visible = startPos + i + 1;
                for (int kv = 0; kv < c.nKvHeads(); kv++) {
                    int off = i * qDim + kv * group * hs;
                    attendGroup(q, off, group, keys, values, kv * hs, hs, null, visible, scores, visible, out, off);
                }
            }
        }
    }

    /** Small float kernels shared by the runtime and plugins, so both do the same arithmetic. */
    public static final class VectorMath {
        private VectorMath() {}

        /**
         * Sum of a[aOff+i]*b[bOff+i], i < n. Vectorized; the order of additions is fixed for a given n
         * (two interleaved lane accumulators, halves added lanewise, then the scalar tail in order), so
         * the result does not depend on whether the code runs interpreted or compiled.
         */
        public static float dot(float[] a, int aOff, float[] b, int bOff, int n) {
            if (!Simd.ENABLED) {
                float s = 0f;
                for (int i = 0; i < n; i++) s += a[aOff + i] * b[bOff + i];
                return s;
            }
            var F = Simd.F;
            int L = Simd.L, i = 0;
            float s = 0f;
            if (n >= L) {
                FloatVector acc0 = FloatVector.fromArray(F, a, aOff).mul(FloatVector.fromArray(F, b, bOff));
                FloatVector acc1 = FloatVector.zero(F);
                i = L;
                for (; i + 2 * L <= n; i += 2 * L) {
                    acc1 = FloatVector.fromArray(F, a, aOff + i).fma(FloatVector.fromArray(F, b, bOff + i), acc1);
                    acc0 = FloatVector.fromArray(F, a, aOff + i + L).fma(FloatVector.fromArray(F, b, bOff + i + L), acc0);
                }
                for (; i + L <= n; i += L) acc1 = FloatVector.fromArray(F, a, aOff + i).fma(FloatVector.fromArray(F, b, bOff + i), acc1);
                s = Simd.sum(acc0.add(acc1));
            }
            for (; i < n; i++) s += a[aOff + i] * b[bOff + i];
            return s;
        }

        /**
         * a[off..off+n) = softmax of itself: exp(a_i - max) / sum, with {@link #exp}'s polynomial in vector lanes
         * and in the scalar tail alike. The sum's order is fixed for a given n (lane accumulators, the
         * fixed-order lane sum, then the tail in order), so the same n gives the same result bit for bit,
         * interpreted or compiled, whatever positions the values came from.
         */
        public static void softmax(float[] a, int off, int n) {
            float max = Float.NEGATIVE_INFINITY;
            int i = 0;
            if (Simd.ENABLED && n >= Simd.L) {
                var F = Simd.F;
                FloatVector m = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
                for (; i + Simd.L <= n; i += Simd.L) m = m.max(FloatVector.fromArray(F, a, off + i));
                max = m.reduceLanes(VectorOperators.MAX);
            }
            for (; i < n; i++) max = Math.max(max, a[off + i]);
            float sum = 0f;
            i = 0;
            if (Simd.ENABLED && n >= Simd.L) {
                var F = Simd.F;
                FloatVector mv = FloatVector.broadcast(F, max), acc = FloatVector.zero(F);
                for (; i + Simd.L <= n; i += Simd.L) {
                    FloatVector e = exp(FloatVector.fromArray(F, a, off + i).sub(mv));
                    e.intoArray(a, off + i);
                    acc = acc.add(e);
                }
                sum = Simd.sum(acc);
            }
            for (; i < n; i++) {
                float e = exp(a[off + i] - max);
                a[off + i] = e;
                sum += e;
            }
            i = 0;
            if (Simd.ENABLED) {
                var F = Simd.F;
                for (; i + Simd.L <= n; i += Simd.L) FloatVector.fromArray(F, a, off + i).div(sum).intoArray(a, off + i);
            }
            for (; i < n; i++) a[off + i] /= sum;
        }

        private static final float EXP_LOW = -87.0f, EXP_HIGH = 88.0f, LOG2E = 1.44269504f, ROUNDER = 12582912f; // 1.5 * 2^23
        private static final float LN2_HI = 0.693359375f, LN2_LO = -2.12194440e-4f;
        private static final float P0 = 1.9875691500e-4f, P1 = 1.3981999507e-3f, P2 = 8.3334519073e-3f,
                P3 = 4.1665795894e-2f, P4 = 1.6666665459e-1f, P5 = 5.0000001201e-1f;

        /**
         * e^x within about 2 ulp for x in [-87, 88] (inputs are clamped there: below, e^-87 stands for
         * anything smaller, which softmax cannot tell from 0 next to its largest term e^0): x = n ln2 + r with n
         * rounded by the 1.5*2^23 trick, r in two parts of ln 2, a degree-7 polynomial for e^r (Cephes' expf
         * coefficients), 2^n built in the exponent bits. Only adds, multiplies and fused multiply-adds, so the
         * scalar form and every vector lane give the same bits, interpreted or compiled (the Vector API's own
         * EXP differs between the two).
         */
        public static float exp(float x) {
            x = Math.min(Math.max(x, EXP_LOW), EXP_HIGH);
            float t = Math.fma(x, LOG2E, ROUNDER);
            float n = t - ROUNDER;
            float r = Math.fma(n, -LN2_LO, Math.fma(n, -LN2_HI, x));
            float p = Math.fma(Math.fma(Math.fma(Math.fma(Math.fma(P0, r, P1), r, P2), r, P3), r, P4), r, P5);
            float y = Math.fma(p, r * r, r) + 1f;
            return y * Float.intBitsToFloat((Float.floatToRawIntBits(t) - Float.floatToRawIntBits(ROUNDER) + 127) << 23);
        }

        private static FloatVector r0(FloatVector like, float c) { return like.broadcast(c); }

        /** {@link #exp} in every lane, the same operations in the same order. */
        public static FloatVector exp(FloatVector x) {
            x = x.max(EXP_LOW).min(EXP_HIGH);
            FloatVector t = x.fma(LOG2E, ROUNDER);
            FloatVector n = t.sub(ROUNDER);
            FloatVector r = n.fma(r0(n, -LN2_LO), n.fma(r0(n, -LN2_HI), x));
            FloatVector p = r0(r, P0).fma(r, r0(r, P1)).fma(r, r0(r, P2)).fma(r, r0(r, P3)).fma(r, r0(r, P4)).fma(r, r0(r, P5));
            FloatVector y = p.fma(r.mul(r), r).add(1f);
            IntVector e = t.reinterpretAsInts().sub(Float.floatToRawIntBits(ROUNDER) - 127).lanewise(VectorOperators.LSHL, 23);
            return y.mul(e.reinterpretAsFloats());
        }

        /** y[yOff+i] += alpha * x[xOff+i], i < n (fused multiply-add per element when vectorized). */
        public static void axpy(float alpha, float[] x, int xOff, float[] y, int yOff, int n) {
            if (!Simd.ENABLED) {
                for (int i = 0; i < n; i++) y[yOff + i] += alpha * x[xOff + i];
                return;
            }
            var F = Simd.F;
            int L = Simd.L, i = 0;
            FloatVector a = FloatVector.broadcast(F, alpha);
            for (; i + L <= n; i += L) {
                FloatVector.fromArray(F, x, xOff + i).fma(a, FloatVector.fromArray(F, y, yOff + i)).intoArray(y, yOff + i);
            }
            for (; i < n; i++) y[yOff + i] = Math.fma(alpha, x[xOff + i], y[yOff + i]);
        }
    }

    /**
     * A fixed pool of worker threads that splits loops (matmul rows, attention heads) across cores,
     * the calling thread included. Decode runs about a hundred matmuls per token, each well under a
     * millisecond, so between jobs the workers spin for a while instead of parking: waking a parked
     * thread would cost a visible share of each matmul. They park after about a millisecond idle.
     * One job runs at a time; a forRange called from inside a job's body runs inline.
     */
    public static final class Parallel {
        private Parallel() {}

        /** Threads used, the caller included: -Dtokenbutler.threads=N, default the available processors. */
        public static final int THREADS = Math.max(1, Integer.getInteger("tokenbutler.threads", Runtime.getRuntime().availableProcessors()));
        private static final long SPIN_NANOS = Long.getLong("tokenbutler.spinMicros", 1000) * 1000;

        /** A slice [start, end) of a job; worker (0 .. THREADS-1) indexes per-thread scratch buffers. */
        @FunctionalInterface
        public interface Body { void run(int start, int end, int worker); }

        private static final ReentrantLock LOCK = new ReentrantLock();
        /** The worker index of the current thread while it runs a job, else -1. */
        private static final ThreadLocal<int[]> CURRENT = ThreadLocal.withInitial(() -> new int[] {-1});
        private static final AtomicInteger NEXT_CHUNK = new AtomicInteger();
        private static final AtomicInteger FINISHED = new AtomicInteger();
        private static volatile long generation;
        private static volatile Body body;
        private static volatile int count, grain;
        private static volatile Throwable failure;
        /** Set by {@link #releaseCores}, cleared by the next job: idle workers park at once. */
        private static volatile boolean releasing;
        private static Worker[] workers;

        /**
         * Idle workers park now instead of spinning until the next job. For a caller about to hand the cores to
         * other threads, e.g. an OpenCL driver that runs on the CPU: spinning workers would take turns with the
         * driver's threads (at 8K on the 1B shape this made each of its kernels 0.3-0.4 ms slower). The next job
         * wakes them (tens of microseconds).
         */
        public static void releaseCores() {
            releasing = true;
        }

        /** Runs body over [0, n) in chunks of about grain units, on all threads; returns when all are done. */
        public static void forRange(int n, int grain, Body body) {
            if (n <= 0) return;
            int[] current = CURRENT.get();
            if (THREADS == 1 || n <= grain || current[0] >= 0) {
                body.run(0, n, Math.max(0, current[0]));
                return;
            }
            LOCK.lock();
            try {
                if (workers == null) startWorkers();
                Parallel.body = body;
                Parallel.count = n;
                Parallel.grain = Math.max(1, grain);
                failure = null;
                releasing = false;
                NEXT_CHUNK.set(0);
                FINISHED.set(0);
                generation++; // publishes the job to the spinning workers
                for (Worker w : workers) if (w.sleeping) LockSupport.unpark(w);
                current[0] = 0;
                try {
                    runChunks(0);
                } finally {
                    current[0] = -1;
                }
                while (FINISHED.get() < workers.length) Thread.onSpinWait();
                Parallel.body = null;
                Throwable t = failure;
                if (t instanceof RuntimeException r) throw r;
                if (t instanceof Error e) throw e;
                if (t != null) throw new IllegalStateException(t);
            } finally {
                LOCK.unlock();
            }
        }

        /** forRange with a grain that gives each thread several chunks to balance. */
        public static void forRange(int n, Body body) {
            forRange(n, Math.max(1, n / (THREADS * 8)), body);
        }

        private static void runChunks(int worker) {
            Body b = body;
            int n = count, g = grain, chunks = (n + g - 1) / g;
            for (int c; (c = NEXT_CHUNK.getAndIncrement()) < chunks; ) {
                try {
                    b.run(c * g, Math.min(n, c * g + g), worker);
                } catch (Throwable t) {
                    if (failure == null) failure = t;
                }
            }
        }

        private static void startWorkers() {
            workers = new Worker[THREADS - 1];
            for (int i = 0; i < workers.length; i++) {
                workers[i] = new Worker(i + 1, generation);
                workers[i].start();
            }
        }

        private static final class Worker extends Thread {
            final int index;
            volatile boolean sleeping;

            /** The generation before the first job: read at start() it could already be that job's, which would be missed. */
            private final long initialGeneration;

            Worker(int index, long initialGeneration) {
                super("tokenbutler-worker-" + index);
                this.index = index;
                this.initialGeneration = initialGeneration;
                setDaemon(true);
            }

            @Override public void run() {
                CURRENT.get()[0] = index;
                long seen = initialGeneration;
                while (true) {
                    long g, idleSince = System.nanoTime();
                    int spins = 0;
                    while ((g = generation) == seen) {
                        if (releasing || ((++spins & 255) == 0 && System.nanoTime() - idleSince > SPIN_NANOS)) {
                            sleeping = true;
                            if (generation == seen) LockSupport.park(this);
                            sleeping = false;
                            idleSince = System.nanoTime();
                        } else {
                            Thread.onSpinWait();
                        }
                    }
                    seen = g;
                    runChunks(index);
                    FINISHED.incrementAndGet();
                }
            }
        }
    }

    /** Per-sequence state: the KV cache, the attention in use, and scratch buffers of the forward pass. */
    public static final class State {
        /** Positions the KV cache holds when a state is made; it grows from there in steps (see {@link #ensureCapacity}). */
        static final int INITIAL_TOKENS = 1024;
        /** [layer] keys after RoPE, rows of kvDim in the state's key type; their arrays are replaced by larger ones as the sequence grows. */
        public final KvRows[] keys;
        /** [layer] values, rows of kvDim in the state's value type. */
        public final KvRows[] values;
        /** Positions every layer's K and V arrays hold (at most the context length). */
        private int capacity;
        /** Nanoseconds spent in attention (hook or dense, attentionInput included) and in everything else, summed over forward calls since position 0. */
        public long attentionNanos, otherNanos;

        final Model model;
        /** null: dense attention. */
        final AttentionHook.Attention attention;
        /** [worker][kvGroup * contextLength] attention weights of the dense fallback (one row per head of a KV group). */
        final float[][] scores;
        /** [worker][4 * max(dim, qDim, hidden)] four dequantized weight rows, for batched matmuls. */
        final float[][] rowScratch;
        /** The current decode matmul's input quantized for the int8 kernels (Forward.matmuls). */
        final QuantizedInput quantizedInput = new QuantizedInput();
        private Buffers single, batch, other;

        State(Model model, KvType keyType, KvType valueType, AttentionHook.Attention attention) {
            this.model = model;
            int layers = model.config().nLayers(), kvDim = model.config().kvDim();
            this.keys = new KvRows[layers];
            this.values = new KvRows[layers];
            for (int l = 0; l < layers; l++) {
                keys[l] = new KvRows(keyType, kvDim, KvRows.unitFor(keyType, kvDim, model.config().headSize()));
                values[l] = new KvRows(valueType, kvDim, KvRows.unitFor(valueType, kvDim, model.config().headSize()));
            }
            this.attention = attention;
            ModelConfig c = model.config();
            this.scores = new float[Parallel.THREADS][c.kvGroup() * c.contextLength()];
            this.rowScratch = new float[Parallel.THREADS][4 * Math.max(Math.max(c.dim(), c.qDim()), c.hiddenDim())];
        }

        /** Positions the KV cache holds now. */
        public int capacity() { return capacity; }

        /**
         * Makes the KV cache hold at least {@code tokens} positions (at most the context length): each layer's
         * arrays are replaced by larger copies, one layer at a time (so the extra memory at any moment is one
         * layer's), by at least half the current size and in multiples of 64 positions, so that a long
         * sequence is copied a logarithmic number of times. When the heap cannot hold it: a UserError naming
         * the tokens, the bytes and what to change.
         */
        public void ensureCapacity(int tokens) {
            int context = model.config().contextLength();
            if (tokens > context) throw new IllegalArgumentException(tokens + " positions exceed the context of " + context);
            if (tokens <= capacity) return;
            long grown = capacity == 0 ? tokens : Math.max(tokens, (long) capacity + capacity / 2);
            int target = (int) Math.min(context, (grown + 63) / 64 * 64);
            int kvDim = model.config().kvDim(), layers = keys.length;
            long rowBytes = keys[0].rowBytes() + values[0].rowBytes();
            long bytes = rowBytes * layers * target, extra = rowBytes * layers * (target - capacity);
            Runtime rt = Runtime.getRuntime();
            long free = rt.maxMemory() - (rt.totalMemory() - rt.freeMemory());
            if (extra > free) { // "used" counts garbage too, e.g. the cache of a state dropped just before
                System.gc();
                free = rt.maxMemory() - (rt.totalMemory() - rt.freeMemory());
            }
            String hint = "the KV cache cannot grow to " + target + " tokens (" + (bytes >> 20) + " MiB for " + layers + " layers, "
                    + (extra >> 20) + " MiB more than now) with about " + (free >> 20) + " MiB of the JVM's heap free; use a smaller"
                    + " --context (now " + context + ") or a larger heap (e.g. TOKENBUTLER_JAVA_OPTS=-Xmx" + Math.max(1, (rt.maxMemory() + extra >> 30) + 2) + "g)";
            if (extra > free) throw new UserError(hint);
            try {
                for (int l = 0; l < layers; l++) {
                    keys[l].grow(target);
                    values[l].grow(target);
                }
            } catch (OutOfMemoryError e) {
                throw new UserError(hint);
            }
            capacity = target;
        }

        /** The attention this state was made with, or null for dense. */
        public AttentionHook.Attention attention() { return attention; }
        public Model model() { return model; }
        public int contextLength() { return model.config().contextLength(); }

        /** Activation buffers sized exactly for n tokens (so hooks see [n][...] arrays), kept for reuse. */
        Buffers buffers(int n) {
            if (n == 1) return single != null ? single : (single = new Buffers(model, 1));
            if (n == Forward.MAX_BATCH) return batch != null ? batch : (batch = new Buffers(model, n));
            return other != null && other.n == n ? other : (other = new Buffers(model, n));
        }
    }

    /** The activations of one batch of n tokens; every buffer is row-major [n][...]. */
    static final class Buffers {
        final int n;
        final float[] x;        // [n][dim] residual stream
        final float[] xb;       // [n][dim] RMSNorm output: the input of attention / FFN
        final float[] q;        // [n][qDim]
        final float[] k, v;     // [n][kvDim]
        final float[] att;      // [n][qDim] attention output
        final float[] hb, hb2;  // [n][hidden] gate (then silu(gate)*up) and up
        final float[] cos, sin; // [n][ropeDim/2] rotation of each pair at each token's position

        Buffers(Model m, int n) {
            ModelConfig c = m.config();
            this.n = n;
            x = new float[n * c.dim()];
            xb = new float[n * c.dim()];
            q = new float[n * c.qDim()];
            k = new float[n * c.kvDim()];
            v = new float[n * c.kvDim()];
            att = new float[n * c.qDim()];
            hb = new float[n * c.hiddenDim()];
            hb2 = new float[n * c.hiddenDim()];
            cos = new float[n * (m.ropeDim / 2)];
            sin = new float[n * (m.ropeDim / 2)];
        }
    }

    /** The forward pass. */
    static final class Forward {
        private Forward() {}

        /** Tokens per batch in prefill: enough to reuse each weight row many times, few enough to keep activations in cache. */
        static final int MAX_BATCH = 32;
        /** Matmuls smaller than this many multiply-adds run on the calling thread alone. */
        private static final long PARALLEL_MIN_WORK = 1 << 15;

        static float[] run(Model m, State s, int[] tokens, int offset, int nTokens, int startPos, boolean allLogits) {
            ModelConfig c = m.config();
            if (s.model != m) throw new IllegalArgumentException("the state belongs to another model");
            Objects.checkFromIndexSize(offset, nTokens, tokens.length);
            if (nTokens < 1) throw new IllegalArgumentException("nTokens must be at least 1, got " + nTokens);
            if (startPos < 0) throw new IllegalArgumentException("startPos must be >= 0, got " + startPos);
            if ((long) startPos + nTokens > c.contextLength()) {
                throw new UserError("positions " + startPos + ".." + (startPos + nTokens - 1) + " do not fit in the context of "
                        + c.contextLength() + " tokens (use a larger --context)");
            }
            for (int i = offset; i < offset + nTokens; i++) {
                if (tokens[i] < 0 || tokens[i] >= c.vocabSize()) {
                    throw new UserError("token id " + tokens[i] + " is outside the vocabulary (0.." + (c.vocabSize() - 1) + ")");
                }
            }
            if (startPos == 0) {
                s.attentionNanos = 0;
                s.otherNanos = 0;
                if (s.attention != null) s.attention.resetSequence();
            }
            s.ensureCapacity(startPos + nTokens);
            long start = System.nanoTime(), attentionBefore = s.attentionNanos;
            float[] logits = new float[allLogits ? nTokens * c.vocabSize() : c.vocabSize()];
            for (int done = 0; done < nTokens; ) {
                int n = Math.min(MAX_BATCH, nTokens - done);
                boolean last = done + n == nTokens;
                batch(m, s, s.buffers(n), tokens, offset + done, n, startPos + done,
                        allLogits || last ? logits : null, allLogits ? done * c.vocabSize() : 0, allLogits);
                done += n;
            }
            s.otherNanos += System.nanoTime() - start - (s.attentionNanos - attentionBefore);
            requireFinite(m, logits, startPos, nTokens);
            return logits;
        }

        /**
         * Garbage made loud: NaN or Inf weights (a damaged file) spread to every logit, and sampling from them
         * would print nonsense with exit 0. A scan of the logits costs about one matvec row per token.
         */
        private static void requireFinite(Model m, float[] logits, int startPos, int nTokens) {
            int vocab = m.config().vocabSize();
            for (int row = 0; row < logits.length / vocab; row++) {
                int pos = logits.length == vocab ? startPos + nTokens - 1 : startPos + row;
                float min = Float.POSITIVE_INFINITY, max = Float.NEGATIVE_INFINITY;
                for (int i = row * vocab; i < (row + 1) * vocab; i++) {
                    float v = logits[i];
                    if (!Float.isFinite(v)) {
                        throw new UserError(m.gguf().path() + ": the model computed a " + v + " logit at position " + pos
                                + ": its weights hold NaN, Inf or huge values (run with --check-tensors to find the tensor)");
                    }
                    min = Math.min(min, v);
                    max = Math.max(max, v);
                }
                // No trained model gives every token the same logit; a hidden state that overflowed (huge weights)
                // or an all-zero norm does, and sampling would then print token 0 forever.
                if (vocab > 1 && min == max) {
                    throw new UserError(m.gguf().path() + ": the model computed the same logit (" + min + ") for every token at position " + pos
                            + ": a weight or norm of the file is degenerate (huge or all zero; run with --check-tensors)");
                }
            }
        }

        /** n tokens at positions pos..pos+n-1; logits of all of them (allLogits) or of the last one when logits != null. */
        private static void batch(Model m, State s, Buffers b, int[] tokens, int off, int n, int pos,
                                  float[] logits, int logitsOff, boolean allLogits) {
            ModelConfig c = m.config();
            int dim = c.dim(), qDim = c.qDim(), kvDim = c.kvDim(), hidden = c.hiddenDim();
            for (int t = 0; t < n; t++) m.tokenEmbedding.dequantize((long) tokens[off + t] * dim, b.x, t * dim, dim);
            ropeAngles(m, b, pos);

            for (int l = 0; l < c.nLayers(); l++) {
                Model.Layer layer = m.layers[l];
                for (int t = 0; t < n; t++) rmsnorm(b.xb, t * dim, b.x, t * dim, layer.attnNorm, dim, c.rmsNormEps());
                if (s.attention != null) {
                    long t0 = System.nanoTime();
                    s.attention.attentionInput(l, pos, n, b.xb);
                    s.attentionNanos += System.nanoTime() - t0;
                }
                matmuls(s, b.xb, dim, n,
                        new Matmul(layer.wq, b.q, qDim),
                        new Matmul(layer.wk, b.k, kvDim),
                        new Matmul(layer.wv, b.v, kvDim));
                if (s.attention != null) {
                    long t0 = System.nanoTime();
                    s.attention.keysBeforeRope(l, pos, n, b.k);
                    s.attentionNanos += System.nanoTime() - t0;
                }
                for (int t = 0; t < n; t++) {
                    rope(b.q, t * qDim, c.nHeads(), c.headSize(), m.ropeDim, b, t);
                    rope(b.k, t * kvDim, c.nKvHeads(), c.headSize(), m.ropeDim, b, t);
                }
                s.keys[l].write(pos, b.k, 0, n);
                s.values[l].write(pos, b.v, 0, n);

                long t0 = System.nanoTime();
                boolean done = s.attention != null && s.attention.attend(l, pos, n, b.q, s.keys[l], s.values[l], b.att);
                if (!done) denseAttention(s, c, l, pos, n, b);
                s.attentionNanos += System.nanoTime() - t0;

                matmuls(s, b.att, qDim, n, new Matmul(layer.wo, b.x, dim).accumulating());
                for (int t = 0; t < n; t++) rmsnorm(b.xb, t * dim, b.x, t * dim, layer.ffnNorm, dim, c.rmsNormEps());
                matmuls(s, b.xb, dim, n, new Matmul(layer.gate, b.hb, hidden), new Matmul(layer.up, b.hb2, hidden));
                for (int i = 0; i < n * hidden; i++) {
                    float g = b.hb[i];
                    b.hb[i] = g / (1f + (float) Math.exp(-g)) * b.hb2[i];
                }
                matmuls(s, b.hb, hidden, n, new Matmul(layer.down, b.x, dim).accumulating());
            }

            if (logits == null) return;
            if (allLogits) {
                for (int t = 0; t < n; t++) rmsnorm(b.xb, t * dim, b.x, t * dim, m.outputNorm, dim, c.rmsNormEps());
                matmuls(s, b.xb, dim, n, new Matmul(m.output, logits, c.vocabSize()).at(logitsOff));
            } else {
                rmsnorm(b.xb, 0, b.x, (n - 1) * dim, m.outputNorm, dim, c.rmsNormEps());
                matmuls(s, b.xb, dim, 1, new Matmul(m.output, logits, c.vocabSize()));
            }
        }

        /** out[outOff + t*rows + r] (+)= W[r] · x[t*cols ..] for every token t; W is [rows][cols]. */
        record Matmul(FloatTensor w, float[] out, int rows, int outOff, boolean accumulate) {
            Matmul(FloatTensor w, float[] out, int rows) { this(w, out, rows, 0, false); }
            Matmul accumulating() { return new Matmul(w, out, rows, outOff, true); }
            Matmul at(int offset) { return new Matmul(w, out, rows, offset, accumulate); }
        }

        /**
         * Several matmuls over the same input in one parallel job (Q/K/V, gate/up): their rows are
         * numbered one after the other and split across threads together, so no thread idles between them.
         */
        static void matmuls(State s, float[] x, int cols, int n, Matmul... ms) {
            int total = 0;
            QuantizedInput xq = null;
            for (Matmul mm : ms) {
                total += mm.rows;
                if (n == 1 && xq == null && mm.w.takesQuantizedInput()) xq = s.quantizedInput;
            }
            if (xq != null) xq.quantize(x, cols);
            QuantizedInput quantized = xq;
            Parallel.Body body = (start, end, worker) -> {
                int base = 0;
                for (Matmul mm : ms) {
                    int from = Math.max(start, base), to = Math.min(end, base + mm.rows);
                    if (from < to) rows(mm, from - base, to - base, x, quantized, cols, n, s.rowScratch[worker]);
                    base += mm.rows;
                }
            };
            // chunks of whole 16-row groups (the row-group kernels' unit), as long as the matrices' rows are too
            int grain = (Math.max(4, total / (Parallel.THREADS * 16)) + 15) / 16 * 16;
            if ((long) total * cols * n < PARALLEL_MIN_WORK) body.run(0, total, 0);
            else Parallel.forRange(total, grain, body);
        }

        /**
         * Rows [r0, r1) of one matmul. One token: dot products straight from the quantized weights.
         * Several: each row is dequantized once into scratch and reused for every token (the weight
         * bytes are read once per batch, the activations stay in cache).
         */
        private static void rows(Matmul mm, int r0, int r1, float[] x, QuantizedInput xq, int cols, int n, float[] scratch) {
            float[] out = mm.out;
            if (n == 1) {
                if (xq == null || !mm.w.matvecQuantized(xq, out, mm.outOff, r0, r1, mm.accumulate)) {
                    mm.w.matvec(x, cols, out, mm.outOff, r0, r1, mm.accumulate, scratch);
                }
                return;
            }
            int r = r0;
            if (Simd.ENABLED && Simd.L == 16 && cols % 16 == 0) {
                // Four rows against four tokens at a time: 16 accumulators, each weight and activation vector
                // loaded once for four products (dot4 below loads a weight vector per four).
                float[] lanes = new float[256];
                for (; r + 4 <= r1; r += 4) {
                    mm.w.dequantize((long) r * cols, scratch, 0, 4 * cols);
                    int t = 0;
                    for (; t + 4 <= n; t += 4) tile4x4(scratch, x, t * cols, cols, mm, r, t, lanes);
                    for (; t < n; t++) {
                        for (int k = 0; k < 4; k++) {
                            float d = VectorMath.dot(scratch, k * cols, x, t * cols, cols);
                            int o = mm.outOff + t * mm.rows + r + k;
                            out[o] = mm.accumulate ? out[o] + d : d;
                        }
                    }
                }
            }
            for (; r < r1; r++) {
                mm.w.dequantize((long) r * cols, scratch, 0, cols);
                int t = 0;
                for (; t + 4 <= n; t += 4) dot4(scratch, x, t * cols, cols, mm, r, t);
                for (; t < n; t++) {
                    float d = VectorMath.dot(scratch, 0, x, t * cols, cols);
                    int o = mm.outOff + t * mm.rows + r;
                    out[o] = mm.accumulate ? out[o] + d : d;
                }
            }
        }

        /** out[t*rows + r] (+)= W[r] · x[t*cols ..] for rows [r0, r1) and tokens t < n: the prefill path, for tests. scratch holds 4*cols floats. */
        static void batchRows(FloatTensor w, int rows, float[] x, int cols, int n, float[] out, int r0, int r1, boolean accumulate, float[] scratch) {
            Matmul mm = new Matmul(w, out, rows);
            rows(accumulate ? mm.accumulating() : mm, r0, r1, x, null, cols, n, scratch);
        }

        /**
         * Rows r..r+3 (dequantized, one after the other in w) against tokens t..t+3 (x from xOff, cols apart):
         * 16 dot products in 16 register accumulators. Each product sums as {@link #dot4} does (one lane
         * accumulator over the row, the fixed-order lane sum), so the results are dot4's bit for bit. Written out
         * in one method larger than C2's FreqInlineSize, so that it is compiled on its own (see RowPairs).
         */
        private static void tile4x4(float[] w, float[] x, int xOff, int cols, Matmul mm, int r, int t, float[] lanes) {
            var F = Simd.F16L;
            FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00;
            FloatVector a20 = a00, a21 = a00, a22 = a00, a23 = a00, a30 = a00, a31 = a00, a32 = a00, a33 = a00;
            int x0 = xOff, x1 = xOff + cols, x2 = xOff + 2 * cols, x3 = xOff + 3 * cols;
            for (int i = 0; i < cols; i += 16) {
                FloatVector w0 = FloatVector.fromArray(F, w, i), w1 = FloatVector.fromArray(F, w, cols + i);
                FloatVector w2 = FloatVector.fromArray(F, w, 2 * cols + i), w3 = FloatVector.fromArray(F, w, 3 * cols + i);
                FloatVector v = FloatVector.fromArray(F, x, x0 + i);
                a00 = w0.fma(v, a00); a10 = w1.fma(v, a10); a20 = w2.fma(v, a20); a30 = w3.fma(v, a30);
                v = FloatVector.fromArray(F, x, x1 + i);
                a01 = w0.fma(v, a01); a11 = w1.fma(v, a11); a21 = w2.fma(v, a21); a31 = w3.fma(v, a31);
                v = FloatVector.fromArray(F, x, x2 + i);
                a02 = w0.fma(v, a02); a12 = w1.fma(v, a12); a22 = w2.fma(v, a22); a32 = w3.fma(v, a32);
                v = FloatVector.fromArray(F, x, x3 + i);
                a03 = w0.fma(v, a03); a13 = w1.fma(v, a13); a23 = w2.fma(v, a23); a33 = w3.fma(v, a33);
            }
            // The lane sums go through memory: a helper taking each vector was not inlined at this method's size, and
            // every vector passed to it was boxed (2.4 GB of boxed vectors in a flight recording of a short bench).
            a00.intoArray(lanes, 0); a10.intoArray(lanes, 16); a20.intoArray(lanes, 32); a30.intoArray(lanes, 48);
            a01.intoArray(lanes, 64); a11.intoArray(lanes, 80); a21.intoArray(lanes, 96); a31.intoArray(lanes, 112);
            a02.intoArray(lanes, 128); a12.intoArray(lanes, 144); a22.intoArray(lanes, 160); a32.intoArray(lanes, 176);
            a03.intoArray(lanes, 192); a13.intoArray(lanes, 208); a23.intoArray(lanes, 224); a33.intoArray(lanes, 240);
            float[] out = mm.out;
            for (int tok = 0; tok < 4; tok++) {
                for (int row = 0; row < 4; row++) {
                    int o = mm.outOff + (t + tok) * mm.rows + r + row;
                    float d = Simd.sum16(lanes, (4 * tok + row) * 16);
                    out[o] = mm.accumulate ? out[o] + d : d;
                }
            }
        }

        /** Four tokens' dot products with one dequantized row, sharing its loads. */
        private static void dot4(float[] w, float[] x, int xOff, int cols, Matmul mm, int r, int t) {
            float s0, s1, s2, s3;
            int i = 0;
            if (Simd.ENABLED) {
                var F = Simd.F;
                int L = Simd.L;
                FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F), a2 = FloatVector.zero(F), a3 = FloatVector.zero(F);
                for (; i + L <= cols; i += L) {
                    FloatVector wv = FloatVector.fromArray(F, w, i);
                    a0 = wv.fma(FloatVector.fromArray(F, x, xOff + i), a0);
                    a1 = wv.fma(FloatVector.fromArray(F, x, xOff + cols + i), a1);
                    a2 = wv.fma(FloatVector.fromArray(F, x, xOff + 2 * cols + i), a2);
                    a3 = wv.fma(FloatVector.fromArray(F, x, xOff + 3 * cols + i), a3);
                }
                s0 = Simd.sum(a0); s1 = Simd.sum(a1); s2 = Simd.sum(a2); s3 = Simd.sum(a3);
            } else {
                s0 = s1 = s2 = s3 = 0f;
            }
            for (; i < cols; i++) {
                float wi = w[i];
                s0 += wi * x[xOff + i];
                s1 += wi * x[xOff + cols + i];
                s2 += wi * x[xOff + 2 * cols + i];
                s3 += wi * x[xOff + 3 * cols + i];
            }
            float[] out = mm.out;
            int o = mm.outOff + t * mm.rows + r, stride = mm.rows;
            if (mm.accumulate) {
                out[o] += s0; out[o + stride] += s1; out[o + 2 * stride] += s2; out[o + 3 * stride] += s3;
            } else {
                out[o] = s0; out[o + stride] = s1; out[o + 2 * stride] = s2; out[o + 3 * stride] = s3;
            }
        }

        /** out = weight * x / sqrt(mean(x^2) + eps), as llama2.c's rmsnorm. */
        static void rmsnorm(float[] out, int outOff, float[] x, int xOff, float[] weight, int dim, float eps) {
            float ss = VectorMath.dot(x, xOff, x, xOff, dim) / dim + eps;
            float inv = (float) (1.0 / Math.sqrt(ss));
            for (int i = 0; i < dim; i++) out[outOff + i] = weight[i] * (inv * x[xOff + i]);
        }

        /** cos and sin of (position * freq) for every token of the batch and every rotated pair. */
        private static void ropeAngles(Model m, Buffers b, int pos) {
            int pairs = m.ropeDim / 2;
            for (int t = 0; t < b.n; t++) {
                for (int j = 0; j < pairs; j++) {
                    float angle = (pos + t) * m.ropeFreqs[j];
                    b.cos[t * pairs + j] = (float) Math.cos(angle);
                    b.sin[t * pairs + j] = (float) Math.sin(angle);
                }
            }
        }

        /**
         * Rotates ADJACENT pairs (2j, 2j+1) of the first ropeDim dimensions of each head: the GGUF llama
         * convention (llama.cpp's converter permutes the Q/K rows so that adjacent-pair rope is right).
         */
        private static void rope(float[] v, int off, int heads, int headSize, int ropeDim, Buffers b, int t) {
            int pairs = ropeDim / 2;
            for (int h = 0; h < heads; h++) {
                int base = off + h * headSize;
                for (int j = 0; j < pairs; j++) {
                    float cos = b.cos[t * pairs + j], sin = b.sin[t * pairs + j];
                    float v0 = v[base + 2 * j], v1 = v[base + 2 * j + 1];
                    v[base + 2 * j] = v0 * cos - v1 * sin;
                    v[base + 2 * j + 1] = v0 * sin + v1 * cos;
                }
            }
        }

        /**
         * DenseAttention.attend split across threads by (token, KV head): each query head is still
         * computed by DenseAttention.attendHead over positions 0..pos+t, so the result is bit for bit
         * what DenseAttention.attend gives.
         */
        private static void denseAttention(State s, ModelConfig c, int layer, int pos, int n, Buffers b) {
            int hs = c.headSize(), qDim = c.qDim(), kvDim = c.kvDim(), group = c.kvGroup(), kvHeads = c.nKvHeads();
            KvRows keys = s.keys[layer], values = s.values[layer];
            Parallel.Body body = (start, end, worker) -> {
                float[] scores = s.scores[worker];
                for (int u = start; u < end; u++) {
                    int t = u / kvHeads, kvHead = u % kvHeads, off = t * qDim + kvHead * group * hs, visible = pos + t + 1;
                    DenseAttention.attendGroup(b.q, off, group, keys, values, kvHead * hs, hs, null, visible,
                            scores, visible, b.att, off);
                }
            };
            int units = n * kvHeads;
            if ((long) n * (pos + n) * qDim < PARALLEL_MIN_WORK) body.run(0, units, 0);
            else Parallel.forRange(units, 1, body);
        }
    }

    /** Built in: exact causal attention, computed by the runtime (its Attention always declines). */
    static final AttentionHook DENSE = new AttentionHook() {
        @Override public String name() { return "dense"; }
        @Override public String description() { return "exact causal attention over every past token (built in)"; }
        /** Dense has no options; it ignores any given so that one option list can serve a dense-vs-sparse comparison. */
        @Override public Attention open(ModelInfo model, Map<String, String> options) {
            return new Attention() {
                @Override public void resetSequence() {}
                @Override public boolean attend(int layer, int startPos, int nTokens, float[] q, KvRows keys, KvRows values, float[] out) {
                    return false;
                }
            };
        }
    };

    /** Every attention hook by name: "dense" first, then those found by ServiceLoader on the class path. */
    public static Map<String, AttentionHook> attentionHooks() {
        Map<String, AttentionHook> all = new LinkedHashMap<>();
        all.put(DENSE.name(), DENSE);
        try {
            for (AttentionHook h : ServiceLoader.load(AttentionHook.class)) all.putIfAbsent(h.name(), h);
        } catch (ServiceConfigurationError e) {
            throw new UserError("cannot load the attention hooks on the class path: " + e.getMessage(), e);
        }
        return all;
    }

    /**
     * Finds an attention hook by name: "dense" (built in) or one found by ServiceLoader on the classpath.
     * An unknown name is a {@link UserError} listing the available ones.
     */
    public static AttentionHook findAttentionHook(String name) {
        Map<String, AttentionHook> all = attentionHooks();
        AttentionHook h = all.get(name);
        if (h != null) return h;
        StringBuilder sb = new StringBuilder();
        for (AttentionHook a : all.values()) {
            sb.append(sb.isEmpty() ? "" : "; ").append(a.name());
            if (!a.description().isEmpty()) sb.append(" (").append(a.description()).append(')');
        }
        throw new UserError("unknown attention '" + name + "' (available: " + sb + ")");
    }

    /**
     * The options for a hook: system properties tokenbutler.attention.KEY=VALUE, overridden by the
     * KEY=VALUE strings given on the command line (a string without '=' is a {@link UserError}).
     */
    public static Map<String, String> attentionOptions(List<String> commandLine) {
        String prefix = "tokenbutler.attention.";
        Map<String, String> options = new TreeMap<>();
        Properties props = System.getProperties();
        for (String key : props.stringPropertyNames()) {
            if (key.startsWith(prefix) && key.length() > prefix.length()) options.put(key.substring(prefix.length()), props.getProperty(key));
        }
        Map<String, String> result = new LinkedHashMap<>(options);
        for (String kv : commandLine) {
            int eq = kv.indexOf('=');
            if (eq <= 0) throw new UserError("attention option '" + kv + "' should be KEY=VALUE");
            result.put(kv.substring(0, eq).trim(), kv.substring(eq + 1).trim());
        }
        return result;
    }

    // =====================================================================================
    // 6. Tokenizer: the interface here; SentencePiece BPE (`llama`) and byte-level BPE (`gpt2`) implementations follow.
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

        /**
         * A piece of a text to encode: with specials, special-token text in it becomes its id (a chat template's
         * own text); without, it stays text (a message's content).
         */
        record Segment(String text, boolean specials) {}

        /**
         * Encodes segments as the one text they make up: text on both sides of a segment boundary is encoded
         * together (a SentencePiece space prefix goes only where the whole text would put one). No BOS added.
         * The default encodes each segment on its own, which is the same for a tokenizer whose output does not
         * depend on what precedes a segment; both tokenizers here override it.
         */
        default int[] encode(List<Segment> segments) {
            Tokenizers.IntList out = new Tokenizers.IntList();
            for (Segment s : segments) out.addAll(s.specials() ? encodeWithSpecialTokens(s.text()) : encode(s.text()));
            return out.toArray();
        }
    }

    /** The tokenizer a GGUF file's tokenizer.ggml.* metadata describes (model "llama" or "gpt2"); a {@link UserError} otherwise. */
    public static Tokenizer tokenizerFromGGUF(GGUF gguf) { return Tokenizers.fromGGUF(gguf); }

    /**
     * Builds a {@link Llama3.Tokenizer} from a GGUF's tokenizer.ggml.* metadata:
     * model "llama" → {@link SentencePieceTokenizer}, model "gpt2" → {@link ByteLevelBpeTokenizer}.
     */
    static final class Tokenizers {
        private Tokenizers() {}

        // llama.cpp's llama_token_type, which numbers the types as SentencePiece's ModelProto.SentencePiece.Type does.
        static final int TYPE_UNDEFINED = 0, TYPE_NORMAL = 1, TYPE_UNKNOWN = 2, TYPE_CONTROL = 3,
                TYPE_USER_DEFINED = 4, TYPE_UNUSED = 5, TYPE_BYTE = 6;

        static final List<String> SUPPORTED_MODELS = List.of("llama", "gpt2");

        /** The tokenizer described by tokenizer.ggml.* metadata (model "llama" or "gpt2"); UserError otherwise. */
        static Llama3.Tokenizer fromGGUF(Llama3.GGUF gguf) {
            Object model = gguf.get("tokenizer.ggml.model");
            if (model == null) {
                throw new Llama3.UserError(gguf.path() + ": metadata key tokenizer.ggml.model is missing; expected one of "
                        + SUPPORTED_MODELS + " (the file has no tokenizer)");
            }
            if (!(model instanceof String name)) {
                throw new Llama3.UserError(gguf.path() + ": tokenizer.ggml.model should be a string, but it is " + gguf.valueTypes().get("tokenizer.ggml.model"));
            }
            return switch (name) {
                case "llama" -> SentencePieceTokenizer.fromGGUF(gguf);
                case "gpt2" -> ByteLevelBpeTokenizer.fromGGUF(gguf);
                default -> throw new Llama3.UserError(gguf.path() + ": unsupported tokenizer.ggml.model '" + name
                        + "'; supported: " + String.join(", ", SUPPORTED_MODELS) + " (SentencePiece BPE and byte-level BPE)");
            };
        }

        // ---------------------------------------------------------------------------------------------
        // Metadata helpers shared by both tokenizers
        // ---------------------------------------------------------------------------------------------

        static String[] tokens(Llama3.GGUF gguf) {
            Object v = gguf.get("tokenizer.ggml.tokens");
            if (v == null) {
                throw new Llama3.UserError(gguf.path() + ": metadata key tokenizer.ggml.tokens (the vocabulary) is missing; "
                        + "expected an array of strings");
            }
            if (!(v instanceof String[] a)) {
                throw new Llama3.UserError(gguf.path() + ": tokenizer.ggml.tokens should be an array of strings, but it is "
                        + describeType(gguf, "tokenizer.ggml.tokens"));
            }
            if (a.length == 0) throw new Llama3.UserError(gguf.path() + ": tokenizer.ggml.tokens is empty; expected at least one token");
            return a;
        }

        /** Token types, all NORMAL when the key is absent (some converters leave it out). */
        static int[] tokenTypes(Llama3.GGUF gguf, int n) {
            Object v = gguf.get("tokenizer.ggml.token_type");
            if (v == null) {
                int[] t = new int[n];
                Arrays.fill(t, TYPE_NORMAL);
                return t;
            }
            if (!(v instanceof int[] a)) {
                throw new Llama3.UserError(gguf.path() + ": tokenizer.ggml.token_type should be an array of 32-bit integers, but it is "
                        + describeType(gguf, "tokenizer.ggml.token_type"));
            }
            if (a.length != n) {
                throw new Llama3.UserError(gguf.path() + ": tokenizer.ggml.token_type has " + a.length + " entries, expected one per token ("
                        + n + ")");
            }
            return a;
        }

        static String describeType(Llama3.GGUF gguf, String key) {
            Llama3.GGUFValueType t = gguf.valueTypes().get(key);
            Llama3.GGUFValueType e = gguf.arrayElementTypes().get(key);
            return t == Llama3.GGUFValueType.ARRAY && e != null ? "an array of " + e : String.valueOf(t);
        }

        static boolean bool(Llama3.GGUF gguf, String key, boolean fallback) {
            Object v = gguf.get(key);
            if (v == null) return fallback;
            if (!(v instanceof Boolean b)) {
                throw new Llama3.UserError(gguf.path() + ": " + key + " should be a bool, but it is " + gguf.valueTypes().get(key));
            }
            return b;
        }

        /**
         * A token id key, or {@code fallback} when absent. Converters write "no such token" as UINT32 0xFFFFFFFF
         * (llama.cpp's LLAMA_TOKEN_NULL as unsigned), so that value also means absent.
         */
        static int tokenId(Llama3.GGUF gguf, String key, int fallback, int vocabSize) {
            long id = gguf.getLong(key, fallback);
            if (id == 0xFFFF_FFFFL || id == -1) return -1;
            if (id < 0 || id >= vocabSize) {
                throw new Llama3.UserError(gguf.path() + ": " + key + " is " + id + ", expected a token id in 0.." + (vocabSize - 1));
            }
            return (int) id;
        }

        /** The bytes of a sequence of pieces, streamed as {@link Llama3.Tokenizer#tokenBytes} gives them, as UTF-8 text. */
        static String decode(Llama3.Tokenizer t, int[] tokens) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            int prev = -1;
            for (int tok : tokens) {
                out.writeBytes(t.tokenBytes(prev, tok));
                prev = tok;
            }
            // Invalid UTF-8 (e.g. a sequence cut in the middle of a character) becomes U+FFFD.
            return out.toString(StandardCharsets.UTF_8);
        }

        static void checkId(Llama3.Tokenizer t, int token) {
            if (token < 0 || token >= t.vocabSize()) {
                throw new Llama3.UserError("token id " + token + " is out of range: expected 0.." + (t.vocabSize() - 1));
            }
        }

        /**
         * Splits text on the literal text of special tokens, leftmost first and, at one position, longest first
         * (llama.cpp's tokenizer_st_partition gives the same result except for overlapping special texts,
         * which no real vocabulary has). Each fragment is either raw text or one special token id.
         */
        static final class SpecialSplitter {
            /** One piece of the input: raw text (token == -1) or a special token. */
            record Fragment(String text, int token) {}

            private final Map<Character, String[]> byFirstChar = new HashMap<>();
            private final Map<String, Integer> idByText = new HashMap<>();

            /**
             * @param controls whether control and unknown tokens are matched (encodeWithSpecialTokens) or only
             *                 user-defined ones (plain encode: added tokens are always matched, as in llama.cpp and SentencePiece)
             */
            SpecialSplitter(String[] tokens, int[] types, boolean controls) {
                Map<Character, List<String>> lists = new HashMap<>();
                for (int i = 0; i < tokens.length; i++) {
                    boolean special = types[i] == TYPE_USER_DEFINED
                            || (controls && (types[i] == TYPE_CONTROL || types[i] == TYPE_UNKNOWN));
                    if (!special || tokens[i].isEmpty()) continue;
                    // The first token with a given text wins, as in lookups by text elsewhere.
                    if (idByText.putIfAbsent(tokens[i], i) == null) lists.computeIfAbsent(tokens[i].charAt(0), c -> new ArrayList<>()).add(tokens[i]);
                }
                for (Map.Entry<Character, List<String>> e : lists.entrySet()) {
                    String[] a = e.getValue().toArray(new String[0]);
                    Arrays.sort(a, Comparator.comparingInt(String::length).reversed());
                    byFirstChar.put(e.getKey(), a);
                }
            }

            int idOf(String text) { return idByText.getOrDefault(text, -1); }

            /**
             * Segments split as one text: a segment with specials by {@code specials}, one without by {@code plain};
             * the raw text of neighbouring segments is joined, so that it is encoded as one piece.
             */
            static List<Fragment> split(List<Llama3.Tokenizer.Segment> segments, SpecialSplitter specials, SpecialSplitter plain) {
                List<Fragment> out = new ArrayList<>();
                StringBuilder text = new StringBuilder();
                for (Llama3.Tokenizer.Segment s : segments) {
                    for (Fragment f : (s.specials() ? specials : plain).split(s.text())) {
                        if (f.token() < 0) {
                            text.append(f.text());
                            continue;
                        }
                        if (!text.isEmpty()) out.add(new Fragment(text.toString(), -1));
                        text.setLength(0);
                        out.add(f);
                    }
                }
                if (!text.isEmpty()) out.add(new Fragment(text.toString(), -1));
                return out;
            }

            List<Fragment> split(String text) {
                List<Fragment> out = new ArrayList<>();
                if (byFirstChar.isEmpty()) {
                    out.add(new Fragment(text, -1));
                    return out;
                }
                int start = 0;
                for (int i = 0; i < text.length(); ) {
                    String[] candidates = byFirstChar.get(text.charAt(i));
                    String match = null;
                    if (candidates != null) {
                        for (String c : candidates) {
                            if (text.startsWith(c, i)) { match = c; break; }
                        }
                    }
                    if (match == null) { i++; continue; }
                    if (i > start) out.add(new Fragment(text.substring(start, i), -1));
                    out.add(new Fragment(match, idByText.get(match)));
                    i += match.length();
                    start = i;
                }
                if (start < text.length()) out.add(new Fragment(text.substring(start), -1));
                return out;
            }
        }

        /**
         * The pre-tokenizers as hand-written scanners (the regexes below, matched at one position, return where
         * the match ends). Written out rather than with java.util.regex because Java's \s is not Unicode's
         * White_Space unless UNICODE_CHARACTER_CLASS is on, which also changes \p{L}; and the scanners are
         * linear, where the regex backtracks over whitespace runs. Character classes follow llama.cpp's
         * unicode tables: \s = Unicode White_Space, \p{L} = categories L*, \p{N} = categories N*.
         */
        static final class PreTokenizer {
            private PreTokenizer() {}

            static boolean isWhitespace(int c) {
                return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680
                        || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
            }

            static boolean isLetter(int c) {
                if (c < 0x80) return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
                return Character.isLetter(c);
            }

            static boolean isNumber(int c) {
                if (c < 0x80) return c >= '0' && c <= '9';
                int t = Character.getType(c);
                return t == Character.DECIMAL_DIGIT_NUMBER || t == Character.LETTER_NUMBER || t == Character.OTHER_NUMBER;
            }

            /** Neither whitespace, letter nor number: the [^\s\p{L}\p{N}] class. */
            static boolean isOther(int c) { return !isWhitespace(c) && !isLetter(c) && !isNumber(c); }

            private static int cp(String s, int i) { return i < s.length() ? s.codePointAt(i) : -1; }

            private static int after(String s, int i) { return i + Character.charCount(s.codePointAt(i)); }

            private static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

            /**
             * Llama 3 (tokenizer.ggml.pre = llama-bpe):
             * {@code (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+}
             * (alternatives tried in order, as a backtracking regex engine does).
             */
            static int nextLlama3(String s, int pos) {
                int len = s.length();
                int c = s.codePointAt(pos);
                int p1 = after(s, pos);
                int c1 = cp(s, p1);
                // (?i:'s|'t|'re|'ve|'m|'ll|'d)
                if (c == '\'' && c1 >= 0) {
                    int l1 = lower(c1);
                    if (l1 == 's' || l1 == 't' || l1 == 'm' || l1 == 'd') return p1 + 1;
                    int l2 = lower(cp(s, p1 + 1));
                    if ((l1 == 'r' && l2 == 'e') || (l1 == 'v' && l2 == 'e') || (l1 == 'l' && l2 == 'l')) return p1 + 2;
                }
                // [^\r\n\p{L}\p{N}]?\p{L}+
                if (isLetter(c) || (c != '\r' && c != '\n' && !isNumber(c) && c1 >= 0 && isLetter(c1))) {
                    int i = isLetter(c) ? p1 : after(s, p1);
                    while (i < len && isLetter(s.codePointAt(i))) i = after(s, i);
                    return i;
                }
                // \p{N}{1,3}
                if (isNumber(c)) {
                    int i = p1;
                    for (int k = 1; k < 3 && i < len && isNumber(s.codePointAt(i)); k++) i = after(s, i);
                    return i;
                }
                // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
                if (isOther(c) || (c == ' ' && c1 >= 0 && isOther(c1))) {
                    int i = isOther(c) ? p1 : after(s, p1);
                    while (i < len && isOther(s.codePointAt(i))) i = after(s, i);
                    while (i < len && (s.charAt(i) == '\r' || s.charAt(i) == '\n')) i++;
                    return i;
                }
                return whitespace(s, pos, true);
            }

            /** GPT-2: {@code 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+}. */
            static int nextGpt2(String s, int pos) {
                int len = s.length();
                int c = s.codePointAt(pos);
                int p1 = after(s, pos);
                int c1 = cp(s, p1);
                if (c == '\'' && c1 >= 0) {
                    if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return p1 + 1;
                    int c2 = cp(s, p1 + 1);
                    if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) return p1 + 2;
                }
                int head = c == ' ' && c1 >= 0 ? c1 : c;
                int i = c == ' ' && c1 >= 0 ? after(s, p1) : p1;
                if (isLetter(head)) {
                    while (i < len && isLetter(s.codePointAt(i))) i = after(s, i);
                    return i;
                }
                if (isNumber(head)) {
                    while (i < len && isNumber(s.codePointAt(i))) i = after(s, i);
                    return i;
                }
                if (isOther(head)) {
                    while (i < len && isOther(s.codePointAt(i))) i = after(s, i);
                    return i;
                }
                return whitespace(s, pos, false);
            }

            /** At whitespace: {@code \s*[\r\n]+} (when newlines), then {@code \s+(?!\S)}, then {@code \s+}. */
            private static int whitespace(String s, int pos, boolean newlineRule) {
                int len = s.length();
                int end = pos, lastNewlineEnd = -1, count = 0, beforeLast = pos;
                while (end < len && isWhitespace(s.codePointAt(end))) {
                    char ch = s.charAt(end);
                    beforeLast = end;
                    end = after(s, end);
                    count++;
                    if (ch == '\r' || ch == '\n') lastNewlineEnd = end;
                }
                if (count == 0) return after(s, pos); // unreachable: every character is a letter, number, other or whitespace
                // \s*[\r\n]+ : the run up to and including its last newline.
                if (newlineRule && lastNewlineEnd > 0) return lastNewlineEnd;
                // \s+(?!\S) : all but the last whitespace character when a non-space follows, so it joins the next word.
                if (count > 1 && end < len) return beforeLast;
                // \s+
                return end;
            }
        }

        /** A growable int array. */
        static final class IntList {
            private int[] a = new int[16];
            private int size;

            void add(int v) {
                if (size == a.length) a = Arrays.copyOf(a, size * 2);
                a[size++] = v;
            }

            void addAll(int[] v) {
                if (size + v.length > a.length) a = Arrays.copyOf(a, Math.max(a.length * 2, size + v.length));
                System.arraycopy(v, 0, a, size, v.length);
                size += v.length;
            }

            boolean contains(int v) {
                for (int i = 0; i < size; i++) if (a[i] == v) return true;
                return false;
            }

            int size() { return size; }

            int[] toArray() { return Arrays.copyOf(a, size); }
        }
    }

    /**
     * SentencePiece BPE as llama.cpp's SPM tokenizer runs it (tokenizer.ggml.model = "llama"): Llama 2,
     * TinyStories/llama2.c vocabularies. Spaces become "▁" (U+2581) and, when add_space_prefix (default true),
     * a "▁" is put before the text; the text starts as one symbol per code point; the adjacent pair whose
     * concatenation is a vocabulary piece with the highest score is merged, leftmost first on ties, until no
     * pair is a piece. A symbol that is no piece becomes its UTF-8 bytes as {@code <0xNN>} tokens, or, in a
     * vocabulary without byte tokens, the unknown token (one per character).
     */
    static final class SentencePieceTokenizer implements Llama3.Tokenizer {
        static final char SPACE = '\u2581';
        // SentencePiece's default surface for the unknown piece (ModelProto.unk_surface " ⁇ ").
        private static final byte[] UNK_SURFACE = " \u2047 ".getBytes(StandardCharsets.UTF_8);

        private final String[] tokens;
        private final float[] scores;
        private final int[] types;
        /** Pieces that plain text can turn into: not control, unknown or byte tokens. */
        private final Map<String, Integer> pieceIds = new HashMap<>();
        /** byteIds[b] is the id of {@code <0xNN>}, or -1. */
        private final int[] byteIds = new int[256];
        private final byte[][] pieceBytes;
        private final Tokenizers.SpecialSplitter specials, userDefined;
        private final int bos, eos, unk;
        private final boolean addBos, addSpacePrefix;
        /** No piece has "▁" after another character, so text can be merged word by word (true for Llama 2 and TinyStories). */
        private final boolean wordsAreIndependent;
        private static final int CACHE_LIMIT = 1 << 17;
        /** Ids per word (a "▁" and what follows up to the next word), guarded by itself. */
        private final HashMap<String, int[]> cache = new HashMap<>();

        SentencePieceTokenizer(String[] tokens, float[] scores, int[] types, int bos, int eos, int unk,
                               boolean addBos, boolean addSpacePrefix) {
            this.tokens = tokens;
            this.scores = scores;
            this.types = types;
            this.bos = bos;
            this.eos = eos;
            this.unk = unk;
            this.addBos = addBos;
            this.addSpacePrefix = addSpacePrefix;
            Arrays.fill(byteIds, -1);
            pieceBytes = new byte[tokens.length][];
            for (int i = 0; i < tokens.length; i++) {
                int b = types[i] == Tokenizers.TYPE_BYTE ? parseByteToken(tokens[i]) : -1;
                if (b >= 0) {
                    if (byteIds[b] < 0) byteIds[b] = i;
                    pieceBytes[i] = new byte[] {(byte) b};
                } else if (types[i] == Tokenizers.TYPE_CONTROL) {
                    // Control tokens (BOS, EOS, ...) mark structure; they contribute no text.
                    pieceBytes[i] = new byte[0];
                } else if (types[i] == Tokenizers.TYPE_UNKNOWN) {
                    pieceBytes[i] = UNK_SURFACE;
                } else {
                    // Later duplicates do not replace the first piece with that text.
                    pieceIds.putIfAbsent(tokens[i], i);
                    pieceBytes[i] = tokens[i].replace(SPACE, ' ').getBytes(StandardCharsets.UTF_8);
                }
            }
            this.specials = new Tokenizers.SpecialSplitter(tokens, types, true);
            this.userDefined = new Tokenizers.SpecialSplitter(tokens, types, false);
            boolean independent = true;
            for (String piece : pieceIds.keySet()) {
                for (int j = 1; j < piece.length() && independent; j++) {
                    if (piece.charAt(j) == SPACE && piece.charAt(j - 1) != SPACE) independent = false;
                }
            }
            this.wordsAreIndependent = independent;
        }

        static SentencePieceTokenizer fromGGUF(Llama3.GGUF gguf) {
            String[] tokens = Tokenizers.tokens(gguf);
            int n = tokens.length;
            int[] types = Tokenizers.tokenTypes(gguf, n);
            Object s = gguf.get("tokenizer.ggml.scores");
            float[] scores;
            if (s == null) {
                scores = new float[n];
            } else if (s instanceof float[] a) {
                if (a.length != n) {
                    throw new Llama3.UserError(gguf.path() + ": tokenizer.ggml.scores has " + a.length + " entries, expected one per token (" + n + ")");
                }
                scores = a;
            } else {
                throw new Llama3.UserError(gguf.path() + ": tokenizer.ggml.scores should be an array of FLOAT32, but it is "
                        + Tokenizers.describeType(gguf, "tokenizer.ggml.scores"));
            }
            // Defaults as llama.cpp's for SPM vocabularies: <unk>=0, <s>=1, </s>=2.
            int unk = Tokenizers.tokenId(gguf, "tokenizer.ggml.unknown_token_id", n > 0 ? 0 : -1, n);
            int bos = Tokenizers.tokenId(gguf, "tokenizer.ggml.bos_token_id", n > 1 ? 1 : -1, n);
            int eos = Tokenizers.tokenId(gguf, "tokenizer.ggml.eos_token_id", n > 2 ? 2 : -1, n);
            boolean addBos = Tokenizers.bool(gguf, "tokenizer.ggml.add_bos_token", true) && bos >= 0;
            boolean addSpacePrefix = Tokenizers.bool(gguf, "tokenizer.ggml.add_space_prefix", true);
            return new SentencePieceTokenizer(tokens, scores, types, bos, eos, unk, addBos, addSpacePrefix);
        }

        /** The byte of a "<0xNN>" piece, or -1. */
        static int parseByteToken(String t) {
            if (t.length() != 6 || !t.startsWith("<0x") || t.charAt(5) != '>') return -1;
            int hi = Character.digit(t.charAt(3), 16), lo = Character.digit(t.charAt(4), 16);
            return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
        }

        @Override public int[] encode(String text) { return encodeFragments(userDefined.split(text)); }

        @Override public int[] encodeWithSpecialTokens(String text) { return encodeFragments(specials.split(text)); }

        @Override public int[] encode(List<Segment> segments) { return encodeFragments(Tokenizers.SpecialSplitter.split(segments, specials, userDefined)); }

        private int[] encodeFragments(List<Tokenizers.SpecialSplitter.Fragment> fragments) {
            Tokenizers.IntList out = new Tokenizers.IntList();
            // As llama.cpp: the space prefix goes before the first text fragment and before text that follows a special token.
            boolean prevSpecial = true;
            for (Tokenizers.SpecialSplitter.Fragment f : fragments) {
                if (f.token() >= 0) {
                    out.add(f.token());
                    prevSpecial = true;
                } else {
                    encodeText(f.text(), prevSpecial, out);
                    prevSpecial = false;
                }
            }
            return out.toArray();
        }

        private void encodeText(String raw, boolean prefixSpace, Tokenizers.IntList out) {
            if (raw.isEmpty()) return; // "" encodes to nothing, as SentencePiece and llama.cpp do (no lone dummy prefix)
            String text = ((prefixSpace && addSpacePrefix) ? " " + raw : raw).replace(' ', SPACE);
            if (!wordsAreIndependent) {
                encodeSegment(text, out);
                return;
            }
            // Cut before every "▁" that follows another character: no piece spans such a cut (checked at load), so
            // the segments merge independently and give what merging the whole text would; repeated words come
            // from the cache.
            int start = 0;
            for (int i = 1; i <= text.length(); i++) {
                if (i < text.length() && (text.charAt(i) != SPACE || text.charAt(i - 1) == SPACE)) continue;
                String segment = text.substring(start, i);
                int[] ids;
                synchronized (cache) {
                    ids = cache.get(segment);
                }
                if (ids == null) {
                    Tokenizers.IntList segmentIds = new Tokenizers.IntList();
                    encodeSegment(segment, segmentIds);
                    ids = segmentIds.toArray();
                    synchronized (cache) {
                        if (cache.size() >= CACHE_LIMIT) cache.clear(); // bounded memory on endless input
                        cache.put(segment, ids);
                    }
                }
                out.addAll(ids);
                start = i;
            }
        }

        /** Plain text merged as one segment, as llama.cpp does: what the word-by-word path must equal (for tests). */
        int[] encodeWithoutWordCuts(String raw) {
            Tokenizers.IntList out = new Tokenizers.IntList();
            if (!raw.isEmpty()) encodeSegment((addSpacePrefix ? " " + raw : raw).replace(' ', SPACE), out);
            return out.toArray();
        }

        boolean wordsAreIndependent() { return wordsAreIndependent; }

        /** SentencePiece BPE over text that already has "▁" for spaces. */
        private void encodeSegment(String text, Tokenizers.IntList out) {
            // Symbols: one per code point, in a doubly linked list over the text.
            int cap = text.length();
            int[] start = new int[cap], len = new int[cap], prev = new int[cap], next = new int[cap];
            int n = 0;
            for (int i = 0; i < text.length(); ) {
                int cc = Character.charCount(text.codePointAt(i));
                start[n] = i;
                len[n] = cc;
                prev[n] = n - 1;
                next[n] = i + cc < text.length() ? n + 1 : -1;
                n++;
                i += cc;
            }

            // Candidate merges, highest score first, then leftmost (llama.cpp's llm_bigram_spm ordering).
            PriorityQueue<Bigram> queue = new PriorityQueue<>();
            for (int i = 0; i + 1 < n; i++) tryAddBigram(text, start, len, i, i + 1, queue);
            while (!queue.isEmpty()) {
                Bigram b = queue.poll();
                // Stale when either side was merged away or grew since the candidate was queued.
                if (len[b.left] == 0 || len[b.right] == 0 || len[b.left] + len[b.right] != b.size) continue;
                len[b.left] += len[b.right];
                len[b.right] = 0;
                next[b.left] = next[b.right];
                if (next[b.right] >= 0) prev[next[b.right]] = b.left;
                if (prev[b.left] >= 0) tryAddBigram(text, start, len, prev[b.left], b.left, queue);
                if (next[b.left] >= 0) tryAddBigram(text, start, len, b.left, next[b.left], queue);
            }

            for (int i = 0; i >= 0 && n > 0; i = next[i]) {
                String piece = text.substring(start[i], start[i] + len[i]);
                Integer id = pieceIds.get(piece);
                if (id != null) {
                    out.add(id);
                    continue;
                }
                // Only single characters can be left unmatched: every merge makes a vocabulary piece.
                byte[] bytes = piece.getBytes(StandardCharsets.UTF_8); // "▁" stays "▁" (E2 96 81), as in llama.cpp
                boolean allBytes = true;
                for (byte x : bytes) allBytes &= byteIds[x & 0xFF] >= 0;
                if (allBytes) {
                    for (byte x : bytes) out.add(byteIds[x & 0xFF]);
                } else if (unk >= 0) {
                    out.add(unk);
                } else {
                    throw new Llama3.UserError("cannot encode the character '" + piece + "' (U+" + Integer.toHexString(piece.codePointAt(0)).toUpperCase()
                            + "): the vocabulary has neither a piece, byte tokens nor an unknown token for it");
                }
            }
        }

        private void tryAddBigram(String text, int[] start, int[] len, int left, int right, PriorityQueue<Bigram> queue) {
            int size = len[left] + len[right];
            Integer id = pieceIds.get(text.substring(start[left], start[left] + size));
            if (id != null) queue.add(new Bigram(left, right, scores[id], size));
        }

        private record Bigram(int left, int right, float score, int size) implements Comparable<Bigram> {
            @Override public int compareTo(Bigram o) {
                int c = Float.compare(o.score, score);
                return c != 0 ? c : Integer.compare(left, o.left);
            }
        }

        @Override public String decode(int[] tokens) { return Tokenizers.decode(this, tokens); }

        @Override public byte[] tokenBytes(int previous, int token) {
            Tokenizers.checkId(this, token);
            byte[] b = pieceBytes[token];
            // The dummy prefix space is not part of the text: drop it from the first piece after BOS (llama2.c, llama.cpp).
            if (previous == bos && bos >= 0 && addSpacePrefix && b.length > 0 && b[0] == ' ' && types[token] != Tokenizers.TYPE_BYTE) {
                return Arrays.copyOfRange(b, 1, b.length);
            }
            return b;
        }

        @Override public int vocabSize() { return tokens.length; }
        @Override public int bosId() { return bos; }
        @Override public int eosId() { return eos; }
        @Override public int[] stopIds() { return eos >= 0 ? new int[] {eos} : new int[0]; }
        @Override public int specialTokenId(String text) { return specials.idOf(text); }
        @Override public boolean addBos() { return addBos; }
        int unknownId() { return unk; }
    }

    /**
     * Byte-level BPE (tokenizer.ggml.model = "gpt2") as llama.cpp runs it for Llama 3: the text is split by
     * the pre-tokenizer regex; each piece's UTF-8 bytes are written as GPT-2's printable stand-in characters;
     * a piece that is a whole vocabulary token becomes that token (llama.cpp's ignore_merges for llama-bpe,
     * as tiktoken does); otherwise the adjacent pair with the lowest merge rank (tokenizer.ggml.merges order)
     * is merged, leftmost first on ties, until no pair has a merge.
     */
    static final class ByteLevelBpeTokenizer implements Llama3.Tokenizer {
        /** GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the rest map to U+0100.. in byte order. */
        static final char[] BYTE_TO_CHAR = new char[256];
        static final int[] CHAR_TO_BYTE = new int[324];

        static {
            Arrays.fill(CHAR_TO_BYTE, -1);
            int extra = 0;
            for (int b = 0; b < 256; b++) {
                boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
                char c = printable ? (char) b : (char) (256 + extra++);
                BYTE_TO_CHAR[b] = c;
                CHAR_TO_BYTE[c] = b;
            }
        }

        /** The pre-tokenizers supported, by tokenizer.ggml.pre value. */
        enum Pre { LLAMA3, GPT2 }

        private static final int CACHE_LIMIT = 1 << 17;

        private final String[] tokens;
        private final int[] types;
        /** Token text → id (the first id when a text repeats). */
        private final Map<String, Integer> ids;
        private final int[] byteIds = new int[256];
        private final PairRanks merges;
        private final byte[][] tokenBytes;
        private final Tokenizers.SpecialSplitter specials, userDefined;
        private final Pre pre;
        private final boolean ignoreMerges;
        private final int bos, eos;
        private final int[] stopIds;
        private final boolean addBos;
        /** Ids per pre-token: text repeats its words, so most pre-tokens skip BPE. Guarded by itself. */
        private final HashMap<String, int[]> cache = new HashMap<>();

        ByteLevelBpeTokenizer(String[] tokens, int[] types, String[] mergeList, Pre pre, int bos, int eos, int[] extraStops,
                              boolean addBos, String where) {
            this.tokens = tokens;
            this.types = types;
            this.pre = pre;
            this.ignoreMerges = pre == Pre.LLAMA3;
            this.bos = bos;
            this.eos = eos;
            this.addBos = addBos;
            Map<String, Integer> allIds = new HashMap<>(tokens.length * 2);
            this.ids = allIds;
            tokenBytes = new byte[tokens.length][];
            for (int i = 0; i < tokens.length; i++) {
                allIds.putIfAbsent(tokens[i], i);
                int t = types[i];
                if (t == Tokenizers.TYPE_CONTROL || t == Tokenizers.TYPE_UNKNOWN) {
                    tokenBytes[i] = new byte[0]; // structure, not text
                } else if (t == Tokenizers.TYPE_USER_DEFINED) {
                    tokenBytes[i] = tokens[i].getBytes(StandardCharsets.UTF_8); // added tokens are stored as plain text
                } else {
                    tokenBytes[i] = unmapBytes(tokens[i]);
                }
            }
            for (int b = 0; b < 256; b++) {
                byteIds[b] = textId(String.valueOf(BYTE_TO_CHAR[b]));
            }
            merges = new PairRanks(mergeList.length);
            for (int r = 0; r < mergeList.length; r++) {
                String m = mergeList[r];
                // The parts are separated by one space; a part never holds a space (bytes are mapped to printable chars).
                int sp = m.indexOf(' ', 1);
                if (sp < 0) throw new Llama3.UserError(where + ": tokenizer.ggml.merges entry " + r + " is '" + m + "', expected two tokens separated by a space");
                Integer a = allIds.get(m.substring(0, sp)), b = allIds.get(m.substring(sp + 1)), ab = allIds.get(m.substring(0, sp) + m.substring(sp + 1));
                // A merge whose parts or result are not tokens can never be applied to token ids: skip it.
                if (a == null || b == null || ab == null) continue;
                merges.putIfAbsent(a, b, r, ab);
            }
            this.specials = new Tokenizers.SpecialSplitter(tokens, types, true);
            this.userDefined = new Tokenizers.SpecialSplitter(tokens, types, false);
            Tokenizers.IntList stops = new Tokenizers.IntList();
            if (eos >= 0) stops.add(eos);
            for (int s : extraStops) if (s >= 0 && !stops.contains(s)) stops.add(s);
            this.stopIds = stops.toArray();
        }

        static ByteLevelBpeTokenizer fromGGUF(Llama3.GGUF gguf) {
            String where = gguf.path().toString();
            String[] tokens = Tokenizers.tokens(gguf);
            int n = tokens.length;
            int[] types = Tokenizers.tokenTypes(gguf, n);
            Object m = gguf.get("tokenizer.ggml.merges");
            if (m == null) throw new Llama3.UserError(where + ": tokenizer.ggml.merges is missing; a gpt2 (byte-level BPE) vocabulary needs its merges");
            if (!(m instanceof String[] mergeList)) {
                throw new Llama3.UserError(where + ": tokenizer.ggml.merges should be an array of strings, but it is " + Tokenizers.describeType(gguf, "tokenizer.ggml.merges"));
            }
            Object p = gguf.get("tokenizer.ggml.pre");
            if (p != null && !(p instanceof String)) {
                throw new Llama3.UserError(where + ": tokenizer.ggml.pre should be a string, but it is " + gguf.valueTypes().get("tokenizer.ggml.pre"));
            }
            Pre pre = switch (p == null ? "default" : (String) p) {
                // A llama-architecture file with a gpt2 vocabulary is a Llama 3 model; files from before llama.cpp wrote
                // tokenizer.ggml.pre (or that say "default") are Llama 3 too, so they get its pre-tokenizer.
                case "llama-bpe", "llama3", "smaug-bpe", "default" -> Pre.LLAMA3;
                case "gpt-2" -> Pre.GPT2;
                default -> throw new Llama3.UserError(where + ": unsupported tokenizer.ggml.pre '" + p
                        + "'; supported: llama-bpe (Llama 3; also llama3, smaug-bpe, default) and gpt-2");
            };
            int bos = Tokenizers.tokenId(gguf, "tokenizer.ggml.bos_token_id", -1, n);
            int eos = Tokenizers.tokenId(gguf, "tokenizer.ggml.eos_token_id", -1, n);
            int eot = Tokenizers.tokenId(gguf, "tokenizer.ggml.eot_token_id", -1, n);
            int eom = Tokenizers.tokenId(gguf, "tokenizer.ggml.eom_token_id", -1, n);
            int[] extra = {eot, eom, controlId(tokens, types, "<|eot_id|>"), controlId(tokens, types, "<|eom_id|>")};
            boolean addBos = Tokenizers.bool(gguf, "tokenizer.ggml.add_bos_token", true) && bos >= 0;
            return new ByteLevelBpeTokenizer(tokens, types, mergeList, pre, bos, eos, extra, addBos, where);
        }

        private static int controlId(String[] tokens, int[] types, String text) {
            for (int i = 0; i < tokens.length; i++) {
                if (types[i] == Tokenizers.TYPE_CONTROL && tokens[i].equals(text)) return i;
            }
            return -1;
        }

        /** The id of a token that text can become (not control or unknown: those come only from special-token parsing), or -1. */
        private int textId(String text) {
            Integer id = ids.get(text);
            return id == null || types[id] == Tokenizers.TYPE_CONTROL || types[id] == Tokenizers.TYPE_UNKNOWN ? -1 : id;
        }

        /** A token's text (GPT-2 stand-in characters) back to bytes; characters outside the map are taken as UTF-8 text. */
        static byte[] unmapBytes(String s) {
            ByteArrayOutputStream out = new ByteArrayOutputStream(s.length());
            for (int i = 0; i < s.length(); ) {
                int cp = s.codePointAt(i);
                i += Character.charCount(cp);
                if (cp < CHAR_TO_BYTE.length && CHAR_TO_BYTE[cp] >= 0) out.write(CHAR_TO_BYTE[cp]);
                else out.writeBytes(new String(Character.toChars(cp)).getBytes(StandardCharsets.UTF_8));
            }
            return out.toByteArray();
        }

        @Override public int[] encode(String text) { return encodeFragments(userDefined.split(text)); }

        @Override public int[] encodeWithSpecialTokens(String text) { return encodeFragments(specials.split(text)); }

        @Override public int[] encode(List<Segment> segments) { return encodeFragments(Tokenizers.SpecialSplitter.split(segments, specials, userDefined)); }

        private int[] encodeFragments(List<Tokenizers.SpecialSplitter.Fragment> fragments) {
            Tokenizers.IntList out = new Tokenizers.IntList();
            for (Tokenizers.SpecialSplitter.Fragment f : fragments) {
                if (f.token() >= 0) out.add(f.token());
                else encodeText(f.text(), out);
            }
            return out.toArray();
        }

        private void encodeText(String text, Tokenizers.IntList out) {
            int start = 0;
            while (start < text.length()) {
                int end = pre == Pre.LLAMA3 ? Tokenizers.PreTokenizer.nextLlama3(text, start) : Tokenizers.PreTokenizer.nextGpt2(text, start);
                String word = text.substring(start, end);
                int[] wordIds;
                synchronized (cache) {
                    wordIds = cache.get(word);
                }
                if (wordIds == null) {
                    wordIds = encodeWord(word);
                    synchronized (cache) {
                        // A bound keeps memory flat on endless input; the common words come back quickly.
                        if (cache.size() >= CACHE_LIMIT) cache.clear();
                        cache.put(word, wordIds);
                    }
                }
                out.addAll(wordIds);
                start = end;
            }
        }

        /** One pre-token to ids. */
        int[] encodeWord(String word) {
            byte[] bytes = word.getBytes(StandardCharsets.UTF_8);
            if (ignoreMerges) {
                char[] mapped = new char[bytes.length];
                for (int i = 0; i < bytes.length; i++) mapped[i] = BYTE_TO_CHAR[bytes[i] & 0xFF];
                int id = textId(new String(mapped));
                if (id >= 0) return new int[] {id};
            }
            int n = bytes.length;
            int[] sym = new int[n];
            int missing = 0;
            for (int i = 0; i < n; i++) {
                sym[i] = byteIds[bytes[i] & 0xFF];
                if (sym[i] < 0) missing++;
            }
            if (missing > 0) {
                // A vocabulary without some byte cannot represent it: llama.cpp drops such bytes, and so do we.
                int[] kept = new int[n - missing];
                int k = 0;
                for (int s : sym) if (s >= 0) kept[k++] = s;
                sym = kept;
                n = k;
            }
            if (n <= 1) return sym;
            return bpe(sym, n);
        }

        /**
         * Merges a word's symbols by merge rank with a heap of candidate pairs. Entries are (rank, left position)
         * packed in a long so the smallest is the lowest rank, then the leftmost; an entry is stale when the
         * pair at that position has changed since it was queued. O(n log n) on long words.
         */
        private int[] bpe(int[] id, int n) {
            int[] next = new int[n], prev = new int[n];
            for (int i = 0; i < n; i++) { next[i] = i + 1 < n ? i + 1 : -1; prev[i] = i - 1; }
            LongHeap heap = new LongHeap(n);
            for (int i = 0; i + 1 < n; i++) {
                int r = merges.rank(id[i], id[i + 1]);
                if (r >= 0) heap.push(((long) r << 32) | i);
            }
            int live = n;
            while (!heap.isEmpty()) {
                long e = heap.pop();
                int r = (int) (e >>> 32), left = (int) e;
                int right = next[left];
                if (id[left] < 0 || right < 0 || merges.rank(id[left], id[right]) != r) continue; // stale
                id[left] = merges.result(r);
                id[right] = -1;
                next[left] = next[right];
                if (next[right] >= 0) prev[next[right]] = left;
                live--;
                if (prev[left] >= 0) {
                    int rp = merges.rank(id[prev[left]], id[left]);
                    if (rp >= 0) heap.push(((long) rp << 32) | prev[left]);
                }
                if (next[left] >= 0) {
                    int rn = merges.rank(id[left], id[next[left]]);
                    if (rn >= 0) heap.push(((long) rn << 32) | left);
                }
            }
            int[] out = new int[live];
            int k = 0;
            for (int i = 0; i >= 0; i = next[i]) out[k++] = id[i];
            return out;
        }

        @Override public String decode(int[] tokens) { return Tokenizers.decode(this, tokens); }

        @Override public byte[] tokenBytes(int previous, int token) {
            Tokenizers.checkId(this, token);
            return tokenBytes[token];
        }

        @Override public int vocabSize() { return tokens.length; }
        @Override public int bosId() { return bos; }
        @Override public int eosId() { return eos; }
        @Override public int[] stopIds() { return stopIds.clone(); }
        @Override public int specialTokenId(String text) { return specials.idOf(text); }
        @Override public boolean addBos() { return addBos; }
        int mergeCount() { return merges.size(); }
        Pre preTokenizer() { return pre; }

        /** Merge table: (left id, right id) → rank, open addressing on a packed long key; result id per rank. */
        static final class PairRanks {
            private final long[] keys;
            private final int[] ranks;
            private final int[] results;
            private final int mask;
            private int size;

            PairRanks(int expected) {
                int cap = Integer.highestOneBit(Math.max(16, expected * 2) - 1) << 1;
                keys = new long[cap];
                ranks = new int[cap];
                mask = cap - 1;
                results = new int[Math.max(1, expected)];
                Arrays.fill(keys, -1L);
            }

            private static long key(int a, int b) { return ((long) a << 32) | (b & 0xFFFF_FFFFL); }

            private int slot(long k) {
                long h = k * 0x9E37_79B9_7F4A_7C15L;
                return (int) (h ^ (h >>> 32)) & mask;
            }

            void putIfAbsent(int a, int b, int rank, int result) {
                long k = key(a, b);
                int s = slot(k);
                while (keys[s] != -1L) {
                    if (keys[s] == k) return; // the first (lowest-ranked) duplicate wins
                    s = (s + 1) & mask;
                }
                keys[s] = k;
                ranks[s] = rank;
                results[rank] = result;
                size++;
            }

            /** The rank of merging a and b, or -1. */
            int rank(int a, int b) {
                long k = key(a, b);
                int s = slot(k);
                while (true) {
                    long x = keys[s];
                    if (x == k) return ranks[s];
                    if (x == -1L) return -1;
                    s = (s + 1) & mask;
                }
            }

            int result(int rank) { return results[rank]; }
            int size() { return size; }
        }

        /** A binary min-heap of longs. */
        static final class LongHeap {
            private long[] a;
            private int size;

            LongHeap(int capacity) { a = new long[Math.max(4, capacity)]; }

            boolean isEmpty() { return size == 0; }

            void push(long v) {
                if (size == a.length) a = Arrays.copyOf(a, size * 2);
                int i = size++;
                while (i > 0) {
                    int p = (i - 1) >>> 1;
                    if (a[p] <= v) break;
                    a[i] = a[p];
                    i = p;
                }
                a[i] = v;
            }

            long pop() {
                long top = a[0];
                long last = a[--size];
                int i = 0;
                while (true) {
                    int c = 2 * i + 1;
                    if (c >= size) break;
                    if (c + 1 < size && a[c + 1] < a[c]) c++;
                    if (a[c] >= last) break;
                    a[i] = a[c];
                    i = c;
                }
                if (size > 0) a[i] = last;
                return top;
            }
        }
    }

    // =====================================================================================
    // 7. Sampler: greedy at temperature 0, else softmax(logits / temperature), optionally cut to
    //    the top-p nucleus (the smallest set of most likely tokens whose probability exceeds p).
    // =====================================================================================

    /** Picks the next token from a logits vector. Seeded, so the same seed gives the same text. */
    public static final class Sampler {
        private final float temperature, topP, repeatPenalty;
        private final int repeatLastN;
        private final SplittableRandom random;
        /** The last repeatLastN tokens seen (prompt and generated), oldest first, for the repeat penalty. */
        private final java.util.ArrayDeque<Integer> recent = new java.util.ArrayDeque<>();

        public Sampler(float temperature, float topP, long seed) { this(temperature, topP, seed, 1f, 64); }

        /**
         * @param repeatPenalty llama.cpp's --repeat-penalty: the logit of a token among the last repeatLastN is divided
         *                      by it when positive and multiplied when negative; 1 turns it off (the default)
         */
        public Sampler(float temperature, float topP, long seed, float repeatPenalty, int repeatLastN) {
            if (!(temperature >= 0f) || Float.isInfinite(temperature)) throw new UserError("temperature must be a number >= 0, got " + temperature);
            if (!(topP > 0f && topP <= 1f)) throw new UserError("top-p must be in (0, 1], got " + topP);
            if (!(repeatPenalty > 0f) || Float.isInfinite(repeatPenalty)) throw new UserError("repeat penalty must be a number > 0, got " + repeatPenalty);
            if (repeatLastN < 0) throw new UserError("repeat-last-n must be >= 0, got " + repeatLastN);
            this.temperature = temperature;
            this.topP = topP;
            this.repeatPenalty = repeatPenalty;
            this.repeatLastN = repeatLastN;
            this.random = new SplittableRandom(seed);
        }

        /** A token of the sequence (prompt or generated): it joins the window the repeat penalty looks at. */
        public void accept(int token) {
            if (repeatLastN == 0) return;
            recent.addLast(token);
            if (recent.size() > repeatLastN) recent.removeFirst();
        }

        /** The next token; logits is overwritten (with probabilities) unless sampling is greedy. */
        public int sample(float[] logits) {
            if (repeatPenalty != 1f) {
                for (int t : new java.util.HashSet<>(recent)) {
                    if (t >= 0 && t < logits.length) logits[t] = logits[t] > 0 ? logits[t] / repeatPenalty : logits[t] * repeatPenalty;
                }
            }
            if (temperature == 0f) return argmax(logits);
            float max = Float.NEGATIVE_INFINITY;
            for (float l : logits) max = Math.max(max, l);
            double sum = 0;
            for (int i = 0; i < logits.length; i++) {
                float p = (float) Math.exp((logits[i] - max) / temperature);
                logits[i] = p;
                sum += p;
            }
            for (int i = 0; i < logits.length; i++) logits[i] = (float) (logits[i] / sum);
            float r = (float) random.nextDouble();
            return topP >= 1f ? sampleAll(logits, r) : sampleTopP(logits, r);
        }

        public static int argmax(float[] logits) {
            int best = 0;
            for (int i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
            return best;
        }

        private static int sampleAll(float[] probs, float r) {
            float cumulative = 0f;
            for (int i = 0; i < probs.length; i++) {
                cumulative += probs[i];
                if (r < cumulative) return i;
            }
            return probs.length - 1; // rounding left r above the last cumulative sum
        }

        private int sampleTopP(float[] probs, float r) {
            // Tokens below (1 - p) / (n - 1) can never be in the nucleus, so they are dropped before sorting.
            float cutoff = (1f - topP) / (probs.length - 1);
            long[] candidates = new long[probs.length];
            int n = 0;
            for (int i = 0; i < probs.length; i++) {
                // positive floats sort like their bit patterns: probability in the high half, id in the low
                if (probs[i] >= cutoff) candidates[n++] = ((long) Float.floatToRawIntBits(probs[i]) << 32) | i;
            }
            Arrays.sort(candidates, 0, n);
            float cumulative = 0f;
            int last = 0;
            for (int k = n - 1; k >= 0; k--) {
                cumulative += Float.intBitsToFloat((int) (candidates[k] >>> 32));
                last = k;
                if (cumulative > topP) break;
            }
            float target = r * cumulative, sum = 0f;
            for (int k = n - 1; k >= last; k--) {
                sum += Float.intBitsToFloat((int) (candidates[k] >>> 32));
                if (target < sum) return (int) candidates[k];
            }
            return (int) candidates[last];
        }
    }

    // =====================================================================================
    // 8. Chat format: the chat template families, recognised from tokenizer.chat_template (or named with
    //    --chat-template), each rendering messages into the tokens its models were trained on.
    // =====================================================================================

    /**
     * The chat template families, by the names {@code --chat-template} takes. Each renders its family's documented
     * format: Llama 3 (Meta's model card), Llama 2 (Meta's reference chat_completion and the Hugging Face blog
     * "How to prompt Llama 2"), Mistral (Mistral-7B-Instruct v0.1/v0.2's model card and chat template), ChatML
     * (OpenAI's ChatML as Qwen and OpenHermes use it), Zephyr (zephyr-7b-beta's model card), Gemma (gemma-7b-it's
     * model card) and Phi-3 (Phi-3-mini's model card). {@link #detect} recognises a Jinja template by the
     * substrings llama.cpp's llm_chat_detect_template looks for.
     */
    public enum ChatTemplate {
        /** Llama 3 and 3.x: role headers and {@code <|eot_id|>}. */
        LLAMA3("llama3", "<|start_header_id|>ROLE<|end_header_id|>\\n\\nTEXT<|eot_id|>"),
        /** Llama 2 chat: {@code [INST]} turns, the system message in {@code <<SYS>>}. */
        LLAMA2("llama2", "<s>[INST] <<SYS>>\\nSYSTEM\\n<</SYS>>\\n\\nUSER [/INST] ASSISTANT </s>"),
        /** Mistral instruct (v0.1/v0.2): {@code [INST]} turns, no system role. */
        MISTRAL("mistral", "<s>[INST] USER [/INST]ASSISTANT</s>"),
        /** ChatML (Qwen, OpenHermes): {@code <|im_start|>} and {@code <|im_end|>}. */
        CHATML("chatml", "<|im_start|>ROLE\\nTEXT<|im_end|>\\n"),
        /** Zephyr: {@code <|user|>} headers, turns ended by EOS. */
        ZEPHYR("zephyr", "<|ROLE|>\\nTEXT</s>\\n"),
        /** Gemma instruct: {@code <start_of_turn>} and {@code <end_of_turn>}, no system role. */
        GEMMA("gemma", "<start_of_turn>user\\nTEXT<end_of_turn>\\n<start_of_turn>model\\n..."),
        /** Phi-3: {@code <|user|>} headers and {@code <|end|>}. */
        PHI3("phi3", "<|ROLE|>\\nTEXT<|end|>\\n"),
        /** Plain continuation: the messages' texts, one per line. */
        NONE("none", "the messages' texts, one per line");

        private final String id, shape;

        ChatTemplate(String id, String shape) {
            this.id = id;
            this.shape = shape;
        }

        /**
         * The name {@code --chat-template} takes (llama.cpp's name for the family where it has one).
         *
         * @return the name, e.g. {@code chatml}
         */
        public String id() { return id; }

        /**
         * One turn of the format, for help texts.
         *
         * @return the turn's shape, ROLE and TEXT standing for a message's
         */
        public String shape() { return shape; }

        /**
         * Every name, in order.
         *
         * @return the names {@link #named} takes
         */
        public static List<String> ids() {
            List<String> ids = new ArrayList<>();
            for (ChatTemplate t : values()) ids.add(t.id);
            return ids;
        }

        /**
         * The family of that name.
         *
         * @param name one of {@link #ids}
         * @return the family
         * @throws UserError for any other name (the message lists the names)
         */
        public static ChatTemplate named(String name) {
            for (ChatTemplate t : values()) if (t.id.equals(name)) return t;
            throw new UserError("unknown chat template " + quote(name) + "; known: " + String.join(", ", ids()));
        }

        /**
         * The family of a tokenizer.chat_template, or null when it is none of them. A family's name is taken as
         * itself (llama.cpp accepts that too); a Jinja template by what it writes: the same substrings llama.cpp
         * tests, except that Zephyr is also recognised by eos_token (zephyr-7b-beta writes its end of turn so)
         * and Phi-4's ChatML variant (with {@code <|im_sep|>}) is not taken for ChatML.
         *
         * @param template the GGUF key's text
         * @return the family, or null
         */
        public static ChatTemplate detect(String template) {
            for (ChatTemplate t : values()) if (t != NONE && t.id.equals(template.strip())) return t;
            if (template.contains("<|im_start|>")) return template.contains("<|im_sep|>") ? null : CHATML;
            if (template.contains("<|start_header_id|>") && template.contains("<|end_header_id|>")) return LLAMA3;
            if (template.contains("[INST]")) return template.contains("<<SYS>>") ? LLAMA2 : MISTRAL;
            if (template.contains("<start_of_turn>")) return GEMMA;
            if (template.contains("<|user|>") || template.contains("<|assistant|>")) {
                if (template.contains("<|end|>")) return PHI3;
                if (template.contains("</s>") || template.contains("eos_token") || template.contains("<|endoftext|>")) return ZEPHYR;
            }
            return null;
        }
    }

    /**
     * A chat template family on a vocabulary: messages to the token ids of a prompt, and the ids that end a reply.
     * The template's own text is encoded with special tokens parsed, so "<|im_start|>" is one id when the
     * vocabulary has it; message contents are encoded as plain text, so that a message cannot forge a turn. Text on
     * both sides of a boundary is encoded as one text, as llama.cpp tokenizes a rendered template.
     *
     * <p>BOS: the families whose templates write it (Llama 3's <|begin_of_text|>, Mistral and Gemma once, Llama 2
     * before every [INST]) always start with it; ChatML, Zephyr and Phi-3 templates do not, and get it when the
     * vocabulary adds one (tokenizer.ggml.add_bos_token), as llama.cpp does. System messages: Llama 2 puts them in
     * <<SYS>> inside the next [INST]; Mistral and Gemma, which have no system role, put them before the next user
     * message's text with a blank line between (llama.cpp's way); the others give them their own turn.
     */
    public static final class ChatFormat {
        private final Tokenizer tokenizer;
        private final ChatTemplate template;
        private final String note;
        private final int[] stopIds;
        /** The end-of-turn text when the vocabulary has no token for it (then a stop string), else null. */
        private final String stopText;

        public ChatFormat(Tokenizer tokenizer, ChatTemplate template) { this(tokenizer, template, null); }

        private ChatFormat(Tokenizer tokenizer, ChatTemplate template, String note) {
            this.tokenizer = tokenizer;
            this.template = Objects.requireNonNull(template, "template");
            String end = endOfTurn();
            List<String> missing = new ArrayList<>();
            for (String s : specialTexts()) if (tokenizer.specialTokenId(s) < 0) missing.add(s);
            if (!missing.isEmpty()) {
                String more = "the vocabulary has no " + String.join(", ", missing) + " token" + (missing.size() > 1 ? "s" : "")
                        + ": the " + template.id() + " template writes " + (missing.size() > 1 ? "them" : "it") + " as text";
                note = note == null ? more : note + "; " + more;
            }
            this.note = note;
            Tokenizers.IntList stops = new Tokenizers.IntList();
            for (int id : tokenizer.stopIds()) stops.add(id);
            for (String s : template == ChatTemplate.LLAMA3 ? List.of("<|eot_id|>", "<|eom_id|>") : end == null ? List.<String>of() : List.of(end)) {
                int id = tokenizer.specialTokenId(s);
                if (id >= 0 && !stops.contains(id)) stops.add(id);
            }
            this.stopIds = stops.toArray();
            this.stopText = end != null && tokenizer.specialTokenId(end) < 0 ? end : null;
        }

        /**
         * The format a model file asks for: {@code chosen} when given; else the family of its tokenizer.chat_template;
         * else, without that key, Llama 3 when the vocabulary has its header tokens and plain continuation otherwise.
         * A template of no known family gives plain continuation and a {@link #note} saying so.
         */
        public static ChatFormat of(GGUF gguf, Tokenizer tokenizer, ChatTemplate chosen) {
            if (chosen != null) return new ChatFormat(tokenizer, chosen, null);
            Object value = gguf.get("tokenizer.chat_template");
            if (value == null) return new ChatFormat(tokenizer, supported(tokenizer) ? ChatTemplate.LLAMA3 : ChatTemplate.NONE, null);
            if (!(value instanceof String text)) {
                throw new UserError(gguf.path() + ": tokenizer.chat_template should be a string, but it is " + gguf.valueTypes().get("tokenizer.chat_template"));
            }
            ChatTemplate detected = ChatTemplate.detect(text);
            if (detected != null) return new ChatFormat(tokenizer, detected, null);
            return new ChatFormat(tokenizer, ChatTemplate.NONE, "the model's chat template (tokenizer.chat_template " + quote(text.strip())
                    + ") is none of the known families (" + String.join(", ", ChatTemplate.ids().subList(0, ChatTemplate.values().length - 1))
                    + "): chat continues the messages' text; --chat-template NAME picks a family");
        }

        /** Whether the vocabulary has the Llama 3 header tokens (the family a file without tokenizer.chat_template gets then). */
        public static boolean supported(Tokenizer t) {
            return t.specialTokenId("<|start_header_id|>") >= 0 && t.specialTokenId("<|end_header_id|>") >= 0
                    && t.specialTokenId("<|eot_id|>") >= 0;
        }

        public ChatTemplate template() { return template; }

        /** What a user should be told about this format (a template of no known family; tokens the vocabulary lacks), or null. */
        public String note() { return note; }

        /** The ids that end a reply: the vocabulary's (EOS, ...) and the family's end-of-turn token. */
        public int[] stopIds() { return stopIds.clone(); }

        /** The end-of-turn text, when the vocabulary has no token for it (so a reply ends on the text), else null. */
        public String stopText() { return stopText; }

        /** The whole prompt: BOS as the family has it, every message, then the assistant's turn opened for generation. */
        public int[] prompt(List<ChatMessage> messages) { return render(messages, true, null); }

        /**
         * The next turn of a conversation whose last reply the model has generated, its last token excluded (that token
         * is run first): the end of the reply's turn, the messages, then the assistant's turn opened; no BOS first. The
         * end of the turn: after a stop token, which stands for the family's end-of-turn token, what the format puts
         * after that token; after a reply that was cut (length, Ctrl-C), the whole end of the turn. All of it is
         * encoded as one text, so that it gives the ids the whole conversation's prompt has there.
         */
        public int[] continuation(List<ChatMessage> messages, boolean stoppedByToken) {
            if (template == ChatTemplate.NONE) return render(messages, false, null);
            return render(messages, false, b -> {
                // Meta's " " before EOS belongs to the answer's text: encoded on its own it would take SentencePiece's
                // space prefix and become two spaces, so a Llama 2 reply cut short is closed by EOS alone.
                if (template == ChatTemplate.LLAMA2) {
                    if (!stoppedByToken) b.token(tokenizer.eosId());
                } else {
                    close(b, !stoppedByToken);
                }
            });
        }

        /** The family's end-of-turn special text, or null where it is EOS (or there is none). */
        private String endOfTurn() {
            return switch (template) {
                case LLAMA3 -> "<|eot_id|>";
                case CHATML -> "<|im_end|>";
                case GEMMA -> "<end_of_turn>";
                case PHI3 -> "<|end|>";
                case LLAMA2, MISTRAL, ZEPHYR, NONE -> null;
            };
        }

        /** The special tokens the family's text is made of (Llama 2, Mistral and Zephyr write theirs as text, and BOS/EOS by id). */
        private List<String> specialTexts() {
            return switch (template) {
                case LLAMA3 -> List.of("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>");
                case CHATML -> List.of("<|im_start|>", "<|im_end|>");
                case GEMMA -> List.of("<start_of_turn>", "<end_of_turn>");
                case PHI3 -> List.of("<|user|>", "<|assistant|>", "<|end|>");
                case LLAMA2, MISTRAL, ZEPHYR, NONE -> List.of();
            };
        }

        private int[] render(List<ChatMessage> messages, boolean start, java.util.function.Consumer<Builder> before) {
            if (template == ChatTemplate.NONE) {
                StringBuilder text = new StringBuilder();
                for (ChatMessage m : messages) text.append(text.isEmpty() ? "" : "\n").append(m.content());
                return withBos(tokenizer, tokenizer.encode(text.toString()), start);
            }
            Builder b = new Builder();
            if (before != null) before.accept(b);
            if (start) {
                switch (template) {
                    case LLAMA3 -> {
                        int bot = tokenizer.specialTokenId("<|begin_of_text|>");
                        b.token(bot >= 0 ? bot : tokenizer.bosId());
                    }
                    case MISTRAL, GEMMA -> b.token(tokenizer.bosId());
                    case CHATML, ZEPHYR, PHI3 -> { if (tokenizer.addBos()) b.token(tokenizer.bosId()); }
                    case LLAMA2, NONE -> {} // Llama 2: every user turn starts with BOS
                }
            }
            boolean systemInUserTurn = template == ChatTemplate.LLAMA2 || template == ChatTemplate.MISTRAL || template == ChatTemplate.GEMMA;
            String system = null;
            for (ChatMessage m : messages) {
                if (systemInUserTurn && m.role().equals("system")) {
                    system = system == null ? m.content() : system + "\n\n" + m.content();
                } else if (systemInUserTurn && m.role().equals("user")) {
                    userTurn(b, system, m.content());
                    system = null;
                } else {
                    b.template(header(m.role()));
                    b.content(strips() ? m.content().strip() : m.content());
                    close(b, true);
                }
            }
            // A system message with no user message after it still reaches the model, in a turn of its own.
            if (system != null) userTurn(b, system, "");
            switch (template) {
                case LLAMA2, MISTRAL -> {} // the user turn's [/INST] is where the reply starts
                default -> b.template(header("assistant"));
            }
            return b.ids();
        }

        /** Llama 3, Llama 2 and Gemma trim every message (their templates' strip() and trim); the others keep it as it is. */
        private boolean strips() {
            return template == ChatTemplate.LLAMA3 || template == ChatTemplate.LLAMA2 || template == ChatTemplate.GEMMA;
        }

        /** A user turn of the families whose system text goes inside it. */
        private void userTurn(Builder b, String system, String user) {
            switch (template) {
                case LLAMA2 -> {
                    b.token(tokenizer.bosId());
                    b.template("[INST] ");
                    if (system != null) {
                        b.template("<<SYS>>\n");
                        b.content(system.strip());
                        b.template("\n<</SYS>>\n\n");
                    }
                    b.content(user.strip());
                    b.template(" [/INST]");
                }
                case MISTRAL -> {
                    b.template("[INST] ");
                    if (system != null) {
                        b.content(system);
                        b.template("\n\n");
                    }
                    b.content(user);
                    b.template(" [/INST]");
                }
                case GEMMA -> {
                    b.template(header("user"));
                    if (system != null) {
                        b.content(system.strip());
                        b.template("\n\n");
                    }
                    b.content(user.strip());
                    close(b, true);
                }
                default -> throw new IllegalStateException(template + " gives system messages their own turn");
            }
        }

        /** What opens a message of the role (Llama 2 and Mistral: an assistant's; their user turns are {@link #userTurn}). */
        private String header(String role) {
            return switch (template) {
                case LLAMA3 -> "<|start_header_id|>" + role + "<|end_header_id|>\n\n";
                case LLAMA2 -> " ";
                case MISTRAL, NONE -> "";
                case CHATML -> "<|im_start|>" + role + "\n";
                case ZEPHYR, PHI3 -> "<|" + role + "|>\n";
                case GEMMA -> "<start_of_turn>" + (role.equals("assistant") ? "model" : role) + "\n";
            };
        }

        /** The end of a message: whole, or only what follows the end-of-turn token (when the reply's stop token stands for it). */
        private void close(Builder b, boolean whole) {
            switch (template) {
                case LLAMA3, CHATML, GEMMA, PHI3 -> { if (whole) b.template(endOfTurn()); }
                case LLAMA2 -> {
                    if (whole) {
                        b.template(" ");
                        b.token(tokenizer.eosId());
                    }
                }
                case MISTRAL, ZEPHYR -> { if (whole) b.token(tokenizer.eosId()); }
                case NONE -> {}
            }
            if (template == ChatTemplate.CHATML || template == ChatTemplate.ZEPHYR || template == ChatTemplate.GEMMA || template == ChatTemplate.PHI3) {
                b.template("\n");
            }
        }

        /** Ids and segments in order; a run of segments is encoded as one text when an id or the end follows. */
        private final class Builder {
            private final Tokenizers.IntList ids = new Tokenizers.IntList();
            private final List<Tokenizer.Segment> run = new ArrayList<>();

            void token(int id) {
                flush();
                if (id >= 0) ids.add(id);
            }

            void template(String text) { if (!text.isEmpty()) run.add(new Tokenizer.Segment(text, true)); }

            void content(String text) { if (!text.isEmpty()) run.add(new Tokenizer.Segment(text, false)); }

            private void flush() {
                if (run.isEmpty()) return;
                ids.addAll(tokenizer.encode(run));
                run.clear();
            }

            int[] ids() {
                flush();
                return ids.toArray();
            }
        }
    }

    static int[] toArray(List<Integer> ids) {
        int[] a = new int[ids.size()];
        for (int i = 0; i < a.length; i++) a[i] = ids.get(i);
        return a;
    }

    // =====================================================================================
    // 9. Java API: what a program does with a model, in three calls. The CLI below is one such program.
    //      import io.github.tokenbutler.runtime.Llama3.Generator;  (and GenerationParams, Completion, ChatMessage)
    //      try (Generator g = Generator.open(Path.of("M.gguf"))) {
    //          Completion c = g.generate("Once upon a time", GenerationParams.greedy(64), System.out::print);
    //      }
    //    The types stay nested in Llama3 so that the runtime remains one file that jbang runs (vendor/README.md).
    // =====================================================================================

    /**
     * How to generate: how many tokens, how to sample them, when to stop. Immutable; build one with
     * {@link #greedy(int)} and the {@code with...} methods, each of which returns a copy with one aspect changed:
     * <pre>{@code
     * GenerationParams p = GenerationParams.greedy(200)
     *         .withSampling(0.8f, 0.95f, 42)      // temperature, top-p, seed
     *         .withStop("\n\n")                   // end at the first blank line
     *         .withCancel(() -> clientGone);      // asked after every token
     * }</pre>
     * Every value is checked when the record is made: a bad one is a {@link UserError} naming it, the value
     * expected and the value given (nothing is clamped). The sampling is that of the CLI ({@code ./tokenbutler run}):
     * the same model, prompt, temperature, top-p, repeat penalty and seed give the same text as its
     * {@code --temp}, {@code --top-p}, {@code --repeat-penalty} and {@code --seed} options, on the same machine
     * (the vector kernels' order of additions follows the CPU's vector width). Safe to share between threads.
     *
     * @param maxTokens     the most tokens to generate, at least 1; generation also ends when the context is full
     * @param temperature   0 for greedy decoding (always the most likely token), else the softmax temperature (&gt; 0)
     * @param topP          nucleus sampling: sample only among the most likely tokens whose probabilities add up to
     *                      more than topP, in (0, 1]; 1 samples among all tokens. Unused when temperature is 0
     * @param seed          the seed of the sampler's random numbers: the same seed gives the same text. Unused when
     *                      temperature is 0
     * @param repeatPenalty llama.cpp's repeat penalty: the logit of each token among the last repeatLastN (prompt
     *                      included) is divided by it when positive and multiplied by it when negative; 1 is off,
     *                      must be &gt; 0
     * @param repeatLastN   how many of the latest tokens the repeat penalty looks at, at least 0
     * @param stop          strings that end the generation as soon as the text contains one; the text ends before
     *                      it, and no part of it is ever passed to the callback. None may be empty
     * @param cancel        asked after every generated token; true ends the generation with finish
     *                      {@code "cancelled"} (a client that went away, Ctrl-C, a deadline). Called on the
     *                      generating thread; it may read state that other threads set
     */
    public record GenerationParams(int maxTokens, float temperature, float topP, long seed, float repeatPenalty, int repeatLastN,
                                   List<String> stop, java.util.function.BooleanSupplier cancel) {
        /**
         * Checks every value (see the record's description).
         *
         * @throws UserError for a value out of its range, an empty stop string or a null element of stop
         * @throws NullPointerException when stop or cancel is null
         */
        public GenerationParams {
            if (maxTokens < 1) throw new UserError("maxTokens must be at least 1, got " + maxTokens);
            // The sampler checks these too, but only when a generation starts: say so where the value is given.
            if (!(temperature >= 0f) || Float.isInfinite(temperature)) throw new UserError("temperature must be a number >= 0, got " + temperature);
            if (!(topP > 0f && topP <= 1f)) throw new UserError("topP must be in (0, 1], got " + topP);
            if (!(repeatPenalty > 0f) || Float.isInfinite(repeatPenalty)) throw new UserError("repeatPenalty must be a number > 0 (1 = off), got " + repeatPenalty);
            if (repeatLastN < 0) throw new UserError("repeatLastN must be >= 0, got " + repeatLastN);
            Objects.requireNonNull(stop, "stop");
            for (String s : stop) if (s == null || s.isEmpty()) throw new UserError("a stop string must not be empty, got " + (s == null ? "null" : "\"\""));
            stop = List.copyOf(stop);
            Objects.requireNonNull(cancel, "cancel");
        }

        /**
         * Greedy decoding (temperature 0: always the most likely token) of at most maxTokens tokens, no repeat
         * penalty, no stop strings, never cancelled.
         *
         * @param maxTokens the most tokens to generate, at least 1
         * @return the parameters
         * @throws UserError when maxTokens is below 1
         */
        public static GenerationParams greedy(int maxTokens) { return new GenerationParams(maxTokens, 0f, 1f, 0, 1f, 64, List.of(), () -> false); }

        /**
         * These parameters with another token limit.
         *
         * @param maxTokens the most tokens to generate, at least 1
         * @return a copy with maxTokens replaced
         * @throws UserError when maxTokens is below 1
         */
        public GenerationParams withMaxTokens(int maxTokens) {
            return new GenerationParams(maxTokens, temperature, topP, seed, repeatPenalty, repeatLastN, stop, cancel);
        }

        /**
         * These parameters with stop strings (replacing any given before): the generation ends as soon as the text
         * contains one of them, and the text returned and streamed ends just before it.
         *
         * @param strings the stop strings, none empty; none at all turns stop strings off
         * @return a copy with stop replaced
         * @throws UserError when a string is empty or null
         */
        public GenerationParams withStop(String... strings) {
            return new GenerationParams(maxTokens, temperature, topP, seed, repeatPenalty, repeatLastN, Arrays.asList(strings), cancel);
        }

        /**
         * These parameters with random sampling: the same seed gives the same text.
         *
         * @param temperature 0 for greedy decoding, else the softmax temperature
         * @param topP        the nucleus, in (0, 1]; 1 samples among all tokens
         * @param seed        the sampler's random seed
         * @return a copy with temperature, topP and seed replaced
         * @throws UserError when temperature is negative or not finite, or topP is outside (0, 1]
         */
        public GenerationParams withSampling(float temperature, float topP, long seed) {
            return new GenerationParams(maxTokens, temperature, topP, seed, repeatPenalty, repeatLastN, stop, cancel);
        }

        /**
         * These parameters with llama.cpp's repeat penalty.
         *
         * @param repeatPenalty the divisor of the recent tokens' positive logits (the factor of negative ones), &gt; 0;
         *                      1 is off
         * @param repeatLastN   how many of the latest tokens it looks at, at least 0
         * @return a copy with repeatPenalty and repeatLastN replaced
         * @throws UserError when repeatPenalty is not a number &gt; 0 or repeatLastN is negative
         */
        public GenerationParams withRepeatPenalty(float repeatPenalty, int repeatLastN) {
            return new GenerationParams(maxTokens, temperature, topP, seed, repeatPenalty, repeatLastN, stop, cancel);
        }

        /**
         * These parameters with a cancellation check: it is asked after every generated token, and true ends the
         * generation there (finish {@code "cancelled"}; the text so far is returned).
         *
         * @param cancel asked on the generating thread after every token
         * @return a copy with cancel replaced
         * @throws NullPointerException when cancel is null
         */
        public GenerationParams withCancel(java.util.function.BooleanSupplier cancel) {
            return new GenerationParams(maxTokens, temperature, topP, seed, repeatPenalty, repeatLastN, stop, cancel);
        }
    }

    /**
     * One message of a conversation, for {@link Generator#chat}. Immutable.
     *
     * @param role    who says it: {@code "system"}, {@code "user"} or {@code "assistant"}
     * @param content what is said
     */
    public record ChatMessage(String role, String content) {
        /**
         * Checks the role.
         *
         * @throws UserError when role is not system, user or assistant
         * @throws NullPointerException when content is null
         */
        public ChatMessage {
            if (!List.of("system", "user", "assistant").contains(role)) throw new UserError("chat role must be system, user or assistant, got '" + role + "'");
            Objects.requireNonNull(content, "content");
        }
    }

    /**
     * What a generation produced, with its speed. Immutable.
     *
     * @param text                    the generated text (the prompt not included; a stop string not included)
     * @param promptTokens            the tokens run before the first new one: the prompt's, BOS and chat template
     *                                tokens included
     * @param generatedTokens         the tokens generated; an end-of-turn token that ended the text is not counted
     * @param finish                  why it ended: {@code "stop"} (the model's end-of-sequence or end-of-turn token, or a
     *                                stop string), {@code "length"} (maxTokens, or the context is full) or
     *                                {@code "cancelled"} (the cancel check said so)
     * @param prefillTokensPerSecond  the prompt's tokens per second of the prefill (all prompt tokens in batches)
     * @param decodeTokensPerSecond   generated tokens per second after the prefill: one forward pass each; the
     *                                figure {@code ./tokenbutler run} prints as "decode"
     */
    public record Completion(String text, int promptTokens, int generatedTokens, String finish,
                             double prefillTokensPerSecond, double decodeTokensPerSecond) {}

    /**
     * A model loaded with its attention, ready to generate: the entry point of the Java API.
     * <pre>{@code
     * try (Generator g = Generator.open(Path.of("M.gguf"), "tokenbutler",
     *         Map.of("predictor", "M.butler.gguf", "sparsity", "0.5"), LoadOptions.defaults())) {
     *     Completion c = g.generate("Once upon a time", GenerationParams.greedy(200), System.out::print);
     * }
     * }</pre>
     * Each call of {@link #generate} or {@link #chat} is a new sequence: it starts from an empty KV cache and keeps
     * nothing afterwards (a conversation passes all its messages again). The JVM needs
     * {@code --add-modules jdk.incubator.vector} (without it {@link #open} says so in a {@link UserError}) and, to
     * avoid a warning when the model file is mapped, {@code --enable-native-access=ALL-UNNAMED}.
     *
     * <p>Not thread-safe: one generation at a time (a server queues its requests on one generator, or opens
     * several). {@link #promptTokens}, {@link #chatPromptTokens}, {@link #contextLength} and
     * {@link #hasChatTemplate} may be called from other threads while a generation runs. The matrix products of
     * one generation run on a shared pool of {@code -Dtokenbutler.threads=N} threads (default: all processors).
     * Close it to unmap the model file; a generator must not be used after {@link #close}.
     */
    public static final class Generator implements AutoCloseable {
        private final Model model;
        private final AttentionHook.Attention attention;
        private final Tokenizer tokenizer;
        private final ChatFormat chatFormat;

        private Generator(Model model, AttentionHook.Attention attention, ChatFormat chatFormat) {
            this.model = model;
            this.attention = attention;
            this.tokenizer = model.tokenizer();
            this.chatFormat = chatFormat;
        }

        /**
         * Loads a model with dense attention and its own context length ({@code llama.context_length}).
         *
         * @param modelFile a GGUF file of the llama architecture
         * @return the generator; close it when done
         * @throws UserError when the file is missing, unreadable or not a model this runtime can run, or the JVM
         *                   lacks the Vector API module
         */
        public static Generator open(Path modelFile) { return open(modelFile, "dense", Map.of(), LoadOptions.defaults()); }

        /**
         * Loads a model with an attention implementation: {@code "dense"} (built in) or the name of a hook found on
         * the class path through {@link java.util.ServiceLoader}, e.g. {@code "tokenbutler"} when the
         * tokenbutler-plugin jar is there. The options are the hook's {@code --attention-opt KEY=VALUE} pairs of
         * the CLI (the TokenButler plugin's: {@code predictor}, {@code sparsity}, {@code backend}, ...).
         *
         * @param modelFile a GGUF file of the llama architecture
         * @param attention the attention's name
         * @param options   the attention's options (empty for dense)
         * @param load      the context length and KV cache types ({@link LoadOptions#defaults()}: the model's
         *                  context, f16 keys and values)
         * @return the generator; close it when done
         * @throws UserError for an unknown attention name (the message lists those available), an option the
         *                   hook rejects, a model file that is missing or cannot be run, or a JVM without the
         *                   Vector API module
         */
        public static Generator open(Path modelFile, String attention, Map<String, String> options, LoadOptions load) {
            return open(modelFile, attention, options, load, null);
        }

        /**
         * {@link #open(Path, String, Map, LoadOptions)} with the chat template family {@link #chat} uses.
         *
         * @param modelFile    the GGUF model file
         * @param attention    the attention hook's name ({@code dense} is built in)
         * @param options      the hook's options, KEY to VALUE (as {@code --attention-opt KEY=VALUE})
         * @param load         the context length and KV cache types
         * @param chatTemplate null takes the file's (tokenizer.chat_template, else Llama 3 when the vocabulary has its
         *                     tokens, else plain continuation); {@code ChatTemplate.named("chatml")} picks one by name
         * @return the generator; close it when done
         * @throws UserError as {@link #open(Path, String, Map, LoadOptions)} does
         */
        public static Generator open(Path modelFile, String attention, Map<String, String> options, LoadOptions load, ChatTemplate chatTemplate) {
            requireVectorModule();
            AttentionHook hook = findAttentionHook(attention);
            Model model = Model.load(modelFile, load);
            try {
                ChatFormat format = ChatFormat.of(model.info().gguf(), model.tokenizer(), chatTemplate);
                return new Generator(model, hook.open(model.info(), options), format);
            } catch (RuntimeException e) {
                model.close();
                throw e;
            }
        }

        /**
         * The loaded model, for what this class does not say: its {@link ModelConfig}, tokenizer and GGUF metadata.
         *
         * @return the model; closed with this generator
         */
        public Model model() { return model; }

        /**
         * Whether {@link #chat} formats messages with a chat template, or continues their text instead.
         *
         * @return true unless the family is {@code NONE}
         */
        public boolean hasChatTemplate() { return chatFormat.template() != ChatTemplate.NONE; }

        /**
         * The chat template family {@link #chat} uses.
         *
         * @return the family ({@code NONE}: plain continuation)
         */
        public ChatTemplate chatTemplate() { return chatFormat.template(); }

        /**
         * What a user should be told about the chat template: a template of no known family (chat then continues the
         * text), special tokens the vocabulary lacks. A server logs it once.
         *
         * @return the note, or null when there is nothing to say
         */
        public String chatTemplateNote() { return chatFormat.note(); }

        /**
         * The context the model was loaded with: prompt and generated tokens together fit in it.
         *
         * @return the context length in tokens
         */
        public int contextLength() { return model.config().contextLength(); }

        /**
         * Continues a prompt: its tokens (BOS first, when the model's tokenizer adds one), then generated tokens
         * until the model ends the text, {@code params.maxTokens()}, a stop string, the cancel check or the end of
         * the context. Gives the text the CLI prints for the same prompt and parameters (the CLI adds a line end).
         *
         * @param prompt  the text to continue; may be empty when the model adds a BOS token
         * @param params  how to generate
         * @param onToken receives the generated text as it is decoded, piece by piece, on the calling thread:
         *                never half a UTF-8 character, never any part of a stop string; together the pieces are
         *                {@link Completion#text()}
         * @return the text, token counts, why it ended and its speed
         * @throws UserError when the prompt does not fit in the context or is empty without a BOS token
         */
        public Completion generate(String prompt, GenerationParams params, java.util.function.Consumer<String> onToken) {
            return run(promptIds(prompt), params, onToken, tokenizer.stopIds());
        }

        /**
         * The assistant's reply to a conversation, formatted with the model's chat template family
         * ({@link #chatTemplate}), or without one continued as plain text, one message per line (so one user message
         * gives generate's text for its content). The reply ends at the family's end-of-turn token (or its text, where
         * the vocabulary has no such token) or EOS.
         *
         * @param messages the conversation so far, at least one message, oldest first
         * @param params   how to generate
         * @param onToken  receives the reply as it is decoded (as for {@link #generate})
         * @return the reply, token counts, why it ended and its speed
         * @throws UserError when there are no messages or they do not fit in the context
         */
        public Completion chat(List<ChatMessage> messages, GenerationParams params, java.util.function.Consumer<String> onToken) {
            GenerationParams p = params;
            if (chatFormat.stopText() != null) {
                List<String> stop = new ArrayList<>(params.stop());
                if (!stop.contains(chatFormat.stopText())) stop.add(chatFormat.stopText());
                p = params.withStop(stop.toArray(new String[0]));
            }
            return run(chatIds(messages), p, onToken, chatFormat.stopIds());
        }

        /**
         * How many tokens {@link #generate} runs before its first new one, so that a caller (a server) can refuse a
         * prompt the context cannot hold before it waits for the model. Safe beside a running generation (the
         * tokenizers' caches are synchronized; nothing else here changes).
         *
         * @param prompt the text generate would continue
         * @return its token count, BOS included
         */
        public int promptTokens(String prompt) { return promptIds(prompt).length; }

        /**
         * How many tokens {@link #chat} runs before its first new one (template tokens included). Safe beside a
         * running generation, as {@link #promptTokens} is.
         *
         * @param messages the conversation chat would answer
         * @return its token count
         * @throws UserError when there are no messages
         */
        public int chatPromptTokens(List<ChatMessage> messages) { return chatIds(messages).length; }

        /**
         * The token ids {@link #chat} runs for messages.
         *
         * @param messages the conversation chat would answer
         * @return the ids, BOS and the template's tokens included
         * @throws UserError when there are no messages
         */
        public int[] chatPromptIds(List<ChatMessage> messages) { return chatIds(messages); }

        private int[] promptIds(String prompt) { return withBos(tokenizer, tokenizer.encode(prompt), true); }

        private int[] chatIds(List<ChatMessage> messages) {
            if (messages.isEmpty()) throw new UserError("chat needs at least one message");
            return chatFormat.prompt(messages);
        }

        private Completion run(int[] prompt, GenerationParams p, java.util.function.Consumer<String> onToken, int[] stopIds) {
            int context = model.config().contextLength();
            if (prompt.length == 0) throw new UserError("the prompt is empty and the model adds no BOS token");
            if (prompt.length >= context) {
                throw new UserError("the prompt is " + prompt.length + " tokens but the context holds " + context + " (load with a larger context)");
            }
            Sampler sampler = new Sampler(p.temperature(), p.topP(), p.seed(), p.repeatPenalty(), p.repeatLastN());
            State state = model.newState(attention);
            Utf8 decoder = new Utf8();
            StringBuilder text = new StringBuilder();
            int longest = longest(p.stop());
            int[] emitted = {0};
            boolean[] stopString = {false};
            Generated g = Llama3.generate(model, state, prompt, 0, p.maxTokens(), sampler, stopIds, (previous, token) -> {
                if (stopString[0]) return;
                int before = text.length();
                text.append(decoder.append(tokenizer.tokenBytes(previous, token)));
                // Only a stop string that ends in the new text can be new: search from where one could start.
                int cut = firstStop(text, p.stop(), Math.max(0, before - longest + 1));
                if (cut >= 0) {
                    text.setLength(cut);
                    stopString[0] = true;
                }
                // Hold back what could still become a stop string, so that none of it is ever shown.
                int safe = stopString[0] ? text.length() : Math.max(emitted[0], text.length() - longest + 1);
                if (safe > emitted[0]) {
                    onToken.accept(text.substring(emitted[0], safe));
                    emitted[0] = safe;
                }
            }, () -> stopString[0] || p.cancel().getAsBoolean());
            String result = text.toString();
            if (result.length() > emitted[0]) onToken.accept(result.substring(emitted[0]));
            String finish = g.stoppedByToken() || stopString[0] ? "stop" : p.cancel().getAsBoolean() ? "cancelled" : "length";
            return new Completion(result, prompt.length, g.tokens().length, finish,
                    g.prefillTokens() / Math.max(1e-9, g.prefillNanos() / 1e9), g.decodeSteps() / Math.max(1e-9, g.decodeNanos() / 1e9));
        }

        /** Where the first stop string starts at or after from, or -1. */
        private static int firstStop(StringBuilder text, List<String> stops, int from) {
            int best = -1;
            for (String s : stops) {
                int i = text.indexOf(s, from);
                if (i >= 0 && (best < 0 || i < best)) best = i;
            }
            return best;
        }

        private static int longest(List<String> stops) {
            int n = 1;
            for (String s : stops) n = Math.max(n, s.length());
            return n;
        }

        /** Closes the attention (its per-state resources, e.g. OpenCL buffers) and unmaps the model file. */
        @Override public void close() {
            try (model) {
                attention.close();
            }
        }
    }

    /** UTF-8 decoding of a byte stream that may end inside a character (a token can hold part of one). */
    static final class Utf8 {
        /** The bytes of a character not complete yet (at most 3). */
        private byte[] pending = new byte[0];

        /** The text that the bytes so far complete; an unfinished last character waits for the next call. */
        String append(byte[] b) {
            byte[] all = new byte[pending.length + b.length];
            System.arraycopy(pending, 0, all, 0, pending.length);
            System.arraycopy(b, 0, all, pending.length, b.length);
            int end = completeLength(all);
            pending = java.util.Arrays.copyOfRange(all, end, all.length);
            return new String(all, 0, end, StandardCharsets.UTF_8);
        }

        /** The text of bytes up to the last complete character. */
        static String completePrefix(byte[] b) { return new String(b, 0, completeLength(b), StandardCharsets.UTF_8); }

        /** How many leading bytes end on a character boundary: all but an unfinished last character. */
        static int completeLength(byte[] b) {
            int end = b.length, i = end - 1, back = 0;
            while (i >= 0 && back < 3 && (b[i] & 0xC0) == 0x80) { i--; back++; }
            if (i >= 0) {
                int lead = b[i] & 0xFF, need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
                if (end - i < need) end = i;
            }
            return end;
        }
    }

    // =====================================================================================
    // 10. CLI. Generated text goes to stdout alone; speed and errors go to stderr.
    // =====================================================================================

    static final String USAGE = """
            usage: jbang vendor/Llama3.java --model FILE [options]      (or: ./tokenbutler run --model FILE [options])
              -m, --model FILE       GGUF model file (llama architecture)
              -p, --prompt TEXT      the prompt (default: empty; without a chat template generation then starts from BOS alone)
              -sys, --system-prompt TEXT   system message (models with a chat template)
              --chat                 interactive chat: one message per line on stdin, Ctrl-D ends
              --chat-template NAME   the chat template family instead of the model's (tokenizer.chat_template, or
                                     Llama 3 when the vocabulary has its tokens): llama3, llama2, mistral, chatml,
                                     zephyr, gemma, phi3, or none (plain continuation)
              --verbose-prompt       print the prompt's tokens (id and piece) to stderr before generating
              -n, --max-tokens N     tokens to generate (default: until an end-of-sequence token or the context is full)
              --temp, --temperature T   sampling temperature, 0 = greedy (default 0.1)
              --top-p P              nucleus sampling threshold in (0, 1] (default 0.95)
              --repeat-penalty P     divide the logits of the last --repeat-last-n tokens by P (llama.cpp's; default 1 = off)
              --repeat-last-n N      tokens the repeat penalty looks back over (default 64)
              -s, --seed N           random seed (default: from the clock)
              -c, --context N        context length in tokens (also --ctx-size; default: the model's llama.context_length);
                                     the KV cache grows as tokens arrive, so a large context costs memory only when used
              -ctk, --cache-type-k T KV cache type of the keys: f32, f16 (default) or q8_0 (llama.cpp's names)
              -ctv, --cache-type-v T KV cache type of the values: f32, f16 (default) or q8_0
              -t, --threads N        threads for the matmuls and attention (default: all processors; also -Dtokenbutler.threads=N)
              --no-stream            print the text at the end instead of token by token as it is generated
              --check-tensors        scan every weight for NaN and Inf before generating (llama.cpp's flag; without it
                                     the norms are checked at load and the logits at every step)
              --attention NAME       attention implementation (default: dense, or -Dtokenbutler.attention=NAME)
              --attention-opt K=V    an option of the attention (repeatable; also -Dtokenbutler.attention.K=V)
              --help                 this text
            Generated text goes to stdout alone; prefill and decode speed go to stderr.
            System properties: -Dtokenbutler.threads=N (default: all processors), -Dtokenbutler.vector=false (scalar kernels).
            """;

    /** The parsed command line. */
    static final class CliOptions {
        Path model;
        String prompt;
        String systemPrompt;
        boolean chat, stream = true, help, checkTensors, verbosePrompt;
        /** --chat-template, or null for the model's own. */
        ChatTemplate chatTemplate;
        /** The options that take a value, so that an unknown one is named as unknown rather than as missing its value. */
        static final List<String> VALUED = List.of("--model", "--prompt", "--system-prompt", "--max-tokens", "--temperature", "--top-p",
                "--seed", "--context", "-t", "--threads", "-ctk", "--cache-type-k", "-ctv", "--cache-type-v", "--attention", "--attention-opt",
                "--repeat-penalty", "--repeat-last-n", "--chat-template");
        /** llama.cpp's names (llama-cli) for the same options. */
        static final Map<String, String> ALIASES = Map.of("-m", "--model", "-p", "--prompt", "-n", "--max-tokens", "--n-predict", "--max-tokens",
                "-c", "--context", "--ctx-size", "--context", "-s", "--seed", "--temp", "--temperature", "-sys", "--system-prompt");
        int maxTokens = Integer.MAX_VALUE;
        float temperature = 0.1f, topP = 0.95f, repeatPenalty = 1f;
        int repeatLastN = 64;
        long seed = System.nanoTime();
        int context, threads;
        KvType keyType = KvType.F16, valueType = KvType.F16;
        String attention = System.getProperty("tokenbutler.attention", "dense");
        final List<String> attentionOptions = new ArrayList<>();

        static CliOptions parse(String[] args) {
            CliOptions o = new CliOptions();
            for (int i = 0; i < args.length; i++) {
                String arg = args[i], name = arg, inline = null;
                int eq = arg.indexOf('=');
                if (arg.startsWith("--") && eq > 0) {
                    name = arg.substring(0, eq);
                    inline = arg.substring(eq + 1);
                }
                name = ALIASES.getOrDefault(name, name);
                switch (name) {
                    case "--help", "-h" -> o.help = true;
                    case "--chat" -> o.chat = flag(name, inline);
                    case "--stream" -> o.stream = flag(name, inline);
                    case "--no-stream" -> o.stream = !flag(name, inline);
                    case "--check-tensors" -> o.checkTensors = flag(name, inline);
                    case "--verbose-prompt" -> o.verbosePrompt = flag(name, inline);
                    default -> {
                        String value = inline;
                        if (!VALUED.contains(name)) {
                            if (!name.startsWith("-")) throw new UserError("unexpected argument '" + arg + "' (options start with --; see --help)");
                            throw new UserError("unknown option '" + name + "' (see --help)");
                        }
                        if (value == null) {
                            if (i + 1 >= args.length) throw new UserError("option " + name + " needs a value");
                            value = args[++i];
                        }
                        o.set(name, value);
                    }
                }
            }
            if (!o.help && o.model == null) throw new UserError("option --model is required (see --help)");
            return o;
        }

        private static boolean flag(String name, String inline) {
            if (inline != null) throw new UserError("option " + name + " takes no value, got '" + inline + "'");
            return true;
        }

        private void set(String name, String value) {
            switch (name) {
                case "--model" -> model = Path.of(value);
                case "--prompt" -> prompt = value;
                case "--system-prompt" -> systemPrompt = value;
                case "--chat-template" -> {
                    try {
                        chatTemplate = ChatTemplate.named(value);
                    } catch (UserError e) {
                        throw new UserError("option --chat-template: " + e.getMessage());
                    }
                }
                case "--max-tokens" -> maxTokens = integer(name, value, 1, Integer.MAX_VALUE);
                case "--temperature" -> temperature = number(name, value, 0f, Float.MAX_VALUE, "a number >= 0");
                case "--top-p" -> {
                    topP = number(name, value, Float.MIN_VALUE, 1f, "a number in (0, 1]");
                }
                case "--seed" -> {
                    try {
                        seed = Long.parseLong(value.trim());
                    } catch (NumberFormatException e) {
                        throw new UserError("option --seed expects an integer, got '" + value + "'");
                    }
                }
                case "--context" -> context = integer(name, value, 1, 1 << 30);
                // More threads than this only cost memory and start-up time (each is a stack and a spinning worker).
                case "-t", "--threads" -> threads = integer(name, value, 1, 1024);
                case "-ctk", "--cache-type-k" -> keyType = KvType.parse(name, value);
                case "-ctv", "--cache-type-v" -> valueType = KvType.parse(name, value);
                case "--repeat-penalty" -> repeatPenalty = number(name, value, Float.MIN_VALUE, Float.MAX_VALUE, "a number > 0 (1 = off)");
                case "--repeat-last-n" -> repeatLastN = integer(name, value, 0, 1 << 30);
                case "--attention" -> attention = value;
                case "--attention-opt" -> {
                    if (value.indexOf('=') <= 0) throw new UserError("option --attention-opt expects KEY=VALUE, got '" + value + "'");
                    attentionOptions.add(value);
                }
                default -> throw new UserError("unknown option '" + name + "' (see --help)");
            }
        }

        private static int integer(String name, String value, int min, int max) {
            long v;
            try {
                v = Long.parseLong(value.trim());
            } catch (NumberFormatException e) {
                throw new UserError("option " + name + " expects an integer from " + min + " to " + max + ", got '" + value + "'");
            }
            if (v < min || v > max) throw new UserError("option " + name + " expects an integer from " + min + " to " + max + ", got " + v);
            return (int) v;
        }

        private static float number(String name, String value, float min, float max, String expected) {
            float v;
            try {
                v = Float.parseFloat(value.trim());
            } catch (NumberFormatException e) {
                throw new UserError("option " + name + " expects " + expected + ", got '" + value + "'");
            }
            if (!(v >= min && v <= max)) throw new UserError("option " + name + " expects " + expected + ", got " + value);
            return v;
        }
    }

    /**
     * Ctrl-C in chat, as llama-cli does it: during a reply it ends the reply (the conversation goes on); at the
     * prompt it ends the program (exit 130). SIGINT through sun.misc.Signal, the JDK's only way to catch it; where
     * that is unavailable Ctrl-C keeps its default (ending the program).
     */
    static final class ReplyInterrupt {
        private final java.util.concurrent.atomic.AtomicBoolean replying = new java.util.concurrent.atomic.AtomicBoolean(),
                stop = new java.util.concurrent.atomic.AtomicBoolean();

        static ReplyInterrupt install(PrintStream err) {
            ReplyInterrupt r = new ReplyInterrupt();
            try {
                sun.misc.Signal.handle(new sun.misc.Signal("INT"), signal -> {
                    if (r.replying.get()) {
                        r.stop.set(true);
                    } else {
                        err.println();
                        err.flush();
                        System.exit(130);
                    }
                });
            } catch (IllegalArgumentException | UnsupportedOperationException | LinkageError e) {
                // No signal handling here (another JVM, or the signal is reserved): Ctrl-C ends the program.
            }
            return r;
        }

        void replying(boolean on) {
            stop.set(false);
            replying.set(on);
        }

        /** Whether Ctrl-C asked the current reply to end. */
        boolean takeStop() { return stop.get(); }
    }

    /** What one generate call did. */
    record Generated(int[] tokens, int lastSampled, boolean stoppedByToken, int nextPos,
                     int prefillTokens, long prefillNanos, int decodeSteps, long decodeNanos) {}

    /** Receives each generated token as it is sampled. */
    @FunctionalInterface
    interface TokenSink { void accept(int previous, int token); }

    /**
     * Runs the prompt at startPos, then samples until a stop token, maxTokens generated tokens, or the
     * context is full. The last sampled token is not run through the model (the next turn starts with it).
     */
    static Generated generate(Model model, State state, int[] prompt, int startPos, int maxTokens, Sampler sampler,
                              int[] stopIds, TokenSink sink) {
        return generate(model, state, prompt, startPos, maxTokens, sampler, stopIds, sink, () -> false);
    }

    /** {@link #generate} that also ends, after the current token, when stop says so (Ctrl-C in chat). */
    static Generated generate(Model model, State state, int[] prompt, int startPos, int maxTokens, Sampler sampler,
                              int[] stopIds, TokenSink sink, java.util.function.BooleanSupplier stop) {
        int context = model.config().contextLength();
        long t0 = System.nanoTime();
        float[] logits = model.forward(state, prompt, 0, prompt.length, startPos, false);
        long prefillNanos = System.nanoTime() - t0;
        for (int t : prompt) sampler.accept(t);
        int pos = startPos + prompt.length, previous = prompt[prompt.length - 1], steps = 0, token;
        List<Integer> out = new ArrayList<>();
        boolean stopped = false;
        long decodeStart = System.nanoTime();
        while (true) {
            token = sampler.sample(logits);
            sampler.accept(token);
            if (contains(stopIds, token)) {
                stopped = true;
                break;
            }
            out.add(token);
            sink.accept(previous, token);
            previous = token;
            if (out.size() >= maxTokens || pos >= context || stop.getAsBoolean()) break;
            logits = model.forward(state, new int[] {token}, 0, 1, pos++, false);
            steps++;
        }
        return new Generated(toArray(out), token, stopped, pos, prompt.length, prefillNanos, steps, System.nanoTime() - decodeStart);
    }

    private static boolean contains(int[] ids, int id) {
        for (int x : ids) if (x == id) return true;
        return false;
    }

    public static void main(String[] args) {
        int code = run(args, System.in, System.out, System.err);
        System.out.flush();
        if (code != 0) System.exit(code);
    }

    /** The CLI, returning its exit code: 0 done, 2 a user error (one line on err), 1 an internal error. */
    public static int run(String[] args, InputStream in, PrintStream out, PrintStream err) {
        try {
            requireVectorModule();
            CliOptions o = CliOptions.parse(args);
            if (o.help) {
                out.print(USAGE);
                out.println("Attention implementations: " + String.join(", ", attentionHooks().keySet()));
                return 0;
            }
            if (o.threads > 0) {
                // The pool is sized once per JVM, on first use: here, unless a caller of run() already used it.
                if (System.getProperty("tokenbutler.threads") == null) System.setProperty("tokenbutler.threads", Integer.toString(o.threads));
                if (Parallel.THREADS != o.threads) {
                    throw new UserError("option --threads " + o.threads + ": this JVM's thread pool already runs with " + Parallel.THREADS
                            + " threads (-Dtokenbutler.threads, or an earlier run in the same JVM)");
                }
            }
            AttentionHook hook = findAttentionHook(o.attention);
            Map<String, String> attentionOptions = attentionOptions(o.attentionOptions);
            Sampler sampler = new Sampler(o.temperature, o.topP, o.seed, o.repeatPenalty, o.repeatLastN);
            try (Model model = Model.load(o.model, new LoadOptions(o.context, o.keyType, o.valueType))) {
                if (o.checkTensors) {
                    long t0 = System.nanoTime();
                    long bytes = model.checkTensors();
                    err.printf("check-tensors: %.1f MiB of weights, all finite (%.0f ms)%n", bytes / 1048576.0, (System.nanoTime() - t0) / 1e6);
                }
                Tokenizer tokenizer = model.tokenizer();
                try (AttentionHook.Attention attention = hook.open(model.info(), attentionOptions)) {
                    State state = model.newState(attention);
                    if (o.chat) chat(o, model, tokenizer, state, sampler, in, out, err);
                    else single(o, model, tokenizer, state, sampler, out, err);
                }
            }
            return 0;
        } catch (UserError e) {
            out.flush();
            err.println("error: " + e.getMessage());
            return 2;
        } catch (RuntimeException | Error e) {
            out.flush();
            err.println("internal error (please report): " + e);
            e.printStackTrace(err);
            return 1;
        }
    }

    /** The chat format of the model, or the one --chat-template names; its note, if any, goes to err. */
    private static ChatFormat chatFormat(CliOptions o, Model model, PrintStream err) {
        ChatFormat format = ChatFormat.of(model.info().gguf(), model.tokenizer(), o.chatTemplate);
        if (format.note() != null) err.println("note: " + format.note());
        if (format.template() == ChatTemplate.NONE && o.systemPrompt != null) {
            throw new UserError("--system-prompt needs a chat template; this model has none (--chat-template NAME picks one: "
                    + String.join(", ", ChatTemplate.ids()) + ")");
        }
        return format;
    }

    private static void single(CliOptions o, Model model, Tokenizer tokenizer, State state, Sampler sampler, PrintStream out, PrintStream err) {
        String prompt = o.prompt == null ? "" : o.prompt;
        ChatFormat format = chatFormat(o, model, err);
        int[] tokens;
        if (format.template() != ChatTemplate.NONE) {
            if (o.prompt == null) throw new UserError("this model uses a chat template: give --prompt TEXT or --chat (or --chat-template none to continue text)");
            List<ChatMessage> messages = new ArrayList<>();
            if (o.systemPrompt != null) messages.add(new ChatMessage("system", o.systemPrompt));
            messages.add(new ChatMessage("user", prompt));
            tokens = format.prompt(messages);
        } else {
            tokens = withBos(tokenizer, tokenizer.encode(prompt), true);
        }
        int context = model.config().contextLength();
        if (tokens.length == 0) throw new UserError("the prompt is empty and the model adds no BOS token: give --prompt TEXT");
        if (tokens.length > context) {
            throw new UserError("the prompt is " + tokens.length + " tokens but the context holds " + context + " (use --context N with N >= " + tokens.length + ")");
        }
        if (o.verbosePrompt) printPrompt(tokenizer, tokens, err);
        java.io.ByteArrayOutputStream text = new java.io.ByteArrayOutputStream();
        Generated g = generate(model, state, tokens, 0, o.maxTokens, sampler, format.stopIds(), (previous, token) -> {
            byte[] bytes = tokenizer.tokenBytes(previous, token);
            if (o.stream) {
                out.write(bytes, 0, bytes.length);
                out.flush();
            } else {
                text.write(bytes, 0, bytes.length);
            }
        });
        if (!o.stream) out.write(text.toByteArray(), 0, text.size());
        out.println();
        out.flush();
        report(g, context, err);
    }

    /** --verbose-prompt (llama.cpp's): each prompt token as "ID -> 'piece'", control tokens by their name. */
    private static void printPrompt(Tokenizer tokenizer, int[] tokens, PrintStream err) {
        err.println("prompt: " + tokens.length + " tokens");
        int previous = -1;
        for (int t : tokens) {
            byte[] bytes = tokenizer.tokenBytes(previous, t);
            err.printf("%8d -> %s%n", t, bytes.length == 0 ? "(control)" : quote(new String(bytes, StandardCharsets.UTF_8)));
            previous = t;
        }
    }

    private static int[] withBos(Tokenizer tokenizer, int[] ids, boolean first) {
        if (!first || !tokenizer.addBos() || tokenizer.bosId() < 0) return ids;
        int[] all = new int[ids.length + 1];
        all[0] = tokenizer.bosId();
        System.arraycopy(ids, 0, all, 1, ids.length);
        return all;
    }

    private static void report(Generated g, int context, PrintStream err) {
        err.printf("prefill: %d tokens, %.1f tok/s | decode: %d tokens, %.1f tok/s%s%n",
                g.prefillTokens(), g.prefillTokens() / Math.max(1e-9, g.prefillNanos() / 1e9),
                g.decodeSteps(), g.decodeSteps() / Math.max(1e-9, g.decodeNanos() / 1e9),
                !g.stoppedByToken() && g.nextPos() >= context ? " | stopped: context of " + context + " tokens is full" : "");
    }

    /** Interactive chat: each stdin line is a user message (or, without a chat template, more text to continue). */
    private static void chat(CliOptions o, Model model, Tokenizer tokenizer, State state, Sampler sampler,
                             InputStream in, PrintStream out, PrintStream err) {
        ChatFormat format = chatFormat(o, model, err);
        if (format.template() == ChatTemplate.NONE && format.note() == null) err.println("(this model has no chat template: each line continues the text so far)");
        ReplyInterrupt interrupt = ReplyInterrupt.install(err);
        int context = model.config().contextLength(), pos = 0;
        // What the model has not read yet of the conversation so far: the last reply's last token.
        List<Integer> pending = new ArrayList<>();
        boolean stoppedByToken = false;
        BufferedReader reader = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
        boolean first = true;
        while (true) {
            err.print("> ");
            err.flush();
            String line;
            try {
                line = reader.readLine();
            } catch (IOException e) {
                throw new UserError("cannot read stdin: " + e.getMessage(), e);
            }
            if (line == null) {
                err.println(); // Ctrl-D: leave the shell's prompt on a line of its own
                break;
            }
            if (line.isBlank()) continue;
            List<Integer> turn = new ArrayList<>(pending);
            List<ChatMessage> messages = new ArrayList<>();
            if (first && o.systemPrompt != null) messages.add(new ChatMessage("system", o.systemPrompt));
            // Without a template, each line continues the text as it stands (no separator), as before templates.
            messages.add(new ChatMessage("user", line));
            for (int id : first ? format.prompt(messages) : format.continuation(messages, stoppedByToken)) turn.add(id);
            first = false;
            if (pos + turn.size() > context) {
                err.println("(the context of " + context + " tokens is full; start again with a larger --context)");
                break;
            }
            if (o.verbosePrompt) printPrompt(tokenizer, toArray(turn), err);
            interrupt.replying(true);
            Generated g;
            try {
                g = generate(model, state, toArray(turn), pos, o.maxTokens, sampler, format.stopIds(), (previous, token) -> {
                    byte[] bytes = tokenizer.tokenBytes(previous, token);
                    out.write(bytes, 0, bytes.length);
                    out.flush();
                }, interrupt::takeStop);
            } finally {
                interrupt.replying(false);
            }
            out.println();
            out.flush();
            report(g, context, err);
            pos = g.nextPos();
            pending.clear();
            pending.add(g.lastSampled());
            stoppedByToken = g.stoppedByToken();
            if (pos >= context) {
                err.println("(the context of " + context + " tokens is full)");
                break;
            }
        }
    }
}
