/* What a llmfs-bench run looks like over time: arrivals, completions,
 * tokens and latencies in bins of a second or more, and the daemon's CPU
 * and resident memory sampled once a second from stats/metrics by a
 * monitor thread, which also writes the progress line to stderr. */
#ifndef LLMFS_LG_MONITOR_H
#define LLMFS_LG_MONITOR_H
#include "loadgen/client.h"

#include <pthread.h>

/* The daemon's own counters, from stats/metrics. */
typedef struct {
    int ok;
    double cpu_s, rss_kb, max_rss_kb, gen;
} lg_daemon;
lg_daemon lg_daemon_read(const char *mount);

typedef struct {
    double bin_s;            /* width of a bin */
    int n;                   /* bins */
    double t0_ms;            /* the bench clock at bin 0's start */
    double *arrivals, *done, *errors, *tokens;   /* per bin */
    double *cpu_pct, *rss_mb;                    /* per bin; NaN when not sampled */
    double **lat;            /* per bin: e2e of the requests that ended in it */
    int *n_lat, *cap_lat;
    double **ttft;           /* per bin: TTFT of the requests that ended in it */
    int last;                /* the last bin with anything in it */
    double end_s;            /* when the monitor stopped, from t0; 0 running */
    double *marks;           /* stage starts, in seconds from t0 */
    int n_marks;

    /* the monitor thread */
    const lg_client *client;
    pthread_t th;
    int running, stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int progress;            /* write the progress line */
    int tty;                 /* stderr is a terminal: rewrite one line */
    char stage[64];          /* what the progress line names */
    char printed_stage[64];  /* ... when it was last printed (not a tty) */
    double printed_ms;
    double *all_e2e;         /* every e2e so far, for the running p95 */
    int n_all, cap_all, n_err;
    double peak_rss_kb;
} lg_monitor;

/* Bins of bin_s seconds covering duration_s (later times go in the last
 * bin), from the bench clock's t0_ms.  0, or -1 on ENOMEM. */
int  lg_monitor_init(lg_monitor *m, const lg_client *c, double t0_ms, double duration_s,
                     double bin_s);
void lg_monitor_free(lg_monitor *m);
/* Starts / stops the once-a-second sampling (and progress line). */
int  lg_monitor_start(lg_monitor *m, int progress);
void lg_monitor_stop(lg_monitor *m);
/* A stage begins now: its label for the progress line, and a mark. */
void lg_monitor_stage(lg_monitor *m, const char *label);
/* A request arrived (at its scheduled time) / ended. */
void lg_monitor_arrival(lg_monitor *m, double t_ms);
void lg_monitor_done(lg_monitor *m, const lg_result *r);
/* The seconds bin i covers: bin_s, less for the one the run ended in. */
double lg_monitor_width(const lg_monitor *m, int i);
/* The p95 (nearest rank) of the e2e values of bin i, NaN when none. */
double lg_monitor_p95(lg_monitor *m, int i, int ttft);

#endif
