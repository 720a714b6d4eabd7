/* Memory bandwidth as STREAM's triad measures it: a[i] = b[i] + s * c[i]
 * over three float arrays far larger than the caches, split across
 * THREADS threads, counting 12 bytes per element (two reads, one write),
 * as STREAM does.  The stores are non-temporal where AVX2 allows (as
 * STREAM's compiled loops are), so no write-allocate read is hidden in
 * the figure.  A decode step
 * reads every weight once, so this figure divided by the bytes a token
 * reads is the ceiling of decode tokens per second.
 * Usage: triad_bench [threads] [MiB per array]   (default 2, 256)
 * Prints the best of 7 passes: "triad_gb_s 41.3". */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    float *a, *b, *c;
    size_t lo, hi;
} part;

static void *triad(void *arg)
{
    part *p = arg;
    const float s = 3.0f;
    for (size_t i = p->lo; i < p->hi; i++)
        p->a[i] = p->b[i] + s * p->c[i];
    return NULL;
}

/* The same with streaming stores; slices start at multiples of 8. */
__attribute__((target("avx2"))) static void *triad_nt(void *arg)
{
    part *p = arg;
    const __m256 s = _mm256_set1_ps(3.0f);
    size_t i = p->lo;
    for (; i + 8 <= p->hi; i += 8)
        _mm256_stream_ps(p->a + i, _mm256_add_ps(_mm256_load_ps(p->b + i),
                                                 _mm256_mul_ps(s, _mm256_load_ps(p->c + i))));
    for (; i < p->hi; i++)
        p->a[i] = p->b[i] + 3.0f * p->c[i];
    _mm_sfence();
    return NULL;
}

static void *fill(void *arg)
{
    part *p = arg;
    for (size_t i = p->lo; i < p->hi; i++) {
        p->a[i] = 0.0f;
        p->b[i] = 1.0f;
        p->c[i] = 2.0f;
    }
    return NULL;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Runs fn over the arrays, each thread on its own slice (first touch by
 * the same thread, so the pages are local to it). */
static void run(void *(*fn)(void *), part *parts, int nt)
{
    pthread_t th[64];
    for (int t = 0; t < nt; t++)
        if (pthread_create(&th[t], NULL, fn, &parts[t])) {
            fprintf(stderr, "triad_bench: cannot start a thread\n");
            exit(1);
        }
    for (int t = 0; t < nt; t++)
        pthread_join(th[t], NULL);
}

int main(int argc, char **argv)
{
    int nt = argc > 1 ? atoi(argv[1]) : 2;
    size_t mib = argc > 2 ? (size_t)atol(argv[2]) : 256;
    if (nt < 1 || nt > 64 || mib < 1) {
        fprintf(stderr, "usage: triad_bench [threads 1..64] [MiB per array]\n");
        return 2;
    }
    size_t n = mib * 1024 * 1024 / sizeof(float);
    float *a = aligned_alloc(64, n * sizeof(float)), *b = aligned_alloc(64, n * sizeof(float));
    float *c = aligned_alloc(64, n * sizeof(float));
    if (!a || !b || !c) {
        fprintf(stderr, "triad_bench: out of memory\n");
        return 1;
    }
    part parts[64];
    for (int t = 0; t < nt; t++)
        parts[t] = (part){a, b, c, n * (size_t)t / (size_t)nt / 8 * 8,
                          t + 1 == nt ? n : n * (size_t)(t + 1) / (size_t)nt / 8 * 8};
    run(fill, parts, nt);
    __builtin_cpu_init();
    void *(*fn)(void *) = __builtin_cpu_supports("avx2") ? triad_nt : triad;
    double best = 0;
    for (int r = 0; r < 7; r++) {
        double t0 = now();
        run(fn, parts, nt);
        double gbs = 3.0 * (double)n * sizeof(float) / (now() - t0) / 1e9;
        if (gbs > best)
            best = gbs;
    }
    /* the result is read, so the passes cannot be optimized away */
    printf("triad_gb_s %.2f\n", a[n / 2] == 7.0f ? best : -best);
    free(a);
    free(b);
    free(c);
    return 0;
}
