/* This file implements the registry of policy.h and the LRU policy: a
 * list with the most recently used object at the head; it admits
 * everything and evicts from the tail. */
#include "engine/policy.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ LRU */

typedef struct {
    policy p;
    pol_node head;           /* sentinel: head.next is the most recent */
} lru;

static void unlink_node(pol_node *n) {
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = NULL;
}

static void push_front(pol_node *head, pol_node *n) {
    n->next = head->next;
    n->prev = head;
    head->next->prev = n;
    head->next = n;
}

static void lru_insert(policy *p, pol_node *n) {
    push_front(&((lru *)p)->head, n);
    n->t_insert = n->t_last = ++p->clock;
    n->freq = 0;
    p->bytes += n->bytes;
    p->count++;
}

static void lru_hit(policy *p, pol_node *n) {
    unlink_node(n);
    push_front(&((lru *)p)->head, n);
    n->t_last = ++p->clock;
    n->freq++;
}

static int lru_admit(policy *p, uint64_t key, size_t bytes, double cost) { return 1; }

static pol_node *lru_victim(policy *p) {
    lru *l = (lru *)p;
    return l->head.prev == &l->head ? NULL : l->head.prev;
}

static void lru_remove(policy *p, pol_node *n, int evicted) {
    unlink_node(n);
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
    size_t count = 0, bytes = 0;
    for (const pol_node *n = l->head.next; n != &l->head; n = n->next) {
        if (n->next->prev != n || n->prev->next != n) return -1;
        if (n != l->head.next && n->t_last > n->prev->t_last) return -2;   /* recency order */
        count++;
        bytes += n->bytes;
    }
    return count == p->count && bytes == p->bytes ? 0 : -3;
}

static void lru_free(policy *p) { free(p); }

static const policy_ops lru_ops = {
    "lru", lru_insert, lru_hit, lru_admit, lru_victim, lru_remove, lru_stats, lru_check, lru_free,
};

static policy *lru_new(size_t capacity) {
    lru *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    l->p.ops = &lru_ops;
    l->p.capacity = capacity;
    l->head.next = l->head.prev = &l->head;
    return &l->p;
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
