/* The llmfs.yaml reader, -o overrides and the YAML renderer of the
 * effective configuration.  One table (keys[]) lists every key with its
 * kind and range; the YAML route and the -o route go through it, and
 * generation.* keys through params.c's validators, so a value is judged
 * the same way wherever it comes from.  The renderer writes every key by
 * hand; tests/test_config.c checks that its output reads back equal.  Loading works on a
 * copy and commits only a fully valid document. */
#include "fs/config.h"
#include "fs/yamlx.h"
#include "cache/url.h"
#include "engine/policy.h"
#include "engine/errbuf.h"
#include "engine/utf8.h"
#include "fs/sbuf.h"
#include "remote/remote.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

/* K_RATIO: a number in [lo / 1000, hi / 1000], kept as a float */
enum kind { K_STR, K_INT, K_LL, K_BOOL, K_POLICY, K_GEN, K_RATIO };

static const struct keydef {
    const char *name;     /* dotted key */
    enum kind kind;
    size_t off;           /* of the field in llmfs_config (not for K_GEN) */
    long long lo, hi;     /* range of K_INT / K_LL */
} keys[] = {
    {"model", K_STR, offsetof(llmfs_config, model), 0, 0},
    {"tokenizer", K_STR, offsetof(llmfs_config, tokenizer), 0, 0},
    {"revision", K_STR, offsetof(llmfs_config, revision), 0, 0},
    {"threads", K_INT, offsetof(llmfs_config, threads), 1, 256},
    {"context", K_INT, offsetof(llmfs_config, context), 0, 16777216},
    {"generation.max_tokens", K_GEN, 0, 0, 0},
    {"generation.temperature", K_GEN, 0, 0, 0},
    {"generation.top_k", K_GEN, 0, 0, 0},
    {"generation.top_p", K_GEN, 0, 0, 0},
    {"generation.min_p", K_GEN, 0, 0, 0},
    {"generation.repeat_penalty", K_GEN, 0, 0, 0},
    {"generation.repeat_last_n", K_GEN, 0, 0, 0},
    {"generation.seed", K_GEN, 0, 0, 0},
    {"generation.stop", K_GEN, 0, 0, 0},
    {"generation.priority", K_GEN, 0, 0, 0},
    {"generation.cache", K_GEN, 0, 0, 0},
    {"scheduler.max_batch", K_INT, offsetof(llmfs_config, scheduler.max_batch), 1, 4096},
    {"scheduler.queue", K_INT, offsetof(llmfs_config, scheduler.queue), 1, 1048576},
    {"scheduler.tpot_target_ms", K_INT, offsetof(llmfs_config, scheduler.tpot_target_ms), 1,
     600000},
    {"scheduler.adaptive", K_BOOL, offsetof(llmfs_config, scheduler.adaptive), 0, 0},
    {"scheduler.prefill_chunk", K_INT, offsetof(llmfs_config, scheduler.prefill_chunk), 1, 65536},
    {"cache.l1_mb", K_INT, offsetof(llmfs_config, cache.l1_mb), 0, 1048576},
    {"cache.l2_dir", K_STR, offsetof(llmfs_config, cache.l2_dir), 0, 0},
    {"cache.l2_mb", K_INT, offsetof(llmfs_config, cache.l2_mb), 0, 1048576},
    {"cache.policy", K_POLICY, offsetof(llmfs_config, cache.policy), 0, 0},
    {"cache.l2_redis", K_STR, offsetof(llmfs_config, cache.l2_redis), 0, 0},
    {"cache.l2_hmac_key_file", K_STR, offsetof(llmfs_config, cache.l2_hmac_key_file), 0, 0},
    {"cache.kv_prefix", K_BOOL, offsetof(llmfs_config, cache.kv_prefix), 0, 0},
    {"cache.kv_mb", K_INT, offsetof(llmfs_config, cache.kv_mb), 0, 1048576},
    {"limits.max_prompt_bytes", K_LL, offsetof(llmfs_config, limits.max_prompt_bytes), 1,
     1LL << 40},
    {"remote.timeout_ms", K_INT, offsetof(llmfs_config, remote.timeout_ms), 1, 3600000},
    {"remote.connect_timeout_ms", K_INT, offsetof(llmfs_config, remote.connect_timeout_ms), 1,
     600000},
    {"remote.max_inflight", K_INT, offsetof(llmfs_config, remote.max_inflight), 1, 65536},
    {"remote.retries", K_INT, offsetof(llmfs_config, remote.retries), 0, 10},
    {"remote.retry_budget", K_RATIO, offsetof(llmfs_config, remote.retry_budget), 0, 1000},
    {"remote.backoff_ms", K_INT, offsetof(llmfs_config, remote.backoff_ms), 1, 60000},
    {"remote.breaker_failures", K_INT, offsetof(llmfs_config, remote.breaker_failures), 1, 1000},
    {"remote.breaker_failure_rate", K_RATIO, offsetof(llmfs_config, remote.breaker_failure_rate),
     10, 1000},
    {"remote.breaker_window", K_INT, offsetof(llmfs_config, remote.breaker_window), 1, 256},
    {"remote.breaker_cooldown_ms", K_INT, offsetof(llmfs_config, remote.breaker_cooldown_ms), 1,
     3600000},
    {"remote.route_prefix_bytes", K_INT, offsetof(llmfs_config, remote.route_prefix_bytes), 1,
     1048576},
};
#define N_KEYS (sizeof keys / sizeof keys[0])

static const char *const sections[] = {"generation", "scheduler", "cache", "limits", "remote"};


static const struct keydef *key_find(const char *name)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (!strcmp(keys[i].name, name))
            return &keys[i];
    return NULL;
}

const char *config_dotted_key(const char *leaf, size_t len)
{
    for (size_t i = 0; i < N_KEYS; i++) {
        const char *dot = strchr(keys[i].name, '.');
        if (dot && strlen(dot + 1) == len && !strncmp(dot + 1, leaf, len))
            return keys[i].name;
    }
    return NULL;
}

static int is_section(const char *name)
{
    for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++)
        if (!strcmp(sections[i], name))
            return 1;
    return 0;
}

/* "expected adaptive, lru or ..." from the policies there are. */
static void policy_expect(char *out, size_t cap)
{
    const char *const *names = policy_names();
    size_t n = 0;
    while (names[n]) n++;
    int k = snprintf(out, cap, "expected");
    for (size_t i = 0; i < n && k >= 0 && (size_t)k < cap; i++)
        k += snprintf(out + k, cap - (size_t)k, "%s%s", i == 0 ? " " : i + 1 == n ? " or " : ", ",
                      names[i]);
}

const char *config_policy_name(cache_policy p)
{
    const char *const *names = policy_names();
    for (int i = 0; names[i]; i++)
        if (i == p) return names[i];
    return NULL;
}

/* ---- lifetime ------------------------------------------------------------ */

void config_defaults(llmfs_config *c)
{
    memset(c, 0, sizeof(*c));
    c->model = NULL;
    c->tokenizer = NULL;
    c->threads = 2;
    c->context = 0;
    gen_params_default(&c->generation);
    c->scheduler.max_batch = 16;
    c->scheduler.queue = 256;
    c->scheduler.tpot_target_ms = 50;
    c->scheduler.adaptive = true;
    c->scheduler.prefill_chunk = 32;
    c->cache.l1_mb = 64;
    c->cache.l2_dir = strdup(CONFIG_DEFAULT_L2_DIR);
    c->cache.l2_mb = 1024;
    c->cache.policy = CACHE_POLICY_DEFAULT;
    c->cache.kv_prefix = true;
    c->cache.kv_mb = 256;
    c->limits.max_prompt_bytes = 1048576;
    c->remote.timeout_ms = 30000;
    c->remote.connect_timeout_ms = 5000;
    c->remote.max_inflight = 64;
    c->remote.retries = 2;
    c->remote.retry_budget = 0.2f;
    c->remote.backoff_ms = 50;
    c->remote.breaker_failures = 5;
    c->remote.breaker_failure_rate = 0.5f;
    c->remote.breaker_window = 20;
    c->remote.breaker_cooldown_ms = 5000;
    c->remote.route_prefix_bytes = 64;
}

static void backends_free(config_backend *v, int n)
{
    for (int i = 0; i < n; i++) {
        free(v[i].url);
        free(v[i].model);
        free(v[i].api_key_file);
        free(v[i].api_key_env);
    }
    free(v);
}

void config_release(llmfs_config *c)
{
    if (!c)
        return;
    free(c->model);
    free(c->tokenizer);
    free(c->revision);
    free(c->cache.l2_dir);
    free(c->cache.l2_redis);
    free(c->cache.l2_hmac_key_file);
    backends_free(c->backends, c->n_backends);
    memset(c, 0, sizeof(*c));
}

static int dup_or_null(char **dst, const char *src)
{
    *dst = NULL;
    if (src && !(*dst = strdup(src)))
        return -ENOMEM;
    return 0;
}

int config_copy(llmfs_config *dst, const llmfs_config *src)
{
    *dst = *src;
    dst->model = dst->tokenizer = dst->revision = dst->cache.l2_dir = NULL;
    dst->cache.l2_redis = dst->cache.l2_hmac_key_file = NULL;
    dst->backends = NULL;
    dst->n_backends = 0;
    if (dup_or_null(&dst->model, src->model) || dup_or_null(&dst->tokenizer, src->tokenizer) ||
        dup_or_null(&dst->revision, src->revision) ||
        dup_or_null(&dst->cache.l2_dir, src->cache.l2_dir) ||
        dup_or_null(&dst->cache.l2_redis, src->cache.l2_redis) ||
        dup_or_null(&dst->cache.l2_hmac_key_file, src->cache.l2_hmac_key_file))
        goto oom;
    if (src->n_backends) {
        dst->backends = calloc((size_t)src->n_backends, sizeof *dst->backends);
        if (!dst->backends)
            goto oom;
        dst->n_backends = src->n_backends;
        for (int i = 0; i < src->n_backends; i++) {
            const config_backend *a = &src->backends[i];
            config_backend *b = &dst->backends[i];
            *b = *a;
            b->url = b->model = b->api_key_file = b->api_key_env = NULL;
            if (dup_or_null(&b->url, a->url) || dup_or_null(&b->model, a->model) ||
                dup_or_null(&b->api_key_file, a->api_key_file) ||
                dup_or_null(&b->api_key_env, a->api_key_env))
                goto oom;
        }
    }
    return 0;
oom:
    config_release(dst);
    return -ENOMEM;
}

static int str_equal(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

static int backends_equal(const llmfs_config *a, const llmfs_config *b)
{
    if (a->n_backends != b->n_backends)
        return 0;
    for (int i = 0; i < a->n_backends; i++) {
        const config_backend *x = &a->backends[i], *y = &b->backends[i];
        if (!str_equal(x->url, y->url) || !str_equal(x->model, y->model) ||
            !str_equal(x->api_key_file, y->api_key_file) ||
            !str_equal(x->api_key_env, y->api_key_env) || x->kind != y->kind ||
            x->timeout_ms != y->timeout_ms || x->connect_timeout_ms != y->connect_timeout_ms ||
            x->max_inflight != y->max_inflight)
            return 0;
    }
    return 1;
}

int config_equal(const llmfs_config *a, const llmfs_config *b)
{
    return str_equal(a->model, b->model) && str_equal(a->tokenizer, b->tokenizer) &&
           str_equal(a->revision, b->revision) && backends_equal(a, b) &&
           !memcmp(&a->remote, &b->remote, sizeof a->remote) &&
           a->threads == b->threads && a->context == b->context &&
           params_equal(&a->generation, &b->generation) &&
           a->scheduler.max_batch == b->scheduler.max_batch &&
           a->scheduler.queue == b->scheduler.queue &&
           a->scheduler.tpot_target_ms == b->scheduler.tpot_target_ms &&
           a->scheduler.adaptive == b->scheduler.adaptive &&
           a->scheduler.prefill_chunk == b->scheduler.prefill_chunk &&
           a->cache.l1_mb == b->cache.l1_mb && str_equal(a->cache.l2_dir, b->cache.l2_dir) &&
           str_equal(a->cache.l2_redis, b->cache.l2_redis) &&
           str_equal(a->cache.l2_hmac_key_file, b->cache.l2_hmac_key_file) &&
           a->cache.l2_mb == b->cache.l2_mb && a->cache.policy == b->cache.policy &&
           a->cache.kv_prefix == b->cache.kv_prefix && a->cache.kv_mb == b->cache.kv_mb &&
           a->limits.max_prompt_bytes == b->limits.max_prompt_bytes;
}

/* ---- applying one value ---------------------------------------------------- */

static int is_null_scalar(const char *v, size_t len, unsigned flags)
{
    return !(flags & PARAMS_QUOTED) && yamlx_null_text(v, len);
}

/* Applies one scalar to c.  On failure c is unchanged, returns -EINVAL
 * (reason in err, without the key) or -ENOMEM. */
static int apply_scalar(llmfs_config *c, const struct keydef *k, const char *v, size_t len,
                        unsigned flags, char *err, size_t errlen)
{
    char *base = (char *)c;
    long long x;
    int b;
    switch (k->kind) {
    case K_STR: {
        char **field = (char **)(base + k->off);
        if (is_null_scalar(v, len, flags)) {
            if (!strcmp(k->name, "cache.l2_dir")) {
                errbuf_set(err, errlen, 0, "expected a directory path");
                return -EINVAL;
            }
            free(*field);
            *field = NULL;
            return 0;
        }
        if (len == 0) {
            errbuf_set(err, errlen, 0, "expected a path, got an empty string");
            return -EINVAL;
        }
        if (memchr(v, '\0', len)) {
            errbuf_set(err, errlen, 0, "a path cannot contain a NUL byte");
            return -EINVAL;
        }
        if (!utf8_valid(v, len)) {
            errbuf_set(err, errlen, 0, "expected UTF-8 text");
            return -EINVAL;
        }
        if (!strcmp(k->name, "cache.l2_redis")) {
            char tmp[2048], why[160];
            url u;
            snprintf(tmp, sizeof tmp, "%.*s", (int)len, v);
            if (len >= sizeof tmp || url_parse(tmp, &u, why, sizeof why) ||
                strcmp(u.scheme, "redis")) {
                errbuf_set(err, errlen, 0, "expected redis://[:PASSWORD@]HOST[:PORT][/DB]");
                explicit_bzero(tmp, sizeof tmp);
                explicit_bzero(&u, sizeof u);
                return -EINVAL;
            }
            explicit_bzero(tmp, sizeof tmp);
            explicit_bzero(&u, sizeof u);
        }
        char *s = malloc(len + 1);
        if (!s)
            return -ENOMEM;
        memcpy(s, v, len);
        s[len] = '\0';
        free(*field);
        *field = s;
        return 0;
    }
    case K_INT:
    case K_LL:
        if (params_parse_int(v, len, flags, k->lo, k->hi, &x)) {
            errbuf_set(err, errlen, 0, "expected an integer in [%lld, %lld]%s", k->lo, k->hi,
                   (flags & PARAMS_QUOTED) ? " (got a quoted string)" : "");
            return -EINVAL;
        }
        if (k->kind == K_INT)
            *(int *)(base + k->off) = (int)x;
        else
            *(long long *)(base + k->off) = x;
        return 0;
    case K_RATIO: {
        float f;
        if (params_parse_float(v, len, flags, &f) || !(f >= k->lo / 1000.0f) ||
            !(f <= k->hi / 1000.0f)) {
            errbuf_set(err, errlen, 0, "expected a number in [%g, %g]%s", k->lo / 1000.0,
                       k->hi / 1000.0, (flags & PARAMS_QUOTED) ? " (got a quoted string)" : "");
            return -EINVAL;
        }
        *(float *)(base + k->off) = f;
        return 0;
    }
    case K_BOOL:
        if (params_parse_bool(v, len, flags, &b)) {
            errbuf_set(err, errlen, 0, "expected true or false%s",
                   (flags & PARAMS_QUOTED) ? " (got a quoted string)" : "");
            return -EINVAL;
        }
        *(bool *)(base + k->off) = b != 0;
        return 0;
    case K_POLICY:
        for (int p = 0; config_policy_name(p); p++) {
            const char *n = config_policy_name(p);
            if (len == strlen(n) && !memcmp(v, n, len)) {
                *(cache_policy *)(base + k->off) = p;
                return 0;
            }
        }
        policy_expect(err, errlen);
        return -EINVAL;
    case K_GEN: {
        const char *sub = k->name + strlen("generation.");
        if (!strcmp(sub, "stop") && is_null_scalar(v, len, flags)) {
            params_stop_clear(&c->generation);
            return 0;
        }
        return params_set(&c->generation, sub, v, len, flags, err, errlen);
    }
    }
    return -EINVAL;
}

/* ---- the YAML route ----------------------------------------------------------- */

typedef struct loader {
    yaml_document_t *doc;
    llmfs_config *c;
    const char *name;   /* file name for messages */
    char *err;
    size_t errlen;
} loader;

static int fail_at(loader *L, yaml_mark_t m, const char *fmt, ...)
{
    char reason[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    errbuf_set(L->err, L->errlen, 0, "%s:%zu:%zu: %s", L->name, (size_t)m.line + 1,
           (size_t)m.column + 1, reason);
    return -EINVAL;
}

/* A key's text for messages: printable ASCII, at most 48 bytes. */
static void key_show(char *out, size_t cap, const char *s, size_t n)
{
    size_t j = 0;
    for (size_t i = 0; i < n && j + 4 < cap && i < 48; i++)
        out[j++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    if (n > 48 && j + 4 < cap)
        out[j++] = '.', out[j++] = '.', out[j++] = '.';
    out[j] = '\0';
}

static unsigned scalar_flags(const yaml_node_t *n)
{
    return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? 0 : PARAMS_QUOTED;
}

/* Reads a mapping key into buf (C string); -EINVAL if it is not a plain
 * short scalar name. */
static int read_key(loader *L, const yaml_node_t *kn, char *buf, size_t cap)
{
    if (!kn || kn->type != YAML_SCALAR_NODE)
        return fail_at(L, kn ? kn->start_mark : (yaml_mark_t){0}, "expected a key name, got %s",
                       kn ? yamlx_kind(kn) : "nothing");
    size_t n = kn->data.scalar.length;
    const char *s = (const char *)kn->data.scalar.value;
    if (n == 0 || n >= cap || memchr(s, '\0', n)) {
        char show[64];
        key_show(show, sizeof show, s, n);
        return fail_at(L, kn->start_mark, "unknown key '%s'", show);
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    return 0;
}

static void known_keys(char *out, size_t cap, const char *section)
{
    size_t pl = section ? strlen(section) : 0, j = 0;
    out[0] = '\0';
    if (!section) {
        j = (size_t)snprintf(out, cap, "model, tokenizer, revision, threads, context, backend, "
                                       "generation, scheduler, cache, limits, remote");
        return;
    }
    for (size_t i = 0; i < N_KEYS && j < cap; i++) {
        if (strncmp(keys[i].name, section, pl) || keys[i].name[pl] != '.')
            continue;
        j += (size_t)snprintf(out + j, cap - j, "%s%s", j ? ", " : "", keys[i].name + pl + 1);
    }
}

/* Is the key at pair index i already used by an earlier pair? */
static int dup_key(yaml_document_t *doc, yaml_node_pair_t *start, yaml_node_pair_t *pair)
{
    yaml_node_t *k = yaml_document_get_node(doc, pair->key);
    for (yaml_node_pair_t *p = start; p < pair; p++) {
        yaml_node_t *q = yaml_document_get_node(doc, p->key);
        if (q && k && q->type == YAML_SCALAR_NODE && k->type == YAML_SCALAR_NODE &&
            q->data.scalar.length == k->data.scalar.length &&
            !memcmp(q->data.scalar.value, k->data.scalar.value, k->data.scalar.length))
            return 1;
    }
    return 0;
}

/* What a key expects, worded as its scalar validator words it. */
static void expect_text(const struct keydef *k, char *out, size_t cap)
{
    switch (k->kind) {
    case K_STR: snprintf(out, cap, "expected a string"); return;
    case K_INT:
    case K_LL: snprintf(out, cap, "expected an integer in [%lld, %lld]", k->lo, k->hi); return;
    case K_BOOL: snprintf(out, cap, "expected true or false"); return;
    case K_RATIO: snprintf(out, cap, "expected a number in [%g, %g]", k->lo / 1000.0, k->hi / 1000.0); return;
    case K_POLICY: policy_expect(out, cap); return;
    case K_GEN: params_expect(k->name + strlen("generation."), out, cap); return;
    }
    snprintf(out, cap, "invalid value");
}

static int load_value(loader *L, const struct keydef *k, yaml_node_t *vn)
{
    char reason[192];
    int rc;
    if (k->kind == K_GEN && !strcmp(k->name, "generation.stop") &&
        vn->type == YAML_SEQUENCE_NODE) {
        gen_params g = L->c->generation;
        params_stop_clear(&g);
        for (yaml_node_item_t *it = vn->data.sequence.items.start;
             it < vn->data.sequence.items.top; it++) {
            yaml_node_t *in = yaml_document_get_node(L->doc, *it);
            if (!in)
                continue;
            if (in->type != YAML_SCALAR_NODE)
                return fail_at(L, in->start_mark, "%s: expected a string, got %s", k->name,
                               yamlx_kind(in));
            if (params_stop_add(&g, (const char *)in->data.scalar.value, in->data.scalar.length,
                                reason, sizeof reason))
                return fail_at(L, in->start_mark, "%s: %s", k->name, reason);
        }
        L->c->generation = g;
        return 0;
    }
    if (vn->type != YAML_SCALAR_NODE) {
        expect_text(k, reason, sizeof reason);
        return fail_at(L, vn->start_mark, "%s: %s, got %s", k->name, reason, yamlx_kind(vn));
    }
    rc = apply_scalar(L->c, k, (const char *)vn->data.scalar.value, vn->data.scalar.length,
                      scalar_flags(vn), reason, sizeof reason);
    if (rc == -ENOMEM) {
        errbuf_set(L->err, L->errlen, 0, "%s: out of memory", L->name);
        return rc;
    }
    if (rc)
        return fail_at(L, vn->start_mark, "%s: %s", k->name, reason);
    return 0;
}

/* ---- backend: a list of endpoints --------------------------------------------- */

static const char *const backend_keys =
    "url, model, kind, api_key_file, api_key_env, timeout_ms, connect_timeout_ms, max_inflight";

/* A string field of a backend entry: non-empty UTF-8 without NUL. */
static int entry_string(loader *L, yaml_node_t *vn, const char *key, char **out)
{
    if (vn->type != YAML_SCALAR_NODE)
        return fail_at(L, vn->start_mark, "backend.%s: expected a string, got %s", key,
                       yamlx_kind(vn));
    const char *v = (const char *)vn->data.scalar.value;
    size_t n = vn->data.scalar.length;
    if (is_null_scalar(v, n, scalar_flags(vn))) {
        free(*out);
        *out = NULL;
        return 0;
    }
    if (!n || memchr(v, 0, n) || !utf8_valid(v, n))
        return fail_at(L, vn->start_mark, "backend.%s: expected a non-empty UTF-8 string", key);
    char *s = strndup(v, n);
    if (!s) {
        errbuf_set(L->err, L->errlen, 0, "%s: out of memory", L->name);
        return -ENOMEM;
    }
    free(*out);
    *out = s;
    return 0;
}

static int entry_int(loader *L, yaml_node_t *vn, const char *key, long long hi, int *out)
{
    long long x;
    if (vn->type != YAML_SCALAR_NODE ||
        params_parse_int((const char *)vn->data.scalar.value, vn->data.scalar.length,
                         scalar_flags(vn), 1, hi, &x))
        return fail_at(L, vn->start_mark, "backend.%s: expected an integer in [1, %lld]", key, hi);
    *out = (int)x;
    return 0;
}

static int load_entry(loader *L, yaml_node_t *map, config_backend *b)
{
    if (map->type != YAML_MAPPING_NODE)
        return fail_at(L, map->start_mark, "backend: expected a mapping of %s, got %s",
                       backend_keys, yamlx_kind(map));
    yaml_node_pair_t *start = map->data.mapping.pairs.start;
    for (yaml_node_pair_t *p = start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(L->doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(L->doc, p->value);
        char key[64];
        int rc = read_key(L, kn, key, sizeof key);
        if (rc)
            return rc;
        if (dup_key(L->doc, start, p))
            return fail_at(L, kn->start_mark, "duplicate key 'backend.%s'", key);
        if (!vn)
            return fail_at(L, kn->start_mark, "backend.%s: missing value", key);
        if (!strcmp(key, "url"))
            rc = entry_string(L, vn, key, &b->url);
        else if (!strcmp(key, "model"))
            rc = entry_string(L, vn, key, &b->model);
        else if (!strcmp(key, "api_key_file"))
            rc = entry_string(L, vn, key, &b->api_key_file);
        else if (!strcmp(key, "api_key_env"))
            rc = entry_string(L, vn, key, &b->api_key_env);
        else if (!strcmp(key, "timeout_ms"))
            rc = entry_int(L, vn, key, 3600000, &b->timeout_ms);
        else if (!strcmp(key, "connect_timeout_ms"))
            rc = entry_int(L, vn, key, 600000, &b->connect_timeout_ms);
        else if (!strcmp(key, "max_inflight"))
            rc = entry_int(L, vn, key, 65536, &b->max_inflight);
        else if (!strcmp(key, "kind")) {
            int k = vn->type == YAML_SCALAR_NODE
                        ? remote_kind_parse((const char *)vn->data.scalar.value,
                                            vn->data.scalar.length)
                        : -1;
            if (k < 0)
                return fail_at(L, vn->start_mark, "backend.kind: expected openai, vllm, sglang, "
                               "llama-server or ollama");
            b->kind = k;
        } else {
            char show[64];
            key_show(show, sizeof show, key, strlen(key));
            return fail_at(L, kn->start_mark, "unknown key 'backend.%s' (known: %s)", show,
                           backend_keys);
        }
        if (rc)
            return rc;
    }
    if (!b->url)
        return fail_at(L, map->start_mark, "backend: an entry without its url");
    url u;
    char why[160];
    if (url_parse(b->url, &u, why, sizeof why))
        return fail_at(L, map->start_mark, "backend.url: %s", why);
    if (strcmp(u.scheme, "http") && strcmp(u.scheme, "https"))
        return fail_at(L, map->start_mark, "backend.url: expected http:// or https://");
    if (u.user[0] || u.has_password)
        return fail_at(L, map->start_mark, "backend.url: no user or password in the URL (give "
                       "the key in api_key_file or api_key_env)");
    return 0;
}

/* backend: a list of endpoints, one endpoint's mapping, or null/"local"
 * for the in-process engine. */
static int load_backends(loader *L, yaml_node_t *vn)
{
    config_backend *v = NULL;
    int n = 0, rc = 0;
    if (vn->type == YAML_SCALAR_NODE) {
        const char *s = (const char *)vn->data.scalar.value;
        size_t len = vn->data.scalar.length;
        if (!is_null_scalar(s, len, scalar_flags(vn)) && !(len == 5 && !memcmp(s, "local", 5)))
            return fail_at(L, vn->start_mark, "backend: expected local or a list of endpoints "
                           "({url: ..., model: ...})");
    } else {
        yaml_node_t *one = vn->type == YAML_MAPPING_NODE ? vn : NULL;
        int count = one ? 1 : (int)(vn->data.sequence.items.top - vn->data.sequence.items.start);
        if (count > CONFIG_MAX_BACKENDS)
            return fail_at(L, vn->start_mark, "backend: at most %d endpoints", CONFIG_MAX_BACKENDS);
        if (count && !(v = calloc((size_t)count, sizeof *v))) {
            errbuf_set(L->err, L->errlen, 0, "%s: out of memory", L->name);
            return -ENOMEM;
        }
        for (int i = 0; i < count && !rc; i++) {
            yaml_node_t *in = one ? one
                                  : yaml_document_get_node(L->doc, vn->data.sequence.items.start[i]);
            if (!in) {
                rc = fail_at(L, vn->start_mark, "backend: an empty entry");
                break;
            }
            n++;
            rc = load_entry(L, in, &v[i]);
        }
        for (int i = 1; i < n && !rc; i++)
            if (!str_equal(v[i].model, v[0].model))
                rc = fail_at(L, vn->start_mark, "backend: every endpoint must serve the same "
                             "model (the cache keys on its name)");
        if (rc) {
            backends_free(v, n);
            return rc;
        }
    }
    backends_free(L->c->backends, L->c->n_backends);
    L->c->backends = v;
    L->c->n_backends = n;
    return 0;
}

/* Walks a mapping whose keys are prefixed with section (NULL: the root). */
static int load_mapping(loader *L, yaml_node_t *map, const char *section)
{
    yaml_node_pair_t *start = map->data.mapping.pairs.start;
    for (yaml_node_pair_t *p = start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(L->doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(L->doc, p->value);
        char key[64], dotted[128], known[256];
        int rc = read_key(L, kn, key, sizeof key);
        if (rc)
            return rc;
        snprintf(dotted, sizeof dotted, "%s%s%s", section ? section : "", section ? "." : "",
                 key);
        if (dup_key(L->doc, start, p))
            return fail_at(L, kn->start_mark, "duplicate key '%s'", dotted);
        if (!vn)
            return fail_at(L, kn->start_mark, "%s: missing value", dotted);
        if (!section && !strcmp(key, "backend")) {
            rc = load_backends(L, vn);
            if (rc)
                return rc;
            continue;
        }
        if (!section && is_section(key)) {
            if (vn->type == YAML_SCALAR_NODE &&
                is_null_scalar((const char *)vn->data.scalar.value, vn->data.scalar.length,
                               scalar_flags(vn)))
                continue;   /* "cache:" with nothing under it */
            if (vn->type != YAML_MAPPING_NODE)
                return fail_at(L, vn->start_mark, "%s: expected a mapping of keys, got %s",
                               key, yamlx_kind(vn));
            rc = load_mapping(L, vn, key);
            if (rc)
                return rc;
            continue;
        }
        const struct keydef *k = key_find(dotted);
        if (!k) {
            known_keys(known, sizeof known, section);
            char show[64];
            key_show(show, sizeof show, dotted, strlen(dotted));
            return fail_at(L, kn->start_mark, "unknown key '%s' (known: %s)", show, known);
        }
        rc = load_value(L, k, vn);
        if (rc)
            return rc;
    }
    return 0;
}

int config_load_buf(llmfs_config *c, const char *buf, size_t len, const char *name, char *err,
                    size_t errlen)
{
    if (!name)
        name = "<config>";
    if (!c->cache.l2_dir) {
        errbuf_set(err, errlen, 0, "%s: out of memory", name);
        return -ENOMEM;
    }
    yaml_document_t doc;
    llmfs_config tmp;
    yamlx_error ye;
    int rc = yamlx_load(buf, len, &doc, &ye);
    if (rc == -ENOMEM) {
        errbuf_set(err, errlen, 0, "%s: out of memory", name);
        return rc;
    }
    if (rc) {
        if (ye.context[0])
            errbuf_set(err, errlen, 0, "%s:%zu:%zu: %s (%s at line %zu)", name, ye.line, ye.col,
                       ye.problem, ye.context, ye.context_line);
        else
            errbuf_set(err, errlen, 0, "%s:%zu:%zu: %s", name, ye.line, ye.col, ye.problem);
        return rc;
    }
    if (config_copy(&tmp, c)) {
        errbuf_set(err, errlen, 0, "%s: out of memory", name);
        rc = -ENOMEM;
        goto out_doc;
    }
    loader L = {.doc = &doc, .c = &tmp, .name = name, .err = err, .errlen = errlen};
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    rc = 0;
    if (root && root->type == YAML_MAPPING_NODE) {
        rc = load_mapping(&L, root, NULL);
    } else if (root && !(root->type == YAML_SCALAR_NODE &&
                         is_null_scalar((const char *)root->data.scalar.value,
                                        root->data.scalar.length, scalar_flags(root)))) {
        rc = fail_at(&L, root->start_mark, "expected a mapping of keys, got %s",
                     yamlx_kind(root));
    }
    if (rc == 0) {
        config_release(c);
        *c = tmp;
    } else {
        config_release(&tmp);
    }
out_doc:
    yaml_document_delete(&doc);
    return rc;
}

int config_load_file(llmfs_config *c, const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        errbuf_set(err, errlen, 0, "%s: %s", path, strerror(e));
        return -e;
    }
    struct stat st;
    int e = 0;
    if (fstat(fd, &st) < 0)
        e = errno;
    else if (S_ISDIR(st.st_mode))
        e = EISDIR;
    else if (st.st_size > (16 << 20))
        e = EFBIG;
    if (e) {
        errbuf_set(err, errlen, 0, "%s: %s", path, strerror(e));
        close(fd);
        return -e;
    }
    size_t cap = (size_t)st.st_size + 1, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        close(fd);
        errbuf_set(err, errlen, 0, "%s: out of memory", path);
        return -ENOMEM;
    }
    for (;;) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            errbuf_set(err, errlen, 0, "%s: %s", path, strerror(e));
            free(buf);
            close(fd);
            return -e;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n == cap) {
            if (cap > (16 << 20)) {
                errbuf_set(err, errlen, 0, "%s: %s", path, strerror(EFBIG));
                free(buf);
                close(fd);
                return -EFBIG;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                close(fd);
                errbuf_set(err, errlen, 0, "%s: out of memory", path);
                return -ENOMEM;
            }
            buf = nb, cap *= 2;
        }
    }
    close(fd);
    int rc = config_load_buf(c, buf, n, path, err, errlen);
    free(buf);
    return rc;
}

int config_set_option(llmfs_config *c, const char *key, const char *value, char *err,
                      size_t errlen)
{
    if (!key || !*key) {
        errbuf_set(err, errlen, 0, "-o: expected key=value");
        return -EINVAL;
    }
    if (!value)
        value = "";
    const struct keydef *k = key_find(key);
    if (!k) {
        if (!strcmp(key, "backend") || !strncmp(key, "backend.", 8))
            errbuf_set(err, errlen, 0, "%s: a list of endpoints: give it in the config file", key);
        else if (is_section(key))
            errbuf_set(err, errlen, 0, "%s: a section: set its keys, e.g. -o %s.KEY=VALUE", key, key);
        else
            errbuf_set(err, errlen, 0, "%s: unknown option", key);
        return -EINVAL;
    }
    size_t len = strlen(value);
    if (!utf8_valid(value, len)) {
        errbuf_set(err, errlen, 0, "%s: expected UTF-8 text", key);
        return -EINVAL;
    }
    char reason[192];
    int rc = apply_scalar(c, k, value, len, 0, reason, sizeof reason);
    if (rc == -ENOMEM)
        errbuf_set(err, errlen, 0, "%s: out of memory", key);
    else if (rc)
        errbuf_set(err, errlen, 0, "%s: %s", key, reason);
    return rc;
}

/* ---- rendering ---------------------------------------------------------------- */

/* A YAML double-quoted scalar for s, readable back byte for byte by
 * libyaml (which refuses raw control and non-printable characters and
 * folds raw line breaks, so those are escaped). */
static void sb_quoted(sbuf *b, const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strlen(s);
    sb_put(b, "\"", 1);
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = utf8_decode(s + i, n - i, &cp);
        if (k == 0) {   /* not UTF-8 (never from YAML or -o): keep a readable escape */
            sb_printf(b, "\\x%02x", u[i]);
            i++;
            continue;
        }
        switch (cp) {
        case '"': sb_put(b, "\\\"", 2); break;
        case '\\': sb_put(b, "\\\\", 2); break;
        case '\n': sb_put(b, "\\n", 2); break;
        case '\t': sb_put(b, "\\t", 2); break;
        case '\r': sb_put(b, "\\r", 2); break;
        case 0x85: sb_put(b, "\\N", 2); break;
        case 0x2028: sb_put(b, "\\L", 2); break;
        case 0x2029: sb_put(b, "\\P", 2); break;
        default:
            if ((cp >= 0x20 && cp <= 0x7e) || (cp >= 0xa0 && cp <= 0xd7ff) ||
                (cp >= 0xe000 && cp <= 0xfffd && cp != 0xfeff) || (cp >= 0x10000 && cp <= 0x10ffff))
                sb_put(b, s + i, k);
            else if (cp <= 0xff)
                sb_printf(b, "\\x%02x", (unsigned)cp);
            else
                sb_printf(b, "\\u%04x", (unsigned)cp);
        }
        i += k;
    }
    sb_put(b, "\"", 1);
}

static void sb_string_or_null(sbuf *b, const char *s)
{
    if (s)
        sb_quoted(b, s);
    else
        sb_put(b, "~", 1);
}

/* The shortest decimal that reads back (strtof) as exactly x. */
static void sb_float(sbuf *b, float x)
{
    char tmp[48];
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, (double)x);
        if (strtof(tmp, NULL) == x)
            break;
    }
    sb_put(b, tmp, strlen(tmp));
}

int config_render_yaml(const llmfs_config *c, char **out, size_t *len)
{
    sbuf b = {0};
    const gen_params *g = &c->generation;
    sb_printf(&b, "# llmfs effective configuration (llmfs.yaml(5))\n");
    sb_put(&b, "model: ", 7);
    sb_string_or_null(&b, c->model);
    sb_put(&b, "\ntokenizer: ", 12);
    sb_string_or_null(&b, c->tokenizer);
    sb_put(&b, "\nrevision: ", 11);
    sb_string_or_null(&b, c->revision);
    /* the endpoints: where the key is, never the key */
    if (!c->n_backends)
        sb_put(&b, "\nbackend: local", 15);
    else
        sb_put(&b, "\nbackend:", 9);
    for (int i = 0; i < c->n_backends; i++) {
        const config_backend *e = &c->backends[i];
        sb_put(&b, "\n  - url: ", 10);
        sb_quoted(&b, e->url ? e->url : "");
        const char *kind = remote_kind_name(e->kind);
        sb_printf(&b, "\n    kind: %s", kind ? kind : "openai");
        if (e->model) { sb_put(&b, "\n    model: ", 12); sb_quoted(&b, e->model); }
        if (e->api_key_file) { sb_put(&b, "\n    api_key_file: ", 19); sb_quoted(&b, e->api_key_file); }
        if (e->api_key_env) { sb_put(&b, "\n    api_key_env: ", 18); sb_quoted(&b, e->api_key_env); }
        if (e->timeout_ms) sb_printf(&b, "\n    timeout_ms: %d", e->timeout_ms);
        if (e->connect_timeout_ms) sb_printf(&b, "\n    connect_timeout_ms: %d", e->connect_timeout_ms);
        if (e->max_inflight) sb_printf(&b, "\n    max_inflight: %d", e->max_inflight);
    }
    sb_printf(&b, "\nthreads: %d\n", c->threads);
    sb_printf(&b, "context: %d\n", c->context);
    sb_printf(&b, "generation:\n  max_tokens: %d\n  temperature: ", g->max_tokens);
    sb_float(&b, g->temperature);
    sb_printf(&b, "\n  top_k: %d\n  top_p: ", g->top_k);
    sb_float(&b, g->top_p);
    sb_put(&b, "\n  min_p: ", 10);
    sb_float(&b, g->min_p);
    sb_put(&b, "\n  repeat_penalty: ", 19);
    sb_float(&b, g->repeat_penalty);
    sb_printf(&b, "\n  repeat_last_n: %d", g->repeat_last_n);
    sb_printf(&b, "\n  seed: %llu\n  stop: [", (unsigned long long)g->seed);
    for (int i = 0; i < g->n_stop && i < GEN_MAX_STOP; i++) {
        if (i)
            sb_put(&b, ", ", 2);
        sb_quoted(&b, g->stop[i]);
    }
    const char *prio = params_priority_name(g->priority);
    const char *cmode = params_cache_name(g->cache);
    sb_printf(&b, "]\n  priority: %s\n  cache: %s\n", prio ? prio : "normal",
              cmode ? cmode : "on");
    sb_printf(&b, "scheduler:\n  max_batch: %d\n  queue: %d\n  tpot_target_ms: %d\n  adaptive: %s\n"
              "  prefill_chunk: %d\n", c->scheduler.max_batch, c->scheduler.queue,
              c->scheduler.tpot_target_ms, c->scheduler.adaptive ? "true" : "false",
              c->scheduler.prefill_chunk);
    sb_printf(&b, "cache:\n  l1_mb: %d\n  l2_dir: ", c->cache.l1_mb);
    sb_string_or_null(&b, c->cache.l2_dir);
    const char *pol = config_policy_name(c->cache.policy);
    sb_printf(&b, "\n  l2_mb: %d\n  policy: %s\n  kv_prefix: %s\n  kv_mb: %d\n", c->cache.l2_mb,
              pol ? pol : "adaptive", c->cache.kv_prefix ? "true" : "false", c->cache.kv_mb);
    /* the Redis URL as it may be shown: a password reads as *** */
    sb_put(&b, "  l2_redis: ", 12);
    url ru;
    char shown[4096];
    if (c->cache.l2_redis && !url_parse(c->cache.l2_redis, &ru, shown, sizeof shown) &&
        ru.has_password) {
        url_show(&ru, shown, sizeof shown);
        explicit_bzero(&ru, sizeof ru);
        sb_quoted(&b, shown);
    } else {
        sb_string_or_null(&b, c->cache.l2_redis);
    }
    sb_put(&b, "\n  l2_hmac_key_file: ", 21);
    sb_string_or_null(&b, c->cache.l2_hmac_key_file);
    sb_put(&b, "\n", 1);
    sb_printf(&b, "limits:\n  max_prompt_bytes: %lld\n", c->limits.max_prompt_bytes);
    sb_printf(&b, "remote:\n  timeout_ms: %d\n  connect_timeout_ms: %d\n  max_inflight: %d\n"
              "  retries: %d\n  retry_budget: ", c->remote.timeout_ms,
              c->remote.connect_timeout_ms, c->remote.max_inflight, c->remote.retries);
    sb_float(&b, c->remote.retry_budget);
    sb_printf(&b, "\n  backoff_ms: %d\n  breaker_failures: %d\n  breaker_failure_rate: ",
              c->remote.backoff_ms, c->remote.breaker_failures);
    sb_float(&b, c->remote.breaker_failure_rate);
    sb_printf(&b, "\n  breaker_window: %d\n  breaker_cooldown_ms: %d\n  route_prefix_bytes: %d\n",
              c->remote.breaker_window, c->remote.breaker_cooldown_ms,
              c->remote.route_prefix_bytes);
    if (b.oom) {
        free(b.p);
        return -ENOMEM;
    }
    *out = b.p;
    *len = b.len;
    return 0;
}

int config_expand_path(const char *path, char **out)
{
    if (!path)
        return -EINVAL;
    if (path[0] == '~' && (path[1] == '/' || path[1] == '\0')) {
        const char *home = getenv("HOME");
        if (!home || !*home)
            return -ENOENT;
        size_t hl = strlen(home), pl = strlen(path + 1);
        char *s = malloc(hl + pl + 1);
        if (!s)
            return -ENOMEM;
        memcpy(s, home, hl);
        memcpy(s + hl, path + 1, pl + 1);
        *out = s;
        return 0;
    }
    return (*out = strdup(path)) ? 0 : -ENOMEM;
}
