/* Matrix-vector products of weight matrices with a batch of activation
 * vectors: the one kernel the forward pass spends its time in.
 *
 * Determinism contract: every output element y[t][r] is computed by the
 * same sequence of floating-point operations whatever n (the batch), the
 * thread count, the row split and the instruction set (AVX-512, AVX2+FMA,
 * portable C): 16 lane partial sums, lane l accumulating with fused
 * multiply-add the products W[r][k]*x[t][k] for k = l, l+16, l+32, ... in
 * increasing k, starting from +0.0f (a row whose length is not a multiple
 * of 16 is treated as zero-padded: the padding lanes still do fma(0, 0, p)),
 * then summed in a fixed tree:
 *   s8[i] = p[i] + p[i+8]; s4[i] = s8[i] + s8[i+4]; s2[i] = s4[i] + s4[i+2];
 *   y = s2[0] + s2[1].
 * F16 and BF16 rows are first converted (exactly) to float32.  Q8_0,
 * Q4_0, Q5_0, Q4_1, Q5_1, Q3_K, Q4_K, Q5_K and Q6_K rows instead meet the
 * activations quantized to 8 bits, in exact integer arithmetic, under the
 * contracts of matmul_q8.h and matmul_q8k.c.  So a sequence's
 * logits are bitwise equal at batch sizes 1, 2, 7 or 16. */
#ifndef LLMFS_MATMUL_H
#define LLMFS_MATMUL_H
#include <stddef.h>
#include <stdint.h>
#include "engine/pool.h"

/* A 2-D weight matrix: rows of `cols` elements of `type`, row-major,
 * rows `row_bytes` apart.  (GGUF ne[0] = cols, ne[1] = rows.) */
typedef struct {
    const void *data;
    int type;          /* TYPE_* from quant.h */
    int rows, cols;
    size_t row_bytes;
} mat;

/* y[t*rows + r] = dot(W row r, x[t*cols ...]) for t < n, r < W->rows.
 * x is (n, cols), y is (n, rows); they must not overlap.  Uses the pool's
 * threads (p may be NULL for single-threaded); rows are split into
 * contiguous chunks of a multiple of 24 rows, and matrices under 48 rows
 * run on the caller alone.  No alignment is required of data, x or y
 * (64-byte alignment helps).  Non-F32 types use a per-thread scratch
 * (F16: 8 converted rows; the quantized types: eight prepared rows), and
 * the quantized types a buffer of the calling thread that holds the
 * call's activation columns quantized once (n of them, 1.1 to 3
 * bytes a value; the pool's threads read it during the call); both are
 * allocated on first use, grow to the largest call, and are freed at
 * thread exit.  An unsupported type, or cols not a multiple of the block
 * size, yields NaN outputs. */
void matmul(pool *p, float *y, const float *x, const mat *W, int n);

/* The same for k matrices that share the input x (y[i] = W[i] x), in
 * one parallel job: one wait for the threads instead of k. */
void matmul_many(pool *p, int k, float *const *y, const float *x, const mat *const *W, int n);

/* The same for a single row range, on the calling thread only. */
void matmul_rows(float *y, const float *x, const mat *W, int n, int r0, int r1);

/* Instruction set the kernels use: "avx512", "avx2" or "portable".
 * LLMFS_ISA=avx2|portable in the environment forces a lower one. */
const char *matmul_isa(void);

/* For tests and benchmarks: switch every later call to the named path
 * ("avx512", "avx2", "portable").  Returns 0, or -EINVAL for an unknown
 * name or a path this CPU cannot run.  Not thread-safe: call it while no
 * matmul is running. */
int matmul_set_isa(const char *name);
#endif
