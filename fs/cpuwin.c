/* This file implements the sample ring of cpuwin.h.  Slot k holds period
 * p with p % CPUWIN_PERIODS == k; a sample of a newer period replaces
 * the older period's pair. */
#include "fs/cpuwin.h"

#include <stddef.h>

#define PERIOD_NS ((int64_t)CPUWIN_PERIOD_S * 1000000000)

void cpuwin_init(cpuwin *w) {
    for (int k = 0; k < CPUWIN_PERIODS; k++) w->slot[k].period = -1;
}

void cpuwin_add(cpuwin *w, const cpuwin_sample *s) {
    if (s->t_ns < 0) return;
    int64_t p = s->t_ns / PERIOD_NS;
    int k = (int)(p % CPUWIN_PERIODS);
    if (w->slot[k].period > p) return;   /* older than its slot's period */
    if (w->slot[k].period < p) {
        w->slot[k].period = p;
        w->slot[k].first = *s;
    }
    w->slot[k].last = *s;
}

double cpuwin_per_1k(const cpuwin *w, const cpuwin_sample *now) {
    const cpuwin_sample *start = NULL;
    int64_t oldest_ns = now->t_ns - (int64_t)CPUWIN_SPAN_S * 1000000000;
    for (int k = 0; k < CPUWIN_PERIODS; k++) {
        if (w->slot[k].period < 0) continue;
        const cpuwin_sample *c[2] = {&w->slot[k].first, &w->slot[k].last};
        for (int i = 0; i < 2; i++)
            if (c[i]->t_ns >= oldest_ns && c[i]->t_ns <= now->t_ns &&
                (!start || c[i]->t_ns < start->t_ns))
                start = c[i];
    }
    if (!start || now->tokens <= start->tokens) return 0.0;
    double cpu = now->cpu_s - start->cpu_s;
    return cpu > 0 ? cpu / (double)(now->tokens - start->tokens) * 1000 : 0.0;
}
