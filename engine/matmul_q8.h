/* Integer dot products for Q8_0, Q4_0, Q5_0, Q4_1 and Q5_1 weights
 * (matmul.c's kernels for those types, at every batch size): each activation column is quantized
 * to 8 bits in blocks of 32, as llama.cpp's quantize_row_q8_0 does on x86,
 * and each weight block meets it in exact int32 arithmetic.
 *
 * Activations: for each block of 32 floats, amax = max |x|, d = amax / 127;
 * q[j] = x[j] * id rounded, and the block's scale dx = d rounded to F16
 * (kept as a float).  For Q8_0 weights id = 1 / d and ties round away from
 * zero (llama.cpp's quantize_row_q8_0_ref: its Q8_0 logits are matched to
 * the last digit); for the others id = 127 / amax and ties round to even
 * (its x86 code, which comes closest to its Q4_0 logits).  For Q4_1 and
 * Q5_1 (llama.cpp's Q8_1 activations) each block also keeps
 * sx = F16(amax / 127 * sum of its q) (kept as a float).  A block with
 * amax below 1e-30 is all zeros.
 *
 * Determinism contract, per output y = W[r] . x: 16 float lanes from +0.0f;
 * block b of 32 weights gives 8 exact int32 partials
 *   P[l] = sum_{j<4} w[32b + 4l + j] * q[32b + 4l + j],  l = 0..7,
 * with w the block's integers (Q4_0: nibble - 8; Q5_0: 5-bit value - 16;
 * Q4_1, Q5_1: the 4- or 5-bit value) and the block's scale s = dw * dx
 * (one float multiply, dw the weight block's F16 scale); lane
 * 8 * (b & 1) + l becomes fmaf((float)P[l], s, lane) in increasing b;
 * then the 16 lanes are summed in matmul.h's fixed tree.  Q4_1 and Q5_1
 * also accumulate their blocks' offsets in increasing b, as llama.cpp
 * does apart: S = fmaf(mw, sx, S) from +0.0f (mw the weight block's F16
 * offset), and y = tree + S.  Integer sums are
 * exact in any order, so every path (AVX-512 VNNI, AVX2, portable) and
 * every batch gives the same bits. */
#ifndef LLMFS_MATMUL_Q8_H
#define LLMFS_MATMUL_Q8_H
#include <stddef.h>
#include <stdint.h>

/* Quantizes one column of cols floats (a multiple of 32), for weight type
 * ti (0 Q8_0, 1 Q4_0, 2 Q5_0, 3 Q4_1, 4 Q5_1), into col: col_bytes(cols) bytes, in the kernel
 * set's own layout (its 8-bit values, scales, and whatever it precomputes
 * once per column). */
typedef void (*q8_quant_fn)(int ti, const float *x, int cols, uint8_t *col);

/* y[j * ys + i] = W[i] . column j, for i < R rows of encoded weights
 * (row_bytes rb apart) and j < T quantized columns (xcs bytes apart).
 * pf: prefetch distance in bytes (0: none). */
typedef void (*q8_tile_fn)(const uint8_t *w, size_t rb, const uint8_t *xc, size_t xcs,
                           int cols, float *y, size_t ys, size_t pf);

/* Rewrites one encoded row into the form the set's t4x4 tiles read
 * (prep_bytes(cols) bytes), once for every column it will meet. */
typedef void (*q8_prep_fn)(const uint8_t *w, int cols, uint8_t *out);

typedef struct {
    size_t (*col_bytes)(int cols);   /* a multiple of 64 */
    q8_quant_fn quant;
    int quant_any_ti;                /* 1: quant ignores ti (one column serves both types) */
    size_t (*prep_bytes)(int cols);  /* NULL: t4x4 reads encoded rows */
    /* by weight type: [0] Q8_0, [1] Q4_0, [2] Q5_0, [3] Q4_1, [4] Q5_1
     * (this file's set); [0] Q4_K, [1] Q6_K, [2] Q5_K, [3] Q3_K (the K set) */
    q8_prep_fn prep[5];      /* NULL: that type's t4x4 reads encoded rows */
    q8_tile_fn t8x1[5];      /* decode: 8 rows, one column */
    q8_tile_fn t4x4[5];      /* batches: 4 rows (prepared if prep_bytes and prep), 4 columns */
    q8_tile_fn t1x1[5];      /* the rest */
} q8_kernels;

/* A quantized column starts with its 8-bit values, padded to 64 bytes. */
static inline size_t q8_q_bytes(int cols) { return ((size_t)cols + 63) & ~(size_t)63; }

/* Whether this CPU has AVX-512 (F, BW, VL, DQ) with VNNI: the "avx512"
 * path of both kernel sets needs it, and otherwise takes the AVX2 kernels
 * (the same bits). */
int q8_cpu_has_vnni(void);

/* The kernels of a path: "avx512" (VNNI), "avx2", "portable"; NULL when
 * this CPU cannot run it. */
const q8_kernels *q8_kernels_for(const char *isa);
/* The same for Q4_K ([0]), Q6_K ([1]), Q5_K ([2]) and Q3_K ([3]) weights
 * on activations quantized per 256 (matmul_q8k.c). */
const q8_kernels *q8k_kernels_for(const char *isa);

#endif
