package io.github.tokenbutler.butlerfile;

import io.github.tokenbutler.gguf.GgufQuantizer;
import io.github.tokenbutler.gguf.QuantMix;
import io.github.tokenbutler.gguf.GgufWriter;
import io.github.tokenbutler.gguf.LlamaGguf;
import io.github.tokenbutler.gguf.Quantizers;
import io.github.tokenbutler.gguf.SynthModel;
import io.github.tokenbutler.plugin.predictor.ModelFingerprint;
import io.github.tokenbutler.plugin.predictor.TokenButlerPredictor;
import io.github.tokenbutler.runtime.Llama3.GGMLType;
import io.github.tokenbutler.runtime.Llama3.GGUF;
import io.github.tokenbutler.runtime.Llama3.GGUFValueType;
import io.github.tokenbutler.runtime.Llama3.ModelConfig;
import io.github.tokenbutler.runtime.Llama3.UserError;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A predictor loads with the model it was made for, in any quantization, and with no other model: the error
 * names both. Also checks the fingerprint for every token-embedding type the runtime reads: rows quantized by
 * the gguf-tools quantizers (F16, BF16, Q8_0, Q4_0, Q6_K) or by small reference quantizers written here (Q4_1,
 * Q4_K, Q5_K), dequantized by the runtime, give nearly the signature of the F32 rows.
 */
class PredictorModelCheckTest {
    @TempDir Path dir;

    private Path storiesPredictor() {
        Path p = dir.resolve("stories.butler.gguf");
        try (GGUF stories = GGUF.read(StoriesModel.path())) {
            RandomPredictor.write(StoriesModel.config(stories), stories, p, 1, 0, 0, 0, 0, GGMLType.F32);
        }
        return p;
    }

    private static UserError refuse(Path predictor, Path model) {
        try (GGUF g = GGUF.read(model)) {
            return assertThrows(UserError.class, () -> TokenButlerPredictor.load(predictor, StoriesModel.info(g)));
        }
    }

    @Test void anotherShapeIsRefusedNamingBoth() {
        Path predictor = storiesPredictor();
        Path other = dir.resolve("other.gguf");
        SynthModel.write(new LlamaGguf.Hyperparameters("tiny-synth", 64, 128, 2, 4, 2, 300, 256, 10000f, 1e-5f, false),
                "test", GGMLType.F32, 0, other);
        String m = refuse(predictor, other).getMessage();
        System.out.println("another model: " + m);
        assertTrue(m.contains("was trained for model 'stories260K' (dim 64, 5 layers, 8 heads / 4 KV heads, head size 8, vocab 512"), m);
        assertTrue(m.contains("but the model given is 'tiny-synth' (dim 64, 2 layers, 4 heads / 2 KV heads, head size 16, vocab 300"), m);
        assertTrue(m.contains("the shapes differ"), m);
    }

    @Test void otherWeightsOfTheSameShapeAreRefused() {
        Path predictor = storiesPredictor();
        Path other = dir.resolve("retrained.gguf");
        // Same shape and vocabulary, other token embeddings (a stand-in for another training run).
        java.util.SplittableRandom rng = new java.util.SplittableRandom(1);
        StoriesModel.copy(other, w -> w.putString("general.name", "retrained"), (t, data) -> {
            if (!t.name().equals("token_embd.weight")) return null;
            float[] x = data.clone();
            for (int i = 0; i < x.length; i++) x[i] = (float) rng.nextGaussian() * 0.1f;
            return x;
        });
        String m = refuse(predictor, other).getMessage();
        System.out.println("other weights: " + m);
        assertTrue(m.contains("'stories260K'") && m.contains("'retrained'"), m);
        assertTrue(m.contains("the shapes and vocabularies agree but the weights differ"), m);
    }

    @Test void anotherVocabularyIsRefused() {
        Path predictor = storiesPredictor();
        Path other = dir.resolve("revocab.gguf");
        StoriesModel.copy(other, w -> {
            String[] tokens;
            try (GGUF g = GGUF.read(StoriesModel.path())) { tokens = ((String[]) g.get("tokenizer.ggml.tokens")).clone(); }
            tokens[300] = "\u2581butler";
            w.putArray("tokenizer.ggml.tokens", GGUFValueType.STRING, tokens);
        }, (t, data) -> null);
        String m = refuse(predictor, other).getMessage();
        assertTrue(m.contains("the vocabularies differ"), m);
    }

    @Test void quantizedCopiesOfTheModelAreAccepted() {
        Path predictor = storiesPredictor();
        // The K-quant mixes write stories260K's rows of 64 as Q8_0, so these two cover every type its embeddings can get.
        for (QuantMix type : List.of(QuantMix.Q8_0, QuantMix.Q4_0)) {
            Path q = dir.resolve("stories-" + type + ".gguf");
            GgufQuantizer.quantize(StoriesModel.path(), q, type);
            try (GGUF g = GGUF.read(q); GGUF f32 = GGUF.read(StoriesModel.path())) {
                assertEquals(type.base, g.tensors().get("token_embd.weight").type());
                TokenButlerPredictor p = TokenButlerPredictor.load(predictor, StoriesModel.info(g));
                double d = ModelFingerprint.signatureDistance(p.trainedFor().embeddingSignature(),
                        ModelFingerprint.of(StoriesModel.config(g), g).embeddingSignature());
                System.out.printf(Locale.ROOT, "stories260K %s: embedding signature distance %.4f (limit %.2f)%n", type, d,
                        ModelFingerprint.MAX_SIGNATURE_DISTANCE);
                assertEquals(ModelFingerprint.of(StoriesModel.config(f32), f32).vocabularyHash(), p.config().fingerprint());
            }
        }
    }

    // ----------------------------------------------------------------------------------------------
    // The fingerprint's row decoders, one token-embedding type at a time.

    static final int DIM = 256, VOCAB = 64;

    /** A model file holding only what the fingerprint reads: a vocabulary and token_embd.weight of the given bytes. */
    private Path embeddingOnly(String name, GGMLType type, byte[] rows) {
        GgufWriter w = new GgufWriter();
        w.putString("general.architecture", "llama");
        w.putString("general.name", name);
        String[] tokens = new String[VOCAB];
        for (int i = 0; i < VOCAB; i++) tokens[i] = "t" + i;
        w.putArray("tokenizer.ggml.tokens", GGUFValueType.STRING, tokens);
        w.addTensor("token_embd.weight", type, new long[]{DIM, VOCAB}, rows);
        Path p = dir.resolve(name + ".gguf");
        w.write(p);
        return p;
    }

    private static final ModelConfig SHAPE = new ModelConfig(DIM, 512, 2, 4, 4, 64, VOCAB, 128, 1e-5f, 10000f);

    private float[] signature(Path p) {
        try (GGUF g = GGUF.read(p)) { return ModelFingerprint.of(SHAPE, g).embeddingSignature(); }
    }

    @Test void everyEmbeddingTypeDecodesToNearlyTheSameSignature() {
        java.util.SplittableRandom rng = new java.util.SplittableRandom(7);
        float[] x = new float[DIM * VOCAB];
        for (int i = 0; i < x.length; i++) x[i] = (float) (rng.nextGaussian() * 0.02 + (i % 7 == 0 ? 0.01 : 0));
        float[] reference = signature(embeddingOnly("f32", GGMLType.F32, f32Bytes(x)));
        float[] other = new float[x.length];
        for (int i = 0; i < x.length; i++) other[i] = (float) rng.nextGaussian() * 0.02f;
        double unrelated = ModelFingerprint.signatureDistance(reference, signature(embeddingOnly("other", GGMLType.F32, f32Bytes(other))));
        System.out.printf(Locale.ROOT, "signature distance to unrelated weights: %.3f%n", unrelated);
        assertTrue(unrelated > 0.8, "unrelated weights must be far: " + unrelated);
        Object[][] cases = {
                {GGMLType.F16, Quantizers.quantize(GGMLType.F16, x, 0, x.length), 0.001},
                {GGMLType.BF16, Quantizers.quantize(GGMLType.BF16, x, 0, x.length), 0.01},
                {GGMLType.Q8_0, Quantizers.quantize(GGMLType.Q8_0, x, 0, x.length), 0.02},
                {GGMLType.Q6_K, Quantizers.quantize(GGMLType.Q6_K, x, 0, x.length), 0.05},
                {GGMLType.Q4_0, Quantizers.quantize(GGMLType.Q4_0, x, 0, x.length), 0.2},
                {GGMLType.Q4_1, ReferenceQuantizers.q4_1(x), 0.2},
                {GGMLType.Q4_K, ReferenceQuantizers.q4_k(x), 0.2},
                {GGMLType.Q5_K, ReferenceQuantizers.q5_k(x), 0.1},
        };
        for (Object[] c : cases) {
            GGMLType type = (GGMLType) c[0];
            double d = ModelFingerprint.signatureDistance(reference, signature(embeddingOnly(type.name(), type, (byte[]) c[1])));
            System.out.printf(Locale.ROOT, "token_embd %s: signature distance %.4f%n", type, d);
            assertTrue(d <= (double) c[2], type + " signature distance " + d);
        }
    }

    static byte[] f32Bytes(float[] x) {
        ByteBuffer b = ByteBuffer.allocate(x.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : x) b.putFloat(v);
        return b.array();
    }
}
