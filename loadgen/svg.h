/* SVG charts for llmfs-bench's plots, written without a browser or a
 * plotting runtime: latency CDFs (base against candidate, on a log x axis),
 * latency histograms, and over-time figures (arrival rate, throughput, p95,
 * daemon CPU) with the stage boundaries marked.  The caller computes the
 * data; this module only draws it.
 *
 *   svg_fig *f = svg_fig_new("e2e latency", 1);
 *   svg_logx(f, 1);
 *   svg_labels(f, 0, "latency (ms)", "fraction of requests");
 *   svg_line(f, 0, "base", ms_base, frac_base, n_base, 1);   // a CDF's steps
 *   svg_line(f, 0, "cand", ms_cand, frac_cand, n_cand, 1);
 *   svg_fig_write(f, "e2e-cdf.svg");
 *   svg_fig_free(f);
 *
 * A figure is n panels stacked vertically, 800 px wide and about 240 px a
 * panel, sharing one x axis (the union of every panel's data and marks;
 * tick labels under the bottom panel).  Each panel has its own y axis and
 * a legend in whichever inside corner covers the least data.  Series take
 * the next colour of the Okabe-Ito palette (colour-blind safe), except that
 * a name already used in the figure keeps its colour, so "base" looks the
 * same in every panel.  Non-finite values are skipped (a NaN breaks a
 * line); every string is XML-escaped, control bytes and invalid UTF-8
 * dropped; the output is well-formed XML and has no NaN or inf in it.
 * Lines of many points are thinned to a few per pixel column, keeping
 * each column's first, last, lowest and highest point, so a 100k-point
 * CDF costs a few thousand points and looks the same. */
#ifndef LLMFS_SVG_H
#define LLMFS_SVG_H
#include <stddef.h>
#include <stdio.h>

typedef struct svg_fig svg_fig;

/* A figure of n_panels (1 to 64) charts; title may be NULL.  NULL with errno
 * set (EINVAL, ENOMEM).  Caller svg_fig_free()s; svg_fig_free(NULL) does
 * nothing. */
svg_fig *svg_fig_new(const char *title, int n_panels);
void svg_fig_free(svg_fig *f);

/* Axis labels of one panel (copied; NULL for none).  The x label shown is
 * the bottom-most panel's that has one. */
void svg_labels(svg_fig *f, int panel, const char *xlabel, const char *ylabel);

/* A logarithmic x axis for every panel (values <= 0 are skipped): ticks at
 * the decades, and at 2 and 5 times them when there are few decades. */
void svg_logx(svg_fig *f, int on);

/* A polyline of n points (copied).  A NaN x or y breaks the line; an
 * infinite one is skipped.  step != 0 draws a step function, y[i] holding
 * from x[i] to x[i+1] (a CDF with y[i] the share of values <= x[i]).
 * name (copied) is the legend entry, NULL for none.  0, or -1 with errno
 * ENOMEM, or EINVAL for a panel out of range or NULL data with n > 0. */
int svg_line(svg_fig *f, int panel, const char *name, const double *x, const double *y, size_t n,
             int step);

/* Histogram bars (copied): bin i spans [lo[i], hi[i]) with height h[i],
 * drawn from y = 0 as one outlined, semi-transparent silhouette, so two
 * overlaid histograms stay readable.  Bins with a non-finite bound or
 * height, or hi <= lo, are skipped.  Returns as svg_line(). */
int svg_bars(svg_fig *f, int panel, const char *name, const double *lo, const double *hi,
             const double *h, size_t n);

/* A dashed vertical line at x across every panel (panel < 0) or one, with a
 * short label (copied, may be NULL) at its top.  Returns as svg_line(). */
int svg_vmark(svg_fig *f, int panel, double x, const char *label);

/* A fixed y range for a panel (ignored unless both are finite and lo < hi;
 * data outside it is clipped).  Otherwise the range runs from 0, or from
 * the data's minimum if that is negative, to a nice number at or above the
 * maximum. */
void svg_yrange(svg_fig *f, int panel, double lo, double hi);

/* Writes the SVG document to path (svg_fig_write) or to an open stream
 * (svg_fig_print).  0, or -1 with errno set. */
int svg_fig_write(const svg_fig *f, const char *path);
int svg_fig_print(const svg_fig *f, FILE *out);
#endif
