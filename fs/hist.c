/* Log-linear histograms (HdrHistogram's layout with 2 significant binary
 * digits' worth of sub-buckets: 128 per power of two above 256).  Records
 * are lock-free relaxed atomic increments; readers take a snapshot and do
 * all arithmetic on it, so one rendering never mixes two moments. */
#include "fs/hist.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SUB_COUNT (1u << HIST_SUB_BITS)   /* sub-buckets per octave */

const double hist_default_le[] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08,
    0.1,    0.25,    0.5,    0.75,  1.0,    2.5,   5.0,  7.5,  10.0, 20.0, 40.0,
    80.0,   160.0,   640.0,  2560.0,
};
const size_t hist_default_le_count = sizeof hist_default_le / sizeof hist_default_le[0];

size_t hist_bucket_index(uint64_t v)
{
    if (v < HIST_LINEAR)
        return (size_t)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v);   /* 2^e <= v < 2^(e+1), e >= 8 */
    if (e >= HIST_MAX_EXP)
        return HIST_BUCKETS - 1;
    unsigned shift = e - HIST_SUB_BITS;
    size_t sub = (size_t)(v >> shift);                  /* [128, 255] */
    return HIST_LINEAR + (size_t)(e - HIST_SUB_BITS - 1) * SUB_COUNT + (sub - SUB_COUNT);
}

void hist_bucket_range(size_t i, uint64_t *lo, uint64_t *hi)
{
    if (i < HIST_LINEAR) {
        *lo = *hi = i;
        return;
    }
    if (i >= HIST_BUCKETS - 1) {   /* the overflow bucket */
        *lo = HIST_MAX_VALUE;
        *hi = UINT64_MAX;
        return;
    }
    size_t j = i - HIST_LINEAR;
    unsigned e = (unsigned)(j / SUB_COUNT) + HIST_SUB_BITS + 1;
    uint64_t sub = SUB_COUNT + j % SUB_COUNT;
    unsigned shift = e - HIST_SUB_BITS;
    *lo = sub << shift;
    *hi = ((sub + 1) << shift) - 1;
}

void hist_init(hist *h)
{
    for (size_t i = 0; i < HIST_BUCKETS; i++)
        atomic_init(&h->counts[i], 0);
    atomic_init(&h->count, 0);
    atomic_init(&h->sum, 0);
    atomic_init(&h->min, UINT64_MAX);
    atomic_init(&h->max, 0);
}

void hist_release(hist *h)
{
    (void)h;
}

hist *hist_new(void)
{
    hist *h = malloc(sizeof *h);
    if (h)
        hist_init(h);
    return h;
}

void hist_free(hist *h)
{
    if (!h)
        return;
    hist_release(h);
    free(h);
}

void hist_record(hist *h, uint64_t v)
{
    uint64_t cur = atomic_load_explicit(&h->min, memory_order_relaxed);
    while (v < cur && !atomic_compare_exchange_weak_explicit(&h->min, &cur, v,
                                                             memory_order_relaxed,
                                                             memory_order_relaxed))
        ;
    cur = atomic_load_explicit(&h->max, memory_order_relaxed);
    while (v > cur && !atomic_compare_exchange_weak_explicit(&h->max, &cur, v,
                                                             memory_order_relaxed,
                                                             memory_order_relaxed))
        ;
    atomic_fetch_add_explicit(&h->counts[hist_bucket_index(v)], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum, v, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
}

void hist_snapshot(const hist *h, hist_snap *s)
{
    uint64_t n = 0;
    size_t first = HIST_BUCKETS, last = 0;
    for (size_t i = 0; i < HIST_BUCKETS; i++) {
        uint64_t c = atomic_load_explicit(&h->counts[i], memory_order_relaxed);
        s->counts[i] = c;
        if (c) {
            n += c;
            if (first == HIST_BUCKETS)
                first = i;
            last = i;
        }
    }
    s->count = n;
    s->sum = atomic_load_explicit(&h->sum, memory_order_relaxed);
    s->min = atomic_load_explicit(&h->min, memory_order_relaxed);
    s->max = atomic_load_explicit(&h->max, memory_order_relaxed);
    if (n == 0) {
        s->min = s->max = s->sum = 0;
        return;
    }
    /* A record that raced may have bumped a bucket before min/max became
     * visible here: keep min and max inside the occupied buckets. */
    uint64_t lo, hi;
    hist_bucket_range(first, &lo, &hi);
    if (s->min > hi)
        s->min = lo;
    hist_bucket_range(last, &lo, &hi);
    if (s->max < lo)
        s->max = lo;
}

/* The rank (1-based) of percentile p among n values: ceil(p/100 * n),
 * forgiving the last-ulp error of p/100 (99.9% of 1000 is rank 999). */
static uint64_t rank_of(double p, uint64_t n)
{
    if (!(p > 0.0))
        return 1;
    if (p >= 100.0)
        return n;
    double r = p / 100.0 * (double)n;
    uint64_t k = (uint64_t)ceil(r * (1.0 - 1e-14));
    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    return k;
}

static uint64_t clamp_result(size_t i, uint64_t max)
{
    uint64_t lo, hi;
    hist_bucket_range(i, &lo, &hi);
    return hi < max ? hi : max;
}

uint64_t hist_snap_percentile(const hist_snap *s, double p)
{
    if (s->count == 0)
        return 0;
    if (!(p > 0.0))
        return s->min;
    uint64_t rank = rank_of(p, s->count), cum = 0;
    for (size_t i = 0; i < HIST_BUCKETS; i++) {
        cum += s->counts[i];
        if (cum >= rank)
            return clamp_result(i, s->max);
    }
    return s->max;
}

double hist_snap_mean(const hist_snap *s)
{
    return s->count ? (double)s->sum / (double)s->count : 0.0;
}

uint64_t hist_count(const hist *h)
{
    return atomic_load_explicit(&h->count, memory_order_relaxed);
}

uint64_t hist_sum(const hist *h)
{
    return atomic_load_explicit(&h->sum, memory_order_relaxed);
}

uint64_t hist_min(const hist *h)
{
    uint64_t m = atomic_load_explicit(&h->min, memory_order_relaxed);
    return m == UINT64_MAX ? 0 : m;
}

uint64_t hist_max(const hist *h)
{
    return atomic_load_explicit(&h->max, memory_order_relaxed);
}

double hist_mean(const hist *h)
{
    uint64_t n = hist_count(h);
    return n ? (double)hist_sum(h) / (double)n : 0.0;
}

uint64_t hist_percentile(const hist *h, double p)
{
    /* Two passes over the live counts: they only grow, so the second pass
     * always reaches the rank computed from the first. */
    uint64_t n = 0;
    for (size_t i = 0; i < HIST_BUCKETS; i++)
        n += atomic_load_explicit(&h->counts[i], memory_order_relaxed);
    if (n == 0)
        return 0;
    if (!(p > 0.0))
        return hist_min(h);
    uint64_t rank = rank_of(p, n), cum = 0, max = hist_max(h);
    for (size_t i = 0; i < HIST_BUCKETS; i++) {
        cum += atomic_load_explicit(&h->counts[i], memory_order_relaxed);
        if (cum >= rank) {
            uint64_t lo, hi;
            hist_bucket_range(i, &lo, &hi);
            return max >= lo ? (hi < max ? hi : max) : hi;
        }
    }
    return max;
}

int hist_iter_next(const hist_snap *s, hist_iter *it)
{
    for (size_t i = it->next; i < HIST_BUCKETS; i++) {
        if (!s->counts[i])
            continue;
        hist_bucket_range(i, &it->lo, &it->hi);
        it->count = s->counts[i];
        it->cumulative += s->counts[i];
        it->next = i + 1;
        return 1;
    }
    it->next = HIST_BUCKETS;
    it->count = 0;
    return 0;
}

int hist_cumulative_le(const hist_snap *s, const double *le, size_t n, uint64_t *out)
{
    for (size_t i = 0; i < n; i++)
        if (isnan(le[i]) || (i && !(le[i] > le[i - 1])))
            return -EINVAL;
    size_t b = 0;          /* next bucket to add */
    uint64_t cum = 0;
    for (size_t i = 0; i < n; i++) {
        if (le[i] < 0.0) {
            out[i] = 0;
            continue;
        }
        size_t last;       /* highest bucket counted under le[i] */
        double us = floor(le[i] * 1e6 + 1e-6);
        if (isinf(le[i]) || us >= (double)HIST_MAX_VALUE)
            last = HIST_BUCKETS - 1;
        else
            last = hist_bucket_index((uint64_t)us);
        for (; b <= last; b++)
            cum += s->counts[b];
        out[i] = cum;
    }
    return 0;
}

void hist_snap_add(hist_snap *into, const hist_snap *s)
{
    if (!s->count)
        return;
    for (size_t i = 0; i < HIST_BUCKETS; i++)
        into->counts[i] += s->counts[i];
    if (!into->count || s->min < into->min)
        into->min = s->min;
    if (s->max > into->max)
        into->max = s->max;
    into->count += s->count;
    into->sum += s->sum;
}
