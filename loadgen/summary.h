/* The figures of a set of llmfs-bench requests (a stage, or the whole
 * run): counts, rates, the distributions of TTFT, e2e, TPOT and ITL, and
 * where the time went; as `name value` lines and as JSON. */
#ifndef LLMFS_LG_SUMMARY_H
#define LLMFS_LG_SUMMARY_H
#include "loadgen/client.h"

#include <stdio.h>

enum { LG_TTFT, LG_E2E, LG_TPOT, LG_ITL, LG_DISTS };
enum { LG_P50, LG_P90, LG_P95, LG_P99, LG_P999, LG_MEAN, LG_MAX, LG_STATS };
extern const char *const lg_dist_names[LG_DISTS];    /* "ttft_ms", ... */
extern const char *const lg_stat_names[LG_STATS];    /* "p50", ... */
extern const char *const lg_part_names[LG_PARTS];    /* "submit", "queue", ... */

typedef struct {
    int n, ok, errors;
    double duration_s, arrival_rate, req_s, tok_s, error_rate, cache_hit_ratio;
    long long tokens;
    double d[LG_DISTS][LG_STATS];
    int dn[LG_DISTS];
    double part[LG_PARTS];   /* mean ms of each part of the latency */
    int n_parts;             /* requests with every part known */
    int top;                 /* the biggest part, -1 when none */
} lg_set;

/* Nearest-rank percentile p (0..100) of sorted v[n]; NaN when n = 0. */
double lg_pct(const double *v, int n, double p);
int    lg_cmp_double(const void *a, const void *b);

/* The figures of r[0..n) whose stage is `stage` (< 0: every stage, the
 * warm-up left out), over duration_s seconds.  0, or -1 on ENOMEM. */
int lg_set_of(const lg_result *r, int n, int stage, double duration_s, lg_set *o);

/* The configuration knob that moves part k. */
const char *lg_part_knob(int k);

/* `PREFIXname value` lines. */
void lg_set_print(FILE *f, const char *prefix, const lg_set *s);
/* One JSON object. */
void lg_set_json(FILE *f, const lg_set *s);
/* A number, or null when it is not finite. */
void lg_json_num(FILE *f, double v);

#endif
