package io.github.tokenbutler.tools;

import io.github.tokenbutler.gguf.GgufWriter;
import io.github.tokenbutler.runtime.Llama3;
import io.github.tokenbutler.runtime.Llama3.GGMLType;
import io.github.tokenbutler.runtime.Llama3.GGUF;
import io.github.tokenbutler.runtime.Llama3.TensorInfo;
import io.github.tokenbutler.runtime.Llama3.UserError;
import io.github.tokenbutler.runtime.SharedData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.function.Predicate;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Broken GGUF files, made here from a valid one (the committed tiny-f32.gguf or a small file written with
 * GgufWriter) by patching bytes at offsets found from the GGUF layout (gguf.md): after a key string come its
 * u32 value type and the value; after a tensor name come u32 n_dims, n_dims u64 dimensions, u32 type and
 * u64 offset. Each must fail with a UserError whose message names the problem, never a crash.
 */
class CorruptGgufTest {
    @TempDir Path dir;

    private byte[] tinyModel() throws IOException {
        return Files.readAllBytes(SharedData.testModel("tiny-f32.gguf"));
    }

    private Path save(String name, byte[] bytes) throws IOException {
        Path p = dir.resolve(name);
        Files.write(p, bytes);
        return p;
    }

    /** The offset just after the first occurrence of {@code text} (UTF-8) in the file. */
    private static int after(byte[] file, String text) {
        byte[] needle = text.getBytes(StandardCharsets.UTF_8);
        outer:
        for (int i = 0; i + needle.length <= file.length; i++) {
            for (int j = 0; j < needle.length; j++) if (file[i + j] != needle[j]) continue outer;
            return i + needle.length;
        }
        throw new AssertionError("'" + text + "' not in the file");
    }

    private static void putU32(byte[] b, int at, int v) { ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putInt(at, v); }
    private static void putU64(byte[] b, int at, long v) { ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(at, v); }
    private static long getU64(byte[] b, int at) { return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).getLong(at); }

    /** GGUF.read must fail with a UserError whose message has every fragment. */
    private static UserError assertReadFails(Path p, String... fragments) {
        UserError e = assertThrows(UserError.class, () -> {
            try (GGUF g = GGUF.read(p)) {
                fail("read succeeded: " + g.tensors().size() + " tensors");
            }
        });
        for (String f : fragments) assertTrue(e.getMessage().contains(f), "'" + f + "' not in: " + e.getMessage());
        return e;
    }

    /** Model.load must fail with a UserError whose message has every fragment (needs the runtime's loader). */
    private static void assertLoadFails(Path p, String... fragments) {
        UserError e = assertThrows(UserError.class, () -> {
            try (Llama3.Model m = Llama3.Model.load(p, Llama3.LoadOptions.defaults())) {
                fail("load succeeded: " + m.config());
            }
        });
        for (String f : fragments) assertTrue(e.getMessage().contains(f), "'" + f + "' not in: " + e.getMessage());
    }

    // --- container structure (Llama3.GGUF.read) -----------------------------------------------------------

    @Test
    void badMagic() throws IOException {
        byte[] b = tinyModel();
        b[3] = 'X';
        assertReadFails(save("magic.gguf", b), "not a GGUF file", "magic");
    }

    @Test
    void unsupportedVersion() throws IOException {
        byte[] b = tinyModel();
        putU32(b, 4, 4);
        assertReadFails(save("v4.gguf", b), "unsupported GGUF version 4");
    }

    @Test
    void legacyVersion1File() {
        // shared/models/legacy: stories260K in the obsolete GGUF v1 container (MANIFEST.txt).
        assertReadFails(SharedData.require("models/legacy/stories260K-gguf-v1.gguf"), "unsupported GGUF version 1", "re-converted");
    }

    @Test
    void truncatedHeader() throws IOException {
        assertReadFails(save("head.gguf", Arrays.copyOf(tinyModel(), 20)), "truncated", "header");
    }

    @Test
    void truncatedInTheTensorTable() throws IOException {
        byte[] b = tinyModel();
        int cut = after(b, "blk.1.attn_q.weight") + 6; // in the middle of its dimensions
        assertReadFails(save("infos.gguf", Arrays.copyOf(b, cut)), "truncated", "blk.1.attn_q.weight");
    }

    @Test
    void truncatedTensorData() throws IOException {
        byte[] b = tinyModel();
        // output.weight is the last tensor in the file.
        assertReadFails(save("data.gguf", Arrays.copyOf(b, b.length - 100)), "tensor data is truncated", "output.weight");
    }

    @Test
    void duplicateKey() throws IOException {
        Path ok = dir.resolve("ok.gguf");
        new GgufWriter().putString("dup.aa", "first").putString("dup.bb", "second").write(ok);
        byte[] b = Files.readAllBytes(ok);
        int at = after(b, "dup.bb") - 2;
        b[at] = 'a';
        b[at + 1] = 'a';
        assertReadFails(save("dupkey.gguf", b), "duplicate metadata key 'dup.aa'");
    }

    @Test
    void duplicateTensorName() throws IOException {
        Path ok = dir.resolve("ok.gguf");
        new GgufWriter().addTensor("t.a", new float[] {1}, new long[] {1}).addTensor("t.b", new float[] {2}, new long[] {1}).write(ok);
        byte[] b = Files.readAllBytes(ok);
        b[after(b, "t.b") - 1] = 'a';
        assertReadFails(save("duptensor.gguf", b), "duplicate tensor name 't.a'");
    }

    @Test
    void alignmentNotAPowerOfTwo() throws IOException {
        Path ok = dir.resolve("ok.gguf");
        new GgufWriter().putU32("general.alignment", 64).addTensor("t", new float[] {1}, new long[] {1}).write(ok);
        byte[] b = Files.readAllBytes(ok);
        putU32(b, after(b, "general.alignment") + 4, 48);
        assertReadFails(save("align.gguf", b), "general.alignment", "48", "power of two");
    }

    @Test
    void alignmentOfTheWrongType() throws IOException {
        Path ok = dir.resolve("ok.gguf");
        new GgufWriter().putU32("general.alignment", 32).write(ok);
        byte[] b = Files.readAllBytes(ok);
        putU32(b, after(b, "general.alignment"), Llama3.GGUFValueType.INT32.ordinal()); // GgufWriter refuses to write this
        assertReadFails(save("aligntype.gguf", b), "general.alignment must be a UINT32", "INT32");
    }

    @Test
    void absurdDimension() throws IOException {
        byte[] b = tinyModel();
        putU64(b, after(b, "blk.0.attn_q.weight") + 4, 1L << 50);
        assertReadFails(save("dims.gguf", b), "blk.0.attn_q.weight", "absurd dimension");
    }

    @Test
    void tooManyDimensions() throws IOException {
        byte[] b = tinyModel();
        putU32(b, after(b, "blk.0.attn_q.weight"), 9);
        assertReadFails(save("ndims.gguf", b), "blk.0.attn_q.weight", "9 dimensions");
    }

    @Test
    void unknownTensorType() throws IOException {
        byte[] b = tinyModel();
        putU32(b, after(b, "blk.0.attn_q.weight") + 4 + 2 * 8, 99); // 2-D: type after two u64 dimensions
        assertReadFails(save("type.gguf", b), "blk.0.attn_q.weight", "unknown tensor type 99");
    }

    @Test
    void misalignedTensorOffset() throws IOException {
        byte[] b = tinyModel();
        int at = after(b, "blk.0.attn_q.weight") + 4 + 2 * 8 + 4;
        putU64(b, at, getU64(b, at) + 4);
        assertReadFails(save("offset.gguf", b), "blk.0.attn_q.weight", "not a multiple of the alignment 32");
    }

    @Test
    void unknownMetadataValueType() throws IOException {
        byte[] b = tinyModel();
        putU32(b, after(b, "llama.block_count"), 77);
        assertReadFails(save("vtype.gguf", b), "unknown metadata value type 77", "llama.block_count");
    }

    @Test
    void stringLengthBeyondTheFile() throws IOException {
        byte[] b = tinyModel();
        int keyStart = after(b, "general.architecture") - "general.architecture".length();
        putU64(b, keyStart - 8, 1L << 40);
        assertReadFails(save("strlen.gguf", b), "string length", "exceeds the file size");
    }

    @Test
    void corruptFileThroughTheCliIsOneLine() throws IOException {
        byte[] b = tinyModel();
        putU32(b, after(b, "blk.0.attn_q.weight") + 4 + 2 * 8, 99);
        CliErrorsTest.assertUserError(CliErrorsTest.run("inspect", save("cli.gguf", b).toString()), "unknown tensor type 99");
    }

    // --- model level (Llama3.Model.load: needs the runtime engineer's loader) -----------------------------

    /** Copies tiny-f32.gguf, dropping keys and tensors, and optionally replacing one tensor. */
    private Path copyModel(String name, Predicate<String> keepKey, Predicate<String> keepTensor,
                           String replaceTensor, long[] replacementShape) {
        Path out = dir.resolve(name);
        try (GGUF g = GGUF.read(SharedData.testModel("tiny-f32.gguf"))) {
            GgufWriter w = new GgufWriter().copyMetadata(g, keepKey);
            for (TensorInfo t : g.tensors().values()) {
                if (!keepTensor.test(t.name())) continue;
                if (t.name().equals(replaceTensor)) {
                    long n = 1;
                    for (long d : replacementShape) n *= d;
                    w.addTensor(t.name(), new float[(int) n], replacementShape);
                } else {
                    w.addTensor(t.name(), t.type(), t.shape(), g.tensorData(t));
                }
            }
            w.write(out);
        }
        return out;
    }

    @Test
    void loadRejectsBadMagic() throws IOException {
        byte[] b = tinyModel();
        b[0] = 'X';
        assertLoadFails(save("magic.gguf", b), "magic");
    }

    @Test
    void missingRequiredMetadata() {
        Path p = copyModel("nodim.gguf", k -> !k.equals("llama.embedding_length"), t -> true, null, null);
        assertLoadFails(p, "llama.embedding_length");
    }

    @Test
    void missingTensor() {
        Path p = copyModel("notensor.gguf", k -> true, t -> !t.equals("blk.1.ffn_up.weight"), null, null);
        assertLoadFails(p, "blk.1.ffn_up.weight");
    }

    @Test
    void tensorShapeDoesNotMatchTheConfig() {
        // attn_q must be [dim, heads*head_size] = [64, 64]; [64, 32] is what a KV projection would be.
        Path p = copyModel("shape.gguf", k -> true, t -> true, "blk.0.attn_q.weight", new long[] {64, 32});
        assertLoadFails(p, "blk.0.attn_q.weight", "64");
    }

    @Test
    void tokenizerVocabularySmallerThanTheEmbeddings() {
        // 299 token strings for a 300-row embedding table.
        Path p = dir.resolve("vocab.gguf");
        try (GGUF g = GGUF.read(SharedData.testModel("tiny-f32.gguf"))) {
            GgufWriter w = new GgufWriter().copyMetadata(g, k -> true);
            String[] tokens = g.get("tokenizer.ggml.tokens");
            w.putArray("tokenizer.ggml.tokens", Llama3.GGUFValueType.STRING, Arrays.copyOf(tokens, 299));
            for (TensorInfo t : g.tensors().values()) w.addTensor(t.name(), t.type(), t.shape(), g.tensorData(t));
            w.write(p);
        }
        assertLoadFails(p, "299");
    }

    @Test
    void unsupportedArchitecture() {
        Path p = dir.resolve("arch.gguf");
        try (GGUF g = GGUF.read(SharedData.testModel("tiny-f32.gguf"))) {
            GgufWriter w = new GgufWriter().copyMetadata(g, k -> true).putString("general.architecture", "mamba");
            for (TensorInfo t : g.tensors().values()) w.addTensor(t.name(), t.type(), t.shape(), g.tensorData(t));
            w.write(p);
        }
        assertLoadFails(p, "mamba");
    }

    @Test
    void unsupportedTensorTypeForTheRuntime() {
        // IQ2_XXS is a valid GGML type the runtime does not implement (README: supported types).
        Path p = dir.resolve("iq2.gguf");
        try (GGUF g = GGUF.read(SharedData.testModel("tiny-256-q4_0.gguf"))) {
            GgufWriter w = new GgufWriter().copyMetadata(g, k -> true);
            for (TensorInfo t : g.tensors().values()) {
                if (t.name().equals("blk.0.ffn_up.weight")) {
                    w.addTensor(t.name(), GGMLType.IQ2_XXS, t.shape(), new byte[(int) GGMLType.IQ2_XXS.byteSize(t.elements())]);
                } else {
                    w.addTensor(t.name(), t.type(), t.shape(), g.tensorData(t));
                }
            }
            w.write(p);
        }
        assertLoadFails(p, "IQ2_XXS");
    }
}
