/* Scenario files for llmfs-bench (scenario.h): a strict reader over the
 * bounded YAML loader (yamlx.h) that refuses unknown keys, wrong types and
 * impossible values with FILE:LINE:COLUMN, and the seeded arrival
 * schedule of a stage. */
#include "loadgen/scenario.h"
#include "fs/yamlx.h"
#include "engine/errbuf.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    yaml_document_t *doc;
    const char *name;
    char *err;
    size_t errlen;
} rd;

static int fail(rd *r, const yaml_node_t *n, const char *fmt, ...) {
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    errbuf_set(r->err, r->errlen, 0, "%s:%zu:%zu: %s", r->name, (size_t)n->start_mark.line + 1,
               (size_t)n->start_mark.column + 1, why);
    return -EINVAL;
}

static const char *text(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }

static int is_plain(const yaml_node_t *n) {
    return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

/* A number in [lo, hi] (key names it in messages). */
static int get_num(rd *r, const yaml_node_t *n, const char *key, double lo, double hi, double *out) {
    char *end;
    if (!is_plain(n) || !n->data.scalar.length)
        return fail(r, n, "%s: expected a number, got %s", key, yamlx_kind(n));
    double v = strtod(text(n), &end);
    if (*end || !isfinite(v)) return fail(r, n, "%s: expected a number, got '%.40s'", key, text(n));
    if (v < lo || v > hi) return fail(r, n, "%s: %g is out of range [%g, %g]", key, v, lo, hi);
    *out = v;
    return 0;
}

static int get_int(rd *r, const yaml_node_t *n, const char *key, long long lo, long long hi,
                   long long *out) {
    double v;
    int rc = get_num(r, n, key, (double)lo, (double)hi, &v);
    if (rc) return rc;
    if (v != floor(v)) return fail(r, n, "%s: expected an integer, got %s", key, text(n));
    *out = (long long)v;
    return 0;
}

static int get_str(rd *r, const yaml_node_t *n, const char *key, char **out) {
    if (n->type != YAML_SCALAR_NODE || !n->data.scalar.length || memchr(text(n), 0, n->data.scalar.length))
        return fail(r, n, "%s: expected a non-empty string, got %s", key, yamlx_kind(n));
    free(*out);
    *out = strdup(text(n));
    return *out ? 0 : -ENOMEM;
}

/* Walks the pairs of mapping n: each key must be one of keys[]; fn
 * handles it.  Duplicate keys are refused. */
typedef int (*pair_fn)(rd *r, void *ud, const char *key, yaml_node_t *v);

static int each_pair(rd *r, yaml_node_t *n, const char *what, const char *const *keys,
                     pair_fn fn, void *ud) {
    if (n->type != YAML_MAPPING_NODE) return fail(r, n, "%s: expected a mapping, got %s", what, yamlx_kind(n));
    unsigned seen = 0;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(r->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(r->doc, p->value);
        if (!k || !v) return fail(r, n, "%s: malformed mapping", what);
        if (k->type != YAML_SCALAR_NODE) return fail(r, k, "%s: expected a key name, got %s", what, yamlx_kind(k));
        int i = 0;
        while (keys[i] && strcmp(keys[i], text(k))) i++;
        if (!keys[i]) {
            char known[256] = "";
            for (int j = 0; keys[j]; j++)
                snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", j ? ", " : "", keys[j]);
            return fail(r, k, "%s: unknown key '%.40s' (known: %s)", what, text(k), known);
        }
        if (seen & (1u << i)) return fail(r, k, "%s: duplicate key '%s'", what, keys[i]);
        seen |= 1u << i;
        int rc = fn(r, ud, keys[i], v);
        if (rc) return rc;
    }
    return 0;
}

static int prompts_pair(rd *r, void *ud, const char *key, yaml_node_t *v) {
    scenario *s = ud;
    if (!strcmp(key, "dir")) return get_str(r, v, "prompts.dir", &s->prompt_dir);
    if (!strcmp(key, "file")) return get_str(r, v, "prompts.file", &s->prompt_file);
    if (!strcmp(key, "text")) return get_str(r, v, "prompts.text", &s->prompt_text);
    return get_num(r, v, "prompts.repeat", 0, 1, &s->repeat);
}

static int params_pair(rd *r, void *ud, const char *key, yaml_node_t *v) {
    scenario *s = ud;
    if (!strcmp(key, "max_tokens")) {
        long long x = 0;
        int rc = get_int(r, v, "params.max_tokens", 1, 1048576, &x);
        if (!rc) s->max_tokens = (int)x;
        return rc;
    }
    return get_num(r, v, "params.temperature", 0, 100, &s->temperature);
}

static int sla_pair(rd *r, void *ud, const char *key, yaml_node_t *v) {
    scn_sla *a = ud;
    if (!strcmp(key, "ttft_p95_ms")) return get_num(r, v, "sla.ttft_p95_ms", 0, 1e9, &a->ttft_p95_ms);
    if (!strcmp(key, "e2e_p95_ms")) return get_num(r, v, "sla.e2e_p95_ms", 0, 1e9, &a->e2e_p95_ms);
    if (!strcmp(key, "error_rate")) return get_num(r, v, "sla.error_rate", 0, 1, &a->error_rate);
    return get_num(r, v, "sla.tokens_per_s_min", 0, 1e9, &a->tokens_per_s_min);
}

typedef struct {
    scn_stage *st;
    int has_rate, has_rate_to, has_conc, has_kind, has_dur;
} stage_rd;

static int stage_pair(rd *r, void *ud, const char *key, yaml_node_t *v) {
    stage_rd *sr = ud;
    scn_stage *st = sr->st;
    if (!strcmp(key, "kind")) {
        static const char *const kinds[] = {"steady", "ramp", "spike", "soak"};
        if (!is_plain(v)) return fail(r, v, "kind: expected steady, ramp, spike or soak");
        for (int i = 0; i < 4; i++)
            if (!strcmp(text(v), kinds[i])) { st->kind = (scn_kind)i; sr->has_kind = 1; return 0; }
        return fail(r, v, "kind: expected steady, ramp, spike or soak, got '%.40s'", text(v));
    }
    if (!strcmp(key, "duration_s")) {
        sr->has_dur = 1;
        int rc = get_num(r, v, "duration_s", 0, 1e7, &st->duration_s);
        if (!rc && st->duration_s <= 0) return fail(r, v, "duration_s: must be above 0");
        return rc;
    }
    if (!strcmp(key, "rate")) { sr->has_rate = 1; return get_num(r, v, "rate", 0, 1e6, &st->rate); }
    if (!strcmp(key, "rate_to")) { sr->has_rate_to = 1; return get_num(r, v, "rate_to", 0, 1e6, &st->rate_to); }
    long long c = 0;
    int rc = get_int(r, v, "concurrency", 1, 100000, &c);
    if (!rc) { st->concurrency = (int)c; sr->has_conc = 1; }
    return rc;
}

static int stages(rd *r, scenario *s, yaml_node_t *n) {
    if (n->type != YAML_SEQUENCE_NODE) return fail(r, n, "stages: expected a list, got %s", yamlx_kind(n));
    static const char *const keys[] = {"kind", "duration_s", "rate", "rate_to", "concurrency", NULL};
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
        yaml_node_t *v = yaml_document_get_node(r->doc, *it);
        if (!v) return fail(r, n, "stages: malformed list");
        if (s->n_stages == SCN_MAX_STAGES) return fail(r, v, "stages: at most %d", SCN_MAX_STAGES);
        scn_stage *st = &s->stage[s->n_stages];
        memset(st, 0, sizeof *st);
        stage_rd sr = {st, 0, 0, 0, 0, 0};
        int rc = each_pair(r, v, "stage", keys, stage_pair, &sr);
        if (rc) return rc;
        if (!sr.has_kind) return fail(r, v, "stage: kind is missing (steady, ramp, spike or soak)");
        if (!sr.has_dur) return fail(r, v, "stage: duration_s is missing");
        if (sr.has_rate == sr.has_conc)
            return fail(r, v, "stage: give either rate (open loop) or concurrency (closed loop)");
        if (sr.has_rate && st->rate <= 0 && !(st->kind == SCN_RAMP && st->rate_to > 0))
            return fail(r, v, "stage: rate must be above 0");
        if (st->kind == SCN_RAMP && sr.has_rate && !sr.has_rate_to)
            return fail(r, v, "stage: a ramp needs rate_to");
        if (st->kind != SCN_RAMP && sr.has_rate_to)
            return fail(r, v, "stage: rate_to is for a ramp");
        if (st->kind != SCN_RAMP || sr.has_conc) st->rate_to = st->rate;
        s->n_stages++;
    }
    if (!s->n_stages) return fail(r, n, "stages: the list is empty");
    return 0;
}

static int top_pair(rd *r, void *ud, const char *key, yaml_node_t *v) {
    scenario *s = ud;
    if (!strcmp(key, "name")) {
        char *t = NULL;
        int rc = get_str(r, v, "name", &t);
        if (!rc) snprintf(s->name, sizeof s->name, "%s", t);
        free(t);
        return rc;
    }
    if (!strcmp(key, "seed")) {
        long long x = 0;
        int rc = get_int(r, v, "seed", 0, 9007199254740992LL, &x);
        if (!rc) s->seed = (uint64_t)x;
        return rc;
    }
    if (!strcmp(key, "prompts")) {
        static const char *const keys[] = {"dir", "file", "text", "repeat", NULL};
        int rc = each_pair(r, v, "prompts", keys, prompts_pair, s);
        if (rc) return rc;
        int n = !!s->prompt_dir + !!s->prompt_file + !!s->prompt_text;
        if (n != 1) return fail(r, v, "prompts: give one of dir, file or text");
        return 0;
    }
    if (!strcmp(key, "params")) {
        static const char *const keys[] = {"max_tokens", "temperature", NULL};
        return each_pair(r, v, "params", keys, params_pair, s);
    }
    if (!strcmp(key, "warmup_s")) return get_num(r, v, "warmup_s", 0, 1e6, &s->warmup_s);
    if (!strcmp(key, "stages")) return stages(r, s, v);
    static const char *const keys[] = {"ttft_p95_ms", "e2e_p95_ms", "error_rate", "tokens_per_s_min", NULL};
    return each_pair(r, v, "sla", keys, sla_pair, &s->sla);
}

void scenario_release(scenario *s) {
    free(s->prompt_dir);
    free(s->prompt_file);
    free(s->prompt_text);
    memset(s, 0, sizeof *s);
}

int scenario_parse(scenario *s, const char *buf, size_t len, const char *name, char *err,
                   size_t errlen) {
    memset(s, 0, sizeof *s);
    s->temperature = -1;
    s->sla = (scn_sla){-1, -1, -1, -1};
    yaml_document_t doc;
    yamlx_error ye;
    int rc = yamlx_load(buf, len, &doc, &ye);
    if (rc == -ENOMEM) return errbuf_set(err, errlen, rc, "%s: out of memory", name);
    if (rc) return errbuf_set(err, errlen, rc, "%s:%zu:%zu: %s", name, ye.line, ye.col, ye.problem);
    rd r = {&doc, name, err, errlen};
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    static const char *const keys[] = {"name", "seed", "prompts", "params", "warmup_s", "stages",
                                       "sla", NULL};
    if (!root) rc = errbuf_set(err, errlen, -EINVAL, "%s:1:1: the file is empty", name);
    else rc = each_pair(&r, root, "scenario", keys, top_pair, s);
    if (!rc && !(s->prompt_dir || s->prompt_file || s->prompt_text))
        rc = fail(&r, root, "scenario: prompts is missing (dir, file or text)");
    if (!rc && !s->n_stages) rc = fail(&r, root, "scenario: stages is missing");
    yaml_document_delete(&doc);
    if (rc) {
        scenario_release(s);
        if (rc == -ENOMEM) errbuf_set(err, errlen, rc, "%s: out of memory", name);
    }
    return rc;
}

/* ------------------------------------------------------------ arrivals */

static double unit(uint64_t *rng) {      /* (0, 1], splitmix64 */
    uint64_t z = (*rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return ((double)(z >> 11) + 1.0) / 9007199254740992.0;
}

long scenario_arrivals(const scn_stage *st, uint64_t *rng, double *t, size_t cap) {
    if (st->concurrency > 0) return -EINVAL;
    /* the cumulative intensity L(x) = r0 x + (r1 - r0) x^2 / (2 D) is
     * inverted at the sums of unit exponentials */
    double D = st->duration_s, r0 = st->rate, r1 = st->rate_to;
    double a = (r1 - r0) / (2 * D), total = r0 * D + a * D * D;
    long n = 0;
    double S = 0;
    for (;;) {
        S += -log(unit(rng));
        if (S > total) break;
        double x = fabs(a) < 1e-12 ? S / r0 : (-r0 + sqrt(r0 * r0 + 4 * a * S)) / (2 * a);
        if ((size_t)n < cap) t[n] = x;
        n++;
    }
    return n;
}
