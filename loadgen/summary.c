/* Figures of a set of llmfs-bench requests (summary.h). */
#include "loadgen/summary.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const lg_dist_names[LG_DISTS] = {"ttft_ms", "e2e_ms", "tpot_ms", "itl_ms"};
const char *const lg_stat_names[LG_STATS] = {"p50", "p90", "p95", "p99", "p99.9", "mean", "max"};
const char *const lg_part_names[LG_PARTS] = {"submit", "queue", "prefill", "decode", "delivery"};

int lg_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double lg_pct(const double *v, int n, double p) {
    if (n <= 0) return NAN;
    int k = (int)ceil(p / 100.0 * n);
    if (k < 1) k = 1;
    if (k > n) k = n;
    return v[k - 1];
}

static void dist(double *v, int n, double out[LG_STATS]) {
    qsort(v, (size_t)n, sizeof *v, lg_cmp_double);
    double sum = 0;
    for (int i = 0; i < n; i++) sum += v[i];
    static const double p[5] = {50, 90, 95, 99, 99.9};
    for (int k = 0; k < 5; k++) out[k] = lg_pct(v, n, p[k]);
    out[LG_MEAN] = n ? sum / n : NAN;
    out[LG_MAX] = n ? v[n - 1] : NAN;
}

static int in_set(const lg_result *r, int stage) {
    return stage < 0 ? r->stage >= 0 : r->stage == stage;
}

int lg_set_of(const lg_result *res, int total, int stage, double duration_s, lg_set *o) {
    memset(o, 0, sizeof *o);
    o->duration_s = duration_s;
    o->top = -1;
    double *v[LG_DISTS];
    size_t n_gaps = 0;
    for (int i = 0; i < total; i++)
        if (in_set(&res[i], stage)) n_gaps += (size_t)res[i].n_gaps;
    int rc = 0;
    for (int j = 0; j < LG_DISTS; j++) {
        size_t cnt = j == LG_ITL ? n_gaps : (size_t)total;
        if (!(v[j] = malloc(sizeof(double) * (cnt ? cnt : 1)))) rc = -1;
    }
    int hits = 0;
    for (int i = 0; i < total && !rc; i++) {
        const lg_result *r = &res[i];
        if (!in_set(r, stage)) continue;
        o->n++;
        if (!r->ok) { o->errors++; continue; }
        o->ok++;
        if (r->tokens > 0) o->tokens += r->tokens;
        hits += !strcmp(r->cache, "l1") || !strcmp(r->cache, "l2") || !strcmp(r->cache, "joined");
        if (r->ttft_ms >= 0) v[LG_TTFT][o->dn[LG_TTFT]++] = r->ttft_ms;
        if (r->e2e_ms >= 0) v[LG_E2E][o->dn[LG_E2E]++] = r->e2e_ms;
        if (r->tpot_ms >= 0) v[LG_TPOT][o->dn[LG_TPOT]++] = r->tpot_ms;
        for (int g = 0; g < r->n_gaps; g++) v[LG_ITL][o->dn[LG_ITL]++] = r->gaps[g];
        double part[LG_PARTS];
        if (!lg_result_parts(r, part)) {
            for (int k = 0; k < LG_PARTS; k++) o->part[k] += part[k];
            o->n_parts++;
        }
    }
    for (int j = 0; j < LG_DISTS; j++) {
        if (!rc) dist(v[j], o->dn[j], o->d[j]);
        free(v[j]);
    }
    for (int k = 0; k < LG_PARTS; k++) {
        o->part[k] = o->n_parts ? o->part[k] / o->n_parts : NAN;
        if (o->n_parts && (o->top < 0 || o->part[k] > o->part[o->top])) o->top = k;
    }
    o->arrival_rate = duration_s > 0 ? o->n / duration_s : 0;
    o->req_s = duration_s > 0 ? o->ok / duration_s : 0;
    o->tok_s = duration_s > 0 ? o->tokens / duration_s : 0;
    o->error_rate = o->n ? (double)o->errors / o->n : 0;
    o->cache_hit_ratio = o->ok ? (double)hits / o->ok : 0;
    return rc;
}

const char *lg_part_knob(int k) {
    switch (k) {
    case LG_SUBMIT: return "the client: writing the prompt, or too few client threads";
    case LG_QUEUE: return "scheduler.max_batch (more sequences per step)";
    case LG_PREFILL: return "scheduler.prefill_chunk (and cache.kv_prefix for shared prefixes)";
    case LG_DECODE: return "threads (decode speed per step)";
    case LG_DELIVERY: return "the reader: its read size, or how many files one mount serves";
    }
    return "";
}

void lg_set_print(FILE *f, const char *pre, const lg_set *s) {
    fprintf(f, "%srequests %d\n%serrors %d\n%sarrival_rate %.3f\n%srequests_per_s %.3f\n"
               "%stokens_per_s %.2f\n%scache_hit_ratio %.4f\n", pre, s->n, pre, s->errors, pre,
            s->arrival_rate, pre, s->req_s, pre, s->tok_s, pre, s->cache_hit_ratio);
    for (int j = 0; j < LG_DISTS; j++)
        for (int k = 0; k < LG_STATS; k++)
            if (s->dn[j])
                fprintf(f, "%s%s_%s %.3f\n", pre, lg_dist_names[j], lg_stat_names[k], s->d[j][k]);
    if (s->n_parts) {
        for (int k = 0; k < LG_PARTS; k++)
            fprintf(f, "%s%s_ms_mean %.3f\n", pre, lg_part_names[k], s->part[k]);
        double sum = 0;
        for (int k = 0; k < LG_PARTS; k++) sum += s->part[k];
        fprintf(f, "%sbottleneck %s (%.0f%% of e2e): %s\n", pre, lg_part_names[s->top],
                sum > 0 ? 100 * s->part[s->top] / sum : 0.0, lg_part_knob(s->top));
    }
}

void lg_json_num(FILE *f, double v) {
    if (isfinite(v)) fprintf(f, "%.6g", v);
    else fprintf(f, "null");
}

void lg_set_json(FILE *f, const lg_set *s) {
    fprintf(f, "{\"requests\": %d, \"errors\": %d, \"error_rate\": ", s->n, s->errors);
    lg_json_num(f, s->error_rate);
    fprintf(f, ", \"duration_s\": ");
    lg_json_num(f, s->duration_s);
    fprintf(f, ", \"arrival_rate\": ");
    lg_json_num(f, s->arrival_rate);
    fprintf(f, ", \"requests_per_s\": ");
    lg_json_num(f, s->req_s);
    fprintf(f, ", \"tokens_per_s\": ");
    lg_json_num(f, s->tok_s);
    fprintf(f, ", \"generated_tokens\": %lld, \"cache_hit_ratio\": ", s->tokens);
    lg_json_num(f, s->cache_hit_ratio);
    for (int j = 0; j < LG_DISTS; j++) {
        fprintf(f, ", \"%.*s\": {", (int)(strlen(lg_dist_names[j]) - 3), lg_dist_names[j]);
        for (int k = 0; k < LG_STATS; k++) {
            fprintf(f, "%s\"%s_ms\": ", k ? ", " : "", lg_stat_names[k]);
            lg_json_num(f, s->dn[j] ? s->d[j][k] : NAN);
        }
        fprintf(f, "}");
    }
    fprintf(f, ", \"breakdown\": {");
    for (int k = 0; k < LG_PARTS; k++) {
        fprintf(f, "\"%s_ms\": ", lg_part_names[k]);
        lg_json_num(f, s->part[k]);
        fprintf(f, ", ");
    }
    fprintf(f, "\"requests\": %d, \"bottleneck\": ", s->n_parts);
    if (s->top >= 0) fprintf(f, "\"%s\", \"knob\": \"%s\"}}", lg_part_names[s->top], lg_part_knob(s->top));
    else fprintf(f, "null, \"knob\": null}}");
}
