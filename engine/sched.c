/* This file implements the scheduler of sched.h.  One thread owns the
 * engine.  Shared state (the queues, the running set, flags of requests)
 * is protected by sched.mu; sequences themselves are touched only by the
 * scheduler thread.  Callbacks run on the scheduler thread without mu
 * held; a request's in_cb count lets sched_release wait for a callback in
 * progress.  Invariant: a request is in exactly one of: a wait queue, the
 * running array, or neither (finished, waiting for sched_release). */
#include "engine/sched.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

enum { RQ_QUEUED, RQ_RUNNING, RQ_DONE };

struct sched_req {
    sched_req *next;          /* in a wait queue */
    seq *s;
    int prio, state;
    _Atomic int released;     /* the caller gave up its handle */
    int in_cb;                /* callbacks in progress (under mu) */
    sched_cb cb;
    void *ud;
    sched_result r;
};

struct sched {
    engine *e;
    sched_config cfg;
    pthread_t th;
    pthread_mutex_t mu;       /* protects everything below */
    pthread_cond_t work;      /* signalled on submit, release and stop */
    pthread_cond_t idle;      /* signalled when callbacks end or requests retire */
    sched_req *head[3], *tail[3];   /* wait queues per priority, FIFO */
    int n_waiting;
    sched_req **running;      /* (cfg.max_batch) */
    int n_running;
    double limit;             /* adaptive concurrency limit */
    int stop;
    sched_stats st;
    uint64_t tok_sec[SCHED_RATE_S + 1];   /* tokens generated in second tok_at[i] */
    int64_t tok_at[SCHED_RATE_S + 1];
    /* scheduler thread only */
    seq **batch;              /* (cfg.max_batch) */
    int steps_since_adjust;
    double tpot_sum_ms;
    int tpot_n;
};

static void on_emit(void *ud, const char *text, size_t n) {
    sched_req *q = ud;
    if (!atomic_load(&q->released) && q->cb.on_text) q->cb.on_text(q->ud, text, n);
}

static void req_free(sched *s, sched_req *q) {
    if (q->s) seq_free(s->e, q->s);
    free(q);
}

static void on_token(void *ud, int n_gen, size_t cut) {
    sched_req *q = ud;
    if (!atomic_load(&q->released) && q->cb.on_token) q->cb.on_token(q->ud, n_gen, cut);
}

engine *sched_engine(sched *s) { return s->e; }

int sched_submit(sched *s, const char *prompt, size_t len, const gen_params *p,
                 const sched_cb *cb, void *ud, sched_req **out) {
    int *ids;
    int n = engine_tokenize(s->e, prompt, len, &ids);
    *out = NULL;
    if (n < 0) return n;
    int rc = sched_submit_tokens(s, ids, n, p, cb, ud, out);
    free(ids);
    return rc;
}

int sched_submit_tokens(sched *s, const int *ids, int n, const gen_params *p,
                        const sched_cb *cb, void *ud, sched_req **out) {
    *out = NULL;
    int prio = p->priority >= PRIO_HIGH && p->priority <= PRIO_LOW ? (int)p->priority
                                                                    : PRIO_NORMAL;
    sched_req *q = calloc(1, sizeof *q);
    if (!q) return -ENOMEM;
    q->prio = prio;
    q->cb = *cb;
    q->ud = ud;
    q->r.t_submit_ns = engine_now_ns();
    int rc = seq_new_tokens(s->e, ids, n, p, on_emit, q, &q->s);
    if (!rc) q->s->on_token = on_token;
    pthread_mutex_lock(&s->mu);
    if (!rc && s->n_waiting >= s->cfg.queue) rc = -EBUSY;
    if (rc) {
        if (rc == -EBUSY) s->st.rejected_busy++;
        pthread_mutex_unlock(&s->mu);
        req_free(s, q);
        return rc;
    }
    q->state = RQ_QUEUED;
    if (s->tail[prio]) s->tail[prio]->next = q;
    else s->head[prio] = q;
    s->tail[prio] = q;
    s->n_waiting++;
    s->st.submitted++;
    s->st.prompt_tokens += (uint64_t)q->s->n_prompt;
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->mu);
    *out = q;
    return 0;
}

/* Removes q from its wait queue (mu held). */
static void unqueue(sched *s, sched_req *q) {
    sched_req **pp = &s->head[q->prio], *prev = NULL;
    while (*pp && *pp != q) { prev = *pp; pp = &(*pp)->next; }
    if (!*pp) return;
    *pp = q->next;
    if (s->tail[q->prio] == q) s->tail[q->prio] = prev;
    q->next = NULL;
    s->n_waiting--;
}

void sched_release(sched *s, sched_req *q) {
    if (!q) return;
    pthread_mutex_lock(&s->mu);
    atomic_store(&q->released, 1);
    if (q->state == RQ_QUEUED) {
        unqueue(s, q);
        s->st.cancelled++;
        q->state = RQ_DONE;
    } else if (q->state == RQ_RUNNING) {
        /* the scheduler thread retires it between two steps */
        pthread_cond_signal(&s->work);
        while (q->state == RQ_RUNNING) pthread_cond_wait(&s->idle, &s->mu);
    }
    while (q->in_cb) pthread_cond_wait(&s->idle, &s->mu);
    pthread_mutex_unlock(&s->mu);
    req_free(s, q);
}

/* Adds tokens generated at now_ns to the per-second counts (mu held). */
static void rate_add(sched *s, int64_t now_ns, uint64_t tokens) {
    int64_t sec = now_ns / 1000000000;
    size_t i = (size_t)(sec % (SCHED_RATE_S + 1));
    if (s->tok_at[i] != sec) { s->tok_at[i] = sec; s->tok_sec[i] = 0; }
    s->tok_sec[i] += tokens;
}

void sched_get_stats(sched *s, sched_stats *out) {
    int64_t sec = engine_now_ns() / 1000000000;
    pthread_mutex_lock(&s->mu);
    *out = s->st;
    uint64_t sum = 0;
    for (size_t i = 0; i <= SCHED_RATE_S; i++)
        if (s->tok_at[i] < sec && s->tok_at[i] >= sec - SCHED_RATE_S) sum += s->tok_sec[i];
    out->tokens_per_s = (double)sum / SCHED_RATE_S;
    out->running = s->n_running;
    out->waiting = s->n_waiting;
    out->limit = (int)s->limit;
    pthread_mutex_unlock(&s->mu);
}

/* ------------------------------------------------------ scheduler thread */

/* Copies the KV cache's figures into the stats (mu held, on the
 * scheduler thread, the only one that changes the cache). */
static void kv_snapshot(sched *s) {
    kv_stats k;
    kv_get_stats(engine_kv(s->e), &k);
    s->st.kv_blocks_total = k.blocks_total;
    s->st.kv_blocks_used = k.blocks_used;
    s->st.kv_blocks_cached = k.blocks_cached;
    s->st.kv_evictions = k.evictions;
    s->st.kv_block_bytes = k.block_bytes;
    s->st.kv_policy = k.policy;
}


/* Takes finished or released requests out of the running set (mu held).
 * Finished ones that are not released get on_done, delivered with mu
 * dropped; the running array is compacted first so that it stays
 * consistent while mu is released. */
static void retire(sched *s) {
    sched_req *done[s->cfg.max_batch > 0 ? s->cfg.max_batch : 1];
    int nd = 0, k = 0;
    for (int i = 0; i < s->n_running; i++) {
        sched_req *q = s->running[i];
        seq *sq = q->s;
        if (atomic_load(&q->released)) {
            if (sq->state != SEQ_DONE) s->st.cancelled++;
            seq_cancel(s->e, sq);       /* frees the KV blocks now */
            q->state = RQ_DONE;
            continue;
        }
        if (sq->state == SEQ_DONE) {
            kv_seq_clear(engine_kv(s->e), &sq->kv);
            q->state = RQ_DONE;
            q->in_cb++;
            done[nd++] = q;
            continue;
        }
        s->running[k++] = q;
    }
    s->n_running = k;
    kv_snapshot(s);
    pthread_cond_broadcast(&s->idle);
    for (int i = 0; i < nd; i++) {
        sched_req *q = done[i];
        seq *sq = q->s;
        q->r.finish = sq->finish;
        q->r.prompt_tokens = sq->n_prompt;
        q->r.cached_tokens = sq->n_cached;
        q->r.generated_tokens = sq->n_gen;
        q->r.gen_ids = sq->tokens + sq->n_prompt;
        q->r.t_first_ns = sq->t_first_ns;
        q->r.t_done_ns = sq->t_done_ns;
        s->st.finished++;
        pthread_mutex_unlock(&s->mu);
        if (q->cb.on_done) q->cb.on_done(q->ud, &q->r);
        pthread_mutex_lock(&s->mu);
        q->in_cb--;
    }
    if (nd) pthread_cond_broadcast(&s->idle);
}

/* Moves waiting requests into the running set, highest priority first,
 * while the concurrency limit allows and the KV cache has room for the
 * prompt plus a block of growth for everyone running (mu held; the
 * scheduler thread is the only one that changes the cache).  Alone, a
 * request is always admitted: the cache holds at least one context. */
static void admit(sched *s) {
    int lim = (int)s->limit;
    if (lim < 1) lim = 1;
    kv_cache *kv = engine_kv(s->e);
    while (s->n_running < lim && s->n_waiting) {
        sched_req *q = NULL;
        for (int p = PRIO_HIGH; p <= PRIO_LOW && !q; p++) q = s->head[p];
        int need = (q->s->n_tokens + KV_BLOCK) / KV_BLOCK + s->n_running;
        if (s->n_running && kv_available(kv) < need) break;
        unqueue(s, q);
        q->state = RQ_RUNNING;
        q->r.t_start_ns = engine_now_ns();
        s->running[s->n_running++] = q;
    }
}

/* Additive increase while time per output token meets the target,
 * multiplicative decrease when it does not (mu held).  Each decision
 * waits for evidence about the current limit: it rises only when demand
 * fills it, and falls again only once the running set has drained down to
 * it (running sequences are never evicted, so while more than the limit
 * still run, a slow step says nothing new about the limit). */
static void adapt(sched *s, double step_ms, int all_decode) {
    if (!s->cfg.adaptive || !all_decode) return;   /* a fixed limit is set in sched_new */
    s->tpot_sum_ms += step_ms;
    s->tpot_n++;
    if (++s->steps_since_adjust < 8) return;
    double tpot = s->tpot_sum_ms / s->tpot_n;
    int lim = (int)s->limit;
    if (tpot <= s->cfg.tpot_target_ms) {
        if (s->n_running >= lim) s->limit += 1;
    } else if (s->n_running <= lim) {
        s->limit *= 0.75;
    }
    if (s->limit > s->cfg.max_batch) s->limit = s->cfg.max_batch;
    if (s->limit < 1) s->limit = 1;
    s->steps_since_adjust = 0;
    s->tpot_sum_ms = 0;
    s->tpot_n = 0;
}

static void *sched_main(void *arg) {
    sched *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        retire(s);
        admit(s);
        if (!s->n_running) {
            pthread_cond_wait(&s->work, &s->mu);
            continue;
        }
        int n = s->n_running, all_decode = 1;
        uint64_t gen0 = 0, gen1 = 0;
        for (int i = 0; i < n; i++) {
            s->batch[i] = s->running[i]->s;
            if (s->batch[i]->state != SEQ_DECODE) all_decode = 0;
            gen0 += (uint64_t)s->batch[i]->n_gen;
        }
        pthread_mutex_unlock(&s->mu);
        int64_t t0 = engine_now_ns();
        int rc = engine_step(s->e, s->batch, n);
        int64_t t1 = engine_now_ns();
        int preempted = 0;
        if (rc == -ENOSPC) {
            /* No KV room for anyone: the youngest sequences holding blocks
             * give them back until some block is actually free (blocks
             * shared with others free nothing); they recompute later and,
             * the pass being deterministic, produce the same tokens. */
            kv_cache *kv = engine_kv(s->e);
            int before = kv_available(kv);
            for (int i = n - 1; i >= 0 && kv_available(kv) == before; i--)
                if (s->batch[i]->kv.n_blocks && s->batch[i]->state != SEQ_DONE) {
                    engine_preempt(s->e, s->batch[i]);
                    preempted++;
                }
        }
        for (int i = 0; i < n; i++) gen1 += (uint64_t)s->batch[i]->n_gen;
        pthread_mutex_lock(&s->mu);
        s->st.preemptions += (uint64_t)preempted;
        if (rc > 0) {
            s->st.steps++;
            s->st.batch_tokens += (uint64_t)rc;
            s->st.batch_seqs += (uint64_t)n;
            int k = 0;
            while (k < SCHED_BATCH_BUCKETS - 1 && n > (1 << k)) k++;
            s->st.batch_hist[k]++;
            s->st.generated_tokens += gen1 - gen0;
            rate_add(s, t1, gen1 - gen0);
            engine_prefix_stats(s->e, &s->st.prefix_queries, &s->st.prefix_hits);
            adapt(s, (t1 - t0) / 1e6, all_decode);
        }
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

int sched_new(engine *e, const sched_config *cfg, sched **out) {
    *out = NULL;
    sched *s = calloc(1, sizeof *s);
    if (!s) return -ENOMEM;
    s->e = e;
    s->cfg = *cfg;
    if (s->cfg.max_batch < 1) s->cfg.max_batch = 1;
    if (s->cfg.queue < 1) s->cfg.queue = 1;
    s->limit = s->cfg.adaptive ? (s->cfg.max_batch < 4 ? s->cfg.max_batch : 4) : s->cfg.max_batch;
    s->running = calloc((size_t)s->cfg.max_batch, sizeof *s->running);
    s->batch = calloc((size_t)s->cfg.max_batch, sizeof *s->batch);
    if (!s->running || !s->batch) { free(s->running); free(s->batch); free(s); return -ENOMEM; }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->work, NULL);
    pthread_cond_init(&s->idle, NULL);
    if (pthread_create(&s->th, NULL, sched_main, s)) {
        free(s->running); free(s->batch); free(s);
        return -EAGAIN;
    }
    *out = s;
    return 0;
}

void sched_free(sched *s) {
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_cond_broadcast(&s->work);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->th, NULL);
    for (int i = 0; i < s->n_running; i++) {
        sched_req *q = s->running[i];
        seq_cancel(s->e, q->s);
        q->state = RQ_DONE;   /* the caller still releases its handle */
    }
    for (int p = 0; p < 3; p++)
        for (sched_req *q = s->head[p]; q; q = q->next) q->state = RQ_DONE;
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->work);
    pthread_cond_destroy(&s->idle);
    free(s->running);
    free(s->batch);
    free(s);
}
