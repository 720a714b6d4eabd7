/* This file implements the statistics of stats.h.  Counters are relaxed
 * atomics and histograms are hist.h's (lock-free); the recent-requests
 * ring, the last minute's histograms and the CPU samples (cpuwin.h) each
 * have a mutex.  A render first copies every figure it shows (counters,
 * histogram snapshots, sched_get_stats, the ring), then formats the copy. */
#include "fs/stats.h"
#include "fs/log.h"
#include "fs/sbuf.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "engine/quant.h"
#include "engine/version.h"
#include "fs/cpuwin.h"
#include "fs/hist.h"
#include "remote/remote.h"

#define RING_ROWS 1024
/* The last minute's latencies: request histograms also go to one of
 * WIN_SLOTS histograms of WIN_SLOT_S seconds each, and stats/latency
 * merges the slots of the last WIN_SLOTS * WIN_SLOT_S seconds. */
#define WIN_SLOTS 6
#define WIN_SLOT_S 10
#define WIN_HISTS STATS_FUSE_OP           /* the request histograms come first */

enum {
    C_SUBMITTED, C_SUCCESS, C_FAILED, C_CANCELLED, C_REJ_INVALID, C_REJ_TOO_LARGE,
    C_REJ_BUSY, C_REJ_OTHER, C_PROMPT_TOKENS, C_GEN_TOKENS, C_FUSE_OPS,
    C_N
};

struct stats {
    _Atomic uint64_t c[C_N];
    hist *h[STATS_NHIST];
    int64_t t0_ns;                     /* creation, CLOCK_MONOTONIC */
    time_t start_time;                 /* creation, seconds since the epoch */
    pthread_mutex_t ring_mu;           /* protects ring, ring_next, ring_n */
    stats_row *ring;                   /* (RING_ROWS) recent finished requests */
    size_t ring_next, ring_n;
    pthread_mutex_t win_mu;            /* protects win, win_epoch */
    hist *win[WIN_SLOTS][WIN_HISTS];
    int64_t win_epoch[WIN_SLOTS];      /* which WIN_SLOT_S-second interval a slot holds */
    pthread_mutex_t cpu_mu;            /* protects cpu, and orders its samples */
    cpuwin cpu;                        /* CPU and C_GEN_TOKENS, sampled at events */
    hist **ep_h;                       /* (2 * n_ep) remote endpoints' TTFT, end to end */
    int n_ep;                          /* set once, before the backend runs */
};

static const struct {
    const char *name, *prom, *help;
} hist_info[STATS_NHIST] = {
    [STATS_QUEUE] = {"queue_wait", "llmfs_request_queue_time_seconds",
                     "Time requests spent waiting in the queue before they started."},
    [STATS_TTFT] = {"ttft", "llmfs_time_to_first_token_seconds",
                    "Time from submission to the first generated token."},
    [STATS_TPOT] = {"time_per_output_token", "llmfs_time_per_output_token_seconds",
                    "Time per generated token after the first."},
    [STATS_E2E] = {"e2e", "llmfs_e2e_request_latency_seconds",
                   "Time from submission to the end of generation."},
    [STATS_FUSE_OP] = {"fuse_op", "llmfs_fuse_op_duration_seconds",
                       "Service time of FUSE operation handlers."},
};

static void cadd(stats *st, int i, uint64_t v) {
    atomic_fetch_add_explicit(&st->c[i], v, memory_order_relaxed);
}

static uint64_t cget(stats *st, int i) {
    return atomic_load_explicit(&st->c[i], memory_order_relaxed);
}

/* The daemon's user + system CPU seconds (0 if getrusage fails). */
static double cpu_seconds(long *max_rss_kb) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru)) return 0;
    if (max_rss_kb) *max_rss_kb = ru.ru_maxrss;
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
           (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* Adds a sample of now to the CPU ring; with per_1k, also sets *per_1k to
 * the last minute's CPU seconds per 1,000 tokens up to that sample.  The
 * tokens are C_GEN_TOKENS (counted when a request finishes) at both ends,
 * since stats_done cannot read the scheduler's count. */
static void cpu_sample(stats *st, double *per_1k) {
    pthread_mutex_lock(&st->cpu_mu);
    cpuwin_sample now = {engine_now_ns(), cpu_seconds(NULL), cget(st, C_GEN_TOKENS)};
    if (per_1k) *per_1k = cpuwin_per_1k(&st->cpu, &now);
    cpuwin_add(&st->cpu, &now);
    pthread_mutex_unlock(&st->cpu_mu);
}

int stats_new(stats **out) {
    *out = NULL;
    stats *st = calloc(1, sizeof *st);
    if (!st) return -ENOMEM;
    pthread_mutex_init(&st->ring_mu, NULL);
    pthread_mutex_init(&st->win_mu, NULL);
    pthread_mutex_init(&st->cpu_mu, NULL);
    cpuwin_init(&st->cpu);
    st->ring = calloc(RING_ROWS, sizeof *st->ring);
    int ok = st->ring != NULL;
    for (int i = 0; i < STATS_NHIST; i++)
        if (!(st->h[i] = hist_new())) ok = 0;
    for (int k = 0; k < WIN_SLOTS; k++) {
        st->win_epoch[k] = -1;
        for (int i = 0; i < WIN_HISTS; i++)
            if (!(st->win[k][i] = hist_new())) ok = 0;
    }
    if (!ok) {
        stats_free(st);
        return -ENOMEM;
    }
    st->t0_ns = engine_now_ns();
    st->start_time = time(NULL);
    cpu_sample(st, NULL);         /* a young mount's window starts here */
    *out = st;
    return 0;
}

int stats_endpoints(stats *st, int n) {
    if (st->ep_h || n <= 0) return st->ep_h || !n ? 0 : -EINVAL;
    st->ep_h = calloc((size_t)n * 2, sizeof *st->ep_h);
    if (!st->ep_h) return -ENOMEM;
    st->n_ep = n;
    for (int i = 0; i < 2 * n; i++)
        if (!(st->ep_h[i] = hist_new())) return -ENOMEM;   /* stats_free frees them */
    return 0;
}

void stats_endpoint_observe(void *ud, int ep, double ttft_ms, double e2e_ms) {
    stats *st = ud;
    if (ep < 0 || ep >= st->n_ep) return;
    if (ttft_ms >= 0) hist_record(st->ep_h[2 * ep], (uint64_t)(ttft_ms * 1e3));
    if (e2e_ms >= 0) hist_record(st->ep_h[2 * ep + 1], (uint64_t)(e2e_ms * 1e3));
}

void stats_free(stats *st) {
    if (!st) return;
    for (int i = 0; st->ep_h && i < 2 * st->n_ep; i++) hist_free(st->ep_h[i]);
    free(st->ep_h);
    for (int i = 0; i < STATS_NHIST; i++) hist_free(st->h[i]);
    for (int k = 0; k < WIN_SLOTS; k++)
        for (int i = 0; i < WIN_HISTS; i++) hist_free(st->win[k][i]);
    pthread_mutex_destroy(&st->ring_mu);
    pthread_mutex_destroy(&st->win_mu);
    pthread_mutex_destroy(&st->cpu_mu);
    free(st->ring);
    free(st);
}

void stats_row_init(stats_row *row, const char *name, const char *state) {
    memset(row, 0, sizeof *row);
    snprintf(row->name, sizeof row->name, "%s", name ? name : "");
    row->state = state;
    row->prompt_tokens = row->cached_tokens = row->generated_tokens = -1;
    row->queue_ms = row->ttft_ms = row->e2e_ms = -1;
    row->cache = "";
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    row->meta.submit_time = ts.tv_sec + ts.tv_nsec / 1e9;
    row->meta.temperature = -1;
    row->finish = "";
}

static const char *finish_name(int finish) {
    switch (finish) {
    case FINISH_EOS: return "eos";
    case FINISH_LENGTH: return "max_tokens";
    case FINISH_STOP: return "stop";
    case FINISH_CONTEXT: return "context";
    default: return "error";
    }
}

static void ring_add(stats *st, const stats_row *row) {
    pthread_mutex_lock(&st->ring_mu);
    st->ring[st->ring_next] = *row;
    st->ring_next = (st->ring_next + 1) % RING_ROWS;
    if (st->ring_n < RING_ROWS) st->ring_n++;
    pthread_mutex_unlock(&st->ring_mu);
}

void stats_op(stats *st, int64_t ns) {
    cadd(st, C_FUSE_OPS, 1);
    hist_record(st->h[STATS_FUSE_OP], ns > 0 ? (uint64_t)(ns / 1000) : 0);
}

void stats_submitted(stats *st) { cadd(st, C_SUBMITTED, 1); }

/* Records a request latency in its histogram and in the current slot of
 * the last minute's. */
static void record(stats *st, int h, uint64_t us) {
    hist_record(st->h[h], us);
    int64_t epoch = engine_now_ns() / 1000000000 / WIN_SLOT_S;
    int k = (int)(epoch % WIN_SLOTS);
    pthread_mutex_lock(&st->win_mu);
    if (st->win_epoch[k] != epoch) {
        for (int i = 0; i < WIN_HISTS; i++) hist_init(st->win[k][i]);
        st->win_epoch[k] = epoch;
    }
    hist_record(st->win[k][h], us);
    pthread_mutex_unlock(&st->win_mu);
}

/* The last minute's values of request histogram h. */
static void window_snapshot(stats *st, int h, hist_snap *out, hist_snap *tmp) {
    int64_t epoch = engine_now_ns() / 1000000000 / WIN_SLOT_S;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&st->win_mu);
    for (int k = 0; k < WIN_SLOTS; k++)
        if (st->win_epoch[k] > epoch - WIN_SLOTS) {
            hist_snapshot(st->win[k][h], tmp);
            hist_snap_add(out, tmp);
        }
    pthread_mutex_unlock(&st->win_mu);
}

static uint64_t span_us(int64_t a, int64_t b) {
    return b > a ? (uint64_t)((b - a) / 1000) : 0;
}

void stats_done(stats *st, const char *name, const stats_meta *meta, const cache_result *res) {
    const sched_result *r = &res->r;
    /* tokens this request made the engine generate */
    int engine = res->source == CACHE_MISS || res->source == CACHE_BYPASS;
    stats_row row;
    int ok = r->finish != FINISH_ERROR && !r->error;
    stats_row_init(&row, name, ok ? "done" : "error");
    if (meta) row.meta = *meta;
    row.finish = ok ? finish_name(r->finish) : "error";
    row.prompt_tokens = r->prompt_tokens;
    row.cached_tokens = r->cached_tokens;
    row.generated_tokens = r->generated_tokens;
    row.cache = cache_source_name(res->source);
    if (r->t_start_ns) {
        record(st, STATS_QUEUE, span_us(r->t_submit_ns, r->t_start_ns));
        row.queue_ms = (r->t_start_ns - r->t_submit_ns) / 1e6;
    }
    if (r->generated_tokens > 0 && r->t_first_ns) {
        record(st, STATS_TTFT, span_us(r->t_submit_ns, r->t_first_ns));
        row.ttft_ms = (r->t_first_ns - r->t_submit_ns) / 1e6;
    }
    if (engine && r->generated_tokens > 1 && r->t_first_ns && r->t_done_ns > r->t_first_ns)
        record(st, STATS_TPOT,
                    span_us(r->t_first_ns, r->t_done_ns) / (uint64_t)(r->generated_tokens - 1));
    if (r->t_done_ns) {
        record(st, STATS_E2E, span_us(r->t_submit_ns, r->t_done_ns));
        row.e2e_ms = (r->t_done_ns - r->t_submit_ns) / 1e6;
    }
    if (!ok) snprintf(row.error, sizeof row.error, "%s",
                      r->reason ? r->reason : r->error ? strerror(-r->error) : "generation failed");
    cadd(st, ok ? C_SUCCESS : C_FAILED, 1);
    cadd(st, C_PROMPT_TOKENS, (uint64_t)(r->prompt_tokens > 0 ? r->prompt_tokens : 0));
    if (engine)
        cadd(st, C_GEN_TOKENS, (uint64_t)(r->generated_tokens > 0 ? r->generated_tokens : 0));
    ring_add(st, &row);
    cpu_sample(st, NULL);
}

void stats_cancelled(stats *st, const stats_row *row) {
    cadd(st, C_CANCELLED, 1);
    ring_add(st, row);
}

void stats_rejected(stats *st, const char *name, int err, const char *reason) {
    stats_row row;
    stats_row_init(&row, name, "rejected");
    snprintf(row.error, sizeof row.error, "%s", reason ? reason : strerror(-err));
    cadd(st, err == -EINVAL ? C_REJ_INVALID : err == -EFBIG ? C_REJ_TOO_LARGE
             : err == -EBUSY ? C_REJ_BUSY : C_REJ_OTHER, 1);
    ring_add(st, &row);
    log_msg(LOG_NOTICE, "prompts/%s refused: %s", name, row.error);
}

/* ------------------------------------------------------------ rendering */

/* The figures of one render, copied first. */
typedef struct {
    uint64_t c[C_N];
    sched_stats ss;
    rcache_stats cs;
    int have_sched, have_cache;
    double uptime_s, tok_s;
    uint64_t gen_tokens;         /* generated so far (the scheduler's, else ours) */
    double cpu_s;                /* the daemon's user + system CPU time */
    double cpu_per_1k_60s;       /* CPU seconds per 1,000 tokens, last minute (cpuwin.h) */
    time_t start_time;           /* when the daemon started (stats_new) */
    long rss_kb;                 /* and its peak resident set */
    long rss_now_kb;             /* its resident set now */
} snap;

static void take_snap(stats *st, const stats_env *env, snap *s) {
    memset(s, 0, sizeof *s);
    for (int i = 0; i < C_N; i++) s->c[i] = cget(st, i);
    if (env && env->s) {
        sched_get_stats(env->s, &s->ss);
        s->have_sched = 1;
    }
    if (env && env->c) {
        rcache_get_stats(env->c, &s->cs);
        s->have_cache = 1;
    }
    int64_t now = engine_now_ns();
    s->uptime_s = (now - st->t0_ns) / 1e9;
    s->start_time = st->start_time;
    s->cpu_s = cpu_seconds(&s->rss_kb);
    cpu_sample(st, &s->cpu_per_1k_60s);
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &res) == 2) s->rss_now_kb = res * (sysconf(_SC_PAGESIZE) / 1024);
        fclose(f);
    }
    s->tok_s = s->have_sched ? s->ss.tokens_per_s : 0;
    s->gen_tokens = s->have_sched ? s->ss.generated_tokens : s->c[C_GEN_TOKENS];
}

static uint64_t rejected(const snap *s) {
    return s->c[C_REJ_INVALID] + s->c[C_REJ_TOO_LARGE] + s->c[C_REJ_BUSY] + s->c[C_REJ_OTHER];
}

static void render_metrics(sbuf *b, const snap *s) {
    const sched_stats *ss = &s->ss;
    sb_printf(b, "requests_submitted %llu\n", (unsigned long long)s->c[C_SUBMITTED]);
    sb_printf(b, "requests_finished %llu\n", (unsigned long long)s->c[C_SUCCESS]);
    sb_printf(b, "requests_failed %llu\n", (unsigned long long)s->c[C_FAILED]);
    sb_printf(b, "requests_cancelled %llu\n", (unsigned long long)s->c[C_CANCELLED]);
    sb_printf(b, "requests_rejected %llu\n", (unsigned long long)rejected(s));
    sb_printf(b, "requests_rejected_invalid %llu\n", (unsigned long long)s->c[C_REJ_INVALID]);
    sb_printf(b, "requests_rejected_too_large %llu\n",
              (unsigned long long)s->c[C_REJ_TOO_LARGE]);
    sb_printf(b, "requests_rejected_busy %llu\n", (unsigned long long)s->c[C_REJ_BUSY]);
    sb_printf(b, "requests_running %d\n", ss->running);
    sb_printf(b, "requests_waiting %d\n", ss->waiting);
    sb_printf(b, "concurrency_limit %d\n", ss->limit);
    sb_printf(b, "prompt_tokens %llu\n", (unsigned long long)(s->have_sched ? ss->prompt_tokens
                                                                 : s->c[C_PROMPT_TOKENS]));
    sb_printf(b, "generated_tokens %llu\n",
              (unsigned long long)s->gen_tokens);
    sb_printf(b, "prefix_cached_tokens %llu\n", (unsigned long long)ss->prefix_hits);
    sb_printf(b, "engine_steps %llu\n", (unsigned long long)ss->steps);
    sb_printf(b, "preemptions %llu\n", (unsigned long long)ss->preemptions);
    sb_printf(b, "batch_tokens %llu\n", (unsigned long long)ss->batch_tokens);
    sb_printf(b, "tokens_per_s %.2f\n", s->tok_s);
    sb_printf(b, "fuse_ops %llu\n", (unsigned long long)s->c[C_FUSE_OPS]);
    sb_printf(b, "uptime_s %.3f\n", s->uptime_s);
    sb_printf(b, "cpu_s %.3f\n", s->cpu_s);
    sb_printf(b, "max_rss_kb %ld\n", s->rss_kb);
    sb_printf(b, "rss_kb %ld\n", s->rss_now_kb);
    sb_printf(b, "cpu_s_per_1k_tokens %.4f\n",
              s->gen_tokens ? s->cpu_s / (double)s->gen_tokens * 1000 : 0.0);
    sb_printf(b, "cpu_s_per_1k_tokens_60s %.4f\n", s->cpu_per_1k_60s);
}

static void render_latency(sbuf *b, hist_snap *hs) {
    static const double pct[] = {50, 90, 95, 99, 99.9};
    static const char *pname[] = {"p50", "p90", "p95", "p99", "p99.9"};
    sb_printf(b, "# one section per histogram; times in milliseconds, since the mount;\n"
                 "# STAT_60s lines: the same over the last minute (requests only);\n"
                 "# bucket lines: NAME bucket LOW_MS HIGH_MS COUNT (non-empty buckets)\n");
    for (int i = 0; i < STATS_NHIST; i++) {
        const hist_snap *s = &hs[i];
        const char *n = hist_info[i].name;
        sb_printf(b, "%s# %s\n", i ? "\n" : "", hist_info[i].help);
        sb_printf(b, "%s count %llu\n", n, (unsigned long long)s->count);
        sb_printf(b, "%s mean %.3f\n", n, hist_snap_mean(s) / 1e3);
        for (size_t k = 0; k < sizeof pct / sizeof pct[0]; k++)
            sb_printf(b, "%s %s %.3f\n", n, pname[k], hist_snap_percentile(s, pct[k]) / 1e3);
        sb_printf(b, "%s max %.3f\n", n, (s->count ? s->max : 0) / 1e3);
        if (i < WIN_HISTS) {
            const hist_snap *w = &hs[STATS_NHIST + i];
            sb_printf(b, "%s count_60s %llu\n", n, (unsigned long long)w->count);
            for (size_t k = 0; k < sizeof pct / sizeof pct[0]; k++)
                sb_printf(b, "%s %s_60s %.3f\n", n, pname[k],
                          hist_snap_percentile(w, pct[k]) / 1e3);
            sb_printf(b, "%s max_60s %.3f\n", n, (w->count ? w->max : 0) / 1e3);
        }
        hist_iter it = {0};
        while (hist_iter_next(s, &it))
            sb_printf(b, "%s bucket %.3f %.3f %llu\n", n, it.lo / 1e3, it.hi / 1e3,
                      (unsigned long long)it.count);
    }
}

static double ratio(uint64_t a, uint64_t b) { return b ? (double)a / (double)b : 0.0; }
static double fratio(double a, double b) { return b > 0 ? a / b : 0.0; }

/* A policy's state and how its decisions turned out: of the objects it
 * kept (promoted to its main area) and that left, the share used again
 * there; of those it evicted, the share that came back while remembered;
 * since the start and over recent decisions (the policy's decayed counts). */
static void render_policy(sbuf *b, const char *pre, const char *unit, const policy_stats *p) {
    sb_printf(b, "%spolicy %s\n", pre, p->name ? p->name : "");
    sb_printf(b, "%spolicy_probation_%s %zu\n", pre, unit, p->probation_bytes);
    sb_printf(b, "%spolicy_main_%s %zu\n", pre, unit, p->main_bytes);
    sb_printf(b, "%spolicy_ghost_hits %llu\n", pre, (unsigned long long)p->ghost_hits);
    sb_printf(b, "%spolicy_kept %llu\n", pre, (unsigned long long)p->kept);
    sb_printf(b, "%spolicy_kept_used_ratio %.4f\n", pre, ratio(p->kept_used, p->kept));
    sb_printf(b, "%spolicy_evicted %llu\n", pre, (unsigned long long)p->dropped);
    sb_printf(b, "%spolicy_evicted_returned_ratio %.4f\n", pre,
              ratio(p->dropped_returned, p->dropped));
    sb_printf(b, "%spolicy_recent_kept_used_ratio %.4f\n", pre,
              fratio(p->recent_kept_used, p->recent_kept));
    sb_printf(b, "%spolicy_recent_evicted_returned_ratio %.4f\n", pre,
              fratio(p->recent_dropped_returned, p->recent_dropped));
}

/* The response cache's section of stats/cache. */
static void render_response_cache(sbuf *b, const stats_env *env, const rcache_stats *cs) {
    const llmfs_config *cfg = env->cfg;
    sb_printf(b, "# response cache: L1 in memory, L2 on disk (cache.l1_mb, cache.l2_dir, "
                 "cache.l2_mb)\n");
    sb_printf(b, "l1_enabled %s\n", cs->l1_on ? "true" : "false");
    sb_printf(b, "l1_lookups %llu\n", (unsigned long long)cs->l1.lookups);
    sb_printf(b, "l1_hits %llu\n", (unsigned long long)cs->l1.hits);
    sb_printf(b, "l1_hit_ratio %.4f\n", ratio(cs->l1.hits, cs->l1.lookups));
    sb_printf(b, "l1_entries %llu\n", (unsigned long long)cs->l1.entries);
    sb_printf(b, "l1_bytes %llu\n", (unsigned long long)cs->l1.bytes);
    sb_printf(b, "l1_bytes_limit %llu\n", cfg ? (unsigned long long)cfg->cache.l1_mb << 20 : 0ull);
    sb_printf(b, "l1_evictions %llu\n", (unsigned long long)cs->l1.evictions);
    sb_printf(b, "l2_enabled %s\n", cs->l2_on ? "true" : "false");
    sb_printf(b, "l2_lookups %llu\n", (unsigned long long)cs->l2.lookups);
    sb_printf(b, "l2_hits %llu\n", (unsigned long long)cs->l2.hits);
    sb_printf(b, "l2_hit_ratio %.4f\n", ratio(cs->l2.hits, cs->l2.lookups));
    sb_printf(b, "l2_entries %llu\n", (unsigned long long)cs->l2.entries);
    sb_printf(b, "l2_bytes %llu\n", (unsigned long long)cs->l2.bytes);
    sb_printf(b, "l2_bytes_limit %llu\n",
              cs->l2_on && cfg ? (unsigned long long)cfg->cache.l2_mb << 20 : 0ull);
    sb_printf(b, "l2_evictions %llu\n", (unsigned long long)cs->l2.evictions);
    sb_printf(b, "l2_compression_ratio %.3f\n", ratio(cs->l2_raw_bytes, cs->l2.bytes));
    sb_printf(b, "l2_writes %llu\n", (unsigned long long)cs->l2_writes);
    sb_printf(b, "l2_write_errors %llu\n", (unsigned long long)cs->l2_write_errors);
    sb_printf(b, "l2_corrupt_dropped %llu\n", (unsigned long long)cs->l2_corrupt);
    sb_printf(b, "l2_foreign_skipped %llu\n", (unsigned long long)cs->l2_foreign);
    sb_printf(b, "l2_promoted %llu\n", (unsigned long long)cs->l2_promoted);
    sb_printf(b, "l2_not_promoted %llu\n", (unsigned long long)cs->l2_not_promoted);
    sb_printf(b, "prefetched %llu\n", (unsigned long long)cs->prefetched);
    sb_printf(b, "prefetch_hits %llu\n", (unsigned long long)cs->prefetch_hits);
    sb_printf(b, "l2_tier %s\n", cs->l2_redis ? "redis" : cs->l2_on ? "disk" : "none");
    if (cs->l2_redis) {
        sb_printf(b, "l2_redis_up %d\n", cs->l2_redis_up);
        sb_printf(b, "l2_redis_errors %llu\n", (unsigned long long)cs->l2_redis_errors);
        sb_printf(b, "l2_redis_skipped %llu\n", (unsigned long long)cs->l2_skipped);
        sb_printf(b, "l2_forged_dropped %llu\n", (unsigned long long)cs->l2_forged);
    }
    sb_printf(b, "misses %llu\n", (unsigned long long)cs->misses);
    sb_printf(b, "joined %llu\n", (unsigned long long)cs->joined);
    sb_printf(b, "bypassed %llu\n", (unsigned long long)cs->bypass);
    sb_printf(b, "tokens_saved %llu\n", (unsigned long long)cs->tokens_saved);
    sb_printf(b, "generation_ms_saved %.1f\n", cs->ms_saved);
    render_policy(b, "l1_", "bytes", &cs->l1_policy);
}

static void render_cache(sbuf *b, const stats_env *env, const snap *s) {
    const sched_stats *ss = &s->ss;
    if (s->have_cache) {
        render_response_cache(b, env, &s->cs);
        sb_printf(b, "\n");
    }
    sb_printf(b, "# KV prefix cache\n");
    sb_printf(b, "kv_prefix_enabled %s\n",
              env && env->cfg && env->cfg->cache.kv_prefix ? "true" : "false");
    sb_printf(b, "kv_prefix_lookups %llu\n", (unsigned long long)ss->prefix_queries);
    sb_printf(b, "kv_prefix_hits %llu\n", (unsigned long long)ss->prefix_hits);
    sb_printf(b, "kv_prefix_hit_ratio %.4f\n", ratio(ss->prefix_hits, ss->prefix_queries));
    sb_printf(b, "kv_blocks_used %d\n", ss->kv_blocks_used);
    sb_printf(b, "kv_blocks_cached %d\n", ss->kv_blocks_cached);
    sb_printf(b, "kv_blocks_total %d\n", ss->kv_blocks_total);
    sb_printf(b, "kv_block_bytes %zu\n", ss->kv_block_bytes);
    sb_printf(b, "kv_prefix_evictions %llu\n", (unsigned long long)ss->kv_evictions);
    sb_printf(b, "kv_bytes_used %llu\n",
              (unsigned long long)ss->kv_blocks_used * (unsigned long long)ss->kv_block_bytes);
    render_policy(b, "kv_", "blocks", &ss->kv_policy);
}

static void render_engine(sbuf *b, const stats_env *env, const snap *s) {
    const sched_stats *ss = &s->ss;
    const model *m = env ? env->m : NULL;
    sb_printf(b, "version %s\n", LLMFS_VERSION);
    sb_printf(b, "pid %ld\n", (long)getpid());
    sb_printf(b, "start_time %lld\n", (long long)s->start_time);
    if (m) {
        const char *wt = quant_name(m->wtype);
        sb_printf(b, "model %s\n", m->name);
        sb_printf(b, "arch %s\n", m->arch);
        if (env->chat_format) sb_printf(b, "chat_format %s\n", env->chat_format);
        sb_printf(b, "params %llu\n", (unsigned long long)m->n_params);
        sb_printf(b, "weight_type %s\n", wt ? wt : "unknown");
        sb_printf(b, "weight_bytes %llu\n", (unsigned long long)m->weight_bytes);
        sb_printf(b, "dim %d\n", m->c.dim);
        sb_printf(b, "hidden %d\n", m->c.hidden);
        sb_printf(b, "layers %d\n", m->c.n_layers);
        sb_printf(b, "heads %d\n", m->c.n_heads);
        sb_printf(b, "kv_heads %d\n", m->c.n_kv_heads);
        sb_printf(b, "head_dim %d\n", m->c.head_dim);
        sb_printf(b, "vocab %d\n", m->c.vocab);
        sb_printf(b, "model_context %d\n", m->c.ctx);
    }
    if (env) {
        sb_printf(b, "context %d\n", env->ctx);
        sb_printf(b, "threads %d\n", env->threads);
        sb_printf(b, "max_batch_tokens %d\n", env->max_batch_tokens);
        if (env->cfg) sb_printf(b, "max_batch %d\n", env->cfg->scheduler.max_batch);
    }
    sb_printf(b, "batch_now %d\n", ss->running);
    sb_printf(b, "batch_limit %d\n", ss->limit);
    sb_printf(b, "waiting %d\n", ss->waiting);
    sb_printf(b, "kv_blocks_used %d\n", ss->kv_blocks_used);
    sb_printf(b, "kv_blocks_total %d\n", ss->kv_blocks_total);
    sb_printf(b, "kv_bytes_used %llu\n",
              (unsigned long long)ss->kv_blocks_used * (unsigned long long)ss->kv_block_bytes);
    sb_printf(b, "kv_bytes_total %llu\n",
              (unsigned long long)ss->kv_blocks_total * (unsigned long long)ss->kv_block_bytes);
    sb_printf(b, "kv_use_pct %.2f\n",
              ss->kv_blocks_total ? 100.0 * ss->kv_blocks_used / ss->kv_blocks_total : 0.0);
    sb_printf(b, "steps %llu\n", (unsigned long long)ss->steps);
    sb_printf(b, "mean_batch_tokens %.2f\n",
              ss->steps ? (double)ss->batch_tokens / ss->steps : 0.0);
    sb_printf(b, "mean_batch_size %.2f\n", ss->steps ? (double)ss->batch_seqs / ss->steps : 0.0);
    sb_printf(b, "# batch_size_steps LE COUNT: steps that ran at most LE sequences\n");
    uint64_t cum = 0;
    for (int k = 0; k < SCHED_BATCH_BUCKETS - 1; k++) {
        cum += ss->batch_hist[k];
        sb_printf(b, "batch_size_steps %d %llu\n", 1 << k, (unsigned long long)cum);
    }
    sb_printf(b, "batch_size_steps inf %llu\n", (unsigned long long)ss->steps);
    sb_printf(b, "tokens_per_s %.2f\n", s->tok_s);
}

/* One CSV field (RFC 4180: quoted when it holds a comma, quote or newline). */
static void csv_field(sbuf *b, const char *v) {
    if (!strpbrk(v, ",\"\r\n")) { sb_printf(b, "%s", v); return; }
    sb_printf(b, "\"");
    for (const char *p = v; *p; p++) sb_printf(b, *p == '"' ? "\"\"" : "%c", *p);
    sb_printf(b, "\"");
}

static void csv_int(sbuf *b, int v) {
    if (v >= 0) sb_printf(b, ",%d", v);
    else sb_printf(b, ",");
}

static void csv_ms(sbuf *b, double v) {
    if (v >= 0) sb_printf(b, ",%.3f", v);
    else sb_printf(b, ",");
}

static void csv_row(sbuf *b, const stats_row *r) {
    csv_field(b, r->name);
    sb_printf(b, ",%s", r->state ? r->state : "");
    csv_int(b, r->prompt_tokens);
    csv_int(b, r->cached_tokens);
    csv_int(b, r->generated_tokens);
    csv_ms(b, r->queue_ms);
    csv_ms(b, r->ttft_ms);
    csv_ms(b, r->e2e_ms);
    sb_printf(b, ",%s,", r->cache ? r->cache : "");
    csv_field(b, r->error);
    if (r->meta.id) sb_printf(b, ",%llu", (unsigned long long)r->meta.id);
    else sb_printf(b, ",");
    if (r->meta.submit_time >= 0) sb_printf(b, ",%.3f", r->meta.submit_time);
    else sb_printf(b, ",");
    sb_printf(b, ",%s", r->finish ? r->finish : "");
    if (r->meta.temperature >= 0)
        sb_printf(b, ",%g,%llu", r->meta.temperature, (unsigned long long)r->meta.seed);
    else sb_printf(b, ",,");
    sb_printf(b, "\n");
}

static void render_requests(sbuf *b, stats *st, const stats_row *active, size_t n_active) {
    sb_printf(b, "name,state,prompt_tokens,cached_tokens,generated_tokens,queue_ms,ttft_ms,"
                 "e2e_ms,cache,error,id,submit_time,finish,temperature,seed\n");
    pthread_mutex_lock(&st->ring_mu);
    size_t n = st->ring_n, start = (st->ring_next + RING_ROWS - n) % RING_ROWS;
    stats_row *rows = malloc((n ? n : 1) * sizeof *rows);
    if (rows)
        for (size_t i = 0; i < n; i++) rows[i] = st->ring[(start + i) % RING_ROWS];
    pthread_mutex_unlock(&st->ring_mu);
    if (!rows) { b->oom = 1; return; }
    for (size_t i = 0; i < n; i++) csv_row(b, &rows[i]);
    free(rows);
    for (size_t i = 0; i < n_active; i++) csv_row(b, &active[i]);
}

static void prom_head(sbuf *b, const char *name, const char *type, const char *help) {
    sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void prom_counter(sbuf *b, const char *name, const char *help, uint64_t v) {
    prom_head(b, name, "counter", help);
    sb_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

static void prom_counter_f(sbuf *b, const char *name, const char *help, double v) {
    prom_head(b, name, "counter", help);
    sb_printf(b, "%s %.3f\n", name, v);
}

static void prom_gauge(sbuf *b, const char *name, const char *help, double v) {
    prom_head(b, name, "gauge", help);
    sb_printf(b, "%s %.17g\n", name, v);
}

/* One sample per tier of a llmfs_response_cache_* family. */
static void prom_tiers(sbuf *b, const char *name, const char *type, const char *help,
                       uint64_t l1, uint64_t l2) {
    prom_head(b, name, type, help);
    sb_printf(b, "%s{tier=\"l1\"} %llu\n", name, (unsigned long long)l1);
    sb_printf(b, "%s{tier=\"l2\"} %llu\n", name, (unsigned long long)l2);
}

static void render_prom_cache(sbuf *b, const rcache_stats *cs) {
    prom_tiers(b, "llmfs_response_cache_lookups_total", "counter",
               "Response cache lookups, by tier.", cs->l1.lookups, cs->l2.lookups);
    prom_tiers(b, "llmfs_response_cache_hits_total", "counter",
               "Requests served from the response cache, by tier.", cs->l1.hits, cs->l2.hits);
    prom_tiers(b, "llmfs_response_cache_entries", "gauge",
               "Entries in the response cache, by tier.", cs->l1.entries, cs->l2.entries);
    prom_tiers(b, "llmfs_response_cache_bytes", "gauge",
               "Bytes the response cache holds, by tier (L2: on disk, compressed).",
               cs->l1.bytes, cs->l2.bytes);
    prom_tiers(b, "llmfs_response_cache_evictions_total", "counter",
               "Entries evicted to keep the byte bound, by tier.", cs->l1.evictions,
               cs->l2.evictions);
    prom_gauge(b, "llmfs_response_cache_l2_compression_ratio",
               "Payload bytes before compression per byte stored on disk.",
               ratio(cs->l2_raw_bytes, cs->l2.bytes));
    prom_counter(b, "llmfs_response_cache_l2_corrupt_total",
                 "Damaged L2 records found and dropped, never served.", cs->l2_corrupt);
    prom_counter(b, "llmfs_response_cache_l2_foreign_total",
                 "Files without the record magic skipped in the L2 directory.", cs->l2_foreign);
    prom_counter(b, "llmfs_response_cache_l2_write_errors_total",
                 "L2 record writes that failed (ENOSPC, EIO...).", cs->l2_write_errors);
    prom_counter(b, "llmfs_response_cache_l2_promoted_total",
                 "L2 hits moved up to L1 (room in L1, or reuse predicted).", cs->l2_promoted);
    prom_counter(b, "llmfs_response_cache_l2_not_promoted_total",
                 "L2 hits left on disk: L1 full and reuse not predicted.", cs->l2_not_promoted);
    prom_counter(b, "llmfs_response_cache_prefetched_total",
                 "Records moved up from L2 before they were asked for, being due.", cs->prefetched);
    prom_counter(b, "llmfs_response_cache_prefetch_hits_total",
                 "Prefetched records asked for while in L1.", cs->prefetch_hits);
    if (cs->l2_redis) {
        prom_gauge(b, "llmfs_response_cache_l2_redis_up", "1 while the Redis L2 is connected.",
                   cs->l2_redis_up);
        prom_counter(b, "llmfs_response_cache_l2_redis_errors_total",
                     "Redis commands or connections that failed (L1 only meanwhile).",
                     cs->l2_redis_errors);
        prom_counter(b, "llmfs_response_cache_l2_forged_total",
                     "Redis values whose HMAC did not verify, never served.", cs->l2_forged);
    }
    prom_counter(b, "llmfs_response_cache_misses_total",
                 "Requests generated because the cache could not serve them.", cs->misses);
    prom_counter(b, "llmfs_response_cache_joined_total",
                 "Requests that followed an identical request's generation.", cs->joined);
    prom_counter(b, "llmfs_response_cache_tokens_saved_total",
                 "Tokens served without generating them.", cs->tokens_saved);
    prom_head(b, "llmfs_response_cache_generation_seconds_saved_total", "counter",
              "Generation time those tokens took the first time.");
    sb_printf(b, "llmfs_response_cache_generation_seconds_saved_total %.6f\n",
              cs->ms_saved / 1000.0);
}

/* stats/backends: where requests go.  The local engine is one line; each
 * remote endpoint is a block of "endpoint N KEY VALUE" lines. */
static void render_backends(sbuf *b, stats *st, const stats_env *env) {
    if (!env || !env->remote) {
        sb_printf(b, "backend local\n");
        return;
    }
    remote_stats *rs = malloc(sizeof *rs);
    if (!rs) { b->oom = 1; return; }
    hist_snap *hs = malloc(sizeof *hs);
    if (!hs) { free(rs); b->oom = 1; return; }
    remote_get_stats(env->remote, rs);
    sb_printf(b, "backend remote\n");
    sb_printf(b, "endpoints %d\n", rs->n_ep);
    sb_printf(b, "waiting %d\n", rs->waiting);
    sb_printf(b, "retries %llu\n", (unsigned long long)rs->retries);
    sb_printf(b, "failovers %llu\n", (unsigned long long)rs->failovers);
    sb_printf(b, "retry_budget_exhausted %llu\n", (unsigned long long)rs->budget_exhausted);
    sb_printf(b, "requests_failed %llu\n", (unsigned long long)rs->failed);
    sb_printf(b, "# endpoint N KEY VALUE; times in milliseconds, attempts counted per endpoint\n");
    for (int k = 0; k < rs->n_ep; k++) {
        const remote_endpoint_stats *e = &rs->ep[k];
        sb_printf(b, "endpoint %d url %s\n", k, e->url);
        sb_printf(b, "endpoint %d kind %s\n", k, e->kind ? e->kind : "");
        sb_printf(b, "endpoint %d state %s\n", k, e->state ? e->state : "");
        sb_printf(b, "endpoint %d inflight %d\n", k, e->inflight);
        sb_printf(b, "endpoint %d inflight_limit %.2f\n", k, e->limit);
        sb_printf(b, "endpoint %d requests %llu\n", k, (unsigned long long)e->requests);
        sb_printf(b, "endpoint %d ok %llu\n", k, (unsigned long long)e->ok);
        sb_printf(b, "endpoint %d errors %llu\n", k, (unsigned long long)e->errors);
        sb_printf(b, "endpoint %d timeouts %llu\n", k, (unsigned long long)e->timeouts);
        sb_printf(b, "endpoint %d http_errors %llu\n", k, (unsigned long long)e->http_errors);
        sb_printf(b, "endpoint %d cut %llu\n", k, (unsigned long long)e->cut);
        sb_printf(b, "endpoint %d breaker_opened %llu\n", k, (unsigned long long)e->opened);
        sb_printf(b, "endpoint %d breaker_half_opened %llu\n", k, (unsigned long long)e->half_opened);
        sb_printf(b, "endpoint %d breaker_closed %llu\n", k, (unsigned long long)e->closed);
        sb_printf(b, "endpoint %d ttft_mean %.3f\n", k, e->ttft_n ? e->ttft_ms_sum / e->ttft_n : 0.0);
        sb_printf(b, "endpoint %d ttft_max %.3f\n", k, e->ttft_ms_max);
        sb_printf(b, "endpoint %d e2e_mean %.3f\n", k, e->e2e_n ? e->e2e_ms_sum / e->e2e_n : 0.0);
        sb_printf(b, "endpoint %d e2e_max %.3f\n", k, e->e2e_ms_max);
        sb_printf(b, "endpoint %d tpot %.3f\n", k, e->tpot_ms);
        static const double pct[] = {50, 90, 99};
        static const char *const pname[] = {"p50", "p90", "p99"};
        for (int w = 0; k < st->n_ep && w < 2; w++) {
            hist_snapshot(st->ep_h[2 * k + w], hs);
            for (int q = 0; q < 3; q++)
                sb_printf(b, "endpoint %d %s_%s %.3f\n", k, w ? "e2e" : "ttft", pname[q],
                          hist_snap_percentile(hs, pct[q]) / 1e3);
        }
    }
    free(hs);
    free(rs);
}

/* A histogram family with one series per endpoint (label endpoint="URL"),
 * from the endpoints' histograms which (0 TTFT, 1 end to end), on the
 * default boundaries. */
static void prom_endpoint_hist(sbuf *b, stats *st, const char *name, const char *help,
                               const remote_stats *rs, int which) {
    hist_snap *hs = malloc(sizeof *hs);
    if (!hs) { b->oom = 1; return; }
    prom_head(b, name, "histogram", help);
    size_t nle = hist_default_le_count;
    uint64_t cum[64];
    for (int k = 0; k < rs->n_ep && k < st->n_ep; k++) {
        const char *u = rs->ep[k].url;
        hist_snapshot(st->ep_h[2 * k + which], hs);
        size_t n = nle <= 64 && !hist_cumulative_le(hs, hist_default_le, nle, cum) ? nle : 0;
        for (size_t i = 0; i < n; i++)
            sb_printf(b, "%s_bucket{endpoint=\"%s\",le=\"%g\"} %llu\n", name, u,
                      hist_default_le[i], (unsigned long long)cum[i]);
        sb_printf(b, "%s_bucket{endpoint=\"%s\",le=\"+Inf\"} %llu\n", name, u,
                  (unsigned long long)hs->count);
        sb_printf(b, "%s_sum{endpoint=\"%s\"} %.9g\n", name, u, hs->sum / 1e6);
        sb_printf(b, "%s_count{endpoint=\"%s\"} %llu\n", name, u, (unsigned long long)hs->count);
    }
    free(hs);
}

/* The remote endpoints' families of stats/prometheus, labelled by URL. */
static void render_prom_remote(sbuf *b, stats *st, const stats_env *env) {
    remote_stats *rs = malloc(sizeof *rs);
    if (!rs) { b->oom = 1; return; }
    remote_get_stats(env->remote, rs);
    static const struct { const char *name, *type, *help; size_t off; } fam[] = {
        {"llmfs_backend_requests_total", "counter", "Attempts sent to the endpoint.",
         offsetof(remote_endpoint_stats, requests)},
        {"llmfs_backend_success_total", "counter", "Attempts the endpoint answered whole.",
         offsetof(remote_endpoint_stats, ok)},
        {"llmfs_backend_errors_total", "counter", "Attempts that failed, any reason.",
         offsetof(remote_endpoint_stats, errors)},
        {"llmfs_backend_timeouts_total", "counter", "Attempts the endpoint left silent too long.",
         offsetof(remote_endpoint_stats, timeouts)},
        {"llmfs_backend_cut_total", "counter",
         "Answers cut after text had been handed on (EIO to the reader).",
         offsetof(remote_endpoint_stats, cut)},
        {"llmfs_backend_breaker_opened_total", "counter", "Times the circuit breaker opened.",
         offsetof(remote_endpoint_stats, opened)},
        {"llmfs_backend_breaker_half_opened_total", "counter",
         "Times the circuit breaker let a probe through.",
         offsetof(remote_endpoint_stats, half_opened)},
        {"llmfs_backend_breaker_closed_total", "counter",
         "Times the circuit breaker closed after a probe.",
         offsetof(remote_endpoint_stats, closed)},
    };
    for (size_t f = 0; f < sizeof fam / sizeof fam[0]; f++) {
        prom_head(b, fam[f].name, fam[f].type, fam[f].help);
        for (int k = 0; k < rs->n_ep; k++)
            sb_printf(b, "%s{endpoint=\"%s\"} %llu\n", fam[f].name, rs->ep[k].url,
                      (unsigned long long)*(const uint64_t *)((const char *)&rs->ep[k] + fam[f].off));
    }
    prom_head(b, "llmfs_backend_up", "gauge",
              "1 while the endpoint's circuit breaker is closed or half-open, 0 while open.");
    for (int k = 0; k < rs->n_ep; k++)
        sb_printf(b, "llmfs_backend_up{endpoint=\"%s\"} %d\n", rs->ep[k].url,
                  strcmp(rs->ep[k].state, "open") != 0);
    prom_head(b, "llmfs_backend_inflight", "gauge", "Requests streaming from the endpoint now.");
    for (int k = 0; k < rs->n_ep; k++)
        sb_printf(b, "llmfs_backend_inflight{endpoint=\"%s\"} %d\n", rs->ep[k].url,
                  rs->ep[k].inflight);
    prom_endpoint_hist(b, st, "llmfs_backend_ttft_seconds",
                       "Request sent to first text, per endpoint.", rs, 0);
    prom_endpoint_hist(b, st, "llmfs_backend_e2e_seconds",
                       "Request sent to the whole answer, per endpoint.", rs, 1);
    prom_counter(b, "llmfs_backend_retries_total", "Attempts after a request's first.",
                 rs->retries);
    prom_counter(b, "llmfs_backend_failovers_total",
                 "Requests sent elsewhere than their prefix's endpoint.", rs->failovers);
    free(rs);
}

static void render_prometheus(sbuf *b, stats *st, const stats_env *env, const snap *s,
                              hist_snap *hs) {
    const sched_stats *ss = &s->ss;
    size_t nle = hist_default_le_count;
    uint64_t cum[64];
    for (int i = 0; i < STATS_NHIST; i++) {
        const char *n = hist_info[i].prom;
        prom_head(b, n, "histogram", hist_info[i].help);
        if (nle > 64 || hist_cumulative_le(&hs[i], hist_default_le, nle, cum)) nle = 0;
        for (size_t k = 0; k < nle; k++)
            sb_printf(b, "%s_bucket{le=\"%g\"} %llu\n", n, hist_default_le[k],
                      (unsigned long long)cum[k]);
        sb_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", n, (unsigned long long)hs[i].count);
        sb_printf(b, "%s_sum %.9g\n", n, hs[i].sum / 1e6);
        sb_printf(b, "%s_count %llu\n", n, (unsigned long long)hs[i].count);
    }
    prom_gauge(b, "llmfs_num_requests_running", "Requests generating now.", ss->running);
    prom_gauge(b, "llmfs_num_requests_waiting", "Requests waiting in the queue.", ss->waiting);
    prom_gauge(b, "llmfs_concurrency_limit", "The scheduler's adaptive concurrency limit.",
               ss->limit);
    prom_gauge(b, "llmfs_kv_cache_usage_ratio", "Fraction of KV cache blocks in use.",
               ss->kv_blocks_total ? (double)ss->kv_blocks_used / ss->kv_blocks_total : 0.0);
    prom_gauge(b, "llmfs_generation_tokens_per_second",
               "Generated tokens per second over the last seconds.", s->tok_s);
    prom_counter(b, "llmfs_prompt_tokens_total", "Prompt tokens accepted (BOS included).",
                 s->have_sched ? ss->prompt_tokens : s->c[C_PROMPT_TOKENS]);
    prom_counter(b, "llmfs_generation_tokens_total", "Tokens generated.",
                 s->gen_tokens);
    prom_counter(b, "llmfs_request_submitted_total", "Requests accepted by the scheduler.",
                 s->c[C_SUBMITTED]);
    prom_counter(b, "llmfs_request_success_total", "Requests that finished generating.",
                 s->c[C_SUCCESS]);
    prom_counter(b, "llmfs_request_failure_total", "Requests that failed while generating.",
                 s->c[C_FAILED]);
    prom_counter(b, "llmfs_request_cancelled_total",
                 "Requests cancelled by rewriting or removing their prompt.",
                 s->c[C_CANCELLED]);
    prom_head(b, "llmfs_request_rejected_total", "counter",
              "Prompts refused, by reason.");
    sb_printf(b, "llmfs_request_rejected_total{reason=\"invalid\"} %llu\n",
              (unsigned long long)s->c[C_REJ_INVALID]);
    sb_printf(b, "llmfs_request_rejected_total{reason=\"too_large\"} %llu\n",
              (unsigned long long)s->c[C_REJ_TOO_LARGE]);
    sb_printf(b, "llmfs_request_rejected_total{reason=\"busy\"} %llu\n",
              (unsigned long long)s->c[C_REJ_BUSY]);
    sb_printf(b, "llmfs_request_rejected_total{reason=\"other\"} %llu\n",
              (unsigned long long)s->c[C_REJ_OTHER]);
    prom_counter(b, "llmfs_prefix_cache_queries_total",
                 "Prompt tokens looked up in the KV prefix cache.", ss->prefix_queries);
    prom_counter(b, "llmfs_prefix_cache_hits_total",
                 "Prompt tokens found in the KV prefix cache.", ss->prefix_hits);
    prom_head(b, "llmfs_batch_size", "histogram", "Sequences per engine step.");
    uint64_t bcum = 0;
    for (int k = 0; k < SCHED_BATCH_BUCKETS - 1; k++) {
        bcum += ss->batch_hist[k];
        sb_printf(b, "llmfs_batch_size_bucket{le=\"%d\"} %llu\n", 1 << k, (unsigned long long)bcum);
    }
    sb_printf(b, "llmfs_batch_size_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)ss->steps);
    sb_printf(b, "llmfs_batch_size_sum %llu\n", (unsigned long long)ss->batch_seqs);
    sb_printf(b, "llmfs_batch_size_count %llu\n", (unsigned long long)ss->steps);
    prom_gauge(b, "llmfs_kv_cache_blocks_used", "KV cache blocks referenced by sequences.",
               ss->kv_blocks_used);
    prom_gauge(b, "llmfs_kv_cache_blocks", "KV cache blocks in all.", ss->kv_blocks_total);
    prom_gauge(b, "llmfs_kv_cache_blocks_cached",
               "Unreferenced KV blocks kept for prefix reuse.", ss->kv_blocks_cached);
    prom_counter(b, "llmfs_prefix_cache_evictions_total",
                 "Cached KV blocks reclaimed for new ones.", ss->kv_evictions);
    prom_counter(b, "llmfs_engine_steps_total", "Engine iterations (forward passes).",
                 ss->steps);
    prom_counter(b, "llmfs_num_preemptions_total",
                 "Sequences that gave their KV cache back and recomputed it later.",
                 ss->preemptions);
    if (s->have_cache) render_prom_cache(b, &s->cs);
    if (env && env->remote) render_prom_remote(b, st, env);
    prom_counter(b, "llmfs_fuse_ops_total", "FUSE operations served.", s->c[C_FUSE_OPS]);
    if (env && env->m) {
        prom_head(b, "llmfs_model_info", "gauge", "The loaded model.");
        sb_printf(b, "llmfs_model_info{name=\"");
        for (const char *p = env->m->name; *p; p++) {
            if (*p == '"' || *p == '\\') sb_printf(b, "\\%c", *p);
            else if (*p == '\n') sb_printf(b, "\\n");
            else sb_printf(b, "%c", *p);
        }
        sb_printf(b, "\",arch=\"%s\"} 1\n", env->m->arch);
    }
    prom_gauge(b, "llmfs_uptime_seconds", "Seconds since the mount.", s->uptime_s);
    prom_head(b, "llmfs_build_info", "gauge", "The llmfs version.");
    sb_printf(b, "llmfs_build_info{version=\"%s\"} 1\n", LLMFS_VERSION);
    prom_counter_f(b, "process_cpu_seconds_total", "User and system CPU time of the daemon.",
                   s->cpu_s);
    prom_gauge(b, "process_resident_memory_bytes", "Resident memory of the daemon.",
               (double)s->rss_now_kb * 1024);
    prom_gauge(b, "llmfs_cpu_seconds_per_1k_tokens",
               "The daemon's CPU seconds per 1,000 generated tokens since the mount.",
               s->gen_tokens ? s->cpu_s / (double)s->gen_tokens * 1000 : 0.0);
    prom_gauge(b, "llmfs_cpu_seconds_per_1k_tokens_60s",
               "The daemon's CPU seconds per 1,000 generated tokens over the last minute.",
               s->cpu_per_1k_60s);
    prom_gauge(b, "process_start_time_seconds", "Start of the daemon, in seconds since the epoch.",
               (double)s->start_time);
}

int stats_render(stats *st, int file, const stats_env *env, const stats_row *active,
                 size_t n_active, char **out, size_t *len) {
    *out = NULL;
    *len = 0;
    sbuf b = {0};
    snap s;
    hist_snap *hs = NULL;
    if (file == STATS_LATENCY || file == STATS_PROMETHEUS) {
        /* lifetime snapshots, then the last minute's, then a scratch one */
        hs = malloc((STATS_NHIST + WIN_HISTS + 1) * sizeof *hs);
        if (!hs) return -ENOMEM;
        for (int i = 0; i < STATS_NHIST; i++) hist_snapshot(st->h[i], &hs[i]);
        for (int i = 0; i < WIN_HISTS; i++)
            window_snapshot(st, i, &hs[STATS_NHIST + i], &hs[STATS_NHIST + WIN_HISTS]);
    }
    take_snap(st, env, &s);
    switch (file) {
    case STATS_METRICS: render_metrics(&b, &s); break;
    case STATS_LATENCY: render_latency(&b, hs); break;
    case STATS_CACHE: render_cache(&b, env, &s); break;
    case STATS_ENGINE: render_engine(&b, env, &s); break;
    case STATS_REQUESTS: render_requests(&b, st, active, n_active); break;
    case STATS_PROMETHEUS: render_prometheus(&b, st, env, &s, hs); break;
    case STATS_BACKENDS: render_backends(&b, st, env); break;
    default: free(hs); return -EINVAL;
    }
    free(hs);
    sb_put(&b, "", 0);        /* an empty file is still a string */
    if (b.oom || !b.p) { free(b.p); return -ENOMEM; }
    *out = b.p;
    *len = b.len;
    return 0;
}
