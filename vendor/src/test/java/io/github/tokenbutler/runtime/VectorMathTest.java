package io.github.tokenbutler.runtime;

import io.github.tokenbutler.runtime.Llama3.VectorMath;
import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The softmax kernel of attention: its exponential against Math.exp (float64), every vector lane equal to the
 * scalar form bit for bit, and softmax against a float64 softmax on odd lengths.
 */
class VectorMathTest {
    /** Relative error of exp within 3 ulp-sized steps (3 * 2^-23) over [-87, 88], sampled densely. */
    @Test
    void expIsWithinThreeUlpOfMathExp() {
        double worst = 0;
        for (float x = -87f; x <= 88f; x += 0.0137f) {
            double ref = Math.exp(x);
            double rel = Math.abs(VectorMath.exp(x) - ref) / ref;
            worst = Math.max(worst, rel);
        }
        assertTrue(worst <= 3 * 0x1p-23, "largest relative error " + worst);
        assertEquals(1f, VectorMath.exp(0f));
        assertTrue(VectorMath.exp(-1000f) > 0f && VectorMath.exp(-1000f) < 1e-37f, "clamped below");
        assertEquals(VectorMath.exp(Float.NEGATIVE_INFINITY), VectorMath.exp(-87f));
    }

    @Test
    void everyVectorLaneEqualsTheScalarExp() {
        var F = FloatVector.SPECIES_PREFERRED;
        Random random = new Random(5);
        float[] x = new float[F.length()];
        for (int round = 0; round < 2000; round++) {
            for (int i = 0; i < x.length; i++) x[i] = (float) (random.nextDouble() * 200 - 110);
            float[] v = VectorMath.exp(FloatVector.fromArray(F, x, 0)).toArray();
            for (int i = 0; i < x.length; i++) {
                assertEquals(Float.floatToIntBits(VectorMath.exp(x[i])), Float.floatToIntBits(v[i]), "exp(" + x[i] + ")");
            }
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 7, 16, 33, 1000})
    void softmaxMatchesFloat64(int n) {
        Random random = new Random(n);
        float[] a = new float[n + 3];
        for (int i = 0; i < a.length; i++) a[i] = (float) (random.nextGaussian() * 8);
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        for (int i = 2; i < 2 + n; i++) max = Math.max(max, a[i]);
        double[] ref = new double[n];
        for (int i = 0; i < n; i++) sum += ref[i] = Math.exp(a[2 + i] - max);
        float before0 = a[0], before1 = a[1], after = a[2 + n];
        VectorMath.softmax(a, 2, n);
        for (int i = 0; i < n; i++) assertEquals(ref[i] / sum, a[2 + i], 1e-6 * (ref[i] / sum) + 1e-9, "element " + i);
        assertEquals(before0, a[0]);
        assertEquals(before1, a[1]);
        assertEquals(after, a[2 + n]);
    }
}
