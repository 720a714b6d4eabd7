/* This file implements the policies of policy.h.  LRU: a list with the
 * most recently used object at the head; it admits everything and evicts
 * from the tail. */
#include "cache/policy.h"

#include <stdlib.h>

typedef struct {
    policy p;
    pol_node head;           /* sentinel: head.next is the most recent */
} lru;

static void unlink_node(pol_node *n) {
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = NULL;
}

static void push_front(lru *l, pol_node *n) {
    n->next = l->head.next;
    n->prev = &l->head;
    l->head.next->prev = n;
    l->head.next = n;
}

static void lru_insert(policy *p, pol_node *n) {
    push_front((lru *)p, n);
    p->bytes += n->bytes;
    p->count++;
}

static void lru_hit(policy *p, pol_node *n) {
    unlink_node(n);
    push_front((lru *)p, n);
}

static int lru_admit(policy *p, const pol_node *n) { return 1; }

static pol_node *lru_victim(policy *p) {
    lru *l = (lru *)p;
    return l->head.prev == &l->head ? NULL : l->head.prev;
}

static void lru_remove(policy *p, pol_node *n) {
    unlink_node(n);
    p->bytes -= n->bytes;
    p->count--;
}

static void lru_free(policy *p) { free(p); }

static const policy_ops lru_ops = {
    lru_insert, lru_hit, lru_admit, lru_victim, lru_remove, lru_free,
};

policy *policy_new(enum policy_kind kind) {
    (void)kind;              /* LRU is the only one so far */
    lru *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    l->p.ops = &lru_ops;
    l->head.next = l->head.prev = &l->head;
    return &l->p;
}
