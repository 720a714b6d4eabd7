/* A circuit breaker for one endpoint.  Closed, it lets requests through
 * and watches their outcomes; it opens after `failures` failures in a row,
 * or when at least half of the last `window` outcomes are known and the
 * failed share of them reaches `failure_rate`.  Open, it refuses requests
 * until `cooldown_ms` has passed; then it lets one probe through
 * (half-open): the probe's success closes it, its failure opens it again
 * for another cool-down.  Time is passed in, so tests drive it with a
 * fake clock.  Not thread-safe: its owner locks. */
#ifndef LLMFS_BREAKER_H
#define LLMFS_BREAKER_H
#include <stdint.h>

#define BREAKER_WINDOW_MAX 256

typedef enum breaker_state { BREAKER_CLOSED, BREAKER_OPEN, BREAKER_HALF_OPEN } breaker_state;

typedef struct breaker_config {
    int failures;            /* consecutive failures that open it (>= 1) */
    double failure_rate;     /* (0, 1]: failed share of the window that opens it */
    int window;              /* outcomes the rate is taken over, [1, BREAKER_WINDOW_MAX] */
    int64_t cooldown_ms;     /* open this long before a probe */
} breaker_config;

typedef struct breaker {
    breaker_config cfg;
    breaker_state state;
    int consecutive;         /* failures in a row */
    uint8_t outcome[BREAKER_WINDOW_MAX];   /* ring of the last window outcomes: 1 failed */
    int n_outcomes, next, failed;          /* filled, next slot, failures among them */
    int64_t opened_ms;       /* when it last opened */
    int probing;             /* half-open with its probe out */
    uint64_t opened, half_opened, closed;  /* transitions into each state */
} breaker;

void breaker_init(breaker *b, const breaker_config *cfg);
/* May a request go now?  An open breaker past its cool-down half-opens and
 * lets this one through as its probe. */
int  breaker_allow(breaker *b, int64_t now_ms);
/* Would breaker_allow let one through now (changing nothing)? */
int  breaker_ready(const breaker *b, int64_t now_ms);
void breaker_success(breaker *b, int64_t now_ms);
void breaker_failure(breaker *b, int64_t now_ms);
/* A request let through ended with neither (cancelled): a probe's slot is
 * given back. */
void breaker_abandon(breaker *b);
const char *breaker_state_name(breaker_state s);
#endif
