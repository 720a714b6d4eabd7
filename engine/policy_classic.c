/* This file implements three classic replacement policies behind policy.h:
 * ARC (Megiddo and Modha, FAST'03), S3-FIFO (Yang et al., SOSP'23) and
 * GDSF (Cherkasova, 1998).  All of them count bytes: a list's size is the
 * sum of its objects' pol_node.bytes and the paper's "c pages" is the
 * policy's capacity in bytes, so that unit-size objects give the papers'
 * algorithms exactly.  ARC and S3-FIFO remember the keys (and sizes) of
 * objects they evicted in a ghost store (policy_ghost.h) owned by the policy. */
#include "engine/policy.h"
#include "engine/policy_ghost.h"
#include "engine/policy_list.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void stats_base(const policy *p, policy_stats *o) {
    memset(o, 0, sizeof *o);
    o->name = p->ops->name;
    o->bytes = p->bytes;
    o->count = p->count;
}

/* ------------------------------------------------------------------- ARC */

/* T1 holds objects seen once recently, T2 objects seen at least twice;
 * B1 and B2 the keys last evicted from each.  target (the paper's p) is
 * T1's target size in bytes, moved by ghost hits: up by
 * max(|B2|/|B1|, 1) * bytes on a B1 hit, down likewise on a B2 hit.
 * Bounds after every call: |T1| + |B1| <= c and |T1|+|T2|+|B1|+|B2| <= 2c
 * (the oldest ghosts go: B1's for the first, B2's then B1's for the
 * second), which with unit sizes is the paper's directory of 2c pages. */
typedef struct {
    policy p;
    plist t1, t2;                 /* resident; queue 1 and 2 */
    ghost g;
    glist b1, b2;                 /* keys evicted from t1, t2 (list ids 1, 2) */
    double target;                /* bytes, in [0, capacity] */
    uint64_t ghost_hits;
} arc;

static void arc_trim(arc *a) {
    size_t c = a->p.capacity;
    while (a->b1.count && a->t1.bytes + a->b1.bytes > c) ghost_del(&a->g, &a->b1, a->b1.tail);
    while (a->b1.count + a->b2.count &&
           a->t1.bytes + a->t2.bytes + a->b1.bytes + a->b2.bytes > 2 * c) {
        if (a->b2.count) ghost_del(&a->g, &a->b2, a->b2.tail);
        else ghost_del(&a->g, &a->b1, a->b1.tail);
    }
}

static void arc_insert(policy *p, pol_node *n) {
    arc *a = (arc *)p;
    uint32_t gi = ghost_find(&a->g, n->key);
    if (gi == GNIL) {
        node_inserted(p, n, 1);
        plist_push(&a->t1, n);
    } else {
        /* cases II and III: adapt the target, then n goes to T2 */
        double b1 = (double)a->b1.bytes, b2 = (double)a->b2.bytes, c = (double)p->capacity;
        double sz = (double)n->bytes;
        if (a->g.e[gi].list == a->b1.id) {
            a->target = fmin(a->target + fmax(b1 > 0 ? b2 / b1 : 1, 1) * sz, c);
            ghost_del(&a->g, &a->b1, gi);
        } else {
            a->target = fmax(a->target - fmax(b2 > 0 ? b1 / b2 : 1, 1) * sz, 0);
            ghost_del(&a->g, &a->b2, gi);
        }
        a->ghost_hits++;
        node_inserted(p, n, 2);
        plist_push(&a->t2, n);
    }
    arc_trim(a);
}

static void arc_hit(policy *p, pol_node *n) {
    arc *a = (arc *)p;
    plist_del(n->queue == 1 ? &a->t1 : &a->t2, n);
    n->queue = 2;
    plist_push(&a->t2, n);
    node_hit(p, n);
}

static int classic_admit(policy *p, uint64_t key, size_t bytes, double cost) { return 1; }

/* REPLACE: T1's oldest when T1 is over its target (or T2 is empty), else
 * T2's oldest.  Moves nothing: the key reaches its ghost list in remove. */
static pol_node *arc_victim(policy *p) {
    arc *a = (arc *)p;
    if (a->t1.count && ((double)a->t1.bytes > a->target || !a->t2.count)) return plist_tail(&a->t1);
    return plist_tail(&a->t2);
}

static void arc_remove(policy *p, pol_node *n, int evicted) {
    arc *a = (arc *)p;
    glist *others[] = {&a->b1, &a->b2, NULL};
    int from_t1 = n->queue == 1;
    plist_del(from_t1 ? &a->t1 : &a->t2, n);
    p->bytes -= n->bytes;
    p->count--;
    if (evicted) {
        ghost_add(&a->g, from_t1 ? &a->b1 : &a->b2, others, n->key, n->bytes);
        arc_trim(a);
    }
}

static void arc_stats(const policy *p, policy_stats *o) {
    const arc *a = (const arc *)p;
    stats_base(p, o);
    o->probation_bytes = a->t1.bytes;
    o->main_bytes = a->t2.bytes;
    o->ghost_hits = a->ghost_hits;
}

/* -1..-4 T1 (links, tags, totals, recency order), -11..-14 T2 likewise,
 * -20 T1 + T2 differ from the policy's totals, -21 B1 or B2 broken, -22
 * the ghost index, -23 |T1| + |B1| > c, -24 the directory over 2c, -25
 * the target outside [0, c]. */
static int arc_check(const policy *p) {
    const arc *a = (const arc *)p;
    int rc;
    size_t c = p->capacity;
    if ((rc = plist_check(&a->t1, 1, 1))) return rc;
    if ((rc = plist_check(&a->t2, 2, 1))) return rc - 10;
    if (a->t1.bytes + a->t2.bytes != p->bytes || a->t1.count + a->t2.count != p->count) return -20;
    if (glist_check(&a->g, &a->b1) || glist_check(&a->g, &a->b2)) return -21;
    if (ghost_check(&a->g) || a->g.live != a->b1.count + a->b2.count) return -22;
    if (a->b1.count && a->t1.bytes + a->b1.bytes > c) return -23;
    if (a->b1.count + a->b2.count && p->bytes + a->b1.bytes + a->b2.bytes > 2 * c) return -24;
    if (!(a->target >= 0 && a->target <= (double)c)) return -25;
    return 0;
}

static void arc_free(policy *p) {
    if (!p) return;
    ghost_release(&((arc *)p)->g);
    free(p);
}

static const policy_ops arc_ops = {
    "arc", arc_insert, arc_hit, classic_admit, arc_victim, arc_remove, arc_stats, arc_check, arc_free, NULL, NULL,
};

policy *policy_arc_new(size_t capacity) {
    arc *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    a->p.ops = &arc_ops;
    a->p.capacity = capacity;
    plist_init(&a->t1);
    plist_init(&a->t2);
    ghost_init(&a->g);
    glist_init(&a->b1, 1);
    glist_init(&a->b2, 2);
    return &a->p;
}

/* --------------------------------------------------------------- S3-FIFO */

/* New objects enter the small FIFO (10% of the capacity), keys seen in the
 * ghost go straight to the main FIFO (the rest).  Each object has a 2-bit
 * access counter (hits, at most 3; kept in pol_node.heap, which S3-FIFO
 * has no other use for).  Evicting from small: an object accessed
 * S3_MOVE_FREQ times since it came in moves to main with its counter
 * reset, one that was not is
 * evicted and its key enters the ghost FIFO (bytes bounded by main's
 * size).  Evicting from main: CLOCK, an object with a non-zero counter is
 * reinserted with the counter decreased.  Main is evicted from when it is
 * over its size or small is empty, else small (libCacheSim's S3FIFO). */
#define S3_MAX_FREQ 3
#define S3_MOVE_FREQ 2            /* accesses in small that earn main (libCacheSim's default) */
#define S3_CTR(n) ((n)->heap)

typedef struct {
    policy p;
    plist small, main;            /* queue 1 and 2; head the newest */
    size_t small_cap, main_cap;   /* capacity / 10, the rest */
    ghost g;
    glist gq;                     /* keys evicted from small, list id 1 */
    pol_node *pending;            /* what victim() answered, until the next change */
    uint64_t ghost_hits;
} s3fifo;

static void s3_insert(policy *p, pol_node *n) {
    s3fifo *s = (s3fifo *)p;
    uint32_t gi = ghost_find(&s->g, n->key);
    s->pending = NULL;
    if (gi != GNIL) {
        ghost_del(&s->g, &s->gq, gi);
        s->ghost_hits++;
        node_inserted(p, n, 2);
        plist_push(&s->main, n);
    } else {
        node_inserted(p, n, 1);
        plist_push(&s->small, n);
    }
    S3_CTR(n) = 0;
}

static void s3_hit(policy *p, pol_node *n) {
    s3fifo *s = (s3fifo *)p;
    if (S3_CTR(n) < S3_MAX_FREQ) S3_CTR(n)++;
    if (n == s->pending) s->pending = NULL;
    node_hit(p, n);
}

static pol_node *s3_victim(policy *p) {
    s3fifo *s = (s3fifo *)p;
    if (s->pending) return s->pending;
    if (!s->small.count && !s->main.count) return NULL;
    for (;;) {
        pol_node *t;
        if (s->main.bytes > s->main_cap || !s->small.count) {
            /* main is not empty here; every pass lowers a counter */
            while (S3_CTR(t = plist_tail(&s->main))) {
                S3_CTR(t)--;
                plist_del(&s->main, t);
                plist_push(&s->main, t);
            }
            return s->pending = t;
        }
        while ((t = plist_tail(&s->small))) {
            if (S3_CTR(t) < S3_MOVE_FREQ) return s->pending = t;
            plist_del(&s->small, t);
            t->queue = 2;
            S3_CTR(t) = 0;
            plist_push(&s->main, t);
        }
        /* all of small moved to main: evict from main */
    }
}

static void s3_remove(policy *p, pol_node *n, int evicted) {
    s3fifo *s = (s3fifo *)p;
    glist *others[] = {&s->gq, NULL};
    s->pending = NULL;
    plist_del(n->queue == 1 ? &s->small : &s->main, n);
    p->bytes -= n->bytes;
    p->count--;
    if (evicted && n->queue == 1) {
        ghost_add(&s->g, &s->gq, others, n->key, n->bytes);
        while (s->gq.count && s->gq.bytes > s->main_cap) ghost_del(&s->g, &s->gq, s->gq.tail);
    }
}

static void s3_stats(const policy *p, policy_stats *o) {
    const s3fifo *s = (const s3fifo *)p;
    stats_base(p, o);
    o->probation_bytes = s->small.bytes;
    o->main_bytes = s->main.bytes;
    o->ghost_hits = s->ghost_hits;
}

/* -1..-4 small (links, tags, totals, insertion order), -11..-13 main,
 * -20 small + main differ from the policy's totals, -21 a counter over 3,
 * -22 the ghost FIFO broken, -23 the ghost index, -24 the ghost over
 * main's size, -25 the pending victim not the tail of its queue with a
 * counter that lets it go, -26 the sizes of small and main not the split of the
 * capacity. */
static int s3_check(const policy *p) {
    const s3fifo *s = (const s3fifo *)p;
    int rc;
    if ((rc = plist_check(&s->small, 1, 0))) return rc;
    if ((rc = plist_check(&s->main, 2, 0))) return rc - 10;
    for (const pol_node *n = s->small.head.next; n != &s->small.head; n = n->next) {
        if (n->prev != &s->small.head && n->t_insert > n->prev->t_insert) return -4;
        if (S3_CTR(n) > S3_MAX_FREQ) return -21;
    }
    for (const pol_node *n = s->main.head.next; n != &s->main.head; n = n->next)
        if (S3_CTR(n) > S3_MAX_FREQ) return -21;
    if (s->small.bytes + s->main.bytes != p->bytes || s->small.count + s->main.count != p->count)
        return -20;
    if (glist_check(&s->g, &s->gq)) return -22;
    if (ghost_check(&s->g) || s->g.live != s->gq.count) return -23;
    if (s->gq.bytes > s->main_cap) return -24;
    if (s->pending && (S3_CTR(s->pending) >= (s->pending->queue == 1 ? S3_MOVE_FREQ : 1) ||
                       s->pending != plist_tail(s->pending->queue == 1 ? &s->small : &s->main)))
        return -25;
    if (s->small_cap != p->capacity / 10 || s->small_cap + s->main_cap != p->capacity) return -26;
    return 0;
}

static void s3_free(policy *p) {
    if (!p) return;
    ghost_release(&((s3fifo *)p)->g);
    free(p);
}

static const policy_ops s3fifo_ops = {
    "s3fifo", s3_insert, s3_hit, classic_admit, s3_victim, s3_remove, s3_stats, s3_check, s3_free, NULL, NULL,
};

policy *policy_s3fifo_new(size_t capacity) {
    s3fifo *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->p.ops = &s3fifo_ops;
    s->p.capacity = capacity;
    s->small_cap = capacity / 10;
    s->main_cap = capacity - s->small_cap;
    plist_init(&s->small);
    plist_init(&s->main);
    ghost_init(&s->g);
    glist_init(&s->gq, 1);
    return &s->p;
}

/* ------------------------------------------------------------------ GDSF */

/* Each object's priority H = L + freq * cost / bytes, freq counting its
 * insert as 1 (pol_node.freq + 1), L the priority of the last evicted
 * object; recomputed on every hit.  The victim is the lowest H, the least
 * recently used among equals (libCacheSim's GDSF).  A binary min-heap of
 * the nodes; pol_node.heap is a node's index in it.  If the heap cannot
 * grow, a new node waits on a list instead and is the first victim. */
typedef struct {
    policy p;
    pol_node **h;                 /* (cap) the heap; n used */
    size_t n, cap;
    plist orphans;                /* nodes the heap had no room for; queue 2 */
    double L;                     /* the inflation value */
} gdsf;

static int gd_less(const pol_node *a, const pol_node *b) {
    return a->prio < b->prio || (a->prio == b->prio && a->t_last < b->t_last);
}

static void gd_set(gdsf *g, size_t i, pol_node *n) {
    g->h[i] = n;
    n->heap = i;
}

static void gd_up(gdsf *g, size_t i) {
    pol_node *n = g->h[i];
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!gd_less(n, g->h[up])) break;
        gd_set(g, i, g->h[up]);
        i = up;
    }
    gd_set(g, i, n);
}

static void gd_down(gdsf *g, size_t i) {
    pol_node *n = g->h[i];
    for (;;) {
        size_t l = 2 * i + 1, m;
        if (l >= g->n) break;
        m = l + 1 < g->n && gd_less(g->h[l + 1], g->h[l]) ? l + 1 : l;
        if (!gd_less(g->h[m], n)) break;
        gd_set(g, i, g->h[m]);
        i = m;
    }
    gd_set(g, i, n);
}

static double gd_prio(const gdsf *g, const pol_node *n) {
    return g->L + (double)(n->freq + 1) * n->cost / (double)(n->bytes ? n->bytes : 1);
}

static void gd_insert(policy *p, pol_node *n) {
    gdsf *g = (gdsf *)p;
    if (g->n == g->cap) {
        size_t nc = g->cap ? g->cap * 2 : 64;
        pol_node **h = realloc(g->h, nc * sizeof *h);
        if (!h) {
            node_inserted(p, n, 2);
            n->prio = gd_prio(g, n);
            plist_push(&g->orphans, n);
            return;
        }
        g->h = h;
        g->cap = nc;
    }
    node_inserted(p, n, 1);
    n->prio = gd_prio(g, n);
    gd_set(g, g->n++, n);
    gd_up(g, n->heap);
}

static void gd_hit(policy *p, pol_node *n) {
    gdsf *g = (gdsf *)p;
    node_hit(p, n);
    n->prio = gd_prio(g, n);
    if (n->queue == 1) {
        gd_up(g, n->heap);
        gd_down(g, n->heap);
    }
}

static pol_node *gd_victim(policy *p) {
    gdsf *g = (gdsf *)p;
    pol_node *o = plist_tail(&g->orphans);
    return o ? o : g->n ? g->h[0] : NULL;
}

static void gd_remove(policy *p, pol_node *n, int evicted) {
    gdsf *g = (gdsf *)p;
    if (n->queue == 2) {
        plist_del(&g->orphans, n);
    } else {
        size_t i = n->heap;
        pol_node *last = g->h[--g->n];
        if (last != n) {
            gd_set(g, i, last);
            gd_up(g, i);
            gd_down(g, last->heap);
        }
        n->heap = SIZE_MAX;
    }
    if (evicted) g->L = n->prio;
    p->bytes -= n->bytes;
    p->count--;
}

static void gd_stats(const policy *p, policy_stats *o) { stats_base(p, o); }

/* -1 a node's heap index wrong, -2 heap order broken, -3 the heap's and
 * the orphans' totals differ from the policy's, -4 the orphan list
 * broken, -5 L or a priority not finite. */
static int gd_check(const policy *p) {
    const gdsf *g = (const gdsf *)p;
    size_t bytes = 0;
    if (plist_check(&g->orphans, 2, 0)) return -4;
    if (!isfinite(g->L)) return -5;
    for (size_t i = 0; i < g->n; i++) {
        const pol_node *n = g->h[i];
        if (n->heap != i || n->queue != 1) return -1;
        if (i && gd_less(n, g->h[(i - 1) / 2])) return -2;
        if (!isfinite(n->prio)) return -5;
        bytes += n->bytes;
    }
    if (bytes + g->orphans.bytes != p->bytes || g->n + g->orphans.count != p->count) return -3;
    return 0;
}

static void gd_free(policy *p) {
    if (!p) return;
    free(((gdsf *)p)->h);
    free(p);
}

static const policy_ops gdsf_ops = {
    "gdsf", gd_insert, gd_hit, classic_admit, gd_victim, gd_remove, gd_stats, gd_check, gd_free, NULL, NULL,
};

policy *policy_gdsf_new(size_t capacity) {
    gdsf *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->p.ops = &gdsf_ops;
    g->p.capacity = capacity;
    plist_init(&g->orphans);
    return &g->p;
}
