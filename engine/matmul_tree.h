/* The fixed reduction tree of matmul.h's determinism contract, for the
 * kernels of matmul.c and matmul_q8.c: 16 lane sums p[] become
 *   s8[i] = p[i] + p[i+8]; s4[i] = s8[i] + s8[i+4]; s2[i] = s4[i] + s4[i+2];
 *   y = s2[0] + s2[1]
 * in portable C, from one zmm, or from two ymm halves (p[0..7], p[8..15]). */
#ifndef LLMFS_MATMUL_TREE_H
#define LLMFS_MATMUL_TREE_H
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
#endif
