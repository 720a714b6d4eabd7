/* The replacement policy of a cache tier, behind a table of functions so
 * that tiers never depend on which one runs.  A tier embeds a pol_node in
 * each of its objects, tells the policy about inserts, hits and removals,
 * asks it whether to admit a new object and which one to evict next.
 * Objects have a size (bytes) and a cost (what producing them again would
 * take, in microseconds), for policies that weigh them.  Not thread-safe:
 * the tier's lock covers it. */
#ifndef LLMFS_POLICY_H
#define LLMFS_POLICY_H
#include <stddef.h>
#include <stdint.h>

typedef struct pol_node {
    struct pol_node *prev, *next;
    size_t bytes;
    double cost;
} pol_node;

typedef struct policy policy;

typedef struct policy_ops {
    void      (*insert)(policy *p, pol_node *n);
    void      (*hit)(policy *p, pol_node *n);
    /* 1 if n (not inserted yet) should be; 0 to turn it away */
    int       (*admit)(policy *p, const pol_node *n);
    /* the object to evict next, or NULL when empty (not removed) */
    pol_node *(*victim)(policy *p);
    void      (*remove)(policy *p, pol_node *n);
    void      (*free)(policy *p);
} policy_ops;

struct policy {
    const policy_ops *ops;
    size_t bytes;            /* sum of the inserted objects' bytes */
    size_t count;
};

enum policy_kind { POLICY_LRU };

/* A new empty policy, or NULL when out of memory. */
policy *policy_new(enum policy_kind kind);
static inline void policy_free(policy *p) { if (p) p->ops->free(p); }
#endif
