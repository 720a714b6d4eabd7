/* Microbenchmark of the matmul kernel on the 110M LLaMA shape (dim 768,
 * hidden 2048, 12 layers, 7 matrices a layer): a full decode pass (84
 * matmuls at n = 1) in every weight type, batched passes at n = 4/16/32
 * (cost per token), and n = 512 GFLOP/s of F32, Q8_0, Q4_0, Q4_K and Q6_K
 * matrices against OpenBLAS sgemm on the same (float) weights.  Prints medians.
 * "decode" as second argument prints only decode figures, for every type:
 * the pass over the 84 matrices (weights from memory) and one 768x768
 * matrix repeated (weights in cache: what the kernel does when memory is
 * not the limit), in GB/s of weights.  TYPES instead (e.g. "Q5_0,Q5_K"):
 * only the decode and batched passes of those types.
 * Usage: matmul_bench [threads [decode|TYPES]]   (default 2; LLMFS_ISA picks the path) */
#include "engine/matmul.h"
#include "engine/pool.h"
#include "engine/quant.h"

#include <cblas.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DIM 768
#define HIDDEN 2048
#define LAYERS 12
#define NMAT (LAYERS * 7)
#define RUNS 9

static uint32_t rng = 1;
static float frand(void)
{
    rng = rng * 1664525u + 1013904223u;
    return (float)(rng >> 8) / (float)(1u << 24) * 0.2f - 0.1f;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return v[n / 2];
}

/* The 84 matrices of one model in the given type. */
static mat *make_model(int type, size_t *total_bytes)
{
    mat *m = calloc(NMAT, sizeof *m);
    float *tmp = malloc(sizeof(float) * HIDDEN);
    *total_bytes = 0;
    for (int i = 0; i < NMAT; i++) {
        int k = i % 7;
        int rows = k < 4 ? DIM : k < 6 ? HIDDEN : DIM;   /* wq wk wv wo w1 w3 w2 */
        int cols = k < 6 ? DIM : HIDDEN;
        size_t rb = quant_row_bytes(type, cols);
        uint8_t *d = aligned_alloc(64, (rb * rows + 63) & ~(size_t)63);
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) tmp[c] = frand();
            quant_quantize_row(type, tmp, d + (size_t)r * rb, cols);
        }
        m[i] = (mat){ d, type, rows, cols, rb };
        *total_bytes += rb * rows;
    }
    free(tmp);
    return m;
}

static void free_model(mat *m)
{
    for (int i = 0; i < NMAT; i++) free((void *)m[i].data);
    free(m);
}

/* Median seconds of one pass over all 84 matrices with n columns. */
static double time_pass(pool *p, mat *m, int n, float *x, float *y, int runs)
{
    double t[RUNS];
    for (int r = 0; r < runs; r++) {
        double t0 = now();
        for (int i = 0; i < NMAT; i++)
            matmul(p, y, x, &m[i], n);
        t[r] = now() - t0;
    }
    return median(t, runs);
}

static void bench_model(pool *p, int type, float *x, float *y)
{
    size_t bytes;
    mat *m = make_model(type, &bytes);
    time_pass(p, m, 1, x, y, 2);                          /* warm up */
    double t1 = time_pass(p, m, 1, x, y, RUNS);
    printf("%-4s decode pass (n=1): %7.3f ms  %6.1f GB/s  %7.1f tok/s  (%.0f MB weights)\n",
           quant_name(type), t1 * 1e3, (double)bytes / t1 / 1e9, 1.0 / t1, (double)bytes / 1e6);
    const int ns[] = { 4, 16, 32 };
    for (int i = 0; i < 3; i++) {
        double tn = time_pass(p, m, ns[i], x, y, RUNS);
        printf("%-4s batched pass n=%-3d: %7.3f ms  %7.3f ms/token  %7.1f tok/s\n",
               quant_name(type), ns[i], tn * 1e3, tn * 1e3 / ns[i], ns[i] / tn);
    }
    free_model(m);
}

/* Decode only: the pass, and one cache-resident matrix repeated. */
static void bench_decode(pool *p, int type, float *x, float *y)
{
    size_t bytes;
    mat *m = make_model(type, &bytes);
    time_pass(p, m, 1, x, y, 2);
    double t1 = 1e9;   /* the fastest pass of 25 */
    for (int r = 0; r < 25; r++) {
        double t = time_pass(p, m, 1, x, y, 1);
        if (t < t1)
            t1 = t;
    }
    /* the fastest of many short runs: the kernel's own speed, whatever
     * else the machine runs */
    double th = 1e9;
    for (int r = 0; r < 400; r++) {
        double t0 = now();
        for (int i = 0; i < 10; i++)
            matmul(p, y, x, &m[0], 1);
        double t = (now() - t0) / 10;
        if (t < th)
            th = t;
    }
    size_t hb = m[0].row_bytes * (size_t)m[0].rows;
    printf("%-4s decode pass, fastest %7.3f ms %6.1f GB/s %7.1f tok/s | in cache (%zu KB), fastest %6.2f us %6.1f GB/s\n",
           quant_name(type), t1 * 1e3, (double)bytes / t1 / 1e9, 1.0 / t1, hb >> 10, th * 1e6,
           (double)hb / th / 1e9);
    free_model(m);
}

static void bench_gemm(pool *p, int type, int rows, int cols, int n)
{
    size_t rb = quant_row_bytes(type, cols);
    uint8_t *w = aligned_alloc(64, rb * rows);
    float *wf = aligned_alloc(64, sizeof(float) * rows * cols);
    float *x = aligned_alloc(64, sizeof(float) * n * cols);
    float *y = aligned_alloc(64, sizeof(float) * n * rows);
    for (int i = 0; i < rows * cols; i++) wf[i] = frand();
    for (int i = 0; i < n * cols; i++) x[i] = frand();
    for (int r = 0; r < rows; r++)
        if (quant_quantize_row(type, wf + (size_t)r * cols, w + (size_t)r * rb, cols) != 0)
            for (size_t i = 0; i < rb; i++)   /* no quantizer (Q6_K): random blocks, for timing */
                w[(size_t)r * rb + i] = (uint8_t)(frand() * 1000.0f);
    mat W = { w, type, rows, cols, rb };
    double flop = 2.0 * rows * cols * n, t[RUNS], tb[RUNS];
    matmul(p, y, x, &W, n);
    for (int r = 0; r < RUNS; r++) {
        double t0 = now();
        matmul(p, y, x, &W, n);
        t[r] = now() - t0;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, rows, cols, 1.0f,
                x, cols, wf, cols, 0.0f, y, rows);
    for (int r = 0; r < RUNS; r++) {
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, rows, cols, 1.0f,
                    x, cols, wf, cols, 0.0f, y, rows);
        tb[r] = now() - t0;
    }
    double m = median(t, RUNS), mb = median(tb, RUNS);
    printf("%-4s %4dx%-4d n=%d: matmul %6.1f GFLOP/s (%.3f ms)   openblas sgemm %6.1f GFLOP/s (%.3f ms)\n",
           quant_name(type), rows, cols, n, flop / m / 1e9, m * 1e3, flop / mb / 1e9, mb * 1e3);
    free(w); free(wf); free(x); free(y);
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    pool *p = pool_new(threads);
    if (!p) {
        fprintf(stderr, "matmul_bench: cannot start %d threads\n", threads);
        return 1;
    }
    printf("matmul_bench: isa %s, %d threads, 110M shape (%d layers x 7 matrices)\n",
           matmul_isa(), threads, LAYERS);
    float *x = aligned_alloc(64, sizeof(float) * 32 * HIDDEN);
    float *y = aligned_alloc(64, sizeof(float) * 32 * HIDDEN);
    for (int i = 0; i < 32 * HIDDEN; i++) x[i] = frand();
    const int mtypes[] = { TYPE_F32, TYPE_F16, TYPE_BF16, TYPE_Q8_0, TYPE_Q4_0, TYPE_Q4_1,
                           TYPE_Q5_0, TYPE_Q5_1, TYPE_Q3_K, TYPE_Q4_K, TYPE_Q5_K, TYPE_Q6_K };
    const size_t nm = sizeof mtypes / sizeof *mtypes;
    if (argc > 2 && !strcmp(argv[2], "decode")) {
        for (size_t i = 0; i < nm; i++)
            bench_decode(p, mtypes[i], x, y);
        goto done;
    }
    for (size_t i = 0; i < nm; i++)
        if (argc <= 2 || strstr(argv[2], quant_name(mtypes[i])))   /* argv[2]: "Q5_0,Q5_K" */
            bench_model(p, mtypes[i], x, y);
    if (argc > 2)
        goto done;
    bench_gemm(p, TYPE_F32, DIM, DIM, 512);
    bench_gemm(p, TYPE_F32, HIDDEN, DIM, 512);
    bench_gemm(p, TYPE_F32, DIM, HIDDEN, 512);
    const int qtypes[] = { TYPE_Q8_0, TYPE_Q4_0, TYPE_Q4_K, TYPE_Q6_K };
    for (int i = 0; i < 4; i++) {
        bench_gemm(p, qtypes[i], HIDDEN, DIM, 512);
        bench_gemm(p, qtypes[i], DIM, HIDDEN, 512);
    }
done:
    free(x);
    free(y);
    pool_free(p);
    return 0;
}
