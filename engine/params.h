/* The generation parameters of one request: the one vocabulary that runs
 * from front matter, xattrs and llmfs.yaml (fs/params.h validates them)
 * through the response cache and the scheduler down to the sampler. */
#ifndef LLMFS_ENGINE_PARAMS_H
#define LLMFS_ENGINE_PARAMS_H
#include <stdint.h>

#define GEN_MAX_STOP     4    /* stop strings per request */
#define GEN_STOP_MAX     64   /* bytes per stop string, without the NUL */
#define GEN_MAX_TOKENS_LIMIT 1048576   /* upper bound for max_tokens */
/* The hottest temperature accepted (llmfs-run and the daemon alike). */
#define GEN_TEMPERATURE_MAX 100
#define GEN_PENALTY_MAX 10          /* repeat_penalty at most */
#define GEN_PENALTY_LAST_MAX 4096   /* repeat_last_n at most */

typedef enum gen_priority {
    PRIO_HIGH = 0,
    PRIO_NORMAL = 1,
    PRIO_LOW = 2,
} gen_priority;

/* How the response cache treats a request (never part of its key). */
typedef enum gen_cache {
    GEN_CACHE_ON = 0,         /* served from the cache when there; stored when not */
    GEN_CACHE_REFRESH = 1,    /* generated again; the result replaces the entry */
    GEN_CACHE_OFF = 2,        /* neither read nor written */
} gen_cache;

typedef struct gen_params {
    int max_tokens;       /* [1, GEN_MAX_TOKENS_LIMIT]; the engine also caps by context */
    float temperature;    /* >= 0, finite; 0 = greedy */
    int top_k;            /* >= 0; 0 = off */
    float top_p;          /* (0, 1]; 1 = off */
    uint64_t seed;        /* any value; same seed + prompt + params => same bytes */
    float min_p;          /* [0, 1]; 0 = off: drop tokens less likely than min_p
                             times the most likely one (before temperature) */
    float repeat_penalty; /* (0, GEN_PENALTY_MAX]; 1 = off: the logits of tokens among
                             the last repeat_last_n are divided by it (multiplied
                             when negative), as llama.cpp does */
    int repeat_last_n;    /* [0, GEN_PENALTY_LAST_MAX]; 0 = off */
    int ignore_eos;       /* keep generating past end-of-generation tokens */
    int n_stop;           /* used entries of stop[] */
    char stop[GEN_MAX_STOP][GEN_STOP_MAX + 1]; /* non-empty, NUL-terminated, no inner NUL */
    gen_priority priority;
    gen_cache cache;
} gen_params;

/* max_tokens 256, greedy (temperature 0, top_k 0, top_p 1, min_p 0), seed
 * 0, no repeat penalty (1, over the last 64 tokens), no stop strings,
 * priority normal, cache on. */
void gen_params_default(gen_params *p);
#endif
