/* The sampler, the deterministic exp and the UTF-8 cutter. */
#include "tests/harness.h"
#include "engine/mathx.h"
#include "engine/sampler.h"
#include "engine/utf8.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

static void exps(void) {
    double worst = 0;
    for (double x = -700; x < 700; x += 0.0137) {
        double r = fabs(exp_det(x) - exp(x)) / exp(x);
        if (r > worst) worst = r;
    }
    CHECKF(worst < 1e-15, "exp_det relative error %g", worst);
    float wf = 0;
    for (float x = -87.0f; x < 88.0f; x += 0.00731f) {
        float r = fabsf(expf_det(x) - expf(x)) / expf(x);
        if (r > wf) wf = r;
    }
    CHECKF(wf < 3e-7f, "expf_det relative error %g (2 ulp is 2.4e-7)", wf);
    CHECK(expf_det(-100.0f) == 0.0f && isinf(expf_det(100.0f)) && expf_det(0.0f) == 1.0f);
    /* tanhf_det against tanh in double, in units of the float result's ulp */
    double wt = 0;
    for (float x = -12.0f; x < 12.0f; x += 0.000731f) {
        double t = tanh((double)x), u = nextafterf((float)fabs(t), 2.0f) - (float)fabs(t);
        double r = fabs(tanhf_det(x) - t) / (t == 0 ? 1e-45 : u);
        if (r > wt) wt = r;
    }
    CHECKF(wt <= 4, "tanhf_det error %g ulp", wt);
    CHECK(tanhf_det(0.0f) == 0.0f && tanhf_det(100.0f) == 1.0f && tanhf_det(-100.0f) == -1.0f);
    CHECK(tanhf_det(1e-30f) == 1e-30f && tanhf_det(-0.25f) == -tanhf_det(0.25f));
}

/* expf_det8 gives expf_det's bits on every input: a sweep over the whole
 * range and beyond, and the edges (zeros, infinities, NaN, the clamps). */
static void exps8(void) {
    int bad = 0;
    float x[8], y[8];
    for (float v = -120.0f; v < 120.0f; v += 0.00917f * 8) {
        for (int l = 0; l < 8; l++) x[l] = v + 0.00917f * (float)l;
        expf_det8(y, x);
        for (int l = 0; l < 8; l++) {
            float e = expf_det(x[l]);
            if (memcmp(&e, &y[l], 4) != 0 && bad++ < 3)
                printf("#   expf_det8(%.9g) = %.9g, expf_det %.9g\n", x[l], y[l], e);
        }
    }
    const float edge[8] = { 0.0f, -0.0f, INFINITY, -INFINITY, NAN, -87.0f, 88.5f, -87.00001f };
    memcpy(x, edge, sizeof x);
    expf_det8(y, x);
    for (int l = 0; l < 8; l++) {
        float e = expf_det(edge[l]);
        if (memcmp(&e, &y[l], 4) != 0 && bad++ < 6)
            printf("#   expf_det8(%.9g) = %.9g, expf_det %.9g\n", edge[l], y[l], e);
    }
    CHECKF(bad == 0, "%d differences", bad);
}

static void sampling(void) {
    enum { V = 64 };
    float logits[V];
    for (int i = 0; i < V; i++) logits[i] = (float)((i * 37) % V) / 8.0f;
    int best = sampler_argmax(logits, V);
    sampler s;
    /* top_k = 1 and a tiny top_p are greedy */
    gen_params p1 = { .temperature = 1.0f, .top_k = 1, .top_p = 1.0f, .seed = 5 }, p2 = { .temperature = 1.0f, .top_k = 0, .top_p = 1e-6f, .seed = 5 };
    CHECK(sampler_init(&s, &p1, V) == 0);
    for (int i = 0; i < 50; i++) CHECK(sampler_sample(&s, logits) == best);
    sampler_release(&s);
    CHECK(sampler_init(&s, &p2, V) == 0);
    for (int i = 0; i < 50; i++) CHECK(sampler_sample(&s, logits) == best);
    sampler_release(&s);
    /* the same seed gives the same sequence; top_k = 3 stays in the top 3 */
    gen_params p3 = { .temperature = 1.0f, .top_k = 3, .top_p = 1.0f, .seed = 99 };
    sampler a, b;
    sampler_init(&a, &p3, V);
    sampler_init(&b, &p3, V);
    int order[V];
    for (int i = 0; i < V; i++) order[i] = i;
    for (int i = 0; i < V; i++)
        for (int j = i + 1; j < V; j++)
            if (logits[order[j]] > logits[order[i]]) { int t = order[i]; order[i] = order[j]; order[j] = t; }
    for (int i = 0; i < 500; i++) {
        int x = sampler_sample(&a, logits), y = sampler_sample(&b, logits);
        CHECK(x == y);
        CHECK(x == order[0] || x == order[1] || x == order[2]);
    }
    sampler_release(&a);
    sampler_release(&b);
    /* temperature 1: frequencies follow the softmax (within 5 sigma) */
    gen_params p4 = { .temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .seed = 7 };
    sampler_init(&s, &p4, V);
    static int count[V];
    const int N = 200000;
    for (int i = 0; i < N; i++) count[sampler_sample(&s, logits)]++;
    double z = 0, mx = logits[best];
    for (int i = 0; i < V; i++) z += exp(logits[i] - mx);
    int bad = 0;
    for (int i = 0; i < V; i++) {
        double pr = exp(logits[i] - mx) / z, mean = pr * N, sd = sqrt(N * pr * (1 - pr)) + 1;
        if (fabs(count[i] - mean) > 5 * sd) bad++;
    }
    CHECKF(bad == 0, "%d of %d tokens off their softmax frequency", bad, V);
    sampler_release(&s);
    /* splitmix64's first outputs for seed 0 (a published reference) */
    uint64_t st = 0;
    CHECK(sampler_rand(&st) == 0xe220a8397b1dcdafull);
    CHECK(sampler_rand(&st) == 0x6e789e6aa1b965f4ull);
}

/* top_p under 1/V on a flat distribution (every token under the nucleus
 * cut) still keeps the most likely token: a valid id, never a read before
 * the candidate array. */
static void top_p_flat(void) {
    enum { V = 512 };
    float logits[V];
    for (int i = 0; i < V; i++) logits[i] = 1.0f + (float)(i % 3) * 1e-7f;
    sampler s;
    gen_params p = { .temperature = 1e6f, .top_k = 0, .top_p = 0.001f, .seed = 1 };
    CHECK(sampler_init(&s, &p, V) == 0);
    int best = sampler_argmax(logits, V), bad = 0;
    for (int i = 0; i < 30; i++) {
        int id = sampler_sample(&s, logits);
        bad += id < 0 || id >= V || logits[id] != logits[best];
    }
    CHECKF(bad == 0, "%d of 30 draws outside the most likely tokens", bad);
    sampler_release(&s);
}

/* min_p drops every token less likely than min_p times the most likely
 * one (logit more than ln(1/min_p) below the top), and 0 leaves the draws
 * as they were. */
static void min_p(void) {
    enum { V = 64 };
    float logits[V];
    for (int i = 0; i < V; i++) logits[i] = (float)(i % 8) * 0.5f;   /* top 3.5 */
    gen_params p = { .temperature = 2.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0.3f, .seed = 9 };
    sampler s;
    CHECK(sampler_init(&s, &p, V) == 0);
    int below = 0;
    for (int i = 0; i < 2000; i++) {
        int id = sampler_sample(&s, logits);
        below += logits[id] - 3.5f < logf(0.3f);
    }
    sampler_release(&s);
    CHECKF(below == 0, "%d draws under min_p", below);
    gen_params a = p, b = p;
    a.min_p = 0.0f;
    b.min_p = 1e-30f;               /* keeps everything: the same draws as off */
    sampler sa, sb;
    CHECK(sampler_init(&sa, &a, V) == 0 && sampler_init(&sb, &b, V) == 0);
    int differ = 0;
    for (int i = 0; i < 500; i++) differ += sampler_sample(&sa, logits) != sampler_sample(&sb, logits);
    CHECK(differ == 0);
    sampler_release(&sa);
    sampler_release(&sb);
}

static void utf8(void) {
    utf8_stream u = { {0}, 0 };
    char out[64];
    /* "é" (c3 a9) split across two feeds, then "€" (e2 82 ac) in three */
    CHECK(utf8_feed(&u, "a\xc3", 2, out) == 1 && out[0] == 'a');
    CHECK(utf8_feed(&u, "\xa9", 1, out) == 2 && !memcmp(out, "\xc3\xa9", 2));
    CHECK(utf8_feed(&u, "\xe2", 1, out) == 0);
    CHECK(utf8_feed(&u, "\x82", 1, out) == 0);
    CHECK(utf8_feed(&u, "\xac", 1, out) == 3 && !memcmp(out, "\xe2\x82\xac", 3));
    /* invalid bytes become U+FFFD; so does a sequence cut by the end */
    size_t n = utf8_feed(&u, "\xff" "b\xc3", 3, out);
    CHECK(n == 4 && !memcmp(out, "\xef\xbf\xbd" "b", 4));
    CHECK(utf8_finish(&u, out) == 3 && !memcmp(out, "\xef\xbf\xbd", 3));
    /* overlong, surrogate and too-large forms are invalid */
    CHECK(!utf8_valid("\xc0\xaf", 2) && !utf8_valid("\xed\xa0\x80", 3) && !utf8_valid("\xf4\x90\x80\x80", 4));
    CHECK(utf8_valid("\xf0\x9f\x98\x80 ok", 7));
    /* whatever bytes go in, what comes out is valid */
    uint64_t r = 1;
    for (int trial = 0; trial < 2000; trial++) {
        unsigned char in[16];
        char o[16 * 3 + 16];
        utf8_stream v = { {0}, 0 };
        for (int i = 0; i < 16; i++) in[i] = (unsigned char)(sampler_rand(&r) >> 56);
        size_t k = utf8_feed(&v, (char *)in, 16, o);
        k += utf8_finish(&v, o + k);
        CHECK(utf8_valid(o, k));
    }
}

int main(void) {
    TEST("exp_det, expf_det and tanhf_det are accurate", exps);
    TEST("expf_det8 gives expf_det's bits", exps8);
    TEST("sampler: greedy limits, seeds, top-k, softmax frequencies, splitmix64", sampling);
    TEST("sampler: a top_p below 1/vocab on a flat distribution keeps one token", top_p_flat);
    TEST("sampler: min_p drops the unlikely tokens", min_p);
    TEST("utf8: boundaries, replacement, validity of any output", utf8);
    TEST_EXIT();
}
