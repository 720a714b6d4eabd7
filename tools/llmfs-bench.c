/* llmfs-bench: a load generator that drives a mounted llmfs through its
 * files, as real clients do (llmfs-bench(1)).
 *
 *   llmfs-bench -m MOUNT [-c CONCURRENCY] [-n REQUESTS] [--rate R] ...
 *   llmfs-bench run SCENARIO.yaml -m MOUNT [--csv OUT] [--json OUT] [--svg DIR]
 *   llmfs-bench compare BASE.csv CAND.csv [--json OUT] [--svg DIR] [--tolerance T]
 *
 * The modules are in loadgen/: one request (client.c), the figures of a
 * set of requests (summary.c), the run over time and the progress line
 * (monitor.c), the statistics of a comparison (compare.c), scenario files
 * (scenario.c) and the plots (plots.c, svg.c).  This file is the command
 * line and the order of things. */
#define _GNU_SOURCE
#include "engine/version.h"
#include "loadgen/client.h"
#include "loadgen/compare.h"
#include "loadgen/monitor.h"
#include "loadgen/plots.h"
#include "loadgen/scenario.h"
#include "loadgen/summary.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static lg_client cl;
static lg_result *res;
static double *due_ms;       /* open loop: scheduled arrivals; < 0: start when taken */
static int *prompt_of;       /* the prompt of each request */
static int limit_req;        /* requests [next_req, limit_req) are to run */
static double closed_end_ms; /* > 0: a closed-loop stage, taking requests until then */
static int next_req, cur_stage;
static pthread_mutex_t next_mu = PTHREAD_MUTEX_INITIALIZER;
static lg_monitor *mon;      /* scenarios: the run over time */

static void die(const char *fmt, ...) {
    va_list ap;
    fputs("llmfs-bench: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(2);
}

static void check_mount(const char *mount) {
    char path[PATH_MAX];
    struct stat sb;
    snprintf(path, sizeof path, "%s/prompts", mount);
    if (stat(path, &sb) || !S_ISDIR(sb.st_mode))
        die("%s: not an llmfs mount (no prompts/ directory)", mount);
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
    return fresh_next++ % cl.prompts.n;
}

static void *client_main(void *arg) {
    (void)arg;
    size_t cap = 16 << 10;
    char *buf = malloc(cap);
    if (!buf) return NULL;
    for (;;) {
        pthread_mutex_lock(&next_mu);
        int i = -1;
        if (closed_end_ms > 0) {
            /* closed loop: the next request now, until the stage ends */
            if (lg_now_ms(&cl) < closed_end_ms && next_req < limit_req) {
                i = next_req++;
                due_ms[i] = -1;
                res[i].stage = cur_stage;
                prompt_of[i] = choose_prompt(i);
            }
        } else if (next_req < limit_req) {
            i = next_req++;
        }
        pthread_mutex_unlock(&next_mu);
        if (i < 0) break;
        if (mon && res[i].stage >= 0)
            lg_monitor_arrival(mon, due_ms[i] >= 0 ? due_ms[i] : lg_now_ms(&cl));
        lg_request(&cl, i, prompt_of[i], due_ms[i], &res[i], buf, cap);
        if (mon && res[i].stage >= 0) lg_monitor_done(mon, &res[i]);
    }
    free(buf);
    return NULL;
}

/* Runs requests [next_req, limit_req) with n clients, until they are
 * taken (open loop) or closed_end_ms (closed loop). */
static void run_clients(int n) {
    pthread_t *th = calloc((size_t)n, sizeof *th);
    if (!th) die("out of memory");
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 << 10);    /* many clients, small stacks */
    int started = 0;
    for (int i = 0; i < n; i++) {
        if (pthread_create(&th[i], &attr, client_main, NULL)) break;
        started++;
    }
    pthread_attr_destroy(&attr);
    if (!started) die("cannot start a client thread");
    for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
    free(th);
}

static void alloc_requests(long n) {
    res = calloc((size_t)n, sizeof *res);
    due_ms = calloc((size_t)n, sizeof *due_ms);
    prompt_of = calloc((size_t)n, sizeof *prompt_of);
    if (!res || !due_ms || !prompt_of) die("out of memory");
}

static void free_requests(int n) {
    for (int i = 0; i < n; i++) lg_result_free(&res[i]);
    free(res); free(due_ms); free(prompt_of);
}

static void usage(FILE *f) {
    fprintf(f,
        "usage: llmfs-bench -m MOUNT [-c CONCURRENCY] [-n REQUESTS] [--prompt TEXT | --prompts DIR]\n"
        "                   [--max-tokens N] [--rate R] [--seed S] [--priority P] [--cache M]\n"
        "                   [--csv]\n"
        "       llmfs-bench run SCENARIO.yaml -m MOUNT [--csv OUT.csv] [--json OUT.json]\n"
        "                   [--svg DIR] [-q]\n"
        "                   (stages, SLA criteria: see llmfs-bench(1), SCENARIOS)\n"
        "       llmfs-bench compare BASE.csv CAND.csv [--json OUT.json] [--svg DIR]\n"
        "                   [--tolerance 0.05]\n"
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


/* ------------------------------------------------------------ plain runs */

static void print_dist(FILE *o, const char *what, double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, lg_cmp_double);
    double sum = 0;
    for (int i = 0; i < n; i++) sum += v[i];
    if (!n) {
        fprintf(o, "%s_count 0\n", what);
        return;
    }
    fprintf(o, "%s_count %d\n%s_mean %.3f\n%s_p50 %.3f\n%s_p90 %.3f\n%s_p99 %.3f\n%s_max %.3f\n",
            what, n, what, sum / n, what, lg_pct(v, n, 50), what, lg_pct(v, n, 90), what,
            lg_pct(v, n, 99), what, v[n - 1]);
}

static long parse_long(const char *opt_name, const char *s, long lo, long hi) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        die("%s: expected an integer in [%ld, %ld], got \"%s\"", opt_name, lo, hi, s);
    return v;
}

static int run_plain(int argc, char **argv) {
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
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *prompt = NULL, *prompt_dir = NULL;
    int concurrency = 1, requests = -1, csv = 0;
    double rate = 0;
    int c;
    while ((c = getopt_long(argc, argv, "m:c:n:p:P:t:r:s:qhV", lo, NULL)) != -1) {
        switch (c) {
        case 'm': cl.mount = optarg; break;
        case 'c': concurrency = (int)parse_long("--concurrency", optarg, 1, 4096); break;
        case 'n': requests = (int)parse_long("--requests", optarg, 1, 10000000); break;
        case 'p': prompt = optarg; break;
        case 'P': prompt_dir = optarg; break;
        case 't': cl.max_tokens = (int)parse_long("--max-tokens", optarg, 1, 1048576); break;
        case 'r': {
            char *end;
            rate = strtod(optarg, &end);
            if (end == optarg || *end || !(rate >= 0) || isinf(rate))
                die("--rate: expected a number >= 0, got \"%s\"", optarg);
            break;
        }
        case 's': {
            char *end;
            errno = 0;
            cl.seed = strtoull(optarg, &end, 10);
            if (errno || end == optarg || *end || *optarg == '-')
                die("--seed: expected a non-negative integer, got \"%s\"", optarg);
            break;
        }
        case 'S': cl.same_seed = 1; break;
        case 'R':
            if (strcmp(optarg, "high") && strcmp(optarg, "normal") && strcmp(optarg, "low"))
                die("--priority: expected high, normal or low, got \"%s\"", optarg);
            cl.priority = optarg;
            break;
        case 'A':
            if (strcmp(optarg, "on") && strcmp(optarg, "refresh") && strcmp(optarg, "off"))
                die("--cache: expected on, refresh or off, got \"%s\"", optarg);
            cl.cache = optarg;
            break;
        case 'T': {
            char *end;
            double t = strtod(optarg, &end);
            if (end == optarg || *end || !(t >= 0) || isinf(t))
                die("--temperature: expected a number >= 0, got \"%s\"", optarg);
            cl.temperature = optarg;
            break;
        }
        case 'C': csv = 1; break;
        case 'K': cl.keep = 1; break;
        case 'q': cl.quiet = 1; break;
        case 'V': printf("llmfs-bench %s\n", LLMFS_VERSION); return 0;
        case 'h': usage(stdout); return 0;
        default:
            fprintf(stderr, "llmfs-bench: see llmfs-bench --help\n");
            return 2;
        }
    }
    if (optind < argc) die("unexpected argument \"%s\" (see --help)", argv[optind]);
    if (!cl.mount) die("no mount point: give -m MOUNT (see --help)");
    if (prompt && prompt_dir) die("--prompt and --prompts are exclusive");
    if (requests < 0) requests = concurrency;
    check_mount(cl.mount);
    char err[PATH_MAX + 128];
    if (prompt_dir) {
        if (lg_prompts_dir(&cl.prompts, prompt_dir, err, sizeof err)) die("--prompts %s", err);
    } else if (lg_prompts_one(&cl.prompts, prompt ? prompt : "Once upon a time")) {
        die("out of memory");
    }
    if (concurrency > requests) concurrency = requests;
    alloc_requests(requests);
    for (int i = 0; i < requests; i++) {
        prompt_of[i] = i % cl.prompts.n;
        due_ms[i] = -1;
    }
    if (rate > 0) {
        /* Poisson process: exponential gaps, xorshift64* seeded by --seed */
        uint64_t x = cl.seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
        double t = 0;
        for (int i = 0; i < requests; i++) {
            x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
            double u = (double)((x * 0x2545F4914F6CDD1Dull) >> 11) / 9007199254740992.0;
            t += -log(1.0 - u) / rate * 1e3;
            due_ms[i] = t;
        }
    }
    limit_req = requests;
    lg_client_start(&cl);
    run_clients(concurrency);
    double wall = lg_now_ms(&cl);

    int ok = 0, errs = 0;
    long long tokens = 0, bytes = 0;
    double *v[4];
    int nv[4] = {0, 0, 0, 0};
    size_t n_gaps = 0;
    for (int i = 0; i < requests; i++) n_gaps += (size_t)res[i].n_gaps;
    for (int k = 0; k < 4; k++) {
        size_t cnt = k == 3 ? n_gaps : (size_t)requests;
        if (!(v[k] = malloc(sizeof(double) * (cnt ? cnt : 1)))) die("out of memory");
    }
    if (csv)
        printf("name,start_ms,ttft_ms,e2e_ms,bytes,prompt_tokens,cached_tokens,generated_tokens,"
               "tpot_ms,server_queue_ms,server_ttft_ms,error\n");
    for (int i = 0; i < requests; i++) {
        lg_result *r = &res[i];
        if (csv) {
            printf("bench-%d-%d,%.3f,%.3f,%.3f,%lld,%d,%d,%d,%.3f,%.3f,%.3f,", (int)cl.pid, i,
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
        if (!r->ok) { errs++; continue; }
        ok++;
        bytes += r->bytes;
        if (r->tokens > 0) tokens += r->tokens;
        if (r->ttft_ms >= 0) v[0][nv[0]++] = r->ttft_ms;
        if (r->e2e_ms >= 0) v[1][nv[1]++] = r->e2e_ms;
        if (r->tpot_ms >= 0) v[2][nv[2]++] = r->tpot_ms;
        for (int g = 0; g < r->n_gaps; g++) v[3][nv[3]++] = r->gaps[g];
    }
    FILE *o = csv ? stderr : stdout;
    fprintf(o, "mount %s\nconcurrency %d\nrate %g\n", cl.mount, concurrency, rate);
    fprintf(o, "requests %d\ncompleted %d\nerrors %d\nwall_s %.3f\n", requests, ok, errs,
            wall / 1e3);
    fprintf(o, "bytes %lld\ngenerated_tokens %lld\ntokens_per_s %.2f\nrequests_per_s %.3f\n",
            bytes, tokens, wall > 0 ? tokens / (wall / 1e3) : 0.0,
            wall > 0 ? ok / (wall / 1e3) : 0.0);
    for (int k = 0; k < 4; k++) {
        print_dist(o, lg_dist_names[k], v[k], nv[k]);
        free(v[k]);
    }
    fflush(stdout);
    free_requests(requests);
    lg_prompts_free(&cl.prompts);
    return errs ? 1 : 0;
}

/* ---------------------------------------------------------------- scenarios */

static const char *const kind_names[] = {"steady", "ramp", "spike", "soak"};

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

static void scenario_prompts(scenario *sc, const char *scenario_path) {
    char err[PATH_MAX + 128];
    beside(&sc->prompt_dir, scenario_path);
    beside(&sc->prompt_file, scenario_path);
    int rc = sc->prompt_dir ? lg_prompts_dir(&cl.prompts, sc->prompt_dir, err, sizeof err)
           : sc->prompt_text ? (snprintf(err, sizeof err, "out of memory"),
                                lg_prompts_one(&cl.prompts, sc->prompt_text))
           : lg_prompts_lines(&cl.prompts, sc->prompt_file, err, sizeof err);
    if (rc) die("%s", err);
}

/* The knob line of a stage: the biggest part of the latency, and the
 * response cache when prompts repeat more often than it serves them. */
static void print_bottleneck_hint(const lg_set *s, double repeat, const char *pre) {
    if (s->top >= 0 && repeat > 0 && s->cache_hit_ratio < repeat / 2 &&
        (s->top == LG_QUEUE || s->top == LG_PREFILL || s->top == LG_DECODE))
        printf("%shint cache.*: %.0f%% of requests repeat a prompt but %.0f%% were served "
               "from the cache\n", pre, 100 * repeat, 100 * s->cache_hit_ratio);
}

static void json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

static int run_scenario(int argc, char **argv) {
    static const struct option lo[] = {
        {"mount", required_argument, NULL, 'm'},
        {"csv", required_argument, NULL, 'C'},
        {"json", required_argument, NULL, 'J'},
        {"svg", required_argument, NULL, 'G'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *csv = NULL, *json = NULL, *svg = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:qh", lo, NULL)) != -1) {
        switch (c) {
        case 'm': cl.mount = optarg; break;
        case 'C': csv = optarg; break;
        case 'J': json = optarg; break;
        case 'G': svg = optarg; break;
        case 'q': cl.quiet = 1; break;
        case 'h': usage(stdout); return 0;
        default: fprintf(stderr, "llmfs-bench: see llmfs-bench --help\n"); return 2;
        }
    }
    if (optind != argc - 1) die("run: give one scenario file (see --help)");
    if (!cl.mount) die("run: no mount point: give -m MOUNT");
    const char *path = argv[optind];
    scenario sc;
    char err[512];
    size_t ylen;
    char *yaml = lg_slurp(path, &ylen);
    if (!yaml) die("%s: %s", path, strerror(errno));
    int prc = scenario_parse(&sc, yaml, ylen, path, err, sizeof err);
    free(yaml);
    if (prc) die("%s", err);
    check_mount(cl.mount);
    if (svg && mkdir(svg, 0777) && errno != EEXIST) die("--svg %s: %s", svg, strerror(errno));
    scenario_prompts(&sc, path);
    cl.max_tokens = sc.max_tokens;
    char temp[32];
    if (sc.temperature >= 0) {
        snprintf(temp, sizeof temp, "%g", sc.temperature);
        cl.temperature = temp;
    }
    cl.seed = sc.seed;
    cl.same_seed = 1;
    choose_rng = sc.seed * 0x9E3779B97F4A7C15ull + 1;
    choose_repeat = sc.repeat;

    /* room for every request: the open-loop schedules, and closed loops
     * at up to 200 requests per second per client */
    uint64_t rng = sc.seed;
    long cap = sc.warmup_s > 0 ? (long)(sc.warmup_s * 200) + 1 : 0;
    long counts[SCN_MAX_STAGES];
    double planned_s = 0;
    for (int k = 0; k < sc.n_stages; k++) {
        const scn_stage *st = &sc.stage[k];
        counts[k] = st->concurrency > 0 ? (long)(st->duration_s * 200 * st->concurrency) + 1
                                        : scenario_arrivals(st, &rng, NULL, 0);
        cap += counts[k];
        planned_s += st->duration_s;
    }
    if (cap > 10000000) die("the scenario asks for more than 10 million requests");
    alloc_requests(cap);
    lg_client_start(&cl);

    if (sc.warmup_s > 0) {       /* one client, not counted */
        cur_stage = -1;
        limit_req = (int)(sc.warmup_s * 200) + 1;
        closed_end_ms = lg_now_ms(&cl) + sc.warmup_s * 1e3;
        run_clients(1);
    }
    lg_daemon before = lg_daemon_read(cl.mount);
    double t_run = lg_now_ms(&cl);
    static lg_monitor m;
    /* bins of a second, or wider for long runs (at most ~600 points) */
    double bin_s = planned_s > 600 ? ceil(planned_s / 600) : 1;
    if (lg_monitor_init(&m, &cl, t_run, planned_s * 1.5 + 30, bin_s)) die("out of memory");
    mon = &m;
    if (lg_monitor_start(&m, !cl.quiet)) die("cannot start the monitor thread");
    double stage_s[SCN_MAX_STAGES];
    rng = sc.seed;
    for (int k = 0; k < sc.n_stages; k++) {
        const scn_stage *st = &sc.stage[k];
        double t0 = lg_now_ms(&cl);
        char label[64];
        snprintf(label, sizeof label, "stage %d/%d %s", k + 1, sc.n_stages, kind_names[st->kind]);
        lg_monitor_stage(&m, label);
        cur_stage = k;
        if (st->concurrency > 0) {
            limit_req = next_req + (int)counts[k];
            closed_end_ms = t0 + st->duration_s * 1e3;
            run_clients(st->concurrency);
        } else {
            double *t = malloc(sizeof(double) * (size_t)(counts[k] ? counts[k] : 1));
            if (!t) die("out of memory");
            long n = scenario_arrivals(st, &rng, t, (size_t)counts[k]);
            int base = next_req;
            for (long i = 0; i < n; i++) {
                due_ms[base + i] = t0 + t[i] * 1e3;
                res[base + i].stage = k;
                prompt_of[base + i] = choose_prompt(base + (int)i);
            }
            free(t);
            limit_req = base + (int)n;
            closed_end_ms = 0;
            /* a client per arrival (up to 1024): an arrival never waits for
             * a client, so an overloaded daemon's queue fills as it would
             * with independent users, and refuses with EBUSY when full */
            int nt = n < 1024 ? (int)n : 1024;
            if (nt > 0) run_clients(nt);
            double end = t0 + st->duration_s * 1e3;
            if (lg_now_ms(&cl) < end) lg_sleep_until(&cl, end);
        }
        stage_s[k] = (lg_now_ms(&cl) - t0) / 1e3;
    }
    lg_monitor_stop(&m);
    double run_s = (lg_now_ms(&cl) - t_run) / 1e3;
    lg_daemon after = lg_daemon_read(cl.mount);
    int total = next_req;

    /* results */
    FILE *cf = NULL;
    if (csv && !(cf = fopen(csv, "w"))) die("%s: %s", csv, strerror(errno));
    if (cf) {
        fprintf(cf, "request_id,stage,scheduled_ms,start_ms,ttft_ms,e2e_ms,prompt_tokens,"
                    "generated_tokens,cache,status,submit_ms,queue_ms,prefill_ms,decode_ms,"
                    "delivery_ms\n");
        for (int i = 0; i < total; i++) {
            const lg_result *r = &res[i];
            if (r->stage < 0) continue;
            fprintf(cf, "%d,%d,%.3f,%.3f,%.3f,%.3f,%d,%d,%s,%s", i, r->stage + 1,
                    r->start_ms - t_run, r->began_ms - t_run, r->ttft_ms, r->e2e_ms,
                    r->prompt_tokens, r->tokens, r->cache, r->ok ? "ok" : "error");
            double part[LG_PARTS];
            int known = !lg_result_parts(r, part);
            for (int k = 0; k < LG_PARTS; k++)
                if (known) fprintf(cf, ",%.3f", part[k]);
                else fprintf(cf, ",");
            fputc('\n', cf);
        }
        if (fclose(cf)) die("%s: %s", csv, strerror(errno));
    }
    lg_set all, st[SCN_MAX_STAGES];
    if (lg_set_of(res, total, -1, run_s, &all)) die("out of memory");
    for (int k = 0; k < sc.n_stages; k++)
        if (lg_set_of(res, total, k, stage_s[k], &st[k])) die("out of memory");
    double cpu = after.cpu_s - before.cpu_s, gen = after.gen - before.gen;
    double cpu_per_1k = gen > 0 ? cpu / gen * 1000 : NAN;
    double peak_rss = fmax(after.max_rss_kb, m.peak_rss_kb);
    printf("scenario %s\n", sc.name[0] ? sc.name : path);
    for (int k = 0; k < sc.n_stages; k++) {
        char pre[32];
        snprintf(pre, sizeof pre, "stage%d_", k + 1);
        printf("%skind %s\n%sduration_s %.3f\n", pre, kind_names[sc.stage[k].kind], pre, stage_s[k]);
        lg_set_print(stdout, pre, &st[k]);
        print_bottleneck_hint(&st[k], sc.repeat, pre);
    }
    lg_set_print(stdout, "", &all);
    print_bottleneck_hint(&all, sc.repeat, "");
    printf("daemon_cpu_s %.3f\ndaemon_max_rss_kb %.0f\ncpu_s_per_1k_tokens %.4f\n", cpu,
           peak_rss, cpu_per_1k);

    /* SLA: over every stage together */
    int failed = 0;
    struct { const char *name; double limit, value; int max; } crit[] = {
        {"ttft_p95_ms", sc.sla.ttft_p95_ms, all.dn[LG_TTFT] ? all.d[LG_TTFT][LG_P95] : NAN, 1},
        {"e2e_p95_ms", sc.sla.e2e_p95_ms, all.dn[LG_E2E] ? all.d[LG_E2E][LG_P95] : NAN, 1},
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
        fprintf(f, "{\"scenario\": ");
        json_string(f, sc.name);
        fprintf(f, ", \"stages\": [");
        for (int k = 0; k < sc.n_stages; k++) {
            fprintf(f, "%s{\"stage\": %d, \"kind\": \"%s\", \"summary\": ", k ? ", " : "", k + 1,
                    kind_names[sc.stage[k].kind]);
            lg_set_json(f, &st[k]);
            fprintf(f, "}");
        }
        fprintf(f, "], \"overall\": ");
        lg_set_json(f, &all);
        fprintf(f, ", \"daemon\": {\"cpu_s\": ");
        lg_json_num(f, cpu);
        fprintf(f, ", \"max_rss_kb\": ");
        lg_json_num(f, peak_rss);
        fprintf(f, ", \"generated_tokens\": ");
        lg_json_num(f, gen);
        fprintf(f, ", \"cpu_s_per_1k_tokens\": ");
        lg_json_num(f, cpu_per_1k);
        fprintf(f, "}, \"sla_pass\": %s}\n", failed ? "false" : "true");
        if (fclose(f)) die("%s: %s", json, strerror(errno));
    }
    if (svg) {
        const char *labels[SCN_MAX_STAGES];
        char lb[SCN_MAX_STAGES][32];
        for (int k = 0; k < sc.n_stages; k++) {
            snprintf(lb[k], sizeof lb[k], "%d %s", k + 1, kind_names[sc.stage[k].kind]);
            labels[k] = lb[k];
        }
        if (lg_plot_run(svg, sc.name[0] ? sc.name : path, res, total, &m, labels, err, sizeof err))
            die("--svg: %s", err);
    }
    mon = NULL;
    lg_monitor_free(&m);
    free_requests(total);
    lg_prompts_free(&cl.prompts);
    scenario_release(&sc);
    return failed ? 1 : 0;
}

/* ---------------------------------------------------------------- compare */

static int run_compare(int argc, char **argv) {
    static const struct option lo[] = {
        {"json", required_argument, NULL, 'J'},
        {"svg", required_argument, NULL, 'G'},
        {"tolerance", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *json = NULL, *svg = NULL;
    double tol = 0.05;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'J': json = optarg; break;
        case 'G': svg = optarg; break;
        case 't': {
            char *end;
            tol = strtod(optarg, &end);
            if (end == optarg || *end || !(tol >= 0 && tol < 10))
                die("--tolerance: expected a number >= 0, got \"%s\"", optarg);
            break;
        }
        case 'h': usage(stdout); return 0;
        default: fprintf(stderr, "llmfs-bench: see llmfs-bench --help\n"); return 2;
        }
    }
    if (optind != argc - 2) die("compare: give BASE.csv and CAND.csv (see --help)");
    static lg_run A, B;
    char err[PATH_MAX + 128];
    if (lg_run_read(argv[optind], A, err, sizeof err) ||
        lg_run_read(argv[optind + 1], B, err, sizeof err))
        die("%s", err);
    static lg_cmp_row rows[LG_CMP_STAGES * LG_CMP_METRICS];
    int nr = lg_compare(A, B, tol, rows);
    if (nr < 0) die("out of memory");
    if (!nr) die("compare: no stage and metric with samples in both files");
    int regressed = 0;
    FILE *jf = NULL;
    if (json && !(jf = fopen(json, "w"))) die("%s: %s", json, strerror(errno));
    if (jf) fprintf(jf, "{\"tolerance\": %g, \"comparisons\": [", tol);
    for (int i = 0; i < nr; i++) {
        const lg_cmp_row *r = &rows[i];
        regressed |= !strcmp(r->verdict, "regressed");
        char stage[16];
        if (r->stage) snprintf(stage, sizeof stage, "stage%d", r->stage);
        else snprintf(stage, sizeof stage, "all");
        printf("%s %s: median %.3f -> %.3f (%+.1f%%, 95%% CI %+.1f%% .. %+.1f%%), p95 %.3f -> %.3f, "
               "p %.3g (Holm %.3g), Cliff's delta %+.3f: %s\n",
               stage, lg_cmp_metric[r->metric], r->med_a, r->med_b, 100 * r->change,
               100 * r->ci[0], 100 * r->ci[1], r->p95_a, r->p95_b, r->p, r->holm, r->delta,
               r->verdict);
        if (jf)
            fprintf(jf, "%s{\"stage\": \"%s\", \"metric\": \"%s\", \"median_base\": %.6g, "
                        "\"median_candidate\": %.6g, \"p95_base\": %.6g, \"p95_candidate\": %.6g, "
                        "\"change\": %.6g, \"ci95\": [%.6g, %.6g], \"p\": %.6g, \"p_holm\": %.6g, "
                        "\"cliffs_delta\": %.6g, \"verdict\": \"%s\"}",
                    i ? ", " : "", stage, lg_cmp_metric[r->metric], r->med_a, r->med_b, r->p95_a,
                    r->p95_b, r->change, r->ci[0], r->ci[1], r->p, r->holm, r->delta, r->verdict);
    }
    if (jf) {
        fprintf(jf, "], \"regressed\": %s}\n", regressed ? "true" : "false");
        if (fclose(jf)) die("%s: %s", json, strerror(errno));
    }
    printf("verdict %s\n", regressed ? "regressed" : "no regression");
    if (svg) {
        if (mkdir(svg, 0777) && errno != EEXIST) die("--svg %s: %s", svg, strerror(errno));
        if (lg_plot_compare(svg, A, B, err, sizeof err)) die("--svg: %s", err);
    }
    lg_run_free(A);
    lg_run_free(B);
    return regressed ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "run")) return run_scenario(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "compare")) return run_compare(argc - 1, argv + 1);
    return run_plain(argc, argv);
}
