package io.github.tokenbutler.gguf;

import io.github.tokenbutler.runtime.Llama3.GGMLType;
import io.github.tokenbutler.runtime.Llama3.GGUF;
import io.github.tokenbutler.runtime.Llama3.GGUFValueType;
import io.github.tokenbutler.runtime.Llama3.TensorInfo;
import io.github.tokenbutler.runtime.Llama3.UserError;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** Round trips through the project's one GGUF reader, Llama3.GGUF.read. */
class GgufWriterTest {
    @TempDir Path dir;

    @Test
    void everyScalarTypeRoundTrips() {
        GgufWriter w = new GgufWriter()
                .putU8("u8", 200).putI8("i8", -100)
                .putU16("u16", 60000).putI16("i16", -30000)
                .putU32("u32", 4_000_000_000L).putI32("i32", -2_000_000_000)
                .putU64("u64", -1L).putI64("i64", Long.MIN_VALUE)
                .putF32("f32", 1.5e-5f).putF64("f64", Math.PI)
                .putBool("yes", true).putBool("no", false)
                .putString("s", "héllo ▁ 世界").putString("empty", "");
        Path p = dir.resolve("scalars.gguf");
        w.write(p);
        try (GGUF g = GGUF.read(p)) {
            assertEquals(3, g.version());
            assertEquals(List.of("u8", "i8", "u16", "i16", "u32", "i32", "u64", "i64", "f32", "f64", "yes", "no", "s", "empty"),
                    List.copyOf(g.metadata().keySet()));
            assertEquals(GGUFValueType.UINT8, g.valueTypes().get("u8"));
            assertEquals(200, g.getLong("u8", 0));
            assertEquals(GGUFValueType.INT8, g.valueTypes().get("i8"));
            assertEquals(-100, g.getLong("i8", 0));
            assertEquals(60000, g.getLong("u16", 0));
            assertEquals(GGUFValueType.INT16, g.valueTypes().get("i16"));
            assertEquals(-30000, g.getLong("i16", 0));
            assertEquals(4_000_000_000L, g.getLong("u32", 0));
            assertEquals(-2_000_000_000, g.getLong("i32", 0));
            assertEquals(GGUFValueType.UINT64, g.valueTypes().get("u64"));
            assertEquals(-1L, (long) g.<Long>get("u64"));
            assertEquals(Long.MIN_VALUE, g.getLong("i64", 0));
            assertEquals(1.5e-5f, g.getFloat("f32", 0));
            assertEquals(GGUFValueType.FLOAT64, g.valueTypes().get("f64"));
            assertEquals(Math.PI, (double) g.<Double>get("f64"));
            assertEquals(true, g.get("yes"));
            assertEquals(false, g.get("no"));
            assertEquals("héllo ▁ 世界", g.get("s"));
            assertEquals("", g.get("empty"));
            assertTrue(g.tensors().isEmpty());
        }
    }

    @Test
    void everyArrayTypeRoundTrips() {
        GgufWriter w = new GgufWriter()
                .putArray("a.u8", GGUFValueType.UINT8, new byte[] {0, 1, (byte) 255})
                .putArray("a.i8", GGUFValueType.INT8, new byte[] {-1, 2})
                .putArray("a.u16", GGUFValueType.UINT16, new short[] {(short) 65535, 7})
                .putArray("a.i16", GGUFValueType.INT16, new short[] {-5})
                .putArray("a.u32", GGUFValueType.UINT32, new int[] {-1, 3})
                .putArray("a.i32", GGUFValueType.INT32, new int[] {1, -2, 3})
                .putArray("a.u64", GGUFValueType.UINT64, new long[] {Long.MAX_VALUE})
                .putArray("a.i64", GGUFValueType.INT64, new long[] {-9})
                .putArray("a.f32", GGUFValueType.FLOAT32, new float[] {0.25f, -1e30f, Float.NaN})
                .putArray("a.f64", GGUFValueType.FLOAT64, new double[] {1e300})
                .putArray("a.bool", GGUFValueType.BOOL, new boolean[] {true, false, true})
                .putArray("a.str", GGUFValueType.STRING, new String[] {"<s>", "", "▁the"})
                .putArray("a.empty", GGUFValueType.INT32, new int[0])
                .putArray("a.nested", GGUFValueType.ARRAY, new Object[] {new int[] {1, 2}, new String[] {"x"}});
        Path p = dir.resolve("arrays.gguf");
        w.write(p);
        try (GGUF g = GGUF.read(p)) {
            Map<String, GGUFValueType> et = g.arrayElementTypes();
            assertArrayEquals(new byte[] {0, 1, (byte) 255}, g.get("a.u8"));
            assertEquals(GGUFValueType.UINT8, et.get("a.u8"));
            assertEquals(GGUFValueType.INT8, et.get("a.i8"));
            assertArrayEquals(new short[] {(short) 65535, 7}, g.get("a.u16"));
            assertEquals(GGUFValueType.UINT16, et.get("a.u16"));
            assertArrayEquals(new short[] {-5}, g.get("a.i16"));
            assertArrayEquals(new int[] {-1, 3}, g.get("a.u32"));
            assertEquals(GGUFValueType.UINT32, et.get("a.u32"));
            assertArrayEquals(new int[] {1, -2, 3}, g.get("a.i32"));
            assertArrayEquals(new long[] {Long.MAX_VALUE}, g.get("a.u64"));
            assertArrayEquals(new long[] {-9}, g.get("a.i64"));
            assertArrayEquals(new float[] {0.25f, -1e30f, Float.NaN}, g.get("a.f32"));
            assertArrayEquals(new double[] {1e300}, g.get("a.f64"));
            assertArrayEquals(new boolean[] {true, false, true}, g.get("a.bool"));
            assertArrayEquals(new String[] {"<s>", "", "▁the"}, g.get("a.str"));
            assertEquals(GGUFValueType.STRING, et.get("a.str"));
            assertArrayEquals(new int[0], g.get("a.empty"));
            Object[] nested = g.get("a.nested");
            assertArrayEquals(new int[] {1, 2}, (int[]) nested[0]);
            assertArrayEquals(new String[] {"x"}, (String[]) nested[1]);
            for (String k : g.metadata().keySet()) assertEquals(GGUFValueType.ARRAY, g.valueTypes().get(k), k);
        }
    }

    @Test
    void tensorsAreAlignedAndReadBack() throws IOException {
        float[] norm = {1f, 2f, 3f};                       // 12 bytes: forces padding before the next tensor
        float[] matrix = new float[64 * 3];
        for (int i = 0; i < matrix.length; i++) matrix[i] = i * 0.5f - 7f;
        byte[] q8 = Quantizers.quantize(GGMLType.Q8_0, matrix, 0, matrix.length);
        MemorySegment seg = Arena.ofAuto().allocate(8 * 2);
        for (int i = 0; i < 8; i++) seg.set(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 2L * i, Float.floatToFloat16(i));

        GgufWriter w = new GgufWriter().putString("general.architecture", "llama")
                .addTensor("norm", norm, new long[] {3})
                .addTensor("matrix.q8", GGMLType.Q8_0, new long[] {64, 3}, q8)
                .addTensor("half", GGMLType.F16, new long[] {4, 2}, seg)
                .addTensor("matrix.f32", matrix, new long[] {64, 3});
        Path p = dir.resolve("tensors.gguf");
        w.write(p);
        try (GGUF g = GGUF.read(p)) {
            assertEquals(32, g.alignment());
            assertEquals(0, g.dataOffset() % 32);
            assertEquals(List.of("norm", "matrix.q8", "half", "matrix.f32"), List.copyOf(g.tensors().keySet()));
            TensorInfo n = g.tensors().get("norm");
            assertEquals(GGMLType.F32, n.type());
            assertArrayEquals(new long[] {3}, n.shape());
            assertEquals(0, n.offset());
            for (TensorInfo t : g.tensors().values()) assertEquals(0, t.offset() % 32, t.name());
            assertEquals(32, g.tensors().get("matrix.q8").offset(), "12 bytes of norm padded to 32");
            assertArrayEquals(new long[] {64, 3}, g.tensors().get("matrix.q8").shape());
            assertArrayEquals(q8, g.tensorData("matrix.q8").toArray(ValueLayout.JAVA_BYTE));
            assertArrayEquals(seg.toArray(ValueLayout.JAVA_BYTE), g.tensorData("half").toArray(ValueLayout.JAVA_BYTE));
            assertArrayEquals(matrix, floats(g.tensorData("matrix.f32")));
            assertArrayEquals(norm, floats(g.tensorData("norm")));
            // The file ends right after the last tensor: nothing is padded after it.
            TensorInfo last = g.tensors().get("matrix.f32");
            assertEquals(Files.size(p), g.dataOffset() + last.offset() + last.byteSize());
        }
    }

    @Test
    void customAlignmentIsHonoured() {
        GgufWriter w = new GgufWriter().putU32("general.alignment", 64)
                .addTensor("a", new float[] {1}, new long[] {1})
                .addTensor("b", new float[] {2, 3}, new long[] {2});
        Path p = dir.resolve("align64.gguf");
        w.write(p);
        try (GGUF g = GGUF.read(p)) {
            assertEquals(64, g.alignment());
            assertEquals(0, g.dataOffset() % 64);
            assertEquals(64, g.tensors().get("b").offset());
            assertArrayEquals(new float[] {2, 3}, floats(g.tensorData("b")));
        }
    }

    @Test
    void badAlignmentIsRejectedBeforeWriting() {
        GgufWriter w = new GgufWriter().putU32("general.alignment", 48);
        Path p = dir.resolve("bad.gguf");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> w.write(p));
        assertTrue(e.getMessage().contains("power of two"), e.getMessage());
        assertFalse(Files.exists(p));
    }

    @Test
    void streamedTensorIsWrittenAndAWrongByteCountLeavesNothingOnDisk() throws IOException {
        Path p = dir.resolve("streamed.gguf");
        new GgufWriter().addTensor("s", GGMLType.F32, new long[] {4}, out -> {
            ByteBuffer b = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < 4; i++) b.putFloat(i);
            out.write(b.flip());
        }).write(p);
        try (GGUF g = GGUF.read(p)) {
            assertArrayEquals(new float[] {0, 1, 2, 3}, floats(g.tensorData("s")));
        }
        Path bad = dir.resolve("short.gguf");
        GgufWriter w = new GgufWriter().addTensor("s", GGMLType.F32, new long[] {4}, out -> out.write(ByteBuffer.allocate(12)));
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> w.write(bad));
        assertTrue(e.getMessage().contains("should have 16 bytes but its source wrote 12"), e.getMessage());
        assertFalse(Files.exists(bad));
        try (var files = Files.list(dir)) {
            assertEquals(List.of(p.getFileName().toString()), files.map(f -> f.getFileName().toString()).toList(), "no temp file left");
        }
    }

    @Test
    void failedWriteKeepsThePreviousFile() throws IOException {
        Path p = dir.resolve("keep.gguf");
        Files.writeString(p, "previous");
        GgufWriter w = new GgufWriter().addTensor("s", GGMLType.F32, new long[] {1}, out -> {
            throw new IOException("disk full (simulated)");
        });
        UserError e = assertThrows(UserError.class, () -> w.write(p));
        assertTrue(e.getMessage().contains("disk full"), e.getMessage());
        assertEquals("previous", Files.readString(p));
    }

    @Test
    void missingFolderIsAUserError() {
        UserError e = assertThrows(UserError.class, () -> new GgufWriter().write(dir.resolve("nope/x.gguf")));
        assertTrue(e.getMessage().contains("does not exist"), e.getMessage());
    }

    @Test
    void copyMetadataKeepsTypesAndReplacesInPlace() {
        Path src = dir.resolve("src.gguf");
        new GgufWriter().putU32("general.file_type", 0).putU8("small", 255)
                .putArray("ids", GGUFValueType.UINT32, new int[] {-1}).putString("name", "x").write(src);
        Path dst = dir.resolve("dst.gguf");
        try (GGUF g = GGUF.read(src)) {
            new GgufWriter().copyMetadata(g, k -> !k.equals("name")).putU32("general.file_type", 7).write(dst);
        }
        try (GGUF g = GGUF.read(dst)) {
            assertEquals(List.of("general.file_type", "small", "ids"), List.copyOf(g.metadata().keySet()));
            assertEquals(7, g.getLong("general.file_type", 0));
            assertEquals(GGUFValueType.UINT8, g.valueTypes().get("small"));
            assertEquals(255, g.getLong("small", 0));
            assertEquals(GGUFValueType.UINT32, g.arrayElementTypes().get("ids"));
        }
    }

    @Test
    void misuseIsRejectedWithClearMessages() {
        GgufWriter w = new GgufWriter();
        assertThrows(IllegalArgumentException.class, () -> w.putU8("k", 256));
        assertThrows(IllegalArgumentException.class, () -> w.putU32("k", -1));
        assertThrows(IllegalArgumentException.class, () -> w.putArray("k", GGUFValueType.UINT32, new long[] {1}));
        assertThrows(IllegalArgumentException.class, () -> w.putArray("k", GGUFValueType.STRING, new String[] {null}));
        assertThrows(IllegalArgumentException.class, () -> w.put("k", GGUFValueType.INT8, 1000));
        var shape = assertThrows(IllegalArgumentException.class, () -> w.addTensor("t", new float[5], new long[] {2, 2}));
        assertTrue(shape.getMessage().contains("4 elements but 5 floats"), shape.getMessage());
        var block = assertThrows(IllegalArgumentException.class, () -> w.addTensor("q", GGMLType.Q8_0, new long[] {33}, new byte[34]));
        assertTrue(block.getMessage().contains("not a multiple of the block size 32"), block.getMessage());
        w.addTensor("dup", new float[1], new long[] {1});
        assertThrows(IllegalArgumentException.class, () -> w.addTensor("dup", new float[1], new long[] {1}));
        assertThrows(IllegalArgumentException.class, () -> w.addTensor("x".repeat(64), new float[1], new long[] {1}));
    }

    @Test
    void version2IsWritable() {
        Path p = dir.resolve("v2.gguf");
        new GgufWriter(2).putString("a", "b").write(p);
        try (GGUF g = GGUF.read(p)) {
            assertEquals(2, g.version());
        }
    }

    @Test
    void sameContentGivesIdenticalBytes() throws IOException {
        Path a = dir.resolve("a.gguf"), b = dir.resolve("b.gguf");
        for (Path p : List.of(a, b)) {
            new GgufWriter().putString("x", "y").putArray("z", GGUFValueType.FLOAT32, new float[] {1, 2})
                    .addTensor("t", new float[] {1, 2, 3}, new long[] {3}).write(p);
        }
        assertArrayEquals(Files.readAllBytes(a), Files.readAllBytes(b));
    }

    static float[] floats(MemorySegment s) {
        return s.toArray(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN));
    }
}
