/* GGML weight types: block geometry, exact dequantization of rows to
 * float32 (bit-identical to llama.cpp's dequantize_row_* compiled without
 * FP contraction), software fp16 conversion and llama.cpp's reference
 * quantizers for F32, F16, Q8_0 and Q4_0.  Blocks are read with memcpy,
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
 * Q8_0  (32 elems, 34 B):  d fp16 | qs[32] int8
 * Q4_K (256 elems, 144 B): d fp16 | dmin fp16 | scales[12] | qs[128]
 * Q6_K (256 elems, 210 B): ql[128] | qh[64] | scales[16] int8 | d fp16 */
#define QK 32
#define QK_K 256

int quant_block_elems(int type)
{
    switch (type) {
    case TYPE_F32: case TYPE_F16: return 1;
    case TYPE_Q4_0: case TYPE_Q8_0: return QK;
    case TYPE_Q4_K: case TYPE_Q6_K: return QK_K;
    default: return 0;
    }
}

size_t quant_block_bytes(int type)
{
    switch (type) {
    case TYPE_F32:  return 4;
    case TYPE_F16:  return 2;
    case TYPE_Q4_0: return 2 + QK / 2;
    case TYPE_Q8_0: return 2 + QK;
    case TYPE_Q4_K: return 2 + 2 + 12 + QK_K / 2;
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

static const struct { int type; const char *name; } type_names[] = {
    { TYPE_F32, "F32" }, { TYPE_F16, "F16" }, { TYPE_Q4_0, "Q4_0" },
    { TYPE_Q8_0, "Q8_0" }, { TYPE_Q4_K, "Q4_K" }, { TYPE_Q6_K, "Q6_K" },
};

const char *quant_name(int type)
{
    for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++)
        if (type_names[i].type == type)
            return type_names[i].name;
    return "?";
}

int quant_from_name(const char *name)
{
    if (!name)
        return -1;
    for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++)
        if (strcasecmp(type_names[i].name, name) == 0)
            return type_names[i].type;
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
    case TYPE_Q4_0: dequant_q4_0(b, dst, n / QK); break;
    case TYPE_Q8_0: dequant_q8_0(b, dst, n / QK); break;
    case TYPE_Q4_K: dequant_q4_k(b, dst, n / QK_K); break;
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
    case TYPE_Q8_0: quantize_q8_0(src, b, n / QK); return 0;
    case TYPE_Q4_0: quantize_q4_0(src, b, n / QK); return 0;
    case TYPE_Q4_K: quantize_q4_k(src, b, n / QK_K_BLOCK); return 0;
    default: return -EINVAL;
    }
}
