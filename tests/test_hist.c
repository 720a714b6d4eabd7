/* Tests for fs/hist.c: bucket geometry, percentiles against a sorted-array
 * reference on several distributions (within the 1/128 precision bound),
 * Prometheus cumulative counts, iteration, and concurrent recording. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>

#include "fs/hist.h"
#include "tests/harness.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng(void)
{   /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}
static double unif(void) { return ((rng() >> 11) + 0.5) / 9007199254740992.0; }

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_geometry(void)
{
    size_t prev = 0;
    for (uint64_t v = 0; v < (1u << 21); v++) {
        size_t i = hist_bucket_index(v);
        uint64_t lo, hi;
        hist_bucket_range(i, &lo, &hi);
        if (v && i != prev && i != prev + 1)
            CHECKF(0, "index jumps at %llu", (unsigned long long)v);
        prev = i;
        if (!(lo <= v && v <= hi)) {
            CHECKF(0, "v %llu outside [%llu, %llu]", (unsigned long long)v,
                   (unsigned long long)lo, (unsigned long long)hi);
            break;
        }
        if (v < 256)
            CHECK(lo == v && hi == v);
        else if ((hi - lo + 1) * 128 > lo) {
            CHECKF(0, "bucket [%llu, %llu] wider than 1/128", (unsigned long long)lo,
                   (unsigned long long)hi);
            break;
        }
    }
    for (int k = 0; k < 100000; k++) {
        uint64_t v = rng() >> (rng() % 64);
        size_t i = hist_bucket_index(v);
        uint64_t lo, hi;
        hist_bucket_range(i, &lo, &hi);
        CHECK(i < HIST_BUCKETS);
        if (v < HIST_MAX_VALUE)
            CHECK(lo <= v && v <= hi && (v < 256 || (hi - lo + 1) * 128 <= lo));
        else
            CHECK(i == HIST_BUCKETS - 1);
    }
    /* Consecutive buckets tile the range. */
    for (size_t i = 1; i < HIST_BUCKETS; i++) {
        uint64_t lo, hi, plo, phi;
        hist_bucket_range(i - 1, &plo, &phi);
        hist_bucket_range(i, &lo, &hi);
        if (lo != phi + 1 || (i == HIST_BUCKETS - 1 && (lo != HIST_MAX_VALUE || hi != UINT64_MAX))) {
            CHECKF(0, "gap between buckets %zu and %zu", i - 1, i);
            break;
        }
    }
}

enum dist { UNIFORM, EXPONENTIAL, LOGNORMAL, PARETO, SMALL, CONSTANT, BIMODAL };
static const char *dist_name[] = {"uniform", "exponential", "lognormal", "pareto",
                                  "small", "constant", "bimodal"};

static uint64_t draw(enum dist d)
{
    switch (d) {
    case UNIFORM: return rng() % 1000000;
    case EXPONENTIAL: return (uint64_t)(-log(unif()) * 5000.0);
    case LOGNORMAL: {
        double z = sqrt(-2 * log(unif())) * cos(2 * M_PI * unif());
        return (uint64_t)exp(9.0 + 2.0 * z);
    }
    case PARETO: {
        double x = 100.0 / pow(unif(), 1.0 / 1.1);
        return x > 3.6e9 ? 3600000000ull : (uint64_t)x;
    }
    case SMALL: return rng() % 300;
    case CONSTANT: return 123456;
    case BIMODAL: return (rng() & 1) ? 200 + rng() % 50 : 2000000 + rng() % 100000;
    }
    return 0;
}

/* The nearest-rank reference: sorted[ceil(p/100 * n) - 1]. */
static uint64_t ref_percentile(const uint64_t *sorted, size_t n, double p)
{
    if (p <= 0)
        return sorted[0];
    long double r = (long double)p * n / 100.0L;
    size_t k = (size_t)ceill(r - 1e-9L);
    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    return sorted[k - 1];
}

static hist_snap snap;   /* 30 KB: not on the stack */

static void test_percentiles(void)
{
    static const double ps[] = {0, 0.1, 1, 10, 25, 50, 75, 90, 95, 99, 99.9, 99.99, 100};
    static const size_t sizes[] = {1, 7, 1000, 100000};
    for (int d = UNIFORM; d <= BIMODAL; d++) {
        for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
            size_t n = sizes[si];
            uint64_t *v = malloc(n * sizeof *v), sum = 0;
            hist *h = hist_new();
            CHECK(v && h);
            if (!v || !h)
                return;
            for (size_t i = 0; i < n; i++) {
                v[i] = draw((enum dist)d);
                sum += v[i];
                hist_record(h, v[i]);
            }
            qsort(v, n, sizeof *v, cmp_u64);
            hist_snapshot(h, &snap);
            CHECK(snap.count == n && hist_count(h) == n);
            CHECK(snap.sum == sum && hist_sum(h) == sum);
            CHECK(snap.min == v[0] && hist_min(h) == v[0]);
            CHECK(snap.max == v[n - 1] && hist_max(h) == v[n - 1]);
            CHECK(fabs(hist_snap_mean(&snap) - (double)sum / n) < 1e-6 * ((double)sum / n + 1));
            CHECK(hist_snap_mean(&snap) == hist_mean(h));
            for (size_t pi = 0; pi < sizeof ps / sizeof *ps; pi++) {
                uint64_t want = ref_percentile(v, n, ps[pi]);
                uint64_t got = hist_snap_percentile(&snap, ps[pi]);
                CHECKF(got >= want && got - want <= want / 128 && got <= v[n - 1],
                       "%s n=%zu p%g: got %llu, reference %llu", dist_name[d], n, ps[pi],
                       (unsigned long long)got, (unsigned long long)want);
                CHECK(hist_percentile(h, ps[pi]) == got);
            }
            /* Iteration: increasing, non-empty, cumulative ends at count. */
            hist_iter it = {0};
            uint64_t prev_hi = 0, total = 0;
            int first = 1;
            while (hist_iter_next(&snap, &it)) {
                CHECK(it.count > 0);
                CHECK(first || it.lo > prev_hi);
                first = 0;
                prev_hi = it.hi;
                total += it.count;
                CHECK(it.cumulative == total);
            }
            CHECK(total == n);
            /* Prometheus cumulative counts against the exact ones. */
            uint64_t cum[64];
            size_t nle = hist_default_le_count;
            CHECK(hist_cumulative_le(&snap, hist_default_le, nle, cum) == 0);
            for (size_t b = 0; b < nle; b++) {
                double le_us = floor(hist_default_le[b] * 1e6 + 1e-6);
                size_t exact = 0, loose = 0;
                for (size_t i = 0; i < n; i++) {
                    exact += (double)v[i] <= le_us;
                    loose += (double)v[i] <= le_us + le_us / 128.0;
                }
                CHECKF(cum[b] >= exact && cum[b] <= loose, "%s le=%g: %llu not in [%zu, %zu]",
                       dist_name[d], hist_default_le[b], (unsigned long long)cum[b], exact,
                       loose);
                CHECK(b == 0 || cum[b] >= cum[b - 1]);
            }
            hist_free(h);
            free(v);
        }
    }
}

static void test_edges(void)
{
    hist h;
    hist_init(&h);
    hist_snapshot(&h, &snap);
    CHECK(snap.count == 0 && snap.min == 0 && snap.max == 0);
    CHECK(hist_snap_percentile(&snap, 99) == 0 && hist_snap_mean(&snap) == 0.0);
    CHECK(hist_percentile(&h, 50) == 0 && hist_min(&h) == 0 && hist_max(&h) == 0);
    uint64_t cum[3];
    const double le[] = {0.001, 1, INFINITY};
    CHECK(hist_cumulative_le(&snap, le, 3, cum) == 0 && cum[2] == 0);
    /* Exactly 1 ms counts under le=0.001. */
    hist_record(&h, 1000);
    hist_record(&h, 0);
    hist_record(&h, UINT64_C(1) << 40);   /* beyond the resolved range: top bucket */
    hist_snapshot(&h, &snap);
    CHECK(hist_cumulative_le(&snap, le, 3, cum) == 0);
    CHECK(cum[0] == 2 && cum[1] == 2 && cum[2] == 3);
    CHECK(snap.max == (UINT64_C(1) << 40) && snap.min == 0);
    CHECK(hist_snap_percentile(&snap, 100) == (UINT64_C(1) << 40));
    CHECK(hist_snap_percentile(&snap, 0) == 0);
    CHECK(hist_snap_percentile(&snap, 50) == 1003);   /* [1000, 1003]'s highest value */
    const double bad[] = {1, 0.5};
    CHECK(hist_cumulative_le(&snap, bad, 2, cum) == -EINVAL);
    const double nan[] = {NAN};
    CHECK(hist_cumulative_le(&snap, nan, 1, cum) == -EINVAL);
    hist_release(&h);
    hist_free(NULL);
    for (size_t i = 1; i < hist_default_le_count; i++)
        CHECK(hist_default_le[i] > hist_default_le[i - 1]);
}

#define N_THREADS 4
#define PER_THREAD 500000

static hist *shared_h;

static void *recorder(void *arg)
{
    uint64_t x = (uint64_t)(uintptr_t)arg * 7919 + 1;
    for (int i = 0; i < PER_THREAD; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        hist_record(shared_h, (x >> 40) % 5000000);
    }
    return NULL;
}

static void test_concurrent(void)
{
    shared_h = hist_new();
    pthread_t t[N_THREADS];
    for (int i = 0; i < N_THREADS; i++)
        pthread_create(&t[i], NULL, recorder, (void *)(uintptr_t)i);
    /* Snapshots taken while recording are self-consistent. */
    for (int k = 0; k < 20; k++) {
        hist_snapshot(shared_h, &snap);
        uint64_t n = 0;
        for (size_t i = 0; i < HIST_BUCKETS; i++)
            n += snap.counts[i];
        CHECK(n == snap.count);
        if (snap.count)
            CHECK(snap.min <= hist_snap_percentile(&snap, 50) &&
                  hist_snap_percentile(&snap, 50) <= snap.max);
    }
    for (int i = 0; i < N_THREADS; i++)
        pthread_join(t[i], NULL);
    /* Recompute the exact sum, min and max serially. */
    uint64_t sum = 0, mn = UINT64_MAX, mx = 0;
    for (int th = 0; th < N_THREADS; th++) {
        uint64_t x = (uint64_t)th * 7919 + 1;
        for (int i = 0; i < PER_THREAD; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            uint64_t v = (x >> 40) % 5000000;
            sum += v;
            mn = v < mn ? v : mn;
            mx = v > mx ? v : mx;
        }
    }
    hist_snapshot(shared_h, &snap);
    CHECK(snap.count == (uint64_t)N_THREADS * PER_THREAD);
    CHECK(hist_count(shared_h) == (uint64_t)N_THREADS * PER_THREAD);
    CHECK(snap.sum == sum && snap.min == mn && snap.max == mx);
    hist_free(shared_h);
}

int main(void)
{
    TEST("hist bucket geometry", test_geometry);
    TEST("hist percentiles vs sorted reference", test_percentiles);
    TEST("hist edges", test_edges);
    TEST("hist concurrent recording", test_concurrent);
    TEST_EXIT();
}
