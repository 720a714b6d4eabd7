/* llmfs-cachesim: replays cache traces through the replacement policies of
 * engine/policy.h, made by name with policy_new() exactly as the daemon
 * makes them, and prints one TSV row of miss ratios per trace, policy and
 * cache size.
 *
 *   llmfs-cachesim [--policy P,...] [--size F,...] [--format mooncake|csv] [--check]
 *                  [--repeat N]
 *                  TRACE...
 *
 * A trace is read into memory once (the first pass counts its distinct
 * objects and bytes, which size the caches), then replayed once per policy
 * and size.  Mooncake traces (JSON lines of prompt block hashes) replay as
 * a prefix cache sees them: a request's blocks hit only up to its first
 * missing block.  CSV traces replay as an object cache sees them.  The
 * simulated objects are a hash table from key to a struct embedding the
 * pol_node, drawn from a pool sized by the most objects the cache can hold. */
#define _GNU_SOURCE
#include "engine/version.h"
#include "engine/errbuf.h"
#include "engine/policy.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

static const char *prog = "llmfs-cachesim";

static _Noreturn void die(int status, const char *fmt, ...) {
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(status);
}

static void usage(FILE *f) {
    fprintf(f,
        "usage: %s [--policy P,...] [--size F,...] [--format mooncake|csv] [--check]\n"
        "       [--repeat N] TRACE...\n"
        "Replays each TRACE through each policy at each cache size (a fraction of the\n"
        "trace's distinct blocks or bytes) and prints TSV rows of miss ratios.\n"
        "Policies: ", prog);
    for (const char *const *n = policy_names(); *n; n++) fprintf(f, "%s%s", *n, n[1] ? "," : "\n");
    fprintf(f, "Defaults: every policy, --size 0.01,0.05,0.1, the format read from the file.\n"
               "--repeat N replays each N times and reports the fastest (ns_per_request).\n");
}

/* --------------------------------------------------------------- traces */

enum { FMT_AUTO, FMT_MOONCAKE, FMT_CSV };
#define MOONCAKE_BLOCK 512   /* tokens per hash_ids block */

/* A trace in memory.  Every format becomes requests of accesses: a Mooncake
 * line is one request of its blocks, a CSV row a request of one object. */
typedef struct {
    uint64_t *key;           /* (n) the object of each access */
    uint64_t *bytes;         /* (n) its size */
    double *cost;            /* (n) its cost */
    unsigned char *hint;     /* (n) POL_HINT_* the cache would know */
    size_t n, cap;
    size_t *req;             /* (n_req + 1) first access of each request; req[n_req] = n */
    double *when;            /* (n_req) the request's time in seconds (0: the trace has none) */
    size_t n_req, cap_req;
    size_t unique;           /* distinct keys */
    uint64_t unique_bytes;   /* sum over distinct keys of the first size seen */
    double total_bytes, total_cost;
    int unit_policy_cost;    /* policies see cost 1 (prefix blocks: see mooncake_line) */
} trace;

static void trace_release(trace *t) {
    free(t->key);
    free(t->bytes);
    free(t->cost);
    free(t->hint);
    free(t->req);
    free(t->when);
    memset(t, 0, sizeof *t);
}

static int trace_access(trace *t, uint64_t key, uint64_t bytes, double cost) {
    if (t->n == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 4096;
        uint64_t *k = realloc(t->key, nc * sizeof *k);
        if (k) t->key = k;
        uint64_t *b = realloc(t->bytes, nc * sizeof *b);
        if (b) t->bytes = b;
        double *c = realloc(t->cost, nc * sizeof *c);
        if (c) t->cost = c;
        unsigned char *h = realloc(t->hint, nc);
        if (h) t->hint = h;
        if (!k || !b || !c || !h) return -ENOMEM;
        t->cap = nc;
    }
    t->key[t->n] = key;
    t->bytes[t->n] = bytes;
    t->cost[t->n] = cost;
    t->hint[t->n] = 0;
    t->n++;
    return 0;
}

/* Starts a request at the next access. */
static int trace_request(trace *t) {
    if (t->n_req + 2 > t->cap_req) {
        size_t nc = t->cap_req ? t->cap_req * 2 : 4096;
        size_t *r = realloc(t->req, nc * sizeof *r);
        if (r) t->req = r;
        double *w = realloc(t->when, nc * sizeof *w);
        if (w) t->when = w;
        if (!r || !w) return -ENOMEM;
        t->cap_req = nc;
    }
    t->when[t->n_req] = 0;
    t->req[t->n_req++] = t->n;
    t->req[t->n_req] = t->n;
    return 0;
}

static void trace_end_request(trace *t) { t->req[t->n_req] = t->n; }

/* Fibonacci hashing: keys are often small consecutive integers. */
static inline size_t key_hash(uint64_t key, int bits) {
    return (size_t)((key * 0x9E3779B97F4A7C15ull) >> (64 - bits));
}

/* The first pass: distinct keys and their bytes, with a set of keys. */
static int trace_count(trace *t) {
    int bits = 4;
    while (((size_t)1 << bits) < 2 * t->n + 2) bits++;
    size_t size = (size_t)1 << bits, mask = size - 1;
    uint64_t *k = malloc(size * sizeof *k);
    unsigned char *used = calloc(size, 1);
    if (!k || !used) {
        free(k);
        free(used);
        return -ENOMEM;
    }
    t->unique = 0;
    t->unique_bytes = 0;
    t->total_bytes = t->total_cost = 0;
    for (size_t i = 0; i < t->n; i++) {
        size_t h = key_hash(t->key[i], bits);
        while (used[h] && k[h] != t->key[i]) h = (h + 1) & mask;
        if (!used[h]) {
            used[h] = 1;
            k[h] = t->key[i];
            t->unique++;
            t->unique_bytes += t->bytes[i];
        }
        t->total_bytes += (double)t->bytes[i];
        t->total_cost += t->cost[i];
    }
    free(k);
    free(used);
    return 0;
}

/* ------------------------------------------------------ Mooncake (JSON) */

/* A bounds-checked cursor over one line: every read checks s < end. */
typedef struct {
    const char *s, *end;
    const char *why;         /* what was wrong, when a call returns -1 */
} jcur;

static int jfail(jcur *c, const char *why) {
    c->why = why;
    return -1;
}

static void jws(jcur *c) {
    while (c->s < c->end && (*c->s == ' ' || *c->s == '\t' || *c->s == '\r' || *c->s == '\n')) c->s++;
}

static int jpeek(jcur *c) { return c->s < c->end ? (unsigned char)*c->s : -1; }

static int jhex(int ch) {
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

/* A string at c->s; its raw bytes (escapes kept) in [*b, *e). */
static int jstring(jcur *c, const char **b, const char **e) {
    if (jpeek(c) != '"') return jfail(c, "expected a string");
    c->s++;
    *b = c->s;
    while (c->s < c->end) {
        unsigned char ch = (unsigned char)*c->s;
        if (ch == '"') {
            *e = c->s++;
            return 0;
        }
        if (ch < 0x20) return jfail(c, "a control character in a string");
        if (ch == '\\') {
            if (++c->s >= c->end) break;
            switch (*c->s) {
            case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
                c->s++;
                break;
            case 'u':
                if (c->end - c->s < 5 || !jhex(c->s[1]) || !jhex(c->s[2]) || !jhex(c->s[3]) ||
                    !jhex(c->s[4]))
                    return jfail(c, "a bad \\u escape");
                c->s += 5;
                break;
            default:
                return jfail(c, "a bad escape in a string");
            }
            continue;
        }
        c->s++;
    }
    return jfail(c, "an unterminated string");
}

static int jdigits(jcur *c) {
    const char *s = c->s;
    while (c->s < c->end && *c->s >= '0' && *c->s <= '9') c->s++;
    return c->s > s ? 0 : -1;
}

/* A JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static int jnumber(jcur *c) {
    if (jpeek(c) == '-') c->s++;
    if (jpeek(c) == '0') c->s++;
    else if (jdigits(c)) return jfail(c, "a bad number");
    if (jpeek(c) == '.') {
        c->s++;
        if (jdigits(c)) return jfail(c, "a bad number");
    }
    if (jpeek(c) == 'e' || jpeek(c) == 'E') {
        c->s++;
        if (jpeek(c) == '+' || jpeek(c) == '-') c->s++;
        if (jdigits(c)) return jfail(c, "a bad number");
    }
    return 0;
}

static int jliteral(jcur *c, const char *w) {
    size_t l = strlen(w);
    if ((size_t)(c->end - c->s) < l || memcmp(c->s, w, l)) return jfail(c, "an unexpected character");
    c->s += l;
    return 0;
}

/* Skips any value, nested up to 64 deep. */
static int jskip(jcur *c, int depth) {
    const char *b, *e;
    if (depth > 64) return jfail(c, "nested too deep");
    jws(c);
    switch (jpeek(c)) {
    case '"': return jstring(c, &b, &e);
    case 't': return jliteral(c, "true");
    case 'f': return jliteral(c, "false");
    case 'n': return jliteral(c, "null");
    case '[':
    case '{': {
        int obj = *c->s == '{', close = obj ? '}' : ']';
        c->s++;
        jws(c);
        if (jpeek(c) == close) {
            c->s++;
            return 0;
        }
        for (;;) {
            if (obj) {
                jws(c);
                if (jstring(c, &b, &e)) return -1;
                jws(c);
                if (jpeek(c) != ':') return jfail(c, "expected ':'");
                c->s++;
            }
            if (jskip(c, depth + 1)) return -1;
            jws(c);
            if (jpeek(c) == ',') {
                c->s++;
                continue;
            }
            if (jpeek(c) == close) {
                c->s++;
                return 0;
            }
            return jfail(c, obj ? "expected ',' or '}'" : "expected ',' or ']'");
        }
    }
    default:
        if (jpeek(c) == '-' || (jpeek(c) >= '0' && jpeek(c) <= '9')) return jnumber(c);
        return jfail(c, c->s < c->end ? "an unexpected character" : "a value missing");
    }
}

/* An integer element of hash_ids: -?[0-9]+ within int64, nothing after. */
static int jinteger(jcur *c, uint64_t *out) {
    int neg = jpeek(c) == '-';
    if (neg) c->s++;
    if (jpeek(c) < '0' || jpeek(c) > '9') return jfail(c, "expected an integer");
    uint64_t v = 0;
    while (c->s < c->end && *c->s >= '0' && *c->s <= '9') {
        unsigned d = (unsigned)(*c->s++ - '0');
        if (v > (UINT64_C(9223372036854775807) - d) / 10) return jfail(c, "an integer out of range");
        v = v * 10 + d;
    }
    if (jpeek(c) == '.' || jpeek(c) == 'e' || jpeek(c) == 'E') return jfail(c, "expected an integer");
    *out = neg ? (uint64_t)-(int64_t)v : v;
    return 0;
}

static int key_is(const char *b, const char *e, const char *w) {
    size_t l = strlen(w);
    return (size_t)(e - b) == l && !memcmp(b, w, l);
}

/* One line {"timestamp": T, "input_length": I, "output_length": O,
 * "hash_ids": [...]} in any key order, other keys skipped; appends one
 * request of the blocks, unit size, cost = position + 1.  0, -1 (c->why
 * says why) or -ENOMEM. */
static int mooncake_line(trace *t, jcur *c) {
    const char *b, *e;
    int have_ids = 0, rc;
    uint64_t input_len = 0;
    double when_ms = 0;
    size_t first = t->n;
    jws(c);
    if (jpeek(c) != '{') return jfail(c, "expected a JSON object");
    c->s++;
    jws(c);
    if (jpeek(c) == '}') {
        c->s++;
    } else {
        for (;;) {
            jws(c);
            if (jstring(c, &b, &e)) return -1;
            jws(c);
            if (jpeek(c) != ':') return jfail(c, "expected ':'");
            c->s++;
            jws(c);
            if (key_is(b, e, "hash_ids")) {
                if (have_ids) return jfail(c, "hash_ids twice");
                have_ids = 1;
                if (jpeek(c) != '[') return jfail(c, "hash_ids is not an array");
                c->s++;
                if ((rc = trace_request(t))) return rc;
                jws(c);
                if (jpeek(c) == ']') {
                    c->s++;
                } else {
                    for (double pos = 1;; pos++) {
                        uint64_t id;
                        jws(c);
                        if (jinteger(c, &id)) return -1;
                        if ((rc = trace_access(t, id, 1, pos))) return rc;
                        jws(c);
                        if (jpeek(c) == ',') {
                            c->s++;
                            continue;
                        }
                        if (jpeek(c) == ']') {
                            c->s++;
                            break;
                        }
                        return jfail(c, "expected ',' or ']' in hash_ids");
                    }
                }
                trace_end_request(t);
            } else if (key_is(b, e, "input_length")) {
                if (jpeek(c) < '0' || jpeek(c) > '9')
                    return jfail(c, "input_length must be a non-negative integer");
                if (jinteger(c, &input_len)) return -1;
            } else if (key_is(b, e, "timestamp") || key_is(b, e, "output_length")) {
                const char *num = c->s;
                if (jpeek(c) != '-' && (jpeek(c) < '0' || jpeek(c) > '9'))
                    return jfail(c, "timestamp, input_length and output_length must be numbers");
                if (jnumber(c)) return -1;
                if (key_is(b, e, "timestamp")) {
                    char tmp[64];
                    size_t l = (size_t)(c->s - num);
                    if (l >= sizeof tmp) return jfail(c, "a timestamp too long");
                    memcpy(tmp, num, l);
                    tmp[l] = 0;
                    when_ms = strtod(tmp, NULL);
                }
            } else if (jskip(c, 1)) {
                return -1;
            }
            jws(c);
            if (jpeek(c) == ',') {
                c->s++;
                continue;
            }
            if (jpeek(c) == '}') {
                c->s++;
                break;
            }
            return jfail(c, "expected ',' or '}'");
        }
    }
    jws(c);
    if (c->s != c->end) return jfail(c, "text after the object");
    if (!have_ids) return jfail(c, "no hash_ids");
    t->when[t->n_req - 1] = when_ms / 1000;   /* Mooncake's timestamps are in ms */
    /* a partial last block: its prompt goes on past it, so it is almost
     * never asked for again (the KV cache never keeps one) */
    if (t->n > first && input_len % MOONCAKE_BLOCK) t->hint[t->n - 1] = POL_HINT_ONCE;
    /* the policies see every block at cost 1, as the daemon's KV prefix
     * cache gives them: a deeper block takes longer to recompute, but
     * evicting a block strands every block after it */
    t->unit_policy_cost = 1;
    return 0;
}

/* ------------------------------------------------------------------ CSV */

/* Splits line (no newline) into at most max fields, in place: quoted
 * fields lose their quotes and "" becomes ".  0, or -1 with *why. */
static int csv_split(char *line, size_t len, char **f, size_t *fl, int max, int *nf,
                     const char **why) {
    char *s = line, *end = line + len;
    *nf = 0;
    for (;;) {
        if (*nf == max) {
            *why = "too many fields";
            return -1;
        }
        char *start = s, *w = s;
        if (s < end && *s == '"') {
            s++;
            for (;;) {
                if (s >= end) {
                    *why = "an unterminated quoted field";
                    return -1;
                }
                if (*s == '"') {
                    if (s + 1 < end && s[1] == '"') {
                        *w++ = '"';
                        s += 2;
                        continue;
                    }
                    s++;
                    break;
                }
                *w++ = *s++;
            }
            if (s < end && *s != ',') {
                *why = "text after a quoted field";
                return -1;
            }
        } else {
            while (s < end && *s != ',') {
                if (*s == '"') {
                    *why = "a quote inside an unquoted field";
                    return -1;
                }
                s++;
            }
            w = s;
        }
        f[*nf] = start;
        fl[*nf] = (size_t)(w - start);
        (*nf)++;
        if (s >= end) return 0;
        s++;                 /* the comma */
    }
}

/* A finite number filling the whole field. */
static int field_double(const char *f, size_t l, double *out) {
    char buf[64], *e;
    if (!l || l >= sizeof buf) return -1;
    memcpy(buf, f, l);
    buf[l] = 0;
    errno = 0;
    *out = strtod(buf, &e);
    return *e || errno || !isfinite(*out) ? -1 : 0;
}

/* A decimal integer filling the whole field, no sign. */
static int field_u64(const char *f, size_t l, uint64_t *out) {
    uint64_t v = 0;
    if (!l) return -1;
    for (size_t i = 0; i < l; i++) {
        if (f[i] < '0' || f[i] > '9') return -1;
        unsigned d = (unsigned)(f[i] - '0');
        if (v > (UINT64_MAX - d) / 10) return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

enum { COL_TIME, COL_KEY, COL_SIZE, COL_COST, N_COLS };
static const char *const col_names[N_COLS] = {"time_s", "key", "size", "cost"};
#define CSV_MAX_FIELDS 256

/* ---------------------------------------------------------------- loading */

/* Reads path into t in format fmt (FMT_AUTO: a first non-blank character
 * '{' means Mooncake, anything else CSV).  0, or a negative errno with the
 * reason ("FILE:LINE: why") in err. */
static int trace_load(const char *path, int fmt, trace *t, char *err, size_t errlen) {
    FILE *f = fopen(path, "r");
    if (!f) return errbuf_set(err, errlen, -errno, "%s: %s", path, strerror(errno));
    char *line = NULL;
    size_t lcap = 0, lineno = 0;
    ssize_t len;
    int rc = 0, header = 0;
    int col[N_COLS] = {-1, -1, -1, -1}, n_fields = 0;
    char *fld[CSV_MAX_FIELDS];
    size_t fl[CSV_MAX_FIELDS];
    memset(t, 0, sizeof *t);
    while ((len = getline(&line, &lcap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        size_t sp = 0;
        while (sp < (size_t)len && (line[sp] == ' ' || line[sp] == '\t')) sp++;
        if (sp == (size_t)len) continue;            /* blank lines */
        if (fmt == FMT_AUTO) fmt = line[sp] == '{' ? FMT_MOONCAKE : FMT_CSV;
        if (fmt == FMT_MOONCAKE) {
            jcur c = {line, line + len, NULL};
            if ((rc = mooncake_line(t, &c))) {
                if (rc == -ENOMEM) goto oom;
                rc = errbuf_set(err, errlen, -EINVAL, "%s:%zu: %s", path, lineno, c.why);
                goto out;
            }
            continue;
        }
        const char *why = NULL;
        int nf;
        if (csv_split(line, (size_t)len, fld, fl, CSV_MAX_FIELDS, &nf, &why)) {
            rc = errbuf_set(err, errlen, -EINVAL, "%s:%zu: %s", path, lineno, why);
            goto out;
        }
        if (!header) {
            for (int k = 0; k < N_COLS; k++) col[k] = -1;
            for (int i = 0; i < nf; i++)
                for (int k = 0; k < N_COLS; k++)
                    if (fl[i] == strlen(col_names[k]) && !memcmp(fld[i], col_names[k], fl[i])) {
                        if (col[k] >= 0) {
                            rc = errbuf_set(err, errlen, -EINVAL, "%s:%zu: column %s twice", path,
                                            lineno, col_names[k]);
                            goto out;
                        }
                        col[k] = i;
                    }
            for (int k = 0; k < N_COLS; k++)
                if (col[k] < 0) {
                    rc = errbuf_set(err, errlen, -EINVAL,
                                    "%s:%zu: the header has no %s column (time_s,key,size,cost needed)",
                                    path, lineno, col_names[k]);
                    goto out;
                }
            n_fields = nf;
            header = 1;
            continue;
        }
        if (nf != n_fields) {
            rc = errbuf_set(err, errlen, -EINVAL, "%s:%zu: %d fields, the header has %d", path,
                            lineno, nf, n_fields);
            goto out;
        }
        double ts, cost;
        uint64_t size, key;
        if (field_double(fld[col[COL_TIME]], fl[col[COL_TIME]], &ts)) why = "time_s is not a number";
        else if (!fl[col[COL_KEY]]) why = "an empty key";
        else if (field_u64(fld[col[COL_SIZE]], fl[col[COL_SIZE]], &size) || !size)
            why = "size is not a positive integer";
        else if (field_double(fld[col[COL_COST]], fl[col[COL_COST]], &cost) || !(cost > 0))
            why = "cost is not a positive number";
        if (why) {
            rc = errbuf_set(err, errlen, -EINVAL, "%s:%zu: %s", path, lineno, why);
            goto out;
        }
        if (field_u64(fld[col[COL_KEY]], fl[col[COL_KEY]], &key))
            key = XXH3_64bits(fld[col[COL_KEY]], fl[col[COL_KEY]]);
        if (trace_request(t) || trace_access(t, key, size, cost)) goto oom;
        t->when[t->n_req - 1] = ts;
        trace_end_request(t);
    }
    if (ferror(f)) {
        rc = errbuf_set(err, errlen, -EIO, "%s: %s", path, strerror(errno));
        goto out;
    }
    if (!t->n) {
        rc = errbuf_set(err, errlen, -EINVAL, "%s: no requests", path);
        goto out;
    }
    if (trace_count(t)) goto oom;
    goto out;
oom:
    rc = errbuf_set(err, errlen, -ENOMEM, "%s: out of memory", path);
out:
    free(line);
    fclose(f);
    if (rc) trace_release(t);
    return rc;
}

/* ------------------------------------------------------------ simulation */

typedef struct sobj {
    pol_node node;           /* key, bytes, cost: the access that brought it in */
} sobj;

/* The objects in the cache: a pool of cap objects and an open-addressing
 * table (linear probing, backward-shift deletion) from key to object. */
typedef struct {
    sobj *pool;              /* (cap) */
    sobj **free;             /* (cap) stack of free objects */
    size_t cap, n_free;
    sobj **slot;             /* (1 << bits) NULL when empty */
    size_t mask;
    int bits;
} objtab;

static int objtab_init(objtab *o, size_t cap) {
    memset(o, 0, sizeof *o);
    o->bits = 4;
    while (((size_t)1 << o->bits) < 2 * cap + 2) o->bits++;
    o->mask = ((size_t)1 << o->bits) - 1;
    o->pool = malloc(cap * sizeof *o->pool);
    o->free = malloc(cap * sizeof *o->free);
    o->slot = calloc(o->mask + 1, sizeof *o->slot);
    if (!o->pool || !o->free || !o->slot) return -ENOMEM;
    o->cap = o->n_free = cap;
    for (size_t i = 0; i < cap; i++) o->free[i] = &o->pool[cap - 1 - i];
    return 0;
}

static void objtab_release(objtab *o) {
    free(o->pool);
    free(o->free);
    free(o->slot);
}

static inline sobj *objtab_find(const objtab *o, uint64_t key) {
    for (size_t i = key_hash(key, o->bits);; i = (i + 1) & o->mask) {
        sobj *s = o->slot[i];
        if (!s || s->node.key == key) return s;
    }
}

/* A free object for key, in the table; NULL when the pool is empty. */
static sobj *objtab_add(objtab *o, uint64_t key) {
    if (!o->n_free) return NULL;
    sobj *s = o->free[--o->n_free];
    memset(s, 0, sizeof *s);
    s->node.key = key;
    size_t i = key_hash(key, o->bits);
    while (o->slot[i]) i = (i + 1) & o->mask;
    o->slot[i] = s;
    return s;
}

static void objtab_del(objtab *o, sobj *s) {
    size_t i = key_hash(s->node.key, o->bits);
    while (o->slot[i] != s) i = (i + 1) & o->mask;
    for (size_t j = i;;) {
        j = (j + 1) & o->mask;
        if (!o->slot[j]) break;
        size_t k = key_hash(o->slot[j]->node.key, o->bits);
        if (i <= j ? (k <= i || k > j) : (k <= i && k > j)) {
            o->slot[i] = o->slot[j];
            i = j;
        }
    }
    o->slot[i] = NULL;
    o->free[o->n_free++] = s;
}

typedef struct {
    double miss, miss_bytes, miss_cost;
    double ns;               /* wall time of the replay */
} result;

/* Replays t through the policy called name with capacity bytes.  Each
 * request: its accesses hit up to the first one whose object is not in
 * the cache, the rest miss; then each access in order touches its object:
 * hit() if it is in the cache, else (when it can fit at all) admit(), then
 * victim() and remove(evicted = 1) until it fits, then insert() (the order
 * of libCacheSim's cache_get_base).  The policy sees each object's cost,
 * or 1 for a trace of prefix blocks.  With check, the policy's check() runs after every
 * access.  0, or a negative errno with the reason in err. */
static int replay(const trace *t, const char *name, size_t capacity, int check,
                  result *r, char *err, size_t errlen) {
    policy *p = policy_new(name, capacity);
    objtab o;
    size_t most = t->unique < capacity ? t->unique : capacity;   /* objects are >= 1 byte */
    int rc = 0;
    memset(r, 0, sizeof *r);
    if (objtab_init(&o, most) || !p) {
        rc = errbuf_set(err, errlen, -ENOMEM, "%s: out of memory", name);
        goto out;
    }
    const policy_ops *ops = p->ops;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t q = 0; q < t->n_req; q++) {
        size_t a = t->req[q], b = t->req[q + 1], i = a;
        p->now = t->when[q];
        while (i < b && objtab_find(&o, t->key[i])) i++;
        for (; i < b; i++) {
            r->miss++;
            r->miss_bytes += (double)t->bytes[i];
            r->miss_cost += t->cost[i];
        }
        for (i = a; i < b; i++) {
            uint64_t key = t->key[i];
            sobj *s = objtab_find(&o, key);
            if (s) {
                ops->hit(p, &s->node);
            } else if (t->bytes[i] <= capacity &&
                       ops->admit(p, key, t->bytes[i], t->unit_policy_cost ? 1 : t->cost[i])) {
                while (p->bytes + t->bytes[i] > capacity) {
                    pol_node *v = ops->victim(p);
                    if (!v) break;
                    ops->remove(p, v, 1);
                    objtab_del(&o, (sobj *)v);      /* node is sobj's first member */
                }
                if (!(s = objtab_add(&o, key))) {
                    rc = errbuf_set(err, errlen, -EPROTO, "%s: no victim with %zu bytes in (access %zu)",
                                    name, p->bytes, i + 1);
                    goto out;
                }
                s->node.bytes = t->bytes[i];
                s->node.cost = t->unit_policy_cost ? 1 : t->cost[i];
                s->node.hint = t->hint[i];
                ops->insert(p, &s->node);
            }
            if (check && (rc = ops->check(p))) {
                rc = errbuf_set(err, errlen, -EPROTO, "%s: check() returned %d after access %zu",
                                name, rc, i + 1);
                goto out;
            }
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    r->ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
out:
    policy_free(p);
    objtab_release(&o);
    return rc;
}

/* ------------------------------------------------------------------ main */

/* Splits a comma-separated list into its items (pointers into s). */
static char **split_list(char *s, int *n, const char *opt) {
    char **v = NULL;
    *n = 0;
    for (char *tok = s;; ) {
        char *comma = strchr(tok, ',');
        if (comma) *comma = 0;
        if (!*tok) die(2, "%s: an empty item in the list", opt);
        char **nv = realloc(v, (size_t)(*n + 1) * sizeof *v);
        if (!nv) die(1, "out of memory");
        v = nv;
        v[(*n)++] = tok;
        if (!comma) break;
        tok = comma + 1;
    }
    return v;
}

int main(int argc, char **argv) {
    static const struct option lo[] = {
        {"policy", required_argument, NULL, 'p'},
        {"size", required_argument, NULL, 's'},
        {"format", required_argument, NULL, 'f'},
        {"check", no_argument, NULL, 'c'},
        {"repeat", required_argument, NULL, 'r'},
        { "version", no_argument, 0, 'V' },
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    char *pol_arg = NULL, *size_arg = NULL;
    int fmt = FMT_AUTO, check = 0, repeat = 1, c;
    opterr = 0;              /* one line of our own instead */
    while ((c = getopt_long(argc, argv, ":p:s:f:r:hV", lo, NULL)) != -1) {
        switch (c) {
        case 'p': pol_arg = optarg; break;
        case 's': size_arg = optarg; break;
        case 'f':
            if (!strcmp(optarg, "mooncake")) fmt = FMT_MOONCAKE;
            else if (!strcmp(optarg, "csv")) fmt = FMT_CSV;
            else die(2, "--format: expected mooncake or csv, got \"%s\"", optarg);
            break;
        case 'c': check = 1; break;
        case 'r': {
            char *e;
            long v = strtol(optarg, &e, 10);
            if (*e || e == optarg || v < 1 || v > 1000)
                die(2, "--repeat: expected a count from 1 to 1000, got \"%s\"", optarg);
            repeat = (int)v;
            break;
        }
        case 'V': printf("llmfs-cachesim %s\n", LLMFS_VERSION); return 0;
        case 'h': usage(stdout); return 0;
        default:
            die(2, "%s: %s (see %s --help)", argv[optind - 1],
                c == ':' ? "needs a value" : "unknown option", prog);
        }
    }
    if (optind >= argc) die(2, "no trace given (see %s --help)", prog);

    int n_pol = 0, n_size = 0;
    const char **pols;
    if (pol_arg) {
        pols = (const char **)split_list(pol_arg, &n_pol, "--policy");
        for (int i = 0; i < n_pol; i++) {
            const char *const *k = policy_names();
            while (*k && strcmp(*k, pols[i])) k++;
            if (!*k) die(2, "--policy: unknown policy \"%s\" (see %s --help)", pols[i], prog);
        }
    } else {
        const char *const *k = policy_names();
        while (k[n_pol]) n_pol++;
        pols = malloc((size_t)n_pol * sizeof *pols);
        if (!pols) die(1, "out of memory");
        memcpy(pols, k, (size_t)n_pol * sizeof *pols);
    }
    char default_sizes[] = "0.01,0.05,0.1";
    char **size_str = split_list(size_arg ? size_arg : default_sizes, &n_size, "--size");
    double *sizes = malloc((size_t)n_size * sizeof *sizes);
    if (!sizes) die(1, "out of memory");
    for (int i = 0; i < n_size; i++) {
        char *e;
        sizes[i] = strtod(size_str[i], &e);
        if (*e || e == size_str[i] || !(sizes[i] > 0) || !isfinite(sizes[i]))
            die(2, "--size: expected fractions above 0, got \"%s\"", size_str[i]);
    }

    printf("trace\tpolicy\tsize_frac\tcache_size\trequests\tmiss_ratio\tbyte_miss_ratio\t"
           "cost_miss_ratio\tns_per_request\n");
    fflush(stdout);
    char err[512];
    for (int a = optind; a < argc; a++) {
        trace t;
        if (trace_load(argv[a], fmt, &t, err, sizeof err)) die(1, "%s", err);
        for (int pi = 0; pi < n_pol; pi++)
            for (int si = 0; si < n_size; si++) {
                double want = floor(sizes[si] * (double)t.unique_bytes);
                size_t cap = want < 1 ? 1 : want >= (double)SIZE_MAX ? SIZE_MAX : (size_t)want;
                result r, again;
                if (replay(&t, pols[pi], cap, check, &r, err, sizeof err))
                    die(1, "%s: %s", argv[a], err);
                for (int k = 1; k < repeat; k++) {     /* the same misses; the fastest time */
                    if (replay(&t, pols[pi], cap, check, &again, err, sizeof err))
                        die(1, "%s: %s", argv[a], err);
                    if (again.ns < r.ns) r.ns = again.ns;
                }
                printf("%s\t%s\t%g\t%zu\t%zu\t%.4f\t%.4f\t%.4f\t%.1f\n", argv[a], pols[pi],
                       sizes[si], cap, t.n, r.miss / (double)t.n, r.miss_bytes / t.total_bytes,
                       r.miss_cost / t.total_cost, r.ns / (double)t.n);
                fflush(stdout);
            }
        trace_release(&t);
    }
    free(sizes);
    free(size_str);
    free(pols);
    return 0;
}
