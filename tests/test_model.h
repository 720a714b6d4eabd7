/* Loading a test model from the shared data, for the engine tests. */
#ifndef LLMFS_TEST_MODEL_H
#define LLMFS_TEST_MODEL_H
#include "tests/harness.h"
#include "engine/model.h"
#include "engine/forward.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define TEST_LOGITS_MAX 128

/* The model at ../shared/REL, or NULL after printing a failed case. */
static inline model *test_load_model(const char *rel) {
    char path[512], err[256];
    model *m;
    if (model_load(shared_path(path, sizeof path, rel), NULL, &m, err, sizeof err)) {
        printf("not ok - load %s: %s\n", rel, err);
        return NULL;
    }
    return m;
}
/* Writes a seeded model with $BIN/llmfs-mkmodel (BIN defaults to bin)
 * into $TMPDIR (or /tmp) as NAME-PID.gguf, then loads it and removes the
 * file.  args are llmfs-mkmodel's, without -o.  NULL after printing a
 * failed case. */
static inline model *test_mkmodel(const char *name, const char *args) {
    const char *bin = getenv("BIN"), *tmp = getenv("TMPDIR");
    char path[512], cmd[2048], err[256];
    snprintf(path, sizeof path, "%s/%s-%d.gguf", tmp && *tmp ? tmp : "/tmp", name, (int)getpid());
    snprintf(cmd, sizeof cmd, "%s/llmfs-mkmodel -o %s %s", bin && *bin ? bin : "bin", path, args);
    model *m = NULL;
    if (system(cmd) != 0) printf("not ok - llmfs-mkmodel %s\n", args);
    else if (model_load_flags(path, NULL, MODEL_LOAD_MMAP, &m, err, sizeof err))
        printf("not ok - load %s: %s\n", path, err);
    unlink(path);   /* the mapping stays valid */
    return m;
}

/* Logits for every position of ids (n <= TEST_LOGITS_MAX), row p after
 * ids[0..p]: all in one batch (step = 0) or one token per forward call
 * (step = 1).  NULL on failure.  Caller frees. */
static inline float *test_logits(model *m, const int *ids, int n, int step, int threads) {
    if (n < 1 || n > TEST_LOGITS_MAX) return NULL;
    pool *p = pool_new(threads);
    fwd *f = fwd_new(m, p, n, m->c.ctx);
    kv_cache kv;
    kv_seq s = { 0 };
    float *out = malloc((size_t)n * m->c.vocab * sizeof *out);
    if (!f || !out || kv_init(&kv, m->c.n_layers, m->c.n_kv_heads * m->c.head_dim, 0, m->c.ctx)) {
        fwd_free(f); pool_free(p); free(out);
        return NULL;
    }
    if (kv_seq_reserve(&kv, &s, n)) {
        kv_release(&kv); fwd_free(f); pool_free(p); free(out);
        return NULL;
    }
    int pos[TEST_LOGITS_MAX], rows[TEST_LOGITS_MAX];
    kv_seq *seqs[TEST_LOGITS_MAX];
    for (int i = 0; i < n; i++) { pos[i] = i; rows[i] = i; seqs[i] = &s; }
    if (!step) {
        fwd_run(f, &kv, ids, pos, seqs, n, rows, out);
    } else {
        int zero = 0;
        for (int i = 0; i < n; i++)
            fwd_run(f, &kv, ids + i, pos + i, seqs, 1, &zero, out + (size_t)i * m->c.vocab);
    }
    kv_seq_release(&kv, &s);
    kv_release(&kv);
    fwd_free(f);
    pool_free(p);
    return out;
}

#endif
