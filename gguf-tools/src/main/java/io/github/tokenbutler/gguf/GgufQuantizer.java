package io.github.tokenbutler.gguf;

import io.github.tokenbutler.runtime.Llama3.GGMLType;
import io.github.tokenbutler.runtime.Llama3.GGUF;
import io.github.tokenbutler.runtime.Llama3.TensorInfo;
import io.github.tokenbutler.runtime.Llama3.UserError;

import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ForkJoinPool;

/**
 * Re-encodes the 2-D weights of a GGUF file as Q8_0 or Q4_0 and copies everything else: all metadata
 * (general.file_type and general.quantization_version updated) and the tensors that cannot or should not
 * be quantized, unchanged. Streams tensor by tensor from the mapped input.
 */
public final class GgufQuantizer {
    private GgufQuantizer() {}

    public static final List<GGMLType> TARGETS = List.of(GGMLType.Q8_0, GGMLType.Q4_0);

    /** What happened to the tensors that were not quantized; each list holds "name (reason)" entries. */
    public record Report(int quantized, List<String> notTwoD, List<String> rowsNotBlocks, List<String> alreadyQuantized) {
        /** Warning lines for stderr, one per kind of kept tensor. */
        public List<String> warnings(GGMLType target) {
            List<String> w = new ArrayList<>();
            if (!notTwoD.isEmpty()) w.add("kept " + notTwoD.size() + " tensors as they are (not 2-D): " + String.join(", ", notTwoD));
            if (!rowsNotBlocks.isEmpty()) {
                w.add("kept " + rowsNotBlocks.size() + " tensors as they are (row length not a multiple of " + target.blockSize
                        + ", so rows cannot be split into " + target + " blocks): " + String.join(", ", rowsNotBlocks));
            }
            if (!alreadyQuantized.isEmpty()) {
                w.add("kept " + alreadyQuantized.size() + " tensors as they are (already quantized; re-quantizing would add error): "
                        + String.join(", ", alreadyQuantized));
            }
            return w;
        }
    }

    /** Source types whose values can be read exactly for quantizing. */
    private static boolean isFloat(GGMLType t) {
        return t == GGMLType.F32 || t == GGMLType.F16 || t == GGMLType.BF16;
    }

    public static Report quantize(Path in, Path out, GGMLType target) { return quantize(in, out, target, GgufWriter.Progress.NONE); }

    public static Report quantize(Path in, Path out, GGMLType target, GgufWriter.Progress progress) {
        if (!TARGETS.contains(target)) throw new UserError("quantize: --type must be one of " + TARGETS + ", got " + target);
        List<String> notTwoD = new ArrayList<>(), rowsNotBlocks = new ArrayList<>(), alreadyQuantized = new ArrayList<>();
        int quantized = 0;
        try (GGUF g = GGUF.read(in); ForkJoinPool pool = new ForkJoinPool(Runtime.getRuntime().availableProcessors())) {
            GgufWriter w = new GgufWriter(g.version());
            w.copyMetadata(g, k -> true);
            w.putU32("general.file_type", LlamaGguf.fileType(target));
            w.putU32("general.quantization_version", 2);
            for (TensorInfo t : g.tensors().values()) {
                MemorySegment data = g.tensorData(t);
                boolean quantize = false;
                if (t.shape().length != 2) {
                    notTwoD.add(t.name() + " " + t.type());
                } else if (t.type() == target) {
                    // Already in the target type: copied; not worth a warning.
                } else if (!isFloat(t.type())) {
                    alreadyQuantized.add(t.name() + " " + t.type());
                } else if (t.shape()[0] % target.blockSize != 0) {
                    rowsNotBlocks.add(t.name() + " " + t.type() + " rows of " + t.shape()[0]);
                } else {
                    quantize = true;
                }
                if (quantize) {
                    quantized++;
                    GGMLType sourceType = t.type();
                    long rowBytes = sourceType.byteSize(t.shape()[0]);
                    int rowLength = (int) t.shape()[0];
                    w.addTensor(t.name(), target, t.shape(), RowEncoder.source(t.name(), target, t.shape(), pool,
                            (row, x) -> Quantizers.dequantize(sourceType, data, row * rowBytes, rowLength, x, 0)));
                } else {
                    w.addTensor(t.name(), t.type(), t.shape(), data);
                }
            }
            if (quantized == 0 && !alreadyQuantized.isEmpty()) {
                // Writing would mark the file as the target type while its weights stay what they were.
                throw new UserError("quantize: no tensor of " + in + " can be quantized to " + target + ": " + alreadyQuantized.size()
                        + " are already quantized (" + alreadyQuantized.getFirst() + ", ...) and re-quantizing would add error;"
                        + " quantize the F32, F16 or BF16 file instead");
            }
            w.write(out, progress);
        }
        return new Report(quantized, notTwoD, rowsNotBlocks, alreadyQuantized);
    }
}
