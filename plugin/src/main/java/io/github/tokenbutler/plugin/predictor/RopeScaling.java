package io.github.tokenbutler.plugin.predictor;

import io.github.tokenbutler.runtime.Llama3.UserError;

/**
 * Llama 3's RoPE frequency scaling ("rope_type": "llama3" in Hugging Face's configs), applied to the predictor's
 * own rotations. Later versions of the authors' predictor code rotate both the attention block and the importance
 * vectors with it, with fixed numbers (factor 32, low 1, high 4, original context 8192) whatever the base model;
 * a predictor imported from there must rotate the same way or its logits change with position.
 *
 * <p>With wavelength w = 2π / f of an unscaled frequency f = θ^(-2i/d): w below originalContext / highFreqFactor
 * keeps f; w above originalContext / lowFreqFactor takes f / factor; in between, f is blended as
 * (1 - s) f / factor + s f with s = (originalContext / w - lowFreqFactor) / (highFreqFactor - lowFreqFactor).
 */
public record RopeScaling(float factor, float lowFreqFactor, float highFreqFactor, int originalContextLength) {
    /** The numbers the authors' later predictor code uses for every model. */
    public static final RopeScaling AUTHORS_LLAMA3 = new RopeScaling(32f, 1f, 4f, 8192);

    /** The scaled frequency of pair i of a d-value vector at base θ, in double. */
    public double frequency(int i, int dim, double theta) {
        double f = StrictMath.pow(theta, -2.0 * i / dim);
        double wavelength = 2 * Math.PI / f;
        double lowWavelength = originalContextLength / (double) lowFreqFactor;
        double highWavelength = originalContextLength / (double) highFreqFactor;
        if (wavelength < highWavelength) return f;
        if (wavelength > lowWavelength) return f / factor;
        double s = (originalContextLength / wavelength - lowFreqFactor) / ((double) highFreqFactor - lowFreqFactor);
        return (1 - s) * f / factor + s * f;
    }

    RopeScaling validate(String where) {
        if (!(factor >= 1) || Float.isInfinite(factor)) throw new UserError(where + ": RoPE scaling factor must be at least 1, got " + factor);
        if (!(lowFreqFactor > 0) || !(highFreqFactor > lowFreqFactor) || Float.isInfinite(highFreqFactor)) {
            throw new UserError(where + ": RoPE scaling needs 0 < low_freq_factor < high_freq_factor, got " + lowFreqFactor + " and " + highFreqFactor);
        }
        if (originalContextLength <= 0) throw new UserError(where + ": RoPE scaling original context length must be positive, got " + originalContextLength);
        return this;
    }

    @Override public String toString() {
        return "llama3 (factor " + factor + ", low " + lowFreqFactor + ", high " + highFreqFactor + ", original context " + originalContextLength + ")";
    }
}
