/* Elementary functions computed with IEEE-754 operations only, so that the
 * same inputs give the same bits on every machine and libm version (the
 * sampler's and the forward pass's exp). */
#ifndef LLMFS_MATHX_H
#define LLMFS_MATHX_H
#include <math.h>

/* e^x in double, relative error below 2e-16, for |x| < 700; saturates
 * outside.  Range reduction x = k*ln2 + r with |r| <= ln2/2 (ln2 split in
 * two parts so k*ln2_hi is exact), then a degree-13 Taylor polynomial. */
static inline double exp_det(double x) {
    if (x != x) return x;
    if (x > 709.0) return INFINITY;
    if (x < -745.0) return 0.0;
    const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
    double k = nearbyint(x * 1.44269504088896338700e+00);
    double r = (x - k * ln2_hi) - k * ln2_lo;
    double p = 1.0 / 6227020800.0;
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    return ldexp(p, (int)k);
}

static inline float expf_det(float x) { return (float)exp_det((double)x); }
#endif
