/* One llmfs-bench request through the mount (client.h). */
#define _GNU_SOURCE
#include "loadgen/client.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_mutex_t err_mu = PTHREAD_MUTEX_INITIALIZER;
static int errors_printed;

void lg_client_start(lg_client *c) {
    c->pid = getpid();
    clock_gettime(CLOCK_MONOTONIC, &c->t0);
}

double lg_now_ms(const lg_client *c) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - c->t0.tv_sec) * 1e3 + (double)(t.tv_nsec - c->t0.tv_nsec) / 1e6;
}

void lg_sleep_until(const lg_client *c, double ms) {
    for (;;) {
        double d = ms - lg_now_ms(c);
        if (d <= 0) return;
        struct timespec ts = {(time_t)(d / 1e3), (long)(fmod(d, 1e3) * 1e6)};
        nanosleep(&ts, NULL);
    }
}

/* Marks r failed; the first ten failures of a run are printed. */
static void set_err(const lg_client *c, lg_result *r, const char *name, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, sizeof r->err, fmt, ap);
    va_end(ap);
    r->ok = 0;
    pthread_mutex_lock(&err_mu);
    if (errors_printed < 10 && !c->quiet)
        fprintf(stderr, "llmfs-bench: %s: %s\n", name, r->err);
    else if (errors_printed == 10 && !c->quiet)
        fprintf(stderr, "llmfs-bench: (further errors not shown)\n");
    errors_printed++;
    pthread_mutex_unlock(&err_mu);
}

static int write_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

enum { COL_NAME, COL_STATE, COL_PROMPT, COL_CACHED, COL_GEN, COL_QUEUE, COL_TTFT, COL_E2E,
       COL_ERROR, COL_CACHE, N_COL };
static const char *const col_names[N_COL] = {
    "name", "state", "prompt_tokens", "cached_tokens", "generated_tokens", "queue_ms",
    "ttft_ms", "e2e_ms", "error", "cache"};

static int parse_int(const char *s) { return *s ? atoi(s) : -1; }
static double parse_ms(const char *s) { return *s ? atof(s) : -1; }

/* Fills r from the last row of stats/requests named name.  1 when found
 * and finished, 0 when found but still running, -1 when not found. */
static int read_row(const lg_client *c, const char *name, lg_result *r) {
    char path[PATH_MAX];
    size_t len;
    snprintf(path, sizeof path, "%s/stats/requests", c->mount);
    char *buf = lg_slurp(path, &len);
    if (!buf) return -1;
    int idx[N_COL];
    for (int i = 0; i < N_COL; i++) idx[i] = -1;
    int found = -1;
    char *save = NULL, *line = strtok_r(buf, "\n", &save);
    if (line) {
        char *f[64];
        int n = lg_csv_split(line, f, 64);
        for (int k = 0; k < N_COL; k++) idx[k] = lg_csv_col(f, n, col_names[k]);
    }
    if (idx[COL_NAME] < 0 || idx[COL_GEN] < 0) { free(buf); return -1; }
    size_t nlen = strlen(name);
    while ((line = strtok_r(NULL, "\n", &save))) {
        /* rows start with the name: skip the others before splitting */
        if (strncmp(line, name, nlen) || (line[nlen] != ',' && line[nlen])) continue;
        char *f[64];
        int n = lg_csv_split(line, f, 64);
        if (n <= idx[COL_NAME] || strcmp(f[idx[COL_NAME]], name)) continue;
#define COL(k) (idx[k] >= 0 && idx[k] < n ? f[idx[k]] : "")
        r->tokens = parse_int(COL(COL_GEN));
        r->prompt_tokens = parse_int(COL(COL_PROMPT));
        r->cached_tokens = parse_int(COL(COL_CACHED));
        r->srv_queue_ms = parse_ms(COL(COL_QUEUE));
        r->srv_ttft_ms = parse_ms(COL(COL_TTFT));
        r->srv_e2e_ms = parse_ms(COL(COL_E2E));
        snprintf(r->cache, sizeof r->cache, "%s", COL(COL_CACHE));
        const char *st = COL(COL_STATE);
        found = strcmp(st, "running") && strcmp(st, "waiting") ? 1 : 0;
        if (*COL(COL_ERROR) && found == 1) {
            r->ok = 0;
            snprintf(r->err, sizeof r->err, "daemon: %s", COL(COL_ERROR));
        }
#undef COL
    }
    free(buf);
    return found;
}

static void add_gap(lg_result *r, double g) {
    if (r->n_gaps == r->cap_gaps) {
        int cap = r->cap_gaps ? 2 * r->cap_gaps : 256;
        double *ng = realloc(r->gaps, (size_t)cap * sizeof *ng);
        if (!ng) return;
        r->gaps = ng;
        r->cap_gaps = cap;
    }
    r->gaps[r->n_gaps++] = g;
}

void lg_request(const lg_client *c, int i, int p, double due_ms, lg_result *r, char *buf,
                size_t cap) {
    char name[64], ppath[PATH_MAX], cpath[PATH_MAX];
    snprintf(name, sizeof name, "bench-%d-%d", (int)c->pid, i);
    snprintf(ppath, sizeof ppath, "%s/prompts/%s", c->mount, name);
    snprintf(cpath, sizeof cpath, "%s/completions/%s", c->mount, name);
    r->ok = 1;
    r->ttft_ms = r->e2e_ms = r->tpot_ms = r->srv_ttft_ms = r->srv_queue_ms = r->srv_e2e_ms = -1;
    r->submitted_ms = -1;
    r->prompt_tokens = r->cached_tokens = r->tokens = -1;

    double t0;
    if (due_ms >= 0) {
        lg_sleep_until(c, due_ms);
        t0 = due_ms;
    } else {
        t0 = lg_now_ms(c);
    }
    r->start_ms = t0;
    r->began_ms = lg_now_ms(c);

    /* the prompt file: front matter, then the text */
    char fm[512];
    size_t k = 0;
#define FM(...) k += (size_t)snprintf(fm + k, k < sizeof fm ? sizeof fm - k : 0, __VA_ARGS__)
    FM("---\n");
    if (c->max_tokens > 0) FM("max_tokens: %d\n", c->max_tokens);
    if (c->priority) FM("priority: %s\n", c->priority);
    if (c->cache) FM("cache: %s\n", c->cache);
    if (c->temperature) FM("temperature: %s\n", c->temperature);
    FM("seed: %llu\n---\n", c->same_seed ? c->seed : c->seed + (unsigned long long)i);
#undef FM
    if (k >= sizeof fm) k = sizeof fm - 1;
    int fd = open(ppath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) { set_err(c, r, name, "open prompts/%s: %s", name, strerror(errno)); return; }
    if (write_all(fd, fm, k) || write_all(fd, c->prompts.text[p], c->prompts.len[p]) ||
        write_all(fd, "\n", 1)) {
        set_err(c, r, name, "write prompts/%s: %s", name, strerror(errno));
        close(fd);
        unlink(ppath);
        return;
    }
    if (close(fd)) {
        set_err(c, r, name, "close prompts/%s: %s", name, strerror(errno));
        unlink(ppath);
        return;
    }
    r->submitted_ms = lg_now_ms(c);

    /* the completion, to EOF */
    fd = open(cpath, O_RDONLY);
    if (fd < 0) {
        set_err(c, r, name, "open completions/%s: %s", name, strerror(errno));
        unlink(ppath);
        return;
    }
    double last = -1;
    for (;;) {
        ssize_t n = read(fd, buf, cap);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            set_err(c, r, name, "read completions/%s: %s", name, strerror(errno));
            break;
        }
        double t = lg_now_ms(c);
        if (n == 0) { r->e2e_ms = t - t0; break; }
        if (last < 0) r->ttft_ms = t - t0;
        else add_gap(r, t - last);
        last = t;
        r->bytes += n;
    }
    close(fd);

    /* the token counts, from the daemon's row (finished rows move to the
     * ring before EOF; poll briefly in case not) */
    if (r->ok) {
        int got = -1;
        for (int tries = 0; tries < 50; tries++) {
            got = read_row(c, name, r);
            if (got == 1) break;
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        if (r->ok && r->tokens > 1 && r->ttft_ms >= 0 && r->e2e_ms >= 0)
            r->tpot_ms = (r->e2e_ms - r->ttft_ms) / (r->tokens - 1);
        if (r->ok && got < 0 && !c->quiet) {
            pthread_mutex_lock(&err_mu);
            fprintf(stderr, "llmfs-bench: %s: no row in stats/requests (tokens unknown)\n", name);
            pthread_mutex_unlock(&err_mu);
        }
    }
    if (!c->keep && unlink(ppath) && errno != ENOENT && r->ok)
        set_err(c, r, name, "rm prompts/%s: %s", name, strerror(errno));
}

void lg_result_free(lg_result *r) {
    free(r->gaps);
    r->gaps = NULL;
    r->n_gaps = r->cap_gaps = 0;
}

int lg_result_parts(const lg_result *r, double part[LG_PARTS]) {
    if (!r->ok || r->submitted_ms < 0 || r->e2e_ms < 0 || r->srv_queue_ms < 0 ||
        r->srv_e2e_ms < 0)
        return -1;
    double ttft = r->srv_ttft_ms >= 0 ? r->srv_ttft_ms : r->srv_e2e_ms;
    /* The daemon's clock starts at its submit, inside the prompt's close():
     * placed on ours at close()'s return, or earlier when the daemon's end
     * would otherwise come after the reader's end of file. */
    double eof = r->start_ms + r->e2e_ms;
    double submit = fmin(r->submitted_ms, eof - r->srv_e2e_ms);
    if (submit < r->start_ms) submit = r->start_ms;
    part[LG_SUBMIT] = submit - r->start_ms;
    part[LG_QUEUE] = r->srv_queue_ms;
    part[LG_PREFILL] = fmax(0, ttft - r->srv_queue_ms);
    if (!strcmp(r->cache, "joined")) {
        /* it followed an identical request already in flight: its wait for
         * that one's first token is queueing, not a prefill of its own */
        part[LG_QUEUE] = fmax(ttft, r->srv_queue_ms);
        part[LG_PREFILL] = 0;
    }
    part[LG_DECODE] = fmax(0, r->srv_e2e_ms - ttft);
    part[LG_DELIVERY] = fmax(0, eof - submit - r->srv_e2e_ms);
    return 0;
}
