/* The daemon's statistics: lock-free counters and log-linear histograms
 * (hist.h) updated on the hot path, a ring of recent requests, and the
 * rendering of the stats/ files (metrics, latency, cache, engine,
 * requests CSV, prometheus).  Rendering takes one snapshot of everything a
 * file shows, so a file is never torn. */
#ifndef LLMFS_STATS_H
#define LLMFS_STATS_H
#include <stddef.h>
#include <stdint.h>

#include "engine/model.h"
#include "cache/rcache.h"
#include "cache/backend.h"
#include "engine/sched.h"
#include "fs/config.h"

typedef struct stats stats;

enum stats_hist {
    STATS_QUEUE,      /* t_start - t_submit */
    STATS_TTFT,       /* t_first - t_submit */
    STATS_TPOT,       /* (t_done - t_first) / (generated - 1) */
    STATS_E2E,        /* t_done - t_submit */
    STATS_FUSE_OP,    /* service time of one FUSE op handler */
    STATS_NHIST
};

enum stats_file {
    STATS_METRICS, STATS_LATENCY, STATS_CACHE, STATS_ENGINE, STATS_REQUESTS,
    STATS_PROMETHEUS, STATS_BACKENDS, STATS_NFILES
};

/* What identifies a request in stats/requests: a rewritten prompt gives
 * rows of the same name, told apart by id and submit time. */
typedef struct stats_meta {
    uint64_t id;             /* 1, 2, ... in submission order; 0 unknown */
    double submit_time;      /* seconds since the epoch; < 0 unknown */
    double temperature;      /* < 0 unknown */
    uint64_t seed;           /* meaningful when temperature >= 0 */
} stats_meta;

/* One row of stats/requests.  Negative numbers are unknown (left empty). */
typedef struct stats_row {
    char name[128];          /* prompt name, truncated */
    const char *state;       /* static string: waiting running done cancelled rejected error */
    int prompt_tokens, cached_tokens, generated_tokens;
    double queue_ms, ttft_ms, e2e_ms;
    const char *cache;       /* cache_source_name(), or "" when the request never ran */
    char error[192];         /* reason, or "" */
    stats_meta meta;
    const char *finish;      /* eos max_tokens stop context cancelled error, or "" */
} stats_row;

/* What rendering reads besides the counters; pointers are not owned. */
typedef struct stats_env {
    const llmfs_config *cfg;
    const model *m;
    sched *s;                /* NULL: no scheduler (figures shown as 0) */
    rcache *c;               /* NULL: no response cache (its figures left out) */
    int ctx;                 /* engine context, positions */
    int threads;
    int max_batch_tokens;
    size_t kv_bytes;
    backend *remote;         /* NULL, or the remote backend (remote/remote.h) */
    const char *chat_format; /* chats/' format (chat_format_name), or NULL */
} stats_env;

int  stats_new(stats **out);          /* 0 or -ENOMEM; caller stats_free()s */
void stats_free(stats *st);           /* NULL is a no-op */

/* Makes room for the latency histograms of n remote endpoints (call once,
 * before any stats_endpoint_observe).  0 or -ENOMEM. */
int  stats_endpoints(stats *st, int n);
/* The remote backend's observe hook (remote_config.observe, ud the
 * stats): records endpoint ep's time to first text and to the whole
 * answer (milliseconds; < 0: none).  Lock-free. */
void stats_endpoint_observe(void *st, int ep, double ttft_ms, double e2e_ms);

/* A FUSE op handler took ns nanoseconds. */
void stats_op(stats *st, int64_t ns);
/* A request was accepted by the scheduler. */
void stats_submitted(stats *st);
/* A request finished (on_done), generated or served from the cache:
 * histograms, counters and a row. */
void stats_done(stats *st, const char *name, const stats_meta *meta, const cache_result *res);
/* A request was cancelled before it finished (row filled by the caller). */
void stats_cancelled(stats *st, const stats_row *row);
/* A prompt was refused (err: -EINVAL, -EFBIG, -EBUSY or other). */
void stats_rejected(stats *st, const char *name, int err, const char *reason);

/* Fills row with the name and unknown figures (submit time: now). */
void stats_row_init(stats_row *row, const char *name, const char *state);

/* Renders one stats/ file into *out (NUL-terminated; *len without the NUL;
 * caller frees).  active[0..n_active) are requests still in flight, shown
 * after the finished ones in stats/requests.  Returns 0 or -ENOMEM. */
int stats_render(stats *st, int file, const stats_env *env, const stats_row *active,
                 size_t n_active, char **out, size_t *len);
#endif
