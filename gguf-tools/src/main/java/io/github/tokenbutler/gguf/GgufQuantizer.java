package io.github.tokenbutler.gguf;

import io.github.tokenbutler.runtime.Llama3.GGMLType;
import io.github.tokenbutler.runtime.Llama3.GGUF;
import io.github.tokenbutler.runtime.Llama3.TensorInfo;
import io.github.tokenbutler.runtime.Llama3.UserError;

import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ForkJoinPool;

/**
 * Re-encodes the 2-D weights of a GGUF file as a {@link QuantMix} says (one type for all, or llama.cpp's
 * per-tensor choice for Q4_K_M / Q5_K_M) and copies everything else: all metadata (general.file_type and
 * general.quantization_version updated) and the tensors that cannot or should not be quantized, unchanged.
 * Streams tensor by tensor from the mapped input.
 */
public final class GgufQuantizer {
    private GgufQuantizer() {}

    /**
     * What happened to the tensors: how many were written in each type, and, as "name (reason)" entries, the
     * ones kept as they were and the ones written as Q8_0 because their rows do not split into K-quant blocks.
     */
    public record Report(int quantized, Map<GGMLType, Integer> types, List<String> notTwoD, List<String> rowsNotBlocks,
                         List<String> alreadyQuantized, List<String> fellBack) {
        /** Warning lines for stderr, one per kind of tensor that did not get the mix's type. */
        public List<String> warnings(QuantMix mix) {
            List<String> w = new ArrayList<>();
            if (!notTwoD.isEmpty()) w.add("kept " + notTwoD.size() + " tensors as they are (not 2-D): " + String.join(", ", notTwoD));
            if (!fellBack.isEmpty()) {
                w.add("wrote " + fellBack.size() + " tensors as Q8_0 (row length not a multiple of 256, so rows cannot be split into"
                        + " K-quant blocks): " + String.join(", ", fellBack));
            }
            if (!rowsNotBlocks.isEmpty()) {
                String blocks = mix.base.blockSize == 256 ? mix.base + " or Q8_0" : mix.base.toString();
                w.add("kept " + rowsNotBlocks.size() + " tensors as they are (row length not a multiple of 32, so rows cannot be split into "
                        + blocks + " blocks): " + String.join(", ", rowsNotBlocks));
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

    public static Report quantize(Path in, Path out, QuantMix mix) { return quantize(in, out, mix, GgufWriter.Progress.NONE); }

    public static Report quantize(Path in, Path out, QuantMix mix, GgufWriter.Progress progress) {
        List<String> notTwoD = new ArrayList<>(), rowsNotBlocks = new ArrayList<>(), alreadyQuantized = new ArrayList<>(),
                fellBack = new ArrayList<>();
        Map<GGMLType, Integer> types = new EnumMap<>(GGMLType.class);
        int quantized = 0;
        try (GGUF g = GGUF.read(in); ForkJoinPool pool = new ForkJoinPool(Runtime.getRuntime().availableProcessors())) {
            GgufWriter w = new GgufWriter(g.version());
            w.copyMetadata(g, k -> true);
            w.putU32("general.file_type", mix.fileType);
            w.putU32("general.quantization_version", 2);
            QuantMix.Layout layout = QuantMix.Layout.of(g.tensors().keySet());
            for (TensorInfo t : g.tensors().values()) {
                MemorySegment data = g.tensorData(t);
                GGMLType target = null;
                if (t.shape().length != 2) {
                    notTwoD.add(t.name() + " " + t.type());
                } else {
                    GGMLType preferred = mix.preferred(t.name(), layout);
                    GGMLType fitted = QuantMix.fitRows(preferred, t.shape()[0]);
                    if (t.type() == preferred || t.type() == fitted) {
                        // Already in the wanted type: copied; not worth a warning.
                    } else if (!isFloat(t.type())) {
                        alreadyQuantized.add(t.name() + " " + t.type());
                    } else if (fitted == null) {
                        rowsNotBlocks.add(t.name() + " " + t.type() + " rows of " + t.shape()[0]);
                    } else {
                        if (fitted != preferred) fellBack.add(t.name() + " (" + preferred + " wanted, rows of " + t.shape()[0] + ")");
                        target = fitted;
                    }
                }
                if (target != null) {
                    quantized++;
                    types.merge(target, 1, Integer::sum);
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
                throw new UserError("quantize: no tensor of " + in + " can be quantized to " + mix + ": " + alreadyQuantized.size()
                        + " are already quantized (" + alreadyQuantized.getFirst() + ", ...) and re-quantizing would add error;"
                        + " quantize the F32, F16 or BF16 file instead");
            }
            w.write(out, progress);
        }
        return new Report(quantized, types, notTwoD, rowsNotBlocks, alreadyQuantized, fellBack);
    }
}
