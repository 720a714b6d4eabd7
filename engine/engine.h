/* The generation engine: a model, its thread pool, the KV cache and the
 * forward-pass scratch, driving any number of sequences.  engine_step()
 * is one iteration of continuous batching: every running sequence gets one
 * decode token, and prompts being prefilled get chunks of the remaining
 * token budget, all in one forward pass.  Text comes out through each
 * sequence's emit callback as valid UTF-8, stop strings held back until
 * they can no longer match. */
#ifndef LLMFS_ENGINE_H
#define LLMFS_ENGINE_H
#include <stddef.h>
#include <stdint.h>
#include "engine/forward.h"
#include "engine/kv.h"
#include "engine/model.h"
#include "engine/sampler.h"
#include "engine/utf8.h"

#define SEQ_MAX_STOP 4
#define SEQ_STOP_LEN 64

typedef struct {
    int max_tokens;          /* most tokens to generate */
    float temperature;       /* 0: greedy */
    int top_k;               /* 0: off */
    float top_p;             /* 1: off */
    uint64_t seed;
    int ignore_eos;          /* keep going past end-of-generation tokens */
    int n_stop;
    char stop[SEQ_MAX_STOP][SEQ_STOP_LEN + 1];   /* NUL-terminated */
} seq_params;

void seq_params_default(seq_params *p);

enum seq_state {
    SEQ_PREFILL,             /* prompt tokens still to compute */
    SEQ_DECODE,              /* generating */
    SEQ_DONE,                /* finished: see seq.finish */
};

enum seq_finish {
    FINISH_NONE, FINISH_EOS, FINISH_LENGTH, FINISH_STOP, FINISH_CONTEXT, FINISH_ERROR,
};

typedef struct engine engine;
typedef struct seq seq;

/* Receives text as it is produced (from engine_step's thread). */
typedef void (*seq_emit_fn)(void *ud, const char *text, size_t n);

struct seq {
    int *tokens;             /* (cap) prompt (with BOS) then generated ids */
    int n_tokens, cap;
    int n_prompt;            /* prompt tokens, BOS included */
    int n_past;              /* positions whose KV is computed */
    int n_gen;               /* generated tokens */
    int n_cached;            /* prompt positions taken from the prefix cache */
    int prefix_looked;       /* the prefix cache was consulted */
    int state, finish;
    seq_params params;
    sampler smp;
    kv_seq kv;
    utf8_stream u8;
    char *text;              /* (text_cap) generated text, valid UTF-8 */
    size_t text_len, text_cap, emitted;
    seq_emit_fn emit;
    void *ud;
    int64_t t_start_ns, t_first_ns, t_prefill_ns, t_done_ns;  /* CLOCK_MONOTONIC */
};

/* Makes an engine for model m (which it does not own) with n_threads
 * threads, a KV cache of kv_bytes (at least one full context), batches of
 * up to max_batch_tokens tokens and a context of ctx positions (0: the
 * model's).  Returns 0 or a negative errno with a reason in err. */
int  engine_new(model *m, int n_threads, size_t kv_bytes, int max_batch_tokens, int ctx,
                engine **out, char *err, size_t errlen);
void engine_free(engine *e);
const model *engine_model(const engine *e);
int  engine_ctx(const engine *e);
kv_cache *engine_kv(engine *e);
/* Most prompt tokens one step computes while other sequences are
 * decoding (default: the whole batch budget). */
void engine_set_prefill_chunk(engine *e, int tokens);
/* Prefix sharing between sequences (off by default). */
void engine_set_prefix_cache(engine *e, int on);
/* Prompt tokens looked up in the prefix cache, and found there. */
void engine_prefix_stats(const engine *e, uint64_t *queries, uint64_t *hits);

/* A new sequence for prompt text[0..len), tokenized with BOS.  Caller
 * frees with seq_free.  Returns 0, -EFBIG when the prompt does not fit in
 * the context, or another negative errno. */
int  seq_new(engine *e, const char *text, size_t len, const seq_params *p, seq_emit_fn emit,
             void *ud, seq **out);
/* The same from token ids (BOS included by the caller). */
int  seq_new_tokens(engine *e, const int *ids, int n, const seq_params *p, seq_emit_fn emit,
                    void *ud, seq **out);
void seq_free(engine *e, seq *s);
/* Finishes s now (cancellation), releasing its KV blocks. */
void seq_cancel(engine *e, seq *s);

/* One iteration over seqs[0..n) (finished ones are skipped).  Returns the
 * number of tokens computed, 0 when there was nothing to do, or -ENOSPC
 * when the KV cache had no room (sequences that could not get blocks are
 * left as they were). */
int  engine_step(engine *e, seq **seqs, int n);

/* Gives s's KV blocks back; s recomputes its tokens when next stepped
 * and, the pass being deterministic, continues with the same tokens. */
void engine_preempt(engine *e, seq *s);

/* Runs one sequence to the end (llmfs-run). */
int  engine_generate(engine *e, seq *s);

int64_t engine_now_ns(void);
#endif
