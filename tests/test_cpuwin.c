/* Tests for fs/cpuwin.c: the figure over a young ring, the oldest sample
 * of the last minute as the start, samples older than a minute left out,
 * and the window's span (the last 50 to 60 s, or exactly back to the
 * oldest sample of the minute when that is at most 50 s old) for steady
 * and for random sample times against a list of every sample. */
#include <stdint.h>

#include "fs/cpuwin.h"
#include "tests/harness.h"

#define S(x) ((int64_t)((x) * 1e9 + 0.5))      /* seconds (>= 0) to ns */

static void add(cpuwin *w, double t_s, double cpu_s, uint64_t tokens) {
    cpuwin_sample s = {S(t_s), cpu_s, tokens};
    cpuwin_add(w, &s);
}

static double at(const cpuwin *w, double t_s, double cpu_s, uint64_t tokens) {
    cpuwin_sample now = {S(t_s), cpu_s, tokens};
    return cpuwin_per_1k(w, &now);
}

static int near(double a, double b) { return a > b - 1e-9 && a < b + 1e-9; }

static void test_figure(void) {
    cpuwin w;
    cpuwin_init(&w);
    CHECK(at(&w, 5, 1, 100) == 0);                  /* no sample: no window */
    add(&w, 1000, 2, 0);                            /* the mount */
    CHECK(at(&w, 1000.5, 3, 0) == 0);               /* no tokens */
    CHECKF(near(at(&w, 1030, 5, 1000), 3), "%g", at(&w, 1030, 5, 1000));
    add(&w, 1020, 4, 500);
    CHECK(near(at(&w, 1030, 5, 1000), 3));          /* still from the mount */
    CHECK(at(&w, 1030, 1, 1000) == 0);              /* CPU going back counts as none */
}

/* Samples 58 s and 30 s old: the window starts at the 58 s one; a sample
 * 61 s old is left out. */
static void test_oldest(void) {
    cpuwin w;
    cpuwin_init(&w);
    add(&w, 97, 0, 0);
    add(&w, 100, 1, 100);
    add(&w, 128, 3, 200);
    CHECKF(near(at(&w, 158, 4, 400), 10), "%g", at(&w, 158, 4, 400));
    cpuwin v;
    cpuwin_init(&v);
    add(&v, 0, 0, 0);
    add(&v, 50, 5, 100);
    CHECK(near(at(&v, 70, 6, 200), 10));
    CHECK(near(at(&v, 60, 6, 200), 30));            /* exactly a minute old still counts */
}

/* The window's span in seconds at now_s: with no CPU in the ring and 1 at
 * now, and tokens = the time in ms, the figure is 1 / span. */
static double span(const cpuwin *w, double now_s) {
    double f = at(w, now_s, 1, (uint64_t)(now_s * 1000 + 0.5));
    return f > 0 ? 1 / f : 0;
}

static void test_span_steady(void) {
    cpuwin w;
    cpuwin_init(&w);
    double lo = 1e9, hi = 0;
    for (int i = 0; i <= 3000; i++) {               /* a sample every 0.1 s */
        double t = 100 + i * 0.1;
        add(&w, t, 0, (uint64_t)(t * 1000 + 0.5));
        if (t < 170) continue;
        double sp = span(&w, t + 0.05);
        lo = sp < lo ? sp : lo;
        hi = sp > hi ? sp : hi;
    }
    CHECKF(lo > 50 - 1e-6 && hi <= 60 + 1e-6, "span %g..%g s", lo, hi);
}

static void test_span_random(void) {
    static double all[20000];
    int n = 0, bad = 0;
    uint64_t x = 12345;
    cpuwin w;
    cpuwin_init(&w);
    double t = 1000;
    while (n < 20000) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        double u = (double)(x >> 11) / 9007199254740992.0;
        t += u < 0.8 ? u * 2 : (u - 0.8) * 200;     /* mostly short gaps, some up to 40 s */
        t = (int64_t)(t * 1000) / 1000.0;           /* whole ms: tokens are exact */
        all[n++] = t;
        add(&w, t, 0, (uint64_t)(t * 1000 + 0.5));
        for (int j = 0; j < 3; j++) {
            double now = t + j * 7.3;
            /* the reference: the oldest sample at most 60 s old */
            int i = n - 1;
            while (i > 0 && now - all[i - 1] <= 60) i--;
            double ref = now - all[i];
            double sp = span(&w, now);
            if (ref == 0) { if (sp != 0) bad++; continue; }
            int good = ref <= 50 ? sp > ref - 1e-6 && sp < ref + 1e-6
                                 : sp > 50 && sp <= ref + 1e-6;
            if (!good && bad++ < 5) printf("#   now %.3f: span %.3f, oldest %.3f\n", now, sp, ref);
        }
    }
    CHECKF(bad == 0, "%d spans off", bad);
}

int main(void) {
    TEST("cpuwin figure from the first sample", test_figure);
    TEST("cpuwin starts at the oldest sample of the last minute", test_oldest);
    TEST("cpuwin span is 50..60 s with steady samples", test_span_steady);
    TEST("cpuwin span against every sample (random times)", test_span_random);
    TEST_EXIT();
}
