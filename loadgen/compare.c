/* Baseline against candidate, with statistics (compare.h). */
#define _GNU_SOURCE
#include "loadgen/compare.h"
#include "engine/errbuf.h"
#include "loadgen/summary.h"
#include "loadgen/textio.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const lg_cmp_metric[LG_CMP_METRICS] = {"ttft_ms", "e2e_ms", "tpot_ms"};

static int push(lg_samples *s, double x) {
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 256;
        double *v = realloc(s->v, sizeof(double) * (size_t)cap);
        if (!v) return -1;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = x;
    return 0;
}

int lg_run_read(const char *path, lg_run s, char *err, size_t errlen) {
    memset(s, 0, sizeof(lg_run));
    size_t len;
    char *buf = lg_slurp(path, &len);
    if (!buf) return errbuf_set(err, errlen, -1, "%s: %s", path, strerror(errno));
    int rc = lg_run_parse(buf, path, s, err, errlen);
    free(buf);
    return rc;
}

int lg_run_parse(char *buf, const char *path, lg_run s, char *err, size_t errlen) {
    memset(s, 0, sizeof(lg_run));
    char *save = NULL, *line = strtok_r(buf, "\n", &save);
    static const char *const want[5] = {"stage", "ttft_ms", "e2e_ms", "generated_tokens", "status"};
    int col[5] = {-1, -1, -1, -1, -1};
    if (line) {
        char *f[32];
        int n = lg_csv_split(line, f, 32);
        for (int k = 0; k < 5; k++) col[k] = lg_csv_col(f, n, want[k]);
    }
    for (int k = 0; k < 5; k++)
        if (col[k] < 0)
            return errbuf_set(err, errlen, -1, "%s: not a llmfs-bench run CSV (no %s column)", path, want[k]);
    int rc = 0;
    while (!rc && (line = strtok_r(NULL, "\n", &save))) {
        char *f[32];
        int n = lg_csv_split(line, f, 32);
        if (n <= col[0] || n <= col[1] || n <= col[2] || n <= col[3] || n <= col[4] ||
            strcmp(f[col[4]], "ok"))
            continue;
        int st = atoi(f[col[0]]);
        if (st < 1 || st >= LG_CMP_STAGES) continue;
        double ttft = atof(f[col[1]]), e2e = atof(f[col[2]]);
        int gen = atoi(f[col[3]]);
        double m[3] = {ttft, e2e, gen > 1 && ttft >= 0 && e2e >= ttft ? (e2e - ttft) / (gen - 1) : -1};
        for (int k = 0; k < LG_CMP_METRICS && !rc; k++)
            if (m[k] >= 0 && (push(&s[st][k], m[k]) || push(&s[0][k], m[k]))) rc = -1;
    }
    if (rc) {
        lg_run_free(s);
        return errbuf_set(err, errlen, -1, "%s: out of memory", path);
    }
    return 0;
}

void lg_run_free(lg_run s) {
    for (int st = 0; st < LG_CMP_STAGES; st++)
        for (int m = 0; m < LG_CMP_METRICS; m++) free(s[st][m].v);
    memset(s, 0, sizeof(lg_run));
}

double lg_median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, lg_cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

typedef struct { double x; int from_b; } tagged;
static int by_x(const void *p, const void *q) {
    double a = ((const tagged *)p)->x, b = ((const tagged *)q)->x;
    return a < b ? -1 : a > b;
}

/* Mann-Whitney U of b against a: the two-sided p-value (normal
 * approximation with the tie correction and continuity correction) and
 * Cliff's delta = 2U / (n1 n2) - 1. */
static int mann_whitney(const lg_samples *a, const lg_samples *b, double *p, double *delta) {
    int n1 = a->n, n2 = b->n, N = n1 + n2;
    tagged *t = malloc(sizeof *t * (size_t)N);
    if (!t) return -1;
    for (int i = 0; i < n1; i++) t[i] = (tagged){a->v[i], 0};
    for (int i = 0; i < n2; i++) t[n1 + i] = (tagged){b->v[i], 1};
    qsort(t, (size_t)N, sizeof *t, by_x);
    double rank_b = 0, ties = 0;
    for (int i = 0; i < N;) {
        int j = i;
        while (j < N && t[j].x == t[i].x) j++;
        double r = (i + 1 + j) / 2.0;         /* mean rank of the tie group */
        for (int k = i; k < j; k++) if (t[k].from_b) rank_b += r;
        double g = j - i;
        ties += g * g * g - g;
        i = j;
    }
    free(t);
    double U = rank_b - (double)n2 * (n2 + 1) / 2;   /* pairs where b > a (ties half) */
    double mu = (double)n1 * n2 / 2;
    double sigma = sqrt((double)n1 * n2 / 12.0 * ((N + 1) - ties / ((double)N * (N - 1))));
    double z = sigma > 0 ? (fabs(U - mu) - 0.5) / sigma : 0;
    if (z < 0) z = 0;
    *p = erfc(z / sqrt(2));
    *delta = 2 * U / ((double)n1 * n2) - 1;
    return 0;
}

/* A seeded 95% percentile-bootstrap interval of the relative change of
 * the median, from 1000 resamples of each side. */
static int bootstrap(const lg_samples *a, const lg_samples *b, uint64_t seed, double ci[2]) {
    enum { R = 1000 };
    double *ch = malloc(sizeof(double) * R);
    double *ra = malloc(sizeof(double) * (size_t)a->n), *rb = malloc(sizeof(double) * (size_t)b->n);
    int rc = ch && ra && rb ? 0 : -1;
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    for (int r = 0; r < R && !rc; r++) {
        for (int i = 0; i < a->n; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            ra[i] = a->v[(x >> 33) % (uint64_t)a->n];
        }
        for (int i = 0; i < b->n; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            rb[i] = b->v[(x >> 33) % (uint64_t)b->n];
        }
        double ma = lg_median(ra, a->n), mb = lg_median(rb, b->n);
        ch[r] = ma > 0 ? mb / ma - 1 : 0;
    }
    if (!rc) {
        qsort(ch, R, sizeof *ch, lg_cmp_double);
        ci[0] = ch[(int)(0.025 * R)];
        ci[1] = ch[(int)(0.975 * R) - 1];
    }
    free(ch); free(ra); free(rb);
    return rc;
}

int lg_compare(lg_run A, lg_run B, double tol, lg_cmp_row *rows) {
    int nr = 0;
    for (int st = 0; st < LG_CMP_STAGES; st++)
        for (int m = 0; m < LG_CMP_METRICS; m++) {
            lg_samples *a = &A[st][m], *b = &B[st][m];
            if (a->n < 2 || b->n < 2) continue;
            lg_cmp_row *r = &rows[nr++];
            r->stage = st;
            r->metric = m;
            qsort(a->v, (size_t)a->n, sizeof *a->v, lg_cmp_double);
            qsort(b->v, (size_t)b->n, sizeof *b->v, lg_cmp_double);
            r->med_a = lg_median(a->v, a->n);
            r->med_b = lg_median(b->v, b->n);
            r->p95_a = lg_pct(a->v, a->n, 95);
            r->p95_b = lg_pct(b->v, b->n, 95);
            r->change = r->med_a > 0 ? r->med_b / r->med_a - 1 : 0;
            if (bootstrap(a, b, (uint64_t)(st * 7 + m + 1), r->ci) ||
                mann_whitney(a, b, &r->p, &r->delta))
                return -1;
        }
    /* Holm: the k-th smallest p-value times (nr - k), kept monotone */
    int order[LG_CMP_STAGES * LG_CMP_METRICS];
    for (int i = 0; i < nr; i++) order[i] = i;
    for (int i = 1; i < nr; i++)
        for (int j = i; j > 0 && rows[order[j]].p < rows[order[j - 1]].p; j--) {
            int t = order[j]; order[j] = order[j - 1]; order[j - 1] = t;
        }
    double run_max = 0;
    for (int k = 0; k < nr; k++) {
        double h = rows[order[k]].p * (nr - k);
        if (h > 1) h = 1;
        if (h < run_max) h = run_max;
        run_max = h;
        rows[order[k]].holm = h;
    }
    for (int i = 0; i < nr; i++) {
        lg_cmp_row *r = &rows[i];
        r->verdict = r->holm < 0.01 && r->change > tol ? "regressed"
                   : r->holm < 0.01 && r->change < -tol ? "improved" : "no significant change";
    }
    return nr;
}
