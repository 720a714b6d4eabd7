/* Tests for engine/quant.c: fp16 conversion (all 65536 halves, rounding
 * edge cases, and agreement with F16C where the CPU has it), quantize ->
 * dequantize error bounds for every type, BF16 conversion, and Q4_K,
 * Q6_K, Q5_0 and Q5_1 blocks packed by hand from chosen scales and codes
 * by the format definitions. */
/* harness.h's TEST() trips -Wmisleading-indentation on gcc 12 */
#pragma GCC diagnostic ignored "-Wmisleading-indentation"
#include "tests/harness.h"
#include "engine/quant.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <cpuid.h>
#include <immintrin.h>

static uint32_t rng = 12345;
static uint32_t rnd(void) { rng = rng * 1664525u + 1013904223u; return rng >> 8; }
static float frand(void) { return (float)rnd() / (float)(1u << 24) * 2.0f - 1.0f; }

static uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

static void test_geometry(void)
{
    CHECK(quant_block_elems(TYPE_F32) == 1 && quant_block_bytes(TYPE_F32) == 4);
    CHECK(quant_block_elems(TYPE_F16) == 1 && quant_block_bytes(TYPE_F16) == 2);
    CHECK(quant_block_elems(TYPE_Q4_0) == 32 && quant_block_bytes(TYPE_Q4_0) == 18);
    CHECK(quant_block_elems(TYPE_Q8_0) == 32 && quant_block_bytes(TYPE_Q8_0) == 34);
    CHECK(quant_block_elems(TYPE_Q4_K) == 256 && quant_block_bytes(TYPE_Q4_K) == 144);
    CHECK(quant_block_elems(TYPE_Q6_K) == 256 && quant_block_bytes(TYPE_Q6_K) == 210);
    CHECK(quant_block_elems(TYPE_Q4_1) == 32 && quant_block_bytes(TYPE_Q4_1) == 20);
    CHECK(quant_block_elems(TYPE_Q5_0) == 32 && quant_block_bytes(TYPE_Q5_0) == 22);
    CHECK(quant_block_elems(TYPE_Q5_1) == 32 && quant_block_bytes(TYPE_Q5_1) == 24);
    CHECK(quant_block_elems(TYPE_Q3_K) == 256 && quant_block_bytes(TYPE_Q3_K) == 110);
    CHECK(quant_block_elems(TYPE_Q5_K) == 256 && quant_block_bytes(TYPE_Q5_K) == 176);
    CHECK(quant_block_elems(TYPE_BF16) == 1 && quant_block_bytes(TYPE_BF16) == 2);
    /* types GGML defines and llmfs does not read: named, sized 0 */
    CHECK(quant_block_elems(16) == 0 && quant_block_bytes(16) == 0);
    CHECK(strcmp(quant_name(16), "IQ2_XXS") == 0 && strcmp(quant_name(10), "Q2_K") == 0);
    CHECK(quant_block_elems(4) == 0 && strcmp(quant_name(4), "?") == 0);   /* removed Q4_2 */
    CHECK(quant_block_elems(-1) == 0 && strcmp(quant_name(-1), "?") == 0);
    CHECK(quant_row_bytes(TYPE_Q8_0, 768) == 24 * 34);
    CHECK(quant_row_bytes(TYPE_Q8_0, 100) == 0);
    CHECK(quant_row_bytes(TYPE_F32, 172) == 688);
    CHECK(quant_row_bytes(TYPE_Q6_K, 512) == 420);
    CHECK(strcmp(quant_name(TYPE_Q4_K), "Q4_K") == 0);
    CHECK(strcmp(quant_name(99), "?") == 0);
    CHECK(quant_from_name("q8_0") == TYPE_Q8_0);
    CHECK(quant_from_name("F16") == TYPE_F16);
    CHECK(quant_from_name("q5_1") == TYPE_Q5_1);
    CHECK(quant_from_name("bf16") == TYPE_BF16);
    CHECK(quant_from_name("iq2_xxs") == -1);
    CHECK(strstr(quant_supported_list(), "Q5_K") != NULL);
}

static void test_fp16_roundtrip(void)
{
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = fp16_to_f32((uint16_t)h);
        int isnan_h = (h & 0x7c00) == 0x7c00 && (h & 0x3ff);
        if (isnan_h) {
            if (!isnan(f) || (f32_to_fp16(f) & 0x7e00) != 0x7e00) bad++;
            continue;
        }
        if (f32_to_fp16(f) != h) bad++;
    }
    CHECKF(bad == 0, "%d halves do not round-trip", bad);
}

static void test_fp16_values(void)
{
    CHECK(fp16_to_f32(0x3c00) == 1.0f);
    CHECK(fp16_to_f32(0xc000) == -2.0f);
    CHECK(fp16_to_f32(0x7bff) == 65504.0f);
    CHECK(fp16_to_f32(0x0001) == 0x1p-24f);
    CHECK(fp16_to_f32(0x03ff) == 1023 * 0x1p-24f);
    CHECK(fp16_to_f32(0x0400) == 0x1p-14f);
    CHECK(isinf(fp16_to_f32(0x7c00)) && fp16_to_f32(0xfc00) < 0);
    CHECK(isnan(fp16_to_f32(0x7e00)) && isnan(fp16_to_f32(0x7c01)));
    CHECK(f2u(fp16_to_f32(0x8000)) == 0x80000000u);

    CHECK(f32_to_fp16(0.0f) == 0x0000);
    CHECK(f32_to_fp16(-0.0f) == 0x8000);
    CHECK(f32_to_fp16(1.0f) == 0x3c00);
    CHECK(f32_to_fp16(65504.0f) == 0x7bff);
    CHECK(f32_to_fp16(65519.996f) == 0x7bff);
    CHECK(f32_to_fp16(65520.0f) == 0x7c00);          /* tie -> even = inf */
    CHECK(f32_to_fp16(1e10f) == 0x7c00);
    CHECK(f32_to_fp16(-1e10f) == 0xfc00);
    CHECK(f32_to_fp16(INFINITY) == 0x7c00);
    CHECK(f32_to_fp16(-INFINITY) == 0xfc00);
    CHECK((f32_to_fp16(NAN) & 0x7e00) == 0x7e00);
    CHECK(f32_to_fp16(u2f(0x7f800001u)) == 0x7e00); /* sNaN made quiet */
    /* ties to even in the normal range: 1 + 2^-11 is halfway */
    CHECK(f32_to_fp16(1.0f + 0x1p-11f) == 0x3c00);
    CHECK(f32_to_fp16(1.0f + 3 * 0x1p-11f) == 0x3c02);
    CHECK(f32_to_fp16(1.0f + 0x1p-11f + 0x1p-20f) == 0x3c01);
    /* subnormals */
    CHECK(f32_to_fp16(0x1p-24f) == 0x0001);
    CHECK(f32_to_fp16(0x1p-25f) == 0x0000);          /* tie -> even 0 */
    CHECK(f32_to_fp16(3 * 0x1p-25f) == 0x0002);      /* tie -> even 2 */
    CHECK(f32_to_fp16(0x1p-25f + 0x1p-40f) == 0x0001);
    CHECK(f32_to_fp16(-0x1p-24f) == 0x8001);
    CHECK(f32_to_fp16(1e-30f) == 0x0000);
    CHECK(f32_to_fp16(0x1p-14f - 0x1p-26f) == 0x0400); /* rounds up to normal */
    CHECK(f32_to_fp16(0x1p-14f) == 0x0400);
}

__attribute__((target("f16c"))) static uint16_t hw_to_fp16(float f)
{
    return (uint16_t)_mm_extract_epi16(_mm_cvtps_ph(_mm_set_ss(f), 0), 0);
}
__attribute__((target("f16c"))) static float hw_to_f32(uint16_t h)
{
    return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h)));
}

static void test_fp16_vs_f16c(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_F16C))
        return;
    int bad = 0;
    for (int i = 0; i < 2000000; i++) {
        /* random bit patterns, biased towards the fp16 range */
        uint32_t u = (rnd() << 8) ^ rnd();
        if (i & 1)
            u = (u & 0x80ffffffu) | ((uint32_t)(96 + rnd() % 56) << 23);
        float f = u2f(u);
        if (f32_to_fp16(f) != hw_to_fp16(f)) {
            if (bad++ < 5)
                printf("#   %08x: sw %04x hw %04x\n", u, f32_to_fp16(f), hw_to_fp16(f));
        }
    }
    for (uint32_t h = 0; h < 65536; h++)
        if (f2u(fp16_to_f32((uint16_t)h)) != f2u(hw_to_f32((uint16_t)h)))
            bad++;
    CHECKF(bad == 0, "%d mismatches with F16C", bad);
}

static void test_q8_0(void)
{
    enum { N = 32 * 64 };
    static float x[N], y[N];
    static uint8_t q[N / 32 * 34];
    for (int i = 0; i < N; i++)
        x[i] = frand() * (float)(1 + i / 32);   /* a different scale per block */
    x[5] = 0.0f;
    for (int i = 64; i < 96; i++) x[i] = 0.0f; /* an all-zero block */
    CHECK(quant_quantize_row(TYPE_Q8_0, x, q, N) == 0);
    quant_dequant_row(TYPE_Q8_0, q, y, N);
    int bad = 0;
    for (int b = 0; b < N / 32; b++) {
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[b * 32 + j]));
        float d = amax / 127.0f;
        for (int j = 0; j < 32; j++) {
            float e = fabsf(x[b * 32 + j] - y[b * 32 + j]);
            if (e > 0.56f * d + 1e-30f) bad++;
        }
        /* the largest magnitude maps to +-127 */
        int hit = 0;
        for (int j = 0; j < 32; j++)
            hit |= amax > 0 && abs((int8_t)q[b * 34 + 2 + j]) == 127;
        if (amax > 0 && !hit) bad++;
    }
    CHECKF(bad == 0, "%d elements outside the Q8_0 bound", bad);
    for (int i = 64; i < 96; i++) CHECK(y[i] == 0.0f);
    CHECK(y[5] == 0.0f);
    /* a hand case: 0.5 * 127/amax rounds half away from zero */
    float v[32] = { 0 };
    v[0] = 127.0f; v[1] = 2.5f; v[2] = -2.5f; v[3] = 0.49f;
    quant_quantize_row(TYPE_Q8_0, v, q, 32);
    CHECK((int8_t)q[2] == 127 && (int8_t)q[3] == 3 && (int8_t)q[4] == -3 && q[5] == 0);
    CHECK(q[0] == 0x00 && q[1] == 0x3c);   /* d = 1.0 in fp16 */
}

static void test_q4_0(void)
{
    enum { N = 32 * 64 };
    static float x[N], y[N];
    static uint8_t q[N / 32 * 18];
    for (int i = 0; i < N; i++)
        x[i] = frand() * (float)(1 + i / 32);
    for (int i = 64; i < 96; i++) x[i] = 0.0f;
    CHECK(quant_quantize_row(TYPE_Q4_0, x, q, N) == 0);
    quant_dequant_row(TYPE_Q4_0, q, y, N);
    int bad = 0;
    for (int b = 0; b < N / 32; b++) {
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[b * 32 + j]));
        float d = amax / 8.0f;
        for (int j = 0; j < 32; j++)
            if (fabsf(x[b * 32 + j] - y[b * 32 + j]) > 1.01f * d + 1e-30f) bad++;
    }
    CHECKF(bad == 0, "%d elements outside the Q4_0 bound", bad);
    for (int i = 64; i < 96; i++) CHECK(y[i] == 0.0f);
    /* hand case: max -8 -> d = 1; codes are x + 8.5 truncated, max 15 */
    float v[32];
    for (int j = 0; j < 32; j++) v[j] = (float)(j % 16) - 8.0f;
    v[16] = 7.9f;
    quant_quantize_row(TYPE_Q4_0, v, q, 32);
    CHECK(q[0] == 0x00 && q[1] == 0x3c);
    CHECK((q[2] & 0xf) == 0 && (q[2] >> 4) == 15);     /* -8 and 7.9 */
    CHECK((q[2 + 15] & 0xf) == 15);                     /* 7 */
    quant_dequant_row(TYPE_Q4_0, q, y, 32);
    for (int j = 0; j < 32; j++)
        CHECK(y[j] == (j == 16 ? 7.0f : v[j]));
    CHECK(quant_quantize_row(TYPE_Q4_K, v, q, 32) == -EINVAL);
}

static void test_f16_rows(void)
{
    float x[100], y[100];
    uint16_t h[100];
    for (int i = 0; i < 100; i++) x[i] = frand() * 100.0f;
    CHECK(quant_quantize_row(TYPE_F16, x, h, 100) == 0);
    quant_dequant_row(TYPE_F16, h, y, 100);
    for (int i = 0; i < 100; i++)
        CHECK(fabsf(x[i] - y[i]) <= fabsf(x[i]) * 0x1p-11f);
    CHECK(quant_quantize_row(TYPE_F32, x, y, 100) == 0);
    CHECK(memcmp(x, y, sizeof x) == 0);
}

/* Q4_K: pack chosen 6-bit scales/mins and 4-bit codes into a block by the
 * documented layout, then check each value is (d*sc)*q - (dmin*m). */
static void test_q4_k(void)
{
    uint8_t blk[2 * 144];
    float y[512];
    for (int b = 0; b < 2; b++) {
        uint8_t *p = blk + b * 144;
        int sc[8], mn[8], q[256];
        uint16_t d = f32_to_fp16(0.01f * (float)(b + 1)), dm = f32_to_fp16(0.003f);
        memcpy(p, &d, 2);
        memcpy(p + 2, &dm, 2);
        for (int i = 0; i < 8; i++) { sc[i] = (int)(rnd() % 64); mn[i] = (int)(rnd() % 64); }
        sc[7] = 63; mn[4] = 63;
        uint8_t *s = p + 4;
        for (int i = 0; i < 4; i++) {
            s[i] = (uint8_t)((sc[i] & 63) | ((sc[i + 4] >> 4) << 6));
            s[i + 4] = (uint8_t)((mn[i] & 63) | ((mn[i + 4] >> 4) << 6));
            s[i + 8] = (uint8_t)((sc[i + 4] & 15) | ((mn[i + 4] & 15) << 4));
        }
        for (int e = 0; e < 256; e++) q[e] = (int)(rnd() % 16);
        memset(p + 16, 0, 128);
        for (int e = 0; e < 256; e++) {
            int g = e / 64, w = e % 64;
            p[16 + g * 32 + w % 32] |= (uint8_t)(q[e] << (w < 32 ? 0 : 4));
        }
        int bad = 0;
        quant_dequant_row(TYPE_Q4_K, p, y, 256);
        for (int e = 0; e < 256; e++) {
            int sb = e / 32;
            float want = fp16_to_f32(d) * (float)sc[sb] * (float)q[e] -
                         fp16_to_f32(dm) * (float)mn[sb];
            if (f2u(want) != f2u(y[e]) && bad++ < 3)
                printf("#   block %d elem %d: got %g want %g\n", b, e, y[e], want);
        }
        CHECKF(bad == 0, "%d Q4_K mismatches", bad);
    }
    /* two blocks as one row */
    quant_dequant_row(TYPE_Q4_K, blk, y, 512);
    float y1[256];
    quant_dequant_row(TYPE_Q4_K, blk + 144, y1, 256);
    CHECK(memcmp(y + 256, y1, sizeof y1) == 0);
}

/* Q6_K: codes q in 0..63 split into 4 low bits (ql) and 2 high bits (qh);
 * value = (d * scale) * (q - 32), 16 int8 scales of 16 elements. */
static void test_q6_k(void)
{
    uint8_t p[210];
    float y[256];
    int q[256];
    int8_t sc[16];
    for (int i = 0; i < 16; i++) sc[i] = (int8_t)(rnd() % 256 - 128);
    sc[3] = -128; sc[4] = 127;
    for (int e = 0; e < 256; e++) q[e] = (int)(rnd() % 64);
    q[0] = 0; q[1] = 63;
    memset(p, 0, sizeof p);
    for (int e = 0; e < 256; e++) {
        int h = e / 128, w = e % 128, quarter = w / 32, l = w % 32;
        int qli = h * 64 + l + (quarter & 1) * 32;
        p[qli] |= (uint8_t)((q[e] & 15) << (quarter < 2 ? 0 : 4));
        p[128 + h * 32 + l] |= (uint8_t)((q[e] >> 4) << (2 * quarter));
    }
    memcpy(p + 192, sc, 16);
    uint16_t d = f32_to_fp16(-0.0123f);
    memcpy(p + 208, &d, 2);
    quant_dequant_row(TYPE_Q6_K, p, y, 256);
    int bad = 0;
    for (int e = 0; e < 256; e++) {
        int h = e / 128, w = e % 128;
        int si = h * 8 + (w % 32) / 16 + 2 * (w / 32);
        float want = fp16_to_f32(d) * (float)sc[si] * (float)(q[e] - 32);
        if (f2u(want) != f2u(y[e]) && bad++ < 3)
            printf("#   elem %d: got %g want %g\n", e, y[e], want);
    }
    CHECKF(bad == 0, "%d Q6_K mismatches", bad);
}

/* The Q4_K quantizer: every value within half a quantization step of its
 * sub-block (plus the rounding of the 6-bit scales), and RMS error well
 * under the values' spread, on blocks of very different magnitudes. */
static void test_q4_k_quantize(void)
{
    enum { N = 256 * 8 };
    static float x[N], y[N];
    static unsigned char q[144 * 8];
    for (int i = 0; i < N; i++) x[i] = frand() * 0.02f * (float)(1 + (i / 256) * 3);
    CHECK(quant_quantize_row(TYPE_Q4_K, x, q, N) == 0);
    quant_dequant_row(TYPE_Q4_K, q, y, N);
    for (int blk = 0; blk < N / 256; blk++) {
        double se = 0, sx = 0, worst = 0, range = 0;
        for (int i = blk * 256; i < (blk + 1) * 256; i++) {
            double e = fabs((double)x[i] - y[i]);
            se += e * e;
            sx += (double)x[i] * x[i];
            if (e > worst) worst = e;
        }
        for (int j = 0; j < 8; j++) {
            float lo = 0, hi = 0;
            for (int l = 0; l < 32; l++) {
                float v = x[blk * 256 + 32 * j + l];
                if (v < lo) lo = v;
                if (v > hi) hi = v;
            }
            if (hi - lo > range) range = hi - lo;
        }
        /* half a step of 1/15 of the widest sub-block, and as much again
         * for the 6-bit scale and min */
        CHECKF(worst <= range / 15.0, "block %d: max error %g, range %g", blk, worst, range);
        CHECKF(sqrt(se / sx) < 0.12, "block %d: relative RMS error %g", blk, sqrt(se / sx));
        if (blk == 0)
            printf("#   q4_k block 0: max error %.3g of range %.3g, relative RMS %.3g\n", worst,
                   range, sqrt(se / sx));
    }
}

/* bf16: every one of the 65536 values converts to float and back to
 * itself (NaNs stay NaN, made quiet); float32 rounds to nearest even. */
static void test_bf16(void)
{
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = bf16_to_f32((uint16_t)h);
        if (f2u(f) != h << 16) bad++;
        uint16_t back = f32_to_bf16(f);
        if (isnan(f) ? !isnan(bf16_to_f32(back)) : back != h) bad++;
    }
    CHECKF(bad == 0, "%d bf16 mismatches", bad);
    CHECK(f32_to_bf16(u2f(0x3f808000u)) == 0x3f80);   /* tie: to even (down) */
    CHECK(f32_to_bf16(u2f(0x3f818000u)) == 0x3f82);   /* tie: to even (up) */
    CHECK(f32_to_bf16(u2f(0x3f808001u)) == 0x3f81);
    CHECK(f32_to_bf16(u2f(0x7f7fffffu)) == 0x7f80);   /* FLT_MAX rounds to inf */
    CHECK(f32_to_bf16(u2f(0x7f800001u)) == 0x7fc0);   /* signalling NaN: quiet */
}

/* Q5_0 and Q5_1 blocks packed by hand: element j (j < 16) is the low
 * nibble of qs[j] plus 16 times bit j of qh (little-endian), element
 * j + 16 the high nibble plus bit j + 16; Q5_0 value (q - 16) * d, Q5_1
 * q * d + m. */
static void test_q5_blocks(void)
{
    uint8_t b0[22], b1[24];
    float y[32];
    uint16_t d = f32_to_fp16(0.5f), m = f32_to_fp16(-3.0f);
    uint32_t qh = 0;
    int q[32];
    for (int j = 0; j < 32; j++) q[j] = (j * 7 + 3) % 32;
    for (int j = 0; j < 32; j++) qh |= (uint32_t)(q[j] >> 4) << j;
    uint8_t qs[16];
    for (int j = 0; j < 16; j++) qs[j] = (uint8_t)((q[j] & 15) | (q[j + 16] & 15) << 4);
    uint8_t qhb[4] = { (uint8_t)qh, (uint8_t)(qh >> 8), (uint8_t)(qh >> 16), (uint8_t)(qh >> 24) };
    memcpy(b0, &d, 2); memcpy(b0 + 2, qhb, 4); memcpy(b0 + 6, qs, 16);
    memcpy(b1, &d, 2); memcpy(b1 + 2, &m, 2); memcpy(b1 + 4, qhb, 4); memcpy(b1 + 8, qs, 16);
    int bad = 0;
    quant_dequant_row(TYPE_Q5_0, b0, y, 32);
    for (int j = 0; j < 32; j++) bad += y[j] != (float)(q[j] - 16) * 0.5f;
    quant_dequant_row(TYPE_Q5_1, b1, y, 32);
    for (int j = 0; j < 32; j++) bad += y[j] != (float)q[j] * 0.5f - 3.0f;
    CHECKF(bad == 0, "%d mismatches", bad);
}

/* Every quantizer against its dequantizer, on blocks of very different
 * magnitudes (values uniform in +-a): rounding to levels a step s apart
 * leaves an RMS error of s / sqrt(12) against the values' a / sqrt(3),
 * a relative 1 / n for n steps across the range 2a (Q4_0: 16, Q5_0: 32,
 * Q8_0: 254, Q3_K: 8, Q6_K: 64, the symmetric ones; Q4_1, Q4_K: 15,
 * Q5_1, Q5_K: 31, the affine ones).  Allowed: 1.25 / n, for the scales'
 * own rounding and the clamped ends; BF16, 8 significant bits: 2^-8. */
static void test_all_quantize(void)
{
    static const struct { int type; double n; } t[] = {
        { TYPE_BF16, 320 }, { TYPE_Q8_0, 254 }, { TYPE_Q4_0, 16 }, { TYPE_Q4_1, 15 },
        { TYPE_Q5_0, 32 }, { TYPE_Q5_1, 31 }, { TYPE_Q3_K, 8 }, { TYPE_Q4_K, 15 },
        { TYPE_Q5_K, 31 }, { TYPE_Q6_K, 64 },
    };
    enum { N = 256 * 8 };
    static float x[N], y[N];
    static unsigned char q[N * 4];
    for (size_t k = 0; k < sizeof t / sizeof *t; k++) {
        for (int i = 0; i < N; i++) x[i] = frand() * 0.02f * (float)(1 + (i / 256) * 3);
        CHECK(quant_quantize_row(t[k].type, x, q, N) == 0);
        quant_dequant_row(t[k].type, q, y, N);
        double worst = 0;
        for (int blk = 0; blk < N / 256; blk++) {
            double se = 0, sx = 0;
            for (int i = blk * 256; i < (blk + 1) * 256; i++) {
                se += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
                sx += (double)x[i] * x[i];
            }
            if (sqrt(se / sx) > worst) worst = sqrt(se / sx);
        }
        CHECKF(worst < 1.25 / t[k].n, "%s: relative RMS error %g >= %g", quant_name(t[k].type),
               worst, 1.25 / t[k].n);
        printf("#   %s: worst block's relative RMS error %.3g\n", quant_name(t[k].type), worst);
    }
}

int main(void)
{
    TEST("bf16 conversion", test_bf16);
    TEST("q5_0/q5_1 hand-packed blocks", test_q5_blocks);
    TEST("every type quantize/dequantize", test_all_quantize);
    TEST("q4_k quantize/dequantize", test_q4_k_quantize);
    TEST("block geometry and names", test_geometry);
    TEST("fp16 round trip of all halves", test_fp16_roundtrip);
    TEST("fp16 edge cases", test_fp16_values);
    TEST("fp16 agrees with F16C", test_fp16_vs_f16c);
    TEST("q8_0 quantize/dequantize", test_q8_0);
    TEST("q4_0 quantize/dequantize", test_q4_0);
    TEST("f16/f32 rows", test_f16_rows);
    TEST("q4_k hand-packed blocks", test_q4_k);
    TEST("q6_k hand-packed block", test_q6_k);
    TEST_EXIT();
}
