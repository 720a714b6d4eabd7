/* Integer kernels for Q4_K and Q6_K weights (matmul_q8.h, "K-quants"):
 * activations quantized per 256 as llama.cpp's quantize_row_q8_K_ref does,
 * exact int32 sums per block, and a fixed float order: portable C, AVX2,
 * and AVX-512 for batches (exact integer sums: the same bits). */
#include "engine/matmul_q8.h"
#include "engine/quant.h"
#include "engine/quant_kblocks.h"

#include <math.h>
#include <string.h>
#include <immintrin.h>

#define T256 __attribute__((target("avx2,fma,f16c")))
#define T512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")))
#define INLINE static inline __attribute__((always_inline))

#define QK 256
#define AMAX_TINY 1e-30f

/* A quantized column: qs[cols] int8, then per block of 256 its scale d
 * (float) and its 16 sums of 16 values (int16), padded to 64 bytes. */
static size_t q_bytes(int cols) { return ((size_t)cols + 63) & ~(size_t)63; }
static size_t col_bytes_k(int cols)
{
    size_t nb = (size_t)cols / QK;
    return (q_bytes(cols) + nb * (sizeof(float) + 16 * sizeof(int16_t)) + 63) & ~(size_t)63;
}
static float *col_d(uint8_t *col, int cols) { return (float *)(void *)(col + q_bytes(cols)); }
static int16_t *col_bsums(uint8_t *col, int cols)
{
    return (int16_t *)(void *)(col + q_bytes(cols) + (size_t)(cols / QK) * sizeof(float));
}

/* Q8_K: per 256 values, the one with the largest magnitude (the first of
 * equals) sets iscale = -128 / it; q = iscale * x rounded half to even,
 * at most 127; d = 1 / iscale.  A block with a NaN or an infinity gets
 * d = NaN (it poisons its outputs); one whose values are all below 1e-30,
 * zeros. */
static void quant_k(int ti, const float *x, int cols, uint8_t *col)
{
    (void)ti;
    int8_t *q = (int8_t *)col;
    float *d = col_d(col, cols);
    int16_t *bs = col_bsums(col, cols);
    for (int b = 0; b < cols / QK; b++, x += QK, q += QK, bs += 16) {
        uint32_t m = 0;
        for (int j = 0; j < QK; j++) {
            uint32_t u;
            memcpy(&u, &x[j], 4);
            u &= 0x7fffffffu;
            if (u > m) m = u;
        }
        float amax;
        memcpy(&amax, &m, 4);
        if (!(amax <= 3.0e38f) || amax < AMAX_TINY) {
            d[b] = amax < AMAX_TINY ? 0.0f : NAN;
            memset(q, 0, QK);
            memset(bs, 0, 16 * sizeof *bs);
            continue;
        }
        float max = 0;
        for (int j = 0; j < QK; j++)
            if (fabsf(x[j]) == amax) { max = x[j]; break; }
        const float iscale = -127.0f / max;
        for (int j = 0; j < QK; j++) {
            long v = lrintf(iscale * x[j]);
            q[j] = (int8_t)(v > 127 ? 127 : v);
        }
        for (int s = 0; s < 16; s++) {
            int sum = 0;
            for (int j = 0; j < 16; j++) sum += q[16 * s + j];
            bs[s] = (int16_t)sum;
        }
        d[b] = 1.0f / iscale;
    }
    memset(col + cols, 0, q_bytes(cols) - (size_t)cols);
}

/* ======================================================================
 * The contract, in portable C
 *
 * Q4_K block: isum = sum_j sc_j * sum_{32} q * x over its 8 sub-blocks
 * (q the nibble), msum = sum_j m_j * (the sub-block's two bsums);
 *   a1 = fmaf(isum, d * dx, a1); a2 = fmaf(msum, dmin * dx, a2); y = a1 - a2.
 * Q6_K block: isum = sum_j sc_j * (sum_{16} q * x - 32 * bsum_j) over 16
 * sub-blocks (q the unsigned 6-bit value); a = fmaf(isum, d * dx, a); y = a.
 * ====================================================================== */

static float dot_q4k_p(const uint8_t *w, const uint8_t *col, int cols)
{
    const int8_t *xq = (const int8_t *)col;
    const float *xd = col_d((uint8_t *)col, cols);
    const int16_t *bs = col_bsums((uint8_t *)col, cols);
    float a1 = 0.0f, a2 = 0.0f;
    for (int b = 0; b < cols / QK; b++, w += 144, xq += QK, bs += 16) {
        const uint8_t *qs = w + 16;
        int32_t isum = 0, msum = 0;
        for (int j = 0; j < 8; j++) {
            int sc, m;
            kq_q4k_scale_min(j, w + 4, &sc, &m);
            const uint8_t *qb = qs + 32 * (j / 2);
            int32_t p = 0;
            for (int l = 0; l < 32; l++)
                p += (j & 1 ? qb[l] >> 4 : qb[l] & 15) * xq[32 * j + l];
            isum += sc * p;
            msum += m * (bs[2 * j] + bs[2 * j + 1]);
        }
        a1 = fmaf((float)isum, kq_fp16(w) * xd[b], a1);
        a2 = fmaf((float)msum, kq_fp16(w + 2) * xd[b], a2);
    }
    return a1 - a2;
}

static float dot_q6k_p(const uint8_t *w, const uint8_t *col, int cols)
{
    const int8_t *xq = (const int8_t *)col;
    const float *xd = col_d((uint8_t *)col, cols);
    const int16_t *bs = col_bsums((uint8_t *)col, cols);
    float a = 0.0f;
    for (int b = 0; b < cols / QK; b++, w += 210, xq += QK, bs += 16) {
        const int8_t *sc = (const int8_t *)(w + 192);
        int32_t isum = 0;
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = w + 64 * h, *qh = w + 128 + 32 * h;
            const int8_t *x = xq + 128 * h;
            int32_t p[8] = {0};
            for (int l = 0; l < 32; l++) {
                int q0 = (ql[l] & 15) | ((qh[l] & 3) << 4);
                int q1 = (ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4);
                int q2 = (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4);
                int q3 = (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4);
                int s = l / 16;
                p[s] += q0 * x[l];
                p[2 + s] += q1 * x[l + 32];
                p[4 + s] += q2 * x[l + 64];
                p[6 + s] += q3 * x[l + 96];
            }
            for (int j = 0; j < 8; j++)
                isum += sc[8 * h + j] * (p[j] - 32 * bs[8 * h + j]);
        }
        a = fmaf((float)isum, kq_fp16(w + 208) * xd[b], a);
    }
    return a;
}

typedef float (*kdot_fn)(const uint8_t *w, const uint8_t *col, int cols);

INLINE void tile_k(kdot_fn dot, const uint8_t *w, size_t rb, const uint8_t *xc, size_t xcs,
                   int cols, float *y, size_t ys, int R, int T)
{
    for (int j = 0; j < T; j++)
        for (int i = 0; i < R; i++)
            y[j * ys + i] = dot(w + i * rb, xc + j * xcs, cols);
}

#define DEF_TILE(PFX, DOT, ATTR, R, T)                                                       \
    static ATTR void PFX##_##R##x##T(const uint8_t *w, size_t rb, const uint8_t *xc,       \
                                     size_t xcs, int cols, float *y, size_t ys, size_t pf) \
    {                                                                                       \
        for (int i = 0; pf && i < R; i++)                                                   \
            _mm_prefetch((const char *)w + i * rb + pf, _MM_HINT_T0);                       \
        tile_k(DOT, w, rb, xc, xcs, cols, y, ys, R, T);                                     \
    }
#define DEF_TILES(PFX, DOT, ATTR) \
    DEF_TILE(PFX, DOT, ATTR, 8, 1) DEF_TILE(PFX, DOT, ATTR, 4, 4) DEF_TILE(PFX, DOT, ATTR, 1, 1)
DEF_TILES(tp_q4k, dot_q4k_p, )
DEF_TILES(tp_q6k, dot_q6k_p, )

static const q8_kernels k_portable = {
    col_bytes_k, quant_k, NULL, {NULL, NULL}, {tp_q4k_8x1, tp_q6k_8x1},
    {tp_q4k_4x4, tp_q6k_4x4}, {tp_q4k_1x1, tp_q6k_1x1},
};

/* ======================================================================
 * AVX2: maddubs (u8 weights x s8 activations, pairs into int16: at most
 * 2 * 63 * 128, no saturation), then madd with the sub-block scales
 * ====================================================================== */

INLINE T256 int32_t hsum_256(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

static T256 float dot_q4k_256(const uint8_t *w, const uint8_t *col, int cols)
{
    const int8_t *xq = (const int8_t *)col;
    const float *xd = col_d((uint8_t *)col, cols);
    const int16_t *bs = col_bsums((uint8_t *)col, cols);
    const __m256i m4 = _mm256_set1_epi8(15);
    float a1 = 0.0f, a2 = 0.0f;
    for (int b = 0; b < cols / QK; b++, w += 144, xq += QK, bs += 16) {
        int sc[8], m[8];
        int32_t msum = 0;
        for (int j = 0; j < 8; j++) {
            kq_q4k_scale_min(j, w + 4, &sc[j], &m[j]);
            msum += m[j] * (bs[2 * j] + bs[2 * j + 1]);
        }
        __m256i acc = _mm256_setzero_si256();
        for (int g = 0; g < 4; g++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(w + 16 + 32 * g));
            __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
            __m256i x0 = _mm256_loadu_si256((const __m256i *)(xq + 64 * g));
            __m256i x1 = _mm256_loadu_si256((const __m256i *)(xq + 64 * g + 32));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(lo, x0),
                                                          _mm256_set1_epi16((short)sc[2 * g])));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(hi, x1),
                                                          _mm256_set1_epi16((short)sc[2 * g + 1])));
        }
        a1 = fmaf((float)hsum_256(acc), kq_fp16(w) * xd[b], a1);
        a2 = fmaf((float)msum, kq_fp16(w + 2) * xd[b], a2);
    }
    return a1 - a2;
}

static T256 float dot_q6k_256(const uint8_t *w, const uint8_t *col, int cols)
{
    const int8_t *xq = (const int8_t *)col;
    const float *xd = col_d((uint8_t *)col, cols);
    const int16_t *bs = col_bsums((uint8_t *)col, cols);
    const __m256i m4 = _mm256_set1_epi8(15), m2 = _mm256_set1_epi8(3);
    float a = 0.0f;
    for (int b = 0; b < cols / QK; b++, w += 210, xq += QK, bs += 16) {
        const int8_t *sc = (const int8_t *)(w + 192);
        int32_t off = 0;
        for (int j = 0; j < 16; j++) off += sc[j] * bs[j];
        __m256i acc = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = w + 64 * h;
            const int8_t *x = xq + 128 * h, *s = sc + 8 * h;
            __m256i qh = _mm256_loadu_si256((const __m256i *)(w + 128 + 32 * h));
            __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
            __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
            __m256i q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(qh, m2), 4));
            q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m2), 4));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m2), 4));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m2), 4));
            for (int k = 0; k < 4; k++) {
                __m256i xv = _mm256_loadu_si256((const __m256i *)(x + 32 * k));
                __m256i scv = _mm256_set_m128i(_mm_set1_epi16(s[2 * k + 1]), _mm_set1_epi16(s[2 * k]));
                acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(q[k], xv), scv));
            }
        }
        a = fmaf((float)(hsum_256(acc) - 32 * off), kq_fp16(w + 208) * xd[b], a);
    }
    return a;
}

DEF_TILE(t256_q4k, dot_q4k_256, T256, 8, 1) DEF_TILE(t256_q4k, dot_q4k_256, T256, 1, 1)
DEF_TILE(t256_q6k, dot_q6k_256, T256, 8, 1) DEF_TILE(t256_q6k, dot_q6k_256, T256, 1, 1)

/* A prepared row, for batches: per block of 256, the unsigned weights in
 * the activations' order (256 bytes), the scale of each 16-value group as
 * 8 ymm of int16 (lanes 0-7 one group, 8-15 the next: 256 bytes), the
 * offset multiplier of each group (16 int16: Q4_K its min m, Q6_K 32 times
 * its scale), and the float scales d and dmin. */
#define PB 576
static size_t prep_bytes_k(int cols) { return (size_t)(cols / QK) * PB; }

static T256 void prep_q4k(const uint8_t *w, int cols, uint8_t *out)
{
    const __m256i m4 = _mm256_set1_epi8(15);
    for (int b = 0; b < cols / QK; b++, w += 144, out += PB) {
        int16_t *sc16 = (int16_t *)(void *)(out + 256), *m16 = (int16_t *)(void *)(out + 512);
        for (int j = 0; j < 8; j++) {
            int sc, m;
            kq_q4k_scale_min(j, w + 4, &sc, &m);
            for (int l = 0; l < 16; l++) sc16[16 * j + l] = (int16_t)sc;
            m16[2 * j] = m16[2 * j + 1] = (int16_t)m;
        }
        for (int g = 0; g < 4; g++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(w + 16 + 32 * g));
            _mm256_storeu_si256((__m256i *)(out + 64 * g), _mm256_and_si256(q, m4));
            _mm256_storeu_si256((__m256i *)(out + 64 * g + 32), _mm256_and_si256(_mm256_srli_epi16(q, 4), m4));
        }
        float d[2] = {kq_fp16(w), kq_fp16(w + 2)};
        memcpy(out + 544, d, sizeof d);
    }
}

static T256 void prep_q6k(const uint8_t *w, int cols, uint8_t *out)
{
    for (int b = 0; b < cols / QK; b++, w += 210, out += PB) {
        const int8_t *sc = (const int8_t *)(w + 192);
        int16_t *sc16 = (int16_t *)(void *)(out + 256), *m16 = (int16_t *)(void *)(out + 512);
        for (int g = 0; g < 16; g++) {
            for (int l = 0; l < 8; l++) sc16[8 * g + l] = sc[g];
            m16[g] = (int16_t)(32 * sc[g]);
        }
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = w + 64 * h, *qh = w + 128 + 32 * h;
            uint8_t *o = out + 128 * h;
            for (int l = 0; l < 32; l++) {
                o[l] = (uint8_t)((ql[l] & 15) | ((qh[l] & 3) << 4));
                o[l + 32] = (uint8_t)((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4));
                o[l + 64] = (uint8_t)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4));
                o[l + 96] = (uint8_t)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4));
            }
        }
        float d[2] = {kq_fp16(w + 208), 0.0f};
        memcpy(out + 544, d, sizeof d);
    }
}

/* 4 prepared rows x 4 columns.  Q4_K (ti 0) keeps the mins apart, with
 * dmin; Q6_K (ti 1) folds its offset into the block's integer sum. */
INLINE T256 void tile_k4x4(int ti, const uint8_t *w, size_t rb, const uint8_t *xc, size_t xcs,
                           int cols, float *y, size_t ys)
{
    float a1[4][4] = {{0}}, a2[4][4] = {{0}};
    for (int b = 0; b < cols / QK; b++) {
        for (int i = 0; i < 4; i++) {
            const uint8_t *pr = w + i * rb + (size_t)b * PB;
            const __m256i m16 = _mm256_loadu_si256((const __m256i *)(pr + 512));
            float dd[2];
            memcpy(dd, pr + 544, sizeof dd);
            for (int j = 0; j < 4; j++) {
                const uint8_t *c = xc + j * xcs;
                const int8_t *xq = (const int8_t *)c + QK * b;
                const float dx = col_d((uint8_t *)c, cols)[b];
                const __m256i bsv = _mm256_loadu_si256((const __m256i *)(col_bsums((uint8_t *)c, cols) + 16 * b));
                __m256i acc = _mm256_setzero_si256();
                for (int g = 0; g < 8; g++) {
                    __m256i p = _mm256_maddubs_epi16(_mm256_loadu_si256((const __m256i *)(pr + 32 * g)),
                                                     _mm256_loadu_si256((const __m256i *)(xq + 32 * g)));
                    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, _mm256_loadu_si256((const __m256i *)(pr + 256 + 32 * g))));
                }
                int32_t isum = hsum_256(acc), msum = hsum_256(_mm256_madd_epi16(m16, bsv));
                if (ti == 0) {
                    a1[i][j] = fmaf((float)isum, dd[0] * dx, a1[i][j]);
                    a2[i][j] = fmaf((float)msum, dd[1] * dx, a2[i][j]);
                } else {
                    a1[i][j] = fmaf((float)(isum - msum), dd[0] * dx, a1[i][j]);
                }
            }
        }
    }
    for (int j = 0; j < 4; j++)
        for (int i = 0; i < 4; i++)
            y[j * ys + i] = ti == 0 ? a1[i][j] - a2[i][j] : a1[i][j];
}
static T256 void t256_q4k_prep_4x4(const uint8_t *w, size_t rb, const uint8_t *xc, size_t xcs,
                                   int cols, float *y, size_t ys, size_t pf)
{
    (void)pf;
    tile_k4x4(0, w, rb, xc, xcs, cols, y, ys);
}
static T256 void t256_q6k_prep_4x4(const uint8_t *w, size_t rb, const uint8_t *xc, size_t xcs,
                                   int cols, float *y, size_t ys, size_t pf)
{
    (void)pf;
    tile_k4x4(1, w, rb, xc, xcs, cols, y, ys);
}

static const q8_kernels k_avx2 = {
    col_bytes_k, quant_k, prep_bytes_k, {prep_q4k, prep_q6k}, {t256_q4k_8x1, t256_q6k_8x1},
    {t256_q4k_prep_4x4, t256_q6k_prep_4x4}, {t256_q4k_1x1, t256_q6k_1x1},
};

/* ======================================================================
 * AVX-512 (BW): the same integer sums, 64 values per instruction
 * ====================================================================== */

INLINE T512 void tile_k4x4_512(int ti, const uint8_t *w, size_t rb, const uint8_t *xc,
                               size_t xcs, int cols, float *y, size_t ys)
{
    float a1[4][4] = {{0}}, a2[4][4] = {{0}};
    for (int b = 0; b < cols / QK; b++) {
        for (int j = 0; j < 4; j++) {
            const uint8_t *c = xc + j * xcs;
            const int8_t *xq = (const int8_t *)c + QK * b;
            const float dx = col_d((uint8_t *)c, cols)[b];
            const __m256i bsv = _mm256_loadu_si256((const __m256i *)(col_bsums((uint8_t *)c, cols) + 16 * b));
            __m512i xv[4];
            for (int g = 0; g < 4; g++) xv[g] = _mm512_loadu_si512(xq + 64 * g);
            for (int i = 0; i < 4; i++) {
                const uint8_t *pr = w + i * rb + (size_t)b * PB;
                __m512i acc = _mm512_setzero_si512();
                for (int g = 0; g < 4; g++) {
                    __m512i p = _mm512_maddubs_epi16(_mm512_loadu_si512(pr + 64 * g), xv[g]);
                    acc = _mm512_add_epi32(acc, _mm512_madd_epi16(p, _mm512_loadu_si512(pr + 256 + 64 * g)));
                }
                int32_t isum = _mm512_reduce_add_epi32(acc);
                int32_t msum = hsum_256(_mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(pr + 512)), bsv));
                float dd[2];
                memcpy(dd, pr + 544, sizeof dd);
                if (ti == 0) {
                    a1[i][j] = fmaf((float)isum, dd[0] * dx, a1[i][j]);
                    a2[i][j] = fmaf((float)msum, dd[1] * dx, a2[i][j]);
                } else {
                    a1[i][j] = fmaf((float)(isum - msum), dd[0] * dx, a1[i][j]);
                }
            }
        }
    }
    for (int j = 0; j < 4; j++)
        for (int i = 0; i < 4; i++)
            y[j * ys + i] = ti == 0 ? a1[i][j] - a2[i][j] : a1[i][j];
}
static T512 void t512_q4k_prep_4x4(const uint8_t *w, size_t rb, const uint8_t *xc, size_t xcs,
                                   int cols, float *y, size_t ys, size_t pf)
{
    (void)pf;
    tile_k4x4_512(0, w, rb, xc, xcs, cols, y, ys);
}
static T512 void t512_q6k_prep_4x4(const uint8_t *w, size_t rb, const uint8_t *xc, size_t xcs,
                                   int cols, float *y, size_t ys, size_t pf)
{
    (void)pf;
    tile_k4x4_512(1, w, rb, xc, xcs, cols, y, ys);
}

static const q8_kernels k_avx512 = {
    col_bytes_k, quant_k, prep_bytes_k, {prep_q4k, prep_q6k}, {t256_q4k_8x1, t256_q6k_8x1},
    {t512_q4k_prep_4x4, t512_q6k_prep_4x4}, {t256_q4k_1x1, t256_q6k_1x1},
};

static int has_avx512bw(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
}

const q8_kernels *q8k_kernels_for(const char *isa)
{
    if (!strcmp(isa, "avx512"))
        return has_avx512bw() ? &k_avx512 : &k_avx2;   /* the same bits either way */
    if (!strcmp(isa, "avx2"))
        return &k_avx2;
    if (!strcmp(isa, "portable"))
        return &k_portable;
    return NULL;
}
