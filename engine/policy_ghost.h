/* The ghost store: keys (and sizes) of objects a policy evicted, on one
 * or more FIFO lists, found by key.  ARC keeps two lists in one store,
 * S3-FIFO and the adaptive policy one.  A ghost is advice, never needed
 * for correctness: without memory a key is simply not remembered.  For
 * the policy files only. */
#ifndef LLMFS_POLICY_GHOST_H
#define LLMFS_POLICY_GHOST_H
#include <stddef.h>
#include <stdint.h>

#define GNIL UINT32_MAX

typedef struct {
    uint64_t key;
    size_t bytes;
    uint64_t seq;                 /* the store's add count when it was added */
    uint32_t prev, next;          /* list links (GNIL ends); next chains free entries */
    int list;                     /* the glist id it is on, 0 when free */
} gentry;

typedef struct {
    uint32_t head, tail;          /* head: the most recently added */
    size_t bytes, count;
    int id;                       /* > 0, stored in the entries */
} glist;

typedef struct {
    gentry *e;                    /* (cap) entries; [0, n) ever used */
    uint32_t n, cap, free;        /* free: first free entry, GNIL if none */
    uint64_t *slot;               /* (mask + 1) key hash << 32 | entry index + 1, 0 empty */
    size_t mask, live;            /* live: entries on some list */
    uint64_t seq;                 /* keys added so far */
} ghost;

void ghost_init(ghost *g);
void ghost_release(ghost *g);
/* An empty list with id (> 0, distinct among one store's lists). */
void glist_init(glist *l, int id);
/* The entry remembering key, or GNIL. */
uint32_t ghost_find(const ghost *g, uint64_t key);
/* Remembers key at the head of l, first forgetting an entry of the same
 * key on l or on one of others (NULL-terminated, l may be among them). */
void ghost_add(ghost *g, glist *l, glist *others[], uint64_t key, size_t bytes);
/* Takes entry idx off list l and forgets it. */
void ghost_del(ghost *g, glist *l, uint32_t idx);
/* How many keys were added after entry idx. */
static inline uint64_t ghost_age(const ghost *g, uint32_t idx) { return g->seq - g->e[idx].seq - 1; }
/* 0 if list l is consistent and its entries are found by key, else -1. */
int glist_check(const ghost *g, const glist *l);
/* 0 if the index holds exactly the live entries, else -1. */
int ghost_check(const ghost *g);
#endif

/* A recent-keys filter: remembers about the last `keep` keys added
 * (keep < 2^23), in buckets of GF_WAYS fingerprints, each with the add
 * count at which it came (24 bits), a small tag and a 32-bit stamp of the
 * caller's: one cache line per bucket, for a policy that only asks "was
 * this key evicted lately, how many evictions ago, and what did I note
 * about it".  A key counts as remembered while fewer than keep keys were
 * added after it; a full bucket forgets its oldest key early, and two keys
 * share a fingerprint with odds of about 2^-32 per probe: advice, like
 * every ghost. */
#define GF_WAYS 5

typedef struct {
    uint32_t fp[GF_WAYS];         /* 0: empty */
    uint32_t seq[GF_WAYS];        /* the add count's low 24 bits | the tag << 24 */
    uint32_t stamp[GF_WAYS];      /* what the caller stored with the key */
    uint32_t pad;
} __attribute__((aligned(64))) gf_bucket;

typedef struct {
    gf_bucket *b;
    size_t mask;                  /* buckets - 1 */
    uint32_t seq;                 /* keys added so far (mod 2^32; 24 bits stored) */
    size_t keep;                  /* how many recent keys count */
    /* the last key added, filed in its bucket at the next add: its bucket
     * loads from memory meanwhile, and the policy does not wait for it */
    uint64_t pend_key;
    uint32_t pend_stamp, pend_seq;
    int pend;
} gfilter;

void gfilter_release(gfilter *f);
/* Sets how many recent keys count, growing the table for them (twice as
 * many slots); on failure the filter keeps its old size.  0 or -1. */
int gfilter_keep(gfilter *f, size_t keep);
/* How many keys were added after key, or -1 if it is not remembered;
 * with forget set, a remembered key is forgotten.  *stamp (if not NULL)
 * gets the stamp it was added with. */
long gfilter_find(gfilter *f, uint64_t key, int forget, uint32_t *stamp, uint8_t *tag);
/* Remembers key with a stamp of the caller's (the adaptive policy: the
 * second of the key's last use).  The key is filed in its bucket at the
 * next add (find sees it before then). */
void gfilter_add(gfilter *f, uint64_t key, uint32_t stamp, uint8_t tag);
/* Starts loading key's bucket, for a find or add that comes soon. */
void gfilter_prefetch(const gfilter *f, uint64_t key);
