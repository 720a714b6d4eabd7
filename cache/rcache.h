/* The response cache: the layer between the namespace (fs/) and a backend
 * (backend.h).  Its interface mirrors the scheduler's: submit a prompt
 * with callbacks, release the handle.  Behind it:
 *
 *  - the key: XXH3-128 of the backend's identity (model fingerprint,
 *    engine output version, context length), the prompt's token ids and
 *    every parameter that changes the bytes (temperature, top_k, top_p,
 *    seed, stop strings, ignore_eos); not max_tokens, priority or the
 *    cache mode;
 *  - L1, records in memory up to a byte bound, and L2, record files on
 *    disk (l2.h); an L2 hit moves up to L1 when L1 has room or the
 *    policy predicts it will be used again, and records whose rhythm or
 *    time of day says they are due are brought up before they are asked
 *    for (rcache_prefetch, every PREFETCH_EVERY_S by the worker);
 *  - flights: a generation belongs to the cache, and identical requests
 *    in flight at once follow the same one (it goes on while any of them
 *    still wants it);
 *  - only generations that finished are stored, with their token
 *    boundaries, so that a request for fewer tokens is served by cutting
 *    a longer record; a request for more is served only by a record that
 *    ended by itself.
 *
 * Callbacks: a hit is answered inside rcache_submit (on_text, then
 * on_done, before it returns); otherwise they run on the backend's thread.
 * They may take the caller's locks, so never hold one of those while
 * calling rcache_submit or rcache_release.  Disk I/O and compression run
 * in the submitting thread (L2 reads) and on the cache's own worker
 * thread (L2 writes), never on the backend's. */
#ifndef LLMFS_RCACHE_H
#define LLMFS_RCACHE_H
#include <stddef.h>
#include <stdint.h>

#include "cache/backend.h"
#include "engine/policy.h"

typedef enum cache_source {
    CACHE_MISS,              /* generated for this request */
    CACHE_L1,                /* served from memory */
    CACHE_L2,                /* served from disk */
    CACHE_JOINED,            /* followed an identical request's generation */
    CACHE_BYPASS,            /* cache: off */
} cache_source;

/* "miss", "l1", "l2", "joined", "off". */
const char *cache_source_name(cache_source s);

typedef struct cache_result {
    sched_result r;          /* this request's figures (a hit: the tokens served, no engine time) */
    cache_source source;
} cache_result;

typedef struct cache_cb {
    void (*on_text)(void *ud, const char *text, size_t n);
    void (*on_done)(void *ud, const cache_result *r);   /* once, never after release */
} cache_cb;

typedef struct cache_config {
    size_t l1_bytes;         /* 0: no memory tier */
    const char *l2_dir;      /* NULL: no disk tier (a path, ~ already expanded) */
    size_t l2_bytes;         /* 0: no disk tier */
    const char *policy;      /* a policy_new() name, for both tiers */
    double (*clock)(void);   /* the policies' clock (NULL: policy_clock_now); for tests */
    /* NULL, or the L2 tier in Redis instead of the disk (l2_redis.h):
     * redis://[:PASSWORD@]HOST[:PORT][/DB]; l2_dir and l2_bytes then unused */
    const char *l2_redis;
    const char *l2_hmac_key_file;   /* NULL, or the HMAC key of Redis values */
} cache_config;

typedef struct rcache_stats {
    struct {
        uint64_t lookups, hits, evictions, entries, bytes;
    } l1, l2;
    uint64_t l2_raw_bytes, l2_writes, l2_write_errors, l2_corrupt, l2_foreign;
    int l1_on, l2_on;
    int l2_redis;            /* L2 is in Redis: the fields below mean something */
    int l2_redis_up;         /* connected now */
    uint64_t l2_redis_errors;    /* commands or connections that failed */
    uint64_t l2_forged;          /* values whose HMAC did not verify, never served */
    uint64_t l2_skipped;         /* lookups and writes skipped while Redis was down */
    policy_stats l1_policy;
    uint64_t misses, joined, bypass;
    uint64_t l2_promoted;    /* L2 hits moved up to L1 */
    uint64_t l2_not_promoted;   /* L2 hits left on disk: reuse not predicted, L1 full */
    uint64_t prefetched;     /* records moved up to L1 because they were due */
    uint64_t prefetch_hits;  /* of those, asked for while in L1 */
    uint64_t tokens_saved;   /* tokens served without generating them */
    double ms_saved;         /* generation time those tokens took first */
} rcache_stats;

typedef struct rcache rcache;
typedef struct rcache_req rcache_req;

/* Makes the cache and opens its disk tier (or Redis tier).  Call before
 * forking: the disk tier's lock is inherited, threads are not.  msg gets
 * a one-line warning (for the operator) when the disk tier cannot be
 * used; the cache then runs without it.  Returns 0, -ENOMEM, or for a
 * Redis tier that is misconfigured (its URL, its HMAC key file) -EINVAL
 * or -ENOENT with msg = why. */
int  rcache_new(const cache_config *cfg, rcache **out, char *msg, size_t msglen);
/* Starts the worker thread and binds the backend b (not owned). */
int  rcache_start(rcache *c, backend *b);
/* Writes what is queued for the disk, stops the worker, frees.  Every
 * request must have been released.  NULL is a no-op. */
void rcache_free(rcache *c);

/* Submits prompt[0..len) with p.  Returns 0 and the handle in *out (valid
 * until rcache_release), or a negative errno: -EFBIG (the prompt does not
 * fit the context), -EBUSY (the backend's queue is full), -ENOMEM. */
int  rcache_submit(rcache *c, const char *prompt, size_t len, const gen_params *p,
                   const cache_cb *cb, void *ud, rcache_req **out);
/* Whether the backend can honour p: 0, or -EINVAL with the reason in
 * why (a parameter its servers do not take). */
int  rcache_check(rcache *c, const gen_params *p, char *why, size_t whylen);
/* The same from token ids[0..n) (not kept), as rcache_tokenize_chat
 * makes them. */
int  rcache_submit_tokens(rcache *c, const int *ids, int n, const gen_params *p,
                          const cache_cb *cb, void *ud, rcache_req **out);
/* A chat's text as the backend's token ids (backend_ops.tokenize_chat);
 * caller frees *ids.  Returns the count or a negative errno. */
int  rcache_tokenize_chat(rcache *c, const char *text, size_t len, int first, int **ids);
/* Where the request's bytes come from (known once rcache_submit returned). */
cache_source rcache_req_source(const rcache_req *q);
/* What q's generation did so far: its prompt's tokens and the tokens
 * generated; -1 each when not known (served from a record, or ended). */
void rcache_req_progress(rcache *c, const rcache_req *q, int *prompt_tokens, int *generated);
/* The caller is done with q: no callback for it runs once this returns.
 * A generation nobody follows any more is cancelled.  Not from a
 * callback. */
void rcache_release(rcache *c, rcache_req *q);

void rcache_get_stats(rcache *c, rcache_stats *out);
/* Moves records of L2 that its policy says are due within the next two
 * minutes up to L1 (a quarter of L1 per call at most, or one record).  The worker calls
 * it every minute; tests call it themselves. */
void rcache_prefetch(rcache *c);
#endif
