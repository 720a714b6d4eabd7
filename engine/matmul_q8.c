/* Integer kernels for Q8_0, Q4_0, Q5_0, Q4_1 and Q5_1 weights on 8-bit
 * activations (matmul_q8.h): portable C, AVX2 (maddubs on |w| and
 * sign(x, w)) and, for Q8_0 and Q4_0, AVX-512 VNNI (vpdpbusd on w + 128
 * or the nibbles, less 128 or 8 times the sum of each group of four
 * activations; the AVX-512 set runs the others with the AVX2 kernels).
 * All give the same int32 partials and then the same float operations. */
#include "engine/matmul_q8.h"
#include "engine/matmul_tree.h"
#include "engine/quant.h"

#include <math.h>
#include <string.h>
#include <cpuid.h>
#include <immintrin.h>

#define TV512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,f16c,fma")))
#define T256 __attribute__((target("avx2,fma,f16c")))
#define INLINE static inline __attribute__((always_inline))

/* Blocks whose largest magnitude is below this are quantized to zero
 * (127 / amax would overflow). */
#define AMAX_TINY 1e-30f

/* Block sizes of the weight types (Q8_0, Q4_0, Q5_0, Q4_1, Q5_1). */
static const int wbytes[5] = {34, 18, 22, 20, 24};
/* Where a block's 16 bytes of nibbles start (Q4_0 onwards), and its
 * 32 fifth bits (Q5_0, Q5_1; 0: none). */
static const int wqs[5] = {2, 2, 6, 4, 8};
static const int wqh[5] = {0, 0, 2, 0, 4};
#define HAS_MIN(ti) ((ti) >= 3)     /* Q4_1, Q5_1: an offset and Q8_1-style sums */


/* A block's scale from its largest magnitude (bits of |x|: NaN compares
 * above inf, inf above every finite value, so the integer maximum finds
 * them); *id the multiplier to 8 bits: 1 / scale for Q8_0 (ti 0), as
 * llama.cpp's quantize_row_q8_0_ref, 127 / amax for Q4_0 (ti 1), as its
 * x86 code. */
static float block_scale(int ti, uint32_t amax_bits, float *id, float *draw)
{
    float amax;
    memcpy(&amax, &amax_bits, 4);
    if (!(amax <= 3.0e38f)) {          /* NaN or inf: the block poisons its outputs */
        *id = 0.0f;
        *draw = NAN;
        return NAN;
    }
    if (amax < AMAX_TINY) {
        *id = 0.0f;
        *draw = 0.0f;
        return 0.0f;
    }
    float d = amax / 127.0f;
    *id = ti == 0 ? 1.0f / d : 127.0f / amax;
    *draw = d;
    return fp16_to_f32(f32_to_fp16(d));
}

/* A block's sx (Q4_1, Q5_1): F16(d * sum of its 32 values). */
static float block_sum_scale(float draw, const int8_t *q)
{
    int sum = 0;
    for (int j = 0; j < 32; j++) sum += q[j];
    return fp16_to_f32(f32_to_fp16(draw * (float)sum));
}

static uint16_t rd16(const uint8_t *p)
{
    uint16_t h;
    memcpy(&h, p, 2);
    return h;
}

/* A quantized column starts with its 8-bit values, padded to 64 bytes;
 * the portable and AVX2 sets follow them with one float scale a block,
 * then one float sx a block (written for Q4_1 and Q5_1). */
static size_t col_bytes_qd(int cols)
{
    return (q8_q_bytes(cols) + (size_t)(cols / 32) * 2 * sizeof(float) + 63) & ~(size_t)63;
}
static const float *col_d(const uint8_t *col, int cols)
{
    return (const float *)(const void *)(col + q8_q_bytes(cols));
}
static const float *col_s(const uint8_t *col, int cols)
{
    return col_d(col, cols) + cols / 32;
}

/* ======================================================================
 * Portable
 * ====================================================================== */

static void quant_p(int ti, const float *x, int cols, uint8_t *col)
{
    int8_t *q = (int8_t *)col;
    float *d = (float *)(void *)(col + q8_q_bytes(cols));
    for (int b = 0; b < cols / 32; b++) {
        uint32_t m = 0;
        for (int j = 0; j < 32; j++) {
            uint32_t u;
            memcpy(&u, &x[32 * b + j], 4);
            u &= 0x7fffffffu;
            if (u > m) m = u;
        }
        float id, draw;
        d[b] = block_scale(ti, m, &id, &draw);
        for (int j = 0; j < 32; j++) {
            float v = x[32 * b + j] * id;
            q[32 * b + j] = id == 0.0f ? 0 : (int8_t)(ti == 0 ? roundf(v) : rintf(v));
        }
        if (HAS_MIN(ti))
            d[cols / 32 + b] = block_sum_scale(draw, q + 32 * b);
    }
}

static uint32_t rd32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);   /* little-endian, as GGUF */
    return v;
}

/* The integers of weight block bw of type ti; returns its scale. */
static float wblock_p(int ti, const uint8_t *bw, int8_t w[32])
{
    if (ti == 0) {
        memcpy(w, bw + 2, 32);
        return fp16_to_f32(rd16(bw));
    }
    const uint8_t *qs = bw + wqs[ti];
    const uint32_t qh = wqh[ti] ? rd32(bw + wqh[ti]) : 0;
    const int off = ti == 1 ? 8 : ti == 2 ? 16 : 0;
    for (int j = 0; j < 16; j++) {
        w[j] = (int8_t)(((qs[j] & 15) | ((qh >> j) & 1) << 4) - off);
        w[j + 16] = (int8_t)(((qs[j] >> 4) | ((qh >> (j + 16)) & 1) << 4) - off);
    }
    return fp16_to_f32(rd16(bw));
}

static float dot_p(int ti, const uint8_t *w, const int8_t *q, const float *d, const float *sx,
                   int cols)
{
    float acc[16] = {0}, S = 0.0f;
    for (int b = 0; b < cols / 32; b++) {
        int8_t wv[32];
        const uint8_t *bw = w + (size_t)b * wbytes[ti];
        float s = wblock_p(ti, bw, wv) * d[b];
        int base = (b & 1) * 8;
        for (int l = 0; l < 8; l++) {
            int32_t p = 0;
            for (int j = 0; j < 4; j++) p += wv[4 * l + j] * q[32 * b + 4 * l + j];
            acc[base + l] = fmaf((float)p, s, acc[base + l]);
        }
        if (HAS_MIN(ti))
            S = fmaf(fp16_to_f32(rd16(bw + 2)), sx[b], S);
    }
    return tree_reduce16(acc) + S;
}

static void tile_p(int ti, const uint8_t *w, size_t rb, const uint8_t *xc, size_t xcs,
                   int cols, float *y, size_t ys, int R, int T)
{
    for (int j = 0; j < T; j++)
        for (int i = 0; i < R; i++) {
            float v = dot_p(ti, w + i * rb, (const int8_t *)(xc + j * xcs),
                            col_d(xc + j * xcs, cols), col_s(xc + j * xcs, cols), cols);
            y[j * ys + i] = v;
        }
}

#define DEF_TILE_P(TI, R, T)                                                                 \
    static void tp_##TI##_##R##x##T(const uint8_t *w, size_t rb, const uint8_t *xc,        \
                                    size_t xcs, int cols, float *y, size_t ys, size_t pf)  \
    {                                                                                       \
        (void)pf;                                                                           \
        tile_p(TI, w, rb, xc, xcs, cols, y, ys, R, T);                                      \
    }
DEF_TILE_P(0, 8, 1) DEF_TILE_P(0, 4, 4) DEF_TILE_P(0, 1, 1)
DEF_TILE_P(1, 8, 1) DEF_TILE_P(1, 4, 4) DEF_TILE_P(1, 1, 1)
DEF_TILE_P(2, 8, 1) DEF_TILE_P(2, 4, 4) DEF_TILE_P(2, 1, 1)
DEF_TILE_P(3, 8, 1) DEF_TILE_P(3, 4, 4) DEF_TILE_P(3, 1, 1)
DEF_TILE_P(4, 8, 1) DEF_TILE_P(4, 4, 4) DEF_TILE_P(4, 1, 1)

static const q8_kernels k_portable = {
    col_bytes_qd, quant_p, 0, NULL, {NULL},
    {tp_0_8x1, tp_1_8x1, tp_2_8x1, tp_3_8x1, tp_4_8x1},
    {tp_0_4x4, tp_1_4x4, tp_2_4x4, tp_3_4x4, tp_4_4x4},
    {tp_0_1x1, tp_1_1x1, tp_2_1x1, tp_3_1x1, tp_4_1x1},
};

/* ======================================================================
 * AVX2: two 8-lane halves, even blocks in the low one
 * ====================================================================== */

/* Q8_0: round half away from zero (roundf); Q4_0: half to even (rintf).
 * v - trunc(v) is exact, so the fix-up of ties is too. */
INLINE T256 __m256 round_256(int ti, __m256 v)
{
    if (ti)
        return _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m256 f = _mm256_sub_ps(v, t);
    __m256 half = _mm256_cmp_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), f), _mm256_set1_ps(0.5f), _CMP_GE_OQ);
    __m256 one = _mm256_or_ps(_mm256_and_ps(v, _mm256_set1_ps(-0.0f)), _mm256_set1_ps(1.0f));
    return _mm256_add_ps(t, _mm256_and_ps(half, one));
}

static T256 void quant_256(int ti, const float *x, int cols, uint8_t *col)
{
    int8_t *q = (int8_t *)col;
    float *d = (float *)(void *)(col + q8_q_bytes(cols));
    const __m256i absmask = _mm256_set1_epi32(0x7fffffff);
    for (int b = 0; b < cols / 32; b++) {
        const float *xb = x + 32 * b;
        __m256i m = _mm256_setzero_si256();
        for (int j = 0; j < 32; j += 8)
            m = _mm256_max_epu32(m, _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(xb + j)), absmask));
        __m128i m4 = _mm_max_epu32(_mm256_castsi256_si128(m), _mm256_extracti128_si256(m, 1));
        m4 = _mm_max_epu32(m4, _mm_shuffle_epi32(m4, 0x4e));
        m4 = _mm_max_epu32(m4, _mm_shuffle_epi32(m4, 0xb1));
        float id, draw;
        d[b] = block_scale(ti, (uint32_t)_mm_cvtsi128_si32(m4), &id, &draw);
        if (id == 0.0f) {
            memset(q + 32 * b, 0, 32);
            if (HAS_MIN(ti))
                d[cols / 32 + b] = block_sum_scale(draw, q + 32 * b);   /* 0, or NaN */
            continue;
        }
        __m256 idv = _mm256_set1_ps(id);
        __m256i v[4];
        for (int j = 0; j < 4; j++)
            v[j] = _mm256_cvtps_epi32(round_256(ti, _mm256_mul_ps(_mm256_loadu_ps(xb + 8 * j), idv)));
        /* packs interleave 128-bit lanes: undo with a permute */
        __m256i p01 = _mm256_packs_epi32(v[0], v[1]), p23 = _mm256_packs_epi32(v[2], v[3]);
        __m256i p = _mm256_packs_epi16(p01, p23);
        p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)(q + 32 * b), p);
        if (HAS_MIN(ti))
            d[cols / 32 + b] = block_sum_scale(draw, q + 32 * b);
    }
}

/* The 32 weights of block bw as bytes (for Q4_1 and Q5_1, unsigned
 * values under 32, which the sign trick of partials_256 takes as they are). */
INLINE T256 __m256i wblock_256(int ti, const uint8_t *bw)
{
    if (ti == 0)
        return _mm256_loadu_si256((const __m256i *)(bw + 2));
    __m128i qs = _mm_loadu_si128((const __m128i *)(bw + wqs[ti]));
    const __m128i lo4 = _mm_set1_epi8(15);
    __m256i v = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(qs, 4), lo4), _mm_and_si128(qs, lo4));
    if (wqh[ti]) {
        /* byte j takes byte j / 8 of qh, keeps bit j % 8, and becomes 16 if it is set */
        const __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32((int)rd32(bw + wqh[ti])),
            _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                             2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
        const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
        const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(bytes, bit), bit);
        v = _mm256_or_si256(v, _mm256_and_si256(set, _mm256_set1_epi8(16)));
    }
    if (ti == 1)
        return _mm256_sub_epi8(v, _mm256_set1_epi8(8));
    if (ti == 2)
        return _mm256_sub_epi8(v, _mm256_set1_epi8(16));
    return v;
}

/* The 8 int32 partials of one block: sums of four w * x. */
INLINE T256 __m256i partials_256(__m256i w, __m256i x)
{
    __m256i p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
    return _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
}


INLINE T256 void tile_256(int ti, const uint8_t *w, size_t rb, const uint8_t *xc, size_t xcs,
                          int cols, float *y, size_t ys, size_t pf, const int R, const int T)
{
    const int8_t *xq = (const int8_t *)xc;
    const float *xd = col_d(xc, cols), *xsx = col_s(xc, cols);
    const size_t xqs = xcs, xds = xcs / sizeof(float);
    __m256 acc[8][4][2];
    float S[8][4];
#pragma GCC unroll 8
    for (int i = 0; i < R; i++)
#pragma GCC unroll 4
        for (int j = 0; j < T; j++) {
            acc[i][j][0] = acc[i][j][1] = _mm256_setzero_ps();
            S[i][j] = 0.0f;
        }
    const int nb = cols / 32, bs = wbytes[ti];
    for (int b = 0; b < nb; b++) {
        __m256i xv[4];
#pragma GCC unroll 4
        for (int j = 0; j < T; j++)
            xv[j] = _mm256_loadu_si256((const __m256i *)(xq + j * xqs + 32 * b));
        const int h = b & 1;
#pragma GCC unroll 8
        for (int i = 0; i < R; i++) {
            const uint8_t *bw = w + i * rb + (size_t)b * bs;
            if (pf)
                _mm_prefetch((const char *)bw + pf, _MM_HINT_T0);
            __m256i wv = wblock_256(ti, bw);
            float dw = _cvtsh_ss(rd16(bw));
#pragma GCC unroll 4
            for (int j = 0; j < T; j++) {
                __m256 s = _mm256_set1_ps(dw * xd[j * xds + b]);
                __m256 p = _mm256_cvtepi32_ps(partials_256(wv, xv[j]));
                acc[i][j][h] = _mm256_fmadd_ps(p, s, acc[i][j][h]);
            }
            if (HAS_MIN(ti)) {
                const float mw = _cvtsh_ss(rd16(bw + 2));
#pragma GCC unroll 4
                for (int j = 0; j < T; j++)
                    S[i][j] = fmaf(mw, xsx[j * xds + b], S[i][j]);
            }
        }
    }
#pragma GCC unroll 4
    for (int j = 0; j < T; j++)
#pragma GCC unroll 8
        for (int i = 0; i < R; i++)
            y[j * ys + i] = tree_reduce256x2(acc[i][j][0], acc[i][j][1]) + S[i][j];
}

#define DEF_TILE_256(TI, R, T)                                                               \
    static T256 void t256_##TI##_##R##x##T(const uint8_t *w, size_t rb, const uint8_t *xc, \
                                           size_t xcs, int cols, float *y, size_t ys,       \
                                           size_t pf)                                       \
    {                                                                                       \
        tile_256(TI, w, rb, xc, xcs, cols, y, ys, pf, R, T);                                \
    }
DEF_TILE_256(0, 8, 1) DEF_TILE_256(0, 4, 4) DEF_TILE_256(0, 1, 1)
DEF_TILE_256(1, 8, 1) DEF_TILE_256(1, 4, 4) DEF_TILE_256(1, 1, 1)
DEF_TILE_256(2, 8, 1) DEF_TILE_256(2, 4, 4) DEF_TILE_256(2, 1, 1)
DEF_TILE_256(3, 8, 1) DEF_TILE_256(3, 4, 4) DEF_TILE_256(3, 1, 1)
DEF_TILE_256(4, 8, 1) DEF_TILE_256(4, 4, 4) DEF_TILE_256(4, 1, 1)

static const q8_kernels k_avx2 = {
    col_bytes_qd, quant_256, 0, NULL, {NULL},
    {t256_0_8x1, t256_1_8x1, t256_2_8x1, t256_3_8x1, t256_4_8x1},
    {t256_0_4x4, t256_1_4x4, t256_2_4x4, t256_3_4x4, t256_4_4x4},
    {t256_0_1x1, t256_1_1x1, t256_2_1x1, t256_3_1x1, t256_4_1x1},
};

/* ======================================================================
 * AVX-512 VNNI: a block pair per zmm, even block in the low 8 lanes
 * ====================================================================== */

INLINE TV512 __m512 round_512(int ti, __m512 v)
{
    if (ti)
        return _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m512 f = _mm512_sub_ps(v, t);
    __mmask16 half = _mm512_cmp_ps_mask(_mm512_abs_ps(f), _mm512_set1_ps(0.5f), _CMP_GE_OQ);
    __m512 one = _mm512_or_ps(_mm512_and_ps(v, _mm512_set1_ps(-0.0f)), _mm512_set1_ps(1.0f));
    return _mm512_mask_add_ps(t, half, t, one);
}

/* The AVX-512 column: the 8-bit values, then per block pair 128 bytes:
 * the offset the unsigned weight operand adds, negated (-c times the sum
 * of each group of four activations: c = 128 for Q8_0, whose operand is
 * w + 128, and 8 for Q4_0, whose operand is the nibble), as 16 int32, and
 * the pair's scales as 16 floats (8 each). */
static size_t col_bytes_512(int cols)
{
    size_t a = q8_q_bytes(cols) + (size_t)((cols / 32 + 1) / 2) * 128, b = col_bytes_qd(cols);
    return a > b ? a : b;
}

static TV512 void quant_512(int ti, const float *x, int cols, uint8_t *col)
{
    if (ti >= 2) {   /* Q5_0, Q4_1, Q5_1 take the AVX2 kernels and columns */
        quant_256(ti, x, cols, col);
        return;
    }
    int8_t *q = (int8_t *)col;
    const int nb = cols / 32;
    float d[2];
    const __m512i absmask = _mm512_set1_epi32(0x7fffffff);
    const __m512i cvec = _mm512_set1_epi8(ti == 0 ? (char)0x80 : 8);
    memset(q + cols, 0, q8_q_bytes(cols) - (size_t)cols);
    for (int b = 0; b < nb; b++) {
        const float *xb = x + 32 * b;
        __m512i a0 = _mm512_and_si512(_mm512_loadu_si512(xb), absmask);
        __m512i a1 = _mm512_and_si512(_mm512_loadu_si512(xb + 16), absmask);
        float id, draw;
        d[b & 1] = block_scale(ti, (uint32_t)_mm512_reduce_max_epu32(_mm512_max_epu32(a0, a1)), &id, &draw);
        if (id == 0.0f) {
            memset(q + 32 * b, 0, 32);
        } else {
            __m512 idv = _mm512_set1_ps(id);
            __m128i q0 = _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(round_512(ti, _mm512_mul_ps(_mm512_loadu_ps(xb), idv))));
            __m128i q1 = _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(round_512(ti, _mm512_mul_ps(_mm512_loadu_ps(xb + 16), idv))));
            _mm_storeu_si128((__m128i *)(q + 32 * b), q0);
            _mm_storeu_si128((__m128i *)(q + 32 * b + 16), q1);
        }
        if (!(b & 1) && b + 1 < nb)
            continue;
        /* a pair is complete (or the last block is alone) */
        const int b0 = b & ~1, two = b0 + 1 < nb;
        uint8_t *pp = col + q8_q_bytes(cols) + (size_t)(b0 / 2) * 128;
        __m512i xv = _mm512_loadu_si512(q + 32 * b0);   /* the padding is zero */
        __m512i off = _mm512_sub_epi32(_mm512_setzero_si512(),
                                       _mm512_dpbusd_epi32(_mm512_setzero_si512(), cvec, xv));
        _mm512_storeu_si512(pp, off);
        _mm512_storeu_ps(pp + 64, _mm512_insertf32x8(_mm512_set1_ps(d[0]),
                                                     _mm256_set1_ps(two ? d[1] : 0.0f), 1));
    }
}

/* The unsigned operand of weight blocks bw and bw + bs (the second
 * ignored when `two` is 0) and their scales, one per 8-lane half:
 * Q8_0: w + 128; Q4_0: the nibbles, low ones in bytes 0-15 of each
 * 32-byte half, high ones in 16-31.  Every part comes from a broadcast
 * load, merged under a mask: no shuffles, which the decode tiles would
 * otherwise wait on. */
INLINE TV512 void wpair_512(int ti, const uint8_t *bw, int two, __m512i *wv, __m512 *dw)
{
    const int bs = wbytes[ti];
    const __m256i sa = _mm256_set1_epi16((short)rd16(bw));
    *dw = _mm512_cvtph_ps(two ? _mm256_mask_set1_epi16(sa, 0xff00, (short)rd16(bw + bs))
                              : _mm256_maskz_mov_epi16(0x00ff, sa));
    if (ti == 0) {
        const __m512i a = _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(bw + 2)));
        const __m512i v = two ? _mm512_mask_broadcast_i64x4(a, 0xf0, _mm256_loadu_si256((const __m256i *)(bw + bs + 2)))
                              : _mm512_maskz_mov_epi64(0x0f, a);
        *wv = _mm512_xor_si512(v, _mm512_set1_epi8((char)0x80));
        return;
    }
    const __m512i qa = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(bw + 2)));
    const __m512i v = two ? _mm512_mask_broadcast_i32x4(qa, 0xff00, _mm_loadu_si128((const __m128i *)(bw + bs + 2)))
                          : _mm512_maskz_mov_epi32(0x00ff, qa);
    *wv = _mm512_and_si512(_mm512_mask_blend_epi64(0xcc, v, _mm512_srli_epi16(v, 4)), _mm512_set1_epi8(15));
}

/* One block pair (or the last block alone, two = 0) of R rows against T
 * columns. */
INLINE TV512 void pair_512(int ti, const uint8_t *w, size_t rb, const uint8_t *xc, size_t xcs,
                           size_t qb, size_t pf, int b, const int two, const int R, const int T,
                           __m512 acc[8][4])
{
    const __mmask16 m = two ? 0xffff : 0x00ff;
    __m512i wv[8];
    __m512 dw[8];
#pragma GCC unroll 8
    for (int i = 0; i < R; i++) {
        const uint8_t *bw = w + i * rb + (size_t)b * wbytes[ti];
        if (pf)
            _mm_prefetch((const char *)bw + pf, _MM_HINT_T0);
        wpair_512(ti, bw, two, &wv[i], &dw[i]);
    }
#pragma GCC unroll 4
    for (int j = 0; j < T; j++) {
        const uint8_t *c = xc + j * xcs;
        const __m512i xv = _mm512_loadu_si512(c + 32 * b);
        const uint8_t *pp = c + qb + (size_t)(b / 2) * 128;
        const __m512i off = _mm512_loadu_si512(pp);
        const __m512 dx = _mm512_loadu_ps(pp + 64);
#pragma GCC unroll 8
        for (int i = 0; i < R; i++) {
            __m512 p = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(off, wv[i], xv));
            acc[i][j] = two ? _mm512_fmadd_ps(p, _mm512_mul_ps(dw[i], dx), acc[i][j])
                            : _mm512_mask3_fmadd_ps(p, _mm512_mul_ps(dw[i], dx), acc[i][j], m);
        }
    }
}

INLINE TV512 void tile_512(int ti, const uint8_t *w, size_t rb, const uint8_t *xc, size_t xcs,
                           int cols, float *y, size_t ys, size_t pf, const int R, const int T)
{
    __m512 acc[8][4];
#pragma GCC unroll 8
    for (int i = 0; i < R; i++)
#pragma GCC unroll 4
        for (int j = 0; j < T; j++)
            acc[i][j] = _mm512_setzero_ps();
    const int nb = cols / 32;
    const size_t qb = q8_q_bytes(cols);
    int b = 0;
    for (; b + 1 < nb; b += 2)
        pair_512(ti, w, rb, xc, xcs, qb, pf, b, 1, R, T, acc);
    if (b < nb)
        pair_512(ti, w, rb, xc, xcs, qb, pf, b, 0, R, T, acc);
#pragma GCC unroll 4
    for (int j = 0; j < T; j++)
#pragma GCC unroll 8
        for (int i = 0; i < R; i++)
            y[j * ys + i] = tree_reduce512(acc[i][j]);
}

/* A prepared row: per block pair the unsigned operand (64 bytes) and the
 * two scales as 16 floats (64 bytes). */
static size_t prep_bytes_512(int cols) { return (size_t)((cols / 32 + 1) / 2) * 128; }

INLINE TV512 void prep_512(int ti, const uint8_t *w, int cols, uint8_t *out)
{
    const int nb = cols / 32, bs = wbytes[ti];
    for (int b = 0; b < nb; b += 2, out += 128) {
        const uint8_t *bw = w + (size_t)b * bs;
        __m512i wv;
        __m512 dw;
        wpair_512(ti, bw, b + 1 < nb, &wv, &dw);
        _mm512_storeu_si512(out, wv);
        _mm512_storeu_ps(out + 64, dw);
    }
}
static TV512 void prep_512_0(const uint8_t *w, int cols, uint8_t *out) { prep_512(0, w, cols, out); }
static TV512 void prep_512_1(const uint8_t *w, int cols, uint8_t *out) { prep_512(1, w, cols, out); }

/* 4 prepared rows (rb apart) x 4 columns: every operand is a load. */
static TV512 void t512_prep_4x4(const uint8_t *w, size_t rb, const uint8_t *xc, size_t xcs,
                                int cols, float *y, size_t ys, size_t pf)
{
    (void)pf;
    __m512 acc[4][4];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++)
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++)
            acc[i][j] = _mm512_setzero_ps();
    const int nb = cols / 32;
    const size_t qb = q8_q_bytes(cols);
    for (int b = 0; b < nb; b += 2) {
        const __mmask16 m = b + 1 < nb ? 0xffff : 0x00ff;
        const size_t po = (size_t)(b / 2) * 128;
        __m512i wv[4];
        __m512 dw[4];
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) {
            wv[i] = _mm512_loadu_si512(w + i * rb + po);
            dw[i] = _mm512_loadu_ps(w + i * rb + po + 64);
        }
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            const uint8_t *c = xc + j * xcs;
            const __m512i xv = _mm512_loadu_si512(c + 32 * b);
            const __m512i off = _mm512_loadu_si512(c + qb + po);
            const __m512 dx = _mm512_loadu_ps(c + qb + po + 64);
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++) {
                __m512 p = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(off, wv[i], xv));
                acc[i][j] = _mm512_mask3_fmadd_ps(p, _mm512_mul_ps(dw[i], dx), acc[i][j], m);
            }
        }
    }
    __m512 t[8];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        t[2 * i] = tree_s8x2(acc[i][0], acc[i][1]);
        t[2 * i + 1] = tree_s8x2(acc[i][2], acc[i][3]);
    }
    tree_store4x4(y, ys, tree_reduce512_s8x16(t));
}

#define DEF_TILE_512(TI, R, T)                                                               \
    static TV512 void t512_##TI##_##R##x##T(const uint8_t *w, size_t rb, const uint8_t *xc, \
                                            size_t xcs, int cols, float *y, size_t ys,      \
                                            size_t pf)                                      \
    {                                                                                       \
        tile_512(TI, w, rb, xc, xcs, cols, y, ys, pf, R, T);                                \
    }
DEF_TILE_512(0, 8, 1) DEF_TILE_512(0, 1, 1)
DEF_TILE_512(1, 8, 1) DEF_TILE_512(1, 1, 1)

static const q8_kernels k_avx512 = {
    col_bytes_512, quant_512, 0, prep_bytes_512, {prep_512_0, prep_512_1, NULL, NULL, NULL},
    {t512_0_8x1, t512_1_8x1, t256_2_8x1, t256_3_8x1, t256_4_8x1},
    {t512_prep_4x4, t512_prep_4x4, t256_2_4x4, t256_3_4x4, t256_4_4x4},
    {t512_0_1x1, t512_1_1x1, t256_2_1x1, t256_3_1x1, t256_4_1x1},
};

int q8_cpu_has_vnni(void)
{
    unsigned a, b, c, d;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
           __get_cpuid_count(7, 0, &a, &b, &c, &d) && (c & (1u << 11));
}

const q8_kernels *q8_kernels_for(const char *isa)
{
    if (!strcmp(isa, "avx512"))
        return q8_cpu_has_vnni() ? &k_avx512 : &k_avx2;   /* the same bits either way */
    if (!strcmp(isa, "avx2"))
        return &k_avx2;
    if (!strcmp(isa, "portable"))
        return &k_portable;
    return NULL;
}
