package io.github.tokenbutler.gguf;

import io.github.tokenbutler.files.AtomicFiles;
import io.github.tokenbutler.runtime.Llama3.GGMLType;
import io.github.tokenbutler.runtime.Llama3.GGUF;
import io.github.tokenbutler.runtime.Llama3.GGUFValueType;
import io.github.tokenbutler.runtime.Llama3.UserError;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;

/**
 * Builds a GGUF file (spec: ggml docs/gguf.md) and writes it atomically: everything goes to a temporary
 * file beside the target, which is renamed over the target only once complete, so a failure never leaves
 * a half-written model behind.
 *
 * <p>Layout written, little-endian: magic "GGUF", u32 version, u64 tensor count, u64 metadata count, the
 * metadata entries in insertion order, the tensor infos in insertion order, zero padding up to the
 * alignment, then each tensor's bytes starting at a multiple of the alignment relative to the data section.
 * The alignment is {@code general.alignment} when that key was put (it must be a UINT32 power of two),
 * else {@value GGUF#DEFAULT_ALIGNMENT}; the key is written only when put.
 *
 * <p>Tensor data can be given whole (byte[], {@link MemorySegment}) or as a {@link TensorSource} that
 * streams it during {@link #write}, so a multi-gigabyte model never has to be held in memory.
 *
 * <p>Misuse of the API (a value out of its type's range, a shape that does not match the data) is an
 * {@link IllegalArgumentException}: these are program errors, not user errors.
 */
public final class GgufWriter {
    /** The GGUF version written by default. */
    public static final int VERSION = 3;
    /** ggml's GGML_MAX_NAME (64, including the terminating NUL in C), the longest tensor name readers accept. */
    public static final int MAX_TENSOR_NAME_BYTES = 63;
    private static final int MAX_DIMS = 4;

    /** Writes exactly a tensor's bytes to {@code out}; called once, during {@link #write}. */
    @FunctionalInterface
    public interface TensorSource {
        void writeTo(WritableByteChannel out) throws IOException;
    }

    /** A metadata value with its GGUF type; elementType is set for arrays only. */
    public record MetadataValue(GGUFValueType type, GGUFValueType elementType, Object value) {}

    /** A tensor to be written. */
    public record PendingTensor(String name, GGMLType type, long[] shape, long byteSize, TensorSource source) {}

    private final int version;
    private final Map<String, MetadataValue> metadata = new LinkedHashMap<>();
    private final Map<String, PendingTensor> tensors = new LinkedHashMap<>();

    /** A writer for GGUF version 3. */
    public GgufWriter() { this(VERSION); }

    /** A writer for GGUF version 2 or 3 (identical layouts; version 1 used 32-bit counts and is not written). */
    public GgufWriter(int version) {
        if (version != 2 && version != 3) throw new IllegalArgumentException("GGUF version must be 2 or 3, got " + version);
        this.version = version;
    }

    // ---------------------------------------------------------------------------------------------
    // Metadata. Putting a key that exists replaces its value and type but keeps its position, so a tool
    // can copy a file's metadata and then change single keys (e.g. general.file_type after quantizing).
    // ---------------------------------------------------------------------------------------------

    public GgufWriter putString(String key, String value) {
        if (value == null) throw new IllegalArgumentException("metadata '" + key + "': string value is null");
        return store(key, GGUFValueType.STRING, null, value);
    }

    public GgufWriter putU8(String key, int value) { return store(key, GGUFValueType.UINT8, null, (byte) checkRange(key, value, 0, 255)); }
    public GgufWriter putI8(String key, int value) { return store(key, GGUFValueType.INT8, null, (byte) checkRange(key, value, -128, 127)); }
    public GgufWriter putU16(String key, int value) { return store(key, GGUFValueType.UINT16, null, (short) checkRange(key, value, 0, 65535)); }
    public GgufWriter putI16(String key, int value) { return store(key, GGUFValueType.INT16, null, (short) checkRange(key, value, -32768, 32767)); }
    public GgufWriter putU32(String key, long value) { return store(key, GGUFValueType.UINT32, null, (int) checkRange(key, value, 0, 0xFFFF_FFFFL)); }
    public GgufWriter putI32(String key, int value) { return store(key, GGUFValueType.INT32, null, value); }
    /** An unsigned 64-bit value; a negative {@code value} is taken as its bit pattern (values of 2^63 and up). */
    public GgufWriter putU64(String key, long value) { return store(key, GGUFValueType.UINT64, null, value); }
    public GgufWriter putI64(String key, long value) { return store(key, GGUFValueType.INT64, null, value); }
    public GgufWriter putF32(String key, float value) { return store(key, GGUFValueType.FLOAT32, null, value); }
    public GgufWriter putF64(String key, double value) { return store(key, GGUFValueType.FLOAT64, null, value); }
    public GgufWriter putBool(String key, boolean value) { return store(key, GGUFValueType.BOOL, null, value); }

    /**
     * An array. {@code array} is the Java array matching {@code elementType}: byte[] for UINT8/INT8, short[]
     * for UINT16/INT16, int[] for UINT32/INT32, long[] for UINT64/INT64, float[], double[], boolean[],
     * String[] for STRING, and Object[] of such arrays for ARRAY (nested element types are inferred from the
     * Java array class, signed for integers). Unsigned elements are stored by bit pattern. The array is copied.
     */
    public GgufWriter putArray(String key, GGUFValueType elementType, Object array) {
        checkArray(key, elementType, array);
        return store(key, GGUFValueType.ARRAY, elementType, copyArray(array));
    }

    /**
     * Any value, as {@link GGUF#metadata()} returns it: the boxed value for scalars (Byte, Short, Integer,
     * Long, Float, Double, Boolean, String; unsigned types keep the bit pattern, and another Number is
     * accepted when it fits the type's range) and the Java array for ARRAY, whose element type is then
     * inferred from the array class (signed for integers); use {@link #put(String, GGUFValueType, GGUFValueType, Object)}
     * to keep an unsigned element type.
     */
    public GgufWriter put(String key, GGUFValueType type, Object value) {
        if (type == GGUFValueType.ARRAY) return putArray(key, inferElementType(key, value), value);
        return put(key, type, null, value);
    }

    /** Any value with, for arrays, its element type (as {@link GGUF#arrayElementTypes()} gives it). */
    public GgufWriter put(String key, GGUFValueType type, GGUFValueType elementType, Object value) {
        if (type == null) throw new IllegalArgumentException("metadata '" + key + "': type is null");
        if (value == null) throw new IllegalArgumentException("metadata '" + key + "': value is null");
        return switch (type) {
            case ARRAY -> putArray(key, elementType != null ? elementType : inferElementType(key, value), value);
            case STRING -> putString(key, cast(key, type, value, String.class));
            case BOOL -> putBool(key, cast(key, type, value, Boolean.class));
            case FLOAT32 -> putF32(key, value instanceof Float f ? f : (float) number(key, type, value).doubleValue());
            case FLOAT64 -> putF64(key, number(key, type, value).doubleValue());
            case UINT8 -> value instanceof Byte b ? store(key, type, null, b) : putU8(key, (int) integral(key, type, value));
            case INT8 -> value instanceof Byte b ? store(key, type, null, b) : putI8(key, (int) checkRange(key, integral(key, type, value), -128, 127));
            case UINT16 -> value instanceof Short s ? store(key, type, null, s) : putU16(key, (int) checkRange(key, integral(key, type, value), 0, 65535));
            case INT16 -> value instanceof Short s ? store(key, type, null, s) : putI16(key, (int) checkRange(key, integral(key, type, value), -32768, 32767));
            case UINT32 -> value instanceof Integer i ? store(key, type, null, i) : putU32(key, integral(key, type, value));
            case INT32 -> putI32(key, (int) checkRange(key, integral(key, type, value), Integer.MIN_VALUE, Integer.MAX_VALUE));
            case UINT64 -> value instanceof Long l ? store(key, type, null, l) : putU64(key, checkRange(key, integral(key, type, value), 0, Long.MAX_VALUE));
            case INT64 -> putI64(key, integral(key, type, value));
        };
    }

    /**
     * Copies metadata entries of a parsed file, with their original types and in file order, for which
     * {@code keep} is true. Existing keys are replaced in place.
     */
    public GgufWriter copyMetadata(GGUF source, Predicate<String> keep) {
        for (Map.Entry<String, Object> e : source.metadata().entrySet()) {
            String key = e.getKey();
            if (!keep.test(key)) continue;
            put(key, source.valueTypes().get(key), source.arrayElementTypes().get(key), e.getValue());
        }
        return this;
    }

    public GgufWriter remove(String key) { metadata.remove(key); return this; }

    public boolean hasMetadata(String key) { return metadata.containsKey(key); }

    /** The metadata put so far, in write order. */
    public Map<String, MetadataValue> metadata() { return Collections.unmodifiableMap(metadata); }

    // ---------------------------------------------------------------------------------------------
    // Tensors
    // ---------------------------------------------------------------------------------------------

    /** An F32 tensor; {@code shape} in GGUF order (shape[0] is the row length). The data is copied. */
    public GgufWriter addTensor(String name, float[] data, long[] shape) {
        long elements = checkShape(name, GGMLType.F32, shape);
        if (data.length != elements) {
            throw new IllegalArgumentException("tensor '" + name + "': shape " + Arrays.toString(shape) + " has " + elements
                    + " elements but " + data.length + " floats were given");
        }
        byte[] bytes = new byte[data.length * 4];
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().put(data);
        return addTensor(name, GGMLType.F32, shape, bytes);
    }

    /** A tensor from raw bytes in the type's ggml layout; the array is copied. */
    public GgufWriter addTensor(String name, GGMLType type, long[] shape, byte[] data) {
        byte[] copy = data.clone();
        checkDataSize(name, type, shape, copy.length);
        return addTensor(name, type, shape, out -> writeFully(out, ByteBuffer.wrap(copy)));
    }

    /**
     * A tensor from a memory segment (heap, native or mapped from another GGUF), not copied: the segment
     * must stay valid until {@link #write} returns.
     */
    public GgufWriter addTensor(String name, GGMLType type, long[] shape, MemorySegment data) {
        checkDataSize(name, type, shape, data.byteSize());
        return addTensor(name, type, shape, out -> writeSegment(out, data));
    }

    /** A tensor whose bytes are produced during {@link #write}; the source must write exactly the tensor's byte size. */
    public GgufWriter addTensor(String name, GGMLType type, long[] shape, TensorSource source) {
        long elements = checkShape(name, type, shape);
        if (tensors.containsKey(name)) throw new IllegalArgumentException("duplicate tensor name '" + name + "'");
        tensors.put(name, new PendingTensor(name, type, shape.clone(), type.byteSize(elements), source));
        return this;
    }

    /** The tensors added so far, in write order. */
    public Map<String, PendingTensor> tensors() { return Collections.unmodifiableMap(tensors); }

    /** The alignment the file will use: general.alignment when put, else 32. */
    public int alignment() {
        MetadataValue a = metadata.get("general.alignment");
        if (a == null) return GGUF.DEFAULT_ALIGNMENT;
        if (a.type() != GGUFValueType.UINT32) {
            throw new IllegalArgumentException("general.alignment must be a UINT32, it was put as " + a.type());
        }
        int v = (Integer) a.value();
        if (v <= 0 || Integer.bitCount(v) != 1) {
            throw new IllegalArgumentException("general.alignment must be a power of two, got " + Integer.toUnsignedString(v));
        }
        return v;
    }

    // ---------------------------------------------------------------------------------------------
    // Writing
    // ---------------------------------------------------------------------------------------------

    /**
     * Writes the file atomically: to a temporary file in the target's folder, then renamed over
     * {@code path}. On any failure, Ctrl-C or SIGTERM the temporary file is deleted and the target is left
     * untouched. The size is checked against the free disk space before the first byte is written; an I/O
     * problem (folder missing, disk full, read-only, permission) is a {@link UserError} naming the file.
     */
    public void write(Path path) { write(path, Progress.NONE); }

    /** Told after each tensor how many of the file's bytes are written. */
    @FunctionalInterface
    public interface Progress {
        Progress NONE = (written, total) -> {};
        void written(long written, long total);
    }

    /** {@link #write(Path)}, telling progress how far it is. */
    public void write(Path path, Progress progress) {
        Path target = path.toAbsolutePath();
        Path dir = target.getParent();
        if (dir == null || !Files.isDirectory(dir)) throw new UserError("cannot write " + path + ": folder " + dir + " does not exist");
        if (Files.isDirectory(target)) throw new UserError("cannot write " + path + ": it is a folder");
        int alignment = alignment();
        byte[] header = header(alignment);
        long total = header.length;
        for (PendingTensor t : tensors.values()) total = align(total - header.length, alignment) + header.length + t.byteSize();
        AtomicFiles.requireSpace(path, total);
        Path temp = null;
        try {
            temp = AtomicFiles.temporary(target);
            try (FileChannel ch = FileChannel.open(temp, StandardOpenOption.WRITE)) {
                writeFully(ch, ByteBuffer.wrap(header));
                long dataStart = header.length;
                long offset = 0;
                for (PendingTensor t : tensors.values()) {
                    long padded = align(offset, alignment);
                    writeZeros(ch, padded - offset);
                    CountingChannel counting = new CountingChannel(ch);
                    t.source().writeTo(counting);
                    if (counting.count != t.byteSize()) {
                        throw new IllegalStateException("tensor '" + t.name() + "' (" + t.type() + " " + Arrays.toString(t.shape())
                                + ") should have " + t.byteSize() + " bytes but its source wrote " + counting.count);
                    }
                    offset = padded + t.byteSize();
                    if (ch.position() != dataStart + offset) {
                        throw new IllegalStateException("tensor '" + t.name() + "': the source moved the file position");
                    }
                    progress.written(dataStart + offset, total);
                }
                ch.force(false);
            }
            AtomicFiles.commit(temp, target);
            temp = null;
        } catch (IOException e) {
            throw UserError.io("cannot write " + path, e);
        } finally {
            AtomicFiles.discard(temp);
        }
    }

    /** Header, metadata and tensor infos, padded to the alignment: everything before the first tensor byte. */
    byte[] header(int alignment) {
        LittleEndianBuffer b = new LittleEndianBuffer();
        b.u32(GGUF.MAGIC);
        b.u32(version);
        b.u64(tensors.size());
        b.u64(metadata.size());
        for (Map.Entry<String, MetadataValue> e : metadata.entrySet()) {
            b.string(e.getKey());
            MetadataValue v = e.getValue();
            b.u32(v.type().ordinal());
            if (v.type() == GGUFValueType.ARRAY) writeArray(b, v.elementType(), v.value());
            else writeScalar(b, v.type(), v.value());
        }
        long offset = 0;
        for (PendingTensor t : tensors.values()) {
            offset = align(offset, alignment);
            b.string(t.name());
            b.u32(t.shape().length);
            for (long d : t.shape()) b.u64(d);
            b.u32(t.type().id);
            b.u64(offset);
            offset += t.byteSize();
        }
        b.zeros((int) (align(b.size(), alignment) - b.size()));
        return b.toByteArray();
    }

    private static void writeScalar(LittleEndianBuffer b, GGUFValueType type, Object v) {
        switch (type) {
            case UINT8, INT8 -> b.u8((Byte) v);
            case UINT16, INT16 -> b.u16((Short) v);
            case UINT32, INT32 -> b.u32((Integer) v);
            case UINT64, INT64 -> b.u64((Long) v);
            case FLOAT32 -> b.u32(Float.floatToRawIntBits((Float) v));
            case FLOAT64 -> b.u64(Double.doubleToRawLongBits((Double) v));
            case BOOL -> b.u8((byte) ((Boolean) v ? 1 : 0));
            case STRING -> b.string((String) v);
            case ARRAY -> throw new IllegalStateException("arrays are written by writeArray");
        }
    }

    private static void writeArray(LittleEndianBuffer b, GGUFValueType elementType, Object array) {
        b.u32(elementType.ordinal());
        switch (array) {
            case byte[] a -> { b.u64(a.length); for (byte x : a) b.u8(x); }
            case short[] a -> { b.u64(a.length); for (short x : a) b.u16(x); }
            case int[] a -> { b.u64(a.length); for (int x : a) b.u32(x); }
            case long[] a -> { b.u64(a.length); for (long x : a) b.u64(x); }
            case float[] a -> { b.u64(a.length); for (float x : a) b.u32(Float.floatToRawIntBits(x)); }
            case double[] a -> { b.u64(a.length); for (double x : a) b.u64(Double.doubleToRawLongBits(x)); }
            case boolean[] a -> { b.u64(a.length); for (boolean x : a) b.u8((byte) (x ? 1 : 0)); }
            case String[] a -> { b.u64(a.length); for (String x : a) b.string(x); }
            case Object[] a -> { b.u64(a.length); for (Object x : a) writeArray(b, inferElementType("(nested)", x), x); }
            default -> throw new IllegalStateException("unexpected array class " + array.getClass());
        }
    }

    static long align(long offset, int alignment) {
        return (offset + alignment - 1) / alignment * alignment;
    }

    private static void writeFully(WritableByteChannel out, ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) out.write(buf);
    }

    /** Segments over 2 GiB cannot be one ByteBuffer, so they go in slices. */
    static void writeSegment(WritableByteChannel out, MemorySegment data) throws IOException {
        final long chunk = 1L << 26;
        for (long pos = 0; pos < data.byteSize(); pos += chunk) {
            writeFully(out, data.asSlice(pos, Math.min(chunk, data.byteSize() - pos)).asByteBuffer());
        }
    }

    private static void writeZeros(WritableByteChannel out, long n) throws IOException {
        if (n > 0) writeFully(out, ByteBuffer.allocate((int) n));
    }

    /** Counts what a tensor source writes, so a wrong byte count is caught before the file is renamed into place. */
    private static final class CountingChannel implements WritableByteChannel {
        private final WritableByteChannel out;
        long count;

        CountingChannel(WritableByteChannel out) { this.out = out; }

        @Override public int write(ByteBuffer src) throws IOException {
            int n = out.write(src);
            count += n;
            return n;
        }

        @Override public boolean isOpen() { return out.isOpen(); }

        // The file channel belongs to the writer; a source closing it would break the remaining tensors.
        @Override public void close() {}
    }

    // ---------------------------------------------------------------------------------------------
    // Validation
    // ---------------------------------------------------------------------------------------------

    private GgufWriter store(String key, GGUFValueType type, GGUFValueType elementType, Object value) {
        if (key == null || key.isEmpty()) throw new IllegalArgumentException("metadata key is empty");
        metadata.put(key, new MetadataValue(type, elementType, value));
        return this;
    }

    private static long checkRange(String key, long value, long min, long max) {
        if (value < min || value > max) {
            throw new IllegalArgumentException("metadata '" + key + "': value " + value + " is outside " + min + ".." + max);
        }
        return value;
    }

    private static <T> T cast(String key, GGUFValueType type, Object value, Class<T> cls) {
        if (!cls.isInstance(value)) {
            throw new IllegalArgumentException("metadata '" + key + "' of type " + type + " needs a " + cls.getSimpleName()
                    + ", got " + value.getClass().getSimpleName());
        }
        return cls.cast(value);
    }

    private static Number number(String key, GGUFValueType type, Object value) {
        return cast(key, type, value, Number.class);
    }

    private static long integral(String key, GGUFValueType type, Object value) {
        Number n = number(key, type, value);
        if (n instanceof Float || n instanceof Double) {
            throw new IllegalArgumentException("metadata '" + key + "' of type " + type + " needs an integer, got " + n);
        }
        return n.longValue();
    }

    static GGUFValueType inferElementType(String key, Object array) {
        return switch (array) {
            case byte[] a -> GGUFValueType.INT8;
            case short[] a -> GGUFValueType.INT16;
            case int[] a -> GGUFValueType.INT32;
            case long[] a -> GGUFValueType.INT64;
            case float[] a -> GGUFValueType.FLOAT32;
            case double[] a -> GGUFValueType.FLOAT64;
            case boolean[] a -> GGUFValueType.BOOL;
            case String[] a -> GGUFValueType.STRING;
            case Object[] a -> GGUFValueType.ARRAY;
            case null -> throw new IllegalArgumentException("metadata '" + key + "': array is null");
            default -> throw new IllegalArgumentException("metadata '" + key + "': " + array.getClass().getSimpleName() + " is not a GGUF array");
        };
    }

    private static void checkArray(String key, GGUFValueType elementType, Object array) {
        if (elementType == null) throw new IllegalArgumentException("metadata '" + key + "': array element type is null");
        Class<?> expected = switch (elementType) {
            case UINT8, INT8 -> byte[].class;
            case UINT16, INT16 -> short[].class;
            case UINT32, INT32 -> int[].class;
            case UINT64, INT64 -> long[].class;
            case FLOAT32 -> float[].class;
            case FLOAT64 -> double[].class;
            case BOOL -> boolean[].class;
            case STRING -> String[].class;
            case ARRAY -> Object[].class;
        };
        if (array == null || array.getClass() != expected) {
            throw new IllegalArgumentException("metadata '" + key + "': an array of " + elementType + " needs a "
                    + expected.getSimpleName() + ", got " + (array == null ? "null" : array.getClass().getSimpleName()));
        }
        if (array instanceof String[] a) {
            for (int i = 0; i < a.length; i++) {
                if (a[i] == null) throw new IllegalArgumentException("metadata '" + key + "': string element " + i + " is null");
            }
        }
        if (elementType == GGUFValueType.ARRAY) {
            for (Object inner : (Object[]) array) checkArray(key, inferElementType(key, inner), inner);
        }
    }

    private static Object copyArray(Object array) {
        return switch (array) {
            case byte[] a -> a.clone();
            case short[] a -> a.clone();
            case int[] a -> a.clone();
            case long[] a -> a.clone();
            case float[] a -> a.clone();
            case double[] a -> a.clone();
            case boolean[] a -> a.clone();
            case String[] a -> a.clone();
            case Object[] a -> {
                Object[] c = new Object[a.length];
                for (int i = 0; i < a.length; i++) c[i] = copyArray(a[i]);
                yield c;
            }
            default -> throw new IllegalStateException("unexpected array class " + array.getClass());
        };
    }

    private static long checkShape(String name, GGMLType type, long[] shape) {
        if (name == null || name.isEmpty()) throw new IllegalArgumentException("tensor name is empty");
        int nameBytes = name.getBytes(StandardCharsets.UTF_8).length;
        if (nameBytes > MAX_TENSOR_NAME_BYTES) {
            throw new IllegalArgumentException("tensor name '" + name + "' has " + nameBytes + " bytes, at most " + MAX_TENSOR_NAME_BYTES + " are allowed");
        }
        if (type == null) throw new IllegalArgumentException("tensor '" + name + "': type is null");
        if (shape == null || shape.length < 1 || shape.length > MAX_DIMS) {
            throw new IllegalArgumentException("tensor '" + name + "' needs 1.." + MAX_DIMS + " dimensions, got "
                    + (shape == null ? "null" : shape.length));
        }
        long elements = 1;
        for (long d : shape) {
            if (d <= 0) throw new IllegalArgumentException("tensor '" + name + "' has a dimension " + d + " in shape " + Arrays.toString(shape));
            elements = Math.multiplyExact(elements, d);
        }
        if (shape[0] % type.blockSize != 0) {
            throw new IllegalArgumentException("tensor '" + name + "' of type " + type + " has row length " + shape[0]
                    + ", not a multiple of the block size " + type.blockSize);
        }
        return elements;
    }

    private static void checkDataSize(String name, GGMLType type, long[] shape, long actual) {
        long elements = checkShape(name, type, shape);
        long expected = type.byteSize(elements);
        if (actual != expected) {
            throw new IllegalArgumentException("tensor '" + name + "' (" + type + " " + Arrays.toString(shape) + ") needs "
                    + expected + " bytes, got " + actual);
        }
    }

    /** Names of keys in insertion order (for tests and tools). */
    public List<String> keys() { return new ArrayList<>(metadata.keySet()); }

    /** The distinct tensor types added, in order of first use. */
    public Set<GGMLType> tensorTypes() {
        Set<GGMLType> s = new LinkedHashSet<>();
        for (PendingTensor t : tensors.values()) s.add(t.type());
        return s;
    }

    /** A growable little-endian byte buffer for the header. */
    private static final class LittleEndianBuffer {
        private byte[] bytes = new byte[4096];
        private int size;

        int size() { return size; }

        private void ensure(int n) {
            if (size + n > bytes.length) bytes = Arrays.copyOf(bytes, Math.max(bytes.length * 2, size + n));
        }

        void u8(byte v) { ensure(1); bytes[size++] = v; }
        void u16(short v) { ensure(2); bytes[size++] = (byte) v; bytes[size++] = (byte) (v >> 8); }
        void u32(int v) { ensure(4); for (int i = 0; i < 4; i++) bytes[size++] = (byte) (v >> (8 * i)); }
        void u64(long v) { ensure(8); for (int i = 0; i < 8; i++) bytes[size++] = (byte) (v >> (8 * i)); }

        void string(String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            u64(b.length);
            ensure(b.length);
            System.arraycopy(b, 0, bytes, size, b.length);
            size += b.length;
        }

        void zeros(int n) { ensure(n); size += n; }

        byte[] toByteArray() { return Arrays.copyOf(bytes, size); }
    }
}
