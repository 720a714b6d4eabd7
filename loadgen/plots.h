/* llmfs-bench's pictures, as SVG files (svg.h) in a directory:
 *   run:     latency-cdf.svg (TTFT and e2e), latency-hist.svg, over-time.svg
 *            (arrival rate and throughput, tokens/s, p95 latency, the
 *            daemon's CPU and its resident memory, with the stage
 *            boundaries marked)
 *   compare: compare-cdf.svg (base against candidate for TTFT, e2e and
 *            TPOT), compare-hist.svg (the two e2e histograms) */
#ifndef LLMFS_LG_PLOTS_H
#define LLMFS_LG_PLOTS_H
#include "loadgen/client.h"
#include "loadgen/compare.h"
#include "loadgen/monitor.h"

/* 0, or -1 with a message in err. */
int lg_plot_run(const char *dir, const char *title, const lg_result *r, int n,
                lg_monitor *m, const char *const *stage_labels, char *err, size_t errlen);
int lg_plot_compare(const char *dir, lg_run base, lg_run cand, char *err, size_t errlen);

#endif
