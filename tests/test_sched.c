/* The scheduler thread: everything accepted completes with the same bytes
 * it would produce alone, even when the KV cache is too small for all of
 * it at once (admission waits, growth preempts and recomputes); a full
 * queue refuses with EBUSY; release cancels. */
#include "tests/harness.h"
#include "tests/test_model.h"
#include "engine/sched.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#define NREQ 12

static model *m;

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char text[8192];
    size_t len;
    int done, finish, gen;
} sink;

static void on_text(void *ud, const char *t, size_t n) {
    sink *k = ud;
    pthread_mutex_lock(&k->mu);
    if (k->len + n < sizeof k->text) { memcpy(k->text + k->len, t, n); k->len += n; }
    pthread_mutex_unlock(&k->mu);
}

static void on_done(void *ud, const sched_result *r) {
    sink *k = ud;
    pthread_mutex_lock(&k->mu);
    k->done = 1;
    k->finish = r->finish;
    k->gen = r->generated_tokens;
    pthread_cond_broadcast(&k->cv);
    pthread_mutex_unlock(&k->mu);
}

static void wait_done(sink *k) {
    pthread_mutex_lock(&k->mu);
    while (!k->done) pthread_cond_wait(&k->cv, &k->mu);
    pthread_mutex_unlock(&k->mu);
}

static const sched_cb cb = { on_text, on_done, NULL };

static int shared_prefix;   /* prompts share a long beginning */

static void prompt_of(int i, char *buf, size_t cap) {
    if (shared_prefix)
        snprintf(buf, cap, "Once upon a time there was a little girl named Lily. She loved to "
                 "play outside in the park with her big red ball and her dog. Child %d", i % 3);
    else
        snprintf(buf, cap, "Once upon a time, child number %d went to the park", i);
}

static const char *kv_policy = "lru";   /* the prefix cache's policy */

static void params_of(int i, gen_params *p) {
    gen_params_default(p);
    p->max_tokens = 200;
    p->ignore_eos = 1;
    p->temperature = i % 2 ? 0.8f : 0.0f;
    p->seed = (uint64_t)i;
}

static void kv_pressure(void) {
    char err[256];
    /* the reference: each request alone */
    static sink alone[NREQ];
    engine *e1;
    CHECK(engine_new(m, 1, 0, 64, 0, &e1, err, sizeof err) == 0);
    for (int i = 0; i < NREQ; i++) {
        char pr[256];
        gen_params p;
        prompt_of(i, pr, sizeof pr);
        params_of(i, &p);
        seq *s;
        alone[i].len = 0;
        CHECK(seq_new(e1, pr, strlen(pr), &p, on_text, &alone[i], &s) == 0);
        engine_generate(e1, s);
        seq_free(e1, s);
    }
    engine_free(e1);
    /* all at once through the scheduler, with KV room for about two
     * contexts (64 blocks) where 12 x 15 blocks are wanted */
    engine *e;
    kv_cache probe;
    CHECK(kv_init(&probe, m->c.n_layers, m->c.n_kv_heads * m->c.head_dim, 0, 16) == 0);
    size_t block = kv_block_bytes(&probe);
    kv_release(&probe);
    CHECK(engine_new(m, 2, 64 * block, 64, 0, &e, err, sizeof err) == 0);
    sched_config cfg = { .max_batch = 12, .queue = 64, .tpot_target_ms = 50, .adaptive = 0 };
    sched *s;
    engine_set_prefix_cache(e, shared_prefix);
    CHECK(engine_set_prefix_policy(e, kv_policy) == 0);
    CHECK(sched_new(e, &cfg, &s) == 0);
    static sink got[NREQ];
    sched_req *rq[NREQ];
    for (int i = 0; i < NREQ; i++) {
        char pr[256];
        gen_params p;
        prompt_of(i, pr, sizeof pr);
        params_of(i, &p);
        memset(&got[i], 0, sizeof got[i]);
        pthread_mutex_init(&got[i].mu, NULL);
        pthread_cond_init(&got[i].cv, NULL);
        CHECK(sched_submit(s, pr, strlen(pr), &p, &cb, &got[i], &rq[i]) == 0);
    }
    for (int i = 0; i < NREQ; i++) {
        wait_done(&got[i]);
        CHECKF(got[i].gen == 200, "request %d generated %d", i, got[i].gen);
        CHECKF(got[i].len == alone[i].len && !memcmp(got[i].text, alone[i].text, alone[i].len),
               "request %d differs from its solo run", i);
        sched_release(s, rq[i]);
    }
    sched_stats st;
    sched_get_stats(s, &st);
    CHECK(st.finished == NREQ);
    CHECKF(st.preemptions > 0, "the cache never ran out: the test did not test preemption");
    if (shared_prefix)
        CHECKF(st.prefix_hits > 0, "no prefix was shared: the test did not test sharing");
    printf("#   %llu preemptions, %llu prompt tokens from the prefix cache\n",
           (unsigned long long)st.preemptions, (unsigned long long)st.prefix_hits);
    CHECKF(st.kv_blocks_used == 0, "%d blocks still used", st.kv_blocks_used);
    sched_free(s);
    engine_free(e);
}

static void busy_and_release(void) {
    char err[256];
    engine *e;
    CHECK(engine_new(m, 1, 0, 64, 0, &e, err, sizeof err) == 0);
    sched_config cfg = { .max_batch = 1, .queue = 2, .tpot_target_ms = 50, .adaptive = 0 };
    sched *s;
    CHECK(sched_new(e, &cfg, &s) == 0);
    gen_params p;
    gen_params_default(&p);
    p.max_tokens = 100000;
    p.ignore_eos = 1;
    static sink k[4];
    sched_req *rq[4] = { 0 };
    int rc[4];
    for (int i = 0; i < 4; i++) {
        memset(&k[i], 0, sizeof k[i]);
        pthread_mutex_init(&k[i].mu, NULL);
        pthread_cond_init(&k[i].cv, NULL);
        rc[i] = sched_submit(s, "Once", 4, &p, &cb, &k[i], &rq[i]);
        if (i == 0) usleep(20000);   /* let the first one start running */
    }
    CHECK(rc[0] == 0 && rc[1] == 0 && rc[2] == 0);
    CHECKF(rc[3] == -EBUSY, "fourth submit: %d", rc[3]);
    sched_stats st;
    sched_get_stats(s, &st);
    CHECK(st.running == 1 && st.waiting == 2 && st.rejected_busy == 1);
    CHECK(st.kv_blocks_used > 0);
    for (int i = 0; i < 3; i++) sched_release(s, rq[i]);   /* cancel running and queued */
    sched_get_stats(s, &st);
    CHECKF(st.kv_blocks_used == 0 && st.running == 0 && st.waiting == 0,
           "after release: %d blocks, %d running, %d waiting", st.kv_blocks_used, st.running,
           st.waiting);
    CHECK(st.cancelled == 3);
    sched_free(s);
    engine_free(e);
}

int main(void) {
    if (!(m = test_load_model("models/stories260K.gguf"))) return 1;
    TEST("12 requests in a KV cache for 4: all complete, each equal to its solo run", kv_pressure);
    shared_prefix = 1;
    TEST("... with shared prefixes, the prefix cache (LRU) and its evictions", kv_pressure);
    kv_policy = "adaptive";
    TEST("... with shared prefixes, the prefix cache (adaptive) and its evictions", kv_pressure);
    TEST("a full queue gives EBUSY; release cancels running and queued, frees KV", busy_and_release);
    model_free(m);
    TEST_EXIT();
}
