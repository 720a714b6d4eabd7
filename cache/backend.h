/* A backend: whatever produces text for a prompt, behind one small table
 * of functions.  The in-process scheduler (backend_local) is one; remote
 * OpenAI-compatible servers (remote/remote.h) are the other.  The
 * response cache (rcache.h) is the only caller.
 *
 * Contract of every implementation, the scheduler's (sched.h): callbacks
 * (sched_cb) run on the backend's own thread, on_done exactly once unless
 * the request was released first, and release() may not be called from a
 * callback; it cancels a request still running and waits for a callback in
 * progress. */
#ifndef LLMFS_BACKEND_H
#define LLMFS_BACKEND_H
#include <stddef.h>
#include <stdint.h>

#include "engine/params.h"
#include "engine/sched.h"

typedef struct backend backend;
typedef struct backend_req backend_req;

typedef struct backend_ops {
    /* The prompt as the backend will run it: token ids into a new array
     * *ids (caller frees).  Returns the count, -EFBIG when the prompt does
     * not fit, or another negative errno.  A backend without local token
     * ids (a remote one) gives the prompt's bytes, one per id, so that the
     * cache key holds the prompt's exact bytes. */
    int  (*tokenize)(backend *b, const char *text, size_t len, int **ids);
    /* The same for a chat's text (engine_tokenize_chat): special-token
     * text parsed, BOS only when first. */
    int  (*tokenize_chat)(backend *b, const char *text, size_t len, int first, int **ids);
    /* Starts generating from ids[0..n) (what tokenize gave).  Returns 0 and
     * the handle in *out, -EBUSY when the backend's queue is full, or
     * another negative errno; nothing is started on failure. */
    int  (*submit)(backend *b, const int *ids, int n, const gen_params *p, const sched_cb *cb,
                   void *ud, backend_req **out);
    void (*release)(backend *b, backend_req *r);
    void (*free)(backend *b);
    /* NULL, or whether the backend can honour p: 0, or -EINVAL with the
     * reason in why (a parameter its servers do not accept). */
    int  (*check)(backend *b, const gen_params *p, char *why, size_t whylen);
} backend_ops;

struct backend {
    const backend_ops *ops;
    /* What, besides the prompt and the parameters, decides the bytes this
     * backend produces: for the local engine, the model's fingerprint,
     * ENGINE_OUTPUT_VERSION and the context length; for a remote one, the
     * model's name and the configured revision.  The cache keys on it. */
    uint8_t identity[48];
    size_t identity_len;
};

/* The in-process scheduler as a backend (s not owned).  model_fp and
 * tok_fp are the fingerprints (fingerprint.h) of the model file and of
 * the separate tokenizer file (llama2.c models; NULL when there is none). */
int backend_local_new(sched *s, const uint8_t model_fp[16], const uint8_t tok_fp[16],
                      backend **out);

static inline void backend_free(backend *b) { if (b) b->ops->free(b); }
#endif
