/* This file implements the sampler of sampler.h.  Every step that could
 * depend on the machine is pinned: candidates are ordered by logit then by
 * id (a total order, so sorting is deterministic), probabilities are
 * computed in double with exp_det, and the coin comes from splitmix64. */
#include "engine/sampler.h"
#include "engine/mathx.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

uint64_t sampler_rand(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

int sampler_init(sampler *s, const gen_params *p, int vocab) {
    memset(s, 0, sizeof *s);
    s->temperature = p->temperature;
    s->top_k = p->top_k;
    s->top_p = p->top_p;
    s->min_p = p->min_p;
    s->rng = p->seed;
    s->vocab = vocab;
    s->idx = malloc((size_t)vocab * sizeof *s->idx);
    s->prob = malloc((size_t)vocab * sizeof *s->prob);
    if (!s->idx || !s->prob) { sampler_release(s); return -ENOMEM; }
    return 0;
}

void sampler_release(sampler *s) {
    free(s->idx);
    free(s->prob);
    s->idx = NULL;
    s->prob = NULL;
}

int sampler_argmax(const float *v, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

static _Thread_local const float *tl_logits;   /* for the qsort comparator */

/* Higher logit first; lower id first on equal logits. */
static int by_logit(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    float x = tl_logits[i], y = tl_logits[j];
    if (x > y) return -1;
    if (x < y) return 1;
    return (i > j) - (i < j);
}

int sampler_sample(sampler *s, const float *logits) {
    const int V = s->vocab;
    if (s->temperature <= 0.0f) return sampler_argmax(logits, V);
    tl_logits = logits;
    double coin = (double)(sampler_rand(&s->rng) >> 11) * (1.0 / 9007199254740992.0);
    int top = sampler_argmax(logits, V);
    float mx = logits[top];
    double invt = 1.0 / (double)s->temperature;
    /* min_p first, on the logits (llama.cpp applies it before the
     * temperature): p_i / p_max >= min_p <=> l_i - l_max >= ln(min_p) */
    double lmin = s->min_p > 0.0f ? log((double)s->min_p) : -INFINITY;
    int n = 0;
    for (int i = 0; i < V; i++)
        if ((double)logits[i] - mx >= lmin) s->idx[n++] = i;
    int k = s->top_k > 0 && s->top_k < n ? s->top_k : 0;
    int sorted = 0;
    if (s->top_p < 1.0f && !k) {
        /* A token whose probability is below (1 - top_p) / (n - 1) can
         * never be inside the nucleus (llama2.c's cut): drop those before
         * sorting.  Compared as unnormalized weights against cut * sum.
         * The most likely token always stays: with top_p under 1/n on a
         * flat distribution every token is under the cut. */
        double sum = 0;
        for (int j = 0; j < n; j++) sum += exp_det(((double)logits[s->idx[j]] - mx) * invt);
        double cut = n > 1 ? (1.0 - (double)s->top_p) / (double)(n - 1) * sum : 0;
        int m = 0;
        for (int j = 0; j < n; j++) {
            int i = s->idx[j];
            if (i == top || exp_det(((double)logits[i] - mx) * invt) >= cut) s->idx[m++] = i;
        }
        n = m;
    }
    if (k || s->top_p < 1.0f) {
        qsort(s->idx, (size_t)n, sizeof *s->idx, by_logit);
        sorted = 1;
        if (k) n = k;
    }
    double total = 0;
    for (int i = 0; i < n; i++) {
        s->prob[i] = exp_det(((double)logits[s->idx[i]] - mx) * invt);
        total += s->prob[i];
    }
    if (sorted && s->top_p < 1.0f) {
        double acc = 0, lim = (double)s->top_p * total;
        int keep = n;
        for (int i = 0; i < n; i++) {
            acc += s->prob[i];
            if (acc >= lim) { keep = i + 1; break; }
        }
        n = keep;
        total = 0;
        for (int i = 0; i < n; i++) total += s->prob[i];
    }
    double r = coin * total, acc = 0;
    for (int i = 0; i < n; i++) {
        acc += s->prob[i];
        if (r < acc) return s->idx[i];
    }
    return s->idx[n - 1];
}
