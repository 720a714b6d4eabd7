/* Cache replacement policies behind one table of functions, shared by the
 * response cache's tiers (cache/) and the KV prefix cache (kv.c), and
 * replayed on traces by llmfs-cachesim: the same code in all three.
 *
 * A cache embeds a pol_node in each of its objects and tells the policy
 * about inserts, hits and removals; it asks whether to admit a new object
 * and which one to evict next.  Objects have a key (for the policies that
 * remember evicted keys), a size in bytes and a cost (what producing them
 * again would take, in any unit the cache uses consistently).  The policy
 * decides by its own state only; it never frees or touches the objects'
 * payload.  Pure C: no I/O, no locks (the cache's lock covers it). */
#ifndef LLMFS_POLICY_H
#define LLMFS_POLICY_H
#include <stddef.h>
#include <stdint.h>

typedef struct pol_node {
    /* set by the cache before insert; constant while inserted */
    uint64_t key;
    size_t bytes;
    double cost;
    unsigned hint;                /* POL_HINT_* the cache knows, or 0 */
    /* the policy's own */
    struct pol_node *prev, *next;
    uint64_t t_insert, t_last;    /* policy clock at insert and last hit */
    uint32_t freq;                /* hits since insert */
    int queue;                    /* which list the node is on */
    double prio;                  /* priority-ordered policies */
    size_t heap;                  /* position in a heap */
    double w_last;                /* policy's now at insert or last hit */
    float gap;                    /* mean seconds between its uses (0: unknown) */
    unsigned char back;           /* it came back after an eviction */
    unsigned char trend;          /* its last gap was shorter than the mean before it */
} pol_node;

/* What a cache may know about an object: a prefix's partial last KV block
 * is almost never asked for again (its prompt goes on past it). */
#define POL_HINT_ONCE 1u
/* An object that was used again while the cache held it (a KV block
 * taken from the prefix cache, back after its sequence let it go). */
#define POL_HINT_REUSED 2u

typedef struct policy policy;

typedef struct policy_stats {
    const char *name;
    size_t bytes, count;          /* what is inserted now */
    size_t probation_bytes, main_bytes;   /* policies with two areas (else 0) */
    uint64_t ghost_hits;          /* inserts of keys it had evicted recently */
    /* how its decisions turned out (policies that track them, else 0): of
     * the objects it kept (promoted to its main area) and that have left,
     * how many were used again there; of those it evicted, how many came
     * back while it still remembered them */
    uint64_t kept, kept_used, dropped, dropped_returned;
    /* the same over recent decisions: each count halves every window (as
     * many operations as objects held, at least 1024), so older decisions
     * weigh less and less */
    double recent_kept, recent_kept_used, recent_dropped, recent_dropped_returned;
} policy_stats;

typedef struct policy_ops {
    const char *name;
    /* n (key, bytes, cost set; not inserted) joins the cache */
    void      (*insert)(policy *p, pol_node *n);
    /* n was used again */
    void      (*hit)(policy *p, pol_node *n);
    /* 1 if an object of this key, size and cost should be inserted now */
    int       (*admit)(policy *p, uint64_t key, size_t bytes, double cost);
    /* the object to evict next (the cache then removes it with evicted =
     * 1), or NULL when empty; may reorder the policy's own lists */
    pol_node *(*victim)(policy *p);
    /* n leaves the cache: evicted (1) or dropped for another reason (0) */
    void      (*remove)(policy *p, pol_node *n, int evicted);
    void      (*get_stats)(const policy *p, policy_stats *out);
    /* 0 if every internal invariant holds, else a negative number naming
     * the first one broken (for tests) */
    int       (*check)(const policy *p);
    void      (*free)(policy *p);
    /* Policies with a model of reuse (else NULL): the probability that
     * inserted n is used again, and whether its rhythm or time of day says
     * it is due within the next `within` seconds (at p->now). */
    double    (*predict)(const policy *p, const pol_node *n);
    int       (*due)(const policy *p, const pol_node *n, double within);
} policy_ops;

struct policy {
    const policy_ops *ops;
    size_t capacity;              /* bytes the cache holds at most */
    size_t bytes, count;          /* inserted now (kept by every policy) */
    uint64_t clock;               /* policy time: one tick per insert or hit */
    /* seconds of the current operation, set by the cache before it calls
     * in: local time (policy_clock_now) in the daemon, the trace's time in
     * the simulator; 0 when unknown */
    double now;
};

/* The policy called name ("lru", ...; policy_names() lists them) for a
 * cache of capacity bytes, or NULL (unknown name, or out of memory). */
policy *policy_new(const char *name, size_t capacity);
/* The names policy_new() knows, NULL-terminated. */
const char *const *policy_names(void);
static inline void policy_free(policy *p) { if (p) p->ops->free(p); }
/* The predicted probability that n is used again, or -1 if p has no model. */
static inline double policy_predict(const policy *p, const pol_node *n) {
    return p->ops->predict ? p->ops->predict(p, n) : -1;
}
/* 1 if p's model says n is due within `within` seconds, else 0. */
static inline int policy_due(const policy *p, const pol_node *n, double within) {
    return p->ops->due ? p->ops->due(p, n, within) : 0;
}
/* Seconds since the epoch in local time (so that the time of day the
 * adaptive policy learns is the users' own), for policy.now. */
double policy_clock_now(void);
#endif
