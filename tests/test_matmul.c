/* Tests for engine/matmul.c and engine/pool.c: accuracy against a double
 * reference for every weight type and awkward column counts (the quantized
 * types against the activations quantized to 8 bits, as their integer
 * kernels take them), and the
 * determinism contract: y[t] bitwise identical for every batch size,
 * thread count and instruction-set path. */
/* harness.h's TEST() trips -Wmisleading-indentation on gcc 12 */
#pragma GCC diagnostic ignored "-Wmisleading-indentation"
#include "tests/harness.h"
#include "engine/matmul.h"
#include "engine/matmul_q8.h"
#include "engine/pool.h"
#include "engine/quant.h"

#include <math.h>
#include <stdatomic.h>
#include <stdint.h>

static uint32_t rng = 777;
static uint32_t rnd(void) { rng = rng * 1664525u + 1013904223u; return rng >> 8; }
static float frand(void) { return (float)rnd() / (float)(1u << 24) * 2.0f - 1.0f; }

static const int types[] = { TYPE_F32, TYPE_F16, TYPE_Q8_0, TYPE_Q4_0, TYPE_Q4_K, TYPE_Q6_K,
                             TYPE_BF16, TYPE_Q4_1, TYPE_Q5_0, TYPE_Q5_1, TYPE_Q5_K, TYPE_Q3_K };

static int is_k(int type)
{
    return type == TYPE_Q4_K || type == TYPE_Q6_K || type == TYPE_Q5_K || type == TYPE_Q3_K;
}
/* Types whose rows meet 8-bit activations (the others are converted to
 * float32 rows). */
static int is_int(int type) { return type != TYPE_F32 && type != TYPE_F16 && type != TYPE_BF16; }
/* Q4_1 and Q5_1: blocks with an offset m (F16 after the scale). */
static int has_min(int type) { return type == TYPE_Q4_1 || type == TYPE_Q5_1; }
static const char *isas[] = { "avx512", "avx2", "portable" };
static pool *pools[4];

/* A random rows x cols matrix of the given type; *wf gets its exact float
 * values.  K-type blocks are random bytes with a sane fp16 scale. */
static void *make_weights(int type, int rows, int cols, float **wf, size_t *rb)
{
    size_t row_bytes = quant_row_bytes(type, cols);
    uint8_t *w = malloc(row_bytes * (size_t)rows);
    float *f = malloc(sizeof(float) * (size_t)rows * (size_t)cols);
    float *tmp = malloc(sizeof(float) * (size_t)cols);
    for (int r = 0; r < rows; r++) {
        uint8_t *row = w + (size_t)r * row_bytes;
        if (is_k(type)) {
            for (size_t i = 0; i < row_bytes; i++) row[i] = (uint8_t)rnd();
            size_t bb = quant_block_bytes(type);
            for (size_t b = 0; b < row_bytes / bb; b++) {
                uint16_t d = f32_to_fp16(0.001f + 0.01f * (float)(rnd() % 100) / 100.0f);
                if (type == TYPE_Q4_K || type == TYPE_Q5_K) {
                    memcpy(row + b * bb, &d, 2);
                    d = f32_to_fp16(0.002f);
                    memcpy(row + b * bb + 2, &d, 2);
                } else {
                    memcpy(row + b * bb + bb - 2, &d, 2);
                }
            }
        } else {
            for (int c = 0; c < cols; c++) tmp[c] = frand();
            quant_quantize_row(type, tmp, row, cols);
        }
        quant_dequant_row(type, row, f + (size_t)r * cols, cols);
    }
    free(tmp);
    *wf = f;
    *rb = row_bytes;
    return w;
}

static int cols_ok(int type, int cols) { return cols % quant_block_elems(type) == 0; }

/* x as the integer kernels of Q8_0 and Q4_0 weights see it, written here
 * from llama.cpp's quantize_row_q8_0_ref (Q8_0: q = x / d rounded half away
 * from zero, d = amax/127) and its x86 code (Q4_0: q = x * 127/amax rounded
 * half to even); the scale d rounded to F16; xr = q * scale. */
/* The same for Q4_K and Q6_K, from llama.cpp's quantize_row_q8_K_ref: per
 * 256, the value of largest magnitude sets iscale = -127 / it, q = iscale * x
 * rounded half to even (at most 127), scale 1 / iscale. */
static void q8k_view(const float *x, int cols, double *xr)
{
    for (int b = 0; b < cols; b += 256) {
        float amax = 0, max = 0;
        for (int j = 0; j < 256; j++)
            if (fabsf(x[b + j]) > amax) { amax = fabsf(x[b + j]); max = x[b + j]; }
        float iscale = amax > 0 ? -127.0f / max : 0.0f;
        for (int j = 0; j < 256; j++) {
            float v = nearbyintf(iscale * x[b + j]);
            xr[b + j] = amax > 0 ? (v > 127 ? 127 : v) * (double)(1.0f / iscale) : 0.0;
        }
    }
}

/* corr[b]: for Q4_1 and Q5_1, what block b's offset meets beyond the sum
 * of the values above: llama.cpp's Q8_1 sum F16(amax / 127 * sum q) less
 * the sum of q times the F16 scale. */
static void q8_view(int type, const float *x, int cols, double *xr, double *corr)
{
    if (is_k(type)) {
        q8k_view(x, cols, xr);
        return;
    }
    for (int b = 0; b < cols; b += 32) {
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[b + j]));
        float d = amax / 127.0f;
        float id = amax == 0 ? 0.0f : type == TYPE_Q8_0 ? 1.0f / d : 127.0f / amax;
        double ds = fp16_to_f32(f32_to_fp16(d));
        int sum = 0;
        for (int j = 0; j < 32; j++) {
            float v = x[b + j] * id;
            float q = type == TYPE_Q8_0 ? roundf(v) : nearbyintf(v);
            sum += (int)q;
            xr[b + j] = q * ds;
        }
        corr[b / 32] = has_min(type) ? fp16_to_f32(f32_to_fp16(d * (float)sum)) - ds * sum : 0;
    }
}

static atomic_int *pool_hits(void) { static atomic_int h[8]; return h; }
static void fn(void *arg, int ith, int nth)
{
    (void)arg; (void)nth;
    atomic_fetch_add(&pool_hits()[ith], 1);
}

static void test_pool_run(void)
{
    atomic_int *h = pool_hits();
    for (int nt = 1; nt <= 3; nt++) {
        for (int rep = 0; rep < 3000; rep++) {
            for (int i = 0; i < 8; i++) atomic_store(&h[i], 0);
            pool_run(pools[nt], fn, NULL);
            int ok = 1;
            for (int i = 0; i < 8; i++) ok &= atomic_load(&h[i]) == (i < nt);
            if (!ok) { CHECKF(0, "threads %d rep %d", nt, rep); break; }
        }
    }
    CHECK(pool_threads(NULL) == 1);
    pool_free(NULL);
    pool *p0 = pool_new(0);
    CHECK(p0 && pool_threads(p0) == 1);
    pool_free(p0);
}

static void test_accuracy(void)
{
    const int colsv[] = { 64, 96, 172, 256, 768 };
    const int rows = 45, n = 5;
    for (size_t ti = 0; ti < sizeof types / sizeof *types; ti++) {
        for (size_t ci = 0; ci < sizeof colsv / sizeof *colsv; ci++) {
            int type = types[ti], cols = colsv[ci];
            if (!cols_ok(type, cols))
                continue;
            float *wf;
            size_t rb;
            void *w = make_weights(type, rows, cols, &wf, &rb);
            mat W = { w, type, rows, cols, rb };
            float *x = malloc(sizeof(float) * (size_t)n * cols);
            float *y = malloc(sizeof(float) * (size_t)n * rows);
            for (int i = 0; i < n * cols; i++) x[i] = frand();
            for (size_t ii = 0; ii < 3; ii++) {
                if (matmul_set_isa(isas[ii]) != 0)
                    continue;
                matmul(pools[2], y, x, &W, n);
                int bad = 0, q8 = is_int(type);
                for (int t = 0; t < n; t++)
                    for (int r = 0; r < rows; r++) {
                        double ref = 0, mag = 0, xr[768], corr[24] = {0};
                        if (q8) q8_view(type, x + t * cols, cols, xr, corr);
                        for (int c = 0; c < cols; c++) {
                            double xv = q8 ? xr[c] : x[t * cols + c];
                            double p = (double)wf[(size_t)r * cols + c] * xv;
                            ref += p;
                            mag += fabs(p);
                        }
                        for (int b = 0; has_min(type) && b < cols / 32; b++) {
                            const uint8_t *blk = (const uint8_t *)w + (size_t)r * rb + b * quant_block_bytes(type);
                            uint16_t h;
                            memcpy(&h, blk + 2, 2);
                            ref += fp16_to_f32(h) * corr[b];
                            mag += fabs(fp16_to_f32(h) * corr[b]);
                        }
                        if (fabs(y[t * rows + r] - ref) > 1e-6 * mag + 1e-30)
                            if (bad++ < 3)
                                printf("#   %s %s cols %d t %d r %d: %.9g vs %.9g\n",
                                       quant_name(type), isas[ii], cols, t, r,
                                       y[t * rows + r], ref);
                    }
                CHECKF(bad == 0, "%s cols %d %s: %d bad", quant_name(type), cols, isas[ii], bad);
            }
            free(x); free(y); free(w); free(wf);
        }
    }
}

/* y[t] for n in {1,2,7,16,33}, threads 1..3, every ISA, must equal the
 * n = 1 single-threaded portable result bit for bit. */
static void test_determinism(void)
{
    const int colsv[] = { 64, 96, 172, 256, 768 };
    const int nv[] = { 1, 2, 7, 16, 33 };
    const int rows = 53, NMAX = 33;
    for (size_t ti = 0; ti < sizeof types / sizeof *types; ti++) {
        for (size_t ci = 0; ci < sizeof colsv / sizeof *colsv; ci++) {
            int type = types[ti], cols = colsv[ci];
            if (!cols_ok(type, cols))
                continue;
            float *wf;
            size_t rb;
            void *w = make_weights(type, rows, cols, &wf, &rb);
            mat W = { w, type, rows, cols, rb };
            float *x = malloc(sizeof(float) * (size_t)NMAX * cols);
            float *ref = malloc(sizeof(float) * (size_t)NMAX * rows);
            float *y = malloc(sizeof(float) * (size_t)NMAX * rows);
            for (int i = 0; i < NMAX * cols; i++) x[i] = frand();
            x[3] = -0.0f;
            matmul_set_isa("portable");
            for (int t = 0; t < NMAX; t++)
                matmul(NULL, ref + (size_t)t * rows, x + (size_t)t * cols, &W, 1);
            int bad = 0;
            for (size_t ii = 0; ii < 3; ii++) {
                if (matmul_set_isa(isas[ii]) != 0)
                    continue;
                for (int nt = 1; nt <= 3; nt++)
                    for (size_t ni = 0; ni < sizeof nv / sizeof *nv; ni++) {
                        int n = nv[ni];
                        memset(y, 0xff, sizeof(float) * (size_t)n * rows);
                        matmul(pools[nt], y, x, &W, n);
                        if (memcmp(y, ref, sizeof(float) * (size_t)n * rows) != 0 && bad++ < 3)
                            printf("#   %s cols %d %s threads %d n %d differs\n",
                                   quant_name(type), cols, isas[ii], nt, n);
                    }
                /* a row range on its own */
                matmul_rows(y, x, &W, 2, 5, 17);
                for (int t = 0; t < 2; t++)
                    for (int r = 5; r < 17; r++)
                        if (memcmp(&y[t * rows + r], &ref[t * rows + r], 4) != 0) bad++;
            }
            CHECKF(bad == 0, "%s cols %d: %d differences", quant_name(type), cols, bad);
            free(x); free(ref); free(y); free(w); free(wf);
        }
    }
}

/* A large batch crosses the x-blocking boundary (several passes over the
 * columns) and uses every tile, for a 32-block and a 256-block type. */
static void test_large_batch(void)
{
    const int rows = 67, cols = 2048, n = 300;
    const int ltypes[] = { TYPE_Q8_0, TYPE_Q4_K, TYPE_Q6_K, TYPE_Q5_K, TYPE_Q3_K, TYPE_Q5_1 };
    int bad = 0;
    for (size_t ti = 0; ti < sizeof ltypes / sizeof *ltypes; ti++) {
        float *wf;
        size_t rb;
        void *w = make_weights(ltypes[ti], rows, cols, &wf, &rb);
        mat W = { w, ltypes[ti], rows, cols, rb };
        float *x = malloc(sizeof(float) * (size_t)n * cols);
        float *y = malloc(sizeof(float) * (size_t)n * rows);
        float *y1 = malloc(sizeof(float) * rows);
        for (int i = 0; i < n * cols; i++) x[i] = frand();
        for (size_t ii = 0; ii < 3; ii++) {
            if (matmul_set_isa(isas[ii]) != 0)
                continue;
            matmul(pools[2], y, x, &W, n);
            for (int t = 0; t < n; t += 37) {
                matmul(NULL, y1, x + (size_t)t * cols, &W, 1);
                if (memcmp(y1, y + (size_t)t * rows, sizeof(float) * rows) != 0 && bad++ < 3)
                    printf("#   %s %s column %d differs\n", quant_name(ltypes[ti]), isas[ii], t);
            }
        }
        free(x); free(y); free(y1); free(w); free(wf);
    }
    CHECKF(bad == 0, "%d columns differ", bad);
}

/* The K-quant activation columns are one layout on every path: the
 * vector quantizers must write the portable one's bytes, on blocks with
 * ties to round, a largest magnitude held by both signs (the first one
 * sets the sign of the scale), zeros, tiny values, infinities and NaN. */
static void test_quant_k_paths(void)
{
    const int cols = 2048, nb = cols / 256;
    const q8_kernels *ref = q8k_kernels_for("portable");
    size_t xcs = ref->col_bytes(cols);
    float *x = malloc(sizeof(float) * cols);
    uint8_t *a = malloc(xcs), *b = malloc(xcs);
    int bad = 0;
    for (int round = 0; round < 40; round++) {
        for (int i = 0; i < cols; i++) x[i] = frand() * (round % 3 ? 1.0f : 1e-3f);
        for (int blk = 0; blk < nb; blk++) {
            float *v = x + 256 * blk;
            switch ((round + blk) % 8) {
            case 0: v[17] = 2.0f; v[3] = -2.0f; break;          /* -max first */
            case 1: v[5] = 2.0f; v[200] = -2.0f; break;          /* +max first */
            case 2: for (int j = 0; j < 256; j++) v[j] = (float)(j % 255 - 127) * 0.5f; break;   /* ties */
            case 3: memset(v, 0, 256 * sizeof *v); v[9] = -0.0f; break;
            case 4: for (int j = 0; j < 256; j++) v[j] *= 1e-31f; break;
            case 5: v[100] = INFINITY; break;
            case 6: v[42] = NAN; break;
            default: break;
            }
        }
        for (size_t ii = 0; ii < 2; ii++) {
            const q8_kernels *k = q8k_kernels_for(isas[ii]);
            if (!k || (!strcmp(isas[ii], "avx512") && matmul_set_isa("avx512") != 0))
                continue;
            memset(a, 0x55, xcs);
            memset(b, 0xaa, xcs);
            ref->quant(0, x, cols, a);
            k->quant(1, x, cols, b);
            /* the padding after the block sums is not written */
            const size_t used = q8_q_bytes(cols) + (size_t)nb * (sizeof(float) + 16 * sizeof(int16_t));
            if (memcmp(a, b, used) != 0 && bad++ < 3)
                printf("#   round %d: %s quantizes differently\n", round, isas[ii]);
        }
    }
    CHECKF(bad == 0, "%d columns differ", bad);
    free(x); free(a); free(b);
}

static void test_isa_names(void)
{
    CHECK(matmul_set_isa("portable") == 0);
    CHECK(strcmp(matmul_isa(), "portable") == 0);
    CHECK(matmul_set_isa("sse9") == -22);
    if (matmul_set_isa("avx512") == 0)
        CHECK(strcmp(matmul_isa(), "avx512") == 0);
}

int main(void)
{
    for (int i = 1; i <= 3; i++)
        pools[i] = pool_new(i);
    TEST("pool runs every thread once", test_pool_run);
    TEST("isa selection", test_isa_names);
    TEST("matmul accuracy vs double", test_accuracy);
    TEST("matmul bitwise determinism", test_determinism);
    TEST("matmul large batch", test_large_batch);
    TEST("K-quant activation columns equal on every path", test_quant_k_paths);
    for (int i = 1; i <= 3; i++)
        pool_free(pools[i]);
    TEST_EXIT();
}
