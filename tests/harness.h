/* A tiny assert harness.  Each check that fails prints "not ok - file:line:
 * expr" and the test binary exits with status 1 if any failed (0 if none); each
 * TEST() block prints "ok - name" or "not ok - name".  tests/run.sh counts
 * those lines. */
#ifndef LLMFS_TEST_HARNESS_H
#define LLMFS_TEST_HARNESS_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int harness_failed_total;   /* failed cases in this binary */
static int harness_case_failed;    /* checks failed in the current case */

#define CHECK(expr) do { if (!(expr)) { \
    printf("#   %s:%d: check failed: %s\n", __FILE__, __LINE__, #expr); \
    harness_case_failed++; } } while (0)

#define CHECKF(expr, ...) do { if (!(expr)) { \
    printf("#   %s:%d: check failed: %s: ", __FILE__, __LINE__, #expr); \
    printf(__VA_ARGS__); printf("\n"); harness_case_failed++; } } while (0)

/* Runs fn as one test case named name. */
#define TEST(name, fn) do { harness_case_failed = 0; fn(); \
    if (harness_case_failed) { printf("not ok - %s\n", name); harness_failed_total++; } \
    else { printf("ok - %s\n", name); } \
    fflush(stdout); } while (0)

#define TEST_EXIT() return harness_failed_total ? 1 : 0

/* Path of the shared test data, overridable with LLMFS_SHARED. */
static inline const char *shared_dir(void) {
    const char *s = getenv("LLMFS_SHARED");
    return s && *s ? s : "../shared";
}
static inline const char *shared_path(char *buf, size_t cap, const char *rel) {
    snprintf(buf, cap, "%s/%s", shared_dir(), rel);
    return buf;
}
#endif
