package io.github.tokenbutler.butlerfile;

import io.github.tokenbutler.gguf.GgufWriter;
import io.github.tokenbutler.plugin.predictor.ModelFingerprint;
import io.github.tokenbutler.plugin.predictor.PredictorConfig;
import io.github.tokenbutler.plugin.predictor.PredictorFormat;
import io.github.tokenbutler.plugin.predictor.PredictorWeights;
import io.github.tokenbutler.plugin.predictor.RevisedPredictorConfig;
import io.github.tokenbutler.plugin.predictor.RevisedPredictorWeights;
import io.github.tokenbutler.runtime.Llama3.GGMLType;
import io.github.tokenbutler.runtime.Llama3.UserError;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Writes a predictor GGUF: the metadata of {@link PredictorFormat#metadata} and every tensor of
 * {@link PredictorFormat#tensorShapes}, all F32 or all F16. The file is written atomically.
 */
public final class PredictorFileWriter {
    private PredictorFileWriter() {}

    /** Tensor types a predictor file may use (the reader dequantizes F16 itself). */
    public static final List<GGMLType> TENSOR_TYPES = List.of(GGMLType.F32, GGMLType.F16);

    /** The tensor type an option names (any case); another name is a UserError naming the command, the choices and the value. */
    public static GGMLType tensorType(String command, String value) {
        return TENSOR_TYPES.stream().filter(t -> t.name().equalsIgnoreCase(value)).findFirst()
                .orElseThrow(() -> new UserError(command + ": option --type must be one of " + TENSOR_TYPES + ", got '" + value + "'"));
    }

    /**
     * The complete file as a writer, not yet written (tests change it to make corrupt files).
     * @param origin one line saying where the weights come from, stored as tokenbutler.origin
     */
    public static GgufWriter build(PredictorConfig config, PredictorWeights weights, ModelFingerprint fingerprint,
                                   String origin, GGMLType tensorType) {
        return build(PredictorFormat.metadata(config, fingerprint, origin), PredictorFormat.tensorShapes(config), weights.byName(), tensorType);
    }

    /** A v2 (revised) predictor file as a writer, not yet written: {@link PredictorFormat#metadata(RevisedPredictorConfig, ModelFingerprint, String)} and its tensors. */
    public static GgufWriter build(RevisedPredictorConfig config, RevisedPredictorWeights weights, ModelFingerprint fingerprint,
                                   String origin, GGMLType tensorType) {
        return build(PredictorFormat.metadata(config, fingerprint, origin), PredictorFormat.tensorShapes(config), weights.byName(), tensorType);
    }

    /** An imported predictor of either architecture, with the keys that record where it came from after the usual metadata. */
    public static GgufWriter buildImported(ButlerImport.Result r, ModelFingerprint fingerprint, String origin,
                                           PredictorFormat.Imported imported, GGMLType tensorType) {
        List<PredictorFormat.MetadataEntry> m = new java.util.ArrayList<>();
        Map<String, long[]> shapes;
        Map<String, float[]> data;
        switch (r) {
            case ButlerImport.V1 v -> {
                m.addAll(PredictorFormat.metadata(v.config(), fingerprint, origin));
                shapes = PredictorFormat.tensorShapes(v.config());
                data = v.weights().byName();
            }
            case ButlerImport.V2 v -> {
                m.addAll(PredictorFormat.metadata(v.config(), fingerprint, origin));
                shapes = PredictorFormat.tensorShapes(v.config());
                data = v.weights().byName();
            }
        }
        m.addAll(PredictorFormat.importMetadata(imported));
        return build(m, shapes, data, tensorType);
    }

    private static GgufWriter build(List<PredictorFormat.MetadataEntry> metadata, Map<String, long[]> shapes, Map<String, float[]> data,
                                    GGMLType tensorType) {
        if (!TENSOR_TYPES.contains(tensorType)) {
            throw new IllegalArgumentException("predictor tensors must be one of " + TENSOR_TYPES + ", got " + tensorType);
        }
        GgufWriter w = new GgufWriter();
        for (PredictorFormat.MetadataEntry e : metadata) w.put(e.key(), e.type(), e.elementType(), e.value());
        for (Map.Entry<String, long[]> t : shapes.entrySet()) {
            float[] values = data.get(t.getKey());
            if (tensorType == GGMLType.F32) w.addTensor(t.getKey(), values, t.getValue());
            else w.addTensor(t.getKey(), GGMLType.F16, t.getValue(), toF16(values));
        }
        return w;
    }

    /** Writes the file; see {@link #build}. */
    public static void write(Path out, PredictorConfig config, PredictorWeights weights, ModelFingerprint fingerprint,
                             String origin, GGMLType tensorType) {
        build(config, weights, fingerprint, origin, tensorType).write(out);
    }

    /** IEEE half precision, little-endian, rounded to nearest even (Float.floatToFloat16). */
    static byte[] toF16(float[] values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 2).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) b.putShort(Float.floatToFloat16(v));
        return b.array();
    }
}
