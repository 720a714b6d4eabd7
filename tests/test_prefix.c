/* The KV prefix cache: a prompt that shares an earlier prompt's prefix
 * reuses those blocks, and its output is byte-identical to a cold run,
 * also for models with sliding-window layers (every cached block stays
 * valid: a window narrows what a query reads, not what a block holds);
 * blocks are reference-counted, kept on an LRU list when unused, and
 * evicted when the budget is needed. */
#include "tests/harness.h"
#include "tests/test_model.h"
#include "engine/engine.h"

#include <string.h>

static model *m;
static char out[4][8192];
static size_t outlen[4];

static void collect(void *ud, const char *t, size_t n) {
    int i = (int)(long)ud;
    if (outlen[i] + n < sizeof out[i]) { memcpy(out[i] + outlen[i], t, n); outlen[i] += n; }
}

static char prefix[8192];

static void make_prefix(void) {
    static const char *sent[] = { "Tom and Lily went to the park to play with a big red ball. ",
                                  "The sun was warm and the birds sang in the tall green trees. ",
                                  "Their mom gave them a cookie and they said thank you. " };
    prefix[0] = 0;
    for (int i = 0; i < 18; i++) strcat(prefix, sent[i % 3]);   /* ~400 tokens */
}

/* Runs prompt on e; returns the sequence's cached prompt positions. */
static int run(engine *e, const char *prompt, int slot, float temp) {
    gen_params p;
    gen_params_default(&p);
    p.max_tokens = 40;
    p.temperature = temp;
    p.seed = 11;
    outlen[slot] = 0;
    seq *s;
    if (seq_new(e, prompt, strlen(prompt), &p, collect, (void *)(long)slot, &s)) return -1;
    engine_generate(e, s);
    int cached = s->n_cached, n_prompt = s->n_prompt;
    seq_free(e, s);
    printf("#   prompt %d tokens, %d from the prefix cache\n", n_prompt, cached);
    return cached;
}

static const char *kv_policy = "lru";   /* the prefix cache's policy under test */

static void shared_prefix(void) {
    char a[9000], b[9000];
    snprintf(a, sizeof a, "%sWhat did Tom do?", prefix);
    snprintf(b, sizeof b, "%sWhy was Lily happy?", prefix);
    char err[256];
    for (int temp = 0; temp < 2; temp++) {
        float t = temp ? 0.8f : 0.0f;
        engine *cold, *warm;
        CHECK(engine_new(m, 2, 0, 64, 0, &cold, err, sizeof err) == 0);
        CHECK(engine_new(m, 2, 0, 64, 0, &warm, err, sizeof err) == 0);
        engine_set_prefix_cache(warm, 1);
        CHECK(engine_set_prefix_policy(warm, kv_policy) == 0);
        CHECK(run(cold, b, 0, t) == 0);
        CHECK(run(warm, a, 1, t) == 0);               /* nothing cached yet */
        int hit = run(warm, b, 2, t);
        CHECKF(hit >= 384, "only %d prompt positions reused", hit);
        CHECKF(outlen[0] == outlen[2] && !memcmp(out[0], out[2], outlen[0]),
               "temp %.1f: output with a cached prefix differs from a cold run", t);
        uint64_t q, h;
        engine_prefix_stats(warm, &q, &h);
        CHECK(h == (uint64_t)hit && q > h);
        CHECKF(kv_in_use(engine_kv(warm)) == 0, "%d blocks still referenced",
               kv_in_use(engine_kv(warm)));
        CHECK(engine_kv(warm)->n_cached > 0);          /* cached, not freed */
        engine_free(cold);
        engine_free(warm);
    }
}

static void eviction(void) {
    /* a cache of exactly one context (32 blocks): the second long prompt
     * must evict the first one's blocks, and still be right */
    char err[256], a[9000], b[9000];
    snprintf(a, sizeof a, "%sWhat did Tom do?", prefix);
    snprintf(b, sizeof b, "Once upon a time there was a dog. %s", prefix);
    engine *cold, *warm;
    CHECK(engine_new(m, 1, 0, 64, 0, &cold, err, sizeof err) == 0);
    CHECK(engine_new(m, 1, 0, 64, 0, &warm, err, sizeof err) == 0);
    engine_set_prefix_cache(warm, 1);
    CHECK(engine_set_prefix_policy(warm, kv_policy) == 0);
    kv_cache *kv = engine_kv(warm);
    run(warm, a, 1, 0);
    CHECK(run(warm, b, 2, 0) == 0);
    CHECKF(kv->evictions > 0, "no eviction with %d blocks", kv->n_blocks);
    run(cold, b, 0, 0);
    CHECK(outlen[0] == outlen[2] && !memcmp(out[0], out[2], outlen[0]));
    CHECK(run(warm, b, 3, 0) >= 384);             /* b is what is cached now */
    CHECK(kv_in_use(kv) == 0);
    CHECK(kv_available(kv) == kv->n_blocks);
    engine_free(cold);
    engine_free(warm);
}

static void table_churn(void) {
    /* many distinct short prefixes through a small cache: the hash table
     * (backward-shift deletion) keeps finding what is registered */
    char err[256], p[256];
    engine *e;
    CHECK(engine_new(m, 1, 0, 64, 0, &e, err, sizeof err) == 0);
    engine_set_prefix_cache(e, 1);
    CHECK(engine_set_prefix_policy(e, kv_policy) == 0);
    int hits = 0;
    for (int i = 0; i < 60; i++) {
        snprintf(p, sizeof p, "Story %d: the cat and the dog ran to the big tree by the river, "
                 "and then they slept in the sun.", i % 7);
        int c = run(e, p, 0, 0);
        if (i >= 7) hits += c > 0;
        int rc = kv_check(engine_kv(e));
        CHECKF(rc == 0, "after prompt %d the KV cache's invariant %d is broken", i, rc);
    }
    CHECKF(hits == 53, "%d of 53 repeats hit the cache", hits);
    CHECK(kv_in_use(engine_kv(e)) == 0);
    engine_free(e);
}

int main(void) {
    if (!(m = test_load_model("models/stories260K.gguf"))) return 1;
    make_prefix();
    static const char *const policies[] = {"lru", "adaptive"};
    char name[160];
    for (int i = 0; i < 2; i++) {
        kv_policy = policies[i];
        snprintf(name, sizeof name, "%s: a shared 400-token prefix is reused; output equals a "
                 "cold run (greedy, sampled)", kv_policy);
        TEST(name, shared_prefix);
        snprintf(name, sizeof name, "%s: unused cached blocks are evicted when the budget is "
                 "needed", kv_policy);
        TEST(name, eviction);
        snprintf(name, sizeof name, "%s: repeated short prompts hit; table survives churn",
                 kv_policy);
        TEST(name, table_churn);
    }
    model_free(m);
    /* windows of 40 positions, far shorter than the 400-token prefix */
    static const char *const swa[][2] = {
        { "gemma2", "--arch gemma2 --dim 64 --hidden 128 --layers 2 --heads 4 --kv-heads 2 "
                    "--vocab 512 --ctx 1024 --type q8_0 --std 0.15 --sliding-window 40" },
        { "gemma3", "--arch gemma3 --dim 64 --hidden 128 --layers 6 --heads 4 --kv-heads 2 "
                    "--vocab 512 --ctx 1024 --type f32 --std 0.15 --sliding-window 40 "
                    "--rope-scaling 8" },
    };
    kv_policy = "lru";
    for (size_t i = 0; i < sizeof swa / sizeof *swa; i++) {
        if (!(m = test_mkmodel(swa[i][0], swa[i][1]))) return 1;
        snprintf(name, sizeof name, "%s with a sliding window of 40: a shared 400-token prefix is "
                 "reused; output equals a cold run (greedy, sampled)", swa[i][0]);
        TEST(name, shared_prefix);
        model_free(m);
    }
    TEST_EXIT();
}
