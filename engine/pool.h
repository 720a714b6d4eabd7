/* A fixed pool of worker threads that run one parallel job at a time.
 * The caller's thread is worker 0, so a pool of n threads starts n-1.
 * Workers spin briefly between jobs (jobs come every few microseconds
 * during a forward pass) and then sleep. */
#ifndef LLMFS_POOL_H
#define LLMFS_POOL_H

typedef struct pool pool;
typedef void (*pool_fn)(void *arg, int ith, int nth);

/* Returns NULL on failure.  n_threads < 1 means 1. */
pool *pool_new(int n_threads);
void pool_free(pool *p);          /* pool_free(NULL) does nothing */
int  pool_threads(const pool *p);
/* Runs fn(arg, i, n) for i in [0, n) on the n threads and returns when all
 * have finished.  Not reentrant: one caller at a time. */
void pool_run(pool *p, pool_fn fn, void *arg);
#endif
