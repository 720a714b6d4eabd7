/* Aggregate decode throughput of the engine with B sequences decoding at
 * once (continuous batching without FUSE): build/bench/engine_bench MODEL
 * [threads] [tokens] [B...].  Prefill is excluded: every sequence's prompt
 * is computed first, then `tokens` decode steps are timed. */
#include "engine/engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: engine_bench MODEL [threads] [tokens] [batch sizes...]\n");
        return 2;
    }
    int threads = argc > 2 ? atoi(argv[2]) : 2, tokens = argc > 3 ? atoi(argv[3]) : 32;
    int sizes[16] = { 1, 4, 16, 32 }, ns = 4;
    if (argc > 4) {
        ns = 0;
        for (int i = 4; i < argc && ns < 16; i++) sizes[ns++] = atoi(argv[i]);
    }
    char err[512];
    model *m;
    if (model_load(argv[1], NULL, &m, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
    printf("%-6s %12s %14s %12s\n", "batch", "decode tok/s", "ms per step", "x single");
    double single = 0;
    for (int si = 0; si < ns; si++) {
        int B = sizes[si];
        engine *e;
        size_t kvb = (size_t)B * 256 * m->c.n_layers * 2 * m->c.n_kv_heads * m->c.head_dim * 4;
        if (engine_new(m, threads, kvb, 256, 0, &e, err, sizeof err)) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        seq **s = calloc((size_t)B, sizeof *s);
        gen_params p;
        gen_params_default(&p);
        p.max_tokens = tokens + 1;
        p.ignore_eos = 1;
        for (int i = 0; i < B; i++) {
            char prompt[64];
            snprintf(prompt, sizeof prompt, "Story number %d begins here", i);
            seq_new(e, prompt, strlen(prompt), &p, NULL, NULL, &s[i]);
        }
        /* prefill everyone (and the first token) */
        while (1) {
            int pending = 0;
            for (int i = 0; i < B; i++) pending |= s[i]->state == SEQ_PREFILL;
            if (!pending) break;
            engine_step(e, s, B);
        }
        int64_t t0 = engine_now_ns();
        int steps = 0;
        for (; steps < tokens; steps++) engine_step(e, s, B);
        double sec = (engine_now_ns() - t0) / 1e9;
        double tps = (double)B * steps / sec;
        if (B == 1) single = tps;
        printf("%-6d %12.1f %14.2f %12.2f\n", B, tps, sec * 1e3 / steps, single ? tps / single : 0);
        fflush(stdout);
        for (int i = 0; i < B; i++) seq_free(e, s[i]);
        free(s);
        engine_free(e);
    }
    model_free(m);
    return 0;
}
