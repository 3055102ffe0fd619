package io.github.tokenbutler.tools;

import io.github.tokenbutler.progress.ProgressBar;
import io.github.tokenbutler.gguf.Llama2cConverter;
import io.github.tokenbutler.gguf.LlamaGguf.Hyperparameters;

import java.nio.file.Path;

/** `convert-llama2c MODEL.bin VOCAB OUT.gguf`: a llama2.c legacy checkpoint and its SentencePiece vocabulary → GGUF. */
public final class ConvertLlama2cCommand implements Command {
    @Override public String name() { return "convert-llama2c"; }

    @Override public String summary() { return "llama2.c checkpoint + SentencePiece vocab -> GGUF (F32)"; }

    @Override public String usage() {
        return """
                usage: ./tokenbutler convert-llama2c MODEL.bin VOCAB OUT.gguf
                  MODEL.bin  llama2.c legacy checkpoint (what run.c reads: 7 int32 header, then float32 weights)
                  VOCAB      SentencePiece vocabulary: the .model protobuf, or the .vocab text (piece TAB score per line)
                  OUT.gguf   the llama GGUF to write (F32; ./tokenbutler quantize makes Q8_0/Q4_0 from it)
                """;
    }

    @Override public int run(Args args) {
        args.finish(3);
        Path checkpoint = args.existingPositional(0, "MODEL.bin (the llama2.c checkpoint)");
        Path vocab = args.existingPositional(1, "VOCAB (the SentencePiece .model or .vocab)");
        Path out = args.outputPositional(2, "OUT.gguf (the file to write)");
        ProgressBar bar = ProgressBar.bytesOnStderr("convert-llama2c");
        Hyperparameters h;
        try (bar) { // the writer's last tensor finishes the bar; a failure only ends its line
            h = Llama2cConverter.convert(checkpoint, vocab, out, bar);
        }
        System.out.printf("wrote %s: dim %d, ffn %d, %d layers, %d/%d heads, vocab %d, context %d%s%n", out, h.dim(), h.ffn(),
                h.layers(), h.heads(), h.kvHeads(), h.vocab(), h.context(), h.tiedEmbeddings() ? ", shared classifier" : "");
        return 0;
    }
}
