/* The transformer forward pass over a batch of tokens from any number of
 * sequences at once: weights are read once per batch, every sequence's
 * attention reads its own pages of the KV cache. */
#ifndef LLMFS_FORWARD_H
#define LLMFS_FORWARD_H
#include "engine/kv.h"
#include "engine/model.h"
#include "engine/pool.h"

typedef struct fwd fwd;

/* Scratch for batches of up to max_tokens tokens and positions below ctx.
 * The model and pool must outlive it.  NULL on failure. */
fwd *fwd_new(const model *m, pool *p, int max_tokens, int ctx);
void fwd_free(fwd *f);

/* Runs n tokens: token i is tokens[i] of sequence seqs[i] at position
 * pos[i].  A sequence's tokens in one batch must have consecutive
 * increasing positions and its KV blocks must already cover them
 * (kv_seq_reserve); positions before them must be filled.  For each i
 * with out_row[i] >= 0, logits row out_row[i] (vocab floats) is written.
 * The result for a token depends only on its sequence's tokens, never on
 * what else is in the batch. */
void fwd_run(fwd *f, kv_cache *kv, const int *tokens, const int *pos, kv_seq *const *seqs,
             int n, const int *out_row, float *logits);
#endif
