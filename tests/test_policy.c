/* The replacement policies of engine/policy.h: every registered policy
 * under random operations with its check() after each one; LRU's order on
 * a hand-made sequence; ARC and S3-FIFO keep a hot set through scans that
 * flush LRU; GDSF keeps what is expensive per byte. */
#include "tests/harness.h"
#include "engine/policy.h"
#include "engine/policy_ghost.h"

#include <stdint.h>
#include <string.h>

static uint64_t rng_next(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

typedef struct {
    pol_node n;
    int in;                  /* in the cache */
} obj;

#define OBJ(pn) ((obj *)(void *)(pn))

/* --------------------------------------------------------- random operations */

typedef struct {
    policy *p;
    obj *o;                  /* (nkeys) */
    size_t nkeys, bytes, count;   /* the driver's own totals */
    int bad;                 /* a check failed: stop */
} driver;

static void drv_evict_one(driver *d, int evicted) {
    pol_node *v = d->p->ops->victim(d->p);
    CHECKF(v != NULL, "%s: no victim with %zu objects in", d->p->ops->name, d->count);
    if (!v) { d->bad = 1; return; }
    CHECKF(v >= &d->o[0].n && OBJ(v) < d->o + d->nkeys && OBJ(v)->in,
           "%s: the victim is not in the cache", d->p->ops->name);
    if (!(OBJ(v) >= d->o && OBJ(v) < d->o + d->nkeys && OBJ(v)->in)) { d->bad = 1; return; }
    d->p->ops->remove(d->p, v, evicted);
    OBJ(v)->in = 0;
    d->bytes -= v->bytes;
    d->count--;
}

static void drv_after(driver *d, const char *op, long step) {
    policy *p = d->p;
    int rc = p->ops->check(p);
    CHECKF(rc == 0, "%s: check() = %d after %s (step %ld)", p->ops->name, rc, op, step);
    CHECKF(p->bytes == d->bytes && p->count == d->count, "%s: totals %zu/%zu, driver %zu/%zu",
           p->ops->name, p->bytes, p->count, d->bytes, d->count);
    CHECKF(p->bytes <= p->capacity, "%s: %zu bytes over the capacity %zu", p->ops->name, p->bytes,
           p->capacity);
    policy_stats st;
    p->ops->get_stats(p, &st);
    CHECK(st.bytes == p->bytes && st.count == p->count && !strcmp(st.name, p->ops->name));
    CHECK(st.probation_bytes + st.main_bytes <= p->bytes);
    if (rc || p->bytes != d->bytes || p->count != d->count || p->bytes > p->capacity) d->bad = 1;
}

/* Random inserts (evicting first, or inserting first and evicting while
 * over, as the daemon's caches do), hits, victim + remove, victim alone
 * and removals for other reasons, over nkeys keys of 1..1000 bytes. */
static void random_ops(const char *name, size_t nkeys, long steps, uint64_t seed) {
    const size_t cap = 50000;
    driver d = {policy_new(name, cap), calloc(nkeys, sizeof(obj)), nkeys, 0, 0, 0};
    CHECKF(d.p && d.o, "%s: policy_new", name);
    if (!d.p || !d.o) { policy_free(d.p); free(d.o); return; }
    uint64_t s = seed;
    for (long step = 0; step < steps && !d.bad; step++) {
        uint64_t r = rng_next(&s);
        obj *o = &d.o[r % nkeys];
        d.p->now += (double)(r >> 52) * 60;     /* 0 to 68 hours apart: every rhythm and hour */
        unsigned act = (unsigned)(r >> 32) % 100;
        if (o->in) {
            if (act < 85) {
                d.p->ops->hit(d.p, &o->n);
                CHECK(o->n.freq >= 1 && o->n.t_last == d.p->clock);
                drv_after(&d, "hit", step);
            } else {
                d.p->ops->remove(d.p, &o->n, 0);
                o->in = 0;
                d.bytes -= o->n.bytes;
                d.count--;
                drv_after(&d, "remove (not evicted)", step);
            }
            continue;
        }
        if (act < 4 && d.count) {
            drv_evict_one(&d, 1);
            if (!d.bad) drv_after(&d, "victim + remove", step);
            continue;
        }
        if (act < 8 && d.count) {    /* a look at the next victim, which stays */
            pol_node *v = d.p->ops->victim(d.p);
            CHECKF(v && OBJ(v) >= d.o && OBJ(v) < d.o + nkeys && OBJ(v)->in, "%s: victim", name);
            drv_after(&d, "victim", step);
            continue;
        }
        size_t bytes = 1 + (size_t)(rng_next(&s) % 1000);
        double cost = 0.5 + (double)(rng_next(&s) % 1000) / 10.0;
        if (!d.p->ops->admit(d.p, r % nkeys, bytes, cost)) continue;
        o->n.key = r % nkeys;
        o->n.bytes = bytes;
        o->n.cost = cost;
        int insert_first = act & 1;
        if (!insert_first)
            while (!d.bad && d.bytes + bytes > cap) {
                drv_evict_one(&d, 1);
                if (!d.bad) drv_after(&d, "eviction before an insert", step);
            }
        if (d.bad) break;
        uint64_t clock = d.p->clock;
        d.p->ops->insert(d.p, &o->n);
        o->in = 1;
        d.bytes += bytes;
        d.count++;
        CHECK(o->n.freq == 0 && o->n.t_insert == clock + 1 && o->n.t_last == clock + 1);
        if (insert_first) {
            int rc = d.p->ops->check(d.p);   /* over capacity for a moment: only check() */
            CHECKF(rc == 0, "%s: check() = %d after an insert over capacity", name, rc);
            while (!d.bad && d.bytes > cap) drv_evict_one(&d, 1);
        }
        if (!d.bad) drv_after(&d, "insert", step);
    }
    /* drain as a cache's destructor does */
    while (!d.bad && d.count) drv_evict_one(&d, 0);
    CHECKF(d.bad || (d.p->bytes == 0 && d.p->count == 0 && d.p->ops->victim(d.p) == NULL),
           "%s: not empty after draining", name);
    CHECK(d.p->ops->check(d.p) == 0);
    policy_free(d.p);
    free(d.o);
}

static void every_policy_random(void) {
    int n = 0;
    for (const char *const *name = policy_names(); *name; name++, n++) {
        random_ops(*name, 100, 20000, 1 + (uint64_t)n);
        random_ops(*name, 1000, 40000, 100 + (uint64_t)n);
        random_ops(*name, 10000, 60000, 1000 + (uint64_t)n);
    }
    CHECK(n >= 4);
    CHECK(policy_new("no-such-policy", 100) == NULL);
}

/* Every policy is empty at first and takes a lone object and gives it back. */
static void every_policy_basics(void) {
    for (const char *const *name = policy_names(); *name; name++) {
        policy *p = policy_new(*name, 10);
        CHECKF(p != NULL, "%s", *name);
        if (!p) continue;
        CHECK(!strcmp(p->ops->name, *name) && p->capacity == 10);
        CHECK(p->ops->victim(p) == NULL && p->ops->check(p) == 0);
        CHECK(p->ops->admit(p, 7, 3, 1.0) == 1);
        obj o = {.n = {.key = 7, .bytes = 3, .cost = 1.0}};
        p->ops->insert(p, &o.n);
        CHECK(p->bytes == 3 && p->count == 1 && p->clock == 1 && p->ops->check(p) == 0);
        p->ops->hit(p, &o.n);
        CHECK(o.n.freq == 1 && o.n.t_last == 2 && o.n.t_insert == 1 && p->clock == 2);
        CHECK(p->ops->victim(p) == &o.n);
        p->ops->remove(p, &o.n, 1);
        CHECK(p->bytes == 0 && p->count == 0 && p->ops->victim(p) == NULL && p->ops->check(p) == 0);
        policy_free(p);
    }
    policy_free(NULL);
}

/* ------------------------------------------------------------------- LRU */

static void lru_reference(void) {
    policy *p = policy_new("lru", 3);
    obj o[6];
    memset(o, 0, sizeof o);
    for (int i = 0; i < 6; i++) { o[i].n.key = (uint64_t)i; o[i].n.bytes = 1; o[i].n.cost = 1; }
    /* A B C, hit A, D evicts B, hit C, E evicts A, F evicts D */
    p->ops->insert(p, &o[0].n);
    p->ops->insert(p, &o[1].n);
    p->ops->insert(p, &o[2].n);
    p->ops->hit(p, &o[0].n);
    CHECK(p->ops->victim(p) == &o[1].n);
    p->ops->remove(p, &o[1].n, 1);
    p->ops->insert(p, &o[3].n);
    p->ops->hit(p, &o[2].n);
    CHECK(p->ops->victim(p) == &o[0].n);
    p->ops->remove(p, &o[0].n, 1);
    p->ops->insert(p, &o[4].n);
    CHECK(p->ops->victim(p) == &o[3].n);
    p->ops->remove(p, &o[3].n, 1);
    p->ops->insert(p, &o[5].n);
    CHECK(p->count == 3 && p->bytes == 3 && p->ops->check(p) == 0);
    /* what is left, oldest first: C E F */
    pol_node *v;
    const int want[] = {2, 4, 5};
    for (int i = 0; i < 3; i++) {
        v = p->ops->victim(p);
        CHECKF(v == &o[want[i]].n, "victim %d: key %d", i, v ? (int)v->key : -1);
        if (v) p->ops->remove(p, v, 0);
    }
    CHECK(p->ops->victim(p) == NULL);
    policy_free(p);
}

/* ------------------------------------------------------ scan resistance */

/* Replays keys (unit size) as the simulator does; the hit count. */
static long replay_units(const char *name, size_t cap, const uint64_t *keys, size_t n,
                         size_t nkeys, uint64_t *ghost_hits) {
    policy *p = policy_new(name, cap);
    obj *o = calloc(nkeys, sizeof *o);
    long hits = 0;
    if (!p || !o) { policy_free(p); free(o); return -1; }
    for (size_t i = 0; i < n; i++) {
        obj *x = &o[keys[i]];
        if (x->in) {
            hits++;
            p->ops->hit(p, &x->n);
            continue;
        }
        while (p->bytes + 1 > cap) {
            pol_node *v = p->ops->victim(p);
            p->ops->remove(p, v, 1);
            OBJ(v)->in = 0;
        }
        x->n.key = keys[i];
        x->n.bytes = 1;
        x->n.cost = 1;
        p->ops->insert(p, &x->n);
        x->in = 1;
    }
    CHECK(p->ops->check(p) == 0);
    policy_stats st;
    p->ops->get_stats(p, &st);
    if (ghost_hits) *ghost_hits = st.ghost_hits;
    policy_free(p);
    free(o);
    return hits;
}

/* A hot set of 40 keys, seen twice in a row at first, then once a round
 * between scans of 100 keys never seen again; the cache holds 100.  The
 * hot keys' reuse distance (139) is beyond LRU's reach. */
static void scans(void) {
    enum { HOT = 40, SCAN = 100, ROUNDS = 50, CAP = 100 };
    size_t n = 0, nkeys = HOT + (size_t)SCAN * ROUNDS;
    uint64_t *keys = malloc((2 * HOT + (size_t)ROUNDS * (HOT + SCAN)) * sizeof *keys);
    if (!keys) { CHECK(0); return; }
    for (int h = 0; h < HOT; h++) { keys[n++] = (uint64_t)h; keys[n++] = (uint64_t)h; }
    uint64_t next = HOT;
    for (int r = 0; r < ROUNDS; r++) {
        for (int s = 0; s < SCAN; s++) keys[n++] = next++;
        for (int h = 0; h < HOT; h++) keys[n++] = (uint64_t)h;
    }
    long lru = replay_units("lru", CAP, keys, n, nkeys, NULL);
    long arc = replay_units("arc", CAP, keys, n, nkeys, NULL);
    long s3 = replay_units("s3fifo", CAP, keys, n, nkeys, NULL);
    CHECKF(lru == HOT, "lru hits %ld", lru);
    CHECKF(arc > lru && arc >= HOT + (long)HOT * (ROUNDS - 2), "arc hits %ld, lru %ld", arc, lru);
    CHECKF(s3 > lru && s3 >= HOT + (long)HOT * (ROUNDS - 2), "s3fifo hits %ld, lru %ld", s3, lru);
    free(keys);
}

/* Keys evicted come back as ghost hits; keys removed for other reasons do
 * not. */
static void ghosts(void) {
    const char *names[] = {"arc", "s3fifo", "adaptive"};
    for (int k = 0; k < 3; k++) {
        policy *p = policy_new(names[k], 20);
        obj o[40];
        memset(o, 0, sizeof o);
        for (int i = 0; i < 40; i++) { o[i].n.key = 1000 + (uint64_t)i; o[i].n.bytes = 1; o[i].n.cost = 1; }
        /* 0..19 fill the cache, 0..9 are used again (ARC keeps no ghosts
         * while T1 is the whole cache); 20..29 evict ten of them */
        for (int i = 0; i < 30; i++) {
            if (i == 20)
                for (int j = 0; j < 10; j++) p->ops->hit(p, &o[j].n);
            if (p->bytes + 1 > p->capacity) {
                pol_node *v = p->ops->victim(p);
                p->ops->remove(p, v, 1);
                OBJ(v)->in = 0;
            }
            p->ops->insert(p, &o[i].n);
            o[i].in = 1;
        }
        policy_stats st;
        p->ops->get_stats(p, &st);
        CHECK(st.ghost_hits == 0 && st.count == 20);
        /* one that was evicted comes back: a ghost hit */
        int gone = -1;
        for (int i = 0; i < 30 && gone < 0; i++) if (!o[i].in) gone = i;
        pol_node *v = p->ops->victim(p);
        p->ops->remove(p, v, 1);
        OBJ(v)->in = 0;
        p->ops->insert(p, &o[gone].n);
        o[gone].in = 1;
        p->ops->get_stats(p, &st);
        CHECKF(st.ghost_hits == 1, "%s: ghost hits %llu", names[k], (unsigned long long)st.ghost_hits);
        CHECK(p->ops->check(p) == 0);
        /* one removed (not evicted) and inserted again: no ghost hit */
        int in = -1;
        for (int i = 0; i < 30 && in < 0; i++) if (o[i].in && i != gone) in = i;
        p->ops->remove(p, &o[in].n, 0);
        p->ops->insert(p, &o[in].n);
        p->ops->get_stats(p, &st);
        CHECKF(st.ghost_hits == 1, "%s: ghost hits %llu", names[k], (unsigned long long)st.ghost_hits);
        CHECK(p->ops->check(p) == 0);
        policy_free(p);
    }
}

/* The recent-keys filter remembers the last `keep` keys with their ages
 * (adds since), forgets the older ones and a found key when asked, and
 * starts empty when it grows. */
static void recent_keys(void) {
    gfilter f = {0};
    CHECK(gfilter_keep(&f, 1000) == 0);
    for (uint64_t k = 1; k <= 3000; k++) gfilter_add(&f, k * 7919, 0, 0);
    long found = 0, wrong_age = 0;
    for (uint64_t k = 1; k <= 3000; k++) {
        long age = gfilter_find(&f, k * 7919, 0, NULL, NULL);
        if (k <= 2000) { found += age >= 0; continue; }
        if (age < 0) continue;
        found++;
        wrong_age += age != (long)(3000 - k);
    }
    /* the last 1000 all found at their age but for a full bucket's early
     * forgetting (a few); none of the first 2000 */
    CHECKF(found >= 990 && found <= 1000 && wrong_age == 0, "found %ld, wrong ages %ld", found, wrong_age);
    CHECK(gfilter_find(&f, 2999 * 7919ull, 1, NULL, NULL) == 1);
    CHECK(gfilter_find(&f, 2999 * 7919ull, 0, NULL, NULL) == -1);
    long strangers = 0;
    for (uint64_t k = 1; k <= 100000; k++) strangers += gfilter_find(&f, k * 7919 + 1, 0, NULL, NULL) >= 0;
    CHECKF(strangers == 0, "%ld keys never added were found", strangers);
    CHECK(gfilter_keep(&f, 100000) == 0);
    CHECK(gfilter_find(&f, 3000 * 7919ull, 0, NULL, NULL) == -1);
    gfilter_add(&f, 42, 1234567890u, 17);
    uint32_t stamp = 0;
    uint8_t tag = 0;
    CHECK(gfilter_find(&f, 42, 0, &stamp, &tag) == 0);
    CHECKF(stamp == 1234567890u && tag == 17, "stamp %u tag %u", stamp, tag);
    /* the last key added waits outside its bucket until the next add:
     * found and forgotten there, and filed with its stamp and tag */
    gfilter_add(&f, 43, 7, 3);
    stamp = tag = 0;
    CHECK(gfilter_find(&f, 42, 0, &stamp, &tag) == 1);
    CHECKF(stamp == 1234567890u && tag == 17, "filed: stamp %u tag %u", stamp, tag);
    CHECK(gfilter_find(&f, 43, 1, NULL, NULL) == 0);
    CHECK(gfilter_find(&f, 43, 0, NULL, NULL) == -1);
    gfilter_add(&f, 44, 0, 0);
    CHECK(gfilter_find(&f, 43, 0, NULL, NULL) == -1);
    CHECK(gfilter_find(&f, 42, 0, NULL, NULL) == 2);
    gfilter_release(&f);
}

/* ------------------------------------------------------ adaptive's model */

#define HOUR 3600.0
#define DAYS 86400.0

/* Uses o at the policy's now: a hit if it is in, else an insert (after
 * evicting down to the capacity, unit sizes). */
static void use(policy *p, obj *o, uint64_t key) {
    if (o->in) {
        p->ops->hit(p, &o->n);
        return;
    }
    while (p->bytes + 1 > p->capacity) {
        pol_node *v = p->ops->victim(p);
        p->ops->remove(p, v, 1);
        OBJ(v)->in = 0;
    }
    o->n.key = key;
    o->n.bytes = 1;
    o->n.cost = 1;
    p->ops->insert(p, &o->n);
    o->in = 1;
}

/* Hourly keys among one-off ones: the model learns that an hourly key
 * near its hour will be used again and a one-off will not, and says which
 * is due; a key whose hour long passed (lapsed) is predicted less; a key
 * used at 09:00 is due again near 09:00 the next day, not at 15:00. */
static void adaptive_model(void) {
    enum { HOURLY = 20, ONEOFF = 60, ROUNDS = 48 };
    policy *p = policy_new("adaptive", 200);
    obj *o = calloc(HOURLY + ONEOFF * ROUNDS + 1, sizeof *o);
    CHECK(p && o);
    if (!p || !o) { policy_free(p); free(o); return; }
    CHECK(p->ops->predict && p->ops->due && policy_predict(p, &o[0].n) > 0);
    uint64_t next = HOURLY;
    for (int r = 0; r < ROUNDS; r++) {
        p->now = r * HOUR;
        for (int h = 0; h < HOURLY; h++) use(p, &o[h], (uint64_t)h);
        for (int k = 0; k < ONEOFF; k++, next++) {
            p->now = r * HOUR + 60 + k * 30;
            use(p, &o[next], next);
        }
    }
    CHECK(p->ops->check(p) == 0);
    p->now = ROUNDS * HOUR - 100;            /* the next round is 100 s away */
    obj *hourly = &o[HOURLY - 1], *oneoff = &o[next - 1];
    CHECKF(hourly->in && oneoff->in, "hourly in %d, one-off in %d", hourly->in, oneoff->in);
    double ph = policy_predict(p, &hourly->n), po = policy_predict(p, &oneoff->n);
    CHECKF(ph > 0.8 && po < 0.2, "P(reuse): hourly %.3f, one-off %.3f", ph, po);
    CHECK(policy_due(p, &hourly->n, 200) == 1 && policy_due(p, &hourly->n, 50) == 0);
    CHECK(policy_due(p, &oneoff->n, 200) == 0);
    p->now = ROUNDS * HOUR + 10 * HOUR;      /* ten hours late: lapsed */
    double lapsed = policy_predict(p, &hourly->n);
    CHECKF(lapsed < ph, "P(reuse) lapsed %.3f, on time %.3f", lapsed, ph);
    CHECK(policy_due(p, &hourly->n, 200) == 0);
    policy_free(p);
    free(o);

    /* time of day: one use at 09:00 */
    p = policy_new("adaptive", 10);
    obj d = {0};
    p->now = 9 * HOUR;
    use(p, &d, 1);
    p->now = DAYS + 9 * HOUR - 60;
    CHECK(policy_due(p, &d.n, 120) == 1);
    p->now = DAYS + 15 * HOUR;
    CHECK(policy_due(p, &d.n, 120) == 0);
    p->now = 9 * HOUR + 600;                 /* ten minutes after: not a day yet */
    CHECK(policy_due(p, &d.n, 120) == 0);
    /* policies without a model say so */
    policy *l = policy_new("lru", 10);
    CHECK(policy_predict(l, &d.n) == -1 && policy_due(l, &d.n, 1e9) == 0);
    policy_free(l);
    policy_free(p);
}

/* How the decisions turned out, since the start and recently: after a
 * scan whose evicted keys never come back, a loop a little larger than
 * the cache brings every evicted key back; the recent ratio of returns
 * follows it within a few windows, the ratio since the start does not. */
static void adaptive_recent_accuracy(void) {
    enum { CAP = 100, SCAN = 20000, LOOP = 150, LOOPS = 60 };
    policy *p = policy_new("adaptive", CAP);
    obj *o = calloc(SCAN + LOOP, sizeof *o);
    CHECK(p && o);
    if (!p || !o) { policy_free(p); free(o); return; }
    for (uint64_t k = 0; k < SCAN; k++) use(p, &o[k], k);
    policy_stats st;
    p->ops->get_stats(p, &st);
    CHECKF(st.dropped > SCAN - 2 * CAP && st.dropped_returned == 0 && st.recent_dropped > 0 &&
           st.recent_dropped_returned == 0, "after the scan: evicted %llu, returned %llu",
           (unsigned long long)st.dropped, (unsigned long long)st.dropped_returned);
    for (int r = 0; r < LOOPS; r++)
        for (uint64_t k = SCAN; k < SCAN + LOOP; k++) use(p, &o[k], k);
    p->ops->get_stats(p, &st);
    double all = (double)st.dropped_returned / (double)st.dropped;
    double recent = st.recent_dropped_returned / st.recent_dropped;
    CHECKF(recent > 0.8 && all < 0.5, "returned: recently %.3f, since the start %.3f", recent, all);
    CHECKF(st.recent_kept <= (double)st.kept && st.recent_kept_used <= st.recent_kept,
           "kept: recently %.1f of %llu, used %.1f", st.recent_kept, (unsigned long long)st.kept,
           st.recent_kept_used);
    policy_free(p);
    free(o);
}

/* ------------------------------------------------------------------ GDSF */

/* Five objects of cost 100 and five of cost 1, all of 100 bytes, fill
 * 1000 bytes; forty more cheap ones then evict only cheap ones, where LRU
 * evicts the expensive ones first.  And at equal cost the small ones
 * stay. */
static void gdsf_cost(void) {
    policy *p = policy_new("gdsf", 1000), *l = policy_new("lru", 1000);
    obj o[50], lo[50];
    memset(o, 0, sizeof o);
    for (int i = 0; i < 50; i++) {
        o[i].n.key = (uint64_t)i;
        o[i].n.bytes = 100;
        o[i].n.cost = i < 5 ? 100 : 1;
    }
    memcpy(lo, o, sizeof o);
    int cheap_victims = 0, lru_expensive_victims = 0;
    for (int i = 0; i < 50; i++) {
        while (p->bytes + 100 > p->capacity) {
            pol_node *v = p->ops->victim(p);
            cheap_victims += v->cost == 1;
            p->ops->remove(p, v, 1);
            OBJ(v)->in = 0;
        }
        p->ops->insert(p, &o[i].n);
        o[i].in = 1;
        while (l->bytes + 100 > l->capacity) {
            pol_node *v = l->ops->victim(l);
            lru_expensive_victims += v->cost == 100;
            l->ops->remove(l, v, 1);
        }
        l->ops->insert(l, &lo[i].n);
        CHECK(p->ops->check(p) == 0);
    }
    CHECKF(cheap_victims == 40, "gdsf evicted %d cheap of 40", cheap_victims);
    CHECK(lru_expensive_victims == 5);
    for (int i = 0; i < 5; i++) CHECK(o[i].in);
    policy_free(p);
    policy_free(l);

    /* equal cost: 10-byte objects outlive 200-byte ones */
    p = policy_new("gdsf", 1000);
    obj s[60];
    memset(s, 0, sizeof s);
    int big_victims = 0, victims = 0;
    for (int i = 0; i < 60; i++) {
        s[i].n.key = (uint64_t)i;
        s[i].n.bytes = i % 2 ? 10 : 200;
        s[i].n.cost = 1;
        while (p->bytes + s[i].n.bytes > p->capacity) {
            pol_node *v = p->ops->victim(p);
            big_victims += v->bytes == 200;
            victims++;
            p->ops->remove(p, v, 1);
        }
        p->ops->insert(p, &s[i].n);
    }
    CHECKF(victims > 0 && big_victims == victims, "%d of %d victims were big", big_victims, victims);
    CHECK(p->ops->check(p) == 0);
    policy_free(p);
}

int main(void) {
    TEST("every policy: empty, one object", every_policy_basics);
    TEST("every policy: random operations keep check() and the byte bound", every_policy_random);
    TEST("lru: the reference order", lru_reference);
    TEST("arc, s3fifo: a hot set survives scans that flush lru", scans);
    TEST("arc, s3fifo, adaptive: ghost hits count evictions, not removals", ghosts);
    TEST("the recent-keys filter: ages, forgetting, no strangers", recent_keys);
    TEST("gdsf: keeps high cost per byte", gdsf_cost);
    TEST("adaptive: learns reuse from rhythm and time of day; due and lapsed", adaptive_model);
    TEST("adaptive: decisions' outcomes since the start and recently", adaptive_recent_accuracy);
    TEST_EXIT();
}
