/* Dequantization of the K-quant blocks (Q4_K, Q6_K), written so that
 * compilers vectorize it: per-16/32-element runs with loop-invariant
 * scales.  Included by quant.c (dequantization) and matmul_q8k.c (the
 * scale and min unpacking of the integer kernels); every element is
 * computed by the same float operations as llama.cpp's reference. */
#ifndef LLMFS_QUANT_KBLOCKS_H
#define LLMFS_QUANT_KBLOCKS_H
#include <stdint.h>
#include <string.h>
#include "engine/quant.h"

#define QK_K_BLOCK 256

/* The 8 sub-block (scale, min) pairs of a Q4_K block are 6-bit numbers
 * packed in 12 bytes: pairs 0..3 in the low 6 bits of bytes 0..7, pairs
 * 4..7 as nibbles of bytes 8..11 plus the top 2 bits of bytes 0..7. */
static inline void kq_q4k_scale_min(int j, const uint8_t *s, int *sc, int *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 0xf) | ((s[j - 4] >> 6) << 4);
        *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

/* The 16 sub-block scales of a Q3_K block, 6-bit numbers (less 32 to
 * use) packed in 12 bytes: low nibbles of bytes 0..7 hold scales 0..7,
 * their high nibbles scales 8..15, and bits 2(j/4)..2(j/4)+1 of byte
 * 8 + j%4 the top two bits of scale j. */
static inline int kq_q3k_scale(int j, const uint8_t *s) {
    int lo = j < 8 ? s[j] & 0xf : s[j - 8] >> 4;
    int hi = (s[8 + (j & 3)] >> (2 * (j >> 2))) & 3;
    return (lo | (hi << 4)) - 32;
}

static inline float kq_fp16(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return fp16_to_f32(h);
}

/* Q4_K (144 B per 256): d fp16 | dmin fp16 | scales[12] | qs[128]; element
 * = (d * sc) * q - (dmin * m). */
static inline __attribute__((always_inline)) void
kq_dequant_q4_k(const uint8_t *b, float *restrict y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 144) {
        const float d = kq_fp16(b), dmin = kq_fp16(b + 2);
        const uint8_t *scales = b + 4, *q = b + 16;
        /* 4 groups of 64: 32 low nibbles then 32 high nibbles of 32 bytes */
        for (int g = 0; g < 4; g++, q += 32, y += 64) {
            int sc, m;
            kq_q4k_scale_min(2 * g, scales, &sc, &m);
            const float d1 = d * (float)sc, m1 = dmin * (float)m;
            kq_q4k_scale_min(2 * g + 1, scales, &sc, &m);
            const float d2 = d * (float)sc, m2 = dmin * (float)m;
            for (int l = 0; l < 32; l++) y[l] = d1 * (float)(q[l] & 0xf) - m1;
            for (int l = 0; l < 32; l++) y[32 + l] = d2 * (float)(q[l] >> 4) - m2;
        }
    }
}

/* Q6_K (210 B per 256): ql[128] | qh[64] | scales[16] int8 | d fp16;
 * element = (d * scale) * q, q in [-32, 31]. */
static inline __attribute__((always_inline)) void
kq_dequant_q6_k(const uint8_t *b, float *restrict y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 210) {
        const uint8_t *ql = b, *qh = b + 128;
        const int8_t *sc = (const int8_t *)(b + 192);
        const float d = kq_fp16(b + 208);
        /* 2 halves of 128 elements; each uses 64 ql bytes, 32 qh bytes and
         * 8 scales, one per 16 elements */
        for (int h = 0; h < 2; h++, ql += 64, qh += 32, sc += 8, y += 128) {
            for (int half = 0; half < 2; half++) {
                const float s1 = d * (float)sc[half], s2 = d * (float)sc[half + 2];
                const float s3 = d * (float)sc[half + 4], s4 = d * (float)sc[half + 6];
                const int l0 = 16 * half;
                for (int l = l0; l < l0 + 16; l++) {
                    y[l] = s1 * (float)(((ql[l] & 0xf) | ((qh[l] & 3) << 4)) - 32);
                    y[l + 32] = s2 * (float)(((ql[l + 32] & 0xf) | (((qh[l] >> 2) & 3) << 4)) - 32);
                    y[l + 64] = s3 * (float)(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
                    y[l + 96] = s4 * (float)(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
                }
            }
        }
    }
}
/* Q5_K (176 B per 256): d fp16 | dmin fp16 | scales[12] (as Q4_K) |
 * qh[32] | qs[128]; element = (d * sc) * q - (dmin * m), q the nibble
 * plus 16 times its bit of qh (bit 2g of qh[l] for element 64g + l, bit
 * 2g + 1 for element 64g + 32 + l). */
static inline __attribute__((always_inline)) void
kq_dequant_q5_k(const uint8_t *b, float *restrict y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 176) {
        const float d = kq_fp16(b), dmin = kq_fp16(b + 2);
        const uint8_t *scales = b + 4, *qh = b + 16, *q = b + 48;
        for (int g = 0; g < 4; g++, q += 32, y += 64) {
            int sc, m;
            kq_q4k_scale_min(2 * g, scales, &sc, &m);
            const float d1 = d * (float)sc, m1 = dmin * (float)m;
            kq_q4k_scale_min(2 * g + 1, scales, &sc, &m);
            const float d2 = d * (float)sc, m2 = dmin * (float)m;
            for (int l = 0; l < 32; l++)
                y[l] = d1 * (float)((q[l] & 0xf) | (((qh[l] >> (2 * g)) & 1) << 4)) - m1;
            for (int l = 0; l < 32; l++)
                y[32 + l] = d2 * (float)((q[l] >> 4) | (((qh[l] >> (2 * g + 1)) & 1) << 4)) - m2;
        }
    }
}

/* Q3_K (110 B per 256): hmask[32] | qs[64] | scales[12] | d fp16.  Half h
 * (128 elements) reads qs[32h..32h+32); its element 128h + 32j + l (j < 4,
 * l < 32) is the 2-bit value at bits 2j of qs[32h + l], less 4 unless bit
 * 4h + j of hmask[l] is set, times d * scale[8h + 2j + l/16]. */
static inline __attribute__((always_inline)) void
kq_dequant_q3_k(const uint8_t *b, float *restrict y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 110) {
        const uint8_t *hm = b, *qs = b + 32, *scales = b + 96;
        const float d = kq_fp16(b + 108);
        for (int h = 0; h < 2; h++, qs += 32)
            for (int j = 0; j < 4; j++)
                for (int half = 0; half < 2; half++, y += 16) {
                    const float dl = d * (float)kq_q3k_scale(8 * h + 2 * j + half, scales);
                    const int bit = 4 * h + j;
                    for (int l = 16 * half; l < 16 * half + 16; l++)
                        y[l - 16 * half] = dl * (float)(((qs[l] >> (2 * j)) & 3) - (((hm[l] >> bit) & 1) ? 0 : 4));
                }
    }
}
#endif
