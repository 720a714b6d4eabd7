/* The one monotonic clock every part of llmfs times with, in nanoseconds
 * (engine_now_ns() exports it to the layers above the engine). */
#ifndef LLMFS_CLOCK_H
#define LLMFS_CLOCK_H
#include <stdint.h>
#include <time.h>

static inline int64_t clock_mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
#endif
