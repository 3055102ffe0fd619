package io.github.tokenbutler.plugin.predictor;

import io.github.tokenbutler.runtime.Llama3.UserError;

import java.util.Arrays;
import java.util.Locale;

/**
 * How the cached importance keys are stored. At long context they take as many bytes as the model's K cache
 * (layers * heads * d' values per token), and scoring streams all of them once per decode step, so their
 * size is what the scoring speed is bound by.
 */
public enum KeyPrecision {
    /** 4 bytes per value: exact. */
    F32("f32", 4),
    /** IEEE half precision, 2 bytes per value (values beyond ±65504 saturate). */
    F16("f16", 2),
    /** Signed 8-bit values with one F32 scale per d'-vector (absmax / 127): d' + 4 bytes per vector. */
    Q8("q8", 1),
    /** Signed 4-bit values, two per byte, with one F32 scale per d'-vector (absmax / 7): ceil(d'/2) + 4 bytes per vector. */
    Q4("q4", 1);

    /** The option value naming this precision. */
    public final String optionName;
    private final int bytesPerValue;

    KeyPrecision(String optionName, int bytesPerValue) { this.optionName = optionName; this.bytesPerValue = bytesPerValue; }

    /** Bytes one stored vector of {@code dim} values takes, scales included. */
    public int bytesPerVector(int dim) {
        return switch (this) {
            case F32, F16 -> dim * bytesPerValue;
            case Q8 -> dim + 4;
            case Q4 -> (dim + 1) / 2 + 4;
        };
    }

    /**
     * Parses an option value ("f32", "f16", "q8", "q4", any case).
     * @param option the option's name, for the message
     */
    public static KeyPrecision parse(String option, String value) {
        if (value != null) {
            for (KeyPrecision p : values()) if (p.optionName.equals(value.trim().toLowerCase(Locale.ROOT))) return p;
        }
        throw new UserError("option " + option + " must be one of "
                + String.join(", ", Arrays.stream(values()).map(p -> p.optionName).toList()) + ", got '" + value + "'");
    }
}
