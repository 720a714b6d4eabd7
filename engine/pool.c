/* A fixed pthread pool that runs one job at a time on all its threads, the
 * caller being thread 0.  A job is published by bumping a generation
 * counter; idle workers spin on it for SPIN_NS and then sleep on a condition
 * variable, and pool_run only takes the mutex when some worker sleeps, so a
 * job on busy workers costs a few cache-line transfers (about 1 us). */
#include "engine/pool.h"
#include "engine/clock.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

#define SPIN_NS 50000   /* how long an idle worker spins before sleeping */

struct worker {
    pool *p;
    int ith;
    pthread_t tid;
};

struct pool {
    /* written by pool_run before each job, read by workers after they see
     * the new generation */
    pool_fn fn;
    void *arg;
    int n;                       /* threads, including the caller */
    struct worker *w;            /* (n - 1) started workers */
    _Alignas(64) atomic_uint gen;     /* job generation; bumped per job */
    _Alignas(64) atomic_int pending;  /* workers still running the job */
    _Alignas(64) atomic_int sleepers; /* workers waiting on `wake` */
    atomic_int stop;
    pthread_mutex_t mu;          /* protects the sleep/wake handshake */
    pthread_cond_t wake;
};

static uint64_t now_ns(void) { return (uint64_t)clock_mono_ns(); }

/* Waits until gen differs from seen (or stop); returns the new gen. */
static unsigned wait_job(pool *p, unsigned seen)
{
    unsigned g;
    uint64_t t0 = 0;
    for (int i = 0;; i++) {
        g = atomic_load_explicit(&p->gen, memory_order_acquire);
        if (g != seen || atomic_load_explicit(&p->stop, memory_order_relaxed))
            return g;
        cpu_relax();
        if ((i & 63) == 63) {
            uint64_t t = now_ns();
            if (!t0)
                t0 = t;
            else if (t - t0 > SPIN_NS)
                break;
        }
    }
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add(&p->sleepers, 1);   /* seq_cst: pairs with pool_run */
    while ((g = atomic_load(&p->gen)) == seen && !atomic_load(&p->stop))
        pthread_cond_wait(&p->wake, &p->mu);
    atomic_fetch_sub(&p->sleepers, 1);
    pthread_mutex_unlock(&p->mu);
    return g;
}

static void *worker_main(void *v)
{
    struct worker *w = v;
    pool *p = w->p;
    unsigned seen = 0;
    for (;;) {
        seen = wait_job(p, seen);
        if (atomic_load_explicit(&p->stop, memory_order_acquire))
            break;
        p->fn(p->arg, w->ith, p->n);
        atomic_fetch_sub_explicit(&p->pending, 1, memory_order_release);
    }
    return NULL;
}

pool *pool_new(int n_threads)
{
    if (n_threads < 1)
        n_threads = 1;
    pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->n = n_threads;
    atomic_init(&p->gen, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->stop, 0);
    if (pthread_mutex_init(&p->mu, NULL) != 0)
        goto fail_mu;
    if (pthread_cond_init(&p->wake, NULL) != 0)
        goto fail_cond;
    p->w = calloc((size_t)n_threads, sizeof *p->w);
    if (!p->w)
        goto fail_w;
    int started = 0;
    for (; started < n_threads - 1; started++) {
        struct worker *w = &p->w[started];
        w->p = p;
        w->ith = started + 1;
        if (pthread_create(&w->tid, NULL, worker_main, w) != 0)
            break;
    }
    if (started == n_threads - 1)
        return p;
    /* unwind: stop the workers that did start */
    p->n = started + 1;
    pool_free(p);
    return NULL;
fail_w:
    pthread_cond_destroy(&p->wake);
fail_cond:
    pthread_mutex_destroy(&p->mu);
fail_mu:
    free(p);
    return NULL;
}

void pool_free(pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    atomic_fetch_add(&p->gen, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n - 1; i++)
        pthread_join(p->w[i].tid, NULL);
    free(p->w);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

int pool_threads(const pool *p)
{
    return p ? p->n : 1;
}

void pool_run(pool *p, pool_fn fn, void *arg)
{
    if (!p || p->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    atomic_store_explicit(&p->pending, p->n - 1, memory_order_relaxed);
    /* seq_cst publish, then check for sleepers: a worker either sees the new
     * generation or is counted in sleepers before it waits (Dekker). */
    atomic_fetch_add(&p->gen, 1);
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
    }
    fn(arg, 0, p->n);
    /* the workers run equal shares, so this wait is short; yield only if a
     * worker seems descheduled */
    for (unsigned i = 1; atomic_load_explicit(&p->pending, memory_order_acquire) != 0; i++) {
        cpu_relax();
        if (i >= 2048 && (i & 255) == 0)
            sched_yield();
    }
}
