/* The adaptive policy ("adaptive" in policy.h's registry): what it keeps
 * is what its own history says will be asked for again, weighed by what
 * an object costs to produce per byte it occupies.
 *
 * The model.  On LLM traffic the best cheap predictor of reuse is whether
 * an object was asked for before: on the Mooncake traces a KV block seen
 * before is reused with probability .58 (conversation) and .77
 * (synthetic), a new one with .26 and .45; a prompt's partial last block
 * almost never (1%, 5%).  So the cache has two areas:
 *
 *  - probation (recency order): where a new object starts.  It is evicted
 *    from there unless it is used again first.  An object the cache says
 *    will not be reused (POL_HINT_ONCE) starts at probation's cold end.
 *  - main (recency order), at most a learned share of the capacity (half
 *    at the start, between 10% and 90%): an object used again in
 *    probation is promoted here; main's least recent objects fall back to
 *    probation's warm end rather than out, so a popular object that cools
 *    off gets one more chance.
 *
 * A ghost remembers the keys of evicted objects (three times as many as
 * the cache holds, in policy_ghost.h's recent-keys filter: one cache line
 * per lookup, and how many evictions ago it left): a key that comes back was evicted too early, and
 * goes straight to main, skipping probation; so does an object the cache
 * says was used again while it held it (POL_HINT_REUSED: a KV block a
 * sequence took from the prefix cache, back when the sequence ends).
 * That is the admission rule and what lets one scan of new objects pass through probation without
 * flushing main.
 *
 * Eviction takes the coldest area's least recent objects as candidates
 * (up to CANDIDATES of them) and evicts the one of least value per byte:
 * (1 + uses) * cost / bytes, so that among objects equally cold a cheap,
 * large, unused one goes first and an expensive small one stays (what
 * GDSF does, inside recency order).  Aging needs no timer: an object that
 * is not used drifts to the cold end of its area and then out, whatever
 * its past.
 *
 * Learning: the split between the two areas follows their margins (see
 * learn()): on Mooncake prefix traffic, whose reuse distances are near
 * the cache's size, probation grows; on re-read-heavy response traffic,
 * main does.  The ghost's hits and main's uses are the outcomes;
 * kept/kept_used and dropped/dropped_returned in policy_stats report how
 * the decisions turn out (stats/cache shows them as the predictor's
 * accuracy).
 *
 * Every operation is O(1) but eviction, which looks at CANDIDATES
 * objects. */
#include "engine/policy.h"
#include "engine/policy_ghost.h"
#include "engine/policy_list.h"

#include <stdlib.h>
#include <string.h>

#define CANDIDATES 4
#define MAIN_SHARE 0.5         /* main's share of the capacity at the start */
#define SHARE_MIN 0.1
#define SHARE_MAX 0.9
#define SHARE_STEP 0.02        /* how far the share moves per window */
#define EDGE 0.1               /* the margin an area would gain or lose */
#define GHOST_FACTOR 3         /* ghost keys per object held */
#define GHOST_MIN 64

enum { Q_PROBATION, Q_MAIN };

typedef struct {
    policy p;
    plist q[2];                /* probation, main: head.next the most recent */
    gfilter g;                 /* the keys it evicted lately */
    uint64_t ghost_hits, kept, kept_used, dropped, dropped_returned;
    double share;              /* main's share of the capacity, learned */
    double gain_p, gain_m;     /* this window's margins, in cost: see learn() */
    uint64_t since;            /* inserts and hits in this window */
} adaptive;

/* ---------------------------------------------------------------- lists */

static void q_take(adaptive *a, pol_node *n) { plist_del(&a->q[n->queue], n); }

/* Puts n in queue q, at its warm end (most recent) or its cold end. */
static void q_put(adaptive *a, pol_node *n, int q, int warm) {
    n->queue = q;
    if (warm) plist_push(&a->q[q], n);
    else plist_push_tail(&a->q[q], n);
}

/* ---------------------------------------------------------------- policy */

/* The ghost remembers GHOST_FACTOR evicted keys per object held. */
static void fit_ghost(adaptive *a) {
    size_t want = a->p.count * GHOST_FACTOR;
    if (want < GHOST_MIN) want = GHOST_MIN;
    if (want != a->g.keep) gfilter_keep(&a->g, want);
}

/* Main's least recent objects fall back to probation's warm end while
 * main is over its share. */
static void demote(adaptive *a) {
    size_t share = (size_t)(a->p.capacity * a->share);
    while (a->q[Q_MAIN].bytes > share && a->q[Q_MAIN].count > 1) {
        pol_node *n = plist_tail(&a->q[Q_MAIN]);
        q_take(a, n);
        q_put(a, n, Q_PROBATION, 1);
    }
}

/* The split between the areas learns from their margins: a key that comes
 * back from the ghost soon after it left probation (fewer evictions
 * ago than EDGE of probation's size) is a hit a slightly larger probation
 * would have had; a hit in main's coldest EDGE (by recency) is one a
 * slightly smaller main would have lost.  Each window (as many events as
 * objects held, at least 1024) the share moves SHARE_STEP toward the area
 * whose margin earned more, weighed by cost. */
static void learn(adaptive *a) {
    size_t win = a->p.count > 1024 ? a->p.count : 1024;
    if (++a->since < win) return;
    if (a->gain_p > a->gain_m) a->share -= SHARE_STEP;
    else if (a->gain_m > a->gain_p) a->share += SHARE_STEP;
    if (a->share < SHARE_MIN) a->share = SHARE_MIN;
    if (a->share > SHARE_MAX) a->share = SHARE_MAX;
    a->gain_p = a->gain_m = 0;
    a->since = 0;
    demote(a);
}

static void ad_insert(policy *p, pol_node *n) {
    adaptive *a = (adaptive *)p;
    long age = gfilter_find(&a->g, n->key, 1);
    node_inserted(p, n, Q_PROBATION);
    n->heap = 0;                               /* uses since it entered main */
    learn(a);
    if (age >= 0 || (n->hint & POL_HINT_REUSED)) {
        if (age >= 0) {
            if ((double)age < EDGE * (double)a->q[Q_PROBATION].count)
                a->gain_p += n->cost > 0 ? n->cost : 1;
            a->ghost_hits++;
            a->dropped_returned++;
        }
        q_put(a, n, Q_MAIN, 1);
        demote(a);
    } else {
        q_put(a, n, Q_PROBATION, !(n->hint & POL_HINT_ONCE));
    }
}

static void ad_hit(policy *p, pol_node *n) {
    adaptive *a = (adaptive *)p;
    if (n->queue == Q_MAIN) {
        pol_node *t = plist_tail(&a->q[Q_MAIN]);
        if (t && (double)(p->clock - n->t_last) >= (1 - EDGE) * (double)(p->clock - t->t_last))
            a->gain_m += n->cost > 0 ? n->cost : 1;
    }
    node_hit(p, n);
    learn(a);
    if (n->queue == Q_MAIN) n->heap++;
    q_take(a, n);
    q_put(a, n, Q_MAIN, 1);
    demote(a);
}

static int ad_admit(policy *p, uint64_t key, size_t bytes, double cost) {
    return bytes <= p->capacity;
}

/* What keeping n is worth, (1 + uses) * cost, and the bytes it takes:
 * candidates are compared by worth per byte, cross-multiplied. */
static double worth(const pol_node *n) {
    return (1.0 + n->freq) * (n->cost > 0 ? n->cost : 1.0);
}

static double size_of(const pol_node *n) { return n->bytes ? (double)n->bytes : 1.0; }

static pol_node *ad_victim(policy *p) {
    adaptive *a = (adaptive *)p;
    const plist *l = &a->q[a->q[Q_PROBATION].count ? Q_PROBATION : Q_MAIN];
    pol_node *n = plist_tail(l);
    if (!n) return NULL;
    pol_node *best = n;
    double bw = worth(n), bs = size_of(n);
    n = n->prev;
    for (int k = 1; k < CANDIDATES && n != &l->head; k++, n = n->prev) {
        double w = worth(n), sz = size_of(n);
        if (w * bs < bw * sz) { best = n; bw = w; bs = sz; }
    }
    return best;
}

static void ad_remove(policy *p, pol_node *n, int evicted) {
    adaptive *a = (adaptive *)p;
    if (n->queue == Q_MAIN || n->heap) {
        a->kept++;
        if (n->heap) a->kept_used++;
    }
    q_take(a, n);
    p->bytes -= n->bytes;
    p->count--;
    if (evicted) {
        a->dropped++;
        fit_ghost(a);
        gfilter_add(&a->g, n->key);
    }
}

static void ad_stats(const policy *p, policy_stats *o) {
    const adaptive *a = (const adaptive *)p;
    memset(o, 0, sizeof *o);
    o->name = p->ops->name;
    o->bytes = p->bytes;
    o->count = p->count;
    o->probation_bytes = a->q[Q_PROBATION].bytes;
    o->main_bytes = a->q[Q_MAIN].bytes;
    o->ghost_hits = a->ghost_hits;
    o->kept = a->kept;
    o->kept_used = a->kept_used;
    o->dropped = a->dropped;
    o->dropped_returned = a->dropped_returned;
}

static int ad_check(const policy *p) {
    const adaptive *a = (const adaptive *)p;
    for (int q = 0; q < 2; q++) {
        int rc = plist_check(&a->q[q], q, 0);
        if (rc) return rc;
    }
    if (a->q[0].bytes + a->q[1].bytes != p->bytes || a->q[0].count + a->q[1].count != p->count)
        return -4;
    if (a->q[Q_MAIN].count > 1 && a->q[Q_MAIN].bytes > (size_t)(p->capacity * a->share)) return -5;
    if (a->g.b && a->g.keep < GHOST_MIN) return -6;
    return 0;
}

static void ad_free(policy *p) {
    adaptive *a = (adaptive *)p;
    gfilter_release(&a->g);
    free(a);
}

static const policy_ops adaptive_ops = {
    "adaptive", ad_insert, ad_hit, ad_admit, ad_victim, ad_remove, ad_stats, ad_check, ad_free,
};

policy *policy_adaptive_new(size_t capacity) {
    adaptive *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    a->p.ops = &adaptive_ops;
    a->p.capacity = capacity;
    a->share = MAIN_SHARE;
    for (int q = 0; q < 2; q++) plist_init(&a->q[q]);
    if (gfilter_keep(&a->g, GHOST_MIN)) { free(a); return NULL; }
    return &a->p;
}
