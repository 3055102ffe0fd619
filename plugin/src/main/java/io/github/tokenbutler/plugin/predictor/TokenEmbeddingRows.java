package io.github.tokenbutler.plugin.predictor;

import io.github.tokenbutler.runtime.Llama3.FloatTensor;
import io.github.tokenbutler.runtime.Llama3.GGUF;
import io.github.tokenbutler.runtime.Llama3.TensorInfo;
import io.github.tokenbutler.runtime.Llama3.UserError;

import java.util.Arrays;

/**
 * Single rows of a model's token_embd.weight as floats, dequantized by the runtime (every type it loads), for the
 * weight part of the {@link ModelFingerprint}.
 */
final class TokenEmbeddingRows {
    static final String TENSOR = "token_embd.weight";

    private final FloatTensor tensor;
    private final int dim;

    TokenEmbeddingRows(GGUF gguf, int dim, int vocab) {
        TensorInfo info = gguf.tensors().get(TENSOR);
        if (info == null) throw new UserError(gguf.path() + ": tensor '" + TENSOR + "' is missing");
        if (info.shape().length != 2 || info.shape()[0] != dim || info.shape()[1] < vocab) {
            throw new UserError(gguf.path() + ": tensor '" + TENSOR + "' should have shape [" + dim + ", " + vocab + "], has "
                    + Arrays.toString(info.shape()));
        }
        this.tensor = FloatTensor.of(info, gguf.tensorData(info));
        this.dim = dim;
    }

    /** Row r (a token id) into out[0..dim). */
    void row(int r, float[] out) {
        tensor.dequantize((long) r * dim, out, 0, dim);
    }
}
