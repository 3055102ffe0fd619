package io.github.tokenbutler.tools;

import io.github.tokenbutler.progress.ProgressBar;
import io.github.tokenbutler.gguf.LlamaGguf.Hyperparameters;
import io.github.tokenbutler.gguf.CopiedVocab;
import io.github.tokenbutler.gguf.SpmVocab;
import io.github.tokenbutler.gguf.SynthModel;
import io.github.tokenbutler.gguf.TokenizerKeys;
import io.github.tokenbutler.runtime.Llama3.UserError;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;

/**
 * `synth`: a deterministic random-weight llama model with an embedded vocabulary: a synthetic SentencePiece one,
 * or another GGUF's (--vocab), and optionally a chat template (--chat-template-text).
 */
public final class SynthCommand implements Command, Main.FlagOptions {
    @Override public String name() { return "synth"; }

    @Override public String summary() { return "deterministic random-weight llama model (presets or --dims)"; }

    @Override public String usage() {
        return """
                usage: ./tokenbutler synth (--preset NAME | --dims DIM,FFN,LAYERS,HEADS,KVHEADS,VOCAB[,CTX]) [--type T] [--seed S]
                                           [--vocab FILE.gguf] [--chat-template-text TEXT] OUT.gguf
                  --preset NAME   %s
                  --dims ...      explicit shape; CTX defaults to 2048
                  --tied          with --dims: no output.weight, the embeddings serve as the output matrix
                  --rope-theta X  with --dims: RoPE base (default 10000)
                  --type T        F32 (default), F16, or a quantize type (Q8_0, Q4_0, Q4_1, Q4_K, Q5_K, Q6_K,
                                  Q4_K_M, Q5_K_M) for the 2-D weights (norms stay F32; with Q4_0 and Q4_1 the
                                  output matrix is Q6_K, as in llama.cpp's Q4_0 files; Q4_K_M and Q5_K_M are
                                  llama.cpp's mixes, as in quantize --help)
                  --seed S        64-bit seed (default 0); the same arguments give a byte-identical file
                  --vocab FILE    the vocabulary of another GGUF (a model or a vocabulary file, e.g. from convert-tiktoken):
                                  every tokenizer.* key is copied (tokens, scores, types, merges, special ids,
                                  tokenizer.chat_template) and the model's vocabulary is sized to it (with --dims,
                                  VOCAB must be its token count)
                  --chat-template-text TEXT   write TEXT as tokenizer.chat_template (a Jinja template, or a family
                                  name such as chatml), replacing the vocabulary's
                """.formatted(String.join(", ", SynthModel.PRESETS.keySet()));
    }

    @Override public Set<String> flags() { return Set.of("tied"); }

    @Override public int run(Args args) {
        String preset = args.string("preset");
        String dims = args.string("dims");
        boolean tied = args.flag("tied");
        boolean hasTheta = args.has("rope-theta");
        double theta = args.number("rope-theta", 10000, Float.MIN_NORMAL, Float.MAX_VALUE);
        String typeName = args.string("type", "F32");
        long seed = args.longValue("seed", 0);
        Path vocabPath = args.has("vocab") ? args.existingFile("vocab") : null;
        String chatTemplate = args.string("chat-template-text");
        args.finish(1);
        Path outPath = args.outputPositional(0, "OUT.gguf (the file to write)");

        String type = SynthModel.TYPES.stream().filter(t -> t.equalsIgnoreCase(typeName)).findFirst()
                .orElseThrow(() -> new UserError("synth: option --type must be one of " + String.join(", ", SynthModel.TYPES) + ", got '" + typeName + "'"));
        Hyperparameters h;
        String presetName;
        if (preset != null && dims != null) throw new UserError("synth: give either --preset or --dims, not both");
        if (preset != null) {
            if (tied || hasTheta) throw new UserError("synth: --tied and --rope-theta go with --dims; preset '" + preset + "' fixes them");
            h = SynthModel.PRESETS.get(preset);
            if (h == null) throw new UserError("synth: unknown preset '" + preset + "' (known: " + String.join(", ", SynthModel.PRESETS.keySet()) + ")");
            presetName = preset;
        } else if (dims != null) {
            h = parseDims(dims, tied, (float) theta);
            presetName = "dims:" + dims;
        } else {
            throw new UserError("synth: option --preset or --dims is required (presets: " + String.join(", ", SynthModel.PRESETS.keySet()) + ")");
        }
        if (chatTemplate != null && chatTemplate.isEmpty()) throw new UserError("synth: option --chat-template-text must not be empty");
        TokenizerKeys vocab;
        if (vocabPath != null) {
            CopiedVocab copied = CopiedVocab.read(vocabPath, "synth: --vocab");
            if (dims != null && h.vocab() != copied.size()) {
                throw new UserError("synth: --dims gives VOCAB " + h.vocab() + " but --vocab " + vocabPath + " has " + copied.size()
                        + " tokens; give " + copied.size() + " (or use a preset, which takes the vocabulary's size)");
            }
            h = SynthModel.withVocab(h, copied.size());
            vocab = copied;
        } else {
            vocab = SpmVocab.synthetic(h.vocab());
        }
        long start = System.nanoTime();
        ProgressBar bar = ProgressBar.bytesOnStderr("synth");
        List<String> notes;
        try (bar) { // the writer's last tensor finishes the bar; a failure only ends its line
            notes = SynthModel.write(h, presetName, type, seed, vocab, chatTemplate, outPath, bar);
        }
        for (String n : notes) System.err.println("note: " + n);
        double seconds = (System.nanoTime() - start) / 1e9;
        long bytes;
        try {
            bytes = Files.size(outPath);
        } catch (java.io.IOException e) {
            throw UserError.io("synth: cannot read the size of " + outPath, e);
        }
        System.out.printf("wrote %s: %s, %s, seed %d, %d bytes in %.1f s%s%n", outPath, h.name(), type, seed, bytes, seconds,
                vocabPath == null ? "" : ", vocabulary of " + vocab.size() + " tokens from " + vocabPath);
        return 0;
    }

    static Hyperparameters parseDims(String dims, boolean tied, float theta) {
        String[] parts = dims.split(",", -1);
        if (parts.length != 6 && parts.length != 7) {
            throw new UserError("synth: option --dims expects DIM,FFN,LAYERS,HEADS,KVHEADS,VOCAB[,CTX] (6 or 7 integers), got '" + dims + "'");
        }
        String[] names = {"DIM", "FFN", "LAYERS", "HEADS", "KVHEADS", "VOCAB", "CTX"};
        // The runtime's own bounds (Llama3.Model), and a vocabulary the synthetic tokenizer can build in memory.
        int[] max = {1 << 20, 1 << 22, 1 << 12, 1 << 12, 1 << 12, 1 << 22, 1 << 30};
        int[] v = new int[7];
        v[6] = 2048;
        for (int i = 0; i < parts.length; i++) {
            try {
                v[i] = Integer.parseInt(parts[i].trim());
            } catch (NumberFormatException e) {
                throw new UserError("synth: option --dims: " + names[i] + " must be an integer, got '" + parts[i] + "'");
            }
            if (v[i] <= 0 || v[i] > max[i]) {
                throw new UserError("synth: option --dims: " + names[i] + " must be an integer from 1 to " + max[i] + ", got " + v[i]);
            }
        }
        String name = "synth-" + dims.replace(',', '-');
        return new Hyperparameters(name, v[0], v[1], v[2], v[3], v[4], v[5], v[6], theta, 1e-5f, tied).validate("synth --dims");
    }
}
