package io.github.tokenbutler.tools;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Where each field of a valid GGUF file sits, found by walking it as gguf.md lays it out (header, then
 * key/value entries, then tensor infos), independently of the runtime's parser, so that the fuzz test can
 * change one field at a time: a count, a string length, a value type, a dimension, a tensor offset.
 */
final class GgufLayout {
    enum Kind {
        MAGIC, VERSION, TENSOR_COUNT, KV_COUNT,
        KEY_LENGTH, KEY_BYTES, VALUE_TYPE, SCALAR, STRING_LENGTH, STRING_BYTES, ARRAY_TYPE, ARRAY_LENGTH,
        TENSOR_NAME_LENGTH, TENSOR_NAME_BYTES, N_DIMS, DIM, TENSOR_TYPE, TENSOR_OFFSET
    }

    /**
     * One field: its bytes are [offset, offset + width). owner is the key or tensor name it belongs to;
     * valueType is the GGUF value type of a SCALAR (its ordinal), else -1.
     */
    record Field(Kind kind, int offset, int width, String owner, int valueType) {}

    /** A tensor's info: the offset of its u64 data offset field, and where its data lies in the file. */
    record Tensor(String name, int nameOffset, int nameLength, int offsetField, long dataStart, long dataBytes) {}

    final List<Field> fields = new ArrayList<>();
    final List<Tensor> tensors = new ArrayList<>();
    final long dataOffset;

    private final ByteBuffer b;

    private static final int[] SCALAR_WIDTH = {1, 1, 2, 2, 4, 4, 4, 1, -1, -1, 8, 8, 8}; // by gguf value type
    private static final int STRING = 8, ARRAY = 9;

    GgufLayout(byte[] file) {
        b = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN);
        add(Kind.MAGIC, 4, "header", -1);
        add(Kind.VERSION, 4, "header", -1);
        long nTensors = b.getLong(b.position());
        add(Kind.TENSOR_COUNT, 8, "header", -1);
        long nKv = b.getLong(b.position());
        add(Kind.KV_COUNT, 8, "header", -1);
        int alignment = 32;
        for (long i = 0; i < nKv; i++) {
            String key = string(Kind.KEY_LENGTH, Kind.KEY_BYTES, "key " + i);
            int type = b.getInt(b.position());
            add(Kind.VALUE_TYPE, 4, key, -1);
            if (key.equals("general.alignment")) alignment = b.getInt(b.position());
            value(type, key);
        }
        List<long[]> infos = new ArrayList<>();
        for (long i = 0; i < nTensors; i++) {
            int nameOffset = b.position() + 8;
            String name = string(Kind.TENSOR_NAME_LENGTH, Kind.TENSOR_NAME_BYTES, "tensor " + i);
            int nDims = b.getInt(b.position());
            add(Kind.N_DIMS, 4, name, -1);
            long elements = 1;
            for (int d = 0; d < nDims; d++) {
                elements *= b.getLong(b.position());
                add(Kind.DIM, 8, name, -1);
            }
            int type = b.getInt(b.position());
            add(Kind.TENSOR_TYPE, 4, name, -1);
            int offsetField = b.position();
            long offset = b.getLong(offsetField);
            add(Kind.TENSOR_OFFSET, 8, name, -1);
            infos.add(new long[] {nameOffset, name.getBytes(StandardCharsets.UTF_8).length, offsetField, offset, bytes(type, elements)});
            tensorNames.add(name);
        }
        dataOffset = (b.position() + alignment - 1L) / alignment * alignment;
        for (int i = 0; i < infos.size(); i++) {
            long[] t = infos.get(i);
            tensors.add(new Tensor(tensorNames.get(i), (int) t[0], (int) t[1], (int) t[2], dataOffset + t[3], t[4]));
        }
    }

    private final List<String> tensorNames = new ArrayList<>();

    List<Field> fields(Kind kind) { return fields.stream().filter(f -> f.kind() == kind).toList(); }

    private void add(Kind kind, int width, String owner, int valueType) {
        fields.add(new Field(kind, b.position(), width, owner, valueType));
        b.position(b.position() + width);
    }

    private String string(Kind lengthKind, Kind bytesKind, String owner) {
        int n = (int) b.getLong(b.position());
        int at = b.position() + 8;
        String s = new String(b.array(), at, n, StandardCharsets.UTF_8);
        String name = lengthKind == Kind.KEY_LENGTH || lengthKind == Kind.TENSOR_NAME_LENGTH ? s : owner;
        add(lengthKind, 8, name, -1);
        add(bytesKind, n, name, -1);
        return s;
    }

    private void value(int type, String key) {
        if (type == STRING) {
            string(Kind.STRING_LENGTH, Kind.STRING_BYTES, key);
        } else if (type == ARRAY) {
            int elementType = b.getInt(b.position());
            add(Kind.ARRAY_TYPE, 4, key, -1);
            long n = b.getLong(b.position());
            add(Kind.ARRAY_LENGTH, 8, key, -1);
            // Every element of a short array is a field; of a long one (a vocabulary), only the first 16.
            for (long i = 0; i < n; i++) {
                if (i < 16) value(elementType, key);
                else skip(elementType);
            }
        } else {
            add(Kind.SCALAR, SCALAR_WIDTH[type], key, type);
        }
    }

    private void skip(int type) {
        if (type == STRING) {
            long n = b.getLong(b.position());
            b.position((int) (b.position() + 8 + n));
        } else if (type == ARRAY) {
            int elementType = b.getInt(b.position());
            long n = b.getLong(b.position() + 4);
            b.position(b.position() + 12);
            for (long i = 0; i < n; i++) skip(elementType);
        } else {
            b.position(b.position() + SCALAR_WIDTH[type]);
        }
    }

    /** Bytes of a tensor of the types the test files use (F32, F16, Q8_0, Q4_0, Q6_K). */
    private static long bytes(int type, long elements) {
        return switch (type) {
            case 0 -> 4 * elements;
            case 1, 30 -> 2 * elements;
            case 2 -> elements / 32 * 18;
            case 8 -> elements / 32 * 34;
            case 14 -> elements / 256 * 210;
            default -> throw new IllegalArgumentException("tensor type " + type + " not in the fuzz test's table");
        };
    }
}
