/* llmfs-bench scenario files (loadgen/scenario.c): a full file reads into the
 * right figures; every kind of mistake is one FILE:LINE:COLUMN line; the
 * arrival schedule has the rate each stage asks for (constant and ramp),
 * from the seed alone. */
#include "tests/harness.h"
#include "loadgen/scenario.h"

#include <errno.h>
#include <string.h>

static void full_file(void) {
    const char *y =
        "name: ramp-and-spike\n"
        "seed: 7\n"
        "prompts: {dir: prompts/, repeat: 0.3}\n"
        "params: {max_tokens: 64, temperature: 0}\n"
        "warmup_s: 2\n"
        "stages:\n"
        "  - {kind: steady, duration_s: 10, rate: 2}\n"
        "  - {kind: ramp, duration_s: 20, rate: 1, rate_to: 8}\n"
        "  - {kind: spike, duration_s: 5, rate: 20}\n"
        "  - {kind: steady, duration_s: 10, concurrency: 4}\n"
        "  - {kind: soak, duration_s: 600, rate: 1}\n"
        "sla: {ttft_p95_ms: 800, e2e_p95_ms: 5000, error_rate: 0.01, tokens_per_s_min: 50}\n";
    scenario s;
    char err[256] = "";
    CHECKF(scenario_parse(&s, y, strlen(y), "s.yaml", err, sizeof err) == 0, "%s", err);
    CHECK(!strcmp(s.name, "ramp-and-spike") && s.seed == 7 && !strcmp(s.prompt_dir, "prompts/"));
    CHECK(s.repeat == 0.3 && s.max_tokens == 64 && s.temperature == 0 && s.warmup_s == 2);
    CHECK(s.n_stages == 5);
    CHECK(s.stage[1].kind == SCN_RAMP && s.stage[1].rate == 1 && s.stage[1].rate_to == 8);
    CHECK(s.stage[3].concurrency == 4 && s.stage[4].kind == SCN_SOAK && s.stage[4].duration_s == 600);
    CHECK(s.sla.ttft_p95_ms == 800 && s.sla.e2e_p95_ms == 5000 && s.sla.error_rate == 0.01 &&
          s.sla.tokens_per_s_min == 50);
    scenario_release(&s);
    /* defaults: no SLA criterion, the daemon's parameters */
    const char *m = "prompts: {text: hi}\nstages: [{kind: steady, duration_s: 1, rate: 1}]\n";
    CHECK(scenario_parse(&s, m, strlen(m), "m.yaml", err, sizeof err) == 0);
    CHECK(s.sla.ttft_p95_ms < 0 && s.temperature < 0 && s.max_tokens == 0);
    scenario_release(&s);
}

static void expect(const char *y, const char *msg) {
    scenario s;
    char err[256] = "";
    int rc = scenario_parse(&s, y, strlen(y), "b.yaml", err, sizeof err);
    CHECKF(rc == -EINVAL, "rc %d for %s", rc, y);
    CHECKF(!strncmp(err, msg, strlen(msg)), "\n#     got  '%s'\n#     want '%s'", err, msg);
}

static void mistakes(void) {
    const char *st = "stages: [{kind: steady, duration_s: 1, rate: 1}]\n";
    char y[512];
    snprintf(y, sizeof y, "prompts: {text: hi}\n%sbogus: 1\n", st);
    expect(y, "b.yaml:3:1: scenario: unknown key 'bogus'");
    expect("prompts: {text: hi}\nstages: [{kind: steady, duration_s: 1, rate: -2}]\n",
           "b.yaml:2:46: rate: -2 is out of range [0, 1e+06]");
    expect("prompts: {text: hi}\nstages: [{kind: steady, duration_s: ten, rate: 1}]\n",
           "b.yaml:2:37: duration_s: expected a number, got 'ten'");
    expect("prompts: {text: hi}\nstages: []\n", "b.yaml:2:9: stages: the list is empty");
    expect("prompts: {text: hi}\nstages: {kind: steady}\n", "b.yaml:2:9: stages: expected a list, got a mapping");
    expect("prompts: {text: hi}\nstages: [{kind: walk, duration_s: 1, rate: 1}]\n",
           "b.yaml:2:17: kind: expected steady, ramp, spike or soak, got 'walk'");
    expect("prompts: {text: hi}\nstages: [{kind: steady, duration_s: 1, rate: 1, concurrency: 2}]\n",
           "b.yaml:2:10: stage: give either rate (open loop) or concurrency (closed loop)");
    expect("prompts: {text: hi}\nstages: [{kind: ramp, duration_s: 1, rate: 1}]\n",
           "b.yaml:2:10: stage: a ramp needs rate_to");
    expect("prompts: {text: hi, dir: x}\nstages: [{kind: steady, duration_s: 1, rate: 1}]\n",
           "b.yaml:1:10: prompts: give one of dir, file or text");
    expect("stages: [{kind: steady, duration_s: 1, rate: 1}]\n", "b.yaml:1:1: scenario: prompts is missing");
    expect("prompts: {text: hi}\nsla: {ttft_p95_ms: [1]}\nstages: [{kind: steady, duration_s: 1, rate: 1}]\n",
           "b.yaml:2:20: sla.ttft_p95_ms: expected a number, got a list");
    expect("prompts: {text: hi}\nstages: [{kind: steady, duration_s: 1, rate: 1}]\nseed: 1\nseed: 2\n",
           "b.yaml:4:1: scenario: duplicate key 'seed'");
    expect("", "b.yaml:1:1: the file is empty");
}

static void arrivals(void) {
    static double t[4096];
    /* constant: 50/s over 20 s, about 1000, within the stage, increasing */
    scn_stage c = {SCN_STEADY, 20, 50, 50, 0};
    uint64_t rng = 1;
    long n = scenario_arrivals(&c, &rng, t, 4096);
    int sorted = 1;
    for (long i = 1; i < n; i++) sorted &= t[i] >= t[i - 1];
    CHECKF(n > 850 && n < 1150 && sorted && t[n - 1] <= 20, "%ld arrivals for 1000", n);
    /* the same seed gives the same schedule */
    uint64_t rng2 = 1;
    static double t2[4096];
    CHECK(scenario_arrivals(&c, &rng2, t2, 4096) == n && !memcmp(t, t2, (size_t)n * sizeof *t));
    /* a ramp from 10/s to 90/s over 20 s: 1000 expected, 300 in the first
     * half (the rate averages 30/s there) and 700 in the second */
    scn_stage r = {SCN_RAMP, 20, 10, 90, 0};
    rng = 3;
    n = scenario_arrivals(&r, &rng, t, 4096);
    long first = 0;
    for (long i = 0; i < n; i++) first += t[i] < 10;
    CHECKF(n > 850 && n < 1150, "%ld ramp arrivals for 1000", n);
    CHECKF(first > 250 && first < 350, "%ld in the first half for 300", first);
    /* a closed-loop stage has no schedule */
    scn_stage cl = {SCN_STEADY, 5, 0, 0, 4};
    CHECK(scenario_arrivals(&cl, &rng, t, 4096) == -EINVAL);
}

int main(void) {
    TEST("scenario: a full file reads into its figures", full_file);
    TEST("scenario: mistakes are one FILE:LINE:COLUMN line", mistakes);
    TEST("scenario: arrivals follow each stage's rate, from the seed", arrivals);
    TEST_EXIT();
}
