/* The paged KV cache: a pool of fixed-size blocks, each holding the keys
 * and values of block_tokens consecutive positions for every layer.  A
 * sequence owns a table of block ids; position p lives in block
 * blocks[p / block_tokens] at slot p % block_tokens.  Blocks are
 * reference-counted so that sequences can share a prefix read-only. */
#ifndef LLMFS_KV_H
#define LLMFS_KV_H
#include <stddef.h>
#include <stdint.h>

#define KV_BLOCK 16        /* positions per block */

typedef struct kv_cache {
    int block_tokens;      /* positions per block: KV_BLOCK */
    int n_blocks;
    int n_layers, kv_dim;
    float *data;           /* (n_blocks, n_layers, [K: (kv_dim, KV_BLOCK) transposed,
                              so scores vectorize across positions;
                              V: (KV_BLOCK, kv_dim)]) */
    int *refs;             /* (n_blocks) reference counts; 0 = free */
    int *free_ids;         /* stack of free block ids */
    int n_free;
} kv_cache;

typedef struct kv_seq {
    int *blocks;           /* (cap) block ids, in position order */
    int n_blocks, cap;
} kv_seq;

/* A cache of at most `bytes` (at least enough for one full context).
 * Returns 0 or -ENOMEM. */
int  kv_init(kv_cache *kv, int n_layers, int kv_dim, size_t bytes, int min_tokens);
void kv_release(kv_cache *kv);
size_t kv_block_bytes(const kv_cache *kv);

static inline float *kv_key(const kv_cache *kv, int block, int layer) {
    return kv->data + ((size_t)block * kv->n_layers + layer) * 2 * kv->block_tokens * kv->kv_dim;
}
static inline float *kv_val(const kv_cache *kv, int block, int layer) {
    return kv_key(kv, block, layer) + (size_t)kv->block_tokens * kv->kv_dim;
}

/* Makes room for positions [0, n_tokens) in s.  Returns 0, or -ENOSPC when
 * the pool has no free block (s keeps what it had). */
int  kv_seq_reserve(kv_cache *kv, kv_seq *s, int n_tokens);
/* Drops every block reference of s. */
void kv_seq_clear(kv_cache *kv, kv_seq *s);
void kv_seq_release(kv_cache *kv, kv_seq *s);
#endif
