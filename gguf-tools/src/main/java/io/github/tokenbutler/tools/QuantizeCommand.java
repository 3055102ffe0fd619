package io.github.tokenbutler.tools;

import io.github.tokenbutler.progress.ProgressBar;
import io.github.tokenbutler.gguf.GgufQuantizer;
import io.github.tokenbutler.runtime.Llama3.GGMLType;
import io.github.tokenbutler.runtime.Llama3.UserError;

import java.nio.file.Path;

/** `quantize IN OUT --type Q8_0|Q4_0`: re-encodes the 2-D weights of a GGUF file. */
public final class QuantizeCommand implements Command {
    @Override public String name() { return "quantize"; }

    @Override public String summary() { return "quantize the 2-D weights of a GGUF file to Q8_0 or Q4_0"; }

    @Override public String usage() {
        return """
                usage: ./tokenbutler quantize IN.gguf OUT.gguf --type Q8_0|Q4_0
                  Quantizes every 2-D F32/F16/BF16 tensor whose rows split into blocks of 32 values; keeps the
                  others (1-D norms, rows of other lengths, already-quantized tensors) as they are and names
                  them in a warning. Metadata is copied; general.file_type is set to the new type.
                """;
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
        GGMLType type = GgufQuantizer.TARGETS.stream().filter(t -> t.name().equalsIgnoreCase(typeName)).findFirst()
                .orElseThrow(() -> new UserError("quantize: option --type must be one of " + GgufQuantizer.TARGETS + ", got '" + typeName + "'"));
        long start = System.nanoTime();
        ProgressBar bar = ProgressBar.bytesOnStderr("quantize");
        GgufQuantizer.Report report;
        try (bar) { // the writer's last tensor finishes the bar; a failure only ends its line
            report = GgufQuantizer.quantize(in, out, type, bar);
        }
        for (String w : report.warnings(type)) System.err.println("warning: " + w);
        System.out.printf("wrote %s: %d tensors quantized to %s in %.1f s%n", out, report.quantized(), type, (System.nanoTime() - start) / 1e9);
        return 0;
    }
}
