/* This file implements the local backend of backend.h: the in-process
 * scheduler, whose requests are the backend's. */
#include "cache/backend.h"
#include "cache/le.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"

typedef struct {
    backend b;
    sched *s;
} local;

static int local_tokenize(backend *b, const char *text, size_t len, int **ids) {
    return engine_tokenize(sched_engine(((local *)b)->s), text, len, ids);
}

static int local_tokenize_chat(backend *b, const char *text, size_t len, int first, int **ids) {
    return engine_tokenize_chat(sched_engine(((local *)b)->s), text, len, first, ids);
}

static int local_submit(backend *b, const int *ids, int n, const gen_params *p,
                        const sched_cb *cb, void *ud, backend_req **out) {
    return sched_submit_tokens(((local *)b)->s, ids, n, p, cb, ud, (sched_req **)out);
}

static void local_release(backend *b, backend_req *r) {
    sched_release(((local *)b)->s, (sched_req *)r);
}

static void local_free(backend *b) { free(b); }

static const backend_ops local_ops = {
    local_tokenize, local_tokenize_chat, local_submit, local_release, local_free, NULL,
};

int backend_local_new(sched *s, const uint8_t model_fp[16], const uint8_t tok_fp[16],
                      backend **out) {
    local *l = calloc(1, sizeof *l);
    *out = NULL;
    if (!l) return -ENOMEM;
    l->b.ops = &local_ops;
    l->s = s;
    memcpy(l->b.identity, "local\0\0\0", 8);
    memcpy(l->b.identity + 8, model_fp, 16);
    if (tok_fp) memcpy(l->b.identity + 24, tok_fp, 16);
    put_u32(l->b.identity + 40, ENGINE_OUTPUT_VERSION);
    put_u32(l->b.identity + 44, (uint32_t)engine_ctx(sched_engine(s)));
    l->b.identity_len = 48;
    *out = &l->b;
    return 0;
}
