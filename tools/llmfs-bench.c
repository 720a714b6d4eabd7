/* llmfs-bench: a load generator that drives a mounted llmfs through its
 * files, as real clients do (llmfs-bench(1)).
 *
 *   llmfs-bench -m MOUNT [-c CONCURRENCY] [-n REQUESTS] [--prompt TEXT | --prompts DIR]
 *               [--max-tokens N] [--rate R] [--seed S] [--priority P] [--cache M] [--csv]
 *
 * Each request is one client: it writes prompts/bench-<pid>-<i> (YAML front
 * matter for max_tokens, priority, cache, seed, temperature, then the prompt),
 * opens completions/<name> and reads it to EOF, timing the first byte
 * (TTFT), the gaps between reads that return bytes (inter-token latency)
 * and the end (e2e); then it reads its row of stats/requests for the
 * token counts, and removes the prompt.  Latencies run from the moment the
 * client starts writing the prompt, or, with --rate, from the request's
 * scheduled arrival (so a client that starts late is not excused: no
 * coordinated omission).  Only the C library and pthreads. */
#define _GNU_SOURCE
#include "engine/version.h"
#include "loadgen/scenario.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    int ok;                  /* 1 completed, 0 failed */
    char err[160];
    double start_ms;         /* from the bench start: when it was due (or began) */
    double ttft_ms, e2e_ms;  /* client side; -1 unknown */
    long long bytes;
    int prompt_tokens, cached_tokens, tokens;    /* from stats/requests; -1 unknown */
    double srv_ttft_ms, srv_queue_ms;            /* the daemon's own figures; -1 unknown */
    double tpot_ms;          /* (e2e - ttft) / (tokens - 1); -1 unknown */
    double began_ms;         /* when the client really started it */
    char cache[12];          /* the daemon's cache column */
    double *gaps;            /* ms between reads that returned bytes */
    int n_gaps, cap_gaps;
} result;

typedef struct {
    const char *mount;
    int concurrency, requests;
    char **prompts;          /* texts, cycled over the requests */
    size_t *prompt_len;
    int n_prompts;
    int max_tokens;          /* 0 = the daemon's default */
    double rate;             /* arrivals per second; 0 = closed loop */
    unsigned long long seed;
    int same_seed;
    const char *priority;    /* NULL = the daemon's default */
    const char *cache;       /* front matter cache mode; NULL = the daemon's default */
    const char *temperature; /* NULL = the daemon's default */
    int csv, quiet, keep;
} options;

static options opt;
static result *res;
static double *due_ms;       /* scheduled arrivals (open loop), from the start */
static int *prompt_of;       /* scenarios: the prompt of each request */
static int *stage_of;        /* scenarios: the stage of each request (-1 warm-up) */
static int limit_req;        /* requests [next_req, limit_req) are to run */
static double closed_end_ms; /* > 0: a closed-loop stage, taking requests until then */
static int next_req;
static pthread_mutex_t next_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t err_mu = PTHREAD_MUTEX_INITIALIZER;
static int errors_printed;
static struct timespec t_start;
static pid_t self_pid;

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t_start.tv_sec) * 1e3 + (double)(t.tv_nsec - t_start.tv_nsec) / 1e6;
}

static void sleep_until_ms(double ms) {
    for (;;) {
        double d = ms - now_ms();
        if (d <= 0) return;
        struct timespec ts = {(time_t)(d / 1e3), (long)(fmod(d, 1e3) * 1e6)};
        nanosleep(&ts, NULL);
    }
}

static void die(const char *fmt, ...) {
    va_list ap;
    fputs("llmfs-bench: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(2);
}

static void set_err(result *r, const char *name, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, sizeof r->err, fmt, ap);
    va_end(ap);
    r->ok = 0;
    pthread_mutex_lock(&err_mu);
    if (errors_printed < 10 && !opt.quiet)
        fprintf(stderr, "llmfs-bench: %s: %s\n", name, r->err);
    else if (errors_printed == 10 && !opt.quiet)
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

/* Reads a whole file (a stats file: one snapshot per open). */
static char *slurp(const char *path, size_t *len) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap + 1);
    while (b) {
        if (n == cap) {
            char *nb = realloc(b, 2 * cap + 1);
            if (!nb) { free(b); b = NULL; break; }
            b = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, b + n, cap - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) { free(b); b = NULL; break; }
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);
    if (b) { b[n] = 0; *len = n; }
    return b;
}

/* Splits one CSV line (RFC 4180 quoting) in place; returns the field count. */
static int csv_split(char *line, char **f, int maxf) {
    int n = 0;
    char *p = line;
    while (n < maxf) {
        if (*p == '"') {
            char *w = ++p;
            f[n++] = w;
            while (*p) {
                if (*p == '"' && p[1] == '"') { *w++ = '"'; p += 2; }
                else if (*p == '"') { p++; break; }
                else *w++ = *p++;
            }
            *w = 0;
            while (*p && *p != ',') p++;
        } else {
            f[n++] = p;
            while (*p && *p != ',') p++;
        }
        if (*p != ',') { *p = 0; break; }
        *p++ = 0;
    }
    return n;
}

enum { COL_NAME, COL_STATE, COL_PROMPT, COL_CACHED, COL_GEN, COL_QUEUE, COL_TTFT, COL_ERROR,
       COL_CACHE, N_COL };
static const char *col_names[N_COL] = {"name", "state", "prompt_tokens", "cached_tokens",
                                       "generated_tokens", "queue_ms", "ttft_ms", "error", "cache"};

static int parse_int(const char *s) { return *s ? atoi(s) : -1; }
static double parse_ms(const char *s) { return *s ? atof(s) : -1; }

/* Fills r's token counts from the last row of stats/requests named name.
 * Returns 1 when found and finished, 0 when found but still running,
 * -1 when not found or unreadable. */
static int read_row(const char *name, result *r) {
    char path[PATH_MAX];
    size_t len;
    snprintf(path, sizeof path, "%s/stats/requests", opt.mount);
    char *buf = slurp(path, &len);
    if (!buf) return -1;
    int idx[N_COL];
    for (int i = 0; i < N_COL; i++) idx[i] = -1;
    int found = -1;
    char *save = NULL, *line = strtok_r(buf, "\n", &save);
    if (line) {
        char *f[64];
        int n = csv_split(line, f, 64);
        for (int i = 0; i < n; i++)
            for (int c = 0; c < N_COL; c++)
                if (!strcmp(f[i], col_names[c])) idx[c] = i;
    }
    if (idx[COL_NAME] < 0 || idx[COL_GEN] < 0) { free(buf); return -1; }
    while ((line = strtok_r(NULL, "\n", &save))) {
        char *f[64];
        int n = csv_split(line, f, 64);
        if (n <= idx[COL_NAME] || strcmp(f[idx[COL_NAME]], name)) continue;
#define COL(c) (idx[c] >= 0 && idx[c] < n ? f[idx[c]] : "")
        r->tokens = parse_int(COL(COL_GEN));
        r->prompt_tokens = parse_int(COL(COL_PROMPT));
        r->cached_tokens = parse_int(COL(COL_CACHED));
        r->srv_ttft_ms = parse_ms(COL(COL_TTFT));
        r->srv_queue_ms = parse_ms(COL(COL_QUEUE));
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

static void add_gap(result *r, double g) {
    if (r->n_gaps == r->cap_gaps) {
        int cap = r->cap_gaps ? 2 * r->cap_gaps : 256;
        double *ng = realloc(r->gaps, (size_t)cap * sizeof *ng);
        if (!ng) return;
        r->gaps = ng;
        r->cap_gaps = cap;
    }
    r->gaps[r->n_gaps++] = g;
}

static void run_one(int i, char *rbuf, size_t rcap) {
    result *r = &res[i];
    char name[64], ppath[PATH_MAX], cpath[PATH_MAX];
    snprintf(name, sizeof name, "bench-%d-%d", (int)self_pid, i);
    snprintf(ppath, sizeof ppath, "%s/prompts/%s", opt.mount, name);
    snprintf(cpath, sizeof cpath, "%s/completions/%s", opt.mount, name);
    r->ok = 1;
    r->ttft_ms = r->e2e_ms = r->tpot_ms = r->srv_ttft_ms = r->srv_queue_ms = -1;
    r->prompt_tokens = r->cached_tokens = r->tokens = -1;

    double t0;
    if (opt.rate > 0) {
        sleep_until_ms(due_ms[i]);
        t0 = due_ms[i];
    } else {
        t0 = now_ms();
    }
    r->start_ms = t0;
    r->began_ms = now_ms();

    /* the prompt file: front matter, then the text */
    char fm[512];
    int k = snprintf(fm, sizeof fm, "---\n");
    if (opt.max_tokens > 0) k += snprintf(fm + k, sizeof fm - (size_t)k, "max_tokens: %d\n", opt.max_tokens);
    if (opt.priority) k += snprintf(fm + k, sizeof fm - (size_t)k, "priority: %s\n", opt.priority);
    if (opt.cache) k += snprintf(fm + k, sizeof fm - (size_t)k, "cache: %s\n", opt.cache);
    if (opt.temperature) k += snprintf(fm + k, sizeof fm - (size_t)k, "temperature: %s\n", opt.temperature);
    k += snprintf(fm + k, sizeof fm - (size_t)k, "seed: %llu\n---\n",
                  opt.same_seed ? opt.seed : opt.seed + (unsigned long long)i);
    int p = prompt_of ? prompt_of[i] : i % opt.n_prompts;
    int fd = open(ppath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) { set_err(r, name, "open prompts/%s: %s", name, strerror(errno)); return; }
    if (write_all(fd, fm, (size_t)k) || write_all(fd, opt.prompts[p], opt.prompt_len[p]) ||
        write_all(fd, "\n", 1)) {
        set_err(r, name, "write prompts/%s: %s", name, strerror(errno));
        close(fd);
        unlink(ppath);
        return;
    }
    if (close(fd)) {
        set_err(r, name, "close prompts/%s: %s", name, strerror(errno));
        unlink(ppath);
        return;
    }

    /* the completion, to EOF */
    fd = open(cpath, O_RDONLY);
    if (fd < 0) {
        set_err(r, name, "open completions/%s: %s", name, strerror(errno));
        unlink(ppath);
        return;
    }
    double last = -1;
    for (;;) {
        ssize_t n = read(fd, rbuf, rcap);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            set_err(r, name, "read completions/%s: %s", name, strerror(errno));
            break;
        }
        double t = now_ms();
        if (n == 0) { r->e2e_ms = t - t0; break; }
        if (last < 0) r->ttft_ms = t - t0;
        else add_gap(r, t - last);
        last = t;
        r->bytes += n;
    }
    close(fd);

    /* the token counts, from the daemon's row (finished rows move to the
     * ring at on_done, which precedes EOF; poll briefly in case not) */
    if (r->ok) {
        int got = -1;
        for (int tries = 0; tries < 50; tries++) {
            got = read_row(name, r);
            if (got == 1) break;
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        if (r->ok && r->tokens > 1 && r->ttft_ms >= 0 && r->e2e_ms >= 0)
            r->tpot_ms = (r->e2e_ms - r->ttft_ms) / (r->tokens - 1);
        if (r->ok && got < 0 && !opt.quiet) {
            pthread_mutex_lock(&err_mu);
            fprintf(stderr, "llmfs-bench: %s: no row in stats/requests (tokens unknown)\n", name);
            pthread_mutex_unlock(&err_mu);
        }
    }
    if (!opt.keep && unlink(ppath) && errno != ENOENT && r->ok)
        set_err(r, name, "rm prompts/%s: %s", name, strerror(errno));
}

/* A scenario's choice of prompt for request i (next_mu held): an earlier
 * request's prompt with probability repeat, else the next one in order. */
static uint64_t choose_rng;
static double choose_repeat;
static int fresh_next;
static int choose_prompt(int i) {
    choose_rng = choose_rng * 6364136223846793005ull + 1442695040888963407ull;
    double u = (double)(choose_rng >> 11) / 9007199254740992.0;
    if (i > 0 && u < choose_repeat) {
        choose_rng = choose_rng * 6364136223846793005ull + 1442695040888963407ull;
        return prompt_of[(choose_rng >> 33) % (uint64_t)i];
    }
    return fresh_next++ % opt.n_prompts;
}

static int cur_stage;

static void *client(void *arg) {
    (void)arg;
    size_t rcap = 1 << 16;
    char *rbuf = malloc(rcap);
    if (!rbuf) return NULL;
    for (;;) {
        pthread_mutex_lock(&next_mu);
        int i = -1;
        if (closed_end_ms > 0) {
            /* closed loop: the next request now, until the stage ends */
            if (now_ms() < closed_end_ms && next_req < limit_req) {
                i = next_req++;
                due_ms[i] = now_ms();
                stage_of[i] = cur_stage;
                prompt_of[i] = choose_prompt(i);
            }
        } else if (next_req < limit_req) {
            i = next_req++;
        }
        pthread_mutex_unlock(&next_mu);
        if (i < 0) break;
        run_one(i, rbuf, rcap);
    }
    free(rbuf);
    return NULL;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v[n]. */
static double pct(const double *v, int n, double p) {
    if (n <= 0) return NAN;
    int k = (int)ceil(p / 100.0 * n);
    if (k < 1) k = 1;
    if (k > n) k = n;
    return v[k - 1];
}

static void print_dist(const char *what, double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    double sum = 0;
    for (int i = 0; i < n; i++) sum += v[i];
    FILE *o = opt.csv ? stderr : stdout;
    if (!n) {
        fprintf(o, "%s_count 0\n", what);
        return;
    }
    fprintf(o, "%s_count %d\n%s_mean %.3f\n%s_p50 %.3f\n%s_p90 %.3f\n%s_p99 %.3f\n%s_max %.3f\n",
            what, n, what, sum / n, what, pct(v, n, 50), what, pct(v, n, 90), what,
            pct(v, n, 99), what, v[n - 1]);
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    for (;;) {
        if (!b) break;
        if (n == cap) {
            char *nb = realloc(b, cap * 2);
            if (!nb) { free(b); b = NULL; break; }
            b = nb;
            cap *= 2;
        }
        size_t r = fread(b + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
    }
    if (ferror(f)) { free(b); b = NULL; }
    fclose(f);
    /* one trailing newline is dropped: the bench adds its own */
    if (b && n && b[n - 1] == '\n') n--;
    if (b) *len = n;
    return b;
}

static int name_cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void load_prompt_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) die("--prompts %s: %s", dir, strerror(errno));
    char **names = NULL;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[PATH_MAX];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &sb) || !S_ISREG(sb.st_mode)) continue;
        char **grown = realloc(names, (size_t)(n + 1) * sizeof *names);
        if (!grown) die("out of memory");
        names = grown;
        if (!(names[n] = strdup(path))) die("out of memory");
        n++;
    }
    closedir(d);
    if (!n) die("--prompts %s: no regular files in the directory", dir);
    qsort(names, (size_t)n, sizeof *names, name_cmp);
    opt.prompts = calloc((size_t)n, sizeof *opt.prompts);
    opt.prompt_len = calloc((size_t)n, sizeof *opt.prompt_len);
    if (!opt.prompts || !opt.prompt_len) die("out of memory");
    for (int i = 0; i < n; i++) {
        opt.prompts[i] = read_file(names[i], &opt.prompt_len[i]);
        if (!opt.prompts[i]) die("%s: %s", names[i], strerror(errno ? errno : EIO));
        free(names[i]);
    }
    free(names);
    opt.n_prompts = n;
}

static void usage(FILE *f) {
    fprintf(f,
        "usage: llmfs-bench -m MOUNT [-c CONCURRENCY] [-n REQUESTS] [--prompt TEXT | --prompts DIR]\n"
        "                   [--max-tokens N] [--rate R] [--seed S] [--priority P] [--cache M]\n"
        "                   [--csv]\n"
        "       llmfs-bench run SCENARIO.yaml -m MOUNT [--csv OUT.csv] [--json OUT.json] [-q]\n"
        "                   (stages, SLA criteria: see llmfs-bench(1), SCENARIOS)\n"
        "       llmfs-bench compare BASE.csv CAND.csv [--json OUT.json] [--tolerance 0.05]\n"
        "Drives a mounted llmfs through its files: each request writes\n"
        "prompts/bench-PID-I, reads completions/bench-PID-I to EOF, reads its row of\n"
        "stats/requests, and removes the prompt.\n"
        "  -m, --mount DIR        the llmfs mount point\n"
        "  -c, --concurrency N    client threads, i.e. most requests in flight (default 1)\n"
        "  -n, --requests N       requests in all (default: CONCURRENCY)\n"
        "  -p, --prompt TEXT      the prompt (default \"Once upon a time\")\n"
        "  -P, --prompts DIR      prompts from the files of DIR (sorted by name, cycled)\n"
        "  -t, --max-tokens N     front matter max_tokens (default: the daemon's)\n"
        "  -r, --rate R           open loop: Poisson arrivals, R per second; latencies\n"
        "                         count from the scheduled arrival (0 = closed loop)\n"
        "  -s, --seed S           front matter seed of request I is S+I (default 0): no\n"
        "                         two sampled requests share a response-cache key;\n"
        "                         greedy ones of one prompt do (see --cache)\n"
        "      --same-seed        every request uses seed S\n"
        "      --priority P       front matter priority: high, normal or low\n"
        "      --cache MODE       front matter cache: on, refresh or off (off: every\n"
        "                         request is generated; default: the daemon's)\n"
        "      --temperature T    front matter temperature (default: the daemon's)\n"
        "      --csv              one CSV row per request on stdout; summary on stderr\n"
        "      --keep             leave the prompts in place (do not rm them)\n"
        "  -q, --quiet            no per-request error messages\n"
        "  -h, --help             this help\n"
        "Summary lines are `name value`: requests, completed, errors, wall_s,\n"
        "generated_tokens, tokens_per_s, requests_per_s, and for ttft_ms, e2e_ms,\n"
        "tpot_ms (per request: (e2e - ttft) / (tokens - 1)) and itl_ms (gaps between\n"
        "reads that returned bytes) the count, mean, p50, p90, p99 and max.\n"
        "Exit status: 0 when every request completed, 1 when some failed, 2 on usage.\n");
}

/* ---------------------------------------------------------------- scenarios */

/* The daemon's own counters, read from stats/metrics: CPU seconds, peak
 * RSS and generated tokens. */
typedef struct { double cpu_s, rss_kb, gen; int ok; } daemon_use;

static daemon_use read_daemon(void) {
    daemon_use u = {0, 0, 0, 0};
    char path[PATH_MAX];
    size_t len;
    snprintf(path, sizeof path, "%s/stats/metrics", opt.mount);
    char *buf = slurp(path, &len);
    if (!buf) return u;
    char *save = NULL;
    for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        double v;
        if (sscanf(l, "cpu_s %lf", &v) == 1) u.cpu_s = v, u.ok = 1;
        else if (sscanf(l, "max_rss_kb %lf", &v) == 1) u.rss_kb = v;
        else if (sscanf(l, "generated_tokens %lf", &v) == 1) u.gen = v;
    }
    free(buf);
    return u;
}

/* The figures of a set of requests. */
typedef struct {
    int n, ok, errors;
    double duration_s, arrival_rate, req_s, tok_s, error_rate, cache_hit_ratio;
    long long tokens;
    double d[4][7];          /* ttft, e2e, tpot, itl: p50 p90 p95 p99 p99.9 mean max */
    int dn[4];
} set_stats;

static const char *const dist_names[4] = {"ttft_ms", "e2e_ms", "tpot_ms", "itl_ms"};
static const char *const stat_names[7] = {"p50", "p90", "p95", "p99", "p99.9", "mean", "max"};

static void dist(double *v, int n, double out[7]) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    double sum = 0;
    for (int i = 0; i < n; i++) sum += v[i];
    static const double p[5] = {50, 90, 95, 99, 99.9};
    for (int k = 0; k < 5; k++) out[k] = n ? pct(v, n, p[k]) : NAN;
    out[5] = n ? sum / n : NAN;
    out[6] = n ? v[n - 1] : NAN;
}

/* Requests [0, total) of stage k (k < 0: every stage but the warm-up). */
static void stage_stats(int total, int k, double duration_s, set_stats *o) {
    memset(o, 0, sizeof *o);
    o->duration_s = duration_s;
    double *v[4];
    size_t n_gaps = 0;
    for (int i = 0; i < total; i++)
        if (k < 0 ? stage_of[i] >= 0 : stage_of[i] == k) n_gaps += (size_t)res[i].n_gaps;
    for (int j = 0; j < 4; j++) {
        size_t cnt = j == 3 ? n_gaps : (size_t)total;
        v[j] = malloc(sizeof(double) * (cnt ? cnt : 1));
        if (!v[j]) die("out of memory");
    }
    int hits = 0;
    for (int i = 0; i < total; i++) {
        if (k < 0 ? stage_of[i] < 0 : stage_of[i] != k) continue;
        const result *r = &res[i];
        o->n++;
        if (!r->ok) { o->errors++; continue; }
        o->ok++;
        if (r->tokens > 0) o->tokens += r->tokens;
        hits += !strcmp(r->cache, "l1") || !strcmp(r->cache, "l2") || !strcmp(r->cache, "joined");
        if (r->ttft_ms >= 0) v[0][o->dn[0]++] = r->ttft_ms;
        if (r->e2e_ms >= 0) v[1][o->dn[1]++] = r->e2e_ms;
        if (r->tpot_ms >= 0) v[2][o->dn[2]++] = r->tpot_ms;
        for (int g = 0; g < r->n_gaps; g++) v[3][o->dn[3]++] = r->gaps[g];
    }
    for (int j = 0; j < 4; j++) {
        dist(v[j], o->dn[j], o->d[j]);
        free(v[j]);
    }
    o->arrival_rate = duration_s > 0 ? o->n / duration_s : 0;
    o->req_s = duration_s > 0 ? o->ok / duration_s : 0;
    o->tok_s = duration_s > 0 ? o->tokens / duration_s : 0;
    o->error_rate = o->n ? (double)o->errors / o->n : 0;
    o->cache_hit_ratio = o->ok ? (double)hits / o->ok : 0;
}

static void print_set(FILE *f, const char *pre, const set_stats *s) {
    fprintf(f, "%srequests %d\n%serrors %d\n%sarrival_rate %.3f\n%srequests_per_s %.3f\n"
               "%stokens_per_s %.2f\n%scache_hit_ratio %.4f\n", pre, s->n, pre, s->errors, pre,
            s->arrival_rate, pre, s->req_s, pre, s->tok_s, pre, s->cache_hit_ratio);
    for (int j = 0; j < 4; j++)
        for (int k = 0; k < 7; k++)
            if (s->dn[j]) fprintf(f, "%s%s_%s %.3f\n", pre, dist_names[j], stat_names[k], s->d[j][k]);
}

static void json_num(FILE *f, double v) {
    if (isfinite(v)) fprintf(f, "%.6g", v);
    else fprintf(f, "null");
}

static void json_set(FILE *f, const set_stats *s) {
    fprintf(f, "{\"requests\": %d, \"errors\": %d, \"error_rate\": ", s->n, s->errors);
    json_num(f, s->error_rate);
    fprintf(f, ", \"duration_s\": ");
    json_num(f, s->duration_s);
    fprintf(f, ", \"arrival_rate\": ");
    json_num(f, s->arrival_rate);
    fprintf(f, ", \"requests_per_s\": ");
    json_num(f, s->req_s);
    fprintf(f, ", \"tokens_per_s\": ");
    json_num(f, s->tok_s);
    fprintf(f, ", \"generated_tokens\": %lld, \"cache_hit_ratio\": ", s->tokens);
    json_num(f, s->cache_hit_ratio);
    for (int j = 0; j < 4; j++) {
        fprintf(f, ", \"%.*s\": {", (int)(strlen(dist_names[j]) - 3), dist_names[j]);
        for (int k = 0; k < 7; k++) {
            fprintf(f, "%s\"%s_ms\": ", k ? ", " : "", stat_names[k]);
            json_num(f, s->dn[j] ? s->d[j][k] : NAN);
        }
        fprintf(f, "}");
    }
    fprintf(f, "}");
}

static const char *const kind_names[] = {"steady", "ramp", "spike", "soak"};

/* Runs requests [next_req, end) of an open-loop stage, or a closed-loop
 * one of n_threads clients until end_ms, with n_threads clients. */
static void run_clients(int n_threads) {
    pthread_t *th = calloc((size_t)n_threads, sizeof *th);
    if (!th) die("out of memory");
    int started = 0;
    for (int i = 0; i < n_threads; i++) {
        if (pthread_create(&th[i], NULL, client, NULL)) break;
        started++;
    }
    if (!started) die("cannot start a client thread");
    for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
    free(th);
}

/* A relative prompts path is relative to the scenario file's directory. */
static void beside(char **path, const char *scenario_path) {
    const char *slash = strrchr(scenario_path, '/');
    if (!*path || (*path)[0] == '/' || !slash) return;
    size_t d = (size_t)(slash - scenario_path) + 1, n = strlen(*path);
    char *s = malloc(d + n + 1);
    if (!s) die("out of memory");
    memcpy(s, scenario_path, d);
    memcpy(s + d, *path, n + 1);
    free(*path);
    *path = s;
}

/* Loads the scenario's prompts into opt. */
static void scenario_prompts(scenario *sc, const char *scenario_path) {
    beside(&sc->prompt_dir, scenario_path);
    beside(&sc->prompt_file, scenario_path);
    if (sc->prompt_dir) {
        load_prompt_dir(sc->prompt_dir);
        return;
    }
    static char *one[1];
    static size_t one_len[1];
    if (sc->prompt_text) {
        one[0] = sc->prompt_text;
        one_len[0] = strlen(one[0]);
        opt.prompts = one;
        opt.prompt_len = one_len;
        opt.n_prompts = 1;
        return;
    }
    size_t len;
    char *buf = read_file(sc->prompt_file, &len);
    if (!buf) die("%s: %s", sc->prompt_file, strerror(errno ? errno : EIO));
    int n = 0;
    for (size_t i = 0; i <= len; i++) n += i == len || buf[i] == '\n';
    opt.prompts = calloc((size_t)n, sizeof *opt.prompts);
    opt.prompt_len = calloc((size_t)n, sizeof *opt.prompt_len);
    if (!opt.prompts || !opt.prompt_len) die("out of memory");
    n = 0;
    for (size_t i = 0, start = 0; i <= len; i++)
        if (i == len || buf[i] == '\n') {
            if (i > start) {
                opt.prompts[n] = buf + start;
                opt.prompt_len[n++] = i - start;
            }
            start = i + 1;
        }
    if (!n) die("%s: no prompts (one per line)", sc->prompt_file);
    opt.n_prompts = n;
}

static int run_scenario(int argc, char **argv) {
    static const struct option lo[] = {
        {"mount", required_argument, NULL, 'm'},
        {"csv", required_argument, NULL, 'C'},
        {"json", required_argument, NULL, 'J'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *csv = NULL, *json = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:qh", lo, NULL)) != -1) {
        switch (c) {
        case 'm': opt.mount = optarg; break;
        case 'C': csv = optarg; break;
        case 'J': json = optarg; break;
        case 'q': opt.quiet = 1; break;
        case 'h': usage(stdout); return 0;
        default: fprintf(stderr, "llmfs-bench: see llmfs-bench --help\n"); return 2;
        }
    }
    if (optind != argc - 1) die("run: give one scenario file (see --help)");
    if (!opt.mount) die("run: no mount point: give -m MOUNT");
    scenario sc;
    char err[512];
    size_t ylen;
    char *yaml = slurp(argv[optind], &ylen);
    if (!yaml) {
        fprintf(stderr, "llmfs-bench: %s: %s\n", argv[optind], strerror(errno ? errno : EIO));
        return 2;
    }
    int prc = scenario_parse(&sc, yaml, ylen, argv[optind], err, sizeof err);
    free(yaml);
    if (prc) {
        fprintf(stderr, "llmfs-bench: %s\n", err);
        return 2;
    }
    {
        char path[PATH_MAX];
        struct stat sb;
        snprintf(path, sizeof path, "%s/prompts", opt.mount);
        if (stat(path, &sb) || !S_ISDIR(sb.st_mode))
            die("%s: not an llmfs mount (no prompts/ directory)", opt.mount);
    }
    scenario_prompts(&sc, argv[optind]);
    opt.max_tokens = sc.max_tokens;
    static char temp[32];
    if (sc.temperature >= 0) {
        snprintf(temp, sizeof temp, "%g", sc.temperature);
        opt.temperature = temp;
    }
    opt.seed = sc.seed;
    opt.same_seed = 1;
    choose_rng = sc.seed * 0x9E3779B97F4A7C15ull + 1;
    choose_repeat = sc.repeat;

    /* room for every request: the open-loop schedules, and closed loops
     * at up to 200 requests per second per client */
    uint64_t rng = sc.seed;
    long cap = sc.warmup_s > 0 ? (long)(sc.warmup_s * 200) + 1 : 0;
    long counts[SCN_MAX_STAGES];
    for (int k = 0; k < sc.n_stages; k++) {
        const scn_stage *st = &sc.stage[k];
        counts[k] = st->concurrency > 0 ? (long)(st->duration_s * 200 * st->concurrency) + 1
                                        : scenario_arrivals(st, &rng, NULL, 0);
        cap += counts[k];
    }
    if (cap > 10000000) die("the scenario asks for more than 10 million requests");
    res = calloc((size_t)cap, sizeof *res);
    due_ms = calloc((size_t)cap, sizeof *due_ms);
    prompt_of = calloc((size_t)cap, sizeof *prompt_of);
    stage_of = calloc((size_t)cap, sizeof *stage_of);
    if (!res || !due_ms || !prompt_of || !stage_of) die("out of memory");
    self_pid = getpid();
    clock_gettime(CLOCK_MONOTONIC, &t_start);

    if (sc.warmup_s > 0) {       /* one client, not counted */
        cur_stage = -1;
        limit_req = (int)(sc.warmup_s * 200) + 1;
        closed_end_ms = now_ms() + sc.warmup_s * 1e3;
        run_clients(1);
    }
    daemon_use before = read_daemon();
    double t_run = now_ms();
    double stage_s[SCN_MAX_STAGES];
    rng = sc.seed;
    for (int k = 0; k < sc.n_stages; k++) {
        const scn_stage *st = &sc.stage[k];
        double t0 = now_ms();
        cur_stage = k;
        if (!opt.quiet)
            fprintf(stderr, "llmfs-bench: stage %d/%d %s, %g s, %s %g\n", k + 1, sc.n_stages,
                    kind_names[st->kind], st->duration_s, st->concurrency ? "concurrency" : "rate",
                    st->concurrency ? (double)st->concurrency : st->rate);
        if (st->concurrency > 0) {
            limit_req = next_req + (int)counts[k];
            closed_end_ms = t0 + st->duration_s * 1e3;
            opt.rate = 0;
            run_clients(st->concurrency);
        } else {
            double *t = malloc(sizeof(double) * (size_t)(counts[k] ? counts[k] : 1));
            if (!t) die("out of memory");
            long n = scenario_arrivals(st, &rng, t, (size_t)counts[k]);
            int base = next_req;
            for (long i = 0; i < n; i++) {
                due_ms[base + i] = t0 + t[i] * 1e3;
                stage_of[base + i] = k;
                prompt_of[base + i] = choose_prompt(base + (int)i);
            }
            free(t);
            limit_req = base + (int)n;
            closed_end_ms = 0;
            opt.rate = 1;            /* run_one waits for each arrival */
            /* enough clients that an arrival rarely waits for one */
            double peak = st->rate > st->rate_to ? st->rate : st->rate_to;
            int nt = (int)(peak * 4) + 4;
            if (nt > 256) nt = 256;
            if (nt > n) nt = (int)n;
            if (nt > 0) run_clients(nt);
            double end = t0 + st->duration_s * 1e3;
            if (now_ms() < end) sleep_until_ms(end);
        }
        stage_s[k] = (now_ms() - t0) / 1e3;
    }
    double run_s = (now_ms() - t_run) / 1e3;
    daemon_use after = read_daemon();
    int total = next_req;

    /* results */
    FILE *cf = NULL;
    if (csv && !(cf = fopen(csv, "w"))) die("%s: %s", csv, strerror(errno));
    if (cf) {
        fprintf(cf, "request_id,stage,scheduled_ms,start_ms,ttft_ms,e2e_ms,prompt_tokens,"
                    "generated_tokens,cache,status\n");
        for (int i = 0; i < total; i++) {
            const result *r = &res[i];
            if (stage_of[i] < 0) continue;
            fprintf(cf, "%d,%d,%.3f,%.3f,%.3f,%.3f,%d,%d,%s,%s\n", i, stage_of[i] + 1,
                    due_ms[i], r->began_ms, r->ttft_ms, r->e2e_ms, r->prompt_tokens, r->tokens,
                    r->cache, r->ok ? "ok" : "error");
        }
        if (fclose(cf)) die("%s: %s", csv, strerror(errno));
    }
    set_stats all, st[SCN_MAX_STAGES];
    stage_stats(total, -1, run_s, &all);
    for (int k = 0; k < sc.n_stages; k++) stage_stats(total, k, stage_s[k], &st[k]);
    double cpu = after.cpu_s - before.cpu_s, gen = after.gen - before.gen;
    double cpu_per_1k = gen > 0 ? cpu / gen * 1000 : NAN;
    printf("scenario %s\n", sc.name[0] ? sc.name : argv[optind]);
    for (int k = 0; k < sc.n_stages; k++) {
        char pre[32];
        snprintf(pre, sizeof pre, "stage%d_", k + 1);
        printf("%skind %s\n%sduration_s %.3f\n", pre, kind_names[sc.stage[k].kind], pre, stage_s[k]);
        print_set(stdout, pre, &st[k]);
    }
    print_set(stdout, "", &all);
    printf("daemon_cpu_s %.3f\ndaemon_max_rss_kb %.0f\ncpu_s_per_1k_tokens %.4f\n", cpu,
           after.rss_kb, cpu_per_1k);

    /* SLA: over every stage together */
    int failed = 0;
    struct { const char *name; double limit, value; int max; } crit[] = {
        {"ttft_p95_ms", sc.sla.ttft_p95_ms, all.dn[0] ? all.d[0][2] : NAN, 1},
        {"e2e_p95_ms", sc.sla.e2e_p95_ms, all.dn[1] ? all.d[1][2] : NAN, 1},
        {"error_rate", sc.sla.error_rate, all.error_rate, 1},
        {"tokens_per_s_min", sc.sla.tokens_per_s_min, all.tok_s, 0},
    };
    for (size_t i = 0; i < sizeof crit / sizeof crit[0]; i++) {
        if (crit[i].limit < 0) continue;
        int pass = crit[i].max ? crit[i].value <= crit[i].limit : crit[i].value >= crit[i].limit;
        failed |= !pass;
        printf("sla %s %s %g: %s (%.4g)\n", crit[i].name, crit[i].max ? "<=" : ">=",
               crit[i].limit, pass ? "PASS" : "FAIL", crit[i].value);
    }

    if (json) {
        FILE *f = fopen(json, "w");
        if (!f) die("%s: %s", json, strerror(errno));
        fprintf(f, "{\"scenario\": \"");
        for (const char *p = sc.name; *p; p++)
            fprintf(f, *p == '"' || *p == '\\' ? "\\%c" : (unsigned char)*p < 0x20 ? "?" : "%c", *p);
        fprintf(f, "\", \"stages\": [");
        for (int k = 0; k < sc.n_stages; k++) {
            fprintf(f, "%s{\"stage\": %d, \"kind\": \"%s\", \"summary\": ", k ? ", " : "", k + 1,
                    kind_names[sc.stage[k].kind]);
            json_set(f, &st[k]);
            fprintf(f, "}");
        }
        fprintf(f, "], \"overall\": ");
        json_set(f, &all);
        fprintf(f, ", \"daemon\": {\"cpu_s\": ");
        json_num(f, cpu);
        fprintf(f, ", \"max_rss_kb\": ");
        json_num(f, after.rss_kb);
        fprintf(f, ", \"generated_tokens\": ");
        json_num(f, gen);
        fprintf(f, ", \"cpu_s_per_1k_tokens\": ");
        json_num(f, cpu_per_1k);
        fprintf(f, "}, \"sla_pass\": %s}\n", failed ? "false" : "true");
        if (fclose(f)) die("%s: %s", json, strerror(errno));
    }
    for (int i = 0; i < total; i++) free(res[i].gaps);
    scenario_release(&sc);
    return failed ? 1 : 0;
}

/* ---------------------------------------------------------------- compare */

/* One metric's samples of one stage, from a run's CSV. */
typedef struct {
    double *v;
    int n, cap;
} samples;

static void push(samples *s, double x) {
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 256;
        double *v = realloc(s->v, sizeof(double) * (size_t)cap);
        if (!v) die("out of memory");
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = x;
}

#define CMP_STAGES 65            /* stage 0: every stage together */
#define CMP_METRICS 3
static const char *const cmp_metric[CMP_METRICS] = {"ttft_ms", "e2e_ms", "tpot_ms"};

/* Reads a `llmfs-bench run --csv` file into s[stage][metric]. */
static void read_run_csv(const char *path, samples s[CMP_STAGES][CMP_METRICS]) {
    size_t len;
    char *buf = slurp(path, &len);
    if (!buf) die("%s: %s", path, strerror(errno ? errno : EIO));
    char *save = NULL, *line = strtok_r(buf, "\n", &save);
    int col[6] = {-1, -1, -1, -1, -1, -1};
    static const char *const want[6] = {"stage", "ttft_ms", "e2e_ms", "generated_tokens", "status", "request_id"};
    if (line) {
        char *f[32];
        int n = csv_split(line, f, 32);
        for (int i = 0; i < n; i++)
            for (int k = 0; k < 6; k++)
                if (!strcmp(f[i], want[k])) col[k] = i;
    }
    for (int k = 0; k < 5; k++)
        if (col[k] < 0) die("%s: not a llmfs-bench run CSV (no %s column)", path, want[k]);
    while ((line = strtok_r(NULL, "\n", &save))) {
        char *f[32];
        int n = csv_split(line, f, 32);
        if (n <= col[4] || strcmp(f[col[4]], "ok")) continue;
        int st = atoi(f[col[0]]);
        if (st < 1 || st >= CMP_STAGES) continue;
        double ttft = atof(f[col[1]]), e2e = atof(f[col[2]]);
        int gen = atoi(f[col[3]]);
        double m[3] = {ttft, e2e, gen > 1 && ttft >= 0 && e2e >= ttft ? (e2e - ttft) / (gen - 1) : -1};
        for (int k = 0; k < CMP_METRICS; k++)
            if (m[k] >= 0) { push(&s[st][k], m[k]); push(&s[0][k], m[k]); }
    }
    free(buf);
}

static double median_of(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Mann-Whitney U of b against a: the two-sided p-value (normal
 * approximation with the tie correction) and Cliff's delta (positive:
 * b tends to be larger). */
typedef struct { double x; int from_b; } tagged;
static int by_x(const void *p, const void *q) {
    double a = ((const tagged *)p)->x, b = ((const tagged *)q)->x;
    return a < b ? -1 : a > b;
}

static void mann_whitney(const samples *a, const samples *b, double *p, double *delta) {
    int n1 = a->n, n2 = b->n, N = n1 + n2;
    tagged *t = malloc(sizeof *t * (size_t)N);
    if (!t) die("out of memory");
    for (int i = 0; i < n1; i++) t[i] = (tagged){a->v[i], 0};
    for (int i = 0; i < n2; i++) t[n1 + i] = (tagged){b->v[i], 1};
    qsort(t, (size_t)N, sizeof *t, by_x);
    double rank_b = 0, ties = 0;
    for (int i = 0; i < N;) {
        int j = i;
        while (j < N && t[j].x == t[i].x) j++;
        double r = (i + 1 + j) / 2.0;         /* mean rank of the tie group */
        for (int k = i; k < j; k++) if (t[k].from_b) rank_b += r;
        double g = j - i;
        ties += g * g * g - g;
        i = j;
    }
    free(t);
    double U = rank_b - (double)n2 * (n2 + 1) / 2;   /* pairs where b > a (ties half) */
    double mu = (double)n1 * n2 / 2;
    double sigma = sqrt((double)n1 * n2 / 12.0 * ((N + 1) - ties / ((double)N * (N - 1))));
    double z = sigma > 0 ? (fabs(U - mu) - 0.5) / sigma : 0;
    if (z < 0) z = 0;
    *p = erfc(z / sqrt(2));
    *delta = 2 * U / ((double)n1 * n2) - 1;
}

/* A seeded 95% bootstrap interval of the relative change of the median. */
static void bootstrap(const samples *a, const samples *b, uint64_t seed, double ci[2]) {
    enum { R = 1000 };
    double *ch = malloc(sizeof(double) * R);
    double *ra = malloc(sizeof(double) * (size_t)a->n), *rb = malloc(sizeof(double) * (size_t)b->n);
    if (!ch || !ra || !rb) die("out of memory");
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    for (int r = 0; r < R; r++) {
        for (int i = 0; i < a->n; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            ra[i] = a->v[(x >> 33) % (uint64_t)a->n];
        }
        for (int i = 0; i < b->n; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            rb[i] = b->v[(x >> 33) % (uint64_t)b->n];
        }
        double ma = median_of(ra, a->n), mb = median_of(rb, b->n);
        ch[r] = ma > 0 ? mb / ma - 1 : 0;
    }
    qsort(ch, R, sizeof *ch, cmp_double);
    ci[0] = ch[(int)(0.025 * R)];
    ci[1] = ch[(int)(0.975 * R) - 1];
    free(ch); free(ra); free(rb);
}

static int run_compare(int argc, char **argv) {
    static const struct option lo[] = {
        {"json", required_argument, NULL, 'J'},
        {"tolerance", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *json = NULL;
    double tol = 0.05;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'J': json = optarg; break;
        case 't': {
            char *end;
            tol = strtod(optarg, &end);
            if (end == optarg || *end || !(tol >= 0 && tol < 10)) die("--tolerance: expected a number >= 0, got \"%s\"", optarg);
            break;
        }
        case 'h': usage(stdout); return 0;
        default: fprintf(stderr, "llmfs-bench: see llmfs-bench --help\n"); return 2;
        }
    }
    if (optind != argc - 2) die("compare: give BASE.csv and CAND.csv (see --help)");
    static samples A[CMP_STAGES][CMP_METRICS], B[CMP_STAGES][CMP_METRICS];
    read_run_csv(argv[optind], A);
    read_run_csv(argv[optind + 1], B);

    /* every (stage, metric) with samples on both sides; stage 0 = all */
    typedef struct { int st, m; double med_a, med_b, p95_a, p95_b, change, ci[2], p, delta, holm; } row;
    row rows[CMP_STAGES * CMP_METRICS];
    int nr = 0;
    for (int st = 0; st < CMP_STAGES; st++)
        for (int m = 0; m < CMP_METRICS; m++) {
            samples *a = &A[st][m], *b = &B[st][m];
            if (a->n < 2 || b->n < 2) continue;
            row *r = &rows[nr++];
            r->st = st;
            r->m = m;
            qsort(a->v, (size_t)a->n, sizeof *a->v, cmp_double);
            qsort(b->v, (size_t)b->n, sizeof *b->v, cmp_double);
            r->med_a = median_of(a->v, a->n);
            r->med_b = median_of(b->v, b->n);
            r->p95_a = pct(a->v, a->n, 95);
            r->p95_b = pct(b->v, b->n, 95);
            r->change = r->med_a > 0 ? r->med_b / r->med_a - 1 : 0;
            bootstrap(a, b, (uint64_t)(st * 7 + m + 1), r->ci);
            mann_whitney(a, b, &r->p, &r->delta);
        }
    if (!nr) die("compare: no stage and metric with samples in both files");
    /* Holm: the k-th smallest p-value times (nr - k), kept monotone */
    int order[CMP_STAGES * CMP_METRICS];
    for (int i = 0; i < nr; i++) order[i] = i;
    for (int i = 1; i < nr; i++)
        for (int j = i; j > 0 && rows[order[j]].p < rows[order[j - 1]].p; j--) {
            int t = order[j]; order[j] = order[j - 1]; order[j - 1] = t;
        }
    double run_max = 0;
    for (int k = 0; k < nr; k++) {
        double h = rows[order[k]].p * (nr - k);
        if (h > 1) h = 1;
        if (h < run_max) h = run_max;
        run_max = h;
        rows[order[k]].holm = h;
    }
    int regressed = 0;
    FILE *jf = NULL;
    if (json && !(jf = fopen(json, "w"))) die("%s: %s", json, strerror(errno));
    if (jf) fprintf(jf, "{\"tolerance\": %g, \"comparisons\": [", tol);
    for (int i = 0; i < nr; i++) {
        row *r = &rows[i];
        const char *verdict = r->holm < 0.01 && r->change > tol ? "regressed"
                            : r->holm < 0.01 && r->change < -tol ? "improved" : "no significant change";
        regressed |= !strcmp(verdict, "regressed");
        char stage[16];
        if (r->st) snprintf(stage, sizeof stage, "stage%d", r->st);
        else snprintf(stage, sizeof stage, "all");
        printf("%s %s: median %.3f -> %.3f (%+.1f%%, 95%% CI %+.1f%% .. %+.1f%%), p95 %.3f -> %.3f, "
               "p %.3g (Holm %.3g), Cliff's delta %+.3f: %s\n",
               stage, cmp_metric[r->m], r->med_a, r->med_b, 100 * r->change, 100 * r->ci[0],
               100 * r->ci[1], r->p95_a, r->p95_b, r->p, r->holm, r->delta, verdict);
        if (jf)
            fprintf(jf, "%s{\"stage\": \"%s\", \"metric\": \"%s\", \"median_base\": %.6g, "
                        "\"median_candidate\": %.6g, \"p95_base\": %.6g, \"p95_candidate\": %.6g, "
                        "\"change\": %.6g, \"ci95\": [%.6g, %.6g], \"p\": %.6g, \"p_holm\": %.6g, "
                        "\"cliffs_delta\": %.6g, \"verdict\": \"%s\"}",
                    i ? ", " : "", stage, cmp_metric[r->m], r->med_a, r->med_b, r->p95_a, r->p95_b,
                    r->change, r->ci[0], r->ci[1], r->p, r->holm, r->delta, verdict);
    }
    if (jf) {
        fprintf(jf, "], \"regressed\": %s}\n", regressed ? "true" : "false");
        if (fclose(jf)) die("%s: %s", json, strerror(errno));
    }
    printf("verdict %s\n", regressed ? "regressed" : "no regression");
    for (int st = 0; st < CMP_STAGES; st++)
        for (int m = 0; m < CMP_METRICS; m++) { free(A[st][m].v); free(B[st][m].v); }
    return regressed ? 1 : 0;
}

static long parse_long(const char *opt_name, const char *s, long lo, long hi) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        die("%s: expected an integer in [%ld, %ld], got \"%s\"", opt_name, lo, hi, s);
    return v;
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "run")) return run_scenario(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "compare")) return run_compare(argc - 1, argv + 1);
    static const struct option lo[] = {
        {"mount", required_argument, NULL, 'm'},
        {"concurrency", required_argument, NULL, 'c'},
        {"requests", required_argument, NULL, 'n'},
        {"prompt", required_argument, NULL, 'p'},
        {"prompts", required_argument, NULL, 'P'},
        {"max-tokens", required_argument, NULL, 't'},
        {"rate", required_argument, NULL, 'r'},
        {"seed", required_argument, NULL, 's'},
        {"same-seed", no_argument, NULL, 'S'},
        {"priority", required_argument, NULL, 'R'},
        {"cache", required_argument, NULL, 'A'},
        {"temperature", required_argument, NULL, 'T'},
        {"csv", no_argument, NULL, 'C'},
        {"keep", no_argument, NULL, 'K'},
        {"quiet", no_argument, NULL, 'q'},
        { "version", no_argument, 0, 'V' },
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *prompt = NULL, *prompt_dir = NULL;
    opt.concurrency = 1;
    opt.requests = -1;
    int c;
    while ((c = getopt_long(argc, argv, "m:c:n:p:P:t:r:s:qhV", lo, NULL)) != -1) {
        switch (c) {
        case 'm': opt.mount = optarg; break;
        case 'c': opt.concurrency = (int)parse_long("--concurrency", optarg, 1, 4096); break;
        case 'n': opt.requests = (int)parse_long("--requests", optarg, 1, 10000000); break;
        case 'p': prompt = optarg; break;
        case 'P': prompt_dir = optarg; break;
        case 't': opt.max_tokens = (int)parse_long("--max-tokens", optarg, 1, 1048576); break;
        case 'r': {
            char *end;
            opt.rate = strtod(optarg, &end);
            if (end == optarg || *end || !(opt.rate >= 0) || isinf(opt.rate))
                die("--rate: expected a number >= 0, got \"%s\"", optarg);
            break;
        }
        case 's': {
            char *end;
            errno = 0;
            opt.seed = strtoull(optarg, &end, 10);
            if (errno || end == optarg || *end || *optarg == '-')
                die("--seed: expected a non-negative integer, got \"%s\"", optarg);
            break;
        }
        case 'S': opt.same_seed = 1; break;
        case 'R':
            if (strcmp(optarg, "high") && strcmp(optarg, "normal") && strcmp(optarg, "low"))
                die("--priority: expected high, normal or low, got \"%s\"", optarg);
            opt.priority = optarg;
            break;
        case 'A':
            if (strcmp(optarg, "on") && strcmp(optarg, "refresh") && strcmp(optarg, "off"))
                die("--cache: expected on, refresh or off, got \"%s\"", optarg);
            opt.cache = optarg;
            break;
        case 'T': {
            char *end;
            double t = strtod(optarg, &end);
            if (end == optarg || *end || !(t >= 0) || isinf(t))
                die("--temperature: expected a number >= 0, got \"%s\"", optarg);
            opt.temperature = optarg;
            break;
        }
        case 'C': opt.csv = 1; break;
        case 'K': opt.keep = 1; break;
        case 'q': opt.quiet = 1; break;
        case 'V': printf("llmfs-bench %s\n", LLMFS_VERSION); return 0;
        case 'h': usage(stdout); return 0;
        default:
            fprintf(stderr, "llmfs-bench: see llmfs-bench --help\n");
            return 2;
        }
    }
    if (optind < argc) die("unexpected argument \"%s\" (see --help)", argv[optind]);
    if (!opt.mount) die("no mount point: give -m MOUNT (see --help)");
    if (prompt && prompt_dir) die("--prompt and --prompts are exclusive");
    if (opt.requests < 0) opt.requests = opt.concurrency;
    {
        char path[PATH_MAX];
        struct stat sb;
        snprintf(path, sizeof path, "%s/prompts", opt.mount);
        if (stat(path, &sb) || !S_ISDIR(sb.st_mode))
            die("%s: not an llmfs mount (no prompts/ directory)", opt.mount);
    }
    if (prompt_dir) {
        load_prompt_dir(prompt_dir);
    } else {
        static char *one[1];
        static size_t one_len[1];
        one[0] = (char *)(prompt ? prompt : "Once upon a time");
        one_len[0] = strlen(one[0]);
        opt.prompts = one;
        opt.prompt_len = one_len;
        opt.n_prompts = 1;
    }
    if (opt.concurrency > opt.requests) opt.concurrency = opt.requests;
    limit_req = opt.requests;

    res = calloc((size_t)opt.requests, sizeof *res);
    due_ms = calloc((size_t)opt.requests, sizeof *due_ms);
    pthread_t *th = calloc((size_t)opt.concurrency, sizeof *th);
    if (!res || !due_ms || !th) die("out of memory");
    self_pid = getpid();
    if (opt.rate > 0) {
        /* Poisson process: exponential gaps, xorshift64* seeded by --seed */
        uint64_t x = opt.seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
        double t = 0;
        for (int i = 0; i < opt.requests; i++) {
            x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
            double u = (double)((x * 0x2545F4914F6CDD1Dull) >> 11) / 9007199254740992.0;
            t += -log(1.0 - u) / opt.rate * 1e3;
            due_ms[i] = t;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t_start);
    int started = 0;
    for (int i = 0; i < opt.concurrency; i++) {
        if (pthread_create(&th[i], NULL, client, NULL)) {
            if (!started) die("cannot start a client thread");
            break;
        }
        started++;
    }
    for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
    double wall = now_ms();

    int ok = 0, err = 0;
    long long tokens = 0, bytes = 0;
    double *ttft = malloc(sizeof(double) * (size_t)opt.requests);
    double *e2e = malloc(sizeof(double) * (size_t)opt.requests);
    double *tpot = malloc(sizeof(double) * (size_t)opt.requests);
    size_t n_gaps = 0;
    for (int i = 0; i < opt.requests; i++) n_gaps += (size_t)res[i].n_gaps;
    double *gaps = malloc(sizeof(double) * (n_gaps ? n_gaps : 1));
    if (!ttft || !e2e || !tpot || !gaps) die("out of memory");
    int n_ttft = 0, n_e2e = 0, n_tpot = 0;
    n_gaps = 0;
    if (opt.csv)
        printf("name,start_ms,ttft_ms,e2e_ms,bytes,prompt_tokens,cached_tokens,generated_tokens,"
               "tpot_ms,server_queue_ms,server_ttft_ms,error\n");
    for (int i = 0; i < opt.requests; i++) {
        result *r = &res[i];
        if (opt.csv) {
            printf("bench-%d-%d,%.3f,%.3f,%.3f,%lld,%d,%d,%d,%.3f,%.3f,%.3f,", (int)self_pid, i,
                   r->start_ms, r->ttft_ms, r->e2e_ms, r->bytes, r->prompt_tokens,
                   r->cached_tokens, r->tokens, r->tpot_ms, r->srv_queue_ms, r->srv_ttft_ms);
            if (r->err[0]) {
                putchar('"');
                for (const char *p = r->err; *p; p++) {
                    if (*p == '"') putchar('"');
                    putchar(*p);
                }
                putchar('"');
            }
            putchar('\n');
        }
        if (!r->ok) { err++; continue; }
        ok++;
        bytes += r->bytes;
        if (r->tokens > 0) tokens += r->tokens;
        if (r->ttft_ms >= 0) ttft[n_ttft++] = r->ttft_ms;
        if (r->e2e_ms >= 0) e2e[n_e2e++] = r->e2e_ms;
        if (r->tpot_ms >= 0) tpot[n_tpot++] = r->tpot_ms;
        for (int g = 0; g < r->n_gaps; g++) gaps[n_gaps++] = r->gaps[g];
    }
    FILE *o = opt.csv ? stderr : stdout;
    fprintf(o, "mount %s\nconcurrency %d\nrate %g\n", opt.mount, opt.concurrency, opt.rate);
    fprintf(o, "requests %d\ncompleted %d\nerrors %d\nwall_s %.3f\n", opt.requests, ok, err,
            wall / 1e3);
    fprintf(o, "bytes %lld\ngenerated_tokens %lld\ntokens_per_s %.2f\nrequests_per_s %.3f\n",
            bytes, tokens, wall > 0 ? tokens / (wall / 1e3) : 0.0,
            wall > 0 ? ok / (wall / 1e3) : 0.0);
    print_dist("ttft_ms", ttft, n_ttft);
    print_dist("e2e_ms", e2e, n_e2e);
    print_dist("tpot_ms", tpot, n_tpot);
    print_dist("itl_ms", gaps, (int)n_gaps);
    fflush(stdout);
    for (int i = 0; i < opt.requests; i++) free(res[i].gaps);
    free(ttft); free(e2e); free(tpot); free(gaps);
    free(res); free(due_ms); free(th);
    return err ? 1 : 0;
}
