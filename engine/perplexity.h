/* Perplexity of a model over a token sequence, the way llama.cpp's
 * llama-perplexity measures it: the tokens are cut into chunks of ctx;
 * each chunk starts with BOS in place of its first token and is run in
 * one pass; the negative log-likelihood of the next token is summed over
 * the second half of each chunk only (the first half is context), in
 * double precision from log-softmax of the logits; perplexity is
 * exp(mean NLL).  The tail that does not fill a chunk is not scored. */
#ifndef LLMFS_PERPLEXITY_H
#define LLMFS_PERPLEXITY_H
#include "engine/model.h"

typedef struct {
    int chunks;              /* chunks scored */
    long scored;             /* tokens whose likelihood counts */
    double nll;              /* their summed negative log-likelihood */
    double ppl;              /* exp(nll / scored) */
    double err;              /* standard error of ppl (delta method) */
} ppl_result;

/* Called after each chunk with the running result; may be NULL. */
typedef void (*ppl_progress)(void *ud, const ppl_result *r);

/* 0; -EINVAL when ctx < 4, no BOS, or fewer than ctx tokens; -ENOMEM. */
int perplexity(const model *m, int threads, const int *tokens, long n, int ctx,
               ppl_progress cb, void *ud, ppl_result *out);
#endif
