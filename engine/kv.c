/* This file implements the paged KV cache of kv.h: block allocation from a
 * free stack and reference counting.  Invariant: a block is on the free
 * stack exactly when its reference count is 0. */
#include "engine/kv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

size_t kv_block_bytes(const kv_cache *kv) {
    return (size_t)kv->n_layers * 2 * kv->block_tokens * kv->kv_dim * sizeof(float);
}

int kv_init(kv_cache *kv, int n_layers, int kv_dim, size_t bytes, int min_tokens) {
    const int block_tokens = KV_BLOCK;
    memset(kv, 0, sizeof *kv);
    kv->n_layers = n_layers;
    kv->kv_dim = kv_dim;
    kv->block_tokens = block_tokens;
    size_t bb = kv_block_bytes(kv);
    size_t n = bytes / bb;
    size_t need = ((size_t)min_tokens + block_tokens - 1) / block_tokens;
    if (n < need) n = need;
    if (n > (size_t)1 << 30) return -ENOMEM;
    kv->n_blocks = (int)n;
    kv->data = aligned_alloc(64, (n * bb + 63) / 64 * 64);
    kv->refs = calloc(n, sizeof *kv->refs);
    kv->free_ids = malloc(n * sizeof *kv->free_ids);
    if (!kv->data || !kv->refs || !kv->free_ids) { kv_release(kv); return -ENOMEM; }
    for (size_t i = 0; i < n; i++) kv->free_ids[i] = (int)(n - 1 - i);
    kv->n_free = (int)n;
    return 0;
}

void kv_release(kv_cache *kv) {
    free(kv->data);
    free(kv->refs);
    free(kv->free_ids);
    memset(kv, 0, sizeof *kv);
}

int kv_seq_reserve(kv_cache *kv, kv_seq *s, int n_tokens) {
    int need = (n_tokens + kv->block_tokens - 1) / kv->block_tokens;
    if (need <= s->n_blocks) return 0;
    if (need - s->n_blocks > kv->n_free) return -ENOSPC;
    if (need > s->cap) {
        int cap = s->cap ? s->cap : 8;
        while (cap < need) cap *= 2;
        int *b = realloc(s->blocks, (size_t)cap * sizeof *b);
        if (!b) return -ENOMEM;
        s->blocks = b;
        s->cap = cap;
    }
    while (s->n_blocks < need) {
        int id = kv->free_ids[--kv->n_free];
        kv->refs[id] = 1;
        s->blocks[s->n_blocks++] = id;
    }
    return 0;
}

void kv_seq_clear(kv_cache *kv, kv_seq *s) {
    for (int i = 0; i < s->n_blocks; i++) {
        int id = s->blocks[i];
        if (--kv->refs[id] == 0) kv->free_ids[kv->n_free++] = id;
    }
    s->n_blocks = 0;
}

void kv_seq_release(kv_cache *kv, kv_seq *s) {
    kv_seq_clear(kv, s);
    free(s->blocks);
    memset(s, 0, sizeof *s);
}
