/* Perplexity of a model over a token sequence, the way llama.cpp's
 * llama-perplexity measures it: the tokens (BOS first when the vocabulary
 * adds one) are cut into chunks of ctx; each chunk is run in one pass with
 * BOS in place of its first token (when the vocabulary adds one); the
 * negative log-likelihood of the next token is summed over the second half
 * of each chunk only (the first half is context), in double precision from
 * log-softmax of the logits; perplexity is exp(mean NLL).  The tail that
 * does not fill a chunk is not scored.  (llama-perplexity also refuses
 * fewer than 2 * ctx tokens; one chunk is enough here.) */
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

/* bos: the id that replaces each chunk's first token, or -1 to keep it.
 * 0; -EINVAL when ctx < 4 or there are fewer than ctx tokens; -ENOMEM.
 * *out is written in every case (zeros on an error). */
int perplexity(const model *m, int threads, const int *tokens, long n, int ctx, int bos,
               ppl_progress cb, void *ud, ppl_result *out);
#endif
