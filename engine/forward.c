/* This file implements the LLaMA forward pass (forward.h): RMSNorm,
 * attention with RoPE (adjacent pairs, as llama2.c and llama.cpp's NORM
 * mode, or halves, its NEOX mode) and grouped-query heads over a paged KV
 * cache, and a SwiGLU feed-forward, for a batch of tokens.  The variants
 * of arch.h enter as optional Q/K/V biases and per-head Q/K norms, applied
 * per token with the RoPE, and Gemma's: scaled embeddings, norms of the
 * sublayer outputs, a GELU-gated feed-forward, soft-capped scores and
 * logits, and sliding-window layers, whose queries read only the last
 * n_swa positions.  The KV cache keeps every position of every layer, so
 * a window changes what a query reads, never what is stored: a block of
 * a shared prefix holds the same keys and values whoever computed it.  All matrix products go through
 * matmul(), whose per-element operation order does not depend on the
 * batch; everything else is computed per token, so a token's result is
 * independent of its batch companions. */
#include "engine/forward.h"
#include "engine/mathx.h"
#include "engine/quant.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ATT_RUN 4    /* query tokens whose scores share each key block */

struct fwd {
    const model *m;
    pool *p;
    int max_tokens, ctx;
    float *x;        /* (max_tokens, dim) residual stream */
    float *xb;       /* (max_tokens, dim) normed input of a sublayer */
    float *xb2;      /* (max_tokens, q_dim) attention output */
    float *q;        /* (max_tokens, q_dim) queries */
    float *k, *v;    /* (max_tokens, kv_dim) new keys and values */
    float *hb, *hb2; /* (max_tokens, hidden) gate and up projections */
    float *att;      /* (threads, ATT_RUN, ctx + 16 + head_dim) score rows of the
                        query tokens one thread handles at once (padded) */
    float *rope;     /* (ctx, head_dim / 2, 2) cos, sin */
    float *rope_swa; /* the same for local layers if their RoPE differs, else rope */
    uint16_t *gelu;  /* (65536) GELU of each half-precision input, in half
                        precision, when the feed-forward is GELU-gated */
    float *xo;       /* (max_tokens, dim) rows gathered for the classifier */
    pool_fn attention; /* the ISA version of attention_body */
    int *runs;       /* (max_tokens + 1) runs of consecutive tokens of a sequence */
};

static void attention_avx512(void *arg, int ith, int nth);
static void attention_avx2(void *arg, int ith, int nth);
static void attention_portable(void *arg, int ith, int nth);

static void *xalloc(size_t n) {
    return aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
}

void fwd_free(fwd *f) {
    if (!f) return;
    free(f->x); free(f->xb); free(f->xb2); free(f->q); free(f->k); free(f->v);
    free(f->hb); free(f->hb2); free(f->att); free(f->xo);
    if (f->rope_swa != f->rope) free(f->rope_swa);
    free(f->rope); free(f->gelu);
    free(f->runs);
    free(f);
}

/* RoPE angles as llama.cpp computes them: theta_i = p * base^(-2i/d),
 * the power taken by repeated multiplication in float; then divided by
 * the frequency factor of pair i (rope_freqs) and multiplied by the
 * linear scale, each in float, when the model has them. */
static void rope_table(float *out, const model *m, int ctx, float base, float scale) {
    const int hd = m->c.head_dim;
    float theta_scale = powf(base, -2.0f / (float)hd);
    const float *ff = m->rope_freqs;
    for (int pos = 0; pos < ctx; pos++) {
        float theta = (float)pos;
        for (int i = 0; i < hd / 2; i++) {
            float t = theta;
            if (ff) t = t / ff[i];
            if (scale != 1.0f) t = scale * t;
            out[((size_t)pos * hd / 2 + i) * 2 + 0] = (float)cos((double)t);
            out[((size_t)pos * hd / 2 + i) * 2 + 1] = (float)sin((double)t);
            theta *= theta_scale;
        }
    }
}

/* GELU, tanh form, in float, as ggml writes it, with libm's tanhf as ggml
 * takes it (here and in the attention soft cap; the final soft cap, over
 * the whole vocabulary, takes tanhf_det for speed: its few ulp do not show
 * in the agreement.  A tanh of our own within
 * 4 ulp in the attention soft cap moved gemma2's log p from 1.6e-4 to
 * 1.9e-4 of llama.cpp's, the half-precision GELU amplifying last-bit
 * differences).  libm is the same for every batch, so a token's result
 * still does not depend on its batch. */
static float gelu_f32(float x) {
    const float a = 0.044715f, s = 0.79788456080286535587989211986876f;
    return 0.5f * x * (1.0f + tanhf(s * x * (1.0f + a * x * x)));
}

fwd *fwd_new(const model *m, pool *p, int max_tokens, int ctx) {
    const model_config *c = &m->c;
    fwd *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    f->m = m;
    f->p = p;
    f->max_tokens = max_tokens;
    f->ctx = ctx;
    size_t T = (size_t)max_tokens, kvd = (size_t)c->n_kv_heads * c->head_dim;
    int nth = p ? pool_threads(p) : 1;
    f->x = xalloc(T * c->dim);
    f->xb = xalloc(T * c->dim);
    f->xb2 = xalloc(T * c->q_dim);
    f->q = xalloc(T * c->q_dim);
    f->k = xalloc(T * kvd);
    f->v = xalloc(T * kvd);
    f->hb = xalloc(T * c->hidden);
    f->hb2 = xalloc(T * c->hidden);
    f->att = xalloc((size_t)nth * ATT_RUN * ((size_t)ctx + 16 + c->head_dim));
    f->runs = malloc(((size_t)max_tokens + 1) * sizeof *f->runs);
    f->rope = xalloc((size_t)ctx * c->head_dim);
    f->xo = xalloc(T * c->dim);
    if (!f->x || !f->xb || !f->xb2 || !f->q || !f->k || !f->v || !f->hb || !f->hb2 ||
        !f->att || !f->rope || !f->xo || !f->runs) {
        fwd_free(f);
        return NULL;
    }
    const char *isa = matmul_isa();
    f->attention = !strcmp(isa, "avx512") ? attention_avx512
                 : !strcmp(isa, "avx2") ? attention_avx2 : attention_portable;
    rope_table(f->rope, m, ctx, c->rope_base, c->rope_scale);
    f->rope_swa = f->rope;
    if (c->n_swa && (c->rope_base_swa != c->rope_base || c->rope_scale_swa != c->rope_scale)) {
        if (!(f->rope_swa = xalloc((size_t)ctx * c->head_dim))) {
            fwd_free(f);
            return NULL;
        }
        rope_table(f->rope_swa, m, ctx, c->rope_base_swa, c->rope_scale_swa);
    }
    if (c->ffn_gelu) {
        /* ggml's CPU GELU: the input rounded to half precision, its GELU
         * (from a table of all halves) rounded again */
        if (!(f->gelu = malloc(65536 * sizeof *f->gelu))) {
            fwd_free(f);
            return NULL;
        }
        for (int h = 0; h < 65536; h++)
            f->gelu[h] = f32_to_fp16(gelu_f32(fp16_to_f32((uint16_t)h)));
    }
    return f;
}

/* ------------------------------------------------------------ helpers */

static void rmsnorm(float *o, const float *x, const float *w, int n, float eps) {
    double ss = 0;
    for (int j = 0; j < n; j++) ss += (double)x[j] * x[j];
    float scale = 1.0f / sqrtf((float)(ss / n) + eps);
    for (int j = 0; j < n; j++) o[j] = (x[j] * scale) * w[j];
}

static void rope(float *v, const float *cs, int n_heads, int head_dim) {
    for (int h = 0; h < n_heads; h++) {
        float *x = v + (size_t)h * head_dim;
        for (int i = 0; i < head_dim / 2; i++) {
            float c = cs[2 * i], s = cs[2 * i + 1];
            float a = x[2 * i], b = x[2 * i + 1];
            x[2 * i] = a * c - b * s;
            x[2 * i + 1] = a * s + b * c;
        }
    }
}

/* The same with pair i made of dims i and i + head_dim/2 (NEOX). */
static void rope_neox(float *v, const float *cs, int n_heads, int head_dim) {
    const int half = head_dim / 2;
    for (int h = 0; h < n_heads; h++) {
        float *x = v + (size_t)h * head_dim;
        for (int i = 0; i < half; i++) {
            float c = cs[2 * i], s = cs[2 * i + 1];
            float a = x[i], b = x[i + half];
            x[i] = a * c - b * s;
            x[i + half] = a * s + b * c;
        }
    }
}

/* Adds the bias b to one row x of width w. */
static void add_bias(float *x, const float *b, int w) {
    for (int i = 0; i < w; i++) x[i] += b[i];
}

/* RMSNorm of each head of one token's row, in place, with the heads'
 * shared weights w (head_dim). */
static void head_norm(float *v, const float *w, int n_heads, int head_dim, float eps) {
    for (int h = 0; h < n_heads; h++) {
        float *x = v + (size_t)h * head_dim;
        rmsnorm(x, x, w, head_dim, eps);
    }
}

/* ---------------------------------------------------------- attention */


typedef struct {
    fwd *f;
    kv_cache *kv;
    const int *pos;
    kv_seq *const *seqs;
    int n, layer;
    const int *runs;         /* (n_runs + 1) first token of each run; runs[n_runs] = n */
    int n_runs;
} att_job;

/* Scores of q against the keys of one block: out[p] = sum_i q[i] * K[i][p]
 * for the block's first `rows` positions.  Keys are stored transposed, so
 * the loop runs across positions.  Four partial sums over i mod 4 keep
 * four independent dependency chains in flight; they are combined as
 * (s0 + s1) + (s2 + s3), a fixed order. */
static inline void block_scores(float *restrict out, const float *restrict q,
                                const float *restrict kt, int hd, int rows) {
    float a0[KV_BLOCK] = { 0 }, a1[KV_BLOCK] = { 0 }, a2[KV_BLOCK] = { 0 }, a3[KV_BLOCK] = { 0 };
    int i = 0;
    for (; i + 4 <= hd; i += 4)
        for (int p = 0; p < KV_BLOCK; p++) {
            a0[p] += q[i] * kt[(size_t)i * KV_BLOCK + p];
            a1[p] += q[i + 1] * kt[(size_t)(i + 1) * KV_BLOCK + p];
            a2[p] += q[i + 2] * kt[(size_t)(i + 2) * KV_BLOCK + p];
            a3[p] += q[i + 3] * kt[(size_t)(i + 3) * KV_BLOCK + p];
        }
    for (; i < hd; i++)
        for (int p = 0; p < KV_BLOCK; p++) a0[p] += q[i] * kt[(size_t)i * KV_BLOCK + p];
    for (int p = 0; p < rows; p++) out[p] = (a0[p] + a1[p]) + (a2[p] + a3[p]);
}

/* out[l] = sum_p a[p] * inv * V[p][off + l] for l < W, over the positions
 * of blocks b0 on: even positions in one partial sum, odd in another,
 * each in increasing p, then added.  W is a constant multiple of 8, so
 * the sums live in registers (as eight-float vectors: element-wise, the
 * same roundings). */
#define DEF_VALUE_SUM(W)                                                                   \
static inline __attribute__((always_inline)) void                                          \
value_sum##W(float *restrict out, const float *restrict a, float inv, const kv_cache *kv, \
             const kv_seq *s, int layer, size_t off, int kvd, int b0, int npos) {          \
    v8f ev[W / 8], od[W / 8];                                                              \
    for (int l = 0; l < W / 8; l++) ev[l] = od[l] = V8(0.0f);                              \
    for (int b = b0; b * KV_BLOCK < npos; b++) {                                           \
        const float *restrict vb = kv_val(kv, s->blocks[b], layer) + off;                  \
        const int p0 = b * KV_BLOCK;                                                       \
        const int rows = npos - p0 < KV_BLOCK ? npos - p0 : KV_BLOCK;                      \
        int k = 0;                                                                         \
        for (; k + 2 <= rows; k += 2) {                                                    \
            const float *restrict v0 = vb + (size_t)k * kvd, *restrict v1 = v0 + kvd;      \
            const v8f x = V8(a[p0 + k] * inv), y = V8(a[p0 + k + 1] * inv);                \
            for (int l = 0; l < W / 8; l++) {                                              \
                ev[l] += x * v8f_load(v0 + 8 * l);                                         \
                od[l] += y * v8f_load(v1 + 8 * l);                                         \
            }                                                                              \
        }                                                                                  \
        if (k < rows) {            /* the last position (even), last block only */         \
            const float *restrict v0 = vb + (size_t)k * kvd;                               \
            const v8f x = V8(a[p0 + k] * inv);                                             \
            for (int l = 0; l < W / 8; l++) ev[l] += x * v8f_load(v0 + 8 * l);             \
        }                                                                                  \
    }                                                                                      \
    for (int l = 0; l < W / 8; l++) v8f_store(out + 8 * l, ev[l] + od[l]);                 \
}
DEF_VALUE_SUM(64)
DEF_VALUE_SUM(16)
DEF_VALUE_SUM(8)

/* The same for the last w < 8 dims of a head. */
static void value_sum_tail(float *restrict out, int w, const float *restrict a, float inv,
                           const kv_cache *kv, const kv_seq *s, int layer, size_t off, int kvd,
                           int b0, int npos) {
    float ev[16] = { 0 }, od[16] = { 0 };
    int p = b0 * KV_BLOCK;
    for (; p + 2 <= npos; p += 2) {
        const float *v0 = kv_val(kv, s->blocks[p / KV_BLOCK], layer) + (size_t)(p % KV_BLOCK) * kvd + off;
        const float *v1 = kv_val(kv, s->blocks[(p + 1) / KV_BLOCK], layer) +
                          (size_t)((p + 1) % KV_BLOCK) * kvd + off;
        const float x = a[p] * inv, y = a[p + 1] * inv;
        for (int l = 0; l < w; l++) {
            ev[l] += x * v0[l];
            od[l] += y * v1[l];
        }
    }
    if (p < npos) {
        const float *v0 = kv_val(kv, s->blocks[p / KV_BLOCK], layer) + (size_t)(p % KV_BLOCK) * kvd + off;
        const float x = a[p] * inv;
        for (int l = 0; l < w; l++) ev[l] += x * v0[l];
    }
    for (int l = 0; l < w; l++) out[l] = ev[l] + od[l];
}

/* One (token, KV head) pair per job, covering the query heads that share
 * that KV head; jobs are split evenly across threads.  Compiled three
 * times (AVX-512, AVX2, portable) through the wrappers below: its loops
 * are element-wise or sequential, so every version computes the same
 * bits, and the matmul's ISA choice (LLMFS_ISA) picks the version. */
static inline __attribute__((always_inline)) void attention_body(void *arg, int ith, int nth) {
    att_job *j = arg;
    fwd *f = j->f;
    const model_config *c = &f->m->c;
    const int hd = c->head_dim, kvd = c->n_kv_heads * hd;
    const int group = c->n_heads / c->n_kv_heads;
    /* queries already scaled (q_scale) leave the scores as they are */
    const float scale = c->q_scale ? 1.0f : 1.0f / sqrtf((float)hd);
    const float cap = c->attn_softcap, inv_cap = cap ? 1.0f / cap : 0;
    const int win = f->m->layers[j->layer].swa ? c->n_swa : 0;
    const size_t stride = (size_t)f->ctx + 16 + hd;   /* one token's score row */
    float *att0 = f->att + (size_t)ith * ATT_RUN * stride;
    int total = j->n_runs * c->n_kv_heads;
    /* interleaved, so that early (short) and late (long) positions of a
     * prefill chunk spread evenly over the threads */
    for (int job = ith; job < total; job += nth) {
        const int r = job / c->n_kv_heads, g = job % c->n_kv_heads;
        const int t0 = j->runs[r], tn = j->runs[r + 1] - t0;
        const kv_seq *s = j->seqs[t0];
        const int nblk = (j->pos[t0 + tn - 1] + 1 + KV_BLOCK - 1) / KV_BLOCK;
        /* a local layer's query at p reads positions lo = p - win + 1 on,
         * from the block that holds lo */
#define WIN_LO(p) (win && (p) + 1 > win ? (p) + 1 - win : 0)
        const int blo = WIN_LO(j->pos[t0]) / KV_BLOCK;
        for (int h = g * group; h < (g + 1) * group; h++) {
            /* scores, block by block, for the run's tokens together: each
             * key block is read once from cache for all of them */
            for (int b = blo; b < nblk; b++) {
                const float *kt = kv_key(j->kv, s->blocks[b], j->layer) + (size_t)g * hd * KV_BLOCK;
                for (int u = 0; u < tn; u++) {
                    const int npos = j->pos[t0 + u] + 1;
                    if (b * KV_BLOCK >= npos || b < WIN_LO(npos - 1) / KV_BLOCK) continue;
                    const int rows = npos - b * KV_BLOCK < KV_BLOCK ? npos - b * KV_BLOCK : KV_BLOCK;
                    block_scores(att0 + u * stride + b * KV_BLOCK,
                                 f->q + (size_t)(t0 + u) * c->q_dim + (size_t)h * hd, kt, hd, rows);
                }
            }
            for (int u = 0; u < tn; u++) {
                const int t = t0 + u, npos = j->pos[t] + 1;
                const int lo = WIN_LO(npos - 1), b0 = lo / KV_BLOCK;
                float *att = att0 + u * stride;
                /* soft cap first, then the scale, as llama.cpp orders them */
                if (cap)
                    for (int p = lo; p < npos; p++) att[p] = tanhf(att[p] * inv_cap) * cap;
                /* the scaled scores and the largest of them, as eight
                 * running maxima (every order finds the same value, up to
                 * the sign of a zero, which att[p] - mx does not see) */
                v8f m8 = V8(-INFINITY);
                int p = lo;
                for (; p + 8 <= npos; p += 8) {
                    v8f a = v8f_load(att + p) * V8(scale);
                    v8f_store(att + p, a);
                    m8 = v8f_sel(a > m8, a, m8);
                }
                float mx = -INFINITY;
                for (; p < npos; p++) {
                    att[p] *= scale;
                    mx = att[p] > mx ? att[p] : mx;
                }
                for (int l = 0; l < 8; l++) mx = m8[l] > mx ? m8[l] : mx;
                for (p = lo; p + 8 <= npos; p += 8) {
                    v8f_store(att + p, v8f_load(att + p) - V8(mx));
                    expf_det8(att + p, att + p);
                }
                for (; p < npos; p++) att[p] = expf_det(att[p] - mx);
                float sum = 0;
                for (p = lo; p < npos; p++) sum += att[p];
                float inv = 1.0f / sum;
                /* the value sums run over whole blocks: the positions of
                 * b0's block before the window weigh nothing */
                for (int p = b0 * KV_BLOCK; p < lo; p++) att[p] = 0;
                /* weighted sum of values: even and odd positions in two
                 * partial sums (two dependency chains), then added; 16 or
                 * 64 output dims at a time, so the sums stay in registers
                 * while the positions stream past */
                float *restrict o = f->xb2 + (size_t)t * c->q_dim + (size_t)h * hd;
                int i0 = 0;
                for (; i0 + 64 <= hd; i0 += 64)
                    value_sum64(o + i0, att, inv, j->kv, s, j->layer, (size_t)g * hd + i0, kvd, b0,
                                npos);
                for (; i0 + 16 <= hd; i0 += 16)
                    value_sum16(o + i0, att, inv, j->kv, s, j->layer, (size_t)g * hd + i0, kvd, b0,
                                npos);
                for (; i0 + 8 <= hd; i0 += 8)
                    value_sum8(o + i0, att, inv, j->kv, s, j->layer, (size_t)g * hd + i0, kvd, b0,
                               npos);
                if (i0 < hd)
                    value_sum_tail(o + i0, hd - i0, att, inv, j->kv, s, j->layer,
                                   (size_t)g * hd + i0, kvd, b0, npos);
            }
        }
    }
#undef WIN_LO
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq")))
static void attention_avx512(void *arg, int ith, int nth) { attention_body(arg, ith, nth); }
__attribute__((target("avx2")))
static void attention_avx2(void *arg, int ith, int nth) { attention_body(arg, ith, nth); }
static void attention_portable(void *arg, int ith, int nth) { attention_body(arg, ith, nth); }

/* --------------------------------------------------------- the pass */

/* ------------------------------------------------ per-token stages */

enum { ST_NORM, ST_ROPE_STORE, ST_ADD_NORM, ST_SWIGLU, ST_ADD };

/* The element-wise and per-token work between the matrix products, over
 * a range of tokens per thread (results do not depend on the split). */
typedef struct {
    fwd *f;
    kv_cache *kv;
    const int *pos;
    kv_seq *const *seqs;
    int n, layer, stage;
    const float *w;          /* the norm weights of ST_NORM / ST_ADD_NORM */
    const float *pw;         /* of ST_ADD_NORM / ST_ADD: RMSNorm weights of the sublayer's
                                output before it is added (Gemma), or NULL */
    const model_layer *L;    /* the layer (biases and head norms of ST_ROPE_STORE) */
} tok_job;

static void tok_worker(void *arg, int ith, int nth) {
    const tok_job *j = arg;
    fwd *f = j->f;
    const model_config *c = &f->m->c;
    const int dim = c->dim, hd = c->head_dim, kvd = c->n_kv_heads * hd, H = c->hidden;
    const int t0 = (int)((long)j->n * ith / nth), t1 = (int)((long)j->n * (ith + 1) / nth);
    for (int t = t0; t < t1; t++) {
        float *x = f->x + (size_t)t * dim, *xb = f->xb + (size_t)t * dim;
        switch (j->stage) {
        case ST_ADD_NORM:
        case ST_ADD:
            if (j->pw) rmsnorm(xb, xb, j->pw, dim, c->norm_eps);
            for (int i = 0; i < dim; i++) x[i] += xb[i];
            if (j->stage == ST_ADD) break;
            /* fall through */
        case ST_NORM:
            rmsnorm(xb, x, j->w, dim, c->norm_eps);
            break;
        case ST_SWIGLU: {
            float *g = f->hb + (size_t)t * H, *u = f->hb2 + (size_t)t * H;
            if (f->gelu) {
                /* as ggml's geglu: GELU by its half-precision table within
                 * (-10, 10), 0 below, the identity above */
                for (int i = 0; i < H; i++) {
                    float x = g[i];
                    g[i] = x <= -10.0f ? 0.0f
                         : x >= 10.0f ? x * u[i]
                         : fp16_to_f32(f->gelu[f32_to_fp16(x)]) * u[i];
                }
            } else {
                int i = 0;
                for (; i + 8 <= H; i += 8) {
                    float e[8];
                    v8f gv = v8f_load(g + i);
                    v8f_store(e, -gv);
                    expf_det8(e, e);
                    v8f_store(g + i, gv / (V8(1.0f) + v8f_load(e)) * v8f_load(u + i));
                }
                for (; i < H; i++) g[i] = g[i] / (1.0f + expf_det(-g[i])) * u[i];
            }
            break;
        }
        case ST_ROPE_STORE: {
            const int p = j->pos[t];
            const model_layer *L = j->L;
            const float *cs = (L->swa ? f->rope_swa : f->rope) + (size_t)p * hd;
            float *q = f->q + (size_t)t * c->q_dim, *k = f->k + (size_t)t * kvd;
            if (L->bq) add_bias(q, L->bq, c->q_dim);
            if (L->bk) add_bias(k, L->bk, kvd);
            if (L->bv) add_bias(f->v + (size_t)t * kvd, L->bv, kvd);
            if (L->q_norm) head_norm(q, L->q_norm, c->n_heads, hd, c->norm_eps);
            if (L->k_norm) head_norm(k, L->k_norm, c->n_kv_heads, hd, c->norm_eps);
            if (c->rope_neox) {
                rope_neox(q, cs, c->n_heads, hd);
                rope_neox(k, cs, c->n_kv_heads, hd);
            } else {
                rope(q, cs, c->n_heads, hd);
                rope(k, cs, c->n_kv_heads, hd);
            }
            if (c->q_scale)
                for (int i = 0; i < c->q_dim; i++) q[i] *= c->q_scale;
            int b = j->seqs[t]->blocks[p / KV_BLOCK], slot = p % KV_BLOCK;
            float *kt = kv_key(j->kv, b, j->layer);
            for (int i = 0; i < kvd; i++) kt[(size_t)i * KV_BLOCK + slot] = k[i];
            memcpy(kv_val(j->kv, b, j->layer) + (size_t)slot * kvd, f->v + (size_t)t * kvd,
                   (size_t)kvd * sizeof(float));
            break;
        }
        }
    }
}

static void run_tokens(fwd *f, tok_job *j, int stage, const float *w, const float *pw) {
    j->stage = stage;
    j->w = w;
    j->pw = pw;
    /* a few tokens are not worth waking the other threads for */
    if (f->p && j->n >= 8) pool_run(f->p, tok_worker, j);
    else tok_worker(j, 0, 1);
}

/* --------------------------------------------------------- the pass */

void fwd_run(fwd *f, kv_cache *kv, const int *tokens, const int *pos, kv_seq *const *seqs,
             int n, const int *out_row, float *logits) {
    const model *m = f->m;
    const model_config *c = &m->c;
    const int dim = c->dim;
    tok_job tj = { f, kv, pos, seqs, n, 0, 0, NULL, NULL, NULL };

    /* runs of up to ATT_RUN consecutive positions of one sequence: their
     * attention reads the same keys, so it is computed together */
    int n_runs = 0;
    for (int t = 0; t < n; t++)
        if (t == 0 || seqs[t] != seqs[t - 1] || pos[t] != pos[t - 1] + 1 ||
            t - f->runs[n_runs - 1] == ATT_RUN)
            f->runs[n_runs++] = t;
    f->runs[n_runs] = n;
    /* attention uses the threads only when its work outweighs waking them */
    int64_t att_work = 0;
    for (int t = 0; t < n; t++) att_work += (int64_t)(pos[t] + 1) * c->q_dim;
    const int att_parallel = f->p && att_work >= 64 * 1024;

    /* token embeddings */
    for (int t = 0; t < n; t++)
        quant_dequant_row(m->tok_embd.type,
                          (const char *)m->tok_embd.data + (size_t)tokens[t] * m->tok_embd.row_bytes,
                          f->x + (size_t)t * dim, dim);
    if (c->embd_scale)
        for (size_t i = 0; i < (size_t)n * dim; i++) f->x[i] *= c->embd_scale;
    run_tokens(f, &tj, ST_NORM, m->layers[0].attn_norm, NULL);

    for (int l = 0; l < c->n_layers; l++) {
        const model_layer *L = &m->layers[l];
        tj.layer = l;
        tj.L = L;

        /* attention: (normed input in xb) projections, rope, cache, scores, output */
        float *qkv_out[3] = { f->q, f->k, f->v };
        const mat *qkv[3] = { &L->wq, &L->wk, &L->wv };
        matmul_many(f->p, 3, qkv_out, f->xb, qkv, n);
        run_tokens(f, &tj, ST_ROPE_STORE, NULL, NULL);
        att_job aj = { f, kv, pos, seqs, n, l, f->runs, n_runs };
        if (att_parallel) pool_run(f->p, f->attention, &aj);
        else f->attention(&aj, 0, 1);
        matmul(f->p, f->xb, f->xb2, &L->wo, n);

        /* feed-forward: residual and norm, gate and up, SwiGLU, down */
        run_tokens(f, &tj, ST_ADD_NORM, L->ffn_norm, L->attn_post_norm);
        float *gu_out[2] = { f->hb, f->hb2 };
        const mat *gu[2] = { &L->w1, &L->w3 };
        matmul_many(f->p, 2, gu_out, f->xb, gu, n);
        run_tokens(f, &tj, ST_SWIGLU, NULL, NULL);
        matmul(f->p, f->xb, f->hb, &L->w2, n);
        /* the residual, and the next layer's input norm */
        if (l + 1 < c->n_layers)
            run_tokens(f, &tj, ST_ADD_NORM, m->layers[l + 1].attn_norm, L->ffn_post_norm);
        else
            run_tokens(f, &tj, ST_ADD, NULL, L->ffn_post_norm);
    }

    /* classifier, only for the rows that want logits */
    int no = 0;
    for (int t = 0; t < n; t++)
        if (out_row[t] >= 0) {
            rmsnorm(f->xo + (size_t)out_row[t] * dim, f->x + (size_t)t * dim, m->out_norm, dim,
                    c->norm_eps);
            if (out_row[t] + 1 > no) no = out_row[t] + 1;
        }
    if (no) matmul(f->p, logits, f->xo, &m->output, no);
    if (no && c->final_softcap) {   /* cap * tanh(logit / cap), as llama.cpp's three steps */
        const float cap = c->final_softcap, inv = 1.0f / cap;
        for (size_t i = 0; i < (size_t)no * c->vocab; i++)
            logits[i] = tanhf_det(logits[i] * inv) * cap;
    }
}
