/* What the response cache adds to a miss, without FUSE in the way:
 * submission to first text for distinct prompts through rcache_submit with
 * the cache on (key, L1 and L2 lookups, flight, record kept in L1) against
 * cache: off (straight to the backend), alternating, ITER of each; and the
 * time of an L1 hit (submit to on_done).  Medians and p99, microseconds.
 *   build/bench/rcache_bench MODEL [ITER]     (no disk tier) */
#include "cache/backend.h"
#include "cache/rcache.h"
#include "engine/engine.h"
#include "engine/sched.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int64_t t_first;
    int done;
} sink;

static void s_text(void *ud, const char *t, size_t n) {
    sink *k = ud;
    pthread_mutex_lock(&k->mu);
    if (!k->t_first) k->t_first = engine_now_ns();
    pthread_mutex_unlock(&k->mu);
}

static void s_done(void *ud, const cache_result *r) {
    sink *k = ud;
    pthread_mutex_lock(&k->mu);
    if (!k->t_first) k->t_first = engine_now_ns();
    k->done = 1;
    pthread_cond_signal(&k->cv);
    pthread_mutex_unlock(&k->mu);
}

static const cache_cb cb = {s_text, s_done};

/* Microseconds from submission to the first text (or the end). */
static double one(rcache *c, const char *prompt, const gen_params *p) {
    sink k = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    rcache_req *q;
    int64_t t0 = engine_now_ns();
    if (rcache_submit(c, prompt, strlen(prompt), p, &cb, &k, &q)) { perror("submit"); exit(1); }
    pthread_mutex_lock(&k.mu);
    while (!k.done) pthread_cond_wait(&k.cv, &k.mu);
    pthread_mutex_unlock(&k.mu);
    rcache_release(c, q);
    return (k.t_first - t0) / 1e3;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void show(const char *what, double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp);
    printf("%-34s median %8.2f us  p99 %8.2f us\n", what, v[(n - 1) / 2], v[(int)(0.99 * n)]);
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: rcache_bench MODEL [ITER]\n"); return 2; }
    int iter = argc > 2 ? atoi(argv[2]) : 2000;
    char err[256], msg[256];
    model *m;
    engine *e;
    sched *s;
    backend *b;
    rcache *c;
    sched_config sc = {.max_batch = 4, .queue = 64, .tpot_target_ms = 50, .adaptive = 0};
    cache_config cc = {.l1_bytes = 64 << 20, .policy = "lru"};
    uint8_t fp[16] = {0};
    if (model_load(argv[1], NULL, &m, err, sizeof err) ||
        engine_new(m, 1, 0, 64, 0, &e, err, sizeof err) || sched_new(e, &sc, &s) ||
        backend_local_new(s, fp, NULL, &b) || rcache_new(&cc, &c, msg, sizeof msg) ||
        rcache_start(c, b)) {
        fprintf(stderr, "rcache_bench: %s\n", err);
        return 1;
    }
    double *on = malloc(sizeof(double) * (size_t)iter), *off = malloc(sizeof(double) * (size_t)iter),
           *hit = malloc(sizeof(double) * (size_t)iter);
    gen_params p;
    gen_params_default(&p);
    p.max_tokens = 1;
    char prompt[128];
    for (int i = 0; i < iter; i++) {
        snprintf(prompt, sizeof prompt, "The cat number %d sat on the mat", i);
        p.cache = GEN_CACHE_ON;
        on[i] = one(c, prompt, &p);
        hit[i] = one(c, prompt, &p);
        snprintf(prompt, sizeof prompt, "The dog number %d sat on the mat", i);
        p.cache = GEN_CACHE_OFF;
        off[i] = one(c, prompt, &p);
    }
    show("miss, cache on: submit to text", on, iter);
    show("cache: off: submit to text", off, iter);
    show("L1 hit: submit to text", hit, iter);
    printf("a miss pays %.2f us for the cache (median difference)\n",
           on[(iter - 1) / 2] - off[(iter - 1) / 2]);
    rcache_free(c);
    backend_free(b);
    sched_free(s);
    engine_free(e);
    model_free(m);
    return 0;
}
