/* Integer kernels for Q4_K, Q6_K, Q5_K and Q3_K weights (matmul_q8.h,
 * "K-quants"),
 * on activations quantized per 256 as llama.cpp's quantize_row_q8_K_ref
 * does: portable C, AVX2 and AVX-512 (BW and VNNI), the same bits on each.
 *
 * Contract, per output: float lanes A[16] and B[8] from +0.  A block of
 * 256 is "decoded" into its unsigned weights q[e] in the activations'
 * order (Q4_K: the nibble; Q5_K: the 5-bit value; Q6_K: the 6-bit value;
 * Q3_K: the 3-bit value plus 4), the scale S[e] of e's sub-block (Q3_K:
 * the stored one less 32), and per group of 16 an offset multiplier m[g]
 * (Q4_K, Q5_K: its sub-block's min; Q6_K: 32 times its scale; Q3_K: 4
 * times its scale).  The types with mins (Q4_K, Q5_K: even indices in
 * the set) and those with offsets (Q6_K, Q3_K: odd) then differ only in
 * where M goes.  Exactly in int32,
 *   L[l] = sum_{c<4, k<4} S[e] * q[e] * x[e],  e = 64c + 4l + k  (l < 16),
 *   M[l] = m[2l] * bsum[2l] + m[2l+1] * bsum[2l+1]                  (l < 8),
 * and with dx the block's activation scale:
 *   Q4_K, Q5_K: A[l] = fmaf(L[l], d * dx, A[l]);  B[l] = fmaf(M[l], dmin * dx, B[l]);
 *   Q6_K, Q3_K: A[l] = fmaf(L[l] - (l < 8 ? M[l] : 0), d * dx, A[l]).
 * y = tree16(A) - tree8(B) (matmul_tree.h; tree8 is its last three
 * levels).  Lanes keep the int32 sums small: ordinary blocks convert to
 * float exactly; extreme Q6_K scales can pass 2^24, where every path
 * rounds the conversion the same way (to nearest even). */
#include "engine/matmul_q8.h"
#include "engine/matmul_tree.h"
#include "engine/quant.h"
#include "engine/quant_kblocks.h"

#include <math.h>
#include <string.h>
#include <immintrin.h>

#define T256 __attribute__((target("avx2,fma,f16c")))
#define T512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")))
#define INLINE static inline __attribute__((always_inline))

#define QK 256
#define AMAX_TINY 1e-30f

/* ======================================================================
 * Activations (Q8_K)
 * ====================================================================== */

/* A quantized column: qs[cols] int8, then per block of 256 its scale d
 * (float) and its 16 sums of 16 values (int16), padded to 64 bytes. */
static size_t col_bytes_k(int cols)
{
    size_t nb = (size_t)cols / QK;
    return (q8_q_bytes(cols) + nb * (sizeof(float) + 16 * sizeof(int16_t)) + 63) & ~(size_t)63;
}
static const float *col_d(const uint8_t *col, int cols)
{
    return (const float *)(const void *)(col + q8_q_bytes(cols));
}
static const int16_t *col_bsums(const uint8_t *col, int cols)
{
    return (const int16_t *)(const void *)(col + q8_q_bytes(cols) + (size_t)(cols / QK) * sizeof(float));
}

/* Per 256 values, the one with the largest magnitude (the first of
 * equals) sets iscale = -127 / it; q = iscale * x rounded half to even, at
 * most 127; d = 1 / iscale.  A block with a NaN or an infinity gets d = NaN
 * (it poisons its outputs); one whose values are all below 1e-30, zeros.
 * The AVX-512 version computes the same bytes. */

/* A block whose largest magnitude (bits of |x|: NaN and inf compare above
 * every finite value) is not an ordinary one: writes it and returns 1. */
static int quant_k_special(uint32_t amax_bits, int8_t *q, int16_t *bs, float *d)
{
    float amax;
    memcpy(&amax, &amax_bits, 4);
    if (amax <= 3.0e38f && amax >= AMAX_TINY)
        return 0;
    *d = amax < AMAX_TINY ? 0.0f : NAN;
    memset(q, 0, QK);
    memset(bs, 0, 16 * sizeof *bs);
    return 1;
}

static int8_t *col_qs(uint8_t *col, int cols, float **d, int16_t **bs)
{
    *d = (float *)(void *)(col + q8_q_bytes(cols));
    *bs = (int16_t *)(void *)(col + q8_q_bytes(cols) + (size_t)(cols / QK) * sizeof(float));
    memset(col + cols, 0, q8_q_bytes(cols) - (size_t)cols);
    return (int8_t *)col;
}

static void quant_k(int ti, const float *x, int cols, uint8_t *col)
{
    (void)ti;
    float *d;
    int16_t *bs;
    int8_t *q = col_qs(col, cols, &d, &bs);
    for (int b = 0; b < cols / QK; b++, x += QK, q += QK, bs += 16) {
        uint32_t m = 0;
        for (int j = 0; j < QK; j++) {
            uint32_t u;
            memcpy(&u, &x[j], 4);
            u &= 0x7fffffffu;
            if (u > m) m = u;
        }
        if (quant_k_special(m, q, bs, &d[b]))
            continue;
        float amax, max = 0;
        memcpy(&amax, &m, 4);
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
}

/* The same with 16 values a vector (cvtps rounds half to even, as lrintf
 * does in the default rounding mode). */
static T512 void quant_k_512(int ti, const float *x, int cols, uint8_t *col)
{
    (void)ti;
    float *d;
    int16_t *bs;
    int8_t *q = col_qs(col, cols, &d, &bs);
    const __m512i absmask = _mm512_set1_epi32(0x7fffffff), ones = _mm512_set1_epi8(1);
    /* bsum s sits in lane 4 (s & 3) + (s >> 2) after the blends below */
    const __m512i sidx = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    for (int b = 0; b < cols / QK; b++, x += QK, q += QK, bs += 16) {
        __m512i m = _mm512_setzero_si512();
        for (int j = 0; j < QK; j += 16)
            m = _mm512_max_epu32(m, _mm512_and_si512(_mm512_loadu_si512(x + j), absmask));
        const uint32_t mb = (uint32_t)_mm512_reduce_max_epu32(m);
        if (quant_k_special(mb, q, bs, &d[b]))
            continue;
        const __m512i mv = _mm512_set1_epi32((int)mb);
        int first = 0;
        for (int j = 0;; j += 16) {
            __mmask16 e = _mm512_cmpeq_epi32_mask(_mm512_and_si512(_mm512_loadu_si512(x + j), absmask), mv);
            if (e) {
                first = j + __builtin_ctz(e);
                break;
            }
        }
        const float iscale = -127.0f / x[first];
        const __m512 is = _mm512_set1_ps(iscale);
        for (int j = 0; j < QK; j += 16) {
            __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(is, _mm512_loadu_ps(x + j)));
            v = _mm512_min_epi32(v, _mm512_set1_epi32(127));
            _mm_storeu_si128((__m128i *)(q + j), _mm512_cvtepi32_epi8(v));
        }
        __m512i t[4];
        for (int c = 0; c < 4; c++) {
            /* sums of 4, then of each 16 (one 128-bit lane: group 4c + lane) */
            __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, _mm512_loadu_si512(q + 64 * c));
            s = _mm512_add_epi32(s, _mm512_shuffle_epi32(s, _MM_PERM_CDAB));
            t[c] = _mm512_add_epi32(s, _mm512_shuffle_epi32(s, _MM_PERM_BADC));
        }
        __m512i r = _mm512_mask_blend_epi32(0x2222, t[0], t[1]);
        r = _mm512_mask_blend_epi32(0x4444, r, t[2]);
        r = _mm512_mask_blend_epi32(0x8888, r, t[3]);
        _mm256_storeu_si256((__m256i *)bs, _mm512_cvtepi32_epi16(_mm512_permutexvar_epi32(sidx, r)));
        d[b] = 1.0f / iscale;
    }
}

/* ======================================================================
 * Decoded blocks (also the prepared rows of batches): q[256] | S as one
 * int16 per pair of values (128) | m[16] int16 | d, dmin float
 * ====================================================================== */

#define PB 576
typedef struct {
    uint8_t q[QK];
    int16_t s[QK / 2];
    int16_t m[16];
    float d, dmin;
} kblock;
_Static_assert(sizeof(kblock) <= PB, "a decoded block fits its slot");

static void decode_q4k(const uint8_t *w, kblock *k)
{
    for (int j = 0; j < 8; j++) {
        int sc, m;
        kq_q4k_scale_min(j, w + 4, &sc, &m);
        for (int l = 0; l < 16; l++) k->s[16 * j + l] = (int16_t)sc;
        k->m[2 * j] = k->m[2 * j + 1] = (int16_t)m;
    }
    const uint8_t *qs = w + 16;
    for (int g = 0; g < 4; g++)
        for (int l = 0; l < 32; l++) {
            k->q[64 * g + l] = qs[32 * g + l] & 15;
            k->q[64 * g + 32 + l] = qs[32 * g + l] >> 4;
        }
    k->d = kq_fp16(w);
    k->dmin = kq_fp16(w + 2);
}

static void decode_q6k(const uint8_t *w, kblock *k)
{
    const int8_t *sc = (const int8_t *)(w + 192);
    for (int g = 0; g < 16; g++) {
        for (int l = 0; l < 8; l++) k->s[8 * g + l] = sc[g];
        k->m[g] = (int16_t)(32 * sc[g]);
    }
    for (int h = 0; h < 2; h++) {
        const uint8_t *ql = w + 64 * h, *qh = w + 128 + 32 * h;
        uint8_t *o = k->q + 128 * h;
        for (int l = 0; l < 32; l++) {
            o[l] = (uint8_t)((ql[l] & 15) | ((qh[l] & 3) << 4));
            o[l + 32] = (uint8_t)((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4));
            o[l + 64] = (uint8_t)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4));
            o[l + 96] = (uint8_t)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4));
        }
    }
    k->d = kq_fp16(w + 208);
    k->dmin = 0.0f;
}

static void decode_q5k(const uint8_t *w, kblock *k)
{
    for (int j = 0; j < 8; j++) {
        int sc, m;
        kq_q4k_scale_min(j, w + 4, &sc, &m);
        for (int l = 0; l < 16; l++) k->s[16 * j + l] = (int16_t)sc;
        k->m[2 * j] = k->m[2 * j + 1] = (int16_t)m;
    }
    const uint8_t *qh = w + 16, *qs = w + 48;
    for (int g = 0; g < 4; g++)
        for (int l = 0; l < 32; l++) {
            k->q[64 * g + l] = (uint8_t)((qs[32 * g + l] & 15) | (((qh[l] >> (2 * g)) & 1) << 4));
            k->q[64 * g + 32 + l] = (uint8_t)((qs[32 * g + l] >> 4) | (((qh[l] >> (2 * g + 1)) & 1) << 4));
        }
    k->d = kq_fp16(w);
    k->dmin = kq_fp16(w + 2);
}

static void decode_q3k(const uint8_t *w, kblock *k)
{
    const uint8_t *hm = w, *qs = w + 32;
    for (int g = 0; g < 16; g++) {
        int sc = kq_q3k_scale(g, w + 96);
        for (int l = 0; l < 8; l++) k->s[8 * g + l] = (int16_t)sc;
        k->m[g] = (int16_t)(4 * sc);
    }
    for (int h = 0; h < 2; h++)
        for (int j = 0; j < 4; j++)
            for (int l = 0; l < 32; l++)
                k->q[128 * h + 32 * j + l] = (uint8_t)(((qs[32 * h + l] >> (2 * j)) & 3) |
                                                       (((hm[l] >> (4 * h + j)) & 1) << 2));
    k->d = kq_fp16(w + 108);
    k->dmin = 0.0f;
}

static const int wbytes[4] = {144, 210, 176, 110};

static void decode_k(int ti, const uint8_t *w, kblock *k)
{
    switch (ti) {
    case 0: decode_q4k(w, k); break;
    case 1: decode_q6k(w, k); break;
    case 2: decode_q5k(w, k); break;
    default: decode_q3k(w, k); break;
    }
}

/* Block b of a row: its prepared form, or decoded into *kb. */
static const kblock *block_at(int ti, const uint8_t *w, int prepared, int b, kblock *kb)
{
    if (prepared)
        return (const kblock *)(const void *)(w + (size_t)b * PB);
    decode_k(ti, w + (size_t)b * wbytes[ti], kb);
    return kb;
}

static void prep_q4k(const uint8_t *w, int cols, uint8_t *out)
{
    for (int b = 0; b < cols / QK; b++)
        decode_q4k(w + (size_t)b * 144, (kblock *)(void *)(out + (size_t)b * PB));
}
static void prep_q6k(const uint8_t *w, int cols, uint8_t *out)
{
    for (int b = 0; b < cols / QK; b++)
        decode_q6k(w + (size_t)b * 210, (kblock *)(void *)(out + (size_t)b * PB));
}
static void prep_q5k(const uint8_t *w, int cols, uint8_t *out)
{
    for (int b = 0; b < cols / QK; b++)
        decode_q5k(w + (size_t)b * 176, (kblock *)(void *)(out + (size_t)b * PB));
}
static void prep_q3k(const uint8_t *w, int cols, uint8_t *out)
{
    for (int b = 0; b < cols / QK; b++)
        decode_q3k(w + (size_t)b * 110, (kblock *)(void *)(out + (size_t)b * PB));
}
static size_t prep_bytes_k(int cols) { return (size_t)(cols / QK) * PB; }

static float tree8(const float p[8])
{
    float s4[4], s2[2];
    for (int i = 0; i < 4; i++) s4[i] = p[i] + p[i + 4];
    for (int i = 0; i < 2; i++) s2[i] = s4[i] + s4[i + 2];
    return s2[0] + s2[1];
}

/* ======================================================================
 * Portable
 * ====================================================================== */

static void lanes_p(int ti, const kblock *k, const int8_t *x, const int16_t *bs, float dx,
                    float A[16], float B[8])
{
    int32_t M[8];
    for (int l = 0; l < 8; l++) M[l] = k->m[2 * l] * bs[2 * l] + k->m[2 * l + 1] * bs[2 * l + 1];
    for (int l = 0; l < 16; l++) {
        int32_t L = 0;
        for (int c = 0; c < 4; c++)
            for (int j = 0; j < 4; j++) {
                int e = 64 * c + 4 * l + j;
                L += k->s[e / 2] * k->q[e] * x[e];
            }
        if ((ti & 1) && l < 8) L -= M[l];
        A[l] = fmaf((float)L, k->d * dx, A[l]);
    }
    if (!(ti & 1))
        for (int l = 0; l < 8; l++) B[l] = fmaf((float)M[l], k->dmin * dx, B[l]);
}

static float dot_p(int ti, const uint8_t *w, int prepared, const uint8_t *col, int cols)
{
    float A[16] = {0}, B[8] = {0};
    const int8_t *xq = (const int8_t *)col;
    const float *xd = col_d(col, cols);
    const int16_t *bs = col_bsums(col, cols);
    for (int b = 0; b < cols / QK; b++) {
        kblock kb;
        const kblock *k = block_at(ti, w, prepared, b, &kb);
        lanes_p(ti, k, xq + QK * b, bs + 16 * b, xd[b], A, B);
    }
    return tree_reduce16(A) - tree8(B);
}

/* Tiles of R rows x T columns; prepared: rows as prep_q*k wrote them. */
INLINE void tile_p(int ti, int prepared, const uint8_t *w, size_t rb, const uint8_t *xc,
                   size_t xcs, int cols, float *y, size_t ys, int R, int T)
{
    for (int j = 0; j < T; j++)
        for (int i = 0; i < R; i++)
            y[j * ys + i] = dot_p(ti, w + i * rb, prepared, xc + j * xcs, cols);
}

#define DEF_TILE(PFX, TILE, ATTR, TI, PREP, R, T)                                          \
    static ATTR void PFX##_##TI##_##R##x##T(const uint8_t *w, size_t rb, const uint8_t *xc, \
                                            size_t xcs, int cols, float *y, size_t ys,      \
                                            size_t pf)                                      \
    {                                                                                       \
        for (int i = 0; pf && i < R; i++)                                                   \
            _mm_prefetch((const char *)w + i * rb + pf, _MM_HINT_T0);                       \
        TILE(TI, PREP, w, rb, xc, xcs, cols, y, ys, R, T);                                  \
    }
#define DEF_TILES(PFX, TILE, ATTR, TI)                                                       \
    DEF_TILE(PFX, TILE, ATTR, TI, 0, 8, 1) DEF_TILE(PFX, TILE, ATTR, TI, 1, 4, 4)           \
    DEF_TILE(PFX, TILE, ATTR, TI, 0, 1, 1)
DEF_TILES(tp, tile_p, , 0)
DEF_TILES(tp, tile_p, , 1)
DEF_TILES(tp, tile_p, , 2)
DEF_TILES(tp, tile_p, , 3)

static const q8_kernels k_portable = {
    col_bytes_k, quant_k, 1, prep_bytes_k, {prep_q4k, prep_q6k, prep_q5k, prep_q3k},
    {tp_0_8x1, tp_1_8x1, tp_2_8x1, tp_3_8x1}, {tp_0_4x4, tp_1_4x4, tp_2_4x4, tp_3_4x4},
    {tp_0_1x1, tp_1_1x1, tp_2_1x1, tp_3_1x1},
};

/* ======================================================================
 * AVX2: lanes 0-7 from the first 32 values of each 64, 8-15 from the rest
 * ====================================================================== */

INLINE T256 float tree8_256(__m256 v)
{
    __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    return _mm_cvtss_f32(_mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1)));
}

INLINE T256 void lanes_256(int ti, const kblock *k, const int8_t *x, const int16_t *bs, float dx,
                           __m256 *alo, __m256 *ahi, __m256 *bacc)
{
    __m256i lo = _mm256_setzero_si256(), hi = _mm256_setzero_si256();
    for (int c = 0; c < 4; c++) {
        __m256i p0 = _mm256_maddubs_epi16(_mm256_loadu_si256((const __m256i *)(k->q + 64 * c)),
                                          _mm256_loadu_si256((const __m256i *)(x + 64 * c)));
        __m256i p1 = _mm256_maddubs_epi16(_mm256_loadu_si256((const __m256i *)(k->q + 64 * c + 32)),
                                          _mm256_loadu_si256((const __m256i *)(x + 64 * c + 32)));
        lo = _mm256_add_epi32(lo, _mm256_madd_epi16(p0, _mm256_loadu_si256((const __m256i *)(k->s + 32 * c))));
        hi = _mm256_add_epi32(hi, _mm256_madd_epi16(p1, _mm256_loadu_si256((const __m256i *)(k->s + 32 * c + 16))));
    }
    __m256i M = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)k->m),
                                  _mm256_loadu_si256((const __m256i *)bs));
    __m256 s = _mm256_set1_ps(k->d * dx);
    if (ti & 1)
        lo = _mm256_sub_epi32(lo, M);
    *alo = _mm256_fmadd_ps(_mm256_cvtepi32_ps(lo), s, *alo);
    *ahi = _mm256_fmadd_ps(_mm256_cvtepi32_ps(hi), s, *ahi);
    if (!(ti & 1))
        *bacc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(M), _mm256_set1_ps(k->dmin * dx), *bacc);
}

static T256 float dot_256(int ti, const uint8_t *w, int prepared, const uint8_t *col, int cols)
{
    __m256 alo = _mm256_setzero_ps(), ahi = _mm256_setzero_ps(), b8 = _mm256_setzero_ps();
    const int8_t *xq = (const int8_t *)col;
    const float *xd = col_d(col, cols);
    const int16_t *bs = col_bsums(col, cols);
    for (int b = 0; b < cols / QK; b++) {
        kblock kb;
        const kblock *k = block_at(ti, w, prepared, b, &kb);
        lanes_256(ti, k, xq + QK * b, bs + 16 * b, xd[b], &alo, &ahi, &b8);
    }
    return tree_reduce256x2(alo, ahi) - tree8_256(b8);
}

INLINE T256 void tile_256(int ti, int prepared, const uint8_t *w, size_t rb, const uint8_t *xc,
                          size_t xcs, int cols, float *y, size_t ys, int R, int T)
{
    for (int j = 0; j < T; j++)
        for (int i = 0; i < R; i++)
            y[j * ys + i] = dot_256(ti, w + i * rb, prepared, xc + j * xcs, cols);
}
DEF_TILES(t256, tile_256, T256, 0)
DEF_TILES(t256, tile_256, T256, 1)
DEF_TILES(t256, tile_256, T256, 2)
DEF_TILES(t256, tile_256, T256, 3)

static const q8_kernels k_avx2 = {
    col_bytes_k, quant_k, 1, prep_bytes_k, {prep_q4k, prep_q6k, prep_q5k, prep_q3k},
    {t256_0_8x1, t256_1_8x1, t256_2_8x1, t256_3_8x1}, {t256_0_4x4, t256_1_4x4, t256_2_4x4, t256_3_4x4},
    {t256_0_1x1, t256_1_1x1, t256_2_1x1, t256_3_1x1},
};

/* ======================================================================
 * AVX-512: 64 values per instruction (maddubs, then vpdpwssd with the
 * scales), each block decoded in registers
 * ====================================================================== */

/* An F16 scale by the F16C instruction (the same value as fp16_to_f32). */
INLINE T512 float f16c(const uint8_t *p)
{
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

/* The block's unsigned weights (4 chunks of 64, activation order), pair
 * scales (4 x 32 int16), offset multipliers (16 int16) and scales. */
typedef struct {
    __m512i q[4], s[4];
    __m256i m;
    float d, dmin;
} kregs;

/* The 8 scales and 8 mins of a Q4_K block as bytes sm[0..7], sm[8..15]
 * (the packing of kq_q4k_scale_min, unpacked with word operations). */
static inline void q4k_scale_bytes(const uint8_t *s, uint8_t sm[16])
{
    uint32_t u[4];
    memcpy(u, s, 12);
    const uint32_t k1 = 0x3f3f3f3f, k2 = 0x0f0f0f0f, k3 = 0x03030303;
    u[3] = ((u[2] >> 4) & k2) | (((u[1] >> 6) & k3) << 4);
    const uint32_t mins_lo = u[1] & k1;
    u[1] = (u[2] & k2) | (((u[0] >> 6) & k3) << 4);
    u[2] = mins_lo;
    u[0] &= k1;
    memcpy(sm, u, 16);
}

/* Q4_K's registers, its nibbles read at qs (Q5_K's sit later). */
INLINE T512 void regs_q4k_qs(const uint8_t *w, const uint8_t *qs, kregs *r)
{
    uint8_t sm[16];
    q4k_scale_bytes(w + 4, sm);
    /* int16 lane i of chunk c: scale of sub-block 2c + (i >= 16) */
    const __m512i s16 = _mm512_castsi256_si512(_mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)sm)));
    const __m512i half = _mm512_srli_epi16(_mm512_set_epi16(
        31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16,
        15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0), 4);
    const __m512i m4 = _mm512_set1_epi8(15);
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
        __m512i v = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(qs + 32 * c)));
        r->q[c] = _mm512_and_si512(_mm512_mask_blend_epi64(0xf0, v, _mm512_srli_epi16(v, 4)), m4);
        r->s[c] = _mm512_permutexvar_epi16(_mm512_add_epi16(half, _mm512_set1_epi16((short)(2 * c))), s16);
    }
    /* mins: lanes 2j and 2j + 1 take min j (bytes 8..15 of sm) */
    const __m256i mn = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)sm));
    r->m = _mm256_permutexvar_epi16(_mm256_setr_epi16(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13,
                                                      14, 14, 15, 15), mn);
    r->d = f16c(w);
    r->dmin = f16c(w + 2);
}

INLINE T512 void regs_q6k(const uint8_t *w, kregs *r)
{
    const __m512i m4 = _mm512_set1_epi8(15), m2 = _mm512_set1_epi8(3);
    const __m512i sh_a = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
    const __m512i sh_b = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(6), 1);
    const __m512i sc16 = _mm512_castsi256_si512(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(w + 192))));
    for (int h = 0; h < 2; h++) {
        __m512i ql = _mm512_loadu_si512(w + 64 * h);
        __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(w + 128 + 32 * h)));
        __m512i hi_a = _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi16(qh, sh_a), m2), 4);
        __m512i hi_b = _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi16(qh, sh_b), m2), 4);
        r->q[2 * h] = _mm512_or_si512(_mm512_and_si512(ql, m4), hi_a);
        r->q[2 * h + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4), hi_b);
        for (int c = 0; c < 2; c++) {
            /* int16 lane i of chunk 2h + c takes group 8h + 4c + i / 8 */
            __m512i idx = _mm512_add_epi16(_mm512_srli_epi16(_mm512_set_epi16(
                31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16,
                15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0), 3),
                _mm512_set1_epi16((short)(8 * h + 4 * c)));
            r->s[2 * h + c] = _mm512_permutexvar_epi16(idx, sc16);
        }
    }
    r->m = _mm256_slli_epi16(_mm512_castsi512_si256(sc16), 5);
    r->d = f16c(w + 208);
    r->dmin = 0.0f;
}

INLINE T512 void regs_q4k(const uint8_t *w, kregs *r) { regs_q4k_qs(w, w + 16, r); }

/* Q5_K: Q4_K's registers (the same scales, mins and nibble layout) with
 * each value's fifth bit from qh: bit 2c of qh[l] for the low nibbles of
 * chunk c, bit 2c + 1 for its high nibbles. */
INLINE T512 void regs_q5k(const uint8_t *w, kregs *r)
{
    regs_q4k_qs(w, w + 48, r);
    const __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(w + 16)));
    const __m512i one = _mm512_set1_epi8(1);
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
        const __m512i sh = _mm512_inserti64x4(_mm512_set1_epi16((short)(2 * c)),
                                              _mm256_set1_epi16((short)(2 * c + 1)), 1);
        const __m512i bit = _mm512_and_si512(_mm512_srlv_epi16(qh, sh), one);
        r->q[c] = _mm512_or_si512(r->q[c], _mm512_slli_epi16(bit, 4));
    }
}

/* Q3_K: chunk c (values 64c..64c+63) is half h = c / 2, rows j = 2(c % 2)
 * and j + 1 of 32: the 2-bit value at bits 2j of qs[32h + l], plus 4 if
 * bit 4h + j of hmask[l] is set; 16 signed scales, one per 16 values. */
INLINE T512 void regs_q3k(const uint8_t *w, kregs *r)
{
    int16_t sc[16];
    for (int g = 0; g < 16; g++) sc[g] = (int16_t)kq_q3k_scale(g, w + 96);
    const __m512i sc16 = _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)sc));
    const __m512i hm = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)w));
    const __m512i three = _mm512_set1_epi8(3), one = _mm512_set1_epi8(1);
    const __m512i lane8 = _mm512_srli_epi16(_mm512_set_epi16(
        31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16,
        15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0), 3);
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
        const int h = c / 2, j = 2 * (c % 2);
        const __m512i qs = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(w + 32 + 32 * h)));
        const __m512i shq = _mm512_inserti64x4(_mm512_set1_epi16((short)(2 * j)),
                                               _mm256_set1_epi16((short)(2 * j + 2)), 1);
        const __m512i shh = _mm512_inserti64x4(_mm512_set1_epi16((short)(4 * h + j)),
                                               _mm256_set1_epi16((short)(4 * h + j + 1)), 1);
        const __m512i lo = _mm512_and_si512(_mm512_srlv_epi16(qs, shq), three);
        const __m512i hi = _mm512_and_si512(_mm512_srlv_epi16(hm, shh), one);
        r->q[c] = _mm512_or_si512(lo, _mm512_slli_epi16(hi, 2));
        /* int16 lane i of chunk c: group 4c + i / 8 */
        r->s[c] = _mm512_permutexvar_epi16(_mm512_add_epi16(lane8, _mm512_set1_epi16((short)(4 * c))), sc16);
    }
    r->m = _mm256_slli_epi16(_mm512_castsi512_si256(sc16), 2);
    r->d = f16c(w + 108);
    r->dmin = 0.0f;
}

INLINE T512 void regs_k(int ti, const uint8_t *w, kregs *r)
{
    if (ti == 0) regs_q4k(w, r);
    else if (ti == 1) regs_q6k(w, r);
    else if (ti == 2) regs_q5k(w, r);
    else regs_q3k(w, r);
}

INLINE T512 void lanes_512(int ti, const kregs *k, const int8_t *x, const int16_t *bs, float dx,
                           __m512 *a, __m256 *bacc)
{
    __m512i L = _mm512_setzero_si512();
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++)
        L = _mm512_dpwssd_epi32(L, _mm512_maddubs_epi16(k->q[c], _mm512_loadu_si512(x + 64 * c)),
                                k->s[c]);
    __m256i M = _mm256_madd_epi16(k->m, _mm256_loadu_si256((const __m256i *)bs));
    if (ti & 1)
        L = _mm512_sub_epi32(L, _mm512_zextsi256_si512(M));
    *a = _mm512_fmadd_ps(_mm512_cvtepi32_ps(L), _mm512_set1_ps(k->d * dx), *a);
    if (!(ti & 1))
        *bacc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(M), _mm256_set1_ps(k->dmin * dx), *bacc);
}

/* R rows x T columns of encoded rows (decode and the odd ones out); each
 * row's block is decoded once for the T columns */
INLINE T512 void tile_512(int ti, int prepared, const uint8_t *w, size_t rb, const uint8_t *xc,
                          size_t xcs, int cols, float *y, size_t ys, int R, int T)
{
    (void)prepared;   /* prepared rows take tile4_512 */
    /* two columns at a time: R x 2 accumulators of each kind stay in
     * registers (each output's operations do not depend on the grouping) */
    for (int j0 = 0; j0 < T; j0 += 2) {
        const int tj = T - j0 < 2 ? T - j0 : 2;
        __m512 a[8][2];
        __m256 bb[8][2];
#pragma GCC unroll 8
        for (int i = 0; i < R; i++)
#pragma GCC unroll 2
            for (int j = 0; j < 2; j++) {
                a[i][j] = _mm512_setzero_ps();
                bb[i][j] = _mm256_setzero_ps();
            }
        for (int b = 0; b < cols / QK; b++)
#pragma GCC unroll 8
            for (int i = 0; i < R; i++) {
                kregs k;
                regs_k(ti, w + i * rb + (size_t)b * wbytes[ti], &k);
#pragma GCC unroll 2
                for (int j = 0; j < tj; j++) {
                    const uint8_t *c = xc + (j0 + j) * xcs;
                    lanes_512(ti, &k, (const int8_t *)c + QK * b, col_bsums(c, cols) + 16 * b,
                              col_d(c, cols)[b], &a[i][j], &bb[i][j]);
                }
            }
        for (int j = 0; j < tj; j++)
            for (int i = 0; i < R; i++)
                y[(j0 + j) * ys + i] = tree_reduce512(a[i][j]) - tree8_256(bb[i][j]);
    }
}
DEF_TILE(t512, tile_512, T512, 0, 0, 8, 1) DEF_TILE(t512, tile_512, T512, 0, 0, 1, 1)
DEF_TILE(t512, tile_512, T512, 1, 0, 8, 1) DEF_TILE(t512, tile_512, T512, 1, 0, 1, 1)
DEF_TILE(t512, tile_512, T512, 2, 0, 8, 1) DEF_TILE(t512, tile_512, T512, 2, 0, 1, 1)
DEF_TILE(t512, tile_512, T512, 3, 0, 8, 1) DEF_TILE(t512, tile_512, T512, 3, 0, 1, 1)

/* The AVX-512 set's prepared rows: kblocks decoded by regs_k, with the
 * offset multipliers of Q6_K and Q3_K stored negated, so that -M can start
 * the lane sums (the same integers: L - M). */
INLINE T512 void prep_512(int ti, const uint8_t *w, int cols, uint8_t *out)
{
    for (int b = 0; b < cols / QK; b++) {
        kblock *k = (kblock *)(void *)(out + (size_t)b * PB);
        kregs r;
        regs_k(ti, w + (size_t)b * wbytes[ti], &r);
        for (int c = 0; c < 4; c++) {
            _mm512_storeu_si512(k->q + 64 * c, r.q[c]);
            _mm512_storeu_si512(k->s + 32 * c, r.s[c]);
        }
        _mm256_storeu_si256((__m256i *)k->m, !(ti & 1) ? r.m : _mm256_sub_epi16(_mm256_setzero_si256(), r.m));
        k->d = r.d;
        k->dmin = r.dmin;
    }
}
static T512 void prep_512_0(const uint8_t *w, int cols, uint8_t *out) { prep_512(0, w, cols, out); }
static T512 void prep_512_1(const uint8_t *w, int cols, uint8_t *out) { prep_512(1, w, cols, out); }
static T512 void prep_512_2(const uint8_t *w, int cols, uint8_t *out) { prep_512(2, w, cols, out); }
static T512 void prep_512_3(const uint8_t *w, int cols, uint8_t *out) { prep_512(3, w, cols, out); }

/* 4 prepared rows x 4 columns, two columns at a time.  Per row and
 * column a block costs 4 maddubs and 4 vpdpwssd, a conversion and an FMA
 * whose scale is a broadcast load; Q6_K's lane sums start from -M, and
 * Q4_K's min terms of the two columns share one vector (the first
 * column's in the low half, the second's in the high half). */
INLINE T512 void tile4_512(const int ti, const uint8_t *w, size_t rb, const uint8_t *xc,
                           size_t xcs, int cols, float *y, size_t ys)
{
    const int nb = cols / QK;
    __m512 ta[8], tb[8];    /* first tree levels of outputs 4i + j (tree_reduce512_s8x16) */
    /* two rows at a time against the four columns: a row's weights and
     * scales are loaded once for four columns */
    for (int i0 = 0; i0 < 4; i0 += 2) {
        __m512 a[2][4], bb[2][2];
#pragma GCC unroll 2
        for (int i = 0; i < 2; i++) {
            a[i][0] = a[i][1] = a[i][2] = a[i][3] = _mm512_setzero_ps();
            bb[i][0] = bb[i][1] = _mm512_setzero_ps();
        }
        for (int b = 0; b < nb; b++) {
            __m512 dxv[4], dxp[2];
            __m512i bsp[2];
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++)
                dxv[j] = _mm512_set1_ps(col_d(xc + j * xcs, cols)[b]);
            /* keeps the compiler from turning d * dx back into a scalar
             * product and a broadcast, one more instruction a row */
            __asm__("" : "+v"(dxv[0]), "+v"(dxv[1]), "+v"(dxv[2]), "+v"(dxv[3]));
            if (!(ti & 1))
#pragma GCC unroll 2
                for (int h = 0; h < 2; h++) {
                    dxp[h] = _mm512_insertf32x8(dxv[2 * h], _mm512_castps512_ps256(dxv[2 * h + 1]), 1);
                    bsp[h] = _mm512_inserti64x4(
                        _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(col_bsums(xc + 2 * h * xcs, cols) + 16 * b))),
                        _mm256_loadu_si256((const __m256i *)(col_bsums(xc + (2 * h + 1) * xcs, cols) + 16 * b)), 1);
                }
#pragma GCC unroll 2
            for (int i = 0; i < 2; i++) {
                const kblock *k = (const kblock *)(const void *)(w + (i0 + i) * rb + (size_t)b * PB);
                __m512i q[4], sc[4];
#pragma GCC unroll 4
                for (int cc = 0; cc < 4; cc++) {
                    q[cc] = _mm512_loadu_si512(k->q + 64 * cc);
                    sc[cc] = _mm512_loadu_si512(k->s + 32 * cc);
                }
#pragma GCC unroll 4
                for (int j = 0; j < 4; j++) {
                    const uint8_t *c = xc + j * xcs;
                    const int8_t *x = (const int8_t *)c + QK * b;
                    __m512i p = _mm512_maddubs_epi16(q[0], _mm512_loadu_si512(x)), L;
                    if (!(ti & 1))
                        L = _mm512_madd_epi16(p, sc[0]);
                    else
                        L = _mm512_dpwssd_epi32(_mm512_zextsi256_si512(_mm256_madd_epi16(
                                                    _mm256_loadu_si256((const __m256i *)k->m),
                                                    _mm256_loadu_si256((const __m256i *)(col_bsums(c, cols) + 16 * b)))),
                                                p, sc[0]);
#pragma GCC unroll 3
                    for (int cc = 1; cc < 4; cc++)
                        L = _mm512_dpwssd_epi32(L, _mm512_maddubs_epi16(q[cc], _mm512_loadu_si512(x + 64 * cc)), sc[cc]);
                    /* d * dx as a vector product: the same float as the scalar one */
                    a[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(L), _mm512_mul_ps(_mm512_set1_ps(k->d), dxv[j]),
                                              a[i][j]);
                }
                if (!(ti & 1))
#pragma GCC unroll 2
                    for (int h = 0; h < 2; h++) {
                        __m512i M = _mm512_madd_epi16(_mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)k->m)), bsp[h]);
                        bb[i][h] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(M), _mm512_mul_ps(_mm512_set1_ps(k->dmin), dxp[h]), bb[i][h]);
                    }
            }
        }
#pragma GCC unroll 2
        for (int i = 0; i < 2; i++)
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++) {
                ta[2 * (i0 + i) + h] = tree_s8x2(a[i][2 * h], a[i][2 * h + 1]);
                tb[2 * (i0 + i) + h] = bb[i][h];
            }
    }
    __m512 v = tree_reduce512_s8x16(ta);
    if (!(ti & 1))    /* the B lanes of Q6_K and Q3_K are +0: y - 0 is y */
        v = _mm512_sub_ps(v, tree_reduce512_s8x16(tb));
    tree_store4x4(y, ys, v);
}
static T512 void t512_0_4x4(const uint8_t *w, size_t rb, const uint8_t *xc, size_t xcs, int cols,
                            float *y, size_t ys, size_t pf)
{
    (void)pf;
    tile4_512(0, w, rb, xc, xcs, cols, y, ys);
}
static T512 void t512_1_4x4(const uint8_t *w, size_t rb, const uint8_t *xc, size_t xcs, int cols,
                            float *y, size_t ys, size_t pf)
{
    (void)pf;
    tile4_512(1, w, rb, xc, xcs, cols, y, ys);
}

/* Prepared Q5_K and Q3_K rows are the same kblocks as Q4_K's and Q6_K's:
 * the 4x4 tiles of those serve them. */
static const q8_kernels k_avx512 = {
    col_bytes_k, quant_k_512, 1, prep_bytes_k, {prep_512_0, prep_512_1, prep_512_2, prep_512_3},
    {t512_0_8x1, t512_1_8x1, t512_2_8x1, t512_3_8x1}, {t512_0_4x4, t512_1_4x4, t512_0_4x4, t512_1_4x4},
    {t512_0_1x1, t512_1_1x1, t512_2_1x1, t512_3_1x1},
};

const q8_kernels *q8k_kernels_for(const char *isa)
{
    if (!strcmp(isa, "avx512"))
        return q8_cpu_has_vnni() ? &k_avx512 : &k_avx2;   /* the same bits either way */
    if (!strcmp(isa, "avx2"))
        return &k_avx2;
    if (!strcmp(isa, "portable"))
        return &k_portable;
    return NULL;
}
