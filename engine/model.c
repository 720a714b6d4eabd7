/* This file implements model loading (model.h): GGUF files of the
 * architectures in arch.h and llama2.c float32 checkpoints.  Hyperparameters come from the
 * metadata; every tensor's type and shape is checked against them before
 * the forward pass may touch it.  Small GGUF models and llama2.c
 * checkpoints are used in place in the file mapping; GGUF files of 16 MiB
 * or more are read into huge pages (faster), unless MODEL_LOAD_MMAP. */
#include "engine/model.h"
#include "engine/arch.h"
#include "engine/errbuf.h"
#include "engine/quant.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>


void model_free(model *m) {
    if (!m) return;
    for (int i = 0; i < m->n_owned; i++) free(m->owned[i]);
    free(m->owned);
    free(m->layers);
    tokenizer_free(m->tok);
    gguf_free(m->g);
    if (m->map) munmap(m->map, m->map_size);
    free(m);
}

static float *own(model *m, size_t n) {
    float **o = realloc(m->owned, (size_t)(m->n_owned + 1) * sizeof *o);
    if (!o) return NULL;
    m->owned = o;
    float *p = malloc(n * sizeof(float));
    if (p) m->owned[m->n_owned++] = p;
    return p;
}

static int check_config(const model_config *c, char *err, size_t errlen) {
    if (c->dim <= 0 || c->hidden <= 0 || c->n_layers <= 0 || c->n_heads <= 0 ||
        c->n_kv_heads <= 0 || c->vocab <= 0 || c->ctx <= 0)
        return errbuf_set(err, errlen, -EINVAL,
                    "bad model shape: dim %d, hidden %d, layers %d, heads %d, kv heads %d, "
                    "vocab %d, context %d", c->dim, c->hidden, c->n_layers, c->n_heads,
                    c->n_kv_heads, c->vocab, c->ctx);
    if (c->dim > 65536 || c->hidden > 262144 || c->n_layers > 1024 || c->vocab > 1 << 22 ||
        c->n_heads > 1024)
        return errbuf_set(err, errlen, -EINVAL, "model shape too large to be plausible");
    if (c->n_heads % c->n_kv_heads || c->head_dim <= 0 || c->head_dim > 4096 ||
        (c->head_dim & 1) || c->q_dim != c->n_heads * c->head_dim)
        return errbuf_set(err, errlen, -EINVAL,
                    "bad attention shape: dim %d, %d heads, %d kv heads, head size %d", c->dim,
                    c->n_heads, c->n_kv_heads, c->head_dim);
    if (!(c->norm_eps > 0 && c->norm_eps < 1) || !(c->rope_base > 1))
        return errbuf_set(err, errlen, -EINVAL, "bad rms epsilon %g or rope base %g",
                    c->norm_eps, c->rope_base);
    if (!(c->rope_scale > 0 && c->rope_scale <= 1024))
        return errbuf_set(err, errlen, -EINVAL, "bad rope scaling factor %g", 1 / c->rope_scale);
    return 0;
}

static void tally(model *m, const mat *w) {
    m->n_params += (uint64_t)w->rows * (uint64_t)w->cols;
    m->weight_bytes += (uint64_t)w->rows * w->row_bytes;
}

/* ---------------------------------------------------------------- GGUF */

static int meta_int(const gguf *g, const char *key, int required, int dflt, int *out,
                    char *err, size_t errlen) {
    int64_t v;
    int rc = gguf_get_i64(g, key, &v);
    if (rc == -ENOENT && !required) { *out = dflt; return 0; }
    if (rc == -ENOENT) return errbuf_set(err, errlen, -EINVAL, "missing metadata key %s", key);
    if (rc || v < 0 || v > INT32_MAX)
        return errbuf_set(err, errlen, -EINVAL, "metadata key %s has a bad value", key);
    *out = (int)v;
    return 0;
}

static int meta_f32(const gguf *g, const char *key, float dflt, float *out, char *err,
                    size_t errlen) {
    int rc = gguf_get_f32(g, key, out);
    if (rc == -ENOENT) { *out = dflt; return 0; }
    if (rc) return errbuf_set(err, errlen, -EINVAL, "metadata key %s is not a number", key);
    return 0;
}

/* Finds a 2-D (or 1-D) tensor and checks its type and shape. */
static int get_mat(const gguf *g, const char *name, int rows, int cols, mat *w, char *err,
                   size_t errlen) {
    const gguf_tensor *t = gguf_find_tensor(g, name);
    if (!t) return errbuf_set(err, errlen, -EINVAL, "missing tensor %s", name);
    if (t->ne[0] != (uint64_t)cols || t->ne[1] != (uint64_t)rows || t->ne[2] != 1 ||
        t->ne[3] != 1)
        return errbuf_set(err, errlen, -EINVAL, "tensor %s has shape [%llu, %llu], expected [%d, %d]",
                    name, (unsigned long long)t->ne[0], (unsigned long long)t->ne[1], cols, rows);
    w->data = t->data;
    w->type = (int)t->type;
    w->rows = rows;
    w->cols = cols;
    w->row_bytes = quant_row_bytes(w->type, cols);
    return 0;
}

/* Rows [r0, r0 + n) of w, in place. */
static mat row_slice(const mat *w, int r0, int n) {
    mat s = *w;
    s.data = (const char *)w->data + (size_t)r0 * w->row_bytes;
    s.rows = n;
    return s;
}

/* A norm vector as float32 (converted into an owned buffer if stored otherwise). */
static int get_vec(model *m, const char *name, int n, const float **out, char *err,
                   size_t errlen) {
    mat w = { 0 };
    int rc = get_mat(m->g, name, 1, n, &w, err, errlen);
    if (rc) return rc;
    if (w.type == TYPE_F32 && ((uintptr_t)w.data & 3) == 0) { *out = w.data; return 0; }
    float *p = own(m, (size_t)n);
    if (!p) return errbuf_set(err, errlen, -ENOMEM, "out of memory");
    quant_dequant_row(w.type, w.data, p, n);
    *out = p;
    return 0;
}

/* NAME.SUFFIX, the key of an architecture's hyperparameter. */
static const char *akey(char *buf, size_t n, const char *arch, const char *suffix) {
    snprintf(buf, n, "%s.%s", arch, suffix);
    return buf;
}

/* A 1-D float tensor if the file has it: *out stays NULL if it does not. */
static int get_opt_vec(model *m, const char *name, int n, const float **out, char *err,
                       size_t errlen) {
    *out = NULL;
    if (!gguf_find_tensor(m->g, name)) return 0;
    return get_vec(m, name, n, out, err, errlen);
}

/* RoPE scaling from the metadata, as llama.cpp reads it: rope.scaling.type
 * (default linear) and rope.scaling.factor (or the older
 * rope.scale_linear) divide the positions; type none never scales; and,
 * for architectures that have it, rope_freqs.weight divides each
 * frequency (Llama 3.1's long-context scaling, precomputed by the
 * converter).  Other scaling types are refused by name. */
static int load_rope_scaling(model *m, const arch_info *ai, char *err, size_t errlen) {
    const gguf *g = m->g;
    model_config *c = &m->c;
    char key[96];
    gguf_str type = { "linear", 6 };
    int rc = gguf_get_str(g, akey(key, sizeof key, ai->name, "rope.scaling.type"), &type);
    if (rc == -EINVAL) return errbuf_set(err, errlen, -EINVAL, "metadata key %s is not a string", key);
    if (!gguf_str_eq(type, "linear") && !gguf_str_eq(type, "none"))
        return errbuf_set(err, errlen, -EINVAL,
                          "RoPE scaling '%.*s' is not supported (linear and none are)",
                          (int)(type.len > 32 ? 32 : type.len), type.ptr);
    float factor = 0, attn = 1;
    if ((rc = meta_f32(g, akey(key, sizeof key, ai->name, "rope.scaling.factor"), 0, &factor, err,
                       errlen)))
        return rc;
    if (factor == 0 &&
        (rc = meta_f32(g, akey(key, sizeof key, ai->name, "rope.scale_linear"), 0, &factor, err,
                       errlen)))
        return rc;
    if ((rc = meta_f32(g, akey(key, sizeof key, ai->name, "rope.scaling.attn_factor"), 1, &attn,
                       err, errlen)))
        return rc;
    if (attn != 1)
        return errbuf_set(err, errlen, -EINVAL, "RoPE attention factor %g is not supported", attn);
    if (!(factor >= 0 && factor < 1e6))
        return errbuf_set(err, errlen, -EINVAL, "bad rope scaling factor %g", factor);
    c->rope_scale = factor == 0 || gguf_str_eq(type, "none") ? 1.0f : 1.0f / factor;
    if (gguf_find_tensor(g, "rope_factors_long.weight") || gguf_find_tensor(g, "rope_factors_short.weight"))
        return errbuf_set(err, errlen, -EINVAL,
                          "LongRoPE (rope_factors_long/short, Phi-3 128k) is not supported");
    const gguf_tensor *t = ai->rope_freqs ? gguf_find_tensor(g, "rope_freqs.weight") : NULL;
    if (!t) return 0;
    int half = c->head_dim / 2;
    if (t->n_dims != 1 || t->ne[0] != (uint64_t)half)
        return errbuf_set(err, errlen, -EINVAL,
                          "tensor rope_freqs.weight has %llu values, expected %d (head size / 2)",
                          (unsigned long long)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]), half);
    if ((rc = get_vec(m, "rope_freqs.weight", half, &m->rope_freqs, err, errlen))) return rc;
    for (int i = 0; i < half; i++)
        if (!(m->rope_freqs[i] > 0 && m->rope_freqs[i] < 1e30f))
            return errbuf_set(err, errlen, -EINVAL, "rope_freqs.weight[%d] is %g, not a positive factor",
                              i, m->rope_freqs[i]);
    return 0;
}

/* Gemma's scalings and soft caps and the sliding window, as llama.cpp
 * reads them (arch.h): the window's size and layer pattern, and the RoPE
 * of the local layers.  Runs after the layers are allocated. */
static int load_gemma_swa(model *m, const arch_info *ai, char *err, size_t errlen) {
    const gguf *g = m->g;
    model_config *c = &m->c;
    char key[96];
    int rc;
    if (ai->gemma) {
        c->embd_scale = sqrtf((float)c->dim);
        c->ffn_gelu = 1;
        c->q_scale = c->n_layers == ai->wide_q_layers ? 1.0f / sqrtf((float)(c->dim / c->n_heads))
                                                      : 1.0f / sqrtf((float)c->head_dim);
        if ((rc = meta_f32(g, akey(key, sizeof key, ai->name, "attn_logit_softcapping"),
                           ai->attn_softcap, &c->attn_softcap, err, errlen)) ||
            (rc = meta_f32(g, akey(key, sizeof key, ai->name, "final_logit_softcapping"),
                           ai->final_softcap, &c->final_softcap, err, errlen)))
            return rc;
        if (!ai->attn_softcap) c->attn_softcap = 0;   /* gemma3 has none */
        if (!(c->attn_softcap >= 0 && c->attn_softcap < 1e30f) ||
            (ai->attn_softcap && !(c->attn_softcap > 0)))
            return errbuf_set(err, errlen, -EINVAL, "bad attention logit soft cap %g",
                              c->attn_softcap);
        if (!(c->final_softcap >= 0 && c->final_softcap < 1e30f) ||
            (ai->final_softcap && !(c->final_softcap > 0)))
            return errbuf_set(err, errlen, -EINVAL, "bad final logit soft cap %g",
                              c->final_softcap);
    }
    c->rope_base_swa = c->rope_base;
    c->rope_scale_swa = c->rope_scale;
    if (ai->swa == SWA_NONE) return 0;
    int window = 0, pattern = 0;
    int dflt = ai->swa == SWA_GEMMA2 ? 4096 : 0;
    if ((rc = meta_int(g, akey(key, sizeof key, ai->name, "attention.sliding_window"), 0, dflt,
                       &window, err, errlen)))
        return rc;
    if (ai->swa == SWA_GEMMA2 && window == 0)
        return errbuf_set(err, errlen, -EINVAL, "metadata key %s is 0: no position could be attended",
                          key);
    if (window == 0) return 0;
    if (ai->swa != SWA_ALL &&
        (rc = meta_int(g, akey(key, sizeof key, ai->name, "attention.sliding_window_pattern"), 0,
                       ai->swa == SWA_GEMMA2 ? 2 : 6, &pattern, err, errlen)))
        return rc;
    c->n_swa = window;
    for (int l = 0; l < c->n_layers; l++)   /* pattern 0: every layer is local */
        m->layers[l].swa = pattern == 0 || l % pattern < pattern - 1;
    if (ai->swa == SWA_GEMMA3) {
        c->rope_base_swa = 10000.0f;
        c->rope_scale_swa = 1;
    }
    if (ai->swa != SWA_ALL &&
        (rc = meta_f32(g, akey(key, sizeof key, ai->name, "rope.freq_base_swa"), c->rope_base_swa,
                       &c->rope_base_swa, err, errlen)))
        return rc;
    if (!(c->rope_base_swa > 1))
        return errbuf_set(err, errlen, -EINVAL, "bad rope base %g of the local layers",
                          c->rope_base_swa);
    return 0;
}

static int load_gguf(model *m, char *err, size_t errlen) {
    const gguf *g = m->g;
    gguf_str s;
    if (gguf_get_str(g, "general.architecture", &s))
        return errbuf_set(err, errlen, -EINVAL, "missing general.architecture");
    const arch_info *ai = arch_find(s);
    if (!ai) {
        char names[128];
        arch_names(names, sizeof names);
        return errbuf_set(err, errlen, -EINVAL, "architecture '%.*s' is not supported (supported: %s)",
                    (int)(s.len > 32 ? 32 : s.len), s.ptr, names);
    }
    snprintf(m->arch, sizeof m->arch, "%s", ai->name);
    if (!gguf_get_str(g, "general.name", &s))
        snprintf(m->name, sizeof m->name, "%.*s", (int)(s.len > 100 ? 100 : s.len), s.ptr);
    model_config *c = &m->c;
    const char *A = ai->name;
    char key[96];
    int rc, rope_dims = 0, head_v = 0;
    if ((rc = meta_int(g, akey(key, sizeof key, A, "embedding_length"), 1, 0, &c->dim, err, errlen)) ||
        (rc = meta_int(g, akey(key, sizeof key, A, "feed_forward_length"), 1, 0, &c->hidden, err,
                       errlen)) ||
        (rc = meta_int(g, akey(key, sizeof key, A, "block_count"), 1, 0, &c->n_layers, err, errlen)) ||
        (rc = meta_int(g, akey(key, sizeof key, A, "attention.head_count"), 1, 0, &c->n_heads, err,
                       errlen)) ||
        (rc = meta_int(g, akey(key, sizeof key, A, "attention.head_count_kv"), 0, c->n_heads,
                       &c->n_kv_heads, err, errlen)) ||
        (rc = meta_int(g, akey(key, sizeof key, A, "context_length"), 1, 0, &c->ctx, err, errlen)) ||
        (rc = meta_f32(g, akey(key, sizeof key, A, "rope.freq_base"), 10000.0f, &c->rope_base, err,
                       errlen)) ||
        (rc = meta_f32(g, akey(key, sizeof key, A, "attention.layer_norm_rms_epsilon"), 1e-5f,
                       &c->norm_eps, err, errlen)))
        return rc;
    const gguf_tensor *te = gguf_find_tensor(g, "token_embd.weight");
    if (!te) return errbuf_set(err, errlen, -EINVAL, "missing tensor token_embd.weight");
    if (te->ne[1] > INT32_MAX) return errbuf_set(err, errlen, -EINVAL, "vocabulary too large");
    c->vocab = (int)te->ne[1];
    /* the head size: dim / heads unless attention.key_length says otherwise */
    int derived = c->n_heads > 0 && c->dim % c->n_heads == 0 ? c->dim / c->n_heads : 0;
    if ((rc = meta_int(g, akey(key, sizeof key, A, "attention.key_length"), 0, derived,
                       &c->head_dim, err, errlen)) ||
        (rc = meta_int(g, akey(key, sizeof key, A, "attention.value_length"), 0, c->head_dim,
                       &head_v, err, errlen)))
        return rc;
    if (head_v != c->head_dim)
        return errbuf_set(err, errlen, -EINVAL, "key head size %d and value head size %d differ",
                          c->head_dim, head_v);
    /* (check_config refuses these bounds with a message; no overflow first) */
    c->q_dim = c->n_heads > 0 && c->n_heads <= 1024 && c->head_dim > 0 && c->head_dim <= 4096
             ? c->n_heads * c->head_dim : 0;
    c->rope_neox = ai->rope_neox;
    c->rope_scale = 1;
    if ((rc = check_config(c, err, errlen))) return rc;
    if ((rc = meta_int(g, akey(key, sizeof key, A, "rope.dimension_count"), 0, c->head_dim,
                       &rope_dims, err, errlen)))
        return rc;
    if (rope_dims != c->head_dim)
        return errbuf_set(err, errlen, -EINVAL, "partial RoPE (%d of %d dims) is not supported",
                    rope_dims, c->head_dim);
    if ((rc = load_rope_scaling(m, ai, err, errlen)) || (rc = check_config(c, err, errlen)))
        return rc;
    int kvd = c->n_kv_heads * c->head_dim;
    if ((rc = get_mat(g, "token_embd.weight", c->vocab, c->dim, &m->tok_embd, err, errlen)))
        return rc;
    if (gguf_find_tensor(g, "output.weight") && ai->gemma != 2) {   /* gemma2: always tied */
        if ((rc = get_mat(g, "output.weight", c->vocab, c->dim, &m->output, err, errlen)))
            return rc;
    } else {
        m->output = m->tok_embd;   /* tied embeddings */
    }
    if (gguf_find_tensor(g, "output.bias"))
        return errbuf_set(err, errlen, -EINVAL, "a classifier bias (output.bias) is not supported");
    tally(m, &m->output);
    if ((rc = get_vec(m, "output_norm.weight", c->dim, &m->out_norm, err, errlen))) return rc;
    m->layers = calloc((size_t)c->n_layers, sizeof *m->layers);
    if (!m->layers) return errbuf_set(err, errlen, -ENOMEM, "out of memory");
    for (int l = 0; l < c->n_layers; l++) {
        model_layer *L = &m->layers[l];
        char n[64];
#define MAT(field, suffix, r, cc)                                               \
        snprintf(n, sizeof n, "blk.%d." suffix ".weight", l);                   \
        if ((rc = get_mat(g, n, r, cc, &L->field, err, errlen))) return rc;
        snprintf(n, sizeof n, "blk.%d.attn_qkv.weight", l);
        if (gguf_find_tensor(g, n)) {      /* fused: rows of Q, then K, then V */
            mat qkv;
            if ((rc = get_mat(g, n, c->q_dim + 2 * kvd, c->dim, &qkv, err, errlen))) return rc;
            L->wq = row_slice(&qkv, 0, c->q_dim);
            L->wk = row_slice(&qkv, c->q_dim, kvd);
            L->wv = row_slice(&qkv, c->q_dim + kvd, kvd);
        } else {
            MAT(wq, "attn_q", c->q_dim, c->dim)
            MAT(wk, "attn_k", kvd, c->dim)
            MAT(wv, "attn_v", kvd, c->dim)
        }
        MAT(wo, "attn_output", c->dim, c->q_dim)
        MAT(w2, "ffn_down", c->dim, c->hidden)
        if (ai->fused_gate_up) {           /* rows of the gate, then of the up projection */
            mat gu;
            snprintf(n, sizeof n, "blk.%d.ffn_up.weight", l);
            if ((rc = get_mat(g, n, 2 * c->hidden, c->dim, &gu, err, errlen))) return rc;
            L->w1 = row_slice(&gu, 0, c->hidden);
            L->w3 = row_slice(&gu, c->hidden, c->hidden);
        } else {
            MAT(w1, "ffn_gate", c->hidden, c->dim)
            MAT(w3, "ffn_up", c->hidden, c->dim)
        }
#undef MAT
        const mat *ws[] = { &L->wq, &L->wk, &L->wv, &L->wo, &L->w1, &L->w2, &L->w3 };
        for (int i = 0; i < 7; i++) tally(m, ws[i]);
        /* vectors: required (need) or loaded only if present */
#define VEC(field, suffix, len, need)                                           \
        snprintf(n, sizeof n, "blk.%d." suffix ".weight", l);                   \
        if ((rc = (need) ? get_vec(m, n, len, &L->field, err, errlen)           \
                         : get_opt_vec(m, n, len, &L->field, err, errlen)))     \
            return rc;
        VEC(attn_norm, "attn_norm", c->dim, 1)
        VEC(ffn_norm, "ffn_norm", c->dim, 1)
        if (ai->gemma) {
            VEC(attn_post_norm, "post_attention_norm", c->dim, 1)
            VEC(ffn_post_norm, "post_ffw_norm", c->dim, 1)
        }
        if (ai->qk_norm) {
            VEC(q_norm, "attn_q_norm", c->head_dim, 1)
            VEC(k_norm, "attn_k_norm", c->head_dim, 1)
        }
#undef VEC
#define BIAS(field, suffix, len)                                                \
        snprintf(n, sizeof n, "blk.%d." suffix ".bias", l);                     \
        if ((rc = ai->qkv_bias ? get_vec(m, n, len, &L->field, err, errlen)     \
                               : get_opt_vec(m, n, len, &L->field, err, errlen))) \
            return rc;
        BIAS(bq, "attn_q", c->q_dim)
        BIAS(bk, "attn_k", kvd)
        BIAS(bv, "attn_v", kvd)
#undef BIAS
        static const char *const unsupported[] = { "attn_output.bias", "ffn_gate.bias",
                                                   "ffn_down.bias", "ffn_up.bias" };
        for (size_t u = 0; u < sizeof unsupported / sizeof *unsupported; u++) {
            snprintf(n, sizeof n, "blk.%d.%s", l, unsupported[u]);
            if (gguf_find_tensor(g, n))
                return errbuf_set(err, errlen, -EINVAL, "tensor %s is not supported", n);
        }
    }
    if ((rc = load_gemma_swa(m, ai, err, errlen))) return rc;
    m->wtype = m->layers[0].wq.type;
    m->n_params += (uint64_t)c->vocab * (uint64_t)c->dim * (m->output.data != m->tok_embd.data);
    if (gguf_find(g, "tokenizer.ggml.model")) {
        if ((rc = tokenizer_from_gguf(g, &m->tok, err, errlen))) return rc;
        if (tokenizer_n_vocab(m->tok) != c->vocab)
            return errbuf_set(err, errlen, -EINVAL, "tokenizer has %d tokens but the model %d",
                        tokenizer_n_vocab(m->tok), c->vocab);
    }
    return 0;
}

int model_load_gguf_buf(const void *buf, size_t size, model **out, char *err, size_t errlen) {
    *out = NULL;
    model *m = calloc(1, sizeof *m);
    if (!m) return -ENOMEM;
    int rc = gguf_parse(buf, size, &m->g, err, errlen);
    if (!rc) rc = load_gguf(m, err, errlen);
    if (rc) { model_free(m); return rc; }
    *out = m;
    return 0;
}

/* ------------------------------------------------------------ llama2.c */

static int load_llama2c(model *m, const uint8_t *base, size_t size, char *err, size_t errlen) {
    int32_t h[7];
    if (size < sizeof h)
        return errbuf_set(err, errlen, -EINVAL, "truncated: %zu bytes, a llama2.c header needs 28",
                    size);
    memcpy(h, base, sizeof h);
    model_config *c = &m->c;
    int shared = h[5] > 0;
    c->dim = h[0]; c->hidden = h[1]; c->n_layers = h[2]; c->n_heads = h[3];
    c->n_kv_heads = h[4]; c->vocab = h[5] > 0 ? h[5] : (h[5] == INT32_MIN ? 0 : -h[5]);
    c->ctx = h[6];
    c->rope_base = 10000.0f;
    c->rope_scale = 1;
    c->norm_eps = 1e-5f;
    c->head_dim = c->n_heads > 0 && c->dim % c->n_heads == 0 ? c->dim / c->n_heads : 0;
    c->q_dim = c->dim;
    int rc = check_config(c, err, errlen);
    if (rc) return rc;
    if (c->ctx > 1 << 20) return errbuf_set(err, errlen, -EINVAL, "context %d too large", c->ctx);
    snprintf(m->arch, sizeof m->arch, "llama");
    uint64_t D = (uint64_t)c->dim, H = (uint64_t)c->hidden, L = (uint64_t)c->n_layers;
    uint64_t V = (uint64_t)c->vocab, kvd = (uint64_t)c->n_kv_heads * c->head_dim;
    uint64_t need = V * D + L * D + L * D * D + 2 * L * D * kvd + L * D * D + L * D +
                    3 * L * D * H + D + (uint64_t)c->ctx * (uint64_t)c->head_dim;
    if (!shared) need += V * D;
    if ((size - 28) / 4 < need)
        return errbuf_set(err, errlen, -EINVAL,
                    "truncated: the header describes %llu bytes of weights, the file has %zu",
                    (unsigned long long)need * 4, size - 28);
    const float *p = (const float *)(base + 28);
    m->layers = calloc((size_t)c->n_layers, sizeof *m->layers);
    if (!m->layers) return errbuf_set(err, errlen, -ENOMEM, "out of memory");
#define TAKE_MAT(dst, r, cc) do { (dst).data = p; (dst).type = TYPE_F32; (dst).rows = (int)(r); \
        (dst).cols = (int)(cc); (dst).row_bytes = (size_t)(cc) * 4; p += (uint64_t)(r) * (cc); } while (0)
    TAKE_MAT(m->tok_embd, V, D);
    for (uint64_t l = 0; l < L; l++) { m->layers[l].attn_norm = p; p += D; }
    for (uint64_t l = 0; l < L; l++) TAKE_MAT(m->layers[l].wq, D, D);
    for (uint64_t l = 0; l < L; l++) TAKE_MAT(m->layers[l].wk, kvd, D);
    for (uint64_t l = 0; l < L; l++) TAKE_MAT(m->layers[l].wv, kvd, D);
    for (uint64_t l = 0; l < L; l++) TAKE_MAT(m->layers[l].wo, D, D);
    for (uint64_t l = 0; l < L; l++) { m->layers[l].ffn_norm = p; p += D; }
    for (uint64_t l = 0; l < L; l++) TAKE_MAT(m->layers[l].w1, H, D);
    for (uint64_t l = 0; l < L; l++) TAKE_MAT(m->layers[l].w2, D, H);
    for (uint64_t l = 0; l < L; l++) TAKE_MAT(m->layers[l].w3, H, D);
    m->out_norm = p; p += D;
    p += (uint64_t)c->ctx * (uint64_t)c->head_dim;   /* legacy freq_cis tables */
    if (shared) m->output = m->tok_embd;
    else TAKE_MAT(m->output, V, D);
#undef TAKE_MAT
    for (int l = 0; l < c->n_layers; l++) {
        model_layer *ly = &m->layers[l];
        tally(m, &ly->wq); tally(m, &ly->wk); tally(m, &ly->wv); tally(m, &ly->wo);
        tally(m, &ly->w1); tally(m, &ly->w2); tally(m, &ly->w3);
    }
    tally(m, &m->output);
    m->wtype = TYPE_F32;
    return 0;
}

int model_load_llama2c_buf(const void *buf, size_t size, model **out, char *err, size_t errlen) {
    *out = NULL;
    model *m = calloc(1, sizeof *m);
    if (!m) return -ENOMEM;
    if (((uintptr_t)buf & 3) != 0) {
        model_free(m);
        return errbuf_set(err, errlen, -EINVAL, "buffer not aligned");
    }
    int rc = load_llama2c(m, buf, size, err, errlen);
    if (rc) { model_free(m); return rc; }
    *out = m;
    return 0;
}

static int map_file(const char *path, void **map, size_t *size, char *err, size_t errlen) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errbuf_set(err, errlen, -errno, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return errbuf_set(err, errlen, -EINVAL, "%s: not a regular file", path);
    }
    if (st.st_size == 0) {
        close(fd);
        return errbuf_set(err, errlen, -EINVAL, "%s: empty file", path);
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (m == MAP_FAILED) return errbuf_set(err, errlen, -e, "%s: mmap: %s", path, strerror(e));
    *map = m;
    *size = (size_t)st.st_size;
    return 0;
}

int model_load(const char *path, const char *tokenizer_path, model **out, char *err,
               size_t errlen) {
    return model_load_flags(path, tokenizer_path, 0, out, err, errlen);
}

int model_load_flags(const char *path, const char *tokenizer_path, int flags, model **out,
                     char *err, size_t errlen) {
    *out = NULL;
    void *map = NULL;
    size_t size = 0;
    char why[512] = "";
    int rc = map_file(path, &map, &size, err, errlen);
    if (rc) return rc;
    model *m = NULL;
    if (size >= 4 && !memcmp(map, "GGUF", 4)) {
        munmap(map, size);
        m = calloc(1, sizeof *m);
        if (!m) return -ENOMEM;
        int gflags = !(flags & MODEL_LOAD_MMAP) && size >= ((size_t)16 << 20) ? GGUF_LOAD_COPY : 0;
        rc = gguf_open_flags(path, gflags, &m->g, err, errlen);
        if (rc) { model_free(m); return rc; }
        rc = load_gguf(m, why, sizeof why);
        if (!rc && !m->tok && tokenizer_path)
            rc = tokenizer_from_llama2c(tokenizer_path, m->c.vocab, &m->tok, why, sizeof why);
    } else {
        m = calloc(1, sizeof *m);
        if (!m) { munmap(map, size); return -ENOMEM; }
        m->map = map;
        m->map_size = size;
        const unsigned char *u = map;
        uint64_t hl = 0;
        for (int i = 7; size >= 9 && i >= 0; i--) hl = hl << 8 | u[i];
        if (size >= 4 && !memcmp(map, "24ka", 4)) {  /* uint32 0x616b3432 "ak42", little-endian */
            rc = errbuf_set(why, sizeof why, -EINVAL,
                      "llama2.c quantized (ak42) checkpoints are not supported; use GGUF");
        } else if (size >= 9 && u[8] == '{' && hl >= 2 && hl <= size - 8) {
            /* safetensors: a little-endian header length, then JSON */
            rc = errbuf_set(why, sizeof why, -EINVAL,
                      "a safetensors file: llmfs reads GGUF (convert it with llama.cpp's "
                      "convert_hf_to_gguf.py) or llama2.c checkpoints");
        } else {
            char how[256];
            rc = load_llama2c(m, map, size, how, sizeof how);
            if (rc == -EINVAL)
                errbuf_set(why, sizeof why, rc, "not a GGUF or llama2.c checkpoint (as llama2.c: %s)",
                           how);
            else if (rc)
                snprintf(why, sizeof why, "%s", how);
        }
        if (!rc) {
            if (!tokenizer_path)
                rc = errbuf_set(why, sizeof why, -EINVAL,
                          "a llama2.c checkpoint needs --tokenizer FILE");
            else
                rc = tokenizer_from_llama2c(tokenizer_path, m->c.vocab, &m->tok, why, sizeof why);
        }
        const char *b = strrchr(path, '/');
        snprintf(m->name, sizeof m->name, "%s", b ? b + 1 : path);
    }
    if (rc) {
        if (strncmp(why, path, strlen(path))) errbuf_set(err, errlen, rc, "%s: %s", path, why);
        else errbuf_set(err, errlen, rc, "%s", why);
        model_free(m);
        return rc;
    }
    if (!m->tok) {
        model_free(m);
        return errbuf_set(err, errlen, -EINVAL, "%s: the model has no tokenizer", path);
    }
    if (!m->name[0]) {
        const char *b = strrchr(path, '/');
        snprintf(m->name, sizeof m->name, "%s", b ? b + 1 : path);
    }
    *out = m;
    return 0;
}
