/* One llmfs-bench request, as a real client makes it: write
 * prompts/bench-PID-I (YAML front matter, then the prompt), read
 * completions/bench-PID-I to EOF timing the first byte, the gaps between
 * reads that return bytes and the end, then read its row of stats/requests
 * for the token counts and the daemon's own timestamps, and remove the
 * prompt.  Times are milliseconds from the bench's start (lg_now_ms). */
#ifndef LLMFS_LG_CLIENT_H
#define LLMFS_LG_CLIENT_H
#include "loadgen/textio.h"

#include <sys/types.h>
#include <time.h>

typedef struct {
    int ok;                  /* 1 completed, 0 failed */
    char err[160];
    int stage;               /* scenarios: the stage (-1 warm-up) */
    double start_ms;         /* when it was due (open loop) or began (closed) */
    double began_ms;         /* when the client really started it */
    double submitted_ms;     /* when the prompt's close() returned (the daemon's submit) */
    double ttft_ms, e2e_ms;  /* client side, from start_ms; -1 unknown */
    long long bytes;
    int prompt_tokens, cached_tokens, tokens;    /* from stats/requests; -1 unknown */
    double srv_queue_ms, srv_ttft_ms, srv_e2e_ms;   /* the daemon's, from submit; -1 unknown */
    double tpot_ms;          /* (e2e - ttft) / (tokens - 1); -1 unknown */
    char cache[12];          /* the daemon's cache column */
    double *gaps;            /* ms between reads that returned bytes */
    int n_gaps, cap_gaps;
} lg_result;

/* What every request of a run shares. */
typedef struct {
    const char *mount;
    lg_prompts prompts;
    int max_tokens;          /* 0 = the daemon's default */
    unsigned long long seed;
    int same_seed;           /* 0: request I uses seed + I */
    const char *priority, *cache, *temperature;   /* NULL = the daemon's default */
    int quiet, keep;
    pid_t pid;
    struct timespec t0;      /* the bench's start */
} lg_client;

/* Sets the start of the clock (and the pid that names the prompts). */
void   lg_client_start(lg_client *c);
double lg_now_ms(const lg_client *c);
void   lg_sleep_until(const lg_client *c, double ms);

/* Runs request i on prompt p into r.  due_ms >= 0: wait until then and
 * count latencies from it (no coordinated omission); < 0: from now.  buf
 * is the reader's buffer.  r->stage is kept. */
void lg_request(const lg_client *c, int i, int p, double due_ms, lg_result *r, char *buf,
                size_t cap);
void lg_result_free(lg_result *r);

/* The parts of r's latency, in ms: submit (from start_ms to the prompt's
 * close), queue, prefill (to the first token), decode (to the daemon's
 * end) and delivery (the daemon's end to the reader's EOF).  0, or -1 when
 * the daemon's figures are unknown. */
enum { LG_SUBMIT, LG_QUEUE, LG_PREFILL, LG_DECODE, LG_DELIVERY, LG_PARTS };
int lg_result_parts(const lg_result *r, double part[LG_PARTS]);

#endif
