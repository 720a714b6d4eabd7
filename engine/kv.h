/* The paged KV cache: a pool of fixed-size blocks, each holding the keys
 * and values of KV_BLOCK consecutive positions for every layer.  A
 * sequence owns a table of block ids; position p lives in block
 * blocks[p / KV_BLOCK] at slot p % KV_BLOCK.
 *
 * Prefix sharing (vLLM's automatic prefix caching): a full block is keyed
 * by a chained hash of all the tokens up to its end, and registered in a
 * table; a sequence whose tokens start the same way takes those blocks
 * read-only instead of computing them.  Blocks are reference-counted; an
 * unreferenced registered block stays cached, in the replacement policy's
 * care (policy.h: LRU unless kv_set_policy chose another), and is evicted
 * only when a block is needed and none is free.  The policy sees a block
 * when no sequence references it any more, with whether it was reused
 * from the cache as a hint; a sequence releases its blocks last first, so
 * a prefix's head is the most recent and its leaves go first.  Invariants: a block with refs > 0
 * is in no list and not in the policy; with refs == 0 it is on the free
 * stack if unregistered, in the policy if registered. */
#ifndef LLMFS_KV_H
#define LLMFS_KV_H
#include <stddef.h>
#include <stdint.h>

#include "engine/policy.h"

#define KV_BLOCK 16        /* positions per block */

typedef struct { uint64_t lo, hi; } kv_hash;

typedef struct kv_cache {
    int n_blocks;
    int n_layers, kv_dim;
    float *data;           /* (n_blocks, n_layers, [K: (kv_dim, KV_BLOCK) transposed,
                              so scores vectorize across positions;
                              V: (KV_BLOCK, kv_dim)]) */
    int *refs;             /* (n_blocks) reference counts */
    int *free_ids;         /* stack of free, unregistered block ids */
    int n_free;
    /* prefix cache */
    int prefix;            /* 1: share full blocks between sequences */
    kv_hash *hash;         /* (n_blocks) key of a registered block */
    uint8_t *registered;   /* (n_blocks) 1 if in the table */
    policy *pol;           /* the cached unreferenced blocks */
    pol_node *pn;          /* (n_blocks) each block's place in it */
    uint8_t *reused;       /* (n_blocks) taken from the cache since it was registered */
    int n_cached;          /* registered blocks with refs == 0 (== pol->count) */
    int *table;            /* (table_size) open addressing: block id or -1 */
    int table_size;        /* a power of two, >= 2 * n_blocks */
    uint64_t evictions;
} kv_cache;

typedef struct kv_seq {
    int *blocks;           /* (cap) block ids, in position order */
    int n_blocks, cap;
    int n_hashed;          /* leading blocks whose chain hash is computed */
    kv_hash chain;         /* hash through block n_hashed - 1 */
} kv_seq;

/* A cache of at most `bytes` (at least enough for min_tokens positions).
 * Returns 0 or -ENOMEM. */
int  kv_init(kv_cache *kv, int n_layers, int kv_dim, size_t bytes, int min_tokens);
void kv_release(kv_cache *kv);
size_t kv_block_bytes(const kv_cache *kv);
/* Turns prefix sharing on (it is off after kv_init). */
void kv_enable_prefix(kv_cache *kv, int on);
/* Chooses the replacement policy of cached blocks by name (policy.h) while
 * none is cached.  Returns 0, -EBUSY (blocks are cached), -EINVAL (no
 * such policy) or -ENOMEM. */
int  kv_set_policy(kv_cache *kv, const char *name);
/* Blocks that could be handed out now: free plus evictable cached. */
int  kv_available(const kv_cache *kv);

/* The cache's figures, for stats. */
typedef struct kv_stats {
    int blocks_total, blocks_used;
    int blocks_cached;           /* unreferenced blocks kept for prefix reuse */
    uint64_t evictions;          /* cached blocks reclaimed for new ones */
    size_t block_bytes;
    policy_stats policy;         /* the cached blocks' replacement policy */
} kv_stats;
void kv_get_stats(const kv_cache *kv, kv_stats *out);
/* 0 if every invariant holds (reference counts, the free stack, the
 * registered blocks and their table, the policy's count and its own
 * check), else a negative number naming the first one broken.  Costs a
 * pass over the blocks; kv_seq_clear runs it under assert when it gives
 * blocks back. */
int  kv_check(const kv_cache *kv);
/* Blocks referenced by some sequence. */
int  kv_in_use(const kv_cache *kv);

static inline float *kv_key(const kv_cache *kv, int block, int layer) {
    return kv->data + ((size_t)block * kv->n_layers + layer) * 2 * KV_BLOCK * kv->kv_dim;
}
static inline float *kv_val(const kv_cache *kv, int block, int layer) {
    return kv_key(kv, block, layer) + (size_t)KV_BLOCK * kv->kv_dim;
}

/* Makes room for positions [0, n_tokens) in s.  Returns 0, or -ENOSPC when
 * the pool has no free block (s keeps what it had). */
int  kv_seq_reserve(kv_cache *kv, kv_seq *s, int n_tokens);
/* Drops every block reference of s. */
void kv_seq_clear(kv_cache *kv, kv_seq *s);
void kv_seq_release(kv_cache *kv, kv_seq *s);

/* For an empty s: takes the cached blocks that hold the longest prefix of
 * tokens[0..max_tokens) made of whole blocks.  Returns the number of
 * positions covered (a multiple of KV_BLOCK). */
int  kv_seq_match(kv_cache *kv, kv_seq *s, const int *tokens, int max_tokens);
/* Registers s's blocks that are full (positions below n_computed are
 * computed), so that later sequences can share them. */
void kv_seq_publish(kv_cache *kv, kv_seq *s, const int *tokens, int n_computed);
#endif
