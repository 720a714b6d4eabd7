/* A LLaMA-family model in memory: its hyperparameters, taken from the
 * file's metadata and never assumed, and its weights, which point into the
 * file's mapping wherever the stored layout is usable as it is.  Loads
 * GGUF (the architectures of arch.h) and llama2.c
 * .bin checkpoints. */
#ifndef LLMFS_MODEL_H
#define LLMFS_MODEL_H
#include <stdint.h>
#include "engine/gguf.h"
#include "engine/matmul.h"
#include "engine/tokenizer.h"

typedef struct {
    int dim;            /* embedding width */
    int hidden;         /* feed-forward width */
    int n_layers;
    int n_heads;
    int n_kv_heads;     /* < n_heads: grouped-query attention */
    int head_dim;       /* dim / n_heads, unless the metadata sets it apart */
    int q_dim;          /* n_heads * head_dim: width of the queries and of the
                           attention output (dim, unless head_dim is set apart) */
    int vocab;
    int ctx;            /* context length the model was trained for */
    float rope_base;    /* RoPE theta */
    float rope_scale;   /* linear RoPE scaling: positions are multiplied by it
                           (1 / rope.scaling.factor; 1 when unscaled) */
    int rope_neox;      /* RoPE rotates dims (i, i + head_dim/2), else (2i, 2i+1) */
    float norm_eps;     /* RMSNorm epsilon */
    /* Gemma and sliding windows (all 0 for the other architectures) */
    float embd_scale;   /* token embeddings are multiplied by it (sqrt(dim)), or 0 */
    float q_scale;      /* queries are multiplied by it after RoPE and the scores
                           are not scaled; 0: scores scaled by 1/sqrt(head_dim) */
    float attn_softcap; /* scores become cap * tanh(score / cap) before the
                           softmax, or 0 */
    float final_softcap;/* the same for the classifier's logits, or 0 */
    int ffn_gelu;       /* the gate goes through GELU (tanh form, as llama.cpp
                           computes it through half precision) instead of SiLU */
    int n_swa;          /* sliding window: a local layer's query at position p
                           attends to positions p - n_swa + 1 .. p; 0: none */
    float rope_base_swa;  /* RoPE theta and linear scale of local layers */
    float rope_scale_swa;
} model_config;

typedef struct {
    const float *attn_norm;  /* (dim) */
    mat wq;                  /* (n_heads * head_dim, dim) */
    mat wk, wv;              /* (n_kv_heads * head_dim, dim) */
    const float *bq;         /* (n_heads * head_dim) query bias, or NULL */
    const float *bk, *bv;    /* (n_kv_heads * head_dim) key and value biases, or NULL */
    const float *q_norm;     /* (head_dim) RMSNorm weights of each query head, or NULL */
    const float *k_norm;     /* (head_dim) the same for each key head, or NULL */
    mat wo;                  /* (dim, n_heads * head_dim) */
    const float *ffn_norm;   /* (dim) */
    mat w1;                  /* gate (hidden, dim) */
    mat w2;                  /* down (dim, hidden) */
    mat w3;                  /* up (hidden, dim) */
    const float *attn_post_norm; /* (dim) RMSNorm of the attention output before
                                    its residual add (Gemma), or NULL */
    const float *ffn_post_norm;  /* (dim) the same for the feed-forward output */
    int swa;                 /* a local (sliding-window) layer: c.n_swa, and
                                RoPE with rope_base_swa / rope_scale_swa */
} model_layer;

typedef struct model {
    model_config c;
    mat tok_embd;            /* (vocab, dim) rows looked up by token id */
    model_layer *layers;     /* (n_layers) */
    const float *out_norm;   /* (dim) */
    mat output;              /* (vocab, dim) classifier */
    const float *rope_freqs; /* (head_dim / 2) divisors of the RoPE frequencies
                                (Llama 3's rope_freqs), or NULL */
    tokenizer *tok;          /* owned; NULL if the file has none */
    char arch[32];           /* general.architecture: "llama", "qwen2", ... */
    char name[128];          /* general.name or the file name */
    int wtype;               /* the dominant weight type (for stats) */
    uint64_t n_params;
    uint64_t weight_bytes;   /* bytes of weights read per token */
    /* storage */
    gguf *g;                 /* GGUF mapping, or NULL */
    void *map; size_t map_size; /* llama2.c mapping, or NULL */
    float **owned;           /* buffers converted at load time */
    int n_owned;
} model;

/* Loads a model.  For llama2.c checkpoints (.bin), tokenizer_path names the
 * tokenizer .bin; it may be NULL for GGUF (which carries its own).  Returns
 * 0 or a negative errno with a one-line reason in err.  Caller frees. */
int model_load(const char *path, const char *tokenizer_path, model **out,
               char *err, size_t errlen);
/* MODEL_LOAD_MMAP: keep GGUF weights in the file mapping, shared with the
 * page cache.  By default a GGUF of 16 MiB or more is read into huge-page
 * memory instead (gguf_open_flags, GGUF_LOAD_COPY): decode reads every
 * weight once per token and gains about 8% from the fewer TLB misses. */
#define MODEL_LOAD_MMAP 1
int model_load_flags(const char *path, const char *tokenizer_path, int flags, model **out,
                     char *err, size_t errlen);
/* The same from caller-owned bytes (fuzzing); the buffer must outlive it. */
int model_load_gguf_buf(const void *buf, size_t size, model **out, char *err, size_t errlen);
int model_load_llama2c_buf(const void *buf, size_t size, model **out, char *err, size_t errlen);
void model_free(model *m);
#endif
