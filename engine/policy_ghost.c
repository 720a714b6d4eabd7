/* The ghost store of policy_ghost.h: entries live in one array that
 * grows, freed ones chained for reuse; the index over them is open
 * addressing with linear probing and deletion by backward shift. */
#include "engine/policy_ghost.h"

#include <stdlib.h>
#include <string.h>

/* A key's 32-bit hash; its home slot is the hash's low bits.  A slot
 * holds the hash (high half) and the entry index + 1 (low half), so that
 * probes and deletion's shifts never read the entries. */
static uint32_t ghost_hash(uint64_t key) {
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdull;
    key ^= key >> 33;
    key *= 0xc4ceb9fe1a85ec53ull;
    key ^= key >> 33;
    return (uint32_t)key;
}

#define SLOT(h, idx) ((uint64_t)(h) << 32 | ((uint64_t)(idx) + 1))
#define SLOT_IDX(s) ((uint32_t)(s) - 1)
#define SLOT_HOME(g, s) ((size_t)((s) >> 32) & (g)->mask)

void glist_init(glist *l, int id) {
    l->head = l->tail = GNIL;
    l->bytes = l->count = 0;
    l->id = id;
}

void ghost_release(ghost *g) {
    free(g->e);
    free(g->slot);
    memset(g, 0, sizeof *g);
}

uint32_t ghost_find(const ghost *g, uint64_t key) {
    if (!g->slot) return GNIL;
    uint32_t h = ghost_hash(key);
    for (size_t i = h & g->mask;; i = (i + 1) & g->mask) {
        uint64_t s = g->slot[i];
        if (!s) return GNIL;
        if ((uint32_t)(s >> 32) == h && g->e[SLOT_IDX(s)].key == key) return SLOT_IDX(s);
    }
}

static void ghost_place(ghost *g, uint32_t idx) {
    uint32_t h = ghost_hash(g->e[idx].key);
    size_t i = h & g->mask;
    while (g->slot[i]) i = (i + 1) & g->mask;
    g->slot[i] = SLOT(h, idx);
}

/* Room for one more live entry in the index and the entry array; 0 or -1. */
static int ghost_reserve(ghost *g) {
    if ((g->live + 1) * 2 > g->mask + 1 || !g->slot) {
        size_t nsl = g->slot ? (g->mask + 1) * 2 : 64;
        uint64_t *s = calloc(nsl, sizeof *s);
        if (!s) return -1;
        free(g->slot);
        g->slot = s;
        g->mask = nsl - 1;
        for (uint32_t i = 0; i < g->n; i++)
            if (g->e[i].list) ghost_place(g, i);
    }
    if (g->free == GNIL && g->n == g->cap) {
        if (g->cap >= GNIL / 2) return -1;
        uint32_t nc = g->cap ? g->cap * 2 : 64;
        gentry *e = realloc(g->e, (size_t)nc * sizeof *e);
        if (!e) return -1;
        g->e = e;
        g->cap = nc;
    }
    return 0;
}

void ghost_init(ghost *g) {
    memset(g, 0, sizeof *g);
    g->free = GNIL;
}

static void ghost_unindex(ghost *g, uint32_t idx) {
    uint32_t h = ghost_hash(g->e[idx].key);
    size_t i = h & g->mask;
    while (g->slot[i] != SLOT(h, idx)) i = (i + 1) & g->mask;
    for (size_t j = i;;) {
        j = (j + 1) & g->mask;
        if (!g->slot[j]) break;
        size_t k = SLOT_HOME(g, g->slot[j]);
        /* the entry at j may move to i if its home is not in (i, j] */
        if (i <= j ? (k <= i || k > j) : (k <= i && k > j)) {
            g->slot[i] = g->slot[j];
            i = j;
        }
    }
    g->slot[i] = 0;
}

/* Takes entry idx off list l and frees it. */
void ghost_del(ghost *g, glist *l, uint32_t idx) {
    gentry *e = &g->e[idx];
    if (e->prev != GNIL) g->e[e->prev].next = e->next;
    else l->head = e->next;
    if (e->next != GNIL) g->e[e->next].prev = e->prev;
    else l->tail = e->prev;
    l->bytes -= e->bytes;
    l->count--;
    ghost_unindex(g, idx);
    e->list = 0;
    e->next = g->free;
    g->free = idx;
    g->live--;
}

/* Remembers key at the head of l (forgetting an older entry of the same
 * key first).  Silently remembers nothing without memory. */
void ghost_add(ghost *g, glist *l, glist *others[], uint64_t key, size_t bytes) {
    uint32_t old = ghost_find(g, key);
    if (old != GNIL) {
        glist *ol = l;
        for (int i = 0; others[i]; i++)
            if (others[i]->id == g->e[old].list) ol = others[i];
        ghost_del(g, ol, old);
    }
    if (ghost_reserve(g)) return;
    uint32_t idx;
    if (g->free != GNIL) {
        idx = g->free;
        g->free = g->e[idx].next;
    } else {
        idx = g->n++;
    }
    gentry *e = &g->e[idx];
    e->key = key;
    e->bytes = bytes;
    e->seq = g->seq++;
    e->list = l->id;
    e->prev = GNIL;
    e->next = l->head;
    if (l->head != GNIL) g->e[l->head].prev = idx;
    else l->tail = idx;
    l->head = idx;
    l->bytes += bytes;
    l->count++;
    g->live++;
    ghost_place(g, idx);
}

/* 0 if list l is consistent and every entry is found by its key; -1 if
 * not. */
int glist_check(const ghost *g, const glist *l) {
    size_t bytes = 0, count = 0;
    uint32_t prev = GNIL;
    for (uint32_t i = l->head; i != GNIL; prev = i, i = g->e[i].next) {
        if (i >= g->n || g->e[i].list != l->id || g->e[i].prev != prev) return -1;
        if (ghost_find(g, g->e[i].key) != i) return -1;
        bytes += g->e[i].bytes;
        if (++count > l->count) return -1;
    }
    return prev == l->tail && bytes == l->bytes && count == l->count ? 0 : -1;
}

/* 0 if the index holds exactly the live entries; -1 if not. */
int ghost_check(const ghost *g) {
    size_t in_index = 0, free_n = 0;
    for (size_t i = 0; g->slot && i <= g->mask; i++)
        if (g->slot[i]) {
            uint32_t idx = SLOT_IDX(g->slot[i]);
            if (idx >= g->n || !g->e[idx].list) return -1;
            if ((uint32_t)(g->slot[i] >> 32) != ghost_hash(g->e[idx].key)) return -1;
            in_index++;
        }
    for (uint32_t i = g->free; i != GNIL; i = g->e[i].next) {
        if (i >= g->n || g->e[i].list || ++free_n > g->n) return -1;
    }
    return in_index == g->live && free_n + g->live == g->n ? 0 : -1;
}

/* ------------------------------------------------------ recent-keys filter */

static size_t gf_bucket_of(const gfilter *f, uint64_t key, uint32_t *fp) {
    uint64_t h = key * 0x9e3779b97f4a7c15ull;
    h ^= h >> 29;
    *fp = (uint32_t)(h >> 32) | 1;
    return (size_t)h & f->mask;
}

#define GF_SEQ 0xffffffu

/* How many keys were added after the one stored with seq (a slot's). */
static uint32_t gf_age(const gfilter *f, uint32_t seq) { return (f->seq - seq) & GF_SEQ; }

static int gf_live(const gfilter *f, uint32_t seq) { return gf_age(f, seq) <= f->keep; }

void gfilter_release(gfilter *f) {
    free(f->b);
    memset(f, 0, sizeof *f);
}

int gfilter_keep(gfilter *f, size_t keep) {
    size_t nb = 1;
    if (keep >= GF_SEQ / 2) return -1;
    if (f->b && 2 * keep <= (f->mask + 1) * GF_WAYS) {   /* fits: no sizing (called per eviction) */
        f->keep = keep;
        return 0;
    }
    while (nb * GF_WAYS < 2 * keep) nb *= 2;
    if (f->b && nb <= f->mask + 1) {
        f->keep = keep;
        return 0;
    }
    gfilter n = {0};
    n.b = aligned_alloc(sizeof *n.b, nb * 2 * sizeof *n.b);
    if (!n.b) return -1;
    memset(n.b, 0, nb * 2 * sizeof *n.b);
    /* room for twice as many: a cache still filling up grows it rarely */
    n.mask = nb * 2 - 1;
    n.seq = f->seq;
    n.keep = keep;
    /* the keys themselves are not stored, so they cannot be filed again
     * under the new mask: the grown filter starts empty */
    gfilter_release(f);
    *f = n;
    return 0;
}

long gfilter_find(gfilter *f, uint64_t key, int forget, uint32_t *stamp, uint8_t *tag) {
    if (!f->b) return -1;
    if (f->pend && f->pend_key == key) {
        if (stamp) *stamp = f->pend_stamp;
        if (tag) *tag = (uint8_t)(f->pend_seq >> 24);
        if (forget) f->pend = 0;
        return (long)gf_age(f, f->pend_seq) - 1;
    }
    uint32_t fp;
    gf_bucket *b = &f->b[gf_bucket_of(f, key, &fp)];
    for (int w = 0; w < GF_WAYS; w++)
        if (b->fp[w] == fp && gf_live(f, b->seq[w])) {
            long age = (long)gf_age(f, b->seq[w]) - 1;
            if (stamp) *stamp = b->stamp[w];
            if (tag) *tag = (uint8_t)(b->seq[w] >> 24);
            if (forget) b->fp[w] = 0;
            return age;
        }
    return -1;
}

/* Files the pending key in its bucket: in a free or forgotten way, else
 * in place of the bucket's oldest. */
static void gf_file(gfilter *f) {
    uint32_t fp;
    gf_bucket *b = &f->b[gf_bucket_of(f, f->pend_key, &fp)];
    int slot = 0;
    uint32_t oldest = 0;
    for (int w = 0; w < GF_WAYS; w++) {
        if (!b->fp[w] || !gf_live(f, b->seq[w])) { slot = w; break; }
        uint32_t age = gf_age(f, b->seq[w]);
        if (age > oldest) { oldest = age; slot = w; }
    }
    b->fp[slot] = fp;
    b->stamp[slot] = f->pend_stamp;
    b->seq[slot] = f->pend_seq;
    f->pend = 0;
}

void gfilter_add(gfilter *f, uint64_t key, uint32_t stamp, uint8_t tag) {
    if (!f->b) return;
    if (f->pend) gf_file(f);
    f->pend_key = key;
    f->pend_stamp = stamp;
    f->pend_seq = (f->seq++ & GF_SEQ) | (uint32_t)tag << 24;
    f->pend = 1;
    gfilter_prefetch(f, key);
}

void gfilter_prefetch(const gfilter *f, uint64_t key) {
    uint32_t fp;
    if (f->b) __builtin_prefetch(&f->b[gf_bucket_of(f, key, &fp)], 1);
}
