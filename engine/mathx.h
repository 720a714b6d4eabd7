/* Elementary functions computed with IEEE-754 operations only, so that the
 * same inputs give the same bits on every machine and libm version (the
 * sampler's and the forward pass's exp). */
#ifndef LLMFS_MATHX_H
#define LLMFS_MATHX_H
#include <math.h>
#include <stdint.h>
#include <string.h>

/* e^x in double, relative error below 2e-16, for |x| < 700; saturates
 * outside.  Range reduction x = k*ln2 + r with |r| <= ln2/2 (ln2 split in
 * two parts so k*ln2_hi is exact), then a degree-13 Taylor polynomial. */
static inline double exp_det(double x) {
    if (x != x) return x;
    if (x > 709.0) return INFINITY;
    if (x < -745.0) return 0.0;
    const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
    double kd = x * 1.44269504088896338700e+00;
    double k = (double)(int64_t)(kd + (kd >= 0 ? 0.5 : -0.5));
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
    if (k < -1020 || k > 1020) return ldexp(p, (int)k);
    /* 2^k built from its bits: exactly what ldexp gives, without a call */
    uint64_t bits = (uint64_t)((int64_t)k + 1023) << 52;
    double two_k;
    memcpy(&two_k, &bits, sizeof two_k);
    return p * two_k;
}

/* e^x in float, within 2 ulp, for the forward pass (softmax, SiLU):
 * Cody-Waite reduction and a degree-6 polynomial, all in float, with no
 * branches or calls so that loops over it vectorize (bit-identically:
 * every operation is element-wise).  Rounds k with the 1.5 * 2^23 trick.
 * Below -87 the result is 0, above 88.5 it is +inf. */
static inline float expf_det(float x) {
    float xc = x < -87.0f ? -87.0f : x > 88.5f ? 88.5f : x;
    float t = xc * 1.44269504088896341f + 12582912.0f;
    int32_t tb;
    memcpy(&tb, &t, sizeof tb);
    int32_t k = tb - 0x4B400000;
    float kf = t - 12582912.0f;
    float r = (xc - kf * 0.693145751953125f) - kf * 1.42860682030941723e-06f;
    float p = 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    /* 2^k as 2^k1 * 2^k2 (k1 = floor(k/2)), both normal floats for every
     * k here (-126..128); scaling by them is exact */
    int32_t k1 = k >> 1, k2 = k - k1;
    uint32_t b1 = (uint32_t)(k1 + 127) << 23, b2 = (uint32_t)(k2 + 127) << 23;
    float s1, s2;
    memcpy(&s1, &b1, sizeof s1);
    memcpy(&s2, &b2, sizeof s2);
    float y = (p * s1) * s2;
    return x < -87.0f ? 0.0f : x > 88.5f ? INFINITY : y;
}

/* Eight floats as one GCC generic vector: element-wise operations, which
 * the compiler maps to whatever vector instructions the function's target
 * has (SSE2 pairs on the portable path), with each element rounded as
 * its scalar operation would be. */
typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));
typedef uint32_t v8u __attribute__((vector_size(32)));
#define V8(c) ((v8f){ c, c, c, c, c, c, c, c })
#define V8I(c) ((v8i){ c, c, c, c, c, c, c, c })

/* (macros: functions taking or returning vectors would change the ABI
 * on the portable path) */
typedef float v8f_unaligned __attribute__((vector_size(32), aligned(4)));
#define v8f_load(p) ((v8f)*(const v8f_unaligned *)(const void *)(p))
#define v8f_store(p, v) (*(v8f_unaligned *)(void *)(p) = (v))
/* m ? a : b per element, m from a vector comparison (all ones or zero) */
#define v8f_sel(m, a, b) ((v8f)(((m) & (v8i)(a)) | (~(m) & (v8i)(b))))

/* y[i] = expf_det(x[i]) for i < 8: the same operations element by
 * element, so the same bits (y may be x). */
static inline void expf_det8(float *y, const float *xp) {
    const v8f x = v8f_load(xp);
    v8f xc = v8f_sel(x < V8(-87.0f), V8(-87.0f), x);
    xc = v8f_sel(xc > V8(88.5f), V8(88.5f), xc);
    v8f t = xc * V8(1.44269504088896341f) + V8(12582912.0f);
    v8i k = (v8i)t - V8I(0x4B400000);
    v8f kf = t - V8(12582912.0f);
    v8f r = (xc - kf * V8(0.693145751953125f)) - kf * V8(1.42860682030941723e-06f);
    v8f p = V8(1.0f / 720.0f);
    p = p * r + V8(1.0f / 120.0f);
    p = p * r + V8(1.0f / 24.0f);
    p = p * r + V8(1.0f / 6.0f);
    p = p * r + V8(0.5f);
    p = p * r + V8(1.0f);
    p = p * r + V8(1.0f);
    v8i k1 = k >> 1, k2 = k - k1;
    v8f s1 = (v8f)((v8u)(k1 + V8I(127)) << 23), s2 = (v8f)((v8u)(k2 + V8I(127)) << 23);
    v8f e = (p * s1) * s2;
    v8f_store(y, v8f_sel(x < V8(-87.0f), V8(0.0f), v8f_sel(x > V8(88.5f), V8(INFINITY), e)));
}

/* tanh(x) in float, within 4 ulp, for Gemma's final soft cap over the
 * whole vocabulary (libm's tanhf there cost ~0.6 ms a token): below
 * |x| = 0.5 its odd Taylor polynomial to x^15 (the next term is under
 * 1e-8 of the result), above 1 - 2 / (e^2|x| + 1), the sign restored.
 * Both sides are computed and one chosen, so loops vectorize. */
static inline float tanhf_det(float x) {
    float a = fabsf(x), a2 = a * a;
    float p = -929569.0f / 638512875.0f;
    p = p * a2 + 21844.0f / 6081075.0f;
    p = p * a2 - 1382.0f / 155925.0f;
    p = p * a2 + 62.0f / 2835.0f;
    p = p * a2 - 17.0f / 315.0f;
    p = p * a2 + 2.0f / 15.0f;
    p = p * a2 - 1.0f / 3.0f;
    float small = a + a * a2 * p;
    float big = 1.0f - 2.0f / (expf_det(2.0f * a) + 1.0f);
    return copysignf(a < 0.5f ? small : big, x);
}
#endif
