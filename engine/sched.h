/* The scheduler: a thread that owns the engine and runs continuous
 * batching over every admitted request.  Requests wait in a bounded queue
 * ordered by priority (then arrival); the thread admits them while the
 * running set is below the concurrency limit, runs one engine_step over
 * the running set per iteration, and reports text and completion through
 * callbacks.  Thread-safe: submit and cancel may be called from any
 * thread. */
#ifndef LLMFS_SCHED_H
#define LLMFS_SCHED_H
#include <stddef.h>
#include <stdint.h>
#include "engine/engine.h"

typedef struct {
    int max_batch;           /* most sequences running at once (limit ceiling) */
    int queue;               /* most requests waiting; beyond: -EBUSY */
    double tpot_target_ms;   /* adaptive concurrency target per output token */
    int adaptive;            /* 1: adapt the limit, 0: fixed at max_batch */
} sched_config;

/* What a finished request reports (also the figures stats/ needs). */
typedef struct {
    int finish;              /* enum seq_finish; FINISH_ERROR when cancelled */
    int error;               /* 0 or a negative errno (e.g. -EFBIG) */
    const char *reason;      /* NULL, or why it failed, for the user (valid during on_done) */
    int prompt_tokens;       /* BOS included */
    int cached_tokens;       /* prompt tokens reused from the prefix cache */
    int generated_tokens;
    /* (generated_tokens) the generated ids, valid only inside on_done;
     * NULL when they are not known (a reply served from the response
     * cache's records) */
    const int *gen_ids;
    int64_t t_submit_ns, t_start_ns, t_first_ns, t_done_ns;   /* CLOCK_MONOTONIC */
} sched_result;

typedef struct {
    /* Text as it is generated, valid UTF-8, on the scheduler thread. */
    void (*on_text)(void *ud, const char *text, size_t n);
    /* Once, at the end (never after sched_release), on the scheduler thread. */
    void (*on_done)(void *ud, const sched_result *r);
    /* NULL, or after every generated token (seq_token_fn), on the scheduler
     * thread. */
    void (*on_token)(void *ud, int n_gen, size_t cut);
} sched_cb;

typedef struct sched sched;
typedef struct sched_req sched_req;

/* Steps by batch size: bucket k counts steps of at most 2^k sequences
 * (k < SCHED_BATCH_BUCKETS - 1); the last bucket counts the rest. */
#define SCHED_BATCH_BUCKETS 10
/* tokens_per_s is an average over this many whole seconds, the current
 * one not included */
#define SCHED_RATE_S 10

typedef struct {
    uint64_t submitted, rejected_busy, finished, cancelled;
    uint64_t batch_hist[SCHED_BATCH_BUCKETS];   /* steps by sequences in the batch */
    uint64_t batch_seqs;     /* sum over steps of sequences in the batch */
    uint64_t prompt_tokens, generated_tokens, steps, batch_tokens;
    uint64_t preemptions;    /* sequences that gave their KV back to recompute later */
    int running, waiting, limit;
    int kv_blocks_used, kv_blocks_total;
    int kv_blocks_cached;    /* unreferenced blocks kept for the prefix cache */
    uint64_t kv_evictions;   /* cached blocks reclaimed for new ones */
    size_t kv_block_bytes;
    uint64_t prefix_queries, prefix_hits;   /* prompt tokens looked up / found */
    double tokens_per_s;     /* generated over the last SCHED_RATE_S whole seconds */
    policy_stats kv_policy;  /* the prefix cache's policy (blocks as unit bytes) */
} sched_stats;

/* Starts the scheduler thread over e (not owned; must outlive it). */
int  sched_new(engine *e, const sched_config *cfg, sched **out);
/* Stops the thread.  Every request must have been released first. */
void sched_free(sched *s);

/* Queues a request for the prompt ids[0..n) (BOS included, as
 * engine_tokenize() makes them) in the queue of p->priority.  -EFBIG
 * (prompt longer than the context) and -EBUSY (queue full) are returned
 * here and nothing is queued.  On success *out is the caller's handle,
 * valid until it passes it to sched_release. */
int  sched_submit_tokens(sched *s, const int *ids, int n, const gen_params *p,
                         const sched_cb *cb, void *ud, sched_req **out);
/* The same for a prompt text, tokenized at once. */
int  sched_submit(sched *s, const char *prompt, size_t len, const gen_params *p,
                  const sched_cb *cb, void *ud, sched_req **out);
/* The engine the scheduler drives (its model, context, tokenizer). */
engine *sched_engine(sched *s);
/* The caller is done with req: if it is still queued or running it is
 * cancelled (its KV blocks freed at once) and no callback for it runs any
 * more once this returns; then the handle is freed.  Call it exactly once
 * per submitted request, finished or not, and never from a callback or
 * while holding a lock that the callbacks take (it waits for a callback
 * in progress). */
void sched_release(sched *s, sched_req *req);

void sched_get_stats(sched *s, sched_stats *out);
#endif
