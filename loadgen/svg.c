/* SVG charts (svg.h): a figure keeps copies of its series and marks; the
 * writer maps them to pixels once, thinning long lines per pixel column and
 * clipping to each panel's plot area, so every number it prints is finite
 * and every string is escaped into well-formed XML. */
#include "loadgen/svg.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Geometry, in pixels.  A panel is a gap above (room for the marks'
 * labels if there are any), the plot area and a gap below; the bottom one
 * is followed by the x tick labels and the x label. */
#define FIG_W     800
#define PAD_MARKS 36     /* above a plot, with mark labels in the figure */
#define PAD_PLAIN 14     /* above a plot, without */
#define PLOT_H    188
#define PAD_BELOW 16
#define XAXIS_H   30     /* below the bottom panel's gap */
#define MARGIN_R  30
#define TITLE_H   30
#define CELL      4      /* legend placement: coverage cells of CELL x CELL px */
#define MARK_ROWS 3      /* rows of mark labels above a plot */
#define MAX_TICKS 128
#define BIG       1e300  /* data beyond +-BIG is clamped so ranges stay finite */

/* Okabe-Ito, reordered for a white background (yellow last). */
static const char *const palette[] = {"#0072B2", "#D55E00", "#009E73", "#E69F00",
                                      "#CC79A7", "#56B4E9", "#000000", "#F0E442"};
#define N_COLOURS (int)(sizeof palette / sizeof palette[0])

typedef struct {
    char *name;         /* legend entry; NULL: none */
    int colour;         /* index into palette */
    int bars;           /* 0: polyline (x, y); 1: bins [x, x2) of height y */
    int step;           /* polyline: y[i] holds from x[i] to x[i+1] */
    double *x, *y, *x2; /* n each (x2 for bars only), one allocation */
    size_t n;
} series;

typedef struct {
    double x;
    char *label;        /* NULL: none */
} mark;

typedef struct {
    char *xlabel, *ylabel;
    series *s;
    size_t n_s, cap_s;
    mark *m;            /* this panel's own marks */
    size_t n_m, cap_m;
    double ylo, yhi;    /* fixed y range when yfixed */
    int yfixed;
} panel;

struct svg_fig {
    char *title;
    int n_panels;
    int logx;
    int n_colours;      /* colours handed out so far */
    panel *p;           /* n_panels */
    mark *m;            /* marks across every panel */
    size_t n_m, cap_m;
};

/* ---- building ---- */

static char *dup_or_null(const char *s, int *oom) {
    if (!s) return NULL;
    char *d = strdup(s);
    if (!d) *oom = 1;
    return d;
}

svg_fig *svg_fig_new(const char *title, int n_panels) {
    if (n_panels < 1 || n_panels > 64) {
        errno = EINVAL;
        return NULL;
    }
    svg_fig *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    int oom = 0;
    f->title = dup_or_null(title, &oom);
    f->n_panels = n_panels;
    f->p = calloc((size_t)n_panels, sizeof *f->p);
    if (oom || !f->p) {
        svg_fig_free(f);
        errno = ENOMEM;
        return NULL;
    }
    return f;
}

static void marks_free(mark *m, size_t n) {
    for (size_t i = 0; i < n; i++) free(m[i].label);
    free(m);
}

void svg_fig_free(svg_fig *f) {
    if (!f) return;
    for (int i = 0; f->p && i < f->n_panels; i++) {
        panel *p = &f->p[i];
        for (size_t j = 0; j < p->n_s; j++) {
            free(p->s[j].name);
            free(p->s[j].x);
        }
        free(p->s);
        marks_free(p->m, p->n_m);
        free(p->xlabel);
        free(p->ylabel);
    }
    free(f->p);
    marks_free(f->m, f->n_m);
    free(f->title);
    free(f);
}

static panel *get_panel(svg_fig *f, int i) {
    return f && i >= 0 && i < f->n_panels ? &f->p[i] : NULL;
}

void svg_labels(svg_fig *f, int panel_i, const char *xlabel, const char *ylabel) {
    panel *p = get_panel(f, panel_i);
    if (!p) return;
    int oom = 0;
    char *x = dup_or_null(xlabel, &oom), *y = dup_or_null(ylabel, &oom);
    if (oom) {   /* keep the old labels rather than half of the new ones */
        free(x);
        free(y);
        return;
    }
    free(p->xlabel);
    free(p->ylabel);
    p->xlabel = x;
    p->ylabel = y;
}

void svg_logx(svg_fig *f, int on) {
    if (f) f->logx = on != 0;
}

void svg_yrange(svg_fig *f, int panel_i, double lo, double hi) {
    panel *p = get_panel(f, panel_i);
    if (!p) return;
    p->yfixed = isfinite(lo) && isfinite(hi) && lo < hi;
    p->ylo = lo;
    p->yhi = hi;
}

/* Grows *a (of *cap elements of size sz) to hold n + 1. */
static int grow(void **a, size_t *cap, size_t n, size_t sz) {
    if (n < *cap) return 0;
    size_t c = *cap ? *cap * 2 : 4;
    void *b = realloc(*a, c * sz);
    if (!b) return -1;
    *a = b;
    *cap = c;
    return 0;
}

/* The colour of a series called name: the one it already has in f, or
 * the next of the palette. */
static int colour_for(svg_fig *f, const char *name) {
    for (int i = 0; name && i < f->n_panels; i++)
        for (size_t j = 0; j < f->p[i].n_s; j++)
            if (f->p[i].s[j].name && !strcmp(f->p[i].s[j].name, name)) return f->p[i].s[j].colour;
    return f->n_colours++ % N_COLOURS;
}

static int add_series(svg_fig *f, int panel_i, const char *name, int bars, int step,
                      const double *x, const double *y, const double *x2, size_t n) {
    panel *p = get_panel(f, panel_i);
    if (!p || (n && (!x || !y || (bars && !x2))) || n > SIZE_MAX / (3 * sizeof(double))) {
        errno = EINVAL;
        return -1;
    }
    int nomem = grow((void **)&p->s, &p->cap_s, p->n_s, sizeof *p->s);
    series s = {.bars = bars, .step = step != 0, .n = n};
    s.name = dup_or_null(name, &nomem);
    s.x = malloc((n ? n : 1) * (bars ? 3 : 2) * sizeof(double));
    if (nomem || !s.x) {
        free(s.name);
        free(s.x);
        errno = ENOMEM;
        return -1;
    }
    s.y = s.x + n;
    if (n) {
        memcpy(s.x, x, n * sizeof(double));
        memcpy(s.y, y, n * sizeof(double));
    }
    if (bars) {
        s.x2 = s.y + n;
        if (n) memcpy(s.x2, x2, n * sizeof(double));
    }
    s.colour = colour_for(f, name);
    p->s[p->n_s++] = s;
    return 0;
}

int svg_line(svg_fig *f, int panel_i, const char *name, const double *x, const double *y, size_t n,
             int step) {
    return add_series(f, panel_i, name, 0, step, x, y, NULL, n);
}

int svg_bars(svg_fig *f, int panel_i, const char *name, const double *lo, const double *hi,
             const double *h, size_t n) {
    return add_series(f, panel_i, name, 1, 0, lo, h, hi, n);
}

int svg_vmark(svg_fig *f, int panel_i, double x, const char *label) {
    panel *p = get_panel(f, panel_i);
    if (!f || (panel_i >= 0 && !p)) {
        errno = EINVAL;
        return -1;
    }
    mark **m = p ? &p->m : &f->m;
    size_t *n = p ? &p->n_m : &f->n_m, *cap = p ? &p->cap_m : &f->cap_m;
    int oom = 0;
    char *l = dup_or_null(label, &oom);
    if (oom || grow((void **)m, cap, *n, sizeof **m)) {
        free(l);
        errno = ENOMEM;
        return -1;
    }
    (*m)[(*n)++] = (mark){x, l};
    return 0;
}

/* ---- axes ---- */

typedef struct {
    int log;                 /* values are log10 of the data */
    double lo, hi;           /* the range shown, lo < hi, in axis units */
    double p0, p1;           /* the pixels lo and hi map to */
    int n;                   /* ticks */
    double v[MAX_TICKS];     /* in axis units */
    char lab[MAX_TICKS][32]; /* "" for an unlabelled (grid only) tick */
} axis;

typedef struct {
    double lo, hi;           /* of the finite values seen; lo > hi while none */
} range;

static void range_add(range *r, double v) {
    if (!isfinite(v)) return;
    v = v > BIG ? BIG : v < -BIG ? -BIG : v;
    if (v < r->lo) r->lo = v;
    if (v > r->hi) r->hi = v;
}

/* Makes [lo, hi] a usable interval: a point or no data becomes an interval
 * around it (0 or nothing: [0, 1]), and an interval too narrow for double
 * precision is widened. */
static void range_fix(range *r) {
    if (r->lo > r->hi) r->lo = r->hi = 0;
    double mag = fmax(fabs(r->lo), fabs(r->hi));
    if (r->hi - r->lo > mag * 1e-9 && r->hi > r->lo) return;
    double v = (r->lo + r->hi) / 2;
    if (v == 0) {
        r->lo = 0;
        r->hi = 1;
    } else {
        r->lo = v - fabs(v) * 0.1;
        r->hi = v + fabs(v) * 0.1;
    }
}

/* The smallest of 1, 2, 5 x 10^k that is >= x (> 0). */
static double nice_step(double x) {
    double e = pow(10, floor(log10(x)));
    double m = x / e;
    return (m <= 1 + 1e-9 ? 1 : m <= 2 + 1e-9 ? 2 : m <= 5 + 1e-9 ? 5 : 10) * e;
}

/* Drops trailing zeros of a "%.Nf" number: "1.50" -> "1.5", "2.00" -> "2". */
static void trim_zeros(char *s) {
    char *dot = strchr(s, '.');
    if (!dot || strchr(s, 'e')) return;
    char *end = s + strlen(s);
    while (end > dot + 1 && end[-1] == '0') end--;
    if (end == dot + 1) end = dot;
    *end = 0;
    if (!strcmp(s, "-0")) strcpy(s, "0");
}

/* Labels the ticks of a linear axis on a grid of step, all alike: plain
 * decimals with as many places as the step needs ("0.25", "3000000"), or
 * %g's exponent form ("1.5e-06") when that is shorter and the plain one
 * longer than 8 characters. */
static void label_linear(axis *a, double step) {
    double mag = fmax(fabs(a->lo), fabs(a->hi));
    int places = (int)-floor(log10(step) + 1e-9);
    int sig = (int)floor(log10(mag) + 1e-9) + places + 1;
    sig = sig < 1 ? 1 : sig > 17 ? 17 : sig;
    int plain_ok = mag < 1e15 && places <= 15, plain = 0, expo = 0;
    char buf[64];
    for (int i = 0; i < a->n; i++) {
        if (plain_ok) {
            snprintf(buf, sizeof buf, "%.*f", places > 0 ? places : 0, a->v[i]);
            trim_zeros(buf);
            plain = (int)fmax(plain, (double)strlen(buf));
        }
        expo = (int)fmax(expo, snprintf(buf, sizeof buf, "%.*g", sig, a->v[i]));
    }
    plain_ok &= plain < (int)sizeof a->lab[0] && (plain <= 8 || plain <= expo);
    for (int i = 0; i < a->n; i++) {
        if (plain_ok) {
            snprintf(a->lab[i], sizeof a->lab[0], "%.*f", places > 0 ? places : 0, a->v[i]);
            trim_zeros(a->lab[i]);
        } else {
            snprintf(a->lab[i], sizeof a->lab[0], "%.*g", sig, a->v[i]);
        }
    }
}

/* Text width estimate: 0.6 em a code point, enough for sans-serif digits. */
static double text_w(const char *s, double size) {
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) n += (*p & 0xC0) != 0x80;
    return (double)n * size * 0.6;
}

static double axis_px(const axis *a, double v) {
    return a->p0 + (v - a->lo) / (a->hi - a->lo) * (a->p1 - a->p0);
}

/* Where the label of tick i of a horizontal axis is centred: on the tick,
 * or as near as it can be inside the figure. */
static double label_x(const axis *a, int i, double fs) {
    double c = axis_px(a, a->v[i]), w = text_w(a->lab[i], fs);
    return fmax(2 + w / 2, fmin(FIG_W - 2 - w / 2, c));
}

/* Whether the labelled ticks of a horizontal axis leave room between their
 * labels (in font size fs). */
static int labels_fit(const axis *a, double fs) {
    double right = -1e9;
    for (int i = 0; i < a->n; i++) {
        if (!a->lab[i][0]) continue;
        double c = label_x(a, i, fs), w = text_w(a->lab[i], fs);
        if (c - w / 2 < right + 10) return 0;
        right = c + w / 2;
    }
    return 1;
}

/* Linear ticks on r, about target of them; loose: the range is widened to
 * the ticks around it. */
static void ticks_linear(axis *a, range r, int target, int loose) {
    double step = nice_step((r.hi - r.lo) / target);
    a->log = 0;
    a->lo = loose ? floor(r.lo / step) * step : r.lo;
    a->hi = loose ? ceil(r.hi / step) * step : r.hi;
    a->n = 0;
    for (double k = ceil(a->lo / step - 1e-9); k <= floor(a->hi / step + 1e-9) && a->n < MAX_TICKS;
         k++)
        a->v[a->n++] = k == 0 ? 0 : k * step;
    label_linear(a, step);
}

/* The label of m x 10^d: %g's, but built from d beyond where pow() is
 * exact enough ("1e-320"). */
static void label_log(char *out, size_t cap, int m, int d) {
    if (d >= -6 && d <= 15)
        snprintf(out, cap, "%g", m * pow(10, d));
    else
        snprintf(out, cap, "%de%c%02d", m, d < 0 ? '-' : '+', abs(d));
}

/* Log ticks on r (of log10 values): a grid line and a label at every
 * every-th decade; with at most 6 decades, grid lines at 2..9 times them
 * too, labelled at 2 and 5 when with25. */
static void ticks_log(axis *a, range r, int every, int with25) {
    a->log = 1;
    a->lo = floor(r.lo + 1e-9);
    a->hi = ceil(r.hi - 1e-9);
    if (a->hi <= a->lo) a->hi = a->lo + 1;
    int minor = a->hi - a->lo <= 6;
    a->n = 0;
    for (double d = a->lo; d <= a->hi && a->n < MAX_TICKS - 9; d += every) {
        for (int m = 1; m <= (d < a->hi && minor ? 9 : 1); m++) {
            a->v[a->n] = d + log10(m);
            if (m == 1 || (with25 && (m == 2 || m == 5)))
                label_log(a->lab[a->n], sizeof a->lab[0], m, (int)d);
            else
                a->lab[a->n][0] = 0;
            a->n++;
        }
    }
}

/* Adds data x to r, in axis units (log10 on a log axis, where x <= 0 is
 * left out). */
static void x_add(range *r, int lg, double x) {
    if (!lg)
        range_add(r, x);
    else if (x > 0)
        range_add(r, log10(x));
}

/* The shared x axis over the pixels [p0, p1]: the union of every panel's
 * data and marks, with as many labelled ticks as fit. */
static void x_axis(const svg_fig *f, axis *a, double p0, double p1) {
    range r = {INFINITY, -INFINITY};
    int lg = f->logx;
    for (int i = 0; i < f->n_panels; i++) {
        const panel *p = &f->p[i];
        for (size_t j = 0; j < p->n_s; j++) {
            const series *s = &p->s[j];
            for (size_t k = 0; k < s->n; k++) {
                if (!isfinite(s->y[k])) continue;
                if (s->bars) {
                    if (!isfinite(s->x[k]) || !isfinite(s->x2[k]) || !(s->x2[k] > s->x[k])) continue;
                    if (lg && s->x[k] <= 0) continue;
                    x_add(&r, lg, s->x2[k]);
                }
                x_add(&r, lg, s->x[k]);
            }
        }
        for (size_t j = 0; j < p->n_m; j++) x_add(&r, lg, p->m[j].x);
    }
    for (size_t j = 0; j < f->n_m; j++) x_add(&r, lg, f->m[j].x);
    a->p0 = p0;
    a->p1 = p1;
    if (lg) {
        if (r.lo > r.hi) r.lo = r.hi = 0;   /* nothing positive: 1 to 10 */
        int nd = (int)(ceil(r.hi - 1e-9) - floor(r.lo + 1e-9));
        if (nd <= 3) {
            ticks_log(a, r, 1, 1);
            if (labels_fit(a, 11)) return;
        }
        for (int every = 1 + nd / (MAX_TICKS - 10);; every++) {
            ticks_log(a, r, every, 0);
            if (labels_fit(a, 11) || every >= nd) return;
        }
    }
    range_fix(&r);
    for (int target = 10; target > 1; target--) {
        ticks_linear(a, r, target, 1);
        if (labels_fit(a, 11)) return;
    }
}

/* A panel's y axis over the pixels [p0 (bottom), p1 (top)]. */
static void y_axis(const svg_fig *f, const panel *p, axis *a, double p0, double p1) {
    a->p0 = p0;
    a->p1 = p1;
    if (p->yfixed) {
        range r = {fmax(p->ylo, -BIG), fmin(p->yhi, BIG)};
        range_fix(&r);
        ticks_linear(a, r, 5, 0);
        return;
    }
    range r = {INFINITY, -INFINITY};
    for (size_t j = 0; j < p->n_s; j++) {
        const series *s = &p->s[j];
        for (size_t k = 0; k < s->n; k++) {
            double x = s->x[k];
            if (!isfinite(x) || (f->logx && x <= 0)) continue;
            if (s->bars && (!isfinite(s->x2[k]) || !(s->x2[k] > x))) continue;
            range_add(&r, s->y[k]);
        }
    }
    if (r.lo <= r.hi && r.lo > 0) r.lo = 0;   /* from 0 unless the data goes below */
    range_fix(&r);
    ticks_linear(a, r, 5, 1);
}

/* ---- output ---- */

/* A coordinate with one decimal, clamped far outside the figure (the plot
 * is clipped) so that no inf or huge number reaches the file. */
static const char *num(char *buf, double v) {
    if (!(v > -1e5)) v = -1e5;
    if (v > 1e5) v = 1e5;
    snprintf(buf, 24, "%.1f", v);
    trim_zeros(buf);
    return buf;
}

/* Length of the valid UTF-8 sequence at s that XML allows (1..4), 0 if
 * none starts there. */
static int utf8_len(const unsigned char *s) {
    unsigned c = s[0];
    if (c < 0x80) return 1;
    if (c < 0xC2 || c > 0xF4) return 0;
    int n = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    unsigned lo = 0x80, hi = 0xBF;   /* the second byte's range */
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;        /* no surrogates */
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;        /* <= U+10FFFF */
    if (s[1] < lo || s[1] > hi) return 0;
    for (int i = 2; i < n; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    if (c == 0xC2 && s[1] < 0xA0) return 0;                          /* C1 controls */
    if (c == 0xEF && s[1] == 0xBF && (s[2] == 0xBE || s[2] == 0xBF)) return 0;   /* U+FFFE/F */
    return n;
}

/* s, XML-escaped, without control bytes or invalid UTF-8. */
static void put_text(FILE *o, const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; p && *p;) {
        int n = utf8_len(p);
        if (n == 0 || *p < 0x20 || *p == 0x7F) {
            p++;
            continue;
        }
        switch (*p) {
        case '&': fputs("&amp;", o); break;
        case '<': fputs("&lt;", o); break;
        case '>': fputs("&gt;", o); break;
        case '"': fputs("&quot;", o); break;
        case '\'': fputs("&apos;", o); break;
        default: fwrite(p, 1, (size_t)n, o);
        }
        p += n;
    }
}

/* <text x y ATTRS>s</text>; attrs is a literal of the caller's. */
static void text_at(FILE *o, double x, double y, const char *attrs, const char *s) {
    char a[24], b[24];
    fprintf(o, "<text x=\"%s\" y=\"%s\" %s>", num(a, x), num(b, y), attrs);
    put_text(o, s);
    fputs("</text>\n", o);
}

static void line_at(FILE *o, double x1, double y1, double x2, double y2, const char *attrs) {
    char a[24], b[24], c[24], d[24];
    fprintf(o, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" %s/>\n", num(a, x1), num(b, y1),
            num(c, x2), num(d, y2), attrs);
}

/* Points in pixels, thinned per pixel column: a column's first, lowest,
 * highest and last point, in their order, so the drawn shape is the
 * same.  Pieces of a broken line are separated by a NaN point. */
typedef struct {
    double *xy;              /* 2 a point */
    size_t n, cap;           /* points */
    int oom;
    long col;                /* the pending column */
    int k;                   /* points seen in it */
    double first[2], last[2], lo[2], hi[2];
    int ilo, ihi;            /* when lo and hi were seen */
} thin;

static void thin_put(thin *t, double x, double y) {
    if (t->n && !isnan(x)) {   /* the same point as the last, to the printed precision */
        double *q = &t->xy[2 * (t->n - 1)];
        if (!isnan(q[0]) && fabs(q[0] - x) < 0.05 && fabs(q[1] - y) < 0.05) return;
    }
    if (isnan(x) && (!t->n || isnan(t->xy[2 * (t->n - 1)]))) return;   /* no empty pieces */
    if (t->n == t->cap) {
        size_t c = t->cap ? t->cap * 2 : 256;
        double *b = realloc(t->xy, c * 2 * sizeof *b);
        if (!b) {
            t->oom = 1;
            return;
        }
        t->xy = b;
        t->cap = c;
    }
    t->xy[2 * t->n] = x;
    t->xy[2 * t->n + 1] = y;
    t->n++;
}

static void thin_flush(thin *t) {
    if (!t->k) return;
    thin_put(t, t->first[0], t->first[1]);
    if (t->k > 1) {
        double *a = t->ilo < t->ihi ? t->lo : t->hi, *b = t->ilo < t->ihi ? t->hi : t->lo;
        thin_put(t, a[0], a[1]);
        thin_put(t, b[0], b[1]);
        thin_put(t, t->last[0], t->last[1]);
    }
    t->k = 0;
}

static void thin_add(thin *t, double x, double y) {
    x = x < -1e5 ? -1e5 : x > 1e5 ? 1e5 : x;
    y = y < -1e5 ? -1e5 : y > 1e5 ? 1e5 : y;
    long c = (long)floor(x);
    if (t->k && c != t->col) thin_flush(t);
    double q[2] = {x, y};
    if (!t->k) {
        t->col = c;
        memcpy(t->first, q, sizeof q);
        memcpy(t->lo, q, sizeof q);
        memcpy(t->hi, q, sizeof q);
        t->ilo = t->ihi = 0;
    } else if (y < t->lo[1]) {
        memcpy(t->lo, q, sizeof q);
        t->ilo = t->k;
    } else if (y > t->hi[1]) {
        memcpy(t->hi, q, sizeof q);
        t->ihi = t->k;
    }
    memcpy(t->last, q, sizeof q);
    t->k++;
}

static void thin_break(thin *t) {
    thin_flush(t);
    thin_put(t, NAN, NAN);
}

/* Where data is drawn in a plot area, in CELL x CELL cells, for placing
 * the legend where it covers the least. */
typedef struct {
    unsigned char *c;
    int w, h;
    double x0, y0;           /* the plot area's top left */
} cover;

/* The cell of pixel v from origin, clamped to [0, n - 1]. */
static int cell(double v, double origin, int n) {
    double c = floor((v - origin) / CELL);
    return c < 0 ? 0 : c > n - 1 ? n - 1 : (int)c;
}

static void cover_rect(cover *cv, double x0, double y0, double x1, double y1) {
    if (fmax(x0, x1) < cv->x0 || fmax(y0, y1) < cv->y0 || fmin(x0, x1) >= cv->x0 + cv->w * CELL ||
        fmin(y0, y1) >= cv->y0 + cv->h * CELL)
        return;   /* outside */
    int i0 = cell(fmin(x0, x1), cv->x0, cv->w), i1 = cell(fmax(x0, x1), cv->x0, cv->w);
    int j0 = cell(fmin(y0, y1), cv->y0, cv->h), j1 = cell(fmax(y0, y1), cv->y0, cv->h);
    for (int j = j0; j <= j1; j++)
        for (int i = i0; i <= i1; i++) cv->c[j * cv->w + i] = 1;
}

/* Marks the cells a thinned line passes through. */
static void cover_line(cover *cv, const thin *t) {
    for (size_t i = 0; i < t->n; i++) {
        const double *p = &t->xy[2 * i];
        if (isnan(p[0])) continue;
        if (i == 0 || isnan(p[-2])) {
            cover_rect(cv, p[0], p[1], p[0], p[1]);
            continue;
        }
        double dx = p[0] - p[-2], dy = p[1] - p[-1];
        int steps = (int)fmin(1e4, ceil(hypot(dx, dy) / (CELL / 2.0)));
        for (int s = 1; s <= steps; s++) {
            double x = p[-2] + dx * s / steps, y = p[-1] + dy * s / steps;
            cover_rect(cv, x, y, x, y);
        }
    }
}

static int cover_count(const cover *cv, double x0, double y0, double x1, double y1) {
    int n = 0;
    for (int j = (int)fmax(0, (y0 - cv->y0) / CELL); j < cv->h && j * CELL + cv->y0 < y1; j++)
        for (int i = (int)fmax(0, (x0 - cv->x0) / CELL); i < cv->w && i * CELL + cv->x0 < x1; i++)
            n += cv->c[j * cv->w + i];
    return n;
}

typedef struct {
    FILE *o;
    const svg_fig *f;
    axis x;                  /* shared */
    double left, right;      /* plot area's pixels, every panel */
    double top0;             /* the first panel's top */
    double pad;              /* PAD_MARKS or PAD_PLAIN */
    thin t;                  /* scratch for one series */
    cover cv;                /* scratch for one panel */
} writer;

/* The top of panel i's plot area. */
static double plot_top(const writer *w, int i) {
    return w->top0 + i * (w->pad + PLOT_H + PAD_BELOW) + w->pad;
}

/* Data x to pixels, or NAN for a value the axis cannot show. */
static double x_px(const writer *w, double x) {
    if (!isfinite(x)) return NAN;
    if (w->x.log) {
        if (x <= 0) return NAN;
        x = log10(x);
    }
    return axis_px(&w->x, x);
}

static double y_px(const axis *y, double v) {
    return isfinite(v) ? axis_px(y, v > BIG ? BIG : v < -BIG ? -BIG : v) : NAN;
}

/* Thins a polyline series into w->t. */
static void thin_line(writer *w, const series *s, const axis *ya) {
    thin *t = &w->t;
    double py = NAN;   /* the last point's y pixel, for steps */
    for (size_t k = 0; k < s->n; k++) {
        if (isnan(s->x[k]) || isnan(s->y[k])) {
            thin_break(t);
            py = NAN;
            continue;
        }
        double x = x_px(w, s->x[k]), y = y_px(ya, s->y[k]);
        if (isnan(x) || isnan(y)) continue;   /* infinite, or <= 0 on a log axis */
        if (s->step && !isnan(py)) thin_add(t, x, py);
        thin_add(t, x, y);
        py = y;
    }
    thin_flush(t);
}

typedef struct {
    double lo;
    size_t k;
} bin_at;

static int bin_cmp(const void *a, const void *b) {
    const bin_at *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo ? 1 : (x->k > y->k) - (x->k < y->k);
}

/* Thins bars into one silhouette polygon (bins sorted by their start) and
 * marks their cells. */
static int thin_bars(writer *w, const series *s, const axis *ya) {
    bin_at *ord = malloc((s->n ? s->n : 1) * sizeof *ord);
    size_t m = 0;
    if (!ord) return -1;
    for (size_t k = 0; k < s->n; k++)
        if (!isnan(x_px(w, s->x[k])) && !isnan(x_px(w, s->x2[k])) && s->x2[k] > s->x[k] &&
            isfinite(s->y[k]))
            ord[m++] = (bin_at){s->x[k], k};
    qsort(ord, m, sizeof *ord, bin_cmp);
    double base = y_px(ya, fmin(fmax(0, ya->lo), ya->hi)), prev = NAN;
    for (size_t i = 0; i < m; i++) {
        size_t k = ord[i].k;
        double x0 = x_px(w, s->x[k]), x1 = x_px(w, s->x2[k]), y = y_px(ya, s->y[k]);
        if (!isnan(prev) && x0 > prev + 0.05) {   /* a gap: down to the base and up */
            thin_add(&w->t, prev, base);
            thin_add(&w->t, x0, base);
        } else if (isnan(prev)) {
            thin_add(&w->t, x0, base);
        }
        thin_add(&w->t, x0, y);
        thin_add(&w->t, x1, y);
        cover_rect(&w->cv, x0, y, x1, base);
        prev = x1;
    }
    if (!isnan(prev)) thin_add(&w->t, prev, base);
    thin_flush(&w->t);
    free(ord);
    return 0;
}

static void put_points(writer *w, size_t from, size_t to) {
    char a[24], b[24];
    for (size_t i = from; i < to; i++)
        fprintf(w->o, "%s%s,%s", i > from ? " " : "", num(a, w->t.xy[2 * i]), num(b, w->t.xy[2 * i + 1]));
}

/* Draws s: 1 if anything was drawn, 0 if not, -1 if out of memory. */
static int draw_series(writer *w, const series *s, const axis *ya) {
    const char *col = palette[s->colour];
    w->t.n = 0;
    w->t.k = 0;
    if (s->bars) {
        if (thin_bars(w, s, ya)) return -1;
    } else {
        thin_line(w, s, ya);
        cover_line(&w->cv, &w->t);
    }
    if (w->t.oom) return -1;
    for (size_t i = 0; i < w->t.n;) {   /* each piece */
        size_t j = i;
        while (j < w->t.n && !isnan(w->t.xy[2 * j])) j++;
        if (j - i == 1 && !s->bars) {   /* a lone point: a dot */
            char a[24], b[24];
            fprintf(w->o, "<circle cx=\"%s\" cy=\"%s\" r=\"2.5\" fill=\"%s\"/>\n",
                    num(a, w->t.xy[2 * i]), num(b, w->t.xy[2 * i + 1]), col);
        } else if (j > i) {
            fputs(s->bars ? "<polygon points=\"" : "<polyline points=\"", w->o);
            put_points(w, i, j);
            if (s->bars)
                fprintf(w->o, "\" fill=\"%s\" fill-opacity=\"0.35\" stroke=\"%s\" stroke-width=\"1.2\"/>\n",
                        col, col);
            else
                fprintf(w->o, "\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\" "
                              "stroke-linejoin=\"round\"/>\n", col);
        }
        i = j + 1;
    }
    return w->t.n > 0;
}

/* The legend of panel p in the inside corner whose box covers the least
 * drawn data (top right, top left, bottom right, bottom left on a tie). */
static void draw_legend(writer *w, const panel *p, double top) {
    int n = 0;
    double tw = 0;
    for (size_t j = 0; j < p->n_s; j++)
        if (p->s[j].name) {
            n++;
            tw = fmax(tw, text_w(p->s[j].name, 11));
        }
    if (!n) return;
    double bw = tw + 38, bh = n * 16 + 8, pad = 6, bottom = top + PLOT_H;
    double cx[4] = {w->right - pad - bw, w->left + pad, w->right - pad - bw, w->left + pad};
    double cy[4] = {top + pad, top + pad, bottom - pad - bh, bottom - pad - bh};
    int best = 0, best_n = INT_MAX;
    for (int c = 0; c < 4; c++) {
        int k = cover_count(&w->cv, cx[c], cy[c], cx[c] + bw, cy[c] + bh);
        if (k < best_n) {
            best_n = k;
            best = c;
        }
    }
    char a[24], b[24], c[24], d[24];
    double x = cx[best], y = cy[best];
    fprintf(w->o, "<rect x=\"%s\" y=\"%s\" width=\"%s\" height=\"%s\" fill=\"#fff\" "
                  "fill-opacity=\"0.85\" stroke=\"#ccc\"/>\n",
            num(a, x), num(b, y), num(c, bw), num(d, bh));
    int row = 0;
    for (size_t j = 0; j < p->n_s; j++) {
        const series *s = &p->s[j];
        if (!s->name) continue;
        double ry = y + 4 + row++ * 16 + 8;   /* the entry's middle */
        const char *col = palette[s->colour];
        if (s->bars)
            fprintf(w->o, "<rect x=\"%s\" y=\"%s\" width=\"18\" height=\"10\" fill=\"%s\" "
                          "fill-opacity=\"0.35\" stroke=\"%s\"/>\n",
                    num(a, x + 8), num(b, ry - 5), col, col);
        else
            fprintf(w->o, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" stroke=\"%s\" "
                          "stroke-width=\"2\"/>\n",
                    num(a, x + 8), num(b, ry), num(c, x + 26), num(d, ry), col);
        text_at(w->o, x + 32, ry + 4, "font-size=\"11\"", s->name);
    }
}

typedef struct {
    double x;                /* pixel */
    const char *label;
} mark_px;

static int mark_cmp(const void *a, const void *b) {
    double x = ((const mark_px *)a)->x, y = ((const mark_px *)b)->x;
    return (x > y) - (x < y);
}

/* Collects the marks of panel i (its own and, with all, the figure's) as
 * pixels into out (room for both). */
static size_t marks_px(const writer *w, int i, int all, mark_px *out) {
    size_t n = 0;
    const panel *p = &w->f->p[i];
    for (size_t j = 0; j < p->n_m; j++) out[n++] = (mark_px){x_px(w, p->m[j].x), p->m[j].label};
    for (size_t j = 0; all && j < w->f->n_m; j++)
        out[n++] = (mark_px){x_px(w, w->f->m[j].x), w->f->m[j].label};
    size_t k = 0;
    for (size_t j = 0; j < n; j++)
        if (!isnan(out[j].x)) out[k++] = out[j];
    return k;
}

/* The marks' labels above panel i: to the right of the line (or left, at
 * the right edge), in the lowest of MARK_ROWS rows where it overlaps no
 * other; a label with no room anywhere is left out. */
static void draw_mark_labels(writer *w, int i, mark_px *m, size_t n) {
    qsort(m, n, sizeof *m, mark_cmp);
    double row_right[MARK_ROWS];
    for (int r = 0; r < MARK_ROWS; r++) row_right[r] = -1e9;
    double top = plot_top(w, i);
    for (size_t j = 0; j < n; j++) {
        if (!m[j].label || !m[j].label[0]) continue;
        double tw = text_w(m[j].label, 10), x0 = m[j].x + 3;
        int end = x0 + tw > FIG_W - 4;
        if (end) x0 = m[j].x - 3 - tw;
        for (int r = 0; r < MARK_ROWS; r++) {
            if (x0 < row_right[r] + 6) continue;
            row_right[r] = x0 + tw;
            text_at(w->o, end ? x0 + tw : x0, top - 4 - r * 11,
                    end ? "font-size=\"10\" fill=\"#333\" text-anchor=\"end\""
                        : "font-size=\"10\" fill=\"#333\"", m[j].label);
            break;
        }
    }
}

static int draw_panel(writer *w, int i) {
    const svg_fig *f = w->f;
    const panel *p = &f->p[i];
    FILE *o = w->o;
    double top = plot_top(w, i), bottom = top + PLOT_H;
    char a[24], b[24], c[24], d[24];
    axis ya;
    y_axis(f, p, &ya, bottom, top);

    /* grid, then the data clipped to the plot area (a little wider, so that
     * a line or dot on an edge keeps its full width), then the frame */
    fprintf(o, "<g class=\"panel\" id=\"panel%d\">\n", i);
    for (int k = 0; k < ya.n; k++) {
        double y = axis_px(&ya, ya.v[k]);
        line_at(o, w->left, y, w->right, y, "stroke=\"#e0e0e0\"");
    }
    for (int k = 0; k < w->x.n; k++) {
        double x = axis_px(&w->x, w->x.v[k]);
        line_at(o, x, top, x, bottom, w->x.lab[k][0] ? "stroke=\"#e0e0e0\"" : "stroke=\"#f0f0f0\"");
    }
    mark_px *m = malloc((p->n_m + f->n_m + 1) * sizeof *m);
    if (!m) return -1;
    size_t nm = marks_px(w, i, 1, m);
    for (size_t j = 0; j < nm; j++)
        line_at(o, m[j].x, top, m[j].x, bottom, "stroke=\"#555\" stroke-dasharray=\"5,4\"");
    fprintf(o, "<g clip-path=\"url(#clip%d)\">\n", i);
    memset(w->cv.c, 0, (size_t)w->cv.w * (size_t)w->cv.h);
    w->cv.x0 = w->left;
    w->cv.y0 = top;
    int drawn = 0;
    for (size_t j = 0; j < p->n_s; j++) {
        int rc = draw_series(w, &p->s[j], &ya);
        if (rc < 0) {
            free(m);
            return -1;
        }
        drawn |= rc;
    }
    fputs("</g>\n", o);
    fprintf(o, "<rect class=\"frame\" x=\"%s\" y=\"%s\" width=\"%s\" height=\"%s\" fill=\"none\" "
               "stroke=\"#888\"/>\n",
            num(a, w->left), num(b, top), num(c, w->right - w->left), num(d, (double)PLOT_H));
    if (!drawn)
        text_at(o, (w->left + w->right) / 2, top + PLOT_H / 2.0,
                "font-size=\"12\" fill=\"#999\" text-anchor=\"middle\"", "no data");

    /* the y axis: tick labels and the label */
    for (int k = 0; k < ya.n; k++)
        text_at(o, w->left - 6, axis_px(&ya, ya.v[k]) + 4, "font-size=\"11\" text-anchor=\"end\"",
                ya.lab[k]);
    if (p->ylabel) {
        fprintf(o, "<text transform=\"translate(18,%s) rotate(-90)\" font-size=\"12\" "
                   "text-anchor=\"middle\">", num(a, top + PLOT_H / 2.0));
        put_text(o, p->ylabel);
        fputs("</text>\n", o);
    }
    draw_legend(w, p, top);
    /* the figure's mark labels go above the top panel only */
    draw_mark_labels(w, i, m, marks_px(w, i, i == 0, m));
    free(m);

    if (i == f->n_panels - 1) {   /* the bottom panel: the x axis */
        for (int k = 0; k < w->x.n; k++)
            if (w->x.lab[k][0])
                text_at(o, label_x(&w->x, k, 11), bottom + 15,
                        "font-size=\"11\" text-anchor=\"middle\"", w->x.lab[k]);
        const char *xl = NULL;
        for (int k = f->n_panels - 1; k >= 0 && !xl; k--) xl = f->p[k].xlabel;
        if (xl)
            text_at(o, (w->left + w->right) / 2, bottom + 34, "font-size=\"12\" text-anchor=\"middle\"",
                    xl);
    }
    fputs("</g>\n", o);
    return 0;
}

int svg_fig_print(const svg_fig *f, FILE *o) {
    if (!f || !o) {
        errno = EINVAL;
        return -1;
    }
    writer w = {.o = o, .f = f};
    int saved = errno;
    errno = 0;
    w.top0 = f->title ? TITLE_H : 4;
    int labelled = 0;   /* any mark with a label */
    for (int i = -1; i < f->n_panels; i++) {
        const mark *m = i < 0 ? f->m : f->p[i].m;
        for (size_t j = 0, n = i < 0 ? f->n_m : f->p[i].n_m; j < n; j++)
            labelled |= m[j].label && m[j].label[0];
    }
    w.pad = labelled ? PAD_MARKS : PAD_PLAIN;
    double height = w.top0 + f->n_panels * (w.pad + PLOT_H + PAD_BELOW) + XAXIS_H;

    /* the left margin fits the widest y tick label and the y label */
    double yw = 0;
    int ylabel = 0;
    for (int i = 0; i < f->n_panels; i++) {
        axis ya;
        y_axis(f, &f->p[i], &ya, 1, 0);
        for (int k = 0; k < ya.n; k++) yw = fmax(yw, text_w(ya.lab[k], 11));
        ylabel |= f->p[i].ylabel != NULL;
    }
    w.left = ceil(fmax(48, 8 + (ylabel ? 22 : 0) + yw + 8));
    w.right = FIG_W - MARGIN_R;
    x_axis(f, &w.x, w.left, w.right);
    w.cv.w = (int)ceil((w.right - w.left) / CELL) + 1;
    w.cv.h = PLOT_H / CELL + 1;
    w.cv.c = malloc((size_t)w.cv.w * (size_t)w.cv.h);
    if (!w.cv.c) {
        errno = ENOMEM;
        return -1;
    }

    char a[24], b[24], c[24], d[24];
    fprintf(o, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%s\" "
               "viewBox=\"0 0 %d %s\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n",
            FIG_W, num(a, height), FIG_W, num(b, height));
    if (f->title) {
        fputs("<title>", o);
        put_text(o, f->title);
        fputs("</title>\n", o);
    }
    fputs("<defs>\n", o);
    for (int i = 0; i < f->n_panels; i++)
        fprintf(o, "<clipPath id=\"clip%d\"><rect x=\"%s\" y=\"%s\" width=\"%s\" height=\"%s\"/>"
                   "</clipPath>\n",
                i, num(a, w.left - 3), num(b, plot_top(&w, i) - 3), num(c, w.right - w.left + 6),
                num(d, (double)PLOT_H + 6));
    fputs("</defs>\n", o);
    fprintf(o, "<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n");
    if (f->title)
        text_at(o, FIG_W / 2.0, 21, "font-size=\"15\" font-weight=\"bold\" text-anchor=\"middle\"",
                f->title);
    int rc = 0;
    for (int i = 0; i < f->n_panels && !rc; i++) rc = draw_panel(&w, i);
    fputs("</svg>\n", o);
    free(w.t.xy);
    free(w.cv.c);
    if (rc) {
        errno = ENOMEM;
        return -1;
    }
    if (ferror(o)) {
        if (!errno) errno = EIO;
        return -1;
    }
    errno = saved;
    return 0;
}

int svg_fig_write(const svg_fig *f, const char *path) {
    if (!f || !path) {
        errno = EINVAL;
        return -1;
    }
    FILE *o = fopen(path, "w");
    if (!o) return -1;
    int rc = svg_fig_print(f, o), e = errno;
    if (fclose(o) && !rc) return -1;
    errno = e;
    return rc;
}
