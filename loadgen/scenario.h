/* llmfs-bench scenario files (llmfs-bench(1)): a YAML description of a
 * load test, read with the project's bounded YAML loader, and the arrival
 * schedule it asks for.
 *
 *   name: ramp-and-spike
 *   seed: 1
 *   prompts: {dir: prompts/, repeat: 0.3}     # or {file: F} or {text: "..."}
 *   params: {max_tokens: 64, temperature: 0}
 *   warmup_s: 2
 *   stages:
 *     - {kind: steady, duration_s: 10, rate: 2}             # open loop, Poisson
 *     - {kind: ramp, duration_s: 20, rate: 1, rate_to: 8}   # rate grows linearly
 *     - {kind: spike, duration_s: 5, rate: 20}
 *     - {kind: steady, duration_s: 10, concurrency: 4}      # closed loop
 *     - {kind: soak, duration_s: 600, rate: 1}
 *   sla: {ttft_p95_ms: 800, e2e_p95_ms: 5000, error_rate: 0.01, tokens_per_s_min: 50}
 *
 * Errors name FILE:LINE:COLUMN, as llmfs.yaml's do. */
#ifndef LLMFS_SCENARIO_H
#define LLMFS_SCENARIO_H
#include <stddef.h>
#include <stdint.h>

#define SCN_MAX_STAGES 64

typedef enum { SCN_STEADY, SCN_RAMP, SCN_SPIKE, SCN_SOAK } scn_kind;

typedef struct {
    scn_kind kind;
    double duration_s;       /* > 0 */
    double rate, rate_to;    /* arrivals per second (open loop); rate_to: ramp's end */
    int concurrency;         /* > 0: closed loop with this many in flight, no rate */
} scn_stage;

/* An SLA criterion is checked when it is >= 0. */
typedef struct {
    double ttft_p95_ms, e2e_p95_ms, error_rate, tokens_per_s_min;
} scn_sla;

typedef struct {
    char name[64];
    uint64_t seed;
    char *prompt_dir, *prompt_file, *prompt_text;   /* exactly one set (owned) */
    double repeat;           /* [0, 1]: share of requests re-asking an earlier prompt */
    int max_tokens;          /* 0: the daemon's default */
    double temperature;      /* < 0: the daemon's default */
    double warmup_s;
    scn_stage stage[SCN_MAX_STAGES];
    int n_stages;
    scn_sla sla;
} scenario;

/* Reads a scenario from buf (name: the file name for messages).  0, or
 * -EINVAL with "NAME:LINE:COLUMN: reason" in err, or -ENOMEM. */
int  scenario_parse(scenario *s, const char *buf, size_t len, const char *name, char *err,
                    size_t errlen);
void scenario_release(scenario *s);

/* The arrival times (seconds from the stage's start) of an open-loop
 * stage: a Poisson process of rate(t) (constant, or linear from rate to
 * rate_to for a ramp), from the seeded generator *rng.  Returns how many
 * were written to t[0..cap) (the count may exceed cap: call again with
 * more room), or -EINVAL for a closed-loop stage. */
long scenario_arrivals(const scn_stage *st, uint64_t *rng, double *t, size_t cap);
#endif
