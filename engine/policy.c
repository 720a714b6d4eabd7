/* This file implements the registry of policy.h and the LRU policy: a
 * list with the most recently used object at the head; it admits
 * everything and evicts from the tail. */
#include "engine/policy.h"
#include "engine/policy_list.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------------ LRU */

typedef struct {
    policy p;
    plist l;                 /* head.next is the most recent */
} lru;

static void lru_insert(policy *p, pol_node *n) {
    plist_push(&((lru *)p)->l, n);
    node_inserted(p, n, 0);
}

static void lru_hit(policy *p, pol_node *n) {
    lru *l = (lru *)p;
    plist_del(&l->l, n);
    plist_push(&l->l, n);
    node_hit(p, n);
}

static int lru_admit(policy *p, uint64_t key, size_t bytes, double cost) { return 1; }

static pol_node *lru_victim(policy *p) { return plist_tail(&((lru *)p)->l); }

static void lru_remove(policy *p, pol_node *n, int evicted) {
    plist_del(&((lru *)p)->l, n);
    p->bytes -= n->bytes;
    p->count--;
}

static void lru_stats(const policy *p, policy_stats *o) {
    memset(o, 0, sizeof *o);
    o->name = p->ops->name;
    o->bytes = p->bytes;
    o->count = p->count;
}

static int lru_check(const policy *p) {
    const lru *l = (const lru *)p;
    int rc = plist_check(&l->l, 0, 1);        /* recency order */
    if (rc) return rc;
    return l->l.count == p->count && l->l.bytes == p->bytes ? 0 : -5;
}

static void lru_free(policy *p) { free(p); }

static const policy_ops lru_ops = {
    "lru", lru_insert, lru_hit, lru_admit, lru_victim, lru_remove, lru_stats, lru_check, lru_free,
    NULL, NULL,
};

static policy *lru_new(size_t capacity) {
    lru *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    l->p.ops = &lru_ops;
    l->p.capacity = capacity;
    plist_init(&l->l);
    return &l->p;
}

/* ---------------------------------------------------------------- clock */

double policy_clock_now(void) {
    /* the zone's offset, looked up again when the hour changes (a
     * daylight-saving switch), per thread */
    static __thread time_t hour = -1;
    static __thread long off;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec / 3600 != hour) {
        struct tm tm;
        hour = ts.tv_sec / 3600;
        off = localtime_r(&ts.tv_sec, &tm) ? tm.tm_gmtoff : 0;
    }
    return (double)(ts.tv_sec + off) + (double)ts.tv_nsec * 1e-9;
}

/* ------------------------------------------------------------- registry */

/* policy_classic.c */
policy *policy_arc_new(size_t capacity);
policy *policy_s3fifo_new(size_t capacity);
policy *policy_gdsf_new(size_t capacity);

policy *policy_adaptive_new(size_t capacity);    /* policy_adaptive.c */

static const struct {
    const char *name;
    policy *(*make)(size_t capacity);
} registry[] = {
    {"adaptive", policy_adaptive_new},
    {"lru", lru_new},
    {"arc", policy_arc_new},
    {"s3fifo", policy_s3fifo_new},
    {"gdsf", policy_gdsf_new},
};

static const char *const names[] = {"adaptive", "lru", "arc", "s3fifo", "gdsf", NULL};

const char *const *policy_names(void) { return names; }

policy *policy_new(const char *name, size_t capacity) {
    for (size_t i = 0; i < sizeof registry / sizeof registry[0]; i++)
        if (!strcmp(registry[i].name, name)) return registry[i].make(capacity);
    return NULL;
}
