/* GGML weight types: block geometry, exact dequantization of rows to
 * float32 (bit-identical to llama.cpp's dequantize_row_* compiled without
 * FP contraction), software fp16 conversion and llama.cpp's reference
 * quantizers for F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0 and Q5_1 (and
 * plain ones for the K types).  Blocks are read with memcpy,
 * so rows need no particular alignment. */
#include "engine/quant.h"
#include "engine/quant_kblocks.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <strings.h>

/* ---- block layouts (byte offsets inside one block) ---------------------
 * Q4_0  (32 elems, 18 B):  d fp16 | qs[16]   low nibbles = elems 0..15,
 *                                            high nibbles = elems 16..31
 * Q4_1  (32 elems, 20 B):  d fp16 | m fp16 | qs[16]      elem = q * d + m
 * Q5_0  (32 elems, 22 B):  d fp16 | qh u32 | qs[16]      elem = (q - 16) * d
 * Q5_1  (32 elems, 24 B):  d fp16 | m fp16 | qh u32 | qs[16]
 *                          (5-bit q: the nibble, bit j of qh (little-endian)
 *                          its fifth bit for element j)
 * Q8_0  (32 elems, 34 B):  d fp16 | qs[32] int8
 * Q3_K (256 elems, 110 B): hmask[32] | qs[64] | scales[12] | d fp16
 * Q4_K (256 elems, 144 B): d fp16 | dmin fp16 | scales[12] | qs[128]
 * Q5_K (256 elems, 176 B): d fp16 | dmin fp16 | scales[12] | qh[32] | qs[128]
 * Q6_K (256 elems, 210 B): ql[128] | qh[64] | scales[16] int8 | d fp16
 * (the K layouts in detail: quant_kblocks.h) */
#define QK 32
#define QK_K 256

int quant_block_elems(int type)
{
    switch (type) {
    case TYPE_F32: case TYPE_F16: case TYPE_BF16: return 1;
    case TYPE_Q4_0: case TYPE_Q4_1: case TYPE_Q5_0: case TYPE_Q5_1: case TYPE_Q8_0: return QK;
    case TYPE_Q3_K: case TYPE_Q4_K: case TYPE_Q5_K: case TYPE_Q6_K: return QK_K;
    default: return 0;
    }
}

size_t quant_block_bytes(int type)
{
    switch (type) {
    case TYPE_F32:  return 4;
    case TYPE_F16:  return 2;
    case TYPE_BF16: return 2;
    case TYPE_Q4_0: return 2 + QK / 2;
    case TYPE_Q4_1: return 2 + 2 + QK / 2;
    case TYPE_Q5_0: return 2 + 4 + QK / 2;
    case TYPE_Q5_1: return 2 + 2 + 4 + QK / 2;
    case TYPE_Q8_0: return 2 + QK;
    case TYPE_Q3_K: return QK_K / 8 + QK_K / 4 + 12 + 2;
    case TYPE_Q4_K: return 2 + 2 + 12 + QK_K / 2;
    case TYPE_Q5_K: return 2 + 2 + 12 + QK_K / 8 + QK_K / 2;
    case TYPE_Q6_K: return QK_K / 2 + QK_K / 4 + QK_K / 16 + 2;
    default: return 0;
    }
}

size_t quant_row_bytes(int type, int64_t n)
{
    int be = quant_block_elems(type);
    if (be == 0 || n < 0 || n % be != 0)
        return 0;
    return (size_t)(n / be) * quant_block_bytes(type);
}

/* Every type GGML numbers (ggml.h), whether llmfs reads it or not. */
static const char *const ggml_names[] = {
    [0] = "F32", [1] = "F16", [2] = "Q4_0", [3] = "Q4_1", [6] = "Q5_0", [7] = "Q5_1",
    [8] = "Q8_0", [9] = "Q8_1", [10] = "Q2_K", [11] = "Q3_K", [12] = "Q4_K", [13] = "Q5_K",
    [14] = "Q6_K", [15] = "Q8_K", [16] = "IQ2_XXS", [17] = "IQ2_XS", [18] = "IQ3_XXS",
    [19] = "IQ1_S", [20] = "IQ4_NL", [21] = "IQ3_S", [22] = "IQ2_S", [23] = "IQ4_XS",
    [24] = "I8", [25] = "I16", [26] = "I32", [27] = "I64", [28] = "F64", [29] = "IQ1_M",
    [30] = "BF16", [34] = "TQ1_0", [35] = "TQ2_0", [39] = "MXFP4",
};

const char *quant_name(int type)
{
    if (type < 0 || (size_t)type >= sizeof ggml_names / sizeof ggml_names[0] || !ggml_names[type])
        return "?";
    return ggml_names[type];
}

const char *quant_supported_list(void)
{
    return "F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q3_K, Q4_K, Q5_K, Q6_K";
}

int quant_from_name(const char *name)
{
    if (!name)
        return -1;
    for (size_t i = 0; i < sizeof ggml_names / sizeof ggml_names[0]; i++)
        if (ggml_names[i] && quant_block_elems((int)i) && strcasecmp(ggml_names[i], name) == 0)
            return (int)i;
    return -1;
}

/* ---- fp16 ---------------------------------------------------------------- */

static inline uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* Exact.  Signalling NaNs come out quiet, as with F16C's vcvtph2ps. */
float fp16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    if (exp == 0) {
        /* zero or subnormal: mant * 2^-24, exactly representable */
        float v = (float)mant * 0x1p-24f;
        return u2f(f2u(v) | sign);
    }
    if (exp == 31)
        return u2f(sign | 0x7f800000u | (mant << 13) | (mant ? 0x400000u : 0));
    return u2f(sign | ((exp + 112) << 23) | (mant << 13));
}

/* Round to nearest even, overflow to infinity, NaN stays NaN (quiet, top
 * payload bits kept): the same bits as vcvtps2ph with imm 0. */
uint16_t f32_to_fp16(float f)
{
    uint32_t x = f2u(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    x &= 0x7fffffffu;
    if (x >= 0x7f800000u) {                  /* inf, nan */
        if (x == 0x7f800000u)
            return sign | 0x7c00;
        return (uint16_t)(sign | 0x7e00 | ((x >> 13) & 0x3ff));
    }
    if (x >= 0x477ff000u)                    /* >= 65520: rounds to inf */
        return sign | 0x7c00;
    if (x < 0x38800000u) {                   /* below 2^-14: subnormal */
        /* Adding 0.5 (ulp 2^-24) rounds |f| to a multiple of 2^-24 with the
         * FPU's round-to-nearest-even; the low bits then hold the count. */
        float r = u2f(x) + 0.5f;
        return (uint16_t)(sign | (f2u(r) - 0x3f000000u));
    }
    uint32_t odd = (x >> 13) & 1;
    x += 0xc8000fffu + odd;                  /* rebias 127->15, round */
    return (uint16_t)(sign | (x >> 13));
}

/* ---- bf16: the top half of a float32 ------------------------------------ */

float bf16_to_f32(uint16_t h) { return u2f((uint32_t)h << 16); }

/* As llama.cpp's ggml_compute_fp32_to_bf16: NaN made quiet, otherwise
 * rounded to nearest even (overflowing to infinity). */
uint16_t f32_to_bf16(float f)
{
    uint32_t u = f2u(f);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 64);
    return (uint16_t)((u + (0x7fffu + ((u >> 16) & 1))) >> 16);
}

/* ---- dequantization ------------------------------------------------------ */

static inline float load_fp16(const uint8_t *p)
{
    uint16_t h;
    memcpy(&h, p, 2);
    return fp16_to_f32(h);
}

static void dequant_q4_0(const uint8_t *b, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, b += 18, y += QK) {
        float d = load_fp16(b);
        const uint8_t *qs = b + 2;
        for (int j = 0; j < QK / 2; j++) {
            int lo = (qs[j] & 0xf) - 8, hi = (qs[j] >> 4) - 8;
            y[j] = (float)lo * d;
            y[j + QK / 2] = (float)hi * d;
        }
    }
}

static inline uint32_t load_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* elem = q * d + m, as llama.cpp's dequantize_row_q4_1 (no fused multiply-add) */
static void dequant_q4_1(const uint8_t *b, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, b += 20, y += QK) {
        float d = load_fp16(b), m = load_fp16(b + 2);
        const uint8_t *qs = b + 4;
        for (int j = 0; j < QK / 2; j++) {
            y[j] = (float)(qs[j] & 0xf) * d + m;
            y[j + QK / 2] = (float)(qs[j] >> 4) * d + m;
        }
    }
}

static void dequant_q5_0(const uint8_t *b, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, b += 22, y += QK) {
        float d = load_fp16(b);
        uint32_t qh = load_u32(b + 2);
        const uint8_t *qs = b + 6;
        for (int j = 0; j < QK / 2; j++) {
            int lo = (int)((qs[j] & 0xf) | ((qh >> j) & 1) << 4) - 16;
            int hi = (int)((qs[j] >> 4) | ((qh >> (j + 16)) & 1) << 4) - 16;
            y[j] = (float)lo * d;
            y[j + QK / 2] = (float)hi * d;
        }
    }
}

static void dequant_q5_1(const uint8_t *b, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, b += 24, y += QK) {
        float d = load_fp16(b), m = load_fp16(b + 2);
        uint32_t qh = load_u32(b + 4);
        const uint8_t *qs = b + 8;
        for (int j = 0; j < QK / 2; j++) {
            int lo = (int)((qs[j] & 0xf) | ((qh >> j) & 1) << 4);
            int hi = (int)((qs[j] >> 4) | ((qh >> (j + 16)) & 1) << 4);
            y[j] = (float)lo * d + m;
            y[j + QK / 2] = (float)hi * d + m;
        }
    }
}

static void dequant_q8_0(const uint8_t *b, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, b += 34, y += QK) {
        float d = load_fp16(b);
        const int8_t *qs = (const int8_t *)(b + 2);
        for (int j = 0; j < QK; j++)
            y[j] = (float)qs[j] * d;
    }
}

static void dequant_q4_k(const uint8_t *b, float *y, int64_t nb) { kq_dequant_q4_k(b, y, nb); }
static void dequant_q6_k(const uint8_t *b, float *y, int64_t nb) { kq_dequant_q6_k(b, y, nb); }
static void dequant_q5_k(const uint8_t *b, float *y, int64_t nb) { kq_dequant_q5_k(b, y, nb); }
static void dequant_q3_k(const uint8_t *b, float *y, int64_t nb) { kq_dequant_q3_k(b, y, nb); }

void quant_dequant_row(int type, const void *src, float *dst, int64_t n)
{
    const uint8_t *b = src;
    switch (type) {
    case TYPE_F32:
        memcpy(dst, src, (size_t)n * sizeof(float));
        break;
    case TYPE_F16:
        for (int64_t i = 0; i < n; i++)
            dst[i] = load_fp16(b + 2 * i);
        break;
    case TYPE_BF16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, b + 2 * i, 2);
            dst[i] = bf16_to_f32(h);
        }
        break;
    case TYPE_Q4_0: dequant_q4_0(b, dst, n / QK); break;
    case TYPE_Q4_1: dequant_q4_1(b, dst, n / QK); break;
    case TYPE_Q5_0: dequant_q5_0(b, dst, n / QK); break;
    case TYPE_Q5_1: dequant_q5_1(b, dst, n / QK); break;
    case TYPE_Q8_0: dequant_q8_0(b, dst, n / QK); break;
    case TYPE_Q3_K: dequant_q3_k(b, dst, n / QK_K); break;
    case TYPE_Q4_K: dequant_q4_k(b, dst, n / QK_K); break;
    case TYPE_Q5_K: dequant_q5_k(b, dst, n / QK_K); break;
    case TYPE_Q6_K: dequant_q6_k(b, dst, n / QK_K); break;
    default: break;
    }
}

/* ---- reference quantizers ------------------------------------------------ */

static void store_fp16(uint8_t *p, float f)
{
    uint16_t h = f32_to_fp16(f);
    memcpy(p, &h, 2);
}

/* scale = absmax / 127; q = round-half-away(x / scale).  The stored scale
 * is fp16, but quantization uses the float32 scale, as llama.cpp does. */
static void quantize_q8_0(const float *x, uint8_t *b, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, x += QK, b += 34) {
        float amax = 0.0f;
        for (int j = 0; j < QK; j++)
            amax = fmaxf(amax, fabsf(x[j]));
        float d = amax / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        store_fp16(b, d);
        for (int j = 0; j < QK; j++)
            b[2 + j] = (uint8_t)(int8_t)roundf(x[j] * id);
    }
}

/* scale = (value of largest magnitude) / -8, so that value maps to -8;
 * q = min(15, trunc(x / scale + 8.5)). */
static void quantize_q4_0(const float *x, uint8_t *b, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, x += QK, b += 18) {
        float amax = 0.0f, vmax = 0.0f;
        for (int j = 0; j < QK; j++) {
            if (amax < fabsf(x[j])) {
                amax = fabsf(x[j]);
                vmax = x[j];
            }
        }
        float d = vmax / -8.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        store_fp16(b, d);
        for (int j = 0; j < QK / 2; j++) {
            int q0 = (int8_t)(x[j] * id + 8.5f);
            int q1 = (int8_t)(x[j + QK / 2] * id + 8.5f);
            if (q0 > 15) q0 = 15;
            if (q1 > 15) q1 = 15;
            b[2 + j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

/* Q4_K, straightforwardly: each 32-element sub-block gets the affine map
 * [min, max] -> [0, 15] (min capped at 0, as llama.cpp does), its scale
 * and negated min are quantized to 6 bits against the block's largest,
 * and each value is rounded to its nearest level.  Not llama.cpp's
 * iterative search (make_qkx2_quants): a valid, slightly less accurate
 * Q4_K, for benchmark models. */
static void quantize_q4_k(const float *x, uint8_t *b, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, x += QK_K_BLOCK, b += 144) {
        float sc[8], mn[8], smax = 0, mmax = 0;
        for (int j = 0; j < 8; j++) {
            float lo = 0, hi = 0;
            for (int l = 0; l < 32; l++) {
                float v = x[32 * j + l];
                if (v < lo) lo = v;
                if (v > hi) hi = v;
            }
            sc[j] = (hi - lo) / 15.0f;
            mn[j] = -lo;
            if (sc[j] > smax) smax = sc[j];
            if (mn[j] > mmax) mmax = mn[j];
        }
        float d = smax / 63.0f, dmin = mmax / 63.0f;
        store_fp16(b, d);
        store_fp16(b + 2, dmin);
        d = load_fp16(b);          /* what the reader will use */
        dmin = load_fp16(b + 2);
        uint8_t qs[8], qm[8];
        for (int j = 0; j < 8; j++) {
            int a = d > 0 ? (int)lrintf(sc[j] / d) : 0, c = dmin > 0 ? (int)lrintf(mn[j] / dmin) : 0;
            qs[j] = (uint8_t)(a < 0 ? 0 : a > 63 ? 63 : a);
            qm[j] = (uint8_t)(c < 0 ? 0 : c > 63 ? 63 : c);
        }
        uint8_t *s = b + 4;
        for (int j = 0; j < 4; j++) {
            s[j] = (uint8_t)(qs[j] | ((qs[j + 4] >> 4) << 6));
            s[j + 4] = (uint8_t)(qm[j] | ((qm[j + 4] >> 4) << 6));
            s[j + 8] = (uint8_t)((qs[j + 4] & 0xf) | ((qm[j + 4] & 0xf) << 4));
        }
        uint8_t *q = b + 16;
        for (int g = 0; g < 4; g++, q += 32)
            for (int l = 0; l < 32; l++) {
                int lv[2];
                for (int h = 0; h < 2; h++) {
                    int j = 2 * g + h;
                    float step = d * (float)qs[j], off = dmin * (float)qm[j];
                    int v = step > 0 ? (int)lrintf((x[64 * g + 32 * h + l] + off) / step) : 0;
                    lv[h] = v < 0 ? 0 : v > 15 ? 15 : v;
                }
                q[l] = (uint8_t)(lv[0] | (lv[1] << 4));
            }
    }
}

/* llama.cpp's quantize_row_q4_1_ref: d = (max - min) / 15, m = min,
 * q = min(15, trunc((x - min) / d + 0.5)). */
static void quantize_q4_1(const float *x, uint8_t *b, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, x += QK, b += 20) {
        float lo = INFINITY, hi = -INFINITY;
        for (int j = 0; j < QK; j++) {
            if (x[j] < lo) lo = x[j];
            if (x[j] > hi) hi = x[j];
        }
        float d = (hi - lo) / 15.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        store_fp16(b, d);
        store_fp16(b + 2, lo);
        for (int j = 0; j < QK / 2; j++) {
            int q0 = (int8_t)((x[j] - lo) * id + 0.5f);
            int q1 = (int8_t)((x[j + QK / 2] - lo) * id + 0.5f);
            if (q0 > 15) q0 = 15;
            if (q1 > 15) q1 = 15;
            b[4 + j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

static void store_u32(uint8_t *p, uint32_t v)
{
    for (int k = 0; k < 4; k++) p[k] = (uint8_t)(v >> (8 * k));
}

/* llama.cpp's quantize_row_q5_0_ref: the value of largest magnitude maps
 * to -16, d = it / -16, q = min(31, trunc(x / d + 16.5)). */
static void quantize_q5_0(const float *x, uint8_t *b, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, x += QK, b += 22) {
        float amax = 0.0f, vmax = 0.0f;
        for (int j = 0; j < QK; j++)
            if (amax < fabsf(x[j])) {
                amax = fabsf(x[j]);
                vmax = x[j];
            }
        float d = vmax / -16.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        store_fp16(b, d);
        uint32_t qh = 0;
        for (int j = 0; j < QK / 2; j++) {
            int q0 = (int8_t)(x[j] * id + 16.5f), q1 = (int8_t)(x[j + QK / 2] * id + 16.5f);
            if (q0 > 31) q0 = 31;
            if (q1 > 31) q1 = 31;
            b[6 + j] = (uint8_t)((q0 & 0xf) | ((q1 & 0xf) << 4));
            qh |= (uint32_t)((q0 >> 4) & 1) << j;
            qh |= (uint32_t)((q1 >> 4) & 1) << (j + QK / 2);
        }
        store_u32(b + 2, qh);
    }
}

/* llama.cpp's quantize_row_q5_1_ref: d = (max - min) / 31, m = min,
 * q = trunc((x - min) / d + 0.5) (at most 31). */
static void quantize_q5_1(const float *x, uint8_t *b, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, x += QK, b += 24) {
        float lo = INFINITY, hi = -INFINITY;
        for (int j = 0; j < QK; j++) {
            if (x[j] < lo) lo = x[j];
            if (x[j] > hi) hi = x[j];
        }
        float d = (hi - lo) / 31.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        store_fp16(b, d);
        store_fp16(b + 2, lo);
        uint32_t qh = 0;
        for (int j = 0; j < QK / 2; j++) {
            int q0 = (uint8_t)((x[j] - lo) * id + 0.5f), q1 = (uint8_t)((x[j + QK / 2] - lo) * id + 0.5f);
            if (q0 > 31) q0 = 31;
            if (q1 > 31) q1 = 31;
            b[8 + j] = (uint8_t)((q0 & 0xf) | ((q1 & 0xf) << 4));
            qh |= (uint32_t)((q0 >> 4) & 1) << j;
            qh |= (uint32_t)((q1 >> 4) & 1) << (j + QK / 2);
        }
        store_u32(b + 4, qh);
    }
}

/* Q5_K as quantize_q4_k, with 32 levels a sub-block and the fifth bits
 * in qh. */
static void quantize_q5_k(const float *x, uint8_t *b, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, x += QK_K, b += 176) {
        float sc[8], mn[8], smax = 0, mmax = 0;
        for (int j = 0; j < 8; j++) {
            float lo = 0, hi = 0;
            for (int l = 0; l < 32; l++) {
                float v = x[32 * j + l];
                if (v < lo) lo = v;
                if (v > hi) hi = v;
            }
            sc[j] = (hi - lo) / 31.0f;
            mn[j] = -lo;
            if (sc[j] > smax) smax = sc[j];
            if (mn[j] > mmax) mmax = mn[j];
        }
        store_fp16(b, smax / 63.0f);
        store_fp16(b + 2, mmax / 63.0f);
        float d = load_fp16(b), dmin = load_fp16(b + 2);
        uint8_t qs[8], qm[8];
        for (int j = 0; j < 8; j++) {
            int a = d > 0 ? (int)lrintf(sc[j] / d) : 0, c = dmin > 0 ? (int)lrintf(mn[j] / dmin) : 0;
            qs[j] = (uint8_t)(a < 0 ? 0 : a > 63 ? 63 : a);
            qm[j] = (uint8_t)(c < 0 ? 0 : c > 63 ? 63 : c);
        }
        uint8_t *s = b + 4, *qh = b + 16, *q = b + 48;
        for (int j = 0; j < 4; j++) {
            s[j] = (uint8_t)(qs[j] | ((qs[j + 4] >> 4) << 6));
            s[j + 4] = (uint8_t)(qm[j] | ((qm[j + 4] >> 4) << 6));
            s[j + 8] = (uint8_t)((qs[j + 4] & 0xf) | ((qm[j + 4] & 0xf) << 4));
        }
        memset(qh, 0, 32);
        for (int g = 0; g < 4; g++, q += 32)
            for (int l = 0; l < 32; l++) {
                int lv[2];
                for (int h = 0; h < 2; h++) {
                    int j = 2 * g + h;
                    float step = d * (float)qs[j], off = dmin * (float)qm[j];
                    int v = step > 0 ? (int)lrintf((x[64 * g + 32 * h + l] + off) / step) : 0;
                    lv[h] = v < 0 ? 0 : v > 31 ? 31 : v;
                    qh[l] |= (uint8_t)(((lv[h] >> 4) & 1) << j);
                }
                q[l] = (uint8_t)((lv[0] & 0xf) | ((lv[1] & 0xf) << 4));
            }
    }
}

/* Sub-blocks of 16 with signed scales: each sub-block's value of largest
 * magnitude maps to -lim (its scale v / -lim); the scales, quantized to
 * signed integers of at most smax against the block's largest, are
 * written to sc[16]; returns the block scale d.  Values then round to
 * the nearest level, clamped to [-lim, lim - 1]: q[256]. */
static float quantize_k_signed(const float *x, int lim, int smax, int sc[16], int q[QK_K],
                               float (*store_d)(float))
{
    float sub[16], big = 0;
    for (int j = 0; j < 16; j++) {
        float amax = 0, vmax = 0;
        for (int l = 0; l < 16; l++)
            if (fabsf(x[16 * j + l]) > amax) {
                amax = fabsf(x[16 * j + l]);
                vmax = x[16 * j + l];
            }
        sub[j] = vmax / (float)-lim;
        if (fabsf(sub[j]) > big) big = fabsf(sub[j]);
    }
    float d = store_d(big / (float)smax);
    for (int j = 0; j < 16; j++) {
        int a = d > 0 ? (int)lrintf(sub[j] / d) : 0;
        sc[j] = a < -smax - 1 ? -smax - 1 : a > smax ? smax : a;
        float step = d * (float)sc[j];
        for (int l = 0; l < 16; l++) {
            int v = step != 0 ? (int)lrintf(x[16 * j + l] / step) : 0;
            q[16 * j + l] = v < -lim ? -lim : v > lim - 1 ? lim - 1 : v;
        }
    }
    return d;
}

static float fp16_round(float f) { return fp16_to_f32(f32_to_fp16(f)); }

/* Q6_K: 8-bit scales, 6-bit values in [-32, 31] (layout in
 * kq_dequant_q6_k). */
static void quantize_q6_k(const float *x, uint8_t *b, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, x += QK_K, b += 210) {
        int sc[16], q[QK_K];
        float d = quantize_k_signed(x, 32, 127, sc, q, fp16_round);
        store_fp16(b + 208, d);
        for (int j = 0; j < 16; j++) b[192 + j] = (uint8_t)(int8_t)sc[j];
        uint8_t *ql = b, *qh = b + 128;
        memset(b, 0, 192);
        for (int h = 0; h < 2; h++, ql += 64, qh += 32)
            for (int l = 0; l < 32; l++) {
                const int *e = q + 128 * h + l;
                int u0 = e[0] + 32, u1 = e[32] + 32, u2 = e[64] + 32, u3 = e[96] + 32;
                ql[l] = (uint8_t)((u0 & 15) | ((u2 & 15) << 4));
                ql[l + 32] = (uint8_t)((u1 & 15) | ((u3 & 15) << 4));
                qh[l] = (uint8_t)((u0 >> 4) | ((u1 >> 4) << 2) | ((u2 >> 4) << 4) | ((u3 >> 4) << 6));
            }
    }
}

/* Q3_K: 6-bit scales (stored + 32), 3-bit values in [-4, 3] (layout in
 * kq_dequant_q3_k). */
static void quantize_q3_k(const float *x, uint8_t *b, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, x += QK_K, b += 110) {
        int sc[16], q[QK_K];
        float d = quantize_k_signed(x, 4, 31, sc, q, fp16_round);
        store_fp16(b + 108, d);
        uint8_t *hm = b, *qs = b + 32, *s = b + 96;
        memset(b, 0, 108);
        for (int j = 0; j < 16; j++) {
            int u = sc[j] + 32;
            if (j < 8) s[j] |= (uint8_t)(u & 15);
            else s[j - 8] |= (uint8_t)((u & 15) << 4);
            s[8 + (j & 3)] |= (uint8_t)((u >> 4) << (2 * (j >> 2)));
        }
        for (int h = 0; h < 2; h++)
            for (int j = 0; j < 4; j++)
                for (int l = 0; l < 32; l++) {
                    int u = q[128 * h + 32 * j + l] + 4;
                    qs[32 * h + l] |= (uint8_t)((u & 3) << (2 * j));
                    hm[l] |= (uint8_t)((u >> 2) << (4 * h + j));
                }
    }
}

static void quantize_bf16(const float *x, uint8_t *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        uint16_t h = f32_to_bf16(x[i]);
        memcpy(b + 2 * i, &h, 2);
    }
}

int quant_quantize_row(int type, const float *src, void *dst, int64_t n)
{
    uint8_t *b = dst;
    if (quant_row_bytes(type, n) == 0 && n != 0)
        return -EINVAL;
    switch (type) {
    case TYPE_F32:
        memcpy(dst, src, (size_t)n * sizeof(float));
        return 0;
    case TYPE_F16:
        for (int64_t i = 0; i < n; i++)
            store_fp16(b + 2 * i, src[i]);
        return 0;
    case TYPE_BF16: quantize_bf16(src, b, n); return 0;
    case TYPE_Q8_0: quantize_q8_0(src, b, n / QK); return 0;
    case TYPE_Q4_0: quantize_q4_0(src, b, n / QK); return 0;
    case TYPE_Q4_1: quantize_q4_1(src, b, n / QK); return 0;
    case TYPE_Q5_0: quantize_q5_0(src, b, n / QK); return 0;
    case TYPE_Q5_1: quantize_q5_1(src, b, n / QK); return 0;
    case TYPE_Q3_K: quantize_q3_k(src, b, n / QK_K); return 0;
    case TYPE_Q4_K: quantize_q4_k(src, b, n / QK_K_BLOCK); return 0;
    case TYPE_Q5_K: quantize_q5_k(src, b, n / QK_K); return 0;
    case TYPE_Q6_K: quantize_q6_k(src, b, n / QK_K); return 0;
    default: return -EINVAL;
    }
}
