/* Our forward pass against llama.cpp's logits for every GGUF weight type
 * (../shared/models/llamacpp: seeded random models and llama.cpp's own
 * outputs).  Tolerances are derived from llama.cpp's own figures in the
 * same folder, as explained at each check. */
#include "tests/harness.h"
#include "tests/test_model.h"
#include "engine/engine.h"
#include "engine/forward.h"
#include "engine/quant.h"

#include <math.h>

#define NPOS 64

static int read_ids(const char *path, int *ids, int cap) {
    FILE *f = fopen(path, "r");
    int n = 0;
    if (!f) return -1;
    while (n < cap && fscanf(f, "%d", &ids[n]) == 1) n++;
    fclose(f);
    return n;
}

static float *read_f32(const char *path, size_t n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    float *v = malloc(n * sizeof *v);
    if (v && fread(v, sizeof *v, n, f) != n) { free(v); v = NULL; }
    fclose(f);
    return v;
}

/* Perplexity of seq from its teacher-forced logits: exp of the mean
 * negative log-likelihood of token p + 1 under row p. */
static double ppl_of(const float *logits, const int *seq, int n, int V) {
    double nll = 0;
    for (int p = 0; p + 1 < n; p++) {
        const float *row = logits + (size_t)p * V;
        double mx = row[0], sum = 0;
        for (int v = 1; v < V; v++) if (row[v] > mx) mx = row[v];
        for (int v = 0; v < V; v++) sum += exp(row[v] - mx);
        nll += log(sum) + mx - row[seq[p + 1]];
    }
    return exp(nll / (n - 1));
}

static double max_abs_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= m)) m = d;   /* NaN propagates as a failure */
    }
    return m;
}

static const char *models[] = { "tiny-f32", "tiny-gqa-f32", "tiny-f16", "tiny-q8_0",
                                "tiny-q4_0", "tiny-q4_k", "tiny-q6_k" };
static const char *cur;

static void check_model(void) {
    char path[512], ref[512];
    snprintf(ref, sizeof ref, "%s/models/llamacpp/ref/%s", shared_dir(), cur);
    snprintf(path, sizeof path, "%s/models/llamacpp/%s.gguf", shared_dir(), cur);
    model *m;
    char err[512];
    int rc = model_load(path, NULL, &m, err, sizeof err);
    CHECKF(rc == 0, "%s", err);
    if (rc) return;
    int V = m->c.vocab, ids[NPOS];
    char p2[600];
    snprintf(p2, sizeof p2, "%s/seq.ids", ref);
    CHECK(read_ids(p2, ids, NPOS) == NPOS);
    snprintf(p2, sizeof p2, "%s/logits.f32", ref);
    float *lc = read_f32(p2, (size_t)NPOS * V);
    snprintf(p2, sizeof p2, "%s/logits_step.f32", ref);
    float *lc_step = read_f32(p2, (size_t)NPOS * V);
    snprintf(p2, sizeof p2, "%s/logits_deqf32.f32", ref);
    float *lc_deq = read_f32(p2, (size_t)NPOS * V);   /* quantized models only */
    CHECK(lc && lc_step);
    float *ours = test_logits(m, ids, NPOS, 0, 2);
    float *ours_step = test_logits(m, ids, NPOS, 1, 1);
    CHECK(ours && ours_step);
    if (!lc || !lc_step || !ours || !ours_step) goto out;
    size_t N = (size_t)NPOS * V;
    /* Our batch and one-token paths compute every element identically. */
    CHECKF(max_abs_diff(ours, ours_step, N) == 0, "batch vs step differ by %g",
           max_abs_diff(ours, ours_step, N));
    double d = max_abs_diff(ours, lc, N);
    if (m->wtype == TYPE_F32) {
        /* Exact weights, F32 arithmetic on both sides: llama.cpp's batch
         * and step paths differ by 6e-6 among themselves. */
        CHECKF(d <= 1e-4, "F32 max |dlogit| %g > 1e-4", d);
        printf("#   %s: max |ours - llama.cpp| = %.3g\n", cur, d);
    } else if (m->wtype == TYPE_Q8_0 || m->wtype == TYPE_Q4_0 || m->wtype == TYPE_Q4_K ||
               m->wtype == TYPE_Q6_K) {
        /* Integer kernels: activations quantized to 8 bits as llama.cpp
         * does (engine/matmul_q8.h).  For Q8_0, Q4_K and Q6_K that is its
         * reference quantizers, and the logits are llama.cpp's to float
         * rounding at most positions (Q8_0 at 62, Q6_K at 55, Q4_K at 50
         * of 64); at the others a float-order difference of 1e-7 tips one
         * activation across a rounding boundary in a later layer, and the
         * logits move by what such steps move them, of the order of
         * llama.cpp's own quantized-against-F32 spread.  So: three quarters
         * of the positions within the F32 bound, and every one within 1.5
         * times that spread.  For Q4_0 llama.cpp's run differs from every
         * 8-bit quantizer we tried (its repacked kernels); hold us to the
         * spread, which the float path only just met (0.209 against 0.209)
         * and the integer path beats (0.199).  Against llama.cpp's
         * dequantized-F32 run we are about as far as llama.cpp itself. */
        CHECK(lc_deq != NULL);
        if (!lc_deq) goto out;
        double spread = max_abs_diff(lc, lc_deq, N);
        double sstep = max_abs_diff(lc, lc_step, N);
        double dd = max_abs_diff(ours, lc_deq, N);
        CHECKF(dd <= 1.5 * spread, "%s vs llama.cpp dequantized-F32 max |dlogit| %g > %g", cur,
               dd, 1.5 * spread);
        int q40 = m->wtype == TYPE_Q4_0;
        double bound = q40 ? spread : 1.5 * spread;
        CHECKF(d <= bound, "%s vs llama.cpp max |dlogit| %g > bound %g", cur, d, bound);
        int exact = 0;
        for (int t = 0; t < NPOS; t++)
            exact += max_abs_diff(ours + (size_t)t * V, lc + (size_t)t * V, V) <= sstep + 1e-4;
        if (!q40)
            CHECKF(exact >= NPOS * 3 / 4, "%s: %d of %d positions within %g of llama.cpp", cur,
                   exact, NPOS, sstep + 1e-4);
        printf("#   %s: %d of %d positions within %.3g of llama.cpp\n", cur, exact, NPOS,
               sstep + 1e-4);
        /* quality: quantizing the activations may not raise perplexity (of
         * seq.ids, against the dequantized-F32 run) by more than llama.cpp's
         * own quantized run does, give or take 0.5% */
        double pd = ppl_of(lc_deq, ids, NPOS, V), pl = ppl_of(lc, ids, NPOS, V);
        double po = ppl_of(ours, ids, NPOS, V);
        double rise = pl - pd > 0 ? pl - pd : 0;
        CHECKF(po - pd <= rise + 0.005 * pd, "%s perplexity %.4f against F32 %.4f (llama.cpp %.4f)",
               cur, po, pd, pl);
        printf("#   %s: perplexity %.4f; dequantized F32 %.4f, llama.cpp's quantized run %.4f\n",
               cur, po, pd, pl);
        printf("#   %s: vs llama.cpp %.3g (bound %.3g); vs deq-F32 %.3g (llama.cpp's own %.3g)\n",
               cur, d, bound, dd, spread);
    } else {
        /* We dequantize exactly and compute in F32, which is what
         * llama.cpp's logits_deqf32 are (the model dequantized to F32):
         * hold us to the F32 bound against those.  Against llama.cpp's own
         * quantized run, which also rounds activations (to F16 or 8 bits),
         * the bound is llama.cpp's own spread between those two runs (and
         * between its batch and step paths), measured from the files, plus
         * the F32 bound. */
        CHECK(lc_deq != NULL);
        if (!lc_deq) goto out;
        double dd = max_abs_diff(ours, lc_deq, N);
        CHECKF(dd <= 1e-4, "%s vs llama.cpp dequantized-F32 max |dlogit| %g > 1e-4", cur, dd);
        double spread = max_abs_diff(lc, lc_deq, N);
        double sstep = max_abs_diff(lc, lc_step, N);
        double bound = (spread > sstep ? spread : sstep) + 1e-4;
        CHECKF(d <= bound, "%s vs llama.cpp max |dlogit| %g > bound %g", cur, d, bound);
        printf("#   %s: vs deq-F32 %.3g; vs llama.cpp %.3g (bound %.3g = its own spread + 1e-4)\n",
               cur, dd, d, bound);
    }
    /* Greedy continuation of "Once upon a time": equal to llama.cpp's ids
     * up to the first step whose top-two gap is tiny (< 0.01), where any
     * two correct engines may legitimately choose differently. */
    int prompt[8], want[NPOS], np;
    snprintf(p2, sizeof p2, "%s/prompt_once.ids", ref);
    np = read_ids(p2, prompt, 8);
    /* the integer kernels follow llama.cpp's quantized run; exact
     * dequantization follows its dequantized-F32 one */
    int intpath = m->wtype == TYPE_Q8_0 || m->wtype == TYPE_Q4_0 || m->wtype == TYPE_Q4_K ||
                  m->wtype == TYPE_Q6_K;
    snprintf(p2, sizeof p2, "%s/%s", ref,
             lc_deq && !intpath ? "greedy_once_deqf32.ids" : "greedy_once.ids");
    CHECK(read_ids(p2, want, NPOS) == NPOS);
    double gaps[NPOS];
    snprintf(p2, sizeof p2, "%s/greedy_once_gap.txt", ref);
    FILE *gf = fopen(p2, "r");
    for (int i = 0; i < NPOS; i++) {
        int a, b;
        gaps[i] = 1;
        if (!gf || fscanf(gf, "%d %d %lf", &a, &b, &gaps[i]) != 3) gaps[i] = 1;
    }
    if (gf) fclose(gf);
    engine *e;
    CHECK(engine_new(m, 2, 0, 64, 0, &e, err, sizeof err) == 0);
    gen_params gp;
    gen_params_default(&gp);
    gp.max_tokens = NPOS;
    gp.ignore_eos = 1;
    seq *s;
    CHECK(seq_new_tokens(e, prompt, np, &gp, NULL, NULL, &s) == 0);
    CHECK(engine_generate(e, s) == 0);
    int agree = 0;
    while (agree < s->n_gen && agree < NPOS && s->tokens[np + agree] == want[agree]) agree++;
    /* a near-tie: a gap under 0.01, or, on the integer path, under the
     * largest teacher-forced difference measured above (a rounding flip in
     * one activation can move the logits that far) */
    double tie = intpath && d > 0.01 ? d : 0.01;
    int limit = 0;
    while (limit < NPOS && gaps[limit] >= tie) limit++;
    CHECKF(agree >= limit, "%s greedy: %d tokens agree, %d expected (first gap under %.3g)",
           cur, agree, limit, tie);
    printf("#   %s: greedy agrees for %d/%d tokens\n", cur, agree, NPOS);
    seq_free(e, s);
    engine_free(e);
out:
    free(lc); free(lc_step); free(lc_deq); free(ours); free(ours_step);
    model_free(m);
}

int main(void) {
    for (size_t i = 0; i < sizeof models / sizeof *models; i++) {
        char name[64];
        cur = models[i];
        snprintf(name, sizeof name, "llama.cpp logits and greedy ids: %s", cur);
        TEST(name, check_model);
    }
    TEST_EXIT();
}
