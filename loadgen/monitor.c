/* A llmfs-bench run over time, and its progress line (monitor.h). */
#define _GNU_SOURCE
#include "loadgen/monitor.h"
#include "loadgen/summary.h"
#include "loadgen/textio.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

lg_daemon lg_daemon_read(const char *mount) {
    lg_daemon u = {0, 0, 0, 0, 0};
    char path[PATH_MAX];
    size_t len;
    snprintf(path, sizeof path, "%s/stats/metrics", mount);
    char *buf = lg_slurp(path, &len);
    if (!buf) return u;
    char *save = NULL;
    for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        double v;
        if (sscanf(l, "cpu_s %lf", &v) == 1) u.cpu_s = v, u.ok = 1;
        else if (sscanf(l, "rss_kb %lf", &v) == 1) u.rss_kb = v;
        else if (sscanf(l, "max_rss_kb %lf", &v) == 1) u.max_rss_kb = v;
        else if (sscanf(l, "generated_tokens %lf", &v) == 1) u.gen = v;
    }
    free(buf);
    return u;
}

int lg_monitor_init(lg_monitor *m, const lg_client *c, double t0_ms, double duration_s,
                    double bin_s) {
    memset(m, 0, sizeof *m);
    m->client = c;
    m->t0_ms = t0_ms;
    m->bin_s = bin_s > 0 ? bin_s : 1;
    m->n = (int)ceil(duration_s / m->bin_s) + 1;
    if (m->n < 1) m->n = 1;
    size_t n = (size_t)m->n;
    m->arrivals = calloc(n, sizeof(double));
    m->done = calloc(n, sizeof(double));
    m->errors = calloc(n, sizeof(double));
    m->tokens = calloc(n, sizeof(double));
    m->cpu_pct = malloc(n * sizeof(double));
    m->rss_mb = malloc(n * sizeof(double));
    m->lat = calloc(n, sizeof *m->lat);
    m->ttft = calloc(n, sizeof *m->ttft);
    m->n_lat = calloc(n, sizeof(int));
    m->cap_lat = calloc(n, sizeof(int));
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->cv, NULL);
    if (!m->arrivals || !m->done || !m->errors || !m->tokens || !m->cpu_pct || !m->rss_mb ||
        !m->lat || !m->ttft || !m->n_lat || !m->cap_lat) {
        lg_monitor_free(m);
        return -1;
    }
    for (size_t i = 0; i < n; i++) m->cpu_pct[i] = m->rss_mb[i] = NAN;
    m->tty = isatty(2);
    return 0;
}

void lg_monitor_free(lg_monitor *m) {
    for (int i = 0; m->lat && i < m->n; i++) free(m->lat[i]);
    for (int i = 0; m->ttft && i < m->n; i++) free(m->ttft[i]);
    free(m->arrivals); free(m->done); free(m->errors); free(m->tokens);
    free(m->cpu_pct); free(m->rss_mb); free(m->lat); free(m->ttft);
    free(m->n_lat); free(m->cap_lat); free(m->marks); free(m->all_e2e);
    pthread_mutex_destroy(&m->mu);
    pthread_cond_destroy(&m->cv);
    memset(m, 0, sizeof *m);
}

static int bin_of(const lg_monitor *m, double t_ms) {
    double b = (t_ms - m->t0_ms) / 1e3 / m->bin_s;
    if (!(b >= 0)) return 0;
    return b >= m->n ? m->n - 1 : (int)b;
}

static void note(lg_monitor *m, int i) {
    if (i > m->last) m->last = i;
}

void lg_monitor_stage(lg_monitor *m, const char *label) {
    pthread_mutex_lock(&m->mu);
    snprintf(m->stage, sizeof m->stage, "%s", label);
    double *mk = realloc(m->marks, (size_t)(m->n_marks + 1) * sizeof *mk);
    if (mk) {
        m->marks = mk;
        m->marks[m->n_marks++] = (lg_now_ms(m->client) - m->t0_ms) / 1e3;
    }
    pthread_mutex_unlock(&m->mu);
}

void lg_monitor_arrival(lg_monitor *m, double t_ms) {
    pthread_mutex_lock(&m->mu);
    int i = bin_of(m, t_ms);
    m->arrivals[i]++;
    note(m, i);
    pthread_mutex_unlock(&m->mu);
}

static int push2(double **a, double **b, int *n, int *cap, double x, double y) {
    if (*n == *cap) {
        int c = *cap ? *cap * 2 : 16;
        double *na = realloc(*a, (size_t)c * sizeof *na);
        if (na) *a = na;
        double *nb = b ? realloc(*b, (size_t)c * sizeof *nb) : NULL;
        if (nb) *b = nb;
        if (!na || (b && !nb)) return -1;
        *cap = c;
    }
    (*a)[*n] = x;
    if (b) (*b)[*n] = y;
    (*n)++;
    return 0;
}

void lg_monitor_done(lg_monitor *m, const lg_result *r) {
    double end = r->start_ms + (r->e2e_ms >= 0 ? r->e2e_ms : 0);
    if (!r->ok) end = lg_now_ms(m->client);
    pthread_mutex_lock(&m->mu);
    int i = bin_of(m, end);
    note(m, i);
    if (!r->ok) {
        m->errors[i]++;
        m->n_err++;
    } else {
        m->done[i]++;
        if (r->tokens > 0) m->tokens[i] += r->tokens;
        if (r->e2e_ms >= 0) {
            push2(&m->lat[i], &m->ttft[i], &m->n_lat[i], &m->cap_lat[i], r->e2e_ms,
                  r->ttft_ms >= 0 ? r->ttft_ms : NAN);
            int cap = m->cap_all;
            push2(&m->all_e2e, NULL, &m->n_all, &cap, r->e2e_ms, 0);
            m->cap_all = cap;
        }
    }
    pthread_mutex_unlock(&m->mu);
}

double lg_monitor_width(const lg_monitor *m, int i) {
    double w = m->bin_s;
    if (m->end_s > 0 && m->end_s - i * m->bin_s < w) w = m->end_s - i * m->bin_s;
    return w > 0 ? w : NAN;
}

double lg_monitor_p95(lg_monitor *m, int i, int ttft) {
    int n = 0;
    double *v = malloc(sizeof(double) * (size_t)(m->n_lat[i] ? m->n_lat[i] : 1));
    if (!v) return NAN;
    for (int k = 0; k < m->n_lat[i]; k++) {
        double x = ttft ? m->ttft[i][k] : m->lat[i][k];
        if (x == x) v[n++] = x;
    }
    qsort(v, (size_t)n, sizeof *v, lg_cmp_double);
    double p = lg_pct(v, n, 95);
    free(v);
    return p;
}

/* Once a second: the daemon's CPU (percent of one core since the last
 * sample) and RSS into the current bin, and the progress line. */
static void *monitor_main(void *arg) {
    lg_monitor *m = arg;
    lg_daemon prev = lg_daemon_read(m->client->mount);
    double prev_t = lg_now_ms(m->client);
    pthread_mutex_lock(&m->mu);
    while (!m->stop) {
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_sec += 1;
        pthread_cond_timedwait(&m->cv, &m->mu, &dl);
        if (m->stop) break;
        pthread_mutex_unlock(&m->mu);
        lg_daemon d = lg_daemon_read(m->client->mount);
        double t = lg_now_ms(m->client);
        pthread_mutex_lock(&m->mu);
        if (d.ok && prev.ok && t > prev_t) {
            int i = bin_of(m, (prev_t + t) / 2);    /* the second it measured */
            m->cpu_pct[i] = 100 * (d.cpu_s - prev.cpu_s) / ((t - prev_t) / 1e3);
            m->rss_mb[i] = d.rss_kb / 1024;
            note(m, i);
        }
        if (d.ok && d.rss_kb > m->peak_rss_kb) m->peak_rss_kb = d.rss_kb;
        prev = d;
        prev_t = t;
        if (m->progress) {
            double *v = malloc(sizeof(double) * (size_t)(m->n_all ? m->n_all : 1));
            double p95 = NAN;
            if (v) {
                memcpy(v, m->all_e2e, sizeof(double) * (size_t)m->n_all);
                qsort(v, (size_t)m->n_all, sizeof *v, lg_cmp_double);
                p95 = lg_pct(v, m->n_all, 95);
                free(v);
            }
            char line[200];
            int k = snprintf(line, sizeof line, "%s %6.1fs  done %d  errors %d  e2e p95 ",
                             m->stage, (t - m->t0_ms) / 1e3, m->n_all, m->n_err);
            if (p95 == p95) snprintf(line + k, sizeof line - (size_t)k, "%.0f ms", p95);
            else snprintf(line + k, sizeof line - (size_t)k, "-");
            /* on a terminal one line, rewritten each second; else a line
             * every ten seconds and at each stage */
            if (m->tty) {
                fprintf(stderr, "\r\033[Kllmfs-bench: %s", line);
            } else if (t - m->printed_ms >= 10e3 || strcmp(m->stage, m->printed_stage)) {
                fprintf(stderr, "llmfs-bench: %s\n", line);
                m->printed_ms = t;
                snprintf(m->printed_stage, sizeof m->printed_stage, "%s", m->stage);
            }
        }
    }
    if (m->progress && m->tty) fputs("\r\033[K", stderr);
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

int lg_monitor_start(lg_monitor *m, int progress) {
    m->progress = progress;
    m->stop = 0;
    if (pthread_create(&m->th, NULL, monitor_main, m)) return -1;
    m->running = 1;
    return 0;
}

void lg_monitor_stop(lg_monitor *m) {
    if (!m->running) return;
    pthread_mutex_lock(&m->mu);
    m->stop = 1;
    pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->mu);
    pthread_join(m->th, NULL);
    m->running = 0;
    m->end_s = (lg_now_ms(m->client) - m->t0_ms) / 1e3;
}
