/* The matmul kernel: y = W x for a batch of activation columns, with one
 * fixed floating-point operation order per output element (see matmul.h)
 * on three instruction-set paths chosen at run time: AVX-512, AVX2+FMA
 * (16 lanes as two 8-wide halves) and portable C (fmaf over a 16-float
 * lane array).  Weights are consumed in register tiles of R rows x T
 * columns; F16 rows are first converted exactly into a small thread-local
 * float scratch and then go through the same tiles, except at batches
 * under 4, where AVX-512 converts them in registers ("fused" 8x1 tiles) to
 * stay near memory bandwidth; BF16 rows always go through the scratch.
 * Q8_0, Q4_0, Q5_0, Q4_1, Q5_1 (matmul_q8.c) and Q3_K, Q4_K, Q5_K, Q6_K
 * (matmul_q8k.c) rows take the integer kernels at every batch size
 * instead, on activation columns quantized once per call.  Tiling,
 * blocking and threading change only which outputs are computed together,
 * never the operations that produce one of them. */
#include "engine/matmul.h"
#include "engine/matmul_q8.h"
#include "engine/matmul_tree.h"
#include "engine/quant.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <cpuid.h>
#include <immintrin.h>

#define T512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,f16c,fma")))
#define T256 __attribute__((target("avx2,fma,f16c")))
#define INLINE static inline __attribute__((always_inline))


/* A tile computes y[j*ys + i] for i < R rows and j < T columns:
 * w: R rows of `cols` floats, ws floats apart; x: T columns, xs apart. */
typedef void (*tile_fn)(const float *w, size_t ws, const float *x, size_t xs,
                        int cols, float *y, size_t ys, int pf);
/* Dequantizes one row of a quantized/F16 type into cols floats. */
typedef void (*deq_fn)(const void *src, float *dst, int cols, size_t pf);

/* Software prefetch distances, in rows ahead (measured on the 110M shape):
 * F32 streams are left to the hardware prefetcher (prefetching them ahead
 * within a row did not help: tiles get pf 0, but for the next row tile of
 * a prefill pass); encoded rows are prefetched one 8-row group ahead, which
 * takes a Q8_0 decode pass from 13.7 to 8 ms per core. */
#define PF_DEQ_ROWS 8
#define PF_FUSED_ROWS 8

/* Fused 8-row x 1-column tile straight from encoded rows (row_bytes apart),
 * for small batches: dequantizes into registers, so the same floats meet
 * the same FMAs as in the scratch path.  pf: prefetch distance in bytes. */
typedef void (*fused_fn)(const uint8_t *w, size_t rb, const float *x, int cols,
                         float *y, size_t pf);

struct isa {
    const char *name;
    int mr, nr;                    /* shape of the big tile */
    tile_fn t8x1, tm1, tbig, t1n, t1x1;   /* 8x1, mr x 1, mr x nr, 1 x nr, 1x1 */
    deq_fn deq_f16;
    fused_fn f8_f16;               /* may be NULL */
};

/* ======================================================================
 * Portable path
 * ====================================================================== */


static float dot_portable(const float *w, const float *x, int cols)
{
    float p[16] = { 0 };
    for (int k = 0; k < cols; k += 16) {
        for (int l = 0; l < 16; l++) {
            int kk = k + l;
            float a = kk < cols ? w[kk] : 0.0f, b = kk < cols ? x[kk] : 0.0f;
            p[l] = fmaf(a, b, p[l]);
        }
    }
    return tree_reduce16(p);
}

static void tile_portable(const float *w, size_t ws, const float *x, size_t xs,
                          int cols, float *y, size_t ys, int R, int T)
{
    for (int j = 0; j < T; j++)
        for (int i = 0; i < R; i++)
            y[j * ys + i] = dot_portable(w + i * ws, x + j * xs, cols);
}
#define DEF_TILE_P(R, T) \
static void tp_##R##x##T(const float *w, size_t ws, const float *x, size_t xs, \
                         int cols, float *y, size_t ys, int pf) \
{ (void)pf; tile_portable(w, ws, x, xs, cols, y, ys, R, T); }
DEF_TILE_P(8, 1) DEF_TILE_P(4, 1) DEF_TILE_P(4, 4) DEF_TILE_P(1, 4) DEF_TILE_P(1, 1)

static void deq_f16_p(const void *s, float *d, int n, size_t pf) { quant_dequant_row(TYPE_F16, s, d, n); }


static const struct isa isa_portable = {
    "portable", 4, 4, tp_8x1, tp_4x1, tp_4x4, tp_1x4, tp_1x1,
    deq_f16_p, NULL,
};

/* ======================================================================
 * AVX-512 path: one zmm accumulator per output
 * ====================================================================== */


INLINE T512 void tile512(const float *w, size_t ws, const float *x, size_t xs,
                         int cols, float *y, size_t ys, int pf, const int R, const int T)
{
    __m512 acc[8][8];
#pragma GCC unroll 8
    for (int i = 0; i < R; i++)
#pragma GCC unroll 4
        for (int j = 0; j < T; j++)
            acc[i][j] = _mm512_setzero_ps();
    int k = 0;
    for (; k + 16 <= cols; k += 16) {
        __m512 xv[8];
#pragma GCC unroll 8
        for (int j = 0; j < T; j++)
            xv[j] = _mm512_loadu_ps(x + j * xs + k);
#pragma GCC unroll 8
        for (int i = 0; i < R; i++) {
            if (pf)
                _mm_prefetch((const char *)(w + i * ws + k + pf), _MM_HINT_T0);
            __m512 wv = _mm512_loadu_ps(w + i * ws + k);
#pragma GCC unroll 4
            for (int j = 0; j < T; j++)
                acc[i][j] = _mm512_fmadd_ps(wv, xv[j], acc[i][j]);
        }
    }
    if (k < cols) {                 /* zero-padded tail: lanes past cols */
        __mmask16 m = (__mmask16)((1u << (cols - k)) - 1);
        __m512 xv[8];
#pragma GCC unroll 8
        for (int j = 0; j < T; j++)
            xv[j] = _mm512_maskz_loadu_ps(m, x + j * xs + k);
#pragma GCC unroll 8
        for (int i = 0; i < R; i++) {
            __m512 wv = _mm512_maskz_loadu_ps(m, w + i * ws + k);
#pragma GCC unroll 4
            for (int j = 0; j < T; j++)
                acc[i][j] = _mm512_fmadd_ps(wv, xv[j], acc[i][j]);
        }
    }
#pragma GCC unroll 4
    for (int j = 0; j < T; j++)
#pragma GCC unroll 8
        for (int i = 0; i < R; i++)
            y[j * ys + i] = tree_reduce512(acc[i][j]);
}
#define DEF_TILE_512(R, T) \
static T512 void t512_##R##x##T(const float *w, size_t ws, const float *x, size_t xs, \
                                int cols, float *y, size_t ys, int pf) \
{ tile512(w, ws, x, xs, cols, y, ys, pf, R, T); }
/* 6 rows x 4 columns: 24 accumulators + 4 x vectors + 1 weight vector
 * of the 32 zmm registers (measured best of 4x4, 4x5, 5x4, 6x4, 8x3). */
#define MR512 6
#define NR512 4
#define TNAME_(p, R, T) p##R##x##T
#define TNAME(p, R, T) TNAME_(p, R, T)
#define DEF_TILE_512_(R, T) DEF_TILE_512(R, T)
DEF_TILE_512(8, 1) DEF_TILE_512_(MR512, 1) DEF_TILE_512_(MR512, NR512) DEF_TILE_512_(1, NR512) DEF_TILE_512(1, 1)

static T512 void deq_f16_512(const void *src, float *d, int n, size_t pf)
{
    const uint16_t *s = src;
    int k = 0;
    for (; k + 16 <= n; k += 16)
        _mm512_storeu_ps(d + k, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(s + k))));
    for (; k < n; k++)
        d[k] = _cvtsh_ss(s[k]);
}

/* Fused 8x1 tiles.  Q8_0/Q4_0 blocks are 32 elements: the low 16 then the
 * high 16 go through the FMA, i.e. lane l sees k = l then l + 16. */
INLINE T512 void f8_store(__m512 acc[8], float *y)
{
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++)
        y[i] = tree_reduce512(acc[i]);
}

static T512 void f8_f16_512(const uint8_t *w, size_t rb, const float *x, int cols,
                            float *y, size_t pf)
{
    __m512 acc[8];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) acc[i] = _mm512_setzero_ps();
    int k = 0;
    for (; k + 16 <= cols; k += 16) {
        __m512 xv = _mm512_loadu_ps(x + k);
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++) {
            const uint8_t *b = w + i * rb + 2 * (size_t)k;
            if (pf)
                _mm_prefetch((const char *)b + pf, _MM_HINT_T0);
            __m512 wv = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)b));
            acc[i] = _mm512_fmadd_ps(wv, xv, acc[i]);
        }
    }
    if (k < cols) {
        __mmask16 m = (__mmask16)((1u << (cols - k)) - 1);
        __m512 xv = _mm512_maskz_loadu_ps(m, x + k);
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++) {
            const uint8_t *b = w + i * rb + 2 * (size_t)k;
            __m512 wv = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, b));
            acc[i] = _mm512_fmadd_ps(wv, xv, acc[i]);
        }
    }
    f8_store(acc, y);
}

static const struct isa isa_avx512 = {
    "avx512", MR512, NR512, t512_8x1, TNAME(t512_, MR512, 1), TNAME(t512_, MR512, NR512), TNAME(t512_, 1, NR512), t512_1x1,
    deq_f16_512, f8_f16_512,
};

/* ======================================================================
 * AVX2 path: lanes 0..7 in one ymm, lanes 8..15 in another
 * ====================================================================== */


INLINE T256 __m256i tailmask256(int n)   /* lanes < n all ones */
{
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), idx);
}

INLINE T256 void tile256(const float *w, size_t ws, const float *x, size_t xs,
                         int cols, float *y, size_t ys, int pf, const int R, const int T)
{
    __m256 alo[8][2], ahi[8][2];
#pragma GCC unroll 8
    for (int i = 0; i < R; i++)
#pragma GCC unroll 2
        for (int j = 0; j < T; j++)
            alo[i][j] = ahi[i][j] = _mm256_setzero_ps();
    int k = 0;
    for (; k + 16 <= cols; k += 16) {
        __m256 xl[2], xh[2];
#pragma GCC unroll 2
        for (int j = 0; j < T; j++) {
            xl[j] = _mm256_loadu_ps(x + j * xs + k);
            xh[j] = _mm256_loadu_ps(x + j * xs + k + 8);
        }
#pragma GCC unroll 8
        for (int i = 0; i < R; i++) {
            __m256 wl = _mm256_loadu_ps(w + i * ws + k);
            __m256 wh = _mm256_loadu_ps(w + i * ws + k + 8);
#pragma GCC unroll 2
            for (int j = 0; j < T; j++) {
                alo[i][j] = _mm256_fmadd_ps(wl, xl[j], alo[i][j]);
                ahi[i][j] = _mm256_fmadd_ps(wh, xh[j], ahi[i][j]);
            }
        }
    }
    if (k < cols) {
        __m256i ml = tailmask256(cols - k), mh = tailmask256(cols - k - 8);
        __m256 xl[2], xh[2];
#pragma GCC unroll 2
        for (int j = 0; j < T; j++) {
            xl[j] = _mm256_maskload_ps(x + j * xs + k, ml);
            xh[j] = _mm256_maskload_ps(x + j * xs + k + 8, mh);
        }
#pragma GCC unroll 8
        for (int i = 0; i < R; i++) {
            __m256 wl = _mm256_maskload_ps(w + i * ws + k, ml);
            __m256 wh = _mm256_maskload_ps(w + i * ws + k + 8, mh);
#pragma GCC unroll 2
            for (int j = 0; j < T; j++) {
                alo[i][j] = _mm256_fmadd_ps(wl, xl[j], alo[i][j]);
                ahi[i][j] = _mm256_fmadd_ps(wh, xh[j], ahi[i][j]);
            }
        }
    }
#pragma GCC unroll 2
    for (int j = 0; j < T; j++)
#pragma GCC unroll 8
        for (int i = 0; i < R; i++)
            y[j * ys + i] = tree_reduce256x2(alo[i][j], ahi[i][j]);
}
/* T is at most 2 here: a 4x4 tile would need 32 ymm accumulators, so the
 * "4x4" and "1x4" entries run two column pairs. */
#define DEF_TILE_256(R, T) \
static T256 void t256_##R##x##T(const float *w, size_t ws, const float *x, size_t xs, \
                                int cols, float *y, size_t ys, int pf) \
{ tile256(w, ws, x, xs, cols, y, ys, pf, R, T); }
DEF_TILE_256(8, 1) DEF_TILE_256(4, 1) DEF_TILE_256(4, 2) DEF_TILE_256(1, 2) DEF_TILE_256(1, 1)
static void t256_4x4(const float *w, size_t ws, const float *x, size_t xs,
                     int cols, float *y, size_t ys, int pf)
{
    t256_4x2(w, ws, x, xs, cols, y, ys, pf);
    t256_4x2(w, ws, x + 2 * xs, xs, cols, y + 2 * ys, ys, 0);
}
static void t256_1x4(const float *w, size_t ws, const float *x, size_t xs,
                     int cols, float *y, size_t ys, int pf)
{
    t256_1x2(w, ws, x, xs, cols, y, ys, pf);
    t256_1x2(w, ws, x + 2 * xs, xs, cols, y + 2 * ys, ys, 0);
}

static T256 void deq_f16_256(const void *src, float *d, int n, size_t pf)
{
    const uint16_t *s = src;
    int k = 0;
    for (; k + 8 <= n; k += 8)
        _mm256_storeu_ps(d + k, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(s + k))));
    for (; k < n; k++)
        d[k] = _cvtsh_ss(s[k]);
}


static const struct isa isa_avx2 = {
    "avx2", 4, 4, t256_8x1, t256_4x1, t256_4x4, t256_1x4, t256_1x1,
    deq_f16_256, NULL,
};

/* ======================================================================
 * Dispatch
 * ====================================================================== */

static const struct isa *cur_isa;
static const q8_kernels *cur_q8;   /* the integer kernels of cur_isa: Q8_0, Q4_0 */
static const q8_kernels *cur_q8k;  /* ... Q4_K, Q6_K */
static pthread_once_t isa_once = PTHREAD_ONCE_INIT;

/* F16C by CPUID (clang's __builtin_cpu_supports does not know "f16c");
 * AVX state enablement is implied by the avx2/avx512 checks. */
static int cpu_has_f16c(void)
{
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
}

static int cpu_has_avx512(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("fma") && cpu_has_f16c();
}
static int cpu_has_avx2(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           cpu_has_f16c();
}

static const struct isa *isa_lookup(const char *name)
{
    if (!strcmp(name, "avx512"))
        return cpu_has_avx512() ? &isa_avx512 : NULL;
    if (!strcmp(name, "avx2"))
        return cpu_has_avx2() ? &isa_avx2 : NULL;
    if (!strcmp(name, "portable"))
        return &isa_portable;
    return NULL;
}

static void isa_init(void)
{
    const struct isa *best = cpu_has_avx512() ? &isa_avx512 :
                             cpu_has_avx2() ? &isa_avx2 : &isa_portable;
    const char *env = getenv("LLMFS_ISA");
    if (env && *env) {
        const struct isa *forced = isa_lookup(env);
        /* only ever lower: "avx512" on an AVX2 machine keeps AVX2 */
        if (forced && !(forced == &isa_avx512 && best != &isa_avx512))
            best = forced;
    }
    cur_isa = best;
    cur_q8 = q8_kernels_for(best->name);
    cur_q8k = q8k_kernels_for(best->name);
}

static const struct isa *isa_get(void)
{
    pthread_once(&isa_once, isa_init);
    return cur_isa;
}

const char *matmul_isa(void)
{
    return isa_get()->name;
}

int matmul_set_isa(const char *name)
{
    isa_get();
    const struct isa *i = name ? isa_lookup(name) : NULL;
    if (!i)
        return -EINVAL;
    cur_isa = i;
    cur_q8 = q8_kernels_for(i->name);
    cur_q8k = q8k_kernels_for(i->name);
    return 0;
}

/* ======================================================================
 * Thread-local buffers: dequantized or prepared rows (every thread), and
 * the quantized activation columns of a call (its calling thread; the
 * pool's threads read them during the job)
 * ====================================================================== */

struct tls_buf {
    void *p;        /* 64-byte aligned, freed at thread exit */
    size_t cap;     /* bytes */
};
static pthread_key_t scratch_key, qcols_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static _Thread_local struct tls_buf scratch_buf, qcols_buf;

static void scratch_key_init(void)
{
    pthread_key_create(&scratch_key, free);
    pthread_key_create(&qcols_key, free);
}

/* Returns a 64-byte-aligned buffer of at least `bytes` bytes owned by this
 * thread (freed at thread exit), or NULL on allocation failure.  Growing
 * it drops its contents. */
static void *tls_buf_get(struct tls_buf *b, pthread_key_t *key, size_t bytes)
{
    if (bytes <= b->cap)
        return b->p;
    pthread_once(&scratch_once, scratch_key_init);
    bytes = (bytes + 63) & ~(size_t)63;
    void *s = aligned_alloc(64, bytes);
    if (!s)
        return NULL;
    free(b->p);
    b->p = s;
    b->cap = bytes;
    pthread_setspecific(*key, s);
    return s;
}

static float *scratch_get(size_t n)
{
    return tls_buf_get(&scratch_buf, &scratch_key, n * sizeof(float));
}

/* ======================================================================
 * Driver
 * ====================================================================== */

#define ROW_TILE 24        /* rows per group; thread chunks are multiples */
#define X_BLOCK_BYTES (1u << 20)   /* x columns per pass stay in L2 */

/* Row pointers for group [r, r+R): F32 rows are used in place, others are
 * dequantized into scratch rows `ss` floats apart. */
static const float *group_rows(const struct isa *isa, const mat *W, int r, int R,
                               float *scr, size_t ss, size_t *ws)
{
    size_t pfq = (size_t)PF_DEQ_ROWS * W->row_bytes;
    const uint8_t *base = (const uint8_t *)W->data + (size_t)r * W->row_bytes;
    if (W->type == TYPE_F32) {
        *ws = W->row_bytes / sizeof(float);
        return (const float *)base;
    }
    for (int i = 0; i < R; i++) {
        const void *src = base + (size_t)i * W->row_bytes;
        float *dst = scr + (size_t)i * ss;
        switch (W->type) {
        case TYPE_F16:  isa->deq_f16(src, dst, W->cols, pfq); break;
        default:        quant_dequant_row(W->type, src, dst, W->cols); break;
        }
    }
    *ws = ss;
    return scr;
}

#define Q8_X_BYTES (1u << 19)   /* quantized x columns per pass */
#define PREP_L1_BYTES (24u << 10)   /* rows of a group, prepared, in L1 with their columns */

/* Activation columns quantized for one integer kernel set: n columns of
 * k->col_bytes(cols) bytes each, xcs apart. */
typedef struct {
    const q8_kernels *k;
    int ti;                 /* the weight type they were quantized for */
    const uint8_t *xq;
    size_t xcs;
} qcols;

/* The integer kernel set of a weight type and its index in the set, or
 * NULL for a float type. */
static const q8_kernels *int_kernels(int type, int *ti)
{
    switch (type) {
    case TYPE_Q8_0: *ti = 0; return cur_q8;
    case TYPE_Q4_0: *ti = 1; return cur_q8;
    case TYPE_Q5_0: *ti = 2; return cur_q8;
    case TYPE_Q4_1: *ti = 3; return cur_q8;
    case TYPE_Q5_1: *ti = 4; return cur_q8;
    case TYPE_Q4_K: *ti = 0; return cur_q8k;
    case TYPE_Q6_K: *ti = 1; return cur_q8k;
    case TYPE_Q5_K: *ti = 2; return cur_q8k;
    case TYPE_Q3_K: *ti = 3; return cur_q8k;
    default:        return NULL;
    }
}

/* Whether columns quantized for (k, ti) serve weight index ti2 of k. */
static int qcols_serve(const qcols *q, const q8_kernels *k, int ti2)
{
    return q->k == k && (q->ti == ti2 || k->quant_any_ti);
}

static void poison_rows(float *y, size_t rows, int n, int r0, int r1)
{
    for (int t = 0; t < n; t++)
        for (int r = r0; r < r1; r++)
            y[(size_t)t * rows + r] = NAN;
}

/* Rows of the integer types against columns already quantized
 * (matmul_q8.h), in passes of columns that stay in L2; the tile shape
 * never changes what one output is. */
static void q8_rows(const qcols *q, float *y, const mat *W, int n, int r0, int r1)
{
    const q8_kernels *k = q->k;
    int ti = 0;
    int_kernels(W->type, &ti);
    const int cols = W->cols;
    const size_t rows = (size_t)W->rows, rb = W->row_bytes, xcs = q->xcs;
    int tb = (int)(Q8_X_BYTES / xcs) / 4 * 4;
    if (tb < 4)
        tb = 4;
    const size_t pb = k->prep_bytes && k->prep[ti] ? k->prep_bytes(cols) : 0;
    uint8_t *wp = NULL;
    if (pb && n >= 4 && !(wp = (uint8_t *)scratch_get(8 * pb / sizeof(float) + 1))) {
        poison_rows(y, rows, n, r0, r1);   /* out of memory */
        return;
    }
    const uint8_t *w = (const uint8_t *)W->data;
    const size_t pf = (size_t)PF_FUSED_ROWS * rb;
    for (int t0 = 0; t0 < n; t0 += tb) {
        const int nt = n - t0 < tb ? n - t0 : tb;
        const uint8_t *xc = q->xq + (size_t)t0 * xcs;
        float *yt = y + (size_t)t0 * rows;
        int r = r0;
        if (nt < 4) {
            for (; r + 8 <= r1; r += 8)
                for (int t = 0; t < nt; t++)
                    k->t8x1[ti](w + r * rb, rb, xc + t * xcs, xcs, cols, yt + t * rows + r, rows,
                                t == 0 ? pf : 0);
        } else {
            /* eight rows (two row tiles) at a time when they stay in L1
             * prepared, so that each group of four columns read from L2
             * serves both */
            const int g8 = 8 * (pb ? pb : rb) <= PREP_L1_BYTES ? 8 : 4;
            for (int g; (g = r1 - r >= g8 ? g8 : r1 - r >= 4 ? 4 : 0) != 0; r += g) {
                /* the rows once in the tiles' own form, if they have one */
                const uint8_t *w4 = w + r * rb;
                size_t w4s = rb;
                if (pb) {
                    for (int i = 0; i < g; i++)
                        k->prep[ti](w + (r + i) * rb, cols, wp + i * pb);
                    w4 = wp;
                    w4s = pb;
                }
                int t = 0;
                for (; t + 4 <= nt; t += 4)
                    for (int i = 0; i < g; i += 4)
                        k->t4x4[ti](w4 + i * w4s, w4s, xc + t * xcs, xcs, cols, yt + t * rows + r + i,
                                    rows, 0);
                for (; t < nt; t++) {   /* the pass's last columns, one by one */
                    if (g == 8) {
                        k->t8x1[ti](w + r * rb, rb, xc + t * xcs, xcs, cols, yt + t * rows + r, rows, 0);
                        continue;
                    }
                    for (int i = 0; i < g; i++)
                        k->t1x1[ti](w + (r + i) * rb, rb, xc + t * xcs, xcs, cols,
                                    yt + t * rows + r + i, rows, 0);
                }
            }
        }
        for (; r < r1; r++)
            for (int t = 0; t < nt; t++)
                k->t1x1[ti](w + r * rb, rb, xc + t * xcs, xcs, cols, yt + t * rows + r, rows, 0);
    }
}

static void float_rows(float *y, const float *x, const mat *W, int n, int r0, int r1);

/* One row range of W, on the calling thread; q: the columns quantized for
 * W's integer kernels (NULL for a float type). */
static void rows_any(float *y, const float *x, const qcols *q, const mat *W, int n, int r0, int r1)
{
    if (n <= 0 || r0 >= r1 || W->cols <= 0)
        return;
    if (quant_row_bytes(W->type, W->cols) == 0) {   /* unknown type or bad cols */
        poison_rows(y, (size_t)W->rows, n, r0, r1);
        return;
    }
    if (q)
        q8_rows(q, y, W, n, r0, r1);
    else
        float_rows(y, x, W, n, r0, r1);
}

/* Quantizes columns [t0, t1) of x for each of nq kernel sets. */
static void quantize_cols(const qcols *q, int nq, const float *x, int cols, int t0, int t1)
{
    for (int i = 0; i < nq; i++)
        for (int t = t0; t < t1; t++)
            q[i].k->quant(q[i].ti, x + (size_t)t * cols, cols,
                          (uint8_t *)q[i].xq + (size_t)t * q[i].xcs);
}

/* Lays out, in the calling thread's column buffer, the quantized columns
 * that the k matrices of W (which share their input, so their cols) need (one set per kernel set and type that
 * they cannot share); qi[m] is matrix m's set, or -1 for a float type.
 * Returns the number of sets (at most k), or -ENOMEM.  Nothing is
 * quantized yet. */
static int qcols_plan(int k, const mat *const *W, int n, qcols *q, int *qi)
{
    int nq = 0;
    size_t bytes = 0;
    for (int m = 0; m < k; m++) {
        int ti;
        const q8_kernels *kk = int_kernels(W[m]->type, &ti);
        qi[m] = -1;
        if (!kk || W[m]->cols <= 0 || quant_row_bytes(W[m]->type, W[m]->cols) == 0)
            continue;
        for (int i = 0; i < nq && qi[m] < 0; i++)
            if (qcols_serve(&q[i], kk, ti))
                qi[m] = i;
        if (qi[m] >= 0)
            continue;
        q[nq] = (qcols){ kk, ti, NULL, kk->col_bytes(W[m]->cols) };
        bytes += (size_t)n * q[nq].xcs;
        qi[m] = nq++;
    }
    if (!nq)
        return 0;
    uint8_t *buf = tls_buf_get(&qcols_buf, &qcols_key, bytes);
    if (!buf)
        return -ENOMEM;
    for (int i = 0; i < nq; i++) {
        q[i].xq = buf;
        buf += (size_t)n * q[i].xcs;
    }
    return nq;
}

void matmul_rows(float *y, const float *x, const mat *W, int n, int r0, int r1)
{
    isa_get();
    if (n <= 0 || r0 >= r1 || W->cols <= 0)
        return;
    qcols q;
    int qi;
    int nq = qcols_plan(1, &W, n, &q, &qi);
    if (nq < 0) {
        poison_rows(y, (size_t)W->rows, n, r0, r1);
        return;
    }
    quantize_cols(&q, nq, x, W->cols, 0, n);
    rows_any(y, x, nq ? &q : NULL, W, n, r0, r1);
}

/* F32 and F16 rows. */
static void float_rows(float *y, const float *x, const mat *W, int n, int r0, int r1)
{
    const struct isa *isa = cur_isa;
    const int cols = W->cols;
    const size_t rows = (size_t)W->rows, xs = (size_t)cols;
    assert(W->type != TYPE_F32 || W->row_bytes % sizeof(float) == 0);

    fused_fn fused = W->type == TYPE_F16 ? isa->f8_f16 : NULL;
    size_t pff = (size_t)PF_FUSED_ROWS * W->row_bytes;
    float *scr = NULL;
    size_t ss = ((size_t)cols + 15) & ~(size_t)15;
    if (W->type != TYPE_F32) {
        scr = scratch_get(8 * ss);
        if (!scr) {             /* out of memory: poison the outputs */
            poison_rows(y, rows, n, r0, r1);
            return;
        }
    }

    /* columns per pass: as many as fit X_BLOCK_BYTES, a multiple of nr */
    int tb = (int)(X_BLOCK_BYTES / (xs * sizeof(float))) / isa->nr * isa->nr;
    if (tb < isa->nr)
        tb = isa->nr;
    for (int t0 = 0; t0 < n; t0 += tb) {
        const int t1 = n - t0 < tb ? n : t0 + tb;
        int r = r0;
        if (t1 - t0 < 4 && fused) {
            /* decode-like on encoded rows: dequantize in registers */
            for (; r + 8 <= r1; r += 8) {
                const uint8_t *wr = (const uint8_t *)W->data + (size_t)r * W->row_bytes;
                for (int t = t0; t < t1; t++) {
                    float yt[8];
                    fused(wr, W->row_bytes, x + t * xs, cols, yt, t == t0 ? pff : 0);
                    for (int i = 0; i < 8; i++)
                        y[t * rows + r + i] = yt[i];
                }
            }
        } else if (t1 - t0 < 4) {
            /* decode-like: 8 rows at a time, one column at a time */
            for (; r + 8 <= r1; r += 8) {
                size_t ws;
                const float *w = group_rows(isa, W, r, 8, scr, ss, &ws);
                for (int t = t0; t < t1; t++)
                    isa->t8x1(w, ws, x + t * xs, xs, cols, y + t * rows + r, rows, 0);
            }
        } else {
            const int mr = isa->mr, nr = isa->nr;
            for (; r + mr <= r1; r += mr) {
                size_t ws;
                const float *w = group_rows(isa, W, r, mr, scr, ss, &ws);
                int t = t0;
                /* F32 rows stream from memory once per pass: the first
                 * column tile pulls the next row tile's weights in while
                 * it computes on this one (the same k, mr rows down) */
                int pfn = W->type == TYPE_F32 && r + 2 * mr <= r1 ? (int)(mr * ws) : 0;
                for (; t + nr <= t1; t += nr, pfn = 0)
                    isa->tbig(w, ws, x + t * xs, xs, cols, y + t * rows + r, rows, pfn);
                for (; t < t1; t++)
                    isa->tm1(w, ws, x + t * xs, xs, cols, y + t * rows + r, rows, 0);
            }
        }
        for (; r < r1; r++) {
            size_t ws;
            const float *w = group_rows(isa, W, r, 1, scr, ss, &ws);
            int t = t0;
            for (; t + isa->nr <= t1; t += isa->nr)
                isa->t1n(w, ws, x + t * xs, xs, cols, y + t * rows + r, rows, 0);
            for (; t < t1; t++)
                isa->t1x1(w, ws, x + t * xs, xs, cols, y + t * rows + r, rows, 0);
        }
    }
}

#define MM_GROUP 8   /* matrices per job (matmul_many splits longer lists) */

struct mm_job {
    float *const *y;
    const float *x;
    const mat *const *W;
    int k, n;
    const qcols *q;         /* (nq) the quantized columns */
    int nq;
    const int *qi;          /* (k) matrix m's columns: q[qi[m]], or none (-1) */
    int tiles;              /* ROW_TILE-row tiles of all k matrices, in order */
    int tile0[MM_GROUP + 1];   /* matrix m's first tile; tile0[k] = tiles */
    _Alignas(64) atomic_int next;   /* the first tile no thread has taken */
};

/* Each thread quantizes its share of the columns. */
static void quant_task(void *arg, int ith, int nth)
{
    const struct mm_job *j = arg;
    int t0 = (int)((int64_t)j->n * ith / nth), t1 = (int)((int64_t)j->n * (ith + 1) / nth);
    for (int i = 0; i < j->nq; i++)
        quantize_cols(&j->q[i], 1, j->x, j->W[0]->cols, t0, t1);
}

/* Rows of tiles [a, b) of the job, matrix by matrix. */
static void mm_tiles(const struct mm_job *j, int a, int b)
{
    for (int m = 0; m < j->k && a < b; m++) {
        if (a >= j->tile0[m + 1])
            continue;
        const int rows = j->W[m]->rows;
        const int e = b < j->tile0[m + 1] ? b : j->tile0[m + 1];
        const int r0 = (a - j->tile0[m]) * ROW_TILE;
        const int r1 = (e - j->tile0[m]) * ROW_TILE < rows ? (e - j->tile0[m]) * ROW_TILE : rows;
        rows_any(j->y[m], j->x, j->qi[m] >= 0 ? &j->q[j->qi[m]] : NULL, j->W[m], j->n, r0, r1);
        a = e;
    }
}

/* The threads take the row tiles of every matrix of the job in chunks of
 * a quarter of what is left over the threads (guided scheduling): large
 * chunks first, then smaller ones, so that a thread slowed down or
 * descheduled by the machine's other work leaves its share to the others
 * and the threads finish together.  Which thread computes a row never
 * changes its result. */
static void mm_task(void *arg, int ith, int nth)
{
    struct mm_job *j = arg;
    (void)ith;
    int a = atomic_load_explicit(&j->next, memory_order_relaxed);
    while (a < j->tiles) {
        int c = (j->tiles - a) / (2 * nth);
        if (c < 1)
            c = 1;
        if (!atomic_compare_exchange_weak_explicit(&j->next, &a, a + c, memory_order_relaxed,
                                                   memory_order_relaxed))
            continue;   /* a is now the current value */
        mm_tiles(j, a, a + c);
        a = atomic_load_explicit(&j->next, memory_order_relaxed);
    }
}

#define MATMUL_PARALLEL_MIN (256 * 1024)
#define QUANT_PARALLEL_MIN 64   /* columns worth a parallel quantization job (one more wait for the threads) */

void matmul_many(pool *p, int k, float *const *y, const float *x, const mat *const *W, int n)
{
    if (n <= 0 || k <= 0)
        return;
    for (; k > MM_GROUP; k -= MM_GROUP, y += MM_GROUP, W += MM_GROUP)
        matmul_many(p, MM_GROUP, y, x, W, n);
    isa_get();   /* resolve the ISA once, outside the workers */
    int64_t work = 0;
    int small = 0;
    for (int m = 0; m < k; m++) {
        work += (int64_t)W[m]->rows * W[m]->cols * n;
        small |= W[m]->rows < 2 * ROW_TILE;
    }
    /* the activations are quantized once for every matrix and thread */
    qcols q[MM_GROUP];
    int qi[MM_GROUP];
    int nq = qcols_plan(k, W, n, q, qi);
    if (nq < 0) {
        for (int m = 0; m < k; m++)
            poison_rows(y[m], (size_t)W[m]->rows, n, 0, W[m]->rows);
        return;
    }
    struct mm_job j = { y, x, W, k, n, q, nq, qi, 0, { 0 }, 0 };
    for (int m = 0; m < k; m++)
        j.tile0[m + 1] = j.tile0[m] + (W[m]->rows + ROW_TILE - 1) / ROW_TILE;
    j.tiles = j.tile0[k];
    atomic_init(&j.next, 0);
    /* Below ~256K multiply-adds (tens of microseconds) waking the other
     * threads costs more than it saves: tiny models run on one core. */
    if (!p || pool_threads(p) == 1 || small || work < MATMUL_PARALLEL_MIN) {
        quant_task(&j, 0, 1);
        mm_tiles(&j, 0, j.tiles);
        return;
    }
    if (nq && n >= QUANT_PARALLEL_MIN)
        pool_run(p, quant_task, &j);
    else
        quant_task(&j, 0, 1);
    pool_run(p, mm_task, &j);
}

void matmul(pool *p, float *y, const float *x, const mat *W, int n)
{
    matmul_many(p, 1, &y, x, &W, n);
}
