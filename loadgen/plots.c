/* llmfs-bench's pictures (plots.h), drawn with svg.h. */
#define _GNU_SOURCE
#include "loadgen/plots.h"
#include "loadgen/summary.h"
#include "loadgen/svg.h"
#include "engine/errbuf.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Writes f to DIR/name and frees it. */
static int save(svg_fig *f, const char *dir, const char *name, char *err, size_t errlen) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int rc = svg_fig_write(f, path);
    int e = errno;
    svg_fig_free(f);
    if (rc) return errbuf_set(err, errlen, -1, "%s: %s", path, strerror(e));
    return 0;
}

/* The empirical CDF of sorted v[n], in percent, as a step line. */
static int cdf_line(svg_fig *f, int panel, const char *name, const double *v, int n) {
    if (n <= 0) return 0;
    double *y = malloc(sizeof(double) * (size_t)n);
    if (!y) return -1;
    for (int i = 0; i < n; i++) y[i] = 100.0 * (i + 1) / n;
    int rc = svg_line(f, panel, name, v, y, (size_t)n, 1);
    free(y);
    return rc;
}

/* Histogram bins over [lo, hi]: log-spaced when the values span more than
 * 20x, else even. */
enum { BINS = 40 };
typedef struct { double lo[BINS], hi[BINS]; int log; } bins;

static void bins_for(bins *b, double lo, double hi) {
    if (!(lo > 0) || !(hi > lo)) {
        lo = lo > 0 ? lo * 0.9 : 0;
        hi = hi > lo ? hi : lo + 1;
    }
    b->log = lo > 0 && hi / lo > 20;
    for (int i = 0; i < BINS; i++) {
        if (b->log) {
            double r = log(hi / lo);
            b->lo[i] = lo * exp(r * i / BINS);
            b->hi[i] = lo * exp(r * (i + 1) / BINS);
        } else {
            b->lo[i] = lo + (hi - lo) * i / BINS;
            b->hi[i] = lo + (hi - lo) * (i + 1) / BINS;
        }
    }
    b->hi[BINS - 1] = hi * (1 + 1e-12) + 1e-12;    /* the maximum falls in the last bin */
}

/* Bars of the share (percent) of v[n] in each bin. */
static int hist_bars(svg_fig *f, int panel, const char *name, const bins *b, const double *v, int n) {
    if (n <= 0) return 0;
    double h[BINS] = {0};
    for (int i = 0; i < n; i++)
        for (int k = 0; k < BINS; k++)
            if (v[i] >= b->lo[k] && v[i] < b->hi[k]) { h[k] += 100.0 / n; break; }
    return svg_bars(f, panel, name, b->lo, b->hi, h, BINS);
}

/* The sorted TTFT and e2e of the completed requests of every stage. */
static int latencies(const lg_result *r, int n, double *v[2], int nv[2]) {
    v[0] = malloc(sizeof(double) * (size_t)(n ? n : 1));
    v[1] = malloc(sizeof(double) * (size_t)(n ? n : 1));
    nv[0] = nv[1] = 0;
    if (!v[0] || !v[1]) return -1;
    for (int i = 0; i < n; i++) {
        if (r[i].stage < 0 || !r[i].ok) continue;
        if (r[i].ttft_ms >= 0) v[0][nv[0]++] = r[i].ttft_ms;
        if (r[i].e2e_ms >= 0) v[1][nv[1]++] = r[i].e2e_ms;
    }
    for (int k = 0; k < 2; k++) qsort(v[k], (size_t)nv[k], sizeof(double), lg_cmp_double);
    return 0;
}

static int plot_cdf(const char *dir, const char *title, double *v[2], int nv[2], char *err,
                    size_t errlen) {
    char t[160];
    snprintf(t, sizeof t, "%s: latency CDF", title);
    svg_fig *f = svg_fig_new(t, 1);
    if (!f) return errbuf_set(err, errlen, -1, "out of memory");
    svg_logx(f, 1);
    svg_labels(f, 0, "latency from the scheduled arrival (ms, log scale)", "requests (%)");
    svg_yrange(f, 0, 0, 100);
    if (cdf_line(f, 0, "TTFT", v[0], nv[0]) || cdf_line(f, 0, "e2e", v[1], nv[1])) {
        svg_fig_free(f);
        return errbuf_set(err, errlen, -1, "out of memory");
    }
    return save(f, dir, "latency-cdf.svg", err, errlen);
}

static int plot_hist(const char *dir, const char *title, double *v[2], int nv[2], char *err,
                     size_t errlen) {
    char t[160];
    snprintf(t, sizeof t, "%s: latency histogram", title);
    svg_fig *f = svg_fig_new(t, 2);
    if (!f) return errbuf_set(err, errlen, -1, "out of memory");
    /* one set of bins for both, so that the panels share their x axis */
    double lo = INFINITY, hi = -INFINITY;
    for (int k = 0; k < 2; k++)
        if (nv[k]) {
            lo = fmin(lo, v[k][0]);
            hi = fmax(hi, v[k][nv[k] - 1]);
        }
    bins b;
    bins_for(&b, isfinite(lo) ? lo : 0, isfinite(hi) ? hi : 1);
    svg_logx(f, b.log);
    svg_labels(f, 0, NULL, "TTFT: requests (%)");
    svg_labels(f, 1, b.log ? "latency (ms, log scale)" : "latency (ms)", "e2e: requests (%)");
    if (hist_bars(f, 0, "TTFT", &b, v[0], nv[0]) || hist_bars(f, 1, "e2e", &b, v[1], nv[1])) {
        svg_fig_free(f);
        return errbuf_set(err, errlen, -1, "out of memory");
    }
    return save(f, dir, "latency-hist.svg", err, errlen);
}

static int plot_time(const char *dir, const char *title, lg_monitor *m,
                     const char *const *labels, char *err, size_t errlen) {
    char t[160];
    snprintf(t, sizeof t, "%s: over time", title);
    svg_fig *f = svg_fig_new(t, 5);
    if (!f) return errbuf_set(err, errlen, -1, "out of memory");
    int n = m->last + 1, rc = 0;
    double *x = malloc(sizeof(double) * (size_t)n);
    double *y[8];
    for (int k = 0; k < 8; k++) y[k] = malloc(sizeof(double) * (size_t)n);
    for (int k = 0; k < 8; k++) rc |= !y[k];
    if (!x || rc) {
        free(x);
        for (int k = 0; k < 8; k++) free(y[k]);
        svg_fig_free(f);
        return errbuf_set(err, errlen, -1, "out of memory");
    }
    for (int i = 0; i < n; i++) {
        double w = lg_monitor_width(m, i);
        x[i] = i * m->bin_s + w / 2;
        y[0][i] = m->arrivals[i] / w;
        y[1][i] = m->done[i] / w;
        y[2][i] = m->errors[i] / w;
        y[3][i] = m->tokens[i] / w;
        y[4][i] = lg_monitor_p95(m, i, 1);
        y[5][i] = lg_monitor_p95(m, i, 0);
        y[6][i] = m->cpu_pct[i];
        y[7][i] = m->rss_mb[i];
    }
    char bin[64];
    snprintf(bin, sizeof bin, "per %g s", m->bin_s);
    char yl[5][80];
    snprintf(yl[0], sizeof yl[0], "requests/s (%s)", bin);
    snprintf(yl[1], sizeof yl[1], "tokens/s (%s)", bin);
    snprintf(yl[2], sizeof yl[2], "p95 latency (ms)");
    snprintf(yl[3], sizeof yl[3], "daemon CPU (%% of a core)");
    snprintf(yl[4], sizeof yl[4], "daemon RSS (MiB)");
    for (int p = 0; p < 5; p++) svg_labels(f, p, p == 4 ? "seconds from the start" : NULL, yl[p]);
    rc = svg_line(f, 0, "arrivals", x, y[0], (size_t)n, 0) ||
         svg_line(f, 0, "completed", x, y[1], (size_t)n, 0) ||
         svg_line(f, 0, "errors", x, y[2], (size_t)n, 0) ||
         svg_line(f, 1, "generated tokens", x, y[3], (size_t)n, 0) ||
         svg_line(f, 2, "TTFT p95", x, y[4], (size_t)n, 0) ||
         svg_line(f, 2, "e2e p95", x, y[5], (size_t)n, 0) ||
         svg_line(f, 3, "CPU", x, y[6], (size_t)n, 0) ||
         svg_line(f, 4, "resident memory", x, y[7], (size_t)n, 0);
    for (int k = 0; k < m->n_marks && !rc; k++)
        rc = svg_vmark(f, -1, m->marks[k], labels ? labels[k] : NULL);
    free(x);
    for (int k = 0; k < 8; k++) free(y[k]);
    if (rc) {
        svg_fig_free(f);
        return errbuf_set(err, errlen, -1, "out of memory");
    }
    return save(f, dir, "over-time.svg", err, errlen);
}

int lg_plot_run(const char *dir, const char *title, const lg_result *r, int n, lg_monitor *m,
                const char *const *labels, char *err, size_t errlen) {
    double *v[2];
    int nv[2];
    int rc = latencies(r, n, v, nv) ? errbuf_set(err, errlen, -1, "out of memory") : 0;
    if (!rc) rc = plot_cdf(dir, title, v, nv, err, errlen);
    if (!rc) rc = plot_hist(dir, title, v, nv, err, errlen);
    free(v[0]);
    free(v[1]);
    if (!rc) rc = plot_time(dir, title, m, labels, err, errlen);
    return rc;
}

int lg_plot_compare(const char *dir, lg_run a, lg_run b, char *err, size_t errlen) {
    static const char *const what[LG_CMP_METRICS] = {"TTFT (ms)", "e2e (ms)", "TPOT (ms per token)"};
    svg_fig *f = svg_fig_new("base against candidate: latency CDF (every stage)", LG_CMP_METRICS);
    if (!f) return errbuf_set(err, errlen, -1, "out of memory");
    svg_logx(f, 1);
    int rc = 0;
    for (int k = 0; k < LG_CMP_METRICS && !rc; k++) {
        char yl[64];
        snprintf(yl, sizeof yl, "%s: requests (%%)", what[k]);
        svg_labels(f, k, k == LG_CMP_METRICS - 1 ? "ms (log scale)" : NULL, yl);
        svg_yrange(f, k, 0, 100);
        lg_samples *sa = &a[0][k], *sb = &b[0][k];
        qsort(sa->v, (size_t)sa->n, sizeof(double), lg_cmp_double);
        qsort(sb->v, (size_t)sb->n, sizeof(double), lg_cmp_double);
        rc = cdf_line(f, k, "base", sa->v, sa->n) || cdf_line(f, k, "candidate", sb->v, sb->n);
    }
    if (rc) {
        svg_fig_free(f);
        return errbuf_set(err, errlen, -1, "out of memory");
    }
    if (save(f, dir, "compare-cdf.svg", err, errlen)) return -1;

    /* e2e histograms over one set of bins */
    lg_samples *sa = &a[0][1], *sb = &b[0][1];
    double lo = INFINITY, hi = -INFINITY;
    if (sa->n) lo = fmin(lo, sa->v[0]), hi = fmax(hi, sa->v[sa->n - 1]);
    if (sb->n) lo = fmin(lo, sb->v[0]), hi = fmax(hi, sb->v[sb->n - 1]);
    bins bn;
    bins_for(&bn, isfinite(lo) ? lo : 0, isfinite(hi) ? hi : 1);
    if (!(f = svg_fig_new("base against candidate: e2e latency histogram (every stage)", 1)))
        return errbuf_set(err, errlen, -1, "out of memory");
    svg_logx(f, bn.log);
    svg_labels(f, 0, bn.log ? "e2e latency (ms, log scale)" : "e2e latency (ms)", "requests (%)");
    if (hist_bars(f, 0, "base", &bn, sa->v, sa->n) || hist_bars(f, 0, "candidate", &bn, sb->v, sb->n)) {
        svg_fig_free(f);
        return errbuf_set(err, errlen, -1, "out of memory");
    }
    return save(f, dir, "compare-hist.svg", err, errlen);
}
