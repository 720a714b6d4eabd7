/* This file implements the paged KV cache of kv.h: block allocation from a
 * free stack, reference counting, and the prefix cache (a hash table of
 * full blocks keyed by XXH3-128 chained over their tokens, whose cached
 * blocks no sequence references are kept and evicted by a policy.h
 * policy). */
#include "engine/kv.h"

#include <assert.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

size_t kv_block_bytes(const kv_cache *kv) {
    return (size_t)kv->n_layers * 2 * KV_BLOCK * kv->kv_dim * sizeof(float);
}

int kv_init(kv_cache *kv, int n_layers, int kv_dim, size_t bytes, int min_tokens) {
    memset(kv, 0, sizeof *kv);
    kv->n_layers = n_layers;
    kv->kv_dim = kv_dim;
    size_t bb = kv_block_bytes(kv);
    size_t n = bytes / bb;
    size_t need = ((size_t)min_tokens + KV_BLOCK - 1) / KV_BLOCK;
    if (n < need) n = need;
    if (n < 1) n = 1;
    if (n > (size_t)1 << 28) return -ENOMEM;
    kv->n_blocks = (int)n;
    kv->table_size = 2;
    while ((size_t)kv->table_size < 2 * n) kv->table_size *= 2;
    kv->data = aligned_alloc(64, (n * bb + 63) / 64 * 64);
    kv->refs = calloc(n, sizeof *kv->refs);
    kv->free_ids = malloc(n * sizeof *kv->free_ids);
    kv->hash = calloc(n, sizeof *kv->hash);
    kv->registered = calloc(n, 1);
    kv->pn = calloc(n, sizeof *kv->pn);
    kv->reused = calloc(n, 1);
    kv->pol = policy_new("lru", n);
    kv->table = malloc((size_t)kv->table_size * sizeof(int));
    if (!kv->data || !kv->refs || !kv->free_ids || !kv->hash || !kv->registered ||
        !kv->pn || !kv->reused || !kv->pol || !kv->table) {
        kv_release(kv);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) kv->free_ids[i] = (int)(n - 1 - i);
    kv->n_free = (int)n;
    for (int i = 0; i < kv->table_size; i++) kv->table[i] = -1;
    return 0;
}

void kv_release(kv_cache *kv) {
    free(kv->data);
    free(kv->refs);
    free(kv->free_ids);
    free(kv->hash);
    free(kv->registered);
    free(kv->pn);
    free(kv->reused);
    policy_free(kv->pol);
    free(kv->table);
    memset(kv, 0, sizeof *kv);
}

void kv_enable_prefix(kv_cache *kv, int on) { kv->prefix = on; }
int kv_available(const kv_cache *kv) { return kv->n_free + kv->n_cached; }
int kv_in_use(const kv_cache *kv) { return kv->n_blocks - kv->n_free - kv->n_cached; }

int kv_set_policy(kv_cache *kv, const char *name) {
    if (kv->n_cached) return -EBUSY;
    policy *p = policy_new(name, (size_t)kv->n_blocks);
    if (!p) {
        const char *const *n = policy_names();
        while (*n && strcmp(*n, name)) n++;
        return *n ? -ENOMEM : -EINVAL;
    }
    policy_free(kv->pol);
    kv->pol = p;
    return 0;
}

/* ------------------------------------------------------- cached blocks */

/* b (registered, just unreferenced) joins the cached blocks.  Every block
 * has the same cost: a deeper block takes longer to recompute (attention
 * over a longer prefix), but evicting a block also strands every cached
 * block after it, so a prefix's head is worth at least its leaves; the
 * release order (leaves first) carries the rest. */
static void cache_put(kv_cache *kv, int b) {
    pol_node *n = &kv->pn[b];
    memset(n, 0, sizeof *n);
    n->key = kv->hash[b].lo;
    n->bytes = 1;
    n->cost = 1;
    n->hint = kv->reused[b] ? POL_HINT_REUSED : 0;
    kv->pol->now = policy_clock_now();
    kv->pol->ops->insert(kv->pol, n);
    kv->n_cached++;
}

/* b leaves the cached blocks: taken by a sequence, or evicted. */
static void cache_take(kv_cache *kv, int b, int evicted) {
    kv->pol->now = policy_clock_now();
    kv->pol->ops->remove(kv->pol, &kv->pn[b], evicted);
    kv->n_cached--;
}

/* ---------------------------------------------------------- hash table */

static int slot_of(const kv_cache *kv, kv_hash h) {
    return (int)(h.lo & (uint64_t)(kv->table_size - 1));
}

static int table_find(const kv_cache *kv, kv_hash h) {
    for (int i = slot_of(kv, h);; i = (i + 1) & (kv->table_size - 1)) {
        int b = kv->table[i];
        if (b < 0) return -1;
        if (kv->hash[b].lo == h.lo && kv->hash[b].hi == h.hi) return b;
    }
}

static void table_insert(kv_cache *kv, int b) {
    int i = slot_of(kv, kv->hash[b]);
    while (kv->table[i] >= 0) i = (i + 1) & (kv->table_size - 1);
    kv->table[i] = b;
    kv->registered[b] = 1;
}

/* Linear-probing deletion by backward shift: no tombstones. */
static void table_remove(kv_cache *kv, int b) {
    int mask = kv->table_size - 1, i = slot_of(kv, kv->hash[b]);
    while (kv->table[i] != b) i = (i + 1) & mask;
    kv->table[i] = -1;
    for (int j = (i + 1) & mask; kv->table[j] >= 0; j = (j + 1) & mask) {
        int home = slot_of(kv, kv->hash[kv->table[j]]);
        /* move j's entry into the hole at i if its home is not in (i, j] */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            kv->table[i] = kv->table[j];
            kv->table[j] = -1;
            i = j;
        }
    }
    kv->registered[b] = 0;
}

/* ------------------------------------------------------------ blocks */

static int block_take(kv_cache *kv) {
    if (kv->n_free) return kv->free_ids[--kv->n_free];
    if (kv->n_cached) kv->pol->now = policy_clock_now();
    pol_node *v = kv->n_cached ? kv->pol->ops->victim(kv->pol) : NULL;
    if (!v) return -1;
    int b = (int)(v - kv->pn);     /* the policy's choice among the cached */
    cache_take(kv, b, 1);
    table_remove(kv, b);
    kv->reused[b] = 0;
    kv->evictions++;
    return b;
}

static void block_ref(kv_cache *kv, int b) {
    if (kv->refs[b]++ == 0 && kv->registered[b]) cache_take(kv, b, 0);
}

static void block_unref(kv_cache *kv, int b) {
    if (--kv->refs[b]) return;
    if (kv->registered[b]) cache_put(kv, b);
    else kv->free_ids[kv->n_free++] = b;
}

static int grow_table(kv_seq *s, int need) {
    if (need <= s->cap) return 0;
    int cap = s->cap ? s->cap : 8;
    while (cap < need) cap *= 2;
    int *b = realloc(s->blocks, (size_t)cap * sizeof *b);
    if (!b) return -ENOMEM;
    s->blocks = b;
    s->cap = cap;
    return 0;
}

int kv_seq_reserve(kv_cache *kv, kv_seq *s, int n_tokens) {
    int need = (n_tokens + KV_BLOCK - 1) / KV_BLOCK;
    if (need <= s->n_blocks) return 0;
    if (need - s->n_blocks > kv_available(kv)) return -ENOSPC;
    if (grow_table(s, need)) return -ENOMEM;
    while (s->n_blocks < need) {
        int id = block_take(kv);
        kv->refs[id] = 1;
        s->blocks[s->n_blocks++] = id;
    }
    return 0;
}

void kv_seq_clear(kv_cache *kv, kv_seq *s) {
    int had = s->n_blocks;
    /* the last blocks first, so that a prefix's head is evicted last */
    for (int i = s->n_blocks - 1; i >= 0; i--) block_unref(kv, s->blocks[i]);
    s->n_blocks = 0;
    s->n_hashed = 0;
    memset(&s->chain, 0, sizeof s->chain);
    /* only the cache's owner (the thread that steps the engine) gives
     * blocks back; a sequence without blocks may be freed elsewhere */
    if (had) assert(kv_check(kv) == 0);
}

void kv_seq_release(kv_cache *kv, kv_seq *s) {
    kv_seq_clear(kv, s);
    free(s->blocks);
    memset(s, 0, sizeof *s);
}

void kv_get_stats(const kv_cache *kv, kv_stats *o) {
    memset(o, 0, sizeof *o);
    o->blocks_total = kv->n_blocks;
    o->blocks_used = kv_in_use(kv);
    o->blocks_cached = kv->n_cached;
    o->evictions = kv->evictions;
    o->block_bytes = kv_block_bytes(kv);
    if (kv->pol) kv->pol->ops->get_stats(kv->pol, &o->policy);
}

int kv_check(const kv_cache *kv) {
    int registered = 0, cached = 0;
    for (int b = 0; b < kv->n_blocks; b++) {
        if (kv->refs[b] < 0) return -1;
        if (kv->registered[b]) {
            registered++;
            if (!kv->refs[b]) cached++;
            if (table_find(kv, kv->hash[b]) != b) return -2;
        }
    }
    if (kv->n_free < 0 || kv->n_free > kv->n_blocks) return -3;
    for (int i = 0; i < kv->n_free; i++) {
        int b = kv->free_ids[i];
        if (b < 0 || b >= kv->n_blocks || kv->refs[b] || kv->registered[b]) return -4;
    }
    int in_table = 0;
    for (int i = 0; i < kv->table_size; i++)
        if (kv->table[i] >= 0) {
            if (kv->table[i] >= kv->n_blocks || !kv->registered[kv->table[i]]) return -5;
            in_table++;
        }
    if (in_table != registered) return -6;
    if (cached != kv->n_cached || (kv->pol && kv->pol->count != (size_t)cached)) return -7;
    if (kv_in_use(kv) < 0) return -8;
    if (kv->pol && kv->pol->ops->check(kv->pol)) return -9;
    return 0;
}

/* ------------------------------------------------------------ prefixes */

/* The key of the block that follows `prev` and holds tokens[0..KV_BLOCK). */
static kv_hash chain_hash(kv_hash prev, const int *tokens) {
    uint8_t buf[16 + KV_BLOCK * 4];
    memcpy(buf, &prev.lo, 8);
    memcpy(buf + 8, &prev.hi, 8);
    for (int i = 0; i < KV_BLOCK; i++) {
        uint32_t t = (uint32_t)tokens[i];
        buf[16 + 4 * i] = (uint8_t)t;            /* little-endian, the same everywhere */
        buf[17 + 4 * i] = (uint8_t)(t >> 8);
        buf[18 + 4 * i] = (uint8_t)(t >> 16);
        buf[19 + 4 * i] = (uint8_t)(t >> 24);
    }
    XXH128_hash_t h = XXH3_128bits(buf, sizeof buf);
    kv_hash r = { h.low64, h.high64 };
    return r;
}

int kv_seq_match(kv_cache *kv, kv_seq *s, const int *tokens, int max_tokens) {
    if (!kv->prefix || s->n_blocks) return 0;
    int nb = max_tokens / KV_BLOCK;
    kv_hash h = { 0, 0 };
    for (int i = 0; i < nb; i++) {
        kv_hash next = chain_hash(h, tokens + i * KV_BLOCK);
        int b = table_find(kv, next);
        if (b < 0 || grow_table(s, s->n_blocks + 1)) break;
        block_ref(kv, b);
        kv->reused[b] = 1;
        s->blocks[s->n_blocks++] = b;
        h = next;
    }
    s->n_hashed = s->n_blocks;
    s->chain = h;
    return s->n_blocks * KV_BLOCK;
}

void kv_seq_publish(kv_cache *kv, kv_seq *s, const int *tokens, int n_computed) {
    if (!kv->prefix) return;
    int full = n_computed / KV_BLOCK;
    if (full > s->n_blocks) full = s->n_blocks;
    for (int i = s->n_hashed; i < full; i++) {
        kv_hash h = chain_hash(s->chain, tokens + i * KV_BLOCK);
        int b = s->blocks[i];
        if (!kv->registered[b] && table_find(kv, h) < 0) {
            kv->hash[b] = h;
            table_insert(kv, b);
        }
        s->chain = h;
        s->n_hashed = i + 1;
    }
}
