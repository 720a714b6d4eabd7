/* The daemon's configuration (llmfs.yaml, see llmfs.yaml(5)): defaults
 * for every key, a strict libyaml reader that refuses unknown keys, wrong
 * types and impossible values with "FILE:LINE:COLUMN: reason", -o key=value
 * overrides, and a YAML renderer whose output reads back to an equal
 * config. */
#ifndef LLMFS_CONFIG_H
#define LLMFS_CONFIG_H
#include <stdbool.h>
#include <stddef.h>

#include "fs/params.h"

#define CONFIG_DEFAULT_L2_DIR "~/.cache/llmfs"

/* The caches' replacement policy: an index into policy_names()
 * (engine/policy.h), whose first name, "adaptive", is the default. */
typedef int cache_policy;
#define CACHE_POLICY_DEFAULT 0

/* One entry of backend: an OpenAI-compatible endpoint.  Integers left 0
 * take the remote section's default. */
typedef struct config_backend {
    char *url;                /* http(s)://HOST[:PORT][/PREFIX] (owned) */
    char *model;              /* model name sent to it; NULL = none (owned) */
    char *api_key_file;       /* file whose first line is the API key; NULL = none (owned) */
    char *api_key_env;        /* environment variable holding the key; NULL = none (owned) */
    int kind;                 /* remote_kind (remote/remote.h), default openai */
    int timeout_ms;           /* [0, 3600000] */
    int connect_timeout_ms;   /* [0, 600000] */
    int max_inflight;         /* [0, 65536] */
} config_backend;

#define CONFIG_MAX_BACKENDS 64

typedef struct llmfs_config {
    char *model;              /* model file; NULL = not set (owned) */
    char *revision;           /* remote model revision, part of the cache key; NULL = "" (owned) */
    config_backend *backends; /* (n_backends) remote endpoints; none = the local engine (owned) */
    int n_backends;
    char *tokenizer;          /* tokenizer .bin for llama2.c models; NULL = none (owned) */
    int threads;              /* [1, 256], default 2 */
    int context;              /* [0, 16777216]; 0 = the model's own */
    gen_params generation;    /* per-request defaults (priority included) */
    struct {
        int max_batch;        /* [1, 4096], default 16 */
        int queue;            /* [1, 1048576], default 256 */
        int tpot_target_ms;   /* [1, 600000], default 50 */
        bool adaptive;        /* adapt the concurrency limit; default true */
        int prefill_chunk;    /* prompt tokens per step while others decode; default 32 */
    } scheduler;
    struct {
        int l1_mb;            /* [0, 1048576], default 64; 0 = no L1 */
        char *l2_dir;         /* default "~/.cache/llmfs", unexpanded (owned) */
        int l2_mb;            /* [0, 1048576], default 1024; 0 = no L2 */
        cache_policy policy;  /* default adaptive */
        bool kv_prefix;       /* default true */
        char *l2_redis;       /* redis://... for a shared L2 instead of l2_dir; NULL = none (owned) */
        char *l2_hmac_key_file;   /* HMAC key of the Redis records; NULL = none (owned) */
        int kv_mb;            /* [0, 1048576], default 256 */
    } cache;
    struct {
        long long max_prompt_bytes; /* [1, 2^40], default 1048576 */
    } limits;
    struct {
        int timeout_ms;           /* [1, 3600000], default 30000: longest silence */
        int connect_timeout_ms;   /* [1, 600000], default 5000 */
        int max_inflight;         /* [1, 65536], default 64 */
        int retries;              /* [0, 10], default 2 */
        float retry_budget;       /* [0, 1], default 0.2 */
        int backoff_ms;           /* [1, 60000], default 50 */
        int breaker_failures;     /* [1, 1000], default 5 */
        float breaker_failure_rate;   /* [0.01, 1], default 0.5 */
        int breaker_window;       /* [1, 256], default 20 */
        int breaker_cooldown_ms;  /* [1, 3600000], default 5000 */
        int route_prefix_bytes;   /* [1, 1048576], default 64 */
    } remote;
} llmfs_config;

/* Fills c with every default.  c must not hold owned strings (it is
 * overwritten, not released).  l2_dir is NULL only if out of memory;
 * config_load_*() and config_set_option() then fail with ENOMEM. */
void config_defaults(llmfs_config *c);

/* Frees the strings c owns and leaves c zeroed.  NULL is a no-op. */
void config_release(llmfs_config *c);

/* Deep copy: dst must not hold owned strings.  Returns 0 or -ENOMEM (dst
 * then zeroed). */
int config_copy(llmfs_config *dst, const llmfs_config *src);

/* Equality of every field (strings by value). */
int config_equal(const llmfs_config *a, const llmfs_config *b);

/* Reads YAML (len bytes of buf; name is the file name used in messages)
 * and applies its keys on top of c (call config_defaults() first).  On
 * failure c is unchanged and err = "NAME:LINE:COLUMN: reason" (1-based,
 * the offending node's start); returns 0, -EINVAL or -ENOMEM.  An empty
 * document is valid and changes nothing. */
int config_load_buf(llmfs_config *c, const char *buf, size_t len, const char *name,
                    char *err, size_t errlen);

/* config_load_buf() on a file's contents; open/read errors give
 * "PATH: strerror" and the negative errno. */
int config_load_file(llmfs_config *c, const char *path, char *err, size_t errlen);

/* One -o key=value: key is dotted ("generation.max_tokens", "cache.policy",
 * "model", ...); value is taken as an unquoted YAML scalar (for
 * generation.stop: one stop string, empty = none).  "config" itself is the
 * caller's.  Returns 0, or -EINVAL with err = "KEY: reason" (c unchanged). */
/* The dotted config key whose last part is leaf[0..len) ("max_tokens" ->
 * "generation.max_tokens"), or NULL. */
const char *config_dotted_key(const char *leaf, size_t len);
int config_set_option(llmfs_config *c, const char *key, const char *value, char *err,
                      size_t errlen);

/* Renders the whole effective config as YAML into *out (NUL-terminated,
 * *len bytes without the NUL; caller frees).  Returns 0 or -ENOMEM. */
int config_render_yaml(const llmfs_config *c, char **out, size_t *len);

/* The policy's name ("adaptive", "lru", ...); NULL if invalid. */
const char *config_policy_name(cache_policy p);

/* Expands a leading "~/" (or a lone "~") with $HOME into a new string
 * (caller frees).  Returns 0, -ENOMEM, or -ENOENT when HOME is unset. */
int config_expand_path(const char *path, char **out);
#endif
