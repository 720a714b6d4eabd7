/* Per-request generation parameters: defaults, one validating setter per
 * key (shared by front matter, xattrs and the config file), and the xattr
 * route.  Setters work on a copy and commit only valid values, so a
 * gen_params never holds an out-of-range field. */
#include "fs/params.h"
#include "engine/errbuf.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* ---- scalar parsers ---------------------------------------------------- */

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Copies the (optionally trimmed) text into buf as a C string; -EINVAL if
 * it is empty, too long, or holds a NUL. */
static int scalar_text(const char *v, size_t len, unsigned flags, char *buf, size_t cap)
{
    if (flags & PARAMS_QUOTED)
        return -EINVAL;
    if (flags & PARAMS_TRIM) {
        while (len && is_space(*v))
            v++, len--;
        while (len && is_space(v[len - 1]))
            len--;
    }
    if (len == 0 || len >= cap || memchr(v, '\0', len))
        return -EINVAL;
    memcpy(buf, v, len);
    buf[len] = '\0';
    return 0;
}

/* 1 if s is one or more decimal digits and nothing else. */
static int all_digits(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

int params_parse_int(const char *v, size_t len, unsigned flags, long long lo, long long hi,
                     long long *out)
{
    char buf[32];
    if (scalar_text(v, len, flags, buf, sizeof buf))
        return -EINVAL;
    if (!all_digits(buf + (buf[0] == '+' || buf[0] == '-')))
        return -EINVAL;
    errno = 0;
    char *end;
    long long x = strtoll(buf, &end, 10);
    if (errno || *end || x < lo || x > hi)
        return -EINVAL;
    *out = x;
    return 0;
}

int params_parse_u64(const char *v, size_t len, unsigned flags, uint64_t *out)
{
    char buf[32];
    if (scalar_text(v, len, flags, buf, sizeof buf))
        return -EINVAL;
    const char *s = buf + (buf[0] == '+');
    if (!all_digits(s))
        return -EINVAL;
    errno = 0;
    char *end;
    unsigned long long x = strtoull(s, &end, 10);
    if (errno || *end)
        return -EINVAL;
    *out = (uint64_t)x;
    return 0;
}

int params_parse_float(const char *v, size_t len, unsigned flags, float *out)
{
    char buf[64];
    if (scalar_text(v, len, flags, buf, sizeof buf))
        return -EINVAL;
    /* Decimal only: strtof would also take inf, nan and hex floats. */
    int digits = 0;
    for (const char *q = buf; *q; q++) {
        if (*q >= '0' && *q <= '9')
            digits++;
        else if (!strchr("+-.eE", *q))
            return -EINVAL;
    }
    if (!digits)
        return -EINVAL;
    errno = 0;
    char *end;
    float x = strtof(buf, &end);
    if (*end || !isfinite(x) || (errno == ERANGE && x != 0.0f))
        return -EINVAL;
    if (x == 0.0f)
        x = 0.0f;   /* no negative zero: "-0" is 0 */
    *out = x;
    return 0;
}

int params_parse_bool(const char *v, size_t len, unsigned flags, int *out)
{
    static const char *const t[] = {"true", "True", "TRUE", "yes", "Yes", "YES",
                                    "on", "On", "ON"};
    static const char *const f[] = {"false", "False", "FALSE", "no", "No", "NO",
                                    "off", "Off", "OFF"};
    char buf[8];
    if (scalar_text(v, len, flags, buf, sizeof buf))
        return -EINVAL;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        if (!strcmp(buf, t[i])) {
            *out = 1;
            return 0;
        }
        if (!strcmp(buf, f[i])) {
            *out = 0;
            return 0;
        }
    }
    return -EINVAL;
}

/* ---- one validator per key --------------------------------------------- */

static const char *quoted_hint(unsigned flags)
{
    return (flags & PARAMS_QUOTED) ? " (got a quoted string)" : "";
}

static int set_max_tokens(gen_params *p, const char *v, size_t len, unsigned flags, char *err,
                          size_t errlen)
{
    long long x;
    if (params_parse_int(v, len, flags, 1, GEN_MAX_TOKENS_LIMIT, &x)) {
        errbuf_set(err, errlen, 0, "expected an integer in [1, %d]%s", GEN_MAX_TOKENS_LIMIT,
               quoted_hint(flags));
        return -EINVAL;
    }
    p->max_tokens = (int)x;
    return 0;
}

static int set_temperature(gen_params *p, const char *v, size_t len, unsigned flags, char *err,
                           size_t errlen)
{
    float x;
    if (params_parse_float(v, len, flags, &x) || !(x >= 0.0f && x <= GEN_TEMPERATURE_MAX)) {
        errbuf_set(err, errlen, 0, "expected a number from 0 to %d%s", GEN_TEMPERATURE_MAX,
                   quoted_hint(flags));
        return -EINVAL;
    }
    p->temperature = x;
    return 0;
}

static int set_top_k(gen_params *p, const char *v, size_t len, unsigned flags, char *err,
                     size_t errlen)
{
    long long x;
    if (params_parse_int(v, len, flags, 0, 0x7fffffff, &x)) {
        errbuf_set(err, errlen, 0, "expected an integer >= 0 (0 = off)%s", quoted_hint(flags));
        return -EINVAL;
    }
    p->top_k = (int)x;
    return 0;
}

static int set_top_p(gen_params *p, const char *v, size_t len, unsigned flags, char *err,
                     size_t errlen)
{
    float x;
    if (params_parse_float(v, len, flags, &x) || !(x > 0.0f && x <= 1.0f)) {
        errbuf_set(err, errlen, 0, "expected a number in (0, 1]%s", quoted_hint(flags));
        return -EINVAL;
    }
    p->top_p = x;
    return 0;
}

static int set_min_p(gen_params *p, const char *v, size_t len, unsigned flags, char *err,
                     size_t errlen)
{
    float x;
    if (params_parse_float(v, len, flags, &x) || !(x >= 0.0f && x <= 1.0f)) {
        errbuf_set(err, errlen, 0, "expected a number in [0, 1] (0 = off)%s", quoted_hint(flags));
        return -EINVAL;
    }
    p->min_p = x;
    return 0;
}

static int set_repeat_penalty(gen_params *p, const char *v, size_t len, unsigned flags,
                              char *err, size_t errlen)
{
    float x;
    if (params_parse_float(v, len, flags, &x) || !(x > 0.0f && x <= GEN_PENALTY_MAX)) {
        errbuf_set(err, errlen, 0, "expected a number in (0, %d] (1 = off)%s", GEN_PENALTY_MAX,
                   quoted_hint(flags));
        return -EINVAL;
    }
    p->repeat_penalty = x;
    return 0;
}

static int set_repeat_last_n(gen_params *p, const char *v, size_t len, unsigned flags,
                             char *err, size_t errlen)
{
    long long x;
    if (params_parse_int(v, len, flags, 0, GEN_PENALTY_LAST_MAX, &x)) {
        errbuf_set(err, errlen, 0, "expected an integer in [0, %d]%s", GEN_PENALTY_LAST_MAX,
                   quoted_hint(flags));
        return -EINVAL;
    }
    p->repeat_last_n = (int)x;
    return 0;
}

static int set_seed(gen_params *p, const char *v, size_t len, unsigned flags, char *err,
                    size_t errlen)
{
    uint64_t x;
    if (params_parse_u64(v, len, flags, &x)) {
        errbuf_set(err, errlen, 0, "expected an integer in [0, 18446744073709551615]%s",
               quoted_hint(flags));
        return -EINVAL;
    }
    p->seed = x;
    return 0;
}

/* Sets *out to the index of the name in names[0..n) that the value spells
 * (trimmed on the xattr route); -EINVAL if none does. */
static int set_name(const char *const *names, int n, const char *v, size_t len, unsigned flags,
                    int *out)
{
    if (flags & PARAMS_TRIM) {
        while (len && is_space(*v))
            v++, len--;
        while (len && is_space(v[len - 1]))
            len--;
    }
    for (int i = 0; i < n; i++) {
        if (len == strlen(names[i]) && !memcmp(v, names[i], len)) {
            *out = i;
            return 0;
        }
    }
    return -EINVAL;
}

static const char *const prio_names[] = {"high", "normal", "low"};
static const char *const cache_names[] = {"on", "refresh", "off"};

static int set_priority(gen_params *p, const char *v, size_t len, unsigned flags, char *err,
                        size_t errlen)
{
    int i;
    if (set_name(prio_names, 3, v, len, flags, &i)) {
        errbuf_set(err, errlen, 0, "expected high, normal or low");
        return -EINVAL;
    }
    p->priority = (gen_priority)i;
    return 0;
}

static int set_cache(gen_params *p, const char *v, size_t len, unsigned flags, char *err,
                     size_t errlen)
{
    int i;
    if (set_name(cache_names, 3, v, len, flags, &i)) {
        errbuf_set(err, errlen, 0, "expected on, refresh or off");
        return -EINVAL;
    }
    p->cache = (gen_cache)i;
    return 0;
}

void params_stop_clear(gen_params *p)
{
    p->n_stop = 0;
    memset(p->stop, 0, sizeof p->stop);
}

int params_stop_add(gen_params *p, const char *s, size_t len, char *err, size_t errlen)
{
    if (p->n_stop >= GEN_MAX_STOP) {
        errbuf_set(err, errlen, 0, "at most %d stop strings", GEN_MAX_STOP);
        return -EINVAL;
    }
    if (len == 0) {
        errbuf_set(err, errlen, 0, "a stop string cannot be empty");
        return -EINVAL;
    }
    if (len > GEN_STOP_MAX) {
        errbuf_set(err, errlen, 0, "a stop string is at most %d bytes (got %zu)", GEN_STOP_MAX, len);
        return -EINVAL;
    }
    if (memchr(s, '\0', len)) {
        errbuf_set(err, errlen, 0, "a stop string cannot contain a NUL byte");
        return -EINVAL;
    }
    memcpy(p->stop[p->n_stop], s, len);
    p->stop[p->n_stop][len] = '\0';
    p->n_stop++;
    return 0;
}

static int set_stop(gen_params *p, const char *v, size_t len, unsigned flags, char *err,
                    size_t errlen)
{
    params_stop_clear(p);
    if (len == 0 && !(flags & PARAMS_QUOTED))
        return 0;   /* an unquoted empty value: no stop strings */
    return params_stop_add(p, v, len, err, errlen);
}

typedef int (*setter_fn)(gen_params *, const char *, size_t, unsigned, char *, size_t);

static const struct {
    const char *key;
    setter_fn set;
} setters[] = {
    {"max_tokens", set_max_tokens},
    {"temperature", set_temperature},
    {"top_k", set_top_k},
    {"top_p", set_top_p},
    {"min_p", set_min_p},
    {"repeat_penalty", set_repeat_penalty},
    {"repeat_last_n", set_repeat_last_n},
    {"seed", set_seed},
    {"stop", set_stop},
    {"priority", set_priority},
    {"cache", set_cache},
};

static setter_fn setter_find(const char *key)
{
    for (size_t i = 0; i < sizeof setters / sizeof setters[0]; i++)
        if (!strcmp(setters[i].key, key))
            return setters[i].set;
    return NULL;
}

int params_is_key(const char *key)
{
    return key && setter_find(key) != NULL;
}

void params_expect(const char *key, char *out, size_t cap)
{
    gen_params scratch;
    gen_params_default(&scratch);
    setter_fn set = setter_find(key);
    /* Every validator but stop's refuses an empty value, in its words. */
    if (!set || !strcmp(key, "stop") || set(&scratch, "", 0, 0, out, cap) == 0)
        snprintf(out, cap, "expected a string or a list of strings");
}

int params_set(gen_params *p, const char *key, const char *val, size_t len, unsigned flags,
               char *err, size_t errlen)
{
    setter_fn set = setter_find(key);
    if (!set)
        return -ENOENT;
    gen_params tmp = *p;
    int rc = set(&tmp, val, len, flags, err, errlen);
    if (rc == 0)
        *p = tmp;
    return rc;
}

int params_set_xattr(gen_params *p, const char *name, const char *value, size_t len,
                     char *err, size_t errlen)
{
    if (!name || !setter_find(name)) {
        errbuf_set(err, errlen, 0, "%s: not a generation parameter", name ? name : "(null)");
        return -ENOTSUP;
    }
    if (!value)
        len = 0;
    char reason[160] = "";
    gen_params tmp = *p;
    int rc = 0;
    if (!strcmp(name, "stop")) {
        params_stop_clear(&tmp);
        if (len && value[len - 1] == '\0')
            len--;   /* a C string's terminator, as `setfattr` may send */
        size_t i = 0;
        while (rc == 0 && i < len) {
            const char *nul = memchr(value + i, '\0', len - i);
            size_t n = nul ? (size_t)(nul - (value + i)) : len - i;
            rc = params_stop_add(&tmp, value + i, n, reason, sizeof reason);
            i += n + 1;
        }
        if (rc == 0 && len && value[len - 1] == '\0')
            rc = params_stop_add(&tmp, "", 0, reason, sizeof reason);
    } else {
        rc = params_set(&tmp, name, value, len, PARAMS_TRIM, reason, sizeof reason);
    }
    if (rc) {
        errbuf_set(err, errlen, 0, "%s: %s", name, reason);
        return -EINVAL;
    }
    *p = tmp;
    return 0;
}

int params_check(const gen_params *p, char *err, size_t errlen)
{
    if (p->max_tokens < 1 || p->max_tokens > GEN_MAX_TOKENS_LIMIT) {
        errbuf_set(err, errlen, 0, "max_tokens: expected an integer in [1, %d]", GEN_MAX_TOKENS_LIMIT);
        return -EINVAL;
    }
    if (!(p->temperature >= 0.0f && p->temperature <= GEN_TEMPERATURE_MAX)) {
        errbuf_set(err, errlen, 0, "temperature: expected a number from 0 to %d", GEN_TEMPERATURE_MAX);
        return -EINVAL;
    }
    if (p->top_k < 0) {
        errbuf_set(err, errlen, 0, "top_k: expected an integer >= 0 (0 = off)");
        return -EINVAL;
    }
    if (!(p->top_p > 0.0f && p->top_p <= 1.0f)) {
        errbuf_set(err, errlen, 0, "top_p: expected a number in (0, 1]");
        return -EINVAL;
    }
    if (!(p->min_p >= 0.0f && p->min_p <= 1.0f)) {
        errbuf_set(err, errlen, 0, "min_p: expected a number in [0, 1] (0 = off)");
        return -EINVAL;
    }
    if (!(p->repeat_penalty > 0.0f && p->repeat_penalty <= GEN_PENALTY_MAX)) {
        errbuf_set(err, errlen, 0, "repeat_penalty: expected a number in (0, %d] (1 = off)",
                   GEN_PENALTY_MAX);
        return -EINVAL;
    }
    if (p->repeat_last_n < 0 || p->repeat_last_n > GEN_PENALTY_LAST_MAX) {
        errbuf_set(err, errlen, 0, "repeat_last_n: expected an integer in [0, %d]",
                   GEN_PENALTY_LAST_MAX);
        return -EINVAL;
    }
    if (p->n_stop < 0 || p->n_stop > GEN_MAX_STOP) {
        errbuf_set(err, errlen, 0, "stop: at most %d stop strings", GEN_MAX_STOP);
        return -EINVAL;
    }
    for (int i = 0; i < p->n_stop; i++) {
        size_t n = strnlen(p->stop[i], GEN_STOP_MAX + 1);
        if (n == 0 || n > GEN_STOP_MAX) {
            errbuf_set(err, errlen, 0, "stop: a stop string is 1 to %d bytes", GEN_STOP_MAX);
            return -EINVAL;
        }
    }
    if (!params_priority_name(p->priority)) {
        errbuf_set(err, errlen, 0, "priority: expected high, normal or low");
        return -EINVAL;
    }
    if (!params_cache_name(p->cache)) {
        errbuf_set(err, errlen, 0, "cache: expected on, refresh or off");
        return -EINVAL;
    }
    return 0;
}

const char *params_priority_name(gen_priority prio)
{
    return (unsigned)prio < 3 ? prio_names[prio] : NULL;
}

const char *params_cache_name(gen_cache mode)
{
    return (unsigned)mode < 3 ? cache_names[mode] : NULL;
}

int params_equal(const gen_params *a, const gen_params *b)
{
    if (a->max_tokens != b->max_tokens || a->temperature != b->temperature ||
        a->top_k != b->top_k || a->top_p != b->top_p || a->seed != b->seed ||
        a->min_p != b->min_p || a->repeat_penalty != b->repeat_penalty ||
        a->repeat_last_n != b->repeat_last_n ||
        a->ignore_eos != b->ignore_eos || a->n_stop != b->n_stop ||
        a->priority != b->priority || a->cache != b->cache)
        return 0;
    for (int i = 0; i < a->n_stop; i++)
        if (strcmp(a->stop[i], b->stop[i]))
            return 0;
    return 1;
}
