/* The fixed reduction tree of matmul.h's determinism contract, for the
 * kernels of matmul.c and matmul_q8.c: 16 lane sums p[] become
 *   s8[i] = p[i] + p[i+8]; s4[i] = s8[i] + s8[i+4]; s2[i] = s4[i] + s4[i+2];
 *   y = s2[0] + s2[1]
 * in portable C, from one zmm, or from two ymm halves (p[0..7], p[8..15]). */
#ifndef LLMFS_MATMUL_TREE_H
#define LLMFS_MATMUL_TREE_H
#include <stddef.h>
#include <immintrin.h>

static inline float tree_reduce16(const float p[16])
{
    float s8[8], s4[4], s2[2];
    for (int i = 0; i < 8; i++) s8[i] = p[i] + p[i + 8];
    for (int i = 0; i < 4; i++) s4[i] = s8[i] + s8[i + 4];
    for (int i = 0; i < 2; i++) s2[i] = s4[i] + s4[i + 2];
    return s2[0] + s2[1];
}

static inline __attribute__((always_inline, target("avx2,fma")))
float tree_reduce256x2(__m256 lo, __m256 hi)
{
    __m256 s8 = _mm256_add_ps(lo, hi);
    __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    return _mm_cvtss_f32(_mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1)));
}

static inline __attribute__((always_inline, target("avx512f,avx512dq,avx2,fma")))
float tree_reduce512(__m512 v)
{
    return tree_reduce256x2(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
}

/* Sixteen trees at once, for 4 x 4 tiles.  tree_s8x2(a, b) is the first
 * level of two outputs' trees, s8 of a in the low 8 lanes and of b in the
 * high ones; tree_reduce512_s8x16 takes eight of them, t[k] for outputs
 * 2k and 2k + 1, and returns output 4r + q in lane 4q + r (so outputs
 * o = 4i + j come out with quarter j holding i = 0..3).  Every output sees
 * tree_reduce16's additions; given s8 vectors of 8 lanes (8-lane trees),
 * the last three levels are an 8-lane tree's. */
static inline __attribute__((always_inline, target("avx512f,avx512dq,avx2,fma")))
__m512 tree_s8x2(__m512 a, __m512 b)
{
    return _mm512_add_ps(_mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(1, 0, 1, 0)),
                         _mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(3, 2, 3, 2)));
}

static inline __attribute__((always_inline, target("avx512f,avx512dq,avx2,fma")))
__m512 tree_reduce512_s8x16(const __m512 t[8])
{
    __m512 u[4], w[2];
    for (int m = 0; m < 4; m++)      /* s4, outputs 4m .. 4m + 3 by quarter */
        u[m] = _mm512_add_ps(_mm512_shuffle_f32x4(t[2 * m], t[2 * m + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                             _mm512_shuffle_f32x4(t[2 * m], t[2 * m + 1], _MM_SHUFFLE(3, 1, 3, 1)));
    for (int h = 0; h < 2; h++)      /* s2 */
        w[h] = _mm512_add_ps(_mm512_shuffle_ps(u[2 * h], u[2 * h + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                             _mm512_shuffle_ps(u[2 * h], u[2 * h + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    return _mm512_add_ps(_mm512_shuffle_ps(w[0], w[1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_ps(w[0], w[1], _MM_SHUFFLE(3, 1, 3, 1)));
}

/* Stores a 4 x 4 tile's outputs (lane 4j + i: row i, column j) at
 * y[j * ys + i]. */
static inline __attribute__((always_inline, target("avx512f,avx512dq,avx2,fma")))
void tree_store4x4(float *y, size_t ys, __m512 v)
{
    _mm_storeu_ps(y, _mm512_castps512_ps128(v));
    _mm_storeu_ps(y + ys, _mm512_extractf32x4_ps(v, 1));
    _mm_storeu_ps(y + 2 * ys, _mm512_extractf32x4_ps(v, 2));
    _mm_storeu_ps(y + 3 * ys, _mm512_extractf32x4_ps(v, 3));
}
#endif
