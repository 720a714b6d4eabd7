/* The response cache over the real engine (stories260K): byte bounds of
 * both tiers under a flood of distinct prompts, hits equal to what the
 * engine generates, cuts at a smaller max_tokens, refresh and off, a
 * different backend identity (another model) never hitting, and a
 * generation cancelled once nobody follows it. */
#include "tests/test_model.h"
#include "cache/backend.h"
#include "cache/rcache.h"
#include "engine/engine.h"
#include "engine/sched.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char text[8192];
    size_t len;
    int done;
    cache_result res;
} sink;

static void s_text(void *ud, const char *t, size_t n) {
    sink *k = ud;
    pthread_mutex_lock(&k->mu);
    if (k->len + n <= sizeof k->text) { memcpy(k->text + k->len, t, n); k->len += n; }
    pthread_mutex_unlock(&k->mu);
}

static void s_done(void *ud, const cache_result *r) {
    sink *k = ud;
    pthread_mutex_lock(&k->mu);
    k->res = *r;
    k->done = 1;
    pthread_cond_signal(&k->cv);
    pthread_mutex_unlock(&k->mu);
}

static const cache_cb cb = {s_text, s_done};

static model *m;
static engine *eng;
static sched *sch;
static char dir[64];

/* Asks prompt with p and waits for the answer into k. */
static int ask(rcache *c, const char *prompt, const gen_params *p, sink *k) {
    memset(k, 0, sizeof *k);
    pthread_mutex_init(&k->mu, NULL);
    pthread_cond_init(&k->cv, NULL);
    rcache_req *q;
    int rc = rcache_submit(c, prompt, strlen(prompt), p, &cb, k, &q);
    if (rc) return rc;
    pthread_mutex_lock(&k->mu);
    while (!k->done) pthread_cond_wait(&k->cv, &k->mu);
    pthread_mutex_unlock(&k->mu);
    rcache_release(c, q);
    return 0;
}

static rcache *make_cache(size_t l1, size_t l2, const uint8_t fp[16], backend **b) {
    cache_config cc = {.l1_bytes = l1, .l2_dir = dir, .l2_bytes = l2, .policy = "lru"};
    char msg[256];
    rcache *c = NULL;
    CHECK(rcache_new(&cc, &c, msg, sizeof msg) == 0 && c && !msg[0]);
    CHECK(backend_local_new(sch, fp, NULL, b) == 0);
    CHECK(rcache_start(c, *b) == 0);
    return c;
}

static void drop_cache(rcache *c, backend *b) {
    rcache_free(c);
    backend_free(b);
}

static const uint8_t fp1[16] = {1}, fp2[16] = {2};

static void bounds(void) {
    backend *b;
    rcache *c = make_cache(64 << 10, 48 << 10, fp1, &b);
    gen_params p;
    gen_params_default(&p);
    p.max_tokens = 128;
    sink k;
    char prompt[64];
    rcache_stats st;
    for (int i = 0; i < 120; i++) {
        snprintf(prompt, sizeof prompt, "The dog number %d ran", i);
        CHECK(ask(c, prompt, &p, &k) == 0 && k.res.source == CACHE_MISS);
        rcache_get_stats(c, &st);
        CHECKF(st.l1.bytes <= 64 << 10, "l1 %llu bytes", (unsigned long long)st.l1.bytes);
    }
    rcache_free(c);   /* writes what is queued */
    backend_free(b);
    c = make_cache(64 << 10, 48 << 10, fp1, &b);
    rcache_get_stats(c, &st);
    CHECKF(st.l2.bytes <= 48 << 10 && st.l2.entries > 10, "l2 %llu bytes, %llu entries",
           (unsigned long long)st.l2.bytes, (unsigned long long)st.l2.entries);
    CHECK(st.l2.evictions == 0);   /* the scan found the bound kept */
    /* the newest survive on disk, the oldest were evicted */
    CHECK(ask(c, "The dog number 119 ran", &p, &k) == 0 && k.res.source == CACHE_L2);
    CHECK(ask(c, "The dog number 0 ran", &p, &k) == 0 && k.res.source == CACHE_MISS);
    drop_cache(c, b);
}

static void serving(void) {
    backend *b;
    rcache *c = make_cache(1 << 20, 1 << 20, fp1, &b);
    gen_params p;
    gen_params_default(&p);
    p.max_tokens = 64;
    sink k1, k2;
    const char *pr = "Lily wanted a cake";
    /* what the engine alone generates */
    seq *s;
    gen_params q = p;
    char want[8192];
    size_t wlen = 0;
    CHECK(seq_new(eng, pr, strlen(pr), &q, NULL, NULL, &s) == 0);
    CHECK(engine_generate(eng, s) == 0);
    memcpy(want, s->text, s->text_len);
    wlen = s->text_len;
    seq_free(eng, s);
    CHECK(ask(c, pr, &p, &k1) == 0 && k1.res.source == CACHE_MISS);
    CHECK(ask(c, pr, &p, &k2) == 0 && k2.res.source == CACHE_L1);
    CHECK(k1.len == wlen && !memcmp(k1.text, want, wlen));
    CHECK(k2.len == wlen && !memcmp(k2.text, want, wlen));
    CHECK(k2.res.r.generated_tokens == k1.res.r.generated_tokens);
    /* a larger max_tokens is not served by a record cut by its length */
    p.max_tokens = 80;
    CHECK(ask(c, pr, &p, &k2) == 0 && k2.res.source == (k1.res.r.finish == FINISH_LENGTH
                                                            ? CACHE_MISS : CACHE_L1));
    /* refresh generates again; off neither reads nor writes */
    p.max_tokens = 64;
    p.cache = GEN_CACHE_REFRESH;
    CHECK(ask(c, pr, &p, &k2) == 0 && k2.res.source == CACHE_MISS);
    CHECK(k2.len == wlen && !memcmp(k2.text, want, wlen));
    p.cache = GEN_CACHE_OFF;
    CHECK(ask(c, "A brand new prompt", &p, &k2) == 0 && k2.res.source == CACHE_BYPASS);
    p.cache = GEN_CACHE_ON;
    CHECK(ask(c, "A brand new prompt", &p, &k2) == 0 && k2.res.source != CACHE_L1);
    /* greedy keys ignore the seed; sampled ones do not */
    p.seed = 99;
    CHECK(ask(c, pr, &p, &k2) == 0 && k2.res.source == CACHE_L1);
    p.temperature = 0.8f;
    CHECK(ask(c, pr, &p, &k2) == 0 && k2.res.source == CACHE_MISS);
    p.seed = 100;
    CHECK(ask(c, pr, &p, &k2) == 0 && k2.res.source == CACHE_MISS);
    p.seed = 99;
    CHECK(ask(c, pr, &p, &k1) == 0 && k1.res.source == CACHE_L1);
    /* a stop string is part of the key */
    p.temperature = 0;
    p.n_stop = 1;
    strcpy(p.stop[0], ".");
    CHECK(ask(c, pr, &p, &k2) == 0 && k2.res.source == CACHE_MISS);
    drop_cache(c, b);
    /* another model's identity never hits, in memory or on disk */
    c = make_cache(1 << 20, 1 << 20, fp2, &b);
    gen_params_default(&p);
    p.max_tokens = 64;
    CHECK(ask(c, pr, &p, &k2) == 0 && k2.res.source == CACHE_MISS);
    drop_cache(c, b);
}

/* The adaptive policy's clock, for the prefetch test. */
static double fake_now;
static double fake_clock(void) { return fake_now; }

/* Waits until the worker wrote n records to L2 in all. */
static void wait_writes(rcache *c, uint64_t n) {
    rcache_stats st;
    for (int i = 0; i < 500; i++) {
        rcache_get_stats(c, &st);
        if (st.l2_writes >= n) return;
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    CHECKF(0, "%llu of %llu L2 writes", (unsigned long long)st.l2_writes, (unsigned long long)n);
}

/* Asks prompt until memory, which holds one record, holds it: then
 * nothing else is there.  (Which of two records memory keeps depends on
 * their costs, the time each took to generate: a new record may be the
 * one evicted.)  The misses it took. */
static int push_out(rcache *c, const char *prompt, const gen_params *p) {
    sink k;
    int misses = 0;
    for (int i = 0; i < 40; i++) {
        CHECK(ask(c, prompt, p, &k) == 0);
        if (k.res.source == CACHE_L1) return misses;
        misses += k.res.source == CACHE_MISS;
    }
    CHECKF(0, "%s never stayed in memory", prompt);
    return misses;
}

/* A prompt asked at 09:00 two days running is moved up from disk to
 * memory just before 09:00 on the third day, after another prompt pushed
 * it out of memory, and is then served from memory; the other, asked at
 * 09:05, is not moved up. */
static void prefetch(void) {
    const char *daily = "Every morning the sun rose";
    gen_params p;
    gen_params_default(&p);
    p.max_tokens = 48;
    p.ignore_eos = 1;                        /* every record the same length */
    sink k;
    char msg[256], sub[96];
    backend *b;
    rcache *c = NULL;
    rcache_stats st;
    /* one record's size in memory */
    cache_config probe = {.l1_bytes = 1 << 20, .policy = "adaptive"};
    CHECK(rcache_new(&probe, &c, msg, sizeof msg) == 0 && c);
    CHECK(backend_local_new(sch, fp1, NULL, &b) == 0);
    CHECK(rcache_start(c, b) == 0);
    CHECK(ask(c, daily, &p, &k) == 0 && k.res.source == CACHE_MISS);
    rcache_get_stats(c, &st);
    size_t one = st.l1.bytes;
    drop_cache(c, b);
    CHECK(one > 0);

    snprintf(sub, sizeof sub, "%s/prefetch", dir);
    cache_config cc = {.l1_bytes = one + one / 2, .l2_dir = sub, .l2_bytes = 16 << 20,
                       .policy = "adaptive", .clock = fake_clock};
    CHECK(rcache_new(&cc, &c, msg, sizeof msg) == 0 && c && !msg[0]);
    CHECK(backend_local_new(sch, fp1, NULL, &b) == 0);
    CHECK(rcache_start(c, b) == 0);
    fake_now = 9 * 3600.0;
    CHECK(ask(c, daily, &p, &k) == 0 && k.res.source == CACHE_MISS);
    wait_writes(c, 1);
    fake_now += 300;
    uint64_t writes = 1 + (uint64_t)push_out(c, "The cat sat on day one", &p);
    wait_writes(c, writes);
    fake_now = 86400 + 9 * 3600.0;
    CHECK(ask(c, daily, &p, &k) == 0);
    CHECKF(k.res.source == CACHE_L2, "source %s", cache_source_name(k.res.source));
    rcache_get_stats(c, &st);
    CHECK(st.l2_promoted == 1 && st.prefetched == 0);
    fake_now += 300;
    writes += (uint64_t)push_out(c, "The cat sat on day two", &p);
    wait_writes(c, writes);
    fake_now = 2 * 86400 + 9 * 3600.0 - 60;
    rcache_prefetch(c);
    rcache_get_stats(c, &st);
    CHECKF(st.prefetched == 1, "prefetched %llu", (unsigned long long)st.prefetched);
    CHECK(ask(c, daily, &p, &k) == 0);
    CHECKF(k.res.source == CACHE_L1, "source %s", cache_source_name(k.res.source));
    rcache_get_stats(c, &st);
    CHECK(st.prefetch_hits == 1);
    /* at another hour nothing more is due */
    fake_now = 2 * 86400 + 15 * 3600.0;
    rcache_prefetch(c);
    rcache_get_stats(c, &st);
    CHECK(st.prefetched == 1);
    drop_cache(c, b);
}

/* A generation nobody follows is cancelled; the release waits for it. */
static void orphan(void) {
    backend *b;
    rcache *c = make_cache(1 << 20, 0, fp1, &b);
    gen_params p;
    gen_params_default(&p);
    p.max_tokens = 400;
    p.ignore_eos = 1;
    sink k;
    memset(&k, 0, sizeof k);
    rcache_req *q;
    CHECK(rcache_submit(c, "Once", 4, &p, &cb, &k, &q) == 0);
    rcache_release(c, q);
    rcache_stats st;
    rcache_get_stats(c, &st);
    CHECK(st.l1.entries == 0);   /* a cancelled generation is never stored */
    drop_cache(c, b);
}

int main(void) {
    char err[256];
    if (!(m = test_load_model("models/stories260K.gguf"))) return 1;
    snprintf(dir, sizeof dir, "/tmp/llmfs-rcache-XXXXXX");
    if (!mkdtemp(dir)) return 1;
    sched_config sc = {.max_batch = 8, .queue = 64, .tpot_target_ms = 50, .adaptive = 0};
    if (engine_new(m, 1, 0, 64, 0, &eng, err, sizeof err) || sched_new(eng, &sc, &sch)) {
        printf("not ok - engine: %s\n", err);
        return 1;
    }
    TEST("rcache: L1 and L2 byte bounds under a flood, LRU order kept on disk", bounds);
    TEST("rcache: hits equal the engine's bytes; cuts, refresh, off, keys", serving);
    TEST("rcache: a generation nobody follows is cancelled, never stored", orphan);
    TEST("rcache: a daily prompt is moved up from disk before its hour, others are not", prefetch);
    sched_free(sch);
    engine_free(eng);
    model_free(m);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) return 1;
    TEST_EXIT();
}
