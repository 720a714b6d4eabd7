/* This file implements the response cache of rcache.h.
 *
 * Locking: one mutex, rcache.mu, protects L1, the flight table, every
 * flight and request field marked (mu), and the counters.  Callbacks to
 * the caller run with mu held (so rcache_release, which takes mu, waits
 * for one in progress); the caller's locks therefore come after mu, and
 * the caller never holds them while calling in.  mu is never held across
 * a backend submit or release (the backend's callbacks take it) nor
 * across disk I/O.
 *
 * Ownership of a flight (a generation and its backend request): whoever
 * ends it (sets done in the backend's on_done, or orphan when its last
 * follower leaves) releases the backend request and frees it: on_done
 * through the worker thread (a backend callback may not release), a
 * leaving follower itself.  If the request handle is not known yet (the
 * backend finished before its submit returned), the submitter does it. */
#define _GNU_SOURCE   /* pthread_setname_np */
#include "cache/rcache.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#define XXH_STATIC_LINKING_ONLY   /* XXH3_state_t on the stack */
#include <xxhash.h>

#include "cache/keymap.h"
#include "cache/le.h"
#include "cache/l2.h"
#include "cache/l2_redis.h"
#include "cache/record.h"
#include "engine/engine.h"

typedef struct flight flight;

#define WRITE_BATCH 64         /* records per trip to the disk, at most */
#define WRITE_DELAY_MS 100     /* how long a record may wait for others */
#define PROMOTE_P 0.5          /* predicted reuse that earns an L2 hit a place in L1 */
#define PREFETCH_EVERY_S 60    /* how often the worker looks for records due */
#define PREFETCH_AHEAD_S 120   /* how far ahead a record counts as due */
#define PREFETCH_MAX 64        /* records per look, at most */

/* Work for the worker thread: a finished flight to release, or a record
 * to write to the disk tier. */
typedef struct job {
    flight *f;
    record *rec;
    struct job *next;
} job;

struct rcache_req {
    rcache *c;
    flight *f;                  /* the generation it follows, or NULL (mu) */
    rcache_req *next;           /* in f->subs (mu) */
    cache_cb cb;
    void *ud;
    cache_source source;
    int64_t t_submit_ns, t_first_ns;   /* (mu) */
};

struct flight {
    km_node kn;                 /* in rcache.flights while keyed (mu) */
    int keyed;                  /* (mu) */
    rcache *c;
    gen_params p;
    int store;                  /* store the record when it finishes */
    backend_req *breq;          /* NULL until submit returned (mu) */
    int done, orphan;           /* see the ownership rule (mu) */
    char *text;                 /* (cap) the text so far (mu) */
    size_t len, cap;
    uint32_t *cuts;             /* (cap_cuts) token boundaries so far (mu) */
    int n_cuts, cap_cuts;
    int prompt_tokens, n_gen;   /* (mu) */
    rcache_req *subs;           /* followers (mu) */
    job release;                /* its release, queued without allocating */
};

typedef struct l1_ent {
    km_node kn;
    pol_node pn;
    record *rec;
    int prefetched;             /* brought from L2 before it was asked for, unused since */
} l1_ent;

struct rcache {
    cache_config cfg;
    backend *b;
    l2 *disk;                   /* NULL: no disk tier */
    l2r *redis;                 /* NULL: no Redis tier (never both) */
    pthread_mutex_t mu;
    keymap l1, flights;
    policy *l1_pol;
    uint64_t l1_lookups, l1_hits, l1_evictions;
    uint64_t misses, joined, bypass, tokens_saved;
    uint64_t promoted, not_promoted, prefetched, prefetch_hits;
    double ms_saved;
    /* worker */
    pthread_t th;
    int started, stop;
    pthread_mutex_t jmu;
    pthread_cond_t jcv;
    job *jhead, *jtail;
};

static const char *const source_names[] = {"miss", "l1", "l2", "joined", "off"};

const char *cache_source_name(cache_source s) {
    return (unsigned)s < sizeof source_names / sizeof source_names[0] ? source_names[s] : "";
}

/* ---------------------------------------------------------------- key */

static uint32_t float_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* XXH3-128 of everything that decides the bytes (rcache.h).  Greedy
 * decoding never looks at top_k, top_p or the seed, so they do not split
 * greedy keys. */
static void make_key(const backend *b, const int *ids, int n, const gen_params *p,
                     uint8_t key[16]) {
    XXH3_state_t st;
    uint8_t buf[32];
    XXH3_128bits_reset(&st);
    XXH3_128bits_update(&st, "llmfs-key-1", 11);
    XXH3_128bits_update(&st, b->identity, b->identity_len);
    int greedy = p->temperature <= 0.0f;
    put_u32(buf, float_bits(greedy ? 0.0f : p->temperature));
    put_u32(buf + 4, (uint32_t)(greedy ? 0 : p->top_k));
    put_u32(buf + 8, float_bits(greedy ? 1.0f : p->top_p));
    uint64_t seed = greedy ? 0 : p->seed;
    put_u32(buf + 12, (uint32_t)seed);
    put_u32(buf + 16, (uint32_t)(seed >> 32));
    put_u32(buf + 20, (uint32_t)(p->ignore_eos != 0));
    put_u32(buf + 24, (uint32_t)p->n_stop);
    XXH3_128bits_update(&st, buf, 28);
    for (int i = 0; i < p->n_stop; i++) {
        size_t l = strnlen(p->stop[i], GEN_STOP_MAX);
        put_u32(buf, (uint32_t)l);
        XXH3_128bits_update(&st, buf, 4);
        XXH3_128bits_update(&st, p->stop[i], l);
    }
    /* parameters added later enter the key only when set, so that the
     * keys of requests without them (and the records on disk) stay */
    float min_p = greedy ? 0.0f : p->min_p;
    int penalty = p->repeat_penalty != 1.0f && p->repeat_last_n > 0;
    if (min_p > 0.0f || penalty) {
        XXH3_128bits_update(&st, "sampling-2", 10);
        put_u32(buf, float_bits(min_p));
        put_u32(buf + 4, float_bits(penalty ? p->repeat_penalty : 1.0f));
        put_u32(buf + 8, (uint32_t)(penalty ? p->repeat_last_n : 0));
        XXH3_128bits_update(&st, buf, 12);
    }
    put_u32(buf, (uint32_t)n);
    XXH3_128bits_update(&st, buf, 4);
    for (int i = 0; i < n; i++) {
        put_u32(buf, (uint32_t)ids[i]);
        XXH3_128bits_update(&st, buf, 4);
    }
    XXH128_canonical_t cano;
    XXH128_canonicalFromHash(&cano, XXH3_128bits_digest(&st));
    memcpy(key, cano.digest, 16);
}

/* ----------------------------------------------------------------- L1 */

/* The L1 policy's clock reads now (mu held). */
static void tick(rcache *c) { c->l1_pol->now = c->cfg.clock ? c->cfg.clock() : policy_clock_now(); }

/* Removes e from L1 (mu held); evicted: for the bound. */
static void l1_drop(rcache *c, l1_ent *e, int evicted) {
    tick(c);
    keymap_del(&c->l1, &e->kn);
    c->l1_pol->ops->remove(c->l1_pol, &e->pn, evicted);
    record_free(e->rec);
    free(e);
}

/* The bytes rec takes in L1, its entry included. */
static size_t l1_size(const record *rec) { return record_mem_bytes(rec) + sizeof(l1_ent); }

/* Keeps rec (taken over) in L1 under its key (mu held).  A record of the
 * key already there is replaced, unless keep_longer and it holds more
 * tokens (it serves everything the new one would).  The entry, or NULL
 * when rec was not kept. */
static l1_ent *l1_put(rcache *c, record *rec, int keep_longer) {
    km_node *k = keymap_get(&c->l1, rec->key);
    if (k) {
        l1_ent *old = KM_CONTAINER(k, l1_ent, kn);
        if (keep_longer && old->rec->n_gen > rec->n_gen) { record_free(rec); return NULL; }
        l1_drop(c, old, 0);
    }
    tick(c);
    size_t bytes = l1_size(rec);
    uint64_t pkey;
    memcpy(&pkey, rec->key, sizeof pkey);
    l1_ent *e = bytes <= c->cfg.l1_bytes &&
                        c->l1_pol->ops->admit(c->l1_pol, pkey, bytes, (double)rec->gen_us)
                    ? calloc(1, sizeof *e) : NULL;
    if (e) {
        e->pn.key = pkey;
        e->pn.bytes = bytes;
        e->pn.cost = (double)rec->gen_us;
    }
    if (!e) { record_free(rec); return NULL; }
    memcpy(e->kn.key, rec->key, 16);
    e->rec = rec;
    keymap_put(&c->l1, &e->kn);
    c->l1_pol->ops->insert(c->l1_pol, &e->pn);
    while (c->l1_pol->bytes > c->cfg.l1_bytes) {
        pol_node *v = c->l1_pol->ops->victim(c->l1_pol);
        if (!v) break;
        l1_ent *x = KM_CONTAINER(v, l1_ent, pn);
        if (x == e) e = NULL;                /* the new one can be the one to go */
        l1_drop(c, x, 1);
        c->l1_evictions++;
    }
    return e;
}

/* 1 if a record served from L2 should move up to L1: L1 has room for it,
 * or L2's policy predicts it will be used again (reuse, policy_predict:
 * -1 for a policy without a model, which promotes every hit). */
static int promote(const rcache *c, const record *rec, double reuse) {
    size_t bytes = l1_size(rec);
    return reuse < 0 || reuse >= PROMOTE_P || c->l1_pol->bytes + bytes <= c->cfg.l1_bytes;
}

void rcache_prefetch(rcache *c) {
    if (!c->disk || !c->cfg.l1_bytes) return;
    uint8_t keys[PREFETCH_MAX][16];
    int n = l2_due(c->disk, PREFETCH_AHEAD_S, keys, PREFETCH_MAX);
    size_t budget = c->cfg.l1_bytes / 4;     /* a quarter of L1 per look, or one record */
    for (int i = 0, moved = 0; i < n; i++) {
        pthread_mutex_lock(&c->mu);
        int have = keymap_get(&c->l1, keys[i]) != NULL;
        pthread_mutex_unlock(&c->mu);
        record *rec = NULL;
        if (have || l2_peek(c->disk, keys[i], &rec)) continue;
        size_t bytes = l1_size(rec);
        if (bytes > budget && moved) { record_free(rec); break; }
        budget -= bytes < budget ? bytes : budget;
        moved++;
        pthread_mutex_lock(&c->mu);
        if (keymap_get(&c->l1, keys[i])) {
            record_free(rec);               /* it came up meanwhile */
        } else {
            l1_ent *e = l1_put(c, rec, 1);
            if (e) {
                e->prefetched = 1;
                c->prefetched++;
            }
        }
        pthread_mutex_unlock(&c->mu);
    }
}

/* -------------------------------------------------------------- worker */

static void job_queue(rcache *c, job *j) {
    pthread_mutex_lock(&c->jmu);
    if (c->jtail) c->jtail->next = j;
    else c->jhead = j;
    c->jtail = j;
    pthread_cond_signal(&c->jcv);
    pthread_mutex_unlock(&c->jmu);
}

/* Queues r for the disk tier (taken over; dropped if memory is short). */
static void queue_write(rcache *c, record *r) {
    job *j = malloc(sizeof *j);
    if (!j) { record_free(r); return; }
    *j = (job){NULL, r, NULL};
    job_queue(c, j);
}

static void flight_free(flight *f) {
    if (!f) return;
    free(f->text);
    free(f->cuts);
    free(f);
}

/* Writes the records batched in jobs (a list) to the disk tier and frees
 * them. */
static void write_batch(rcache *c, job *list) {
    const record *recs[WRITE_BATCH];
    int n = 0;
    for (job *j = list; j; j = j->next) recs[n++] = j->rec;
    if (c->disk && n) l2_put(c->disk, recs, n);
    if (c->redis && n) l2r_put(c->redis, recs, n);
    while (list) {
        job *nx = list->next;
        record_free(list->rec);
        free(list);
        list = nx;
    }
}

/* The worker: releases finished flights at once; gathers records for the
 * disk for up to WRITE_DELAY_MS (or WRITE_BATCH of them) so that a busy
 * cache pays one trip to the disk per batch rather than per answer; at
 * the stop it writes everything queued. */
static void *worker(void *arg) {
    rcache *c = arg;
    pthread_setname_np(pthread_self(), "llmfs-cache");
    job *batch = NULL, **tail = &batch;
    int n = 0;
    struct timespec due = {0, 0}, look;
    int prefetching = c->disk && c->cfg.l1_bytes && c->l1_pol->ops->due;
    clock_gettime(CLOCK_REALTIME, &look);
    look.tv_sec += PREFETCH_EVERY_S;
    pthread_mutex_lock(&c->jmu);
    for (;;) {
        job *j = c->jhead;
        if (j) {
            c->jhead = j->next;
            if (!c->jhead) c->jtail = NULL;
            j->next = NULL;
            if (!j->f) {             /* a record: into the batch */
                if (!n) {
                    clock_gettime(CLOCK_REALTIME, &due);
                    due.tv_nsec += WRITE_DELAY_MS * 1000000L;
                    if (due.tv_nsec >= 1000000000L) { due.tv_sec++; due.tv_nsec -= 1000000000L; }
                }
                *tail = j;
                tail = &j->next;
                n++;
                if (n < WRITE_BATCH) continue;
            } else {                 /* a flight to release: embedded in it */
                pthread_mutex_unlock(&c->jmu);
                c->b->ops->release(c->b, j->f->breq);
                flight_free(j->f);
                pthread_mutex_lock(&c->jmu);
                continue;
            }
        }
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        int late = now.tv_sec > due.tv_sec || (now.tv_sec == due.tv_sec && now.tv_nsec >= due.tv_nsec);
        if (n && (n >= WRITE_BATCH || c->stop || late)) {
            pthread_mutex_unlock(&c->jmu);
            write_batch(c, batch);
            batch = NULL;
            tail = &batch;
            n = 0;
            pthread_mutex_lock(&c->jmu);
            continue;
        }
        if (c->stop && !c->jhead) break;
        if (prefetching && !c->jhead && now.tv_sec >= look.tv_sec) {
            pthread_mutex_unlock(&c->jmu);
            rcache_prefetch(c);
            look.tv_sec = now.tv_sec + PREFETCH_EVERY_S;
            pthread_mutex_lock(&c->jmu);
            continue;
        }
        if (n) pthread_cond_timedwait(&c->jcv, &c->jmu, &due);
        else if (prefetching) pthread_cond_timedwait(&c->jcv, &c->jmu, &look);
        else pthread_cond_wait(&c->jcv, &c->jmu);
    }
    pthread_mutex_unlock(&c->jmu);
    return NULL;
}

/* ------------------------------------------------------------- serving */


/* The text a request for max_tokens gets from rec: its length, token
 * count and end; 0 if rec cannot serve it. */
static int rec_cut(const record *rec, int max_tokens, size_t *len, int *n_tok, int *finish) {
    if (max_tokens >= rec->n_gen) {
        if (rec->finish == FINISH_LENGTH && max_tokens > rec->n_gen) return 0;
        *len = rec->text_len;
        *n_tok = rec->n_gen;
        /* at exactly n_gen tokens the length check comes before anything but a stop */
        *finish = max_tokens == rec->n_gen && rec->finish != FINISH_STOP ? FINISH_LENGTH
                                                                          : rec->finish;
        return 1;
    }
    if (max_tokens < 1 || rec->cuts[max_tokens - 1] == RECORD_NO_CUT) return 0;
    *len = rec->cuts[max_tokens - 1];
    *n_tok = max_tokens;
    *finish = FINISH_LENGTH;
    return 1;
}

/* Answers q from rec if it can (mu held): text, then on_done. */
static int serve(rcache *c, rcache_req *q, const record *rec, int max_tokens, cache_source src) {
    size_t len;
    int n_tok, finish;
    if (!rec_cut(rec, max_tokens, &len, &n_tok, &finish)) return 0;
    q->source = src;
    if (len && q->cb.on_text) q->cb.on_text(q->ud, rec->text, len);
    int64_t now = engine_now_ns();
    cache_result res = {.source = src};
    res.r.finish = finish;
    res.r.prompt_tokens = rec->prompt_tokens;
    res.r.generated_tokens = n_tok;
    res.r.t_submit_ns = q->t_submit_ns;
    res.r.t_start_ns = res.r.t_first_ns = res.r.t_done_ns = now;
    c->tokens_saved += (uint64_t)n_tok;
    c->ms_saved += rec->n_gen ? rec->gen_us / 1000.0 * n_tok / rec->n_gen : 0.0;
    if (q->cb.on_done) q->cb.on_done(q->ud, &res);
    return 1;
}

/* ------------------------------------------------------------- flights */

static void unkey(rcache *c, flight *f) {
    if (f->keyed) keymap_del(&c->flights, &f->kn);
    f->keyed = 0;
}

static void flight_text(void *ud, const char *text, size_t n) {
    flight *f = ud;
    rcache *c = f->c;
    pthread_mutex_lock(&c->mu);
    if (f->done || f->orphan) { pthread_mutex_unlock(&c->mu); return; }
    if (f->len + n > f->cap) {
        size_t cap = f->cap ? f->cap : 1024;
        while (cap < f->len + n) cap *= 2;
        char *t = realloc(f->text, cap);
        if (t) { f->text = t; f->cap = cap; }
        else f->store = 0;    /* a record would be short: followers still get the text */
    }
    if (f->len + n <= f->cap) {
        memcpy(f->text + f->len, text, n);
        f->len += n;
    }
    int64_t now = engine_now_ns();
    for (rcache_req *q = f->subs; q; q = q->next) {
        if (!q->t_first_ns) q->t_first_ns = now;
        if (q->cb.on_text) q->cb.on_text(q->ud, text, n);
    }
    pthread_mutex_unlock(&c->mu);
}

static void flight_token(void *ud, int n_gen, size_t cut) {
    flight *f = ud;
    rcache *c = f->c;
    pthread_mutex_lock(&c->mu);
    f->n_gen = n_gen;
    if (!f->done && !f->orphan && f->store) {
        if (f->n_cuts == f->cap_cuts) {
            int cap = f->cap_cuts ? f->cap_cuts * 2 : 64;
            uint32_t *u = realloc(f->cuts, (size_t)cap * sizeof *u);
            if (u) { f->cuts = u; f->cap_cuts = cap; }
        }
        while (f->n_cuts < n_gen && f->n_cuts < f->cap_cuts) {
            int last = f->n_cuts + 1 == n_gen;
            f->cuts[f->n_cuts++] = last && cut < RECORD_NO_CUT ? (uint32_t)cut : RECORD_NO_CUT;
        }
        if (f->n_cuts < n_gen) f->store = 0;
    }
    pthread_mutex_unlock(&c->mu);
}

/* The record of a finished flight, or NULL (mu held). */
static record *make_record(const flight *f, const uint8_t key[16], const sched_result *r) {
    record *rec = calloc(1, sizeof *rec);
    if (!rec) return NULL;
    memcpy(rec->key, key, 16);
    rec->finish = r->finish;
    rec->n_gen = r->generated_tokens;
    rec->prompt_tokens = r->prompt_tokens;
    rec->gen_us = r->t_done_ns > r->t_submit_ns ? (uint64_t)(r->t_done_ns - r->t_submit_ns) / 1000
                                                : 0;
    rec->created = (int64_t)time(NULL);
    rec->text_len = f->len;
    rec->text = malloc(f->len ? f->len : 1);
    rec->cuts = malloc((size_t)(rec->n_gen ? rec->n_gen : 1) * sizeof *rec->cuts);
    if (!rec->text || !rec->cuts) { record_free(rec); return NULL; }
    if (f->len) memcpy(rec->text, f->text, f->len);
    for (int k = 0; k < rec->n_gen; k++) {
        uint32_t cut = k < f->n_cuts ? f->cuts[k] : RECORD_NO_CUT;
        /* a stop string found later may have cut the text shorter */
        rec->cuts[k] = cut != RECORD_NO_CUT && cut <= f->len ? cut : RECORD_NO_CUT;
    }
    return rec;
}

static void flight_done(void *ud, const sched_result *r) {
    flight *f = ud;
    rcache *c = f->c;
    pthread_mutex_lock(&c->mu);
    if (f->orphan) { pthread_mutex_unlock(&c->mu); return; }
    f->done = 1;
    int ok = !r->error && r->finish != FINISH_ERROR && r->finish != FINISH_NONE;
    if (ok && f->store && f->len <= RECORD_MAX_TEXT && r->generated_tokens >= 0) {
        if (c->cfg.l1_bytes) {
            record *rec = make_record(f, f->kn.key, r);
            if (rec) l1_put(c, rec, f->p.cache != GEN_CACHE_REFRESH);
        }
        if (c->disk || c->redis) {
            record *rec = make_record(f, f->kn.key, r);
            if (rec) queue_write(c, rec);
        }
    }
    unkey(c, f);
    for (rcache_req *q = f->subs, *nx; q; q = nx) {
        nx = q->next;
        q->f = NULL;
        q->next = NULL;
        cache_result res = {.r = *r, .source = q->source};
        if (q->source == CACHE_JOINED) {
            res.r.t_submit_ns = res.r.t_start_ns = q->t_submit_ns;
            if (res.r.t_first_ns) res.r.t_first_ns = q->t_first_ns ? q->t_first_ns : r->t_done_ns;
            res.r.cached_tokens = 0;
            if (ok) {
                c->tokens_saved += (uint64_t)r->generated_tokens;
                c->ms_saved += (r->t_done_ns - r->t_submit_ns) / 1e6;
            }
        }
        if (q->cb.on_done) q->cb.on_done(q->ud, &res);
    }
    f->subs = NULL;
    if (f->breq) {
        f->release = (job){f, NULL, NULL};
        job_queue(c, &f->release);
    }
    pthread_mutex_unlock(&c->mu);
}

/* Follows flight f from now on: the text so far at once (mu held). */
static void join(rcache *c, flight *f, rcache_req *q) {
    q->source = CACHE_JOINED;
    q->f = f;
    q->next = f->subs;
    f->subs = q;
    c->joined++;
    if (f->len) {
        q->t_first_ns = engine_now_ns();
        if (q->cb.on_text) q->cb.on_text(q->ud, f->text, f->len);
    }
}

/* Serves q from L1 or joins a flight of its key, if either can (mu held). */
static int from_memory(rcache *c, rcache_req *q, const uint8_t key[16], const gen_params *p) {
    if (c->cfg.l1_bytes) {
        c->l1_lookups++;
        km_node *k = keymap_get(&c->l1, key);
        if (k) {
            l1_ent *e = KM_CONTAINER(k, l1_ent, kn);
            if (serve(c, q, e->rec, p->max_tokens, CACHE_L1)) {
                tick(c);
                c->l1_pol->ops->hit(c->l1_pol, &e->pn);
                c->l1_hits++;
                if (e->prefetched) {
                    e->prefetched = 0;
                    c->prefetch_hits++;
                }
                return 1;
            }
        }
    }
    km_node *k = keymap_get(&c->flights, key);
    if (k) {
        flight *f = KM_CONTAINER(k, flight, kn);
        if (f->p.max_tokens == p->max_tokens && !f->done && !f->orphan) {
            join(c, f, q);
            return 1;
        }
    }
    return 0;
}

static const sched_cb flight_cb = {flight_text, flight_done, flight_token};

int rcache_tokenize_chat(rcache *c, const char *text, size_t len, int first, int **ids) {
    if (!c->b->ops->tokenize_chat) return -EOPNOTSUPP;   /* a remote backend */
    return c->b->ops->tokenize_chat(c->b, text, len, first, ids);
}

int rcache_submit(rcache *c, const char *prompt, size_t len, const gen_params *p,
                  const cache_cb *cb, void *ud, rcache_req **out) {
    *out = NULL;
    int *ids = NULL;
    int n = c->b->ops->tokenize(c->b, prompt, len, &ids);
    if (n < 0) return n;
    int rc = rcache_submit_tokens(c, ids, n, p, cb, ud, out);
    free(ids);
    return rc;
}

int rcache_submit_tokens(rcache *c, const int *ids, int n, const gen_params *p,
                         const cache_cb *cb, void *ud, rcache_req **out) {
    *out = NULL;
    rcache_req *q = calloc(1, sizeof *q);
    if (!q) return -ENOMEM;
    q->c = c;
    q->cb = *cb;
    q->ud = ud;
    q->t_submit_ns = engine_now_ns();
    uint8_t key[16];
    make_key(c->b, ids, n, p, key);
    pthread_mutex_lock(&c->mu);
    if (p->cache == GEN_CACHE_ON) {
        int hit = from_memory(c, q, key, p);
        if (!hit && (c->disk || c->redis)) {
            pthread_mutex_unlock(&c->mu);
            record *rec = NULL;
            double reuse = -1;
            int rc = c->disk ? l2_get(c->disk, key, &rec, &reuse) : l2r_get(c->redis, key, &rec);
            pthread_mutex_lock(&c->mu);
            if (!rc) {
                hit = serve(c, q, rec, p->max_tokens, CACHE_L2);
                if (c->cfg.l1_bytes && promote(c, rec, reuse)) {
                    l1_put(c, rec, 1);
                    c->promoted++;
                } else {
                    c->not_promoted += c->cfg.l1_bytes > 0;
                    record_free(rec);
                }
            }
            /* an identical request may have started meanwhile */
            if (!hit) hit = from_memory(c, q, key, p);
        }
        if (hit) {
            pthread_mutex_unlock(&c->mu);
            *out = q;
            return 0;
        }
    }
    flight *f = calloc(1, sizeof *f);
    if (!f) { pthread_mutex_unlock(&c->mu); free(q); return -ENOMEM; }
    f->c = c;
    f->p = *p;
    f->prompt_tokens = n;
    f->store = p->cache != GEN_CACHE_OFF && (c->cfg.l1_bytes || c->disk || c->redis);
    memcpy(f->kn.key, key, 16);
    if (p->cache != GEN_CACHE_OFF) {
        km_node *k = keymap_get(&c->flights, key);
        if (k) unkey(c, KM_CONTAINER(k, flight, kn));   /* it goes on for its followers */
        keymap_put(&c->flights, &f->kn);
        f->keyed = 1;
        q->source = CACHE_MISS;
    } else {
        q->source = CACHE_BYPASS;
    }
    q->f = f;
    f->subs = q;
    pthread_mutex_unlock(&c->mu);

    backend_req *breq = NULL;
    int rc = c->b->ops->submit(c->b, ids, n, p, &flight_cb, f, &breq);
    pthread_mutex_lock(&c->mu);
    if (rc) {
        /* followers that joined meanwhile learn that it failed */
        unkey(c, f);
        f->done = 1;
        sched_result r = {.finish = FINISH_ERROR, .error = rc};
        for (rcache_req *s = f->subs; s; s = s->next) {
            s->f = NULL;
            if (s == q) continue;
            cache_result res = {.r = r, .source = s->source};
            res.r.t_submit_ns = s->t_submit_ns;
            res.r.t_done_ns = engine_now_ns();
            if (s->cb.on_done) s->cb.on_done(s->ud, &res);
        }
        pthread_mutex_unlock(&c->mu);
        flight_free(f);
        free(q);
        return rc;
    }
    f->breq = breq;
    if (q->source == CACHE_MISS) c->misses++;   /* counted once the backend took it */
    else c->bypass++;
    int ended = f->done || f->orphan;
    pthread_mutex_unlock(&c->mu);
    if (ended) {             /* it finished before we knew its handle */
        c->b->ops->release(c->b, breq);
        flight_free(f);
    }
    *out = q;
    return 0;
}

cache_source rcache_req_source(const rcache_req *q) { return q->source; }

int rcache_check(rcache *c, const gen_params *p, char *why, size_t whylen) {
    return c->b->ops->check ? c->b->ops->check(c->b, p, why, whylen) : 0;
}

void rcache_release(rcache *c, rcache_req *q) {
    if (!q) return;
    backend_req *cancel = NULL;
    flight *f;
    pthread_mutex_lock(&c->mu);
    if ((f = q->f)) {
        rcache_req **pp = &f->subs;
        while (*pp && *pp != q) pp = &(*pp)->next;
        if (*pp) *pp = q->next;
        q->f = NULL;
        if (!f->subs && !f->done) {
            f->orphan = 1;
            unkey(c, f);
            cancel = f->breq;        /* NULL: its submitter frees it */
        }
    }
    pthread_mutex_unlock(&c->mu);
    if (cancel) {
        c->b->ops->release(c->b, cancel);
        flight_free(f);
    }
    free(q);
}

void rcache_req_progress(rcache *c, const rcache_req *q, int *prompt_tokens, int *generated) {
    pthread_mutex_lock(&c->mu);
    *prompt_tokens = q->f ? q->f->prompt_tokens : -1;
    *generated = q->f ? q->f->n_gen : -1;
    pthread_mutex_unlock(&c->mu);
}

void rcache_get_stats(rcache *c, rcache_stats *o) {
    memset(o, 0, sizeof *o);
    pthread_mutex_lock(&c->mu);
    o->l1_on = c->cfg.l1_bytes > 0;
    o->l1.lookups = c->l1_lookups;
    o->l1.hits = c->l1_hits;
    o->l1.evictions = c->l1_evictions;
    o->l1.entries = c->l1_pol->count;
    o->l1.bytes = c->l1_pol->bytes;
    c->l1_pol->ops->get_stats(c->l1_pol, &o->l1_policy);
    o->misses = c->misses;
    o->joined = c->joined;
    o->bypass = c->bypass;
    o->tokens_saved = c->tokens_saved;
    o->ms_saved = c->ms_saved;
    o->l2_promoted = c->promoted;
    o->l2_not_promoted = c->not_promoted;
    o->prefetched = c->prefetched;
    o->prefetch_hits = c->prefetch_hits;
    pthread_mutex_unlock(&c->mu);
    l2_stats s;
    l2r_stats rs;
    if (c->disk) l2_get_stats(c->disk, &s);
    if (c->redis) {
        l2r_get_stats(c->redis, &rs);
        s = rs.l2;
    }
    if (c->disk || c->redis) {
        o->l2_on = 1;
        o->l2.lookups = s.lookups;
        o->l2.hits = s.hits;
        o->l2.evictions = s.evictions;
        o->l2.entries = s.entries;
        o->l2.bytes = s.bytes;
        o->l2_raw_bytes = s.raw_bytes;
        o->l2_writes = s.writes;
        o->l2_write_errors = s.write_errors;
        o->l2_corrupt = s.corrupt;
        o->l2_foreign = s.foreign;
    }
    if (c->redis) {
        o->l2_redis = 1;
        o->l2_redis_up = rs.up;
        o->l2_redis_errors = rs.errors;
        o->l2_forged = rs.forged;
        o->l2_skipped = rs.skipped;
    }
}

/* ------------------------------------------------------------- set up */

int rcache_new(const cache_config *cfg, rcache **out, char *msg, size_t msglen) {
    *out = NULL;
    msg[0] = 0;
    rcache *c = calloc(1, sizeof *c);
    if (!c) return -ENOMEM;
    c->cfg = *cfg;
    c->cfg.l2_dir = c->cfg.l2_redis = c->cfg.l2_hmac_key_file = NULL;
    if (keymap_init(&c->l1) || keymap_init(&c->flights) || !(c->l1_pol = policy_new(cfg->policy, cfg->l1_bytes))) {
        rcache_free(c);
        return -ENOMEM;
    }
    pthread_mutex_init(&c->mu, NULL);
    pthread_mutex_init(&c->jmu, NULL);
    pthread_cond_init(&c->jcv, NULL);
    if (cfg->l2_redis) {
        int rc = l2r_open(cfg->l2_redis, cfg->l2_hmac_key_file, &c->redis, msg, msglen);
        if (rc) { rcache_free(c); return rc; }
    } else if (cfg->l2_dir && cfg->l2_bytes) {
        int rc = l2_open(cfg->l2_dir, cfg->l2_bytes, cfg->policy, &c->disk, msg, msglen);
        if (rc) { rcache_free(c); return rc; }
        if (c->disk && cfg->clock) l2_set_clock(c->disk, cfg->clock);
    }
    *out = c;
    return 0;
}

int rcache_start(rcache *c, backend *b) {
    c->b = b;
    int rc = pthread_create(&c->th, NULL, worker, c);
    if (rc) return -rc;
    c->started = 1;
    return c->redis ? l2r_start(c->redis) : 0;
}

void rcache_free(rcache *c) {
    if (!c) return;
    if (c->started) {
        pthread_mutex_lock(&c->jmu);
        c->stop = 1;
        pthread_cond_signal(&c->jcv);
        pthread_mutex_unlock(&c->jmu);
        pthread_join(c->th, NULL);
    }
    if (c->l1_pol) {
        pol_node *v;
        while ((v = c->l1_pol->ops->victim(c->l1_pol))) l1_drop(c, KM_CONTAINER(v, l1_ent, pn), 0);
        policy_free(c->l1_pol);
        pthread_mutex_destroy(&c->mu);
        pthread_mutex_destroy(&c->jmu);
        pthread_cond_destroy(&c->jcv);
    }
    keymap_release(&c->l1);
    keymap_release(&c->flights);
    l2_close(c->disk);
    l2r_close(c->redis);
    free(c);
}
