/* libFuzzer target for loadgen/scenario.c: any bytes either read into a
 * scenario whose stages are sane (and whose schedules stay inside their
 * stages) or fail with one "NAME:LINE:COLUMN: reason" message. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "loadgen/scenario.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    scenario s;
    char err[512] = "";
    int rc = scenario_parse(&s, (const char *)data, size, "f.yaml", err, sizeof err);
    if (rc) {
        if ((rc != -EINVAL && rc != -ENOMEM) || strncmp(err, "f.yaml", 6)) abort();
        return 0;
    }
    if (s.n_stages < 1 || s.n_stages > SCN_MAX_STAGES) abort();
    static double t[256];
    uint64_t rng = s.seed;
    for (int i = 0; i < s.n_stages; i++) {
        const scn_stage *st = &s.stage[i];
        if (!(st->duration_s > 0)) abort();
        if (st->concurrency > 0) continue;
        if (st->rate * st->duration_s + st->rate_to * st->duration_s > 1e4) continue;   /* keep runs short */
        long n = scenario_arrivals(st, &rng, t, 256);
        for (long k = 0; k < n && k < 256; k++)
            if (!(t[k] >= 0 && t[k] <= st->duration_s + 1e-9)) abort();
    }
    scenario_release(&s);
    return 0;
}
