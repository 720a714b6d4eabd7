/* CPU seconds per 1,000 generated tokens over the last minute, without a
 * timer: the daemon adds a sample (time, CPU seconds, tokens) whenever
 * something happens, and the ring keeps the first and the last sample of
 * each of the last CPUWIN_PERIODS periods of CPUWIN_PERIOD_S seconds.
 * Samples must be added in time order; the caller locks. */
#ifndef LLMFS_CPUWIN_H
#define LLMFS_CPUWIN_H
#include <stdint.h>

#define CPUWIN_SPAN_S 60                  /* the window's longest span */
#define CPUWIN_PERIOD_S 10
/* the periods a sample at most CPUWIN_SPAN_S old can be in */
#define CPUWIN_PERIODS (CPUWIN_SPAN_S / CPUWIN_PERIOD_S + 1)

typedef struct cpuwin_sample {
    int64_t t_ns;                         /* CLOCK_MONOTONIC */
    double cpu_s;                         /* the process's CPU seconds so far */
    uint64_t tokens;                      /* tokens generated so far */
} cpuwin_sample;

typedef struct cpuwin {
    struct {
        int64_t period;                   /* t_ns / CPUWIN_PERIOD_S seconds; -1: empty */
        cpuwin_sample first, last;        /* the oldest and newest sample in it */
    } slot[CPUWIN_PERIODS];
} cpuwin;

void cpuwin_init(cpuwin *w);
/* Records s, taken no earlier than every sample added before. */
void cpuwin_add(cpuwin *w, const cpuwin_sample *s);
/* CPU seconds per 1,000 tokens from the window's start to now, 0 when no
 * tokens were generated in between.  The start is the oldest kept sample
 * at most CPUWIN_SPAN_S seconds before now.  The oldest sample of that
 * minute is kept, unless it falls in the oldest period after that
 * period's first sample: then the start is that period's last sample,
 * more than CPUWIN_SPAN_S - CPUWIN_PERIOD_S seconds old.  So the window
 * is the last 50 to 60 s, or shorter when the oldest sample of the last
 * minute is younger (the first sample was added less than a minute ago,
 * or nothing was added for a while). */
double cpuwin_per_1k(const cpuwin *w, const cpuwin_sample *now);
#endif
