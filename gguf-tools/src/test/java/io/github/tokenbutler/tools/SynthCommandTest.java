package io.github.tokenbutler.tools;

import io.github.tokenbutler.runtime.Llama3.GGMLType;
import io.github.tokenbutler.runtime.Llama3.GGUF;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static io.github.tokenbutler.tools.CliErrorsTest.assertUserError;
import static io.github.tokenbutler.tools.CliErrorsTest.run;
import static org.junit.jupiter.api.Assertions.*;

class SynthCommandTest {
    @TempDir Path dir;

    @Test
    void presetWritesAModelAndReportsIt() {
        Path out = dir.resolve("t.gguf");
        CliErrorsTest.Result r = run("synth", "--preset", "tiny-mha", "--type", "q8_0", "--seed", "3", out.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith("wrote " + out), r.out());
        try (GGUF g = GGUF.read(out)) {
            assertEquals(4, g.getLong("llama.attention.head_count_kv", 0));
            assertEquals(GGMLType.Q8_0, g.tensors().get("blk.0.attn_q.weight").type());
            assertEquals(3, g.getLong("tokenbutler.synth.seed", 0));
        }
    }

    @Test
    void dimsGiveTheRequestedShape() {
        Path out = dir.resolve("d.gguf");
        CliErrorsTest.Result r = run("synth", "--dims", "96,160,3,6,2,400,64", "--tied", "--rope-theta", "500000", out.toString());
        assertEquals(0, r.code(), r.err());
        // ffn 160 is a multiple of 32: nothing falls back in F32.
        try (GGUF g = GGUF.read(out)) {
            assertEquals(96, g.getLong("llama.embedding_length", 0));
            assertEquals(160, g.getLong("llama.feed_forward_length", 0));
            assertEquals(3, g.getLong("llama.block_count", 0));
            assertEquals(6, g.getLong("llama.attention.head_count", 0));
            assertEquals(2, g.getLong("llama.attention.head_count_kv", 0));
            assertEquals(400, g.getLong("llama.vocab_size", 0));
            assertEquals(64, g.getLong("llama.context_length", 0));
            assertEquals(500000f, g.getFloat("llama.rope.freq_base", 0));
            assertNull(g.tensors().get("output.weight"));
            assertArrayEquals(new long[] {96, 32}, g.tensors().get("blk.2.attn_k.weight").shape());
            assertEquals(400, ((String[]) g.get("tokenizer.ggml.tokens")).length);
        }
    }

    @Test
    void rowsThatDoNotSplitIntoBlocksStayF32WithANote() {
        Path out = dir.resolve("n.gguf");
        CliErrorsTest.Result r = run("synth", "--dims", "64,172,1,4,2,300", "--type", "Q8_0", out.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("blk.0.ffn_down.weight: F32 instead of Q8_0 (row length 172"), r.err());
        try (GGUF g = GGUF.read(out)) {
            assertEquals(GGMLType.F32, g.tensors().get("blk.0.ffn_down.weight").type());
            assertEquals(GGMLType.Q8_0, g.tensors().get("blk.0.ffn_up.weight").type());
        }
    }

    /**
     * synth's K-quant types are the quantize command's: the same tensors, type by type and byte for byte. (Not so for
     * Q4_0 and Q4_1, where synth puts a Q6_K output matrix as llama.cpp does and quantize keeps every matrix in the type.)
     */
    @ParameterizedTest
    @ValueSource(strings = {"Q4_K_M", "Q5_K", "Q6_K"})
    void quantizedSynthEqualsQuantizingTheF32Synth(String type) {
        Path f32 = dir.resolve("f.gguf"), direct = dir.resolve("d.gguf"), quantized = dir.resolve("q.gguf");
        String[] dims = {"--dims", "256,512,8,4,2,300", "--tied", "--seed", "4"};
        assertEquals(0, run(concat(new String[] {"synth", "--type", "F32"}, dims, f32.toString())).code());
        CliErrorsTest.Result r = run(concat(new String[] {"synth", "--type", type}, dims, direct.toString()));
        assertEquals(0, r.code(), r.err());
        assertEquals(0, run("quantize", f32.toString(), quantized.toString(), "--type", type).code());
        try (GGUF a = GGUF.read(direct); GGUF b = GGUF.read(quantized)) {
            assertEquals(b.getLong("general.file_type", -1), a.getLong("general.file_type", -2));
            for (var t : b.tensors().values()) {
                var u = a.tensors().get(t.name());
                assertEquals(t.type(), u.type(), t.name());
                assertArrayEquals(b.tensorData(t).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE),
                        a.tensorData(u).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE), t.name());
            }
        }
    }

    private static String[] concat(String[] head, String[] middle, String last) {
        String[] all = java.util.Arrays.copyOf(head, head.length + middle.length + 1);
        System.arraycopy(middle, 0, all, head.length, middle.length);
        all[all.length - 1] = last;
        return all;
    }

    @Test
    void kQuantRowsOfOtherMultiplesOf32BecomeQ8_0WithANote() {
        Path out = dir.resolve("k.gguf");
        CliErrorsTest.Result r = run("synth", "--preset", "tiny", "--type", "Q4_K_M", out.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("blk.0.attn_q.weight: Q8_0 instead of Q4_K (row length 64 is not a multiple of 256)"), r.err());
        assertTrue(r.err().contains("output.weight: Q8_0 instead of Q6_K (row length 64 is not a multiple of 256)"), r.err());
    }

    @Test
    void sameArgumentsGiveTheSameBytes() throws IOException {
        Path a = dir.resolve("a.gguf"), b = dir.resolve("b.gguf");
        assertEquals(0, run("synth", "--preset", "tiny", "--type", "Q4_0", "--seed", "9", a.toString()).code());
        assertEquals(0, run("synth", "--preset", "tiny", "--type", "Q4_0", "--seed", "9", b.toString()).code());
        assertArrayEquals(Files.readAllBytes(a), Files.readAllBytes(b));
    }

    @Test
    void badArgumentsAreOneLineErrors() {
        String out = dir.resolve("x.gguf").toString();
        assertUserError(run("synth", out), "--preset or --dims is required");
        assertUserError(run("synth", "--preset", "tiny", "--dims", "64,64,1,1,1,300", out), "either --preset or --dims");
        assertUserError(run("synth", "--preset", "tiny", "--type", "Q3_K", out),
                "--type must be one of F32, F16, Q8_0, Q4_0, Q4_1, Q4_K, Q5_K, Q6_K, Q4_K_M, Q5_K_M, got 'Q3_K'");
        assertUserError(run("synth", "--dims", "64,64,1", out), "6 or 7 integers");
        assertUserError(run("synth", "--dims", "64,64,1,4,3,300", out), "heads 4 is not a multiple of kv heads 3");
        assertUserError(run("synth", "--dims", "64,64,1,4,2,-5", out), "VOCAB must be an integer from 1 to 4194304, got -5");
        assertUserError(run("synth", "--dims", "64,64,1,4,2,100", out), "at least 260");
        assertUserError(run("synth", "--preset", "tiny", "--tied", out), "--tied");
        assertUserError(run("synth", "--preset", "tiny"), "missing argument OUT.gguf");
        assertUserError(run("synth", "--preset", "tiny", dir.resolve("no/such/dir/x.gguf").toString()), "does not exist");
        assertFalse(Files.exists(Path.of(out)));
    }
}
