/* SVG charts (loadgen/svg.c): CDFs on a log axis, overlaid histograms, an
 * over-time figure with stage marks, and empty or degenerate panels are
 * written as files with no NaN or inf in them, their lines inside the plot
 * area and thinned, their strings escaped; xmllint and rsvg-convert accept
 * every one (skipped when they are not installed).  SVG_OUT=DIR keeps the
 * figures there instead of in a temporary directory. */
#define _GNU_SOURCE   /* strcasestr */
#include "tests/harness.h"
#include "loadgen/svg.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];
static const char *written[16];   /* figure names, for the xmllint and rsvg checks */
static int n_written;

static const char *path_of(char *buf, size_t cap, const char *name) {
    snprintf(buf, cap, "%s/%s", dir, name);
    return buf;
}

/* Writes f as dir/name, frees f, and returns the file's text (caller
 * frees), or NULL (a failed check) if anything failed. */
static char *finish(svg_fig *f, const char *name) {
    char p[512];
    int ok = f && svg_fig_write(f, path_of(p, sizeof p, name)) == 0;
    CHECKF(ok, "%s: %s", name, strerror(errno));
    svg_fig_free(f);
    FILE *in = ok ? fopen(p, "r") : NULL;
    char *buf = in ? malloc(4 << 20) : NULL;
    size_t n = buf ? fread(buf, 1, (4 << 20) - 1, in) : 0;
    if (in) fclose(in);
    CHECKF(n > 0, "%s: nothing to read", name);
    if (!n) {
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    if (n_written < 16) written[n_written++] = name;
    CHECKF(!strcasestr(buf, "nan") && !strcasestr(buf, "inf"), "%s has a nan or inf", name);
    return buf;
}

static int count(const char *s, const char *what) {
    int n = 0;
    for (; (s = strstr(s, what)); s++) n++;
    return n;
}

typedef struct {
    double x, y, w, h;
} box;

/* The plot area of panel i (its frame rect); w = 0 if none. */
static box frame(const char *svg, int i) {
    char id[32];
    snprintf(id, sizeof id, "id=\"panel%d\"", i);
    box b = {0, 0, 0, 0};
    const char *p = strstr(svg, id);
    if (p && (p = strstr(p, "class=\"frame\"")))
        sscanf(p, "class=\"frame\" x=\"%lf\" y=\"%lf\" width=\"%lf\" height=\"%lf\"", &b.x, &b.y, &b.w,
               &b.h);
    return b;
}

/* Parses the points of the k-th polyline of panel i into xy (room for
 * cap points); the count, or -1 if there is no such polyline. */
static long polyline(const char *svg, int i, int k, double *xy, long cap) {
    char id[32];
    snprintf(id, sizeof id, "id=\"panel%d\"", i);
    const char *p = strstr(svg, id), *end = p ? strstr(p, "class=\"frame\"") : NULL;
    for (int j = 0; p && j <= k; j++)
        if ((p = strstr(p + 1, "<polyline points=\"")) && p > end) p = NULL;
    if (!p) return -1;
    p += strlen("<polyline points=\"");
    long n = 0;
    double x, y;
    int used;
    while (n < cap && sscanf(p, "%lf,%lf%n", &x, &y, &used) == 2) {
        xy[2 * n] = x;
        xy[2 * n + 1] = y;
        n++;
        p += used;
        if (*p == ' ') p++;
    }
    return n;
}

/* Every point of xy within b (to the printed precision). */
static int inside(const double *xy, long n, box b) {
    for (long i = 0; i < n; i++)
        if (xy[2 * i] < b.x - 0.1 || xy[2 * i] > b.x + b.w + 0.1 || xy[2 * i + 1] < b.y - 0.1 ||
            xy[2 * i + 1] > b.y + b.h + 0.1)
            return 0;
    return 1;
}

static uint64_t rng = 42;
static double uniform(void) {   /* (0, 1) */
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return ((rng >> 11) + 0.5) / 9007199254740992.0;
}
static double lognormal(double median, double sigma) {
    double z = sqrt(-2 * log(uniform())) * cos(2 * M_PI * uniform());
    return median * exp(sigma * z);
}
static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#define N_CDF 100000

/* Two 100k-sample latency CDFs as step lines on a log axis. */
static void cdf(void) {
    static double base[N_CDF], cand[N_CDF], frac[N_CDF], xy[2 * 20000];
    for (int i = 0; i < N_CDF; i++) {
        base[i] = lognormal(40, 0.6);
        cand[i] = lognormal(55, 0.8);
        frac[i] = (i + 1.0) / N_CDF;
    }
    qsort(base, N_CDF, sizeof *base, cmp_double);
    qsort(cand, N_CDF, sizeof *cand, cmp_double);
    svg_fig *f = svg_fig_new("e2e latency: base against candidate", 1);
    svg_logx(f, 1);
    svg_labels(f, 0, "e2e latency (ms)", "fraction of requests");
    CHECK(svg_line(f, 0, "base", base, frac, N_CDF, 1) == 0);
    CHECK(svg_line(f, 0, "candidate", cand, frac, N_CDF, 1) == 0);
    char *s = finish(f, "cdf.svg");
    if (!s) return;
    box b = frame(s, 0);
    CHECK(b.w > 600 && b.h > 150);
    for (int k = 0; k < 2; k++) {
        long n = polyline(s, 0, k, xy, 20000);
        /* thinned to a few points a pixel column, all in the plot area */
        CHECKF(n > 200 && n < 4 * b.w, "%ld points", n);
        CHECK(inside(xy, n, b));
        /* a CDF's steps: x never goes back, y (in pixels, downwards) never down;
         * it ends at the top, at 1 */
        int mono = 1;
        for (long i = 1; i < n; i++) mono &= xy[2 * i] >= xy[2 * i - 2] && xy[2 * i + 1] <= xy[2 * i - 1];
        CHECK(mono);
        CHECKF(n > 0 && fabs(xy[2 * n - 1] - b.y) < 0.2, "ends at y %g, top %g", xy[2 * n - 1], b.y);
    }
    CHECK(count(s, "<polyline") == 2 && strlen(s) < 200000);
    /* ticks at the decades; the legend names both */
    CHECK(strstr(s, ">10</text>") && strstr(s, ">100</text>"));
    CHECK(strstr(s, ">base</text>") && strstr(s, ">candidate</text>"));
    CHECK(strstr(s, "#0072B2") && strstr(s, "#D55E00"));
    free(s);
}

/* Two overlaid histograms of 40 bins. */
static void histogram(void) {
    double lo[40], hi[40], h1[40], h2[40];
    for (int i = 0; i < 40; i++) {
        lo[i] = i * 5;
        hi[i] = lo[i] + 5;
        h1[i] = 1000 * exp(-pow((i - 12) / 5.0, 2));
        h2[i] = 700 * exp(-pow((i - 18) / 7.0, 2));
    }
    svg_fig *f = svg_fig_new("TTFT histogram", 1);
    svg_labels(f, 0, "TTFT (ms)", "requests");
    CHECK(svg_bars(f, 0, "base", lo, hi, h1, 40) == 0);
    CHECK(svg_bars(f, 0, "candidate", lo, hi, h2, 40) == 0);
    char *s = finish(f, "hist.svg");
    if (!s) return;
    /* one semi-transparent silhouette each, in two colours, both in the legend */
    CHECK(count(s, "<polygon") == 2 && count(s, "fill-opacity=\"0.35\"") == 4);
    CHECK(strstr(s, "fill=\"#0072B2\"") && strstr(s, "fill=\"#D55E00\""));
    /* x from 0 to 200 (the bins), y from 0 to 1000 (the highest bar) */
    CHECK(strstr(s, ">200</text>") && strstr(s, ">1000</text>") && !strstr(s, ">1200</text>"));
    free(s);
}

/* Arrival rate and throughput, p95 and CPU over 60 s, with stage boundaries. */
static void over_time(void) {
    enum { N = 600 };
    static double t[N], rate[N], tput[N], p95[N], cpu[N], xy[2 * 4000];
    for (int i = 0; i < N; i++) {
        t[i] = i * 0.1;
        double r = t[i] < 10 ? 2 : t[i] < 30 ? 1 + 7 * (t[i] - 10) / 20 : t[i] < 35 ? 20 : 4;
        rate[i] = r * (0.8 + 0.4 * uniform());
        tput[i] = fmin(r, 10) * (0.9 + 0.2 * uniform());
        p95[i] = 200 + (r > 10 ? 3000 : 40 * r) * (0.8 + 0.4 * uniform());
        cpu[i] = fmin(1.9, r / 8) + 0.05 * uniform();
    }
    svg_fig *f = svg_fig_new("ramp-and-spike over time", 3);
    svg_labels(f, 0, NULL, "per second");
    svg_labels(f, 1, NULL, "p95 e2e (ms)");
    svg_labels(f, 2, "time (s)", "daemon CPU (cores)");
    CHECK(svg_line(f, 0, "arrivals/s", t, rate, N, 0) == 0);
    CHECK(svg_line(f, 0, "completions/s", t, tput, N, 0) == 0);
    CHECK(svg_line(f, 1, "p95", t, p95, N, 0) == 0);
    CHECK(svg_line(f, 2, "CPU", t, cpu, N, 0) == 0);
    const double at[] = {0, 10, 30, 35};
    const char *name[] = {"steady", "ramp", "spike", "closed loop"};
    for (int i = 0; i < 4; i++) CHECK(svg_vmark(f, -1, at[i], name[i]) == 0);
    CHECK(svg_vmark(f, 1, 45, "SLA p95 breached") == 0);
    char *s = finish(f, "overtime.svg");
    if (!s) return;
    /* each stage mark is drawn in every panel, labelled once, above the first */
    CHECK(count(s, "stroke-dasharray") == 3 * 4 + 1);
    for (int i = 0; i < 4; i++) {
        char l[64];
        snprintf(l, sizeof l, ">%s</text>", name[i]);
        CHECKF(count(s, l) == 1, "%s", name[i]);
    }
    CHECK(count(s, ">SLA p95 breached</text>") == 1);
    const char *lab = strstr(s, ">ramp</text>"), *p1 = strstr(s, "id=\"panel1\"");
    CHECK(lab && p1 && lab < p1);
    /* one shared x axis (0 to 60), each panel's own y label, lines in their panels */
    CHECK(count(s, ">time (s)</text>") == 1 && count(s, ">60</text>") == 1);
    CHECK(strstr(s, ">p95 e2e (ms)</text>") && strstr(s, ">daemon CPU (cores)</text>"));
    for (int i = 0; i < 3; i++) {
        long n = polyline(s, i, 0, xy, 4000);
        box b = frame(s, i);
        CHECKF(n >= 100 && inside(xy, n, b), "panel %d: %ld points", i, n);
    }
    CHECK(frame(s, 0).y + frame(s, 0).h < frame(s, 1).y);
    free(s);
}

/* An empty panel, a single point, all-equal values, NaN and inf, a fixed
 * y range, and a log axis with only non-positive values. */
static void degenerate(void) {
    double one_x = 5, one_y = 3;
    double flat_x[] = {1, 2, 3, 4}, flat_y[] = {7, 7, 7, 7};
    double bad_x[] = {1, 2, NAN, 4, 5, 6, INFINITY, 8};
    double bad_y[] = {1, 4, 2, 3, 5, 2, 5, INFINITY};
    svg_fig *f = svg_fig_new("degenerate data", 5);
    CHECK(svg_line(f, 1, "one point", &one_x, &one_y, 1, 0) == 0);
    CHECK(svg_line(f, 2, "flat", flat_x, flat_y, 4, 1) == 0);
    CHECK(svg_line(f, 3, "broken", bad_x, bad_y, 8, 0) == 0);
    CHECK(svg_line(f, 4, "clipped", flat_x, bad_y, 4, 0) == 0);
    svg_yrange(f, 4, 1.5, 2.5);
    CHECK(svg_vmark(f, -1, NAN, "nowhere") == 0);   /* left out */
    CHECK(svg_line(f, 0, NULL, NULL, NULL, 0, 0) == 0);
    char *s = finish(f, "degenerate.svg");
    if (s) {
        CHECK(strstr(s, ">nowhere<") == NULL && count(s, "stroke-dasharray") == 0);
        CHECK(count(s, ">no data</text>") == 1);        /* panel 0: one series, empty */
        CHECK(count(s, "<circle") == 1);                 /* the single point */
        /* NaN breaks "broken" into (1,1)-(2,4) and (4,3)-(5,5)-(6,2); inf is skipped */
        CHECK(count(s, "<polyline") == 1 + 2 + 1);
        double xy[64];
        long n = polyline(s, 3, 0, xy, 32);
        CHECKF(n == 2 && inside(xy, n, frame(s, 3)), "%ld points", n);
        n = polyline(s, 2, 0, xy, 32);                   /* flat at 7: y 0..7 or more */
        CHECKF(n >= 2 && inside(xy, n, frame(s, 2)) && xy[1] == xy[2 * n - 1], "%ld", n);
        /* the fixed range 1.5..2.5 has ticks 1.6..2.4; the line leaves it, clipped */
        CHECK(strstr(s, ">2.4</text>") && strstr(s, ">1.6</text>") && !strstr(s, ">2.6</text>"));
        n = polyline(s, 4, 0, xy, 32);
        CHECKF(n == 4 && !inside(xy, n, frame(s, 4)), "%ld points", n);
        CHECK(count(s, "clip-path=\"url(#clip4)\"") == 1);
        free(s);
    }
    /* a log axis with nothing positive still has an axis, 1 to 10 */
    double neg_x[] = {0, -1, -5};
    f = svg_fig_new("nothing positive", 1);
    CHECK(f && svg_line(f, 0, "neg", neg_x, flat_y, 3, 0) == 0 && svg_vmark(f, -1, -3, "neg") == 0);
    svg_logx(f, 1);
    s = finish(f, "degenerate-log.svg");
    CHECK(s && strstr(s, ">1</text>") && strstr(s, ">10</text>") && !strstr(s, "<polyline"));
    CHECK(s && strstr(s, ">no data</text>"));
    free(s);
    /* nothing but an empty panel */
    f = svg_fig_new(NULL, 1);
    s = finish(f, "empty.svg");
    CHECK(s && strstr(s, ">no data</text>") && !strstr(s, "<title>"));
    free(s);
}

/* Markup in strings is escaped; control bytes and invalid UTF-8 dropped. */
static void escaping(void) {
    svg_fig *f = svg_fig_new("p95 <&>\"' \x01tail \xff\xc0\xaf end \xc3\xa9", 1);
    double x[] = {1, 2}, y[] = {1, 2};
    CHECK(svg_line(f, 0, "a<b>&c", x, y, 2, 0) == 0);
    svg_labels(f, 0, "x \"quoted\"", "y 'single'");
    CHECK(svg_vmark(f, -1, 1.5, "</text><script>") == 0);
    char *s = finish(f, "escape.svg");
    if (!s) return;
    CHECK(count(s, "p95 &lt;&amp;&gt;&quot;&apos; tail  end \xc3\xa9") == 2);   /* <title> and text */
    CHECK(strstr(s, ">a&lt;b&gt;&amp;c</text>") && strstr(s, ">x &quot;quoted&quot;</text>"));
    CHECK(strstr(s, "y &apos;single&apos;</text>") && strstr(s, "&lt;/text&gt;&lt;script&gt;"));
    CHECK(!strchr(s, '\x01') && !strchr(s, '\xff') && !strstr(s, "<script"));
    free(s);
}

/* A name keeps its colour in every panel; others take the next. */
static void colours(void) {
    svg_fig *f = svg_fig_new("TTFT and e2e", 2);
    double x[] = {1, 2, 3}, y[] = {0.2, 0.5, 1};
    const char *names[] = {"base", "candidate", "candidate", "base", "third"};
    for (int i = 0; i < 5; i++) CHECK(svg_line(f, i < 2 ? 0 : 1, names[i], x, y, 3, 1) == 0);
    char *s = finish(f, "colours.svg");
    if (!s) return;
    CHECK(count(s, "stroke=\"#0072B2\"") == 2 * 2);   /* base: two lines, two legend swatches */
    CHECK(count(s, "stroke=\"#D55E00\"") == 2 * 2);
    CHECK(count(s, "stroke=\"#009E73\"") == 2);       /* third */
    free(s);
}

static void errors(void) {
    errno = 0;
    CHECK(svg_fig_new("x", 0) == NULL && errno == EINVAL);
    svg_fig *f = svg_fig_new("x", 2);
    double v = 1;
    CHECK(f != NULL);
    CHECK(svg_line(f, 2, "x", &v, &v, 1, 0) == -1 && errno == EINVAL);
    CHECK(svg_bars(f, -1, "x", &v, &v, &v, 1) == -1 && errno == EINVAL);
    CHECK(svg_vmark(f, 5, 1, "x") == -1 && errno == EINVAL);
    CHECK(svg_line(f, 0, "x", NULL, &v, 1, 0) == -1 && errno == EINVAL);
    CHECK(svg_fig_write(f, "/nonexistent-dir/x.svg") == -1 && errno == ENOENT);
    svg_labels(f, 9, "x", "y");   /* ignored */
    svg_yrange(f, -1, 0, 1);
    svg_fig_free(f);
    svg_fig_free(NULL);
}

static int have(const char *tool) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", tool);
    return system(cmd) == 0;
}

static void xmllint_all(void) {
    char p[512], cmd[1200];
    for (int i = 0; i < n_written; i++) {
        snprintf(cmd, sizeof cmd, "xmllint --noout '%s'", path_of(p, sizeof p, written[i]));
        CHECKF(system(cmd) == 0, "%s", cmd);
    }
    CHECK(n_written >= 7);
}

static void rsvg_all(void) {
    char p[512], cmd[1200];
    for (int i = 0; i < n_written; i++) {
        path_of(p, sizeof p, written[i]);
        snprintf(cmd, sizeof cmd, "rsvg-convert -o '%s.png' '%s'", p, p);
        CHECKF(system(cmd) == 0, "%s", cmd);
        struct stat st;
        strcat(p, ".png");
        CHECKF(stat(p, &st) == 0 && st.st_size > 1000, "%s", p);
    }
}

int main(void) {
    const char *keep = getenv("SVG_OUT");
    if (keep && *keep) {
        snprintf(dir, sizeof dir, "%s", keep);
        mkdir(dir, 0777);
    } else {
        snprintf(dir, sizeof dir, "/tmp/llmfs-svg-XXXXXX");
        if (!mkdtemp(dir)) return 1;
    }
    TEST("svg: 100k-point CDFs on a log axis are thinned, monotone, inside the plot", cdf);
    TEST("svg: two overlaid histograms, semi-transparent, on nice axes", histogram);
    TEST("svg: three panels over time share x; stage marks in each, labelled once", over_time);
    TEST("svg: empty, single-point, flat, NaN/inf, clipped and log-without-data panels", degenerate);
    TEST("svg: strings are XML-escaped, control bytes and bad UTF-8 dropped", escaping);
    TEST("svg: a series name keeps its colour across panels", colours);
    TEST("svg: bad arguments and unwritable paths are errors", errors);
    if (have("xmllint"))
        TEST("svg: every figure is well-formed (xmllint --noout)", xmllint_all);
    else
        printf("ok - svg: every figure is well-formed # SKIP no xmllint\n");
    if (have("rsvg-convert"))
        TEST("svg: every figure renders to a PNG (rsvg-convert)", rsvg_all);
    else
        printf("ok - svg: every figure renders to a PNG # SKIP no rsvg-convert\n");
    if (!keep || !*keep) {   /* the temporary directory holds only files */
        DIR *d = opendir(dir);
        char p[512];
        for (struct dirent *e; d && (e = readdir(d));)
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) unlink(path_of(p, sizeof p, e->d_name));
        if (d) closedir(d);
        if (rmdir(dir)) return 1;
    }
    TEST_EXIT();
}
