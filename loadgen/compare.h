/* llmfs-bench compare: two runs' per-request CSVs, per stage and metric
 * (TTFT, e2e, TPOT), compared with statistics that do not assume a
 * distribution: medians and p95, a seeded bootstrap 95% interval of the
 * relative change of the median, the Mann-Whitney U test, Cliff's delta,
 * and Holm's correction over every comparison made. */
#ifndef LLMFS_LG_COMPARE_H
#define LLMFS_LG_COMPARE_H
#include <stddef.h>
#include <stdint.h>

#define LG_CMP_STAGES 65         /* stage 0: every stage together */
#define LG_CMP_METRICS 3
extern const char *const lg_cmp_metric[LG_CMP_METRICS];   /* ttft_ms, e2e_ms, tpot_ms */

typedef struct {
    double *v;
    int n, cap;
} lg_samples;

typedef lg_samples lg_run[LG_CMP_STAGES][LG_CMP_METRICS];

/* Reads a `llmfs-bench run --csv` file into run (zeroed first): the rows
 * with status ok.  0, or -1 with a message in err. */
int  lg_run_read(const char *path, lg_run run, char *err, size_t errlen);
/* The same from the file's text (NUL-terminated; split in place). */
int  lg_run_parse(char *buf, const char *name, lg_run run, char *err, size_t errlen);
void lg_run_free(lg_run run);

typedef struct {
    int stage, metric;
    double med_a, med_b, p95_a, p95_b;
    double change;           /* med_b / med_a - 1 */
    double ci[2];            /* its bootstrap 95% interval */
    double p, holm;          /* Mann-Whitney two-sided p, and after Holm */
    double delta;            /* Cliff's delta: > 0 when b tends to be larger */
    const char *verdict;     /* "improved", "regressed", "no significant change" */
} lg_cmp_row;

/* Every (stage, metric) with at least two samples on both sides, into
 * rows (room for LG_CMP_STAGES * LG_CMP_METRICS); "regressed" needs a Holm
 * p below 0.01 and a change beyond tol.  Returns the row count, -1 on
 * ENOMEM.  Sorts the samples. */
int lg_compare(lg_run a, lg_run b, double tol, lg_cmp_row *rows);

/* Median of v[n] (sorts it). */
double lg_median(double *v, int n);

#endif
