/* libFuzzer target for loadgen/compare.c: any bytes either read as a
 * llmfs-bench run CSV (every sample finite or infinite but never negative
 * or NaN) or fail with one "NAME: reason" message; and a run compared with
 * itself never regresses nor improves. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "loadgen/compare.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 1 << 14) return 0;        /* the bootstrap is 1000 resamples */
    char *buf = malloc(size + 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    buf[size] = 0;
    static lg_run a, b;
    char err[256] = "";
    char *copy = strdup(buf);
    int rc = lg_run_parse(buf, "f.csv", a, err, sizeof err);
    if (rc) {
        if (strncmp(err, "f.csv: ", 7)) abort();
        free(buf);
        free(copy);
        return 0;
    }
    if (!copy || lg_run_parse(copy, "f.csv", b, err, sizeof err)) abort();
    for (int st = 0; st < LG_CMP_STAGES; st++)
        for (int m = 0; m < LG_CMP_METRICS; m++)
            for (int i = 0; i < a[st][m].n; i++)
                if (!(a[st][m].v[i] >= 0)) abort();
    static lg_cmp_row rows[LG_CMP_STAGES * LG_CMP_METRICS];
    int n = lg_compare(a, b, 0.05, rows);
    for (int i = 0; i < n; i++)
        if (strcmp(rows[i].verdict, "no significant change")) abort();
    lg_run_free(a);
    lg_run_free(b);
    free(buf);
    free(copy);
    return 0;
}
