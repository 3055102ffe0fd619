package io.github.tokenbutler.train;

/**
 * The error function to about 1e-14 (the GELU of the predictor, nn.GELU()'s exact form), the same method as
 * the plugin's PredictorMath.erf (package-private there): Maclaurin series below |x| = 3, 1 - erfc(x) from the
 * continued fraction of erfc above. Accurate enough that the analytic GELU derivative
 * Phi(x) + x phi(x) matches finite differences of this function in the gradient test.
 */
final class Erf {
    private Erf() {}

    static double erf(double x) {
        if (Double.isNaN(x)) return x;
        double ax = Math.abs(x);
        if (ax < 3.0) {
            double x2 = x * x, term = x, sum = x;
            for (int n = 1; n < 100; n++) {
                term *= -x2 / n;                     // (-1)^n x^(2n+1) / n!
                double t = term / (2 * n + 1);
                sum += t;
                if (Math.abs(t) < 1e-17 * Math.abs(sum)) break;
            }
            return 2.0 / Math.sqrt(Math.PI) * sum;
        }
        if (ax > 6.0) return Math.copySign(1.0, x);
        double f = ax;
        for (int k = 60; k >= 1; k--) f = ax + (k / 2.0) / f;
        double erfc = StrictMath.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
        return Math.copySign(1.0 - erfc, x);
    }
}
