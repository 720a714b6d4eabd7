/* The lists the policies of policy.h keep their objects on, and the
 * bookkeeping every policy does on insert and hit.  For the policy files
 * only (policy.c, policy_adaptive.c, policy_classic.c). */
#ifndef LLMFS_POLICY_LIST_H
#define LLMFS_POLICY_LIST_H
#include <stddef.h>

#include "engine/policy.h"

/* A list of resident objects with its totals; head.next is the newest. */
typedef struct {
    pol_node head;                /* sentinel */
    size_t bytes, count;          /* sums over the list */
} plist;

static inline void plist_init(plist *l) {
    l->head.next = l->head.prev = &l->head;
    l->bytes = l->count = 0;
}

static inline void plist_push(plist *l, pol_node *n) {
    n->next = l->head.next;
    n->prev = &l->head;
    l->head.next->prev = n;
    l->head.next = n;
    l->bytes += n->bytes;
    l->count++;
}

/* At the cold end (the tail). */
static inline void plist_push_tail(plist *l, pol_node *n) {
    n->next = &l->head;
    n->prev = l->head.prev;
    l->head.prev->next = n;
    l->head.prev = n;
    l->bytes += n->bytes;
    l->count++;
}

static inline void plist_del(plist *l, pol_node *n) {
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = NULL;
    l->bytes -= n->bytes;
    l->count--;
}

static inline pol_node *plist_tail(const plist *l) {
    return l->head.prev == &l->head ? NULL : l->head.prev;
}

/* 0 if l's links hold, every node is tagged queue and the totals are
 * right; -1 broken links, -2 a wrong tag, -3 wrong totals.  With ordered,
 * t_last never grows from head to tail. */
static inline int plist_check(const plist *l, int queue, int ordered) {
    size_t bytes = 0, count = 0;
    for (const pol_node *n = l->head.next; n != &l->head; n = n->next) {
        if (!n->next || !n->prev || n->next->prev != n || n->prev->next != n) return -1;
        if (n->queue != queue) return -2;
        if (ordered && n->prev != &l->head && n->t_last > n->prev->t_last) return -4;
        bytes += n->bytes;
        if (++count > l->count) return -3;
    }
    return bytes == l->bytes && count == l->count ? 0 : -3;
}

static inline void node_inserted(policy *p, pol_node *n, int queue) {
    n->t_insert = n->t_last = ++p->clock;
    n->freq = 0;
    n->queue = queue;
    p->bytes += n->bytes;
    p->count++;
}

static inline void node_hit(policy *p, pol_node *n) {
    n->t_last = ++p->clock;
    n->freq++;
}

#endif
