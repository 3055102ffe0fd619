package io.github.tokenbutler.tools;

import io.github.tokenbutler.progress.ProgressBar;
import io.github.tokenbutler.gguf.GgufQuantizer;
import io.github.tokenbutler.gguf.QuantMix;
import io.github.tokenbutler.runtime.Llama3.UserError;

import java.nio.file.Path;

/** `quantize IN OUT --type T`: re-encodes the 2-D weights of a GGUF file (T: a {@link QuantMix}). */
public final class QuantizeCommand implements Command {
    @Override public String name() { return "quantize"; }

    @Override public String summary() { return "quantize the 2-D weights of a GGUF file (Q8_0, Q4_0, Q4_1, K-quants, Q4_K_M)"; }

    @Override public String usage() {
        return """
                usage: ./tokenbutler quantize IN.gguf OUT.gguf --type T
                  T is one of %s:
                    Q8_0, Q4_0, Q4_1, Q4_K, Q5_K, Q6_K   every 2-D weight in that type
                    Q4_K_M, Q5_K_M   llama.cpp's mixes: Q4_K (Q5_K) for most weights; Q6_K for the output
                                     matrix (token_embd when there is no output.weight) and for attn_v and
                                     ffn_down of the first and last eighth of the layers and every third between
                  Quantizes every 2-D F32/F16/BF16 tensor. K-quant blocks hold 256 values: rows of other
                  multiples of 32 are written as Q8_0 instead. Keeps the others (1-D norms, rows that are not
                  multiples of 32, already-quantized tensors) as they are. Every such tensor is named in a
                  warning. Metadata is copied; general.file_type is set to llama.cpp's file type of T.
                """.formatted(QuantMix.names());
    }

    private static boolean sameFile(Path a, Path b) {
        try {
            return java.nio.file.Files.exists(b) && java.nio.file.Files.isSameFile(a, b);
        } catch (java.io.IOException e) {
            return false; // then they are not provably the same; the write reports its own failure
        }
    }

    @Override public int run(Args args) {
        String typeName = args.requireString("type");
        args.finish(2);
        Path in = args.existingPositional(0, "IN.gguf (the model to quantize)");
        Path out = args.outputPositional(1, "OUT.gguf (the file to write)");
        if (in.toAbsolutePath().normalize().equals(out.toAbsolutePath().normalize()) || sameFile(in, out)) {
            throw new UserError("quantize: OUT.gguf " + out + " is the input file; write the quantized model to another file");
        }
        QuantMix type = QuantMix.parse(typeName, "quantize");
        long start = System.nanoTime();
        ProgressBar bar = ProgressBar.bytesOnStderr("quantize");
        GgufQuantizer.Report report;
        try (bar) { // the writer's last tensor finishes the bar; a failure only ends its line
            report = GgufQuantizer.quantize(in, out, type, bar);
        }
        for (String w : report.warnings(type)) System.err.println("warning: " + w);
        String split = "";
        if (report.types().size() > 1 || (report.types().size() == 1 && !report.types().containsKey(type.base))) {
            StringBuilder sb = new StringBuilder();
            for (var e : report.types().entrySet()) sb.append(sb.isEmpty() ? " (" : ", ").append(e.getValue()).append(' ').append(e.getKey());
            split = sb.append(')').toString();
        }
        System.out.printf("wrote %s: %d tensors quantized to %s%s in %.1f s%n", out, report.quantized(), type, split, (System.nanoTime() - start) / 1e9);
        return 0;
    }
}
