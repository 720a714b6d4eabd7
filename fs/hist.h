/* Log-linear latency histograms in the HdrHistogram manner, for values in
 * microseconds.  Values below 256 have a bucket each; above, every power of
 * two is split into 128 equal sub-buckets, so a bucket is at most 1/128
 * (0.78%) of its values wide.  Memory is fixed (no allocation on record)
 * and hist_record() is lock-free (relaxed atomics): many threads may
 * record while another reads or snapshots.  Values at or above
 * HIST_MAX_VALUE (2^36 us, about 19 hours) share one overflow bucket;
 * sum, min and max stay exact. */
#ifndef LLMFS_HIST_H
#define LLMFS_HIST_H
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define HIST_SUB_BITS   7                         /* 128 sub-buckets per octave */
#define HIST_LINEAR     (2u << HIST_SUB_BITS)     /* values < 256 are exact */
#define HIST_MAX_EXP    36                        /* values < 2^36 resolved */
/* resolved buckets, then one overflow bucket [2^36, UINT64_MAX] */
#define HIST_BUCKETS    (HIST_LINEAR + (HIST_MAX_EXP - HIST_SUB_BITS - 1) * (1u << HIST_SUB_BITS) + 1)
#define HIST_MAX_VALUE  (UINT64_C(1) << HIST_MAX_EXP)

typedef struct hist {
    _Atomic uint64_t counts[HIST_BUCKETS];  /* per bucket */
    _Atomic uint64_t count;                 /* values recorded */
    _Atomic uint64_t sum;                   /* of the values (exact, unclamped) */
    _Atomic uint64_t min;                   /* UINT64_MAX while empty */
    _Atomic uint64_t max;                   /* 0 while empty */
} hist;

/* A plain copy for rendering: every figure of one file comes from one
 * snapshot.  About 30 KB: keep it on the heap or in a handle, not on a
 * small stack. */
typedef struct hist_snap {
    uint64_t counts[HIST_BUCKETS];
    uint64_t count;   /* == sum of counts[] (recomputed by hist_snapshot) */
    uint64_t sum, min, max;
} hist_snap;

void hist_init(hist *h);
void hist_release(hist *h);       /* nothing to free; for symmetry */
hist *hist_new(void);             /* NULL if out of memory; caller hist_free()s */
void hist_free(hist *h);          /* NULL is a no-op */

/* Records one value (microseconds).  Lock-free, never allocates. */
void hist_record(hist *h, uint64_t value);

/* Copies h into s; concurrent records may land on either side, but s is
 * self-consistent (count is the sum of its buckets; min/max are widened to
 * cover the buckets if a record raced). */
void hist_snapshot(const hist *h, hist_snap *s);

/* Bucket geometry: the index of a value and the bucket's value range
 * [lo, hi] (inclusive; every value in it shares the index). */
size_t hist_bucket_index(uint64_t value);
void hist_bucket_range(size_t index, uint64_t *lo, uint64_t *hi);

/* Queries on a snapshot.  hist_snap_percentile(s, 99.9): the value at that
 * rank (rank = ceil(p/100 * count), at least 1), reported as the highest
 * value of its bucket (HdrHistogram's highestEquivalentValue), clamped to
 * the recorded max: never below the true value and at most 1/128 above it.
 * 0 when empty.  p is clamped to [0, 100]; p = 0 gives min. */
uint64_t hist_snap_percentile(const hist_snap *s, double p);
/* Adds the values of s to into (an empty into: all zero). */
void hist_snap_add(hist_snap *into, const hist_snap *s);
double hist_snap_mean(const hist_snap *s);   /* 0 when empty */

/* The same on a live histogram (each call reads the atomics once; use a
 * snapshot when several figures must agree). */
uint64_t hist_count(const hist *h);
uint64_t hist_sum(const hist *h);
uint64_t hist_min(const hist *h);            /* 0 when empty */
uint64_t hist_max(const hist *h);
double hist_mean(const hist *h);
uint64_t hist_percentile(const hist *h, double p);

/* Iteration over non-empty buckets in increasing order:
 *   hist_iter it = {0};
 *   while (hist_iter_next(s, &it)) use it.lo, it.hi, it.count, it.cumulative; */
typedef struct hist_iter {
    size_t next;          /* bucket index to look at next (start at 0) */
    uint64_t lo, hi;      /* this bucket's value range, inclusive */
    uint64_t count;       /* values in this bucket */
    uint64_t cumulative;  /* values in this bucket and all below */
} hist_iter;
int hist_iter_next(const hist_snap *s, hist_iter *it);

/* Cumulative counts for fixed Prometheus boundaries: out[i] = values <=
 * le_seconds[i] (a +Inf boundary gives count).  le must be ascending.  A
 * value counts under le when its bucket starts at or below le: values equal
 * to le always count, and so may values up to 1/128 above it (never one
 * below it is missed).  Returns 0 or -EINVAL (le not ascending or NaN). */
int hist_cumulative_le(const hist_snap *s, const double *le_seconds, size_t n, uint64_t *out);

/* Default boundaries in seconds (vLLM's latency buckets, with sub-
 * millisecond ones added for FUSE op times); no +Inf entry. */
extern const double hist_default_le[];
extern const size_t hist_default_le_count;
#endif
