/* Perplexity over chunks, as llama-perplexity (perplexity.h). */
#include "engine/perplexity.h"
#include "engine/forward.h"
#include "engine/kv.h"
#include "engine/pool.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

/* -log softmax(logits)[target], in double, subtracting the maximum. */
static double nll_of(const float *logits, int vocab, int target)
{
    double mx = logits[0];
    for (int v = 1; v < vocab; v++)
        if (logits[v] > mx) mx = logits[v];
    double sum = 0;
    for (int v = 0; v < vocab; v++) sum += exp((double)logits[v] - mx);
    return log(sum) + mx - (double)logits[target];
}

int perplexity(const model *m, int threads, const int *tokens, long n, int ctx, int bos,
               ppl_progress cb, void *ud, ppl_result *out)
{
    ppl_result r = {0, 0, 0, 0, 0};
    *out = r;
    if (ctx < 4 || n < ctx)
        return -EINVAL;
    const int V = m->c.vocab, first = ctx / 2;
    pool *p = pool_new(threads);
    fwd *f = fwd_new(m, p, ctx, ctx);
    /* logits only where they are scored: positions first .. ctx - 2 */
    float *logits = malloc((size_t)(ctx - first) * V * sizeof *logits);
    int *tok = malloc((size_t)ctx * sizeof *tok), *pos = malloc((size_t)ctx * sizeof *pos);
    int *rows = malloc((size_t)ctx * sizeof *rows);
    kv_seq **seqs = malloc((size_t)ctx * sizeof *seqs);
    kv_cache kv;
    int rc = p && f && logits && tok && pos && rows && seqs ? 0 : -ENOMEM;
    if (rc)
        goto out;
    if (kv_init(&kv, m->c.n_layers, m->c.n_kv_heads * m->c.head_dim, 0, ctx)) {
        rc = -ENOMEM;
        goto out;
    }
    double sum2 = 0;                 /* of the per-token NLLs squared, for the error */
    for (long c0 = 0; !rc && c0 + ctx <= n; c0 += ctx) {
        kv_seq s = {0};
        if (kv_seq_reserve(&kv, &s, ctx)) { rc = -ENOMEM; break; }
        for (int i = 0; i < ctx; i++) {
            tok[i] = i == 0 && bos >= 0 ? bos : tokens[c0 + i];
            pos[i] = i;
            rows[i] = i >= first && i < ctx - 1 ? i - first : -1;
            seqs[i] = &s;
        }
        fwd_run(f, &kv, tok, pos, seqs, ctx, rows, logits);
        kv_seq_release(&kv, &s);
        for (int j = first; j < ctx - 1; j++) {
            double l = nll_of(logits + (size_t)(j - first) * V, V, (int)tokens[c0 + j + 1]);
            r.nll += l;
            sum2 += l * l;
            r.scored++;
        }
        r.chunks++;
        double mean = r.nll / r.scored, var = sum2 / r.scored - mean * mean;
        r.ppl = exp(mean);
        r.err = r.scored > 1 && var > 0 ? r.ppl * sqrt(var / (r.scored - 1)) : 0;
        if (cb) cb(ud, &r);
    }
    kv_release(&kv);
    *out = r;
out:
    free(logits); free(tok); free(pos); free(rows); free(seqs);
    if (f) fwd_free(f);
    pool_free(p);
    return rc;
}
