/* The adaptive policy ("adaptive" in policy.h's registry): what it keeps
 * is what a model it learns online from its own outcomes says will be
 * asked for again, weighed by what an object costs to produce per byte it
 * occupies.
 *
 * The areas.  Most objects of LLM traffic are asked for once: on the
 * Mooncake traces a KV block seen before is reused with probability .58
 * (conversation) and .77 (synthetic), a new one with .26 and .45; a
 * prompt's partial last block almost never (1%, 5%).  So the cache has two
 * areas, both in recency order:
 *
 *  - probation: where a new object starts.  It is evicted from there
 *    unless it is used again first.  An object the cache says will not be
 *    reused (POL_HINT_ONCE) starts at probation's cold end.
 *  - main, at most a learned share of the capacity (between 10% and 90%):
 *    an object used again in probation is promoted here; main's least
 *    recent objects fall back to probation's warm end rather than out, so
 *    a popular object that cools off gets one more chance; one that was
 *    used in main and that the model is nearly sure of goes round main
 *    again instead (see demote()).
 *
 * The ghost remembers the keys of evicted objects (GHOST_FACTOR times as
 * many as the cache holds, in policy_ghost.h's recent-keys filter), with
 * the time of each one's last use and its state when it left.  A key that
 * comes back was evicted too early: it goes straight to main, skipping
 * probation, with the gap since its last use as its rhythm; so does an
 * object the cache says was used again while it held it (POL_HINT_REUSED:
 * a KV block a sequence took from the prefix cache, back when the
 * sequence ends).  That is the admission rule, and what lets one scan of
 * new objects pass through probation without flushing main.
 *
 * The model.  An object is in one of STATES states, from cheap features:
 *  - its uses: 0, 1, 2-3, 4+ (a key back from the ghost counts one);
 *  - its rhythm, the mean gap between its uses (the newest gap weighs
 *    half) against the time since its last use: none known, on time (up
 *    to ON_TIME gaps), late (up to LATE gaps), lapsed;
 *  - the time of day: half a day or more since its last use and now
 *    within an hour of that use's time of day (a daily job's hour is back);
 *  - the trend of its gaps: the last one shorter than the mean before it
 *    (asked for faster and faster) or not.
 * For each state it counts outcomes: a use (the object was asked for again
 * while held, or came back from the ghost: that eviction is then counted
 * as a use of the state it left in), or an eviction.  The predicted
 * probability of reuse of an object is hits / (hits + evictions) of its
 * state now, with a prior of one of each.  The counts halve every window
 * (as many events as objects held, at least 1024), so the model follows
 * the traffic.  Aging needs no timer: as time passes without a use an
 * object's rhythm goes from on time to late to lapsed, and its predicted
 * value falls with it.
 *
 * Eviction takes the coldest area's CANDIDATES least recent objects and
 * evicts the one of least value per byte: P(reuse) * cost / bytes, so
 * that among objects equally cold a cheap, large, unlikely one goes first
 * and an expensive small one stays (GDSF, inside recency order).
 *
 * Learning the split: a key that comes back from the ghost soon after it
 * left probation (fewer evictions ago than EDGE of probation's objects) is
 * a hit a slightly larger probation would have had; a hit in main's
 * coldest EDGE (by recency) is one a slightly smaller main would have
 * lost.  Each window main's share moves SHARE_STEP toward the area whose
 * margin earned more, weighed by cost: on Mooncake's prefix traffic, whose
 * reuse distances are near the cache's size, probation grows; on shell
 * traffic, main does.
 *
 * How the decisions turn out is counted for stats/cache (policy_stats): of
 * the objects it kept in main and that left, how many were used there; of
 * those it evicted, how many came back while the ghost remembered them;
 * since the start, and over recent decisions (halved every window).
 *
 * Every operation is O(1) but eviction, which looks at CANDIDATES objects. */
#include "engine/policy.h"
#include "engine/policy_ghost.h"
#include "engine/policy_list.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CANDIDATES 2
#define MAIN_SHARE 0.5         /* main's share of the capacity at the start */
#define SHARE_MIN 0.1
#define SHARE_MAX 0.9
#define SHARE_STEP 0.02        /* how far the share moves per window */
#define EDGE 0.1               /* the margin an area would gain or lose */
#define GHOST_FACTOR 3         /* ghost keys per object held */
#define GHOST_MIN 64
#define KEEP_P 0.95f           /* predicted reuse that earns another round in main */
#define MAX_ROUNDS 3           /* uses banked for rounds in main, at most */
#define SPINS 8                /* rounds given per demotion, at most */

/* The model's states: uses x rhythm x time of day x trend. */
#define USE_STATES 4
#define RHYTHM_STATES 4
#define DAY_STATES 2
#define TREND_STATES 2
#define STATES (USE_STATES * RHYTHM_STATES * DAY_STATES * TREND_STATES)
#define ON_TIME 1.25
#define LATE 4.0
#define DAY 86400.0

enum { Q_PROBATION, Q_MAIN };
enum { R_KEPT, R_KEPT_USED, R_DROPPED, R_RETURNED };

/* pol_node fields it uses besides the list's: freq (uses while held),
 * heap (uses in main not yet spent on rounds), prio (1 once used in
 * main), w_last, gap and trend (its rhythm), back (it came back from the
 * ghost). */
typedef struct {
    policy p;
    plist q[2];                /* probation, main: head.next the most recent */
    gfilter g;                 /* the keys it evicted lately */
    uint64_t ghost_hits, kept, kept_used, dropped, dropped_returned;
    float recent[4];           /* the same four, halved every window */
    double share;              /* main's share of the capacity, learned */
    size_t main_cap;           /* that share in bytes */
    double gain_p, gain_m;     /* this window's margins, in cost */
    uint64_t since;            /* inserts and hits in this window */
    float hits[STATES], ends[STATES];  /* outcomes by state, decayed */
    float prob[STATES];        /* P(reuse | state) */
    const pol_node *victim;    /* victim()'s answer, its state, and when */
    int victim_state;
    uint64_t victim_clock;
    double victim_now;
} adaptive;

/* ------------------------------------------------------------ the model */

static int use_state(const pol_node *n) {
    unsigned u = n->freq + n->back;
    return u < 2 ? (int)u : u < 4 ? 2 : 3;
}

/* n's state at the policy's now. */
static inline __attribute__((always_inline)) int state_of(const policy *p, const pol_node *n) {
    double age = p->now - n->w_last;
    int r = 0, d = 0;
    if (n->gap > 0) r = age <= ON_TIME * n->gap ? 1 : age <= LATE * n->gap ? 2 : 3;
    if (age >= DAY / 2) {
        double tod = fabs(fmod(p->now, DAY) - fmod(n->w_last, DAY));
        d = tod <= 3600 || tod >= DAY - 3600;
    }
    return ((use_state(n) * RHYTHM_STATES + r) * DAY_STATES + d) * TREND_STATES + n->trend;
}

static float predict(const adaptive *a, const pol_node *n) {
    return a->prob[state_of(&a->p, n)];
}

/* The outcomes so far count half as much; the probabilities follow. */
static void refit(adaptive *a) {
    for (int s = 0; s < STATES; s++) {
        a->hits[s] *= 0.5f;
        a->ends[s] *= 0.5f;
        a->prob[s] = (a->hits[s] + 1) / (a->hits[s] + a->ends[s] + 2);
    }
}

/* n is used now: a hit for its state, and its rhythm learned. */
static void used(adaptive *a, pol_node *n) {
    a->hits[state_of(&a->p, n)] += 1;
    double g = a->p.now - n->w_last;
    if (g > 0) {
        n->trend = n->gap > 0 && g < n->gap;
        n->gap = n->gap > 0 ? (float)(0.5 * n->gap + 0.5 * g) : (float)g;
    }
    n->w_last = a->p.now;
}

/* A key evicted in state s came back: that eviction was a use. */
static void came_back(adaptive *a, unsigned s) {
    if (s >= STATES) return;
    a->hits[s] += 1;
    a->ends[s] = a->ends[s] > 1 ? a->ends[s] - 1 : 0;
}

/* ---------------------------------------------------------------- areas */

static void q_take(adaptive *a, pol_node *n) { plist_del(&a->q[n->queue], n); }

/* Puts n in area q, at its warm end (most recent) or its cold end. */
static void q_put(adaptive *a, pol_node *n, int q, int warm) {
    n->queue = q;
    if (warm) plist_push(&a->q[q], n);
    else plist_push_tail(&a->q[q], n);
}

/* The ghost remembers GHOST_FACTOR evicted keys per object held. */
static void fit_ghost(adaptive *a) {
    size_t want = a->p.count * GHOST_FACTOR;
    if (want < GHOST_MIN) want = GHOST_MIN;
    if (want != a->g.keep) gfilter_keep(&a->g, want);
}

/* Main's least recent objects fall back to probation's warm end while
 * main is over its share, but for one used in main since it came there
 * that the model says is nearly sure to be used again (KEEP_P): it goes
 * round main once more, spending one of its uses (at most MAX_ROUNDS
 * banked), so that a steady favourite outlives a burst of new ones. */
static void demote(adaptive *a) {
    int rounds = 0;
    while (a->q[Q_MAIN].bytes > a->main_cap && a->q[Q_MAIN].count > 1) {
        pol_node *n = plist_tail(&a->q[Q_MAIN]);
        q_take(a, n);
        if (n->heap && rounds++ < SPINS && predict(a, n) >= KEEP_P) {
            n->heap = (n->heap > MAX_ROUNDS ? MAX_ROUNDS : n->heap) - 1;
            q_put(a, n, Q_MAIN, 1);
            continue;
        }
        q_put(a, n, Q_PROBATION, 1);
    }
}

/* The split between the areas and the model learn per window; see the
 * header. */
static void learn(adaptive *a) {
    size_t win = a->p.count > 1024 ? a->p.count : 1024;
    if (++a->since < win) return;
    if (a->gain_p > a->gain_m) a->share -= SHARE_STEP;
    else if (a->gain_m > a->gain_p) a->share += SHARE_STEP;
    if (a->share < SHARE_MIN) a->share = SHARE_MIN;
    if (a->share > SHARE_MAX) a->share = SHARE_MAX;
    a->gain_p = a->gain_m = 0;
    a->since = 0;
    a->main_cap = (size_t)((double)a->p.capacity * a->share);
    for (int i = 0; i < 4; i++) a->recent[i] *= 0.5f;
    refit(a);
    demote(a);
}

static double cost_of(const pol_node *n) { return n->cost > 0 ? n->cost : 1.0; }

/* ---------------------------------------------------------------- policy */

static void ad_insert(policy *p, pol_node *n) {
    adaptive *a = (adaptive *)p;
    uint32_t last = 0;
    uint8_t left_in = 0;
    long age = gfilter_find(&a->g, n->key, 1, &last, &left_in);
    node_inserted(p, n, Q_PROBATION);
    n->heap = 0;
    n->prio = 0;
    n->w_last = p->now;
    n->gap = age >= 0 && p->now > last ? (float)(p->now - last) : 0;
    n->back = age >= 0;
    n->trend = 0;
    learn(a);
    if (age >= 0) {
        came_back(a, left_in);
        if ((double)age < EDGE * (double)a->q[Q_PROBATION].count) a->gain_p += cost_of(n);
        a->ghost_hits++;
        a->dropped_returned++;
        a->recent[R_RETURNED] += 1;
    }
    if (age >= 0 || (n->hint & POL_HINT_REUSED)) {
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
            a->gain_m += cost_of(n);
        n->heap++;
        n->prio = 1;
    }
    used(a, n);
    node_hit(p, n);
    learn(a);
    q_take(a, n);
    q_put(a, n, Q_MAIN, 1);
    demote(a);
}

/* Everything that fits; the ghost's bucket for key starts loading, since
 * the insert that follows looks there. */
static int ad_admit(policy *p, uint64_t key, size_t bytes, double cost) {
    (void)cost;
    gfilter_prefetch(&((adaptive *)p)->g, key);
    return bytes <= p->capacity;
}

/* Candidates are compared by what keeping one is worth, its predicted
 * reuse times its cost, per byte it takes (cross-multiplied). */
static double size_of(const pol_node *n) { return n->bytes ? (double)n->bytes : 1.0; }

static pol_node *ad_victim(policy *p) {
    adaptive *a = (adaptive *)p;
    const plist *l = &a->q[a->q[Q_PROBATION].count ? Q_PROBATION : Q_MAIN];
    pol_node *n = plist_tail(l);
    if (!n) return NULL;
    pol_node *best = n;
    int bst = state_of(p, n);
    double bw = a->prob[bst] * cost_of(n), bs = size_of(n);
    n = n->prev;
    for (int k = 1; k < CANDIDATES && n != &l->head; k++, n = n->prev) {
        int st = state_of(p, n);
        double w = a->prob[st] * cost_of(n), sz = size_of(n);
        if (w * bs < bw * sz) { best = n; bw = w; bs = sz; bst = st; }
    }
    /* its removal, next, counts the eviction in this state and adds it
     * to the ghost */
    a->victim = best;
    a->victim_state = bst;
    a->victim_clock = p->clock;
    a->victim_now = p->now;
    return best;
}

static void ad_remove(policy *p, pol_node *n, int evicted) {
    adaptive *a = (adaptive *)p;
    if (n->queue == Q_MAIN || n->prio > 0) {
        a->kept++;
        a->recent[R_KEPT] += 1;
        if (n->prio > 0) {
            a->kept_used++;
            a->recent[R_KEPT_USED] += 1;
        }
    }
    q_take(a, n);
    p->bytes -= n->bytes;
    p->count--;
    if (evicted) {
        int s = n == a->victim && a->victim_clock == p->clock && a->victim_now == p->now
                    ? a->victim_state : state_of(p, n);
        a->victim = NULL;
        a->ends[s] += 1;
        a->dropped++;
        a->recent[R_DROPPED] += 1;
        fit_ghost(a);
        gfilter_add(&a->g, n->key, (uint32_t)n->w_last, (uint8_t)s);
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
    o->recent_kept = a->recent[R_KEPT];
    o->recent_kept_used = a->recent[R_KEPT_USED];
    o->recent_dropped = a->recent[R_DROPPED];
    o->recent_dropped_returned = a->recent[R_RETURNED];
}

/* -1..-3 an area's list (links, tags, totals), -4 the areas' totals differ
 * from the policy's, -5 main over its share, -6 the ghost under its
 * minimum, -7 a probability outside (0, 1), -8 a negative outcome count. */
static int ad_check(const policy *p) {
    const adaptive *a = (const adaptive *)p;
    for (int q = 0; q < 2; q++) {
        int rc = plist_check(&a->q[q], q, 0);
        if (rc) return rc;
    }
    if (a->q[0].bytes + a->q[1].bytes != p->bytes || a->q[0].count + a->q[1].count != p->count)
        return -4;
    if (a->q[Q_MAIN].count > 1 && a->q[Q_MAIN].bytes > a->main_cap) return -5;
    if (a->g.b && a->g.keep < GHOST_MIN) return -6;
    for (int s = 0; s < STATES; s++) {
        if (!(a->prob[s] > 0 && a->prob[s] < 1)) return -7;
        if (a->hits[s] < 0 || a->ends[s] < 0) return -8;
    }
    return 0;
}

static void ad_free(policy *p) {
    adaptive *a = (adaptive *)p;
    gfilter_release(&a->g);
    free(a);
}

static double ad_predict(const policy *p, const pol_node *n) {
    return predict((const adaptive *)p, n);
}

/* Due within `within` seconds: its rhythm's next use (last use + mean
 * gap) comes by then and it is not late yet, or its time of day does (at
 * least half a day after its last use). */
static int ad_due(const policy *p, const pol_node *n, double within) {
    double age = p->now - n->w_last;
    if (n->gap > 0 && age <= ON_TIME * n->gap && n->w_last + n->gap <= p->now + within) return 1;
    if (age + within < DAY / 2) return 0;
    double ahead = fmod(fmod(n->w_last, DAY) - fmod(p->now, DAY) + DAY, DAY);
    return ahead <= within;
}

static const policy_ops adaptive_ops = {
    "adaptive", ad_insert, ad_hit, ad_admit, ad_victim, ad_remove, ad_stats, ad_check, ad_free,
    ad_predict, ad_due,
};

policy *policy_adaptive_new(size_t capacity) {
    adaptive *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    a->p.ops = &adaptive_ops;
    a->p.capacity = capacity;
    a->share = MAIN_SHARE;
    a->main_cap = (size_t)((double)capacity * a->share);
    for (int s = 0; s < STATES; s++) a->prob[s] = 0.5f;
    for (int q = 0; q < 2; q++) plist_init(&a->q[q]);
    if (gfilter_keep(&a->g, GHOST_MIN)) { free(a); return NULL; }
    return &a->p;
}
