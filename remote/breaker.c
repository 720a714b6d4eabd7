/* This file implements the circuit breaker of breaker.h. */
#include "remote/breaker.h"

#include <string.h>

void breaker_init(breaker *b, const breaker_config *cfg) {
    memset(b, 0, sizeof *b);
    b->cfg = *cfg;
    if (b->cfg.window < 1) b->cfg.window = 1;
    if (b->cfg.window > BREAKER_WINDOW_MAX) b->cfg.window = BREAKER_WINDOW_MAX;
    if (b->cfg.failures < 1) b->cfg.failures = 1;
}

static void trip(breaker *b, int64_t now_ms) {
    b->state = BREAKER_OPEN;
    b->opened_ms = now_ms;
    b->probing = 0;
    b->opened++;
}

static void forget(breaker *b) {
    b->consecutive = 0;
    b->n_outcomes = b->next = b->failed = 0;
}

int breaker_ready(const breaker *b, int64_t now_ms) {
    switch (b->state) {
    case BREAKER_CLOSED: return 1;
    case BREAKER_OPEN: return now_ms - b->opened_ms >= b->cfg.cooldown_ms;
    case BREAKER_HALF_OPEN: return !b->probing;
    }
    return 0;
}

int breaker_allow(breaker *b, int64_t now_ms) {
    if (!breaker_ready(b, now_ms)) return 0;
    if (b->state == BREAKER_OPEN) {
        b->state = BREAKER_HALF_OPEN;
        b->half_opened++;
    }
    if (b->state == BREAKER_HALF_OPEN) b->probing = 1;
    return 1;
}

static void record(breaker *b, int failed) {
    if (b->n_outcomes == b->cfg.window) b->failed -= b->outcome[b->next];
    else b->n_outcomes++;
    b->outcome[b->next] = (uint8_t)failed;
    b->failed += failed;
    b->next = (b->next + 1) % b->cfg.window;
}

void breaker_success(breaker *b, int64_t now_ms) {
    (void)now_ms;
    if (b->state == BREAKER_HALF_OPEN) {
        b->state = BREAKER_CLOSED;
        b->closed++;
        b->probing = 0;
        forget(b);
        return;
    }
    if (b->state != BREAKER_CLOSED) return;   /* a late answer from before it opened */
    b->consecutive = 0;
    record(b, 0);
}

void breaker_failure(breaker *b, int64_t now_ms) {
    if (b->state == BREAKER_HALF_OPEN) { trip(b, now_ms); return; }
    if (b->state != BREAKER_CLOSED) return;
    b->consecutive++;
    record(b, 1);
    if (b->consecutive >= b->cfg.failures ||
        (2 * b->n_outcomes >= b->cfg.window &&
         b->failed >= b->cfg.failure_rate * b->n_outcomes)) {
        forget(b);
        trip(b, now_ms);
    }
}

void breaker_abandon(breaker *b) {
    if (b->state == BREAKER_HALF_OPEN) b->probing = 0;
}

const char *breaker_state_name(breaker_state s) {
    static const char *const names[] = {"closed", "open", "half_open"};
    return (unsigned)s < 3 ? names[s] : "";
}
