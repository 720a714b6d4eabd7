/* This file implements the JSON reader of json.h: one recursive-descent
 * skipper that validates a value and finds its end, on which the lookups
 * are built; and the string writer the request bodies use. */
#include "remote/json.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/utf8.h"

static size_t skip_ws(const char *s, size_t n, size_t i) {
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
    return i;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* The end of the string starting at s[i] == '"', or 0 when it is not a
 * valid one. */
static size_t skip_string(const char *s, size_t n, size_t i) {
    /* the bytes that end a run of plain ones: '"', '\\' and controls */
    static const unsigned char plain_end[256] = {
        [0 ... 0x1f] = 1, ['"'] = 1, ['\\'] = 1,
    };
    for (i++; i < n; i++) {
        while (i < n && !plain_end[(unsigned char)s[i]]) i++;
        if (i >= n) return 0;
        unsigned char c = (unsigned char)s[i];
        if (c == '"') return i + 1;
        if (c < 0x20) return 0;
        if (c == '\\') {
            if (++i >= n) return 0;
            switch (s[i]) {
            case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't': break;
            case 'u':
                if (n - i < 5) return 0;
                for (int k = 1; k <= 4; k++)
                    if (hexval(s[i + k]) < 0) return 0;
                i += 4;
                break;
            default: return 0;
            }
        }
    }
    return 0;
}

static size_t skip_number(const char *s, size_t n, size_t i) {
    size_t st = i;
    if (i < n && s[i] == '-') i++;
    if (i >= n) return 0;
    if (s[i] == '0') i++;
    else if (s[i] >= '1' && s[i] <= '9') while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    else return 0;
    if (i < n && s[i] == '.') {
        size_t d = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
        if (i == d) return 0;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        size_t d = i;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
        if (i == d) return 0;
    }
    return i > st ? i : 0;
}

/* The end of the value starting at s[i] (no leading blanks), or 0. */
static size_t skip_value(const char *s, size_t n, size_t i, int depth) {
    if (i >= n || depth > JSON_MAX_DEPTH) return 0;
    switch (s[i]) {
    case '"': return skip_string(s, n, i);
    case '{': case '[': {
        char close = s[i] == '{' ? '}' : ']';
        int obj = s[i] == '{';
        i = skip_ws(s, n, i + 1);
        if (i < n && s[i] == close) return i + 1;
        for (;;) {
            if (obj) {
                if (i >= n || s[i] != '"' || !(i = skip_string(s, n, i))) return 0;
                i = skip_ws(s, n, i);
                if (i >= n || s[i] != ':') return 0;
                i = skip_ws(s, n, i + 1);
            }
            if (!(i = skip_value(s, n, i, depth + 1))) return 0;
            i = skip_ws(s, n, i);
            if (i >= n) return 0;
            if (s[i] == close) return i + 1;
            if (s[i] != ',') return 0;
            i = skip_ws(s, n, i + 1);
        }
    }
    case 't': return n - i >= 4 && !memcmp(s + i, "true", 4) ? i + 4 : 0;
    case 'f': return n - i >= 5 && !memcmp(s + i, "false", 5) ? i + 5 : 0;
    case 'n': return n - i >= 4 && !memcmp(s + i, "null", 4) ? i + 4 : 0;
    default: return skip_number(s, n, i);
    }
}

int json_check(const char *s, size_t n, jspan *out) {
    size_t i = skip_ws(s, n, 0);
    size_t e = skip_value(s, n, i, 0);
    if (!e || skip_ws(s, n, e) != n) return -EINVAL;
    *out = (jspan){s + i, e - i};
    return 0;
}

/* Iterates a checked container: the next element from *i (after '{', '['
 * or ','), its key span for objects.  1 with an element, 0 at the end,
 * -EINVAL on bad text. */
static int next_elem(jspan c, size_t *i, int obj, jspan *key, jspan *val) {
    const char *s = c.p;
    size_t n = c.n, j = skip_ws(s, n, *i);
    if (j >= n) return -EINVAL;
    if (s[j] == (obj ? '}' : ']')) return 0;
    if (obj) {
        size_t ke = s[j] == '"' ? skip_string(s, n, j) : 0;
        if (!ke) return -EINVAL;
        *key = (jspan){s + j + 1, ke - j - 2};
        j = skip_ws(s, n, ke);
        if (j >= n || s[j] != ':') return -EINVAL;
        j = skip_ws(s, n, j + 1);
    }
    size_t ve = skip_value(s, n, j, 1);
    if (!ve) return -EINVAL;
    *val = (jspan){s + j, ve - j};
    j = skip_ws(s, n, ve);
    if (j >= n) return -EINVAL;
    if (s[j] == ',') j++;
    else if (s[j] != (obj ? '}' : ']')) return -EINVAL;
    *i = j;
    return 1;
}

int json_member(jspan obj, const char *key, jspan *out) {
    if (!obj.n || obj.p[0] != '{') return -EINVAL;
    size_t i = 1, kl = strlen(key);
    jspan k, v;
    int rc;
    while ((rc = next_elem(obj, &i, 1, &k, &v)) == 1) {
        /* keys we look up have no escapes; an escaped key never matches */
        if (k.n == kl && !memcmp(k.p, key, kl)) { *out = v; return 0; }
    }
    return rc ? rc : -ENOENT;
}

int json_object(const char *s, size_t n, const char *const *keys, int nk, jspan *out) {
    for (int k = 0; k < nk; k++) out[k] = (jspan){NULL, 0};
    size_t b = skip_ws(s, n, 0), e = n;
    while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\n' || s[e - 1] == '\r'))
        e--;
    if (e - b < 2 || s[b] != '{' || s[e - 1] != '}') return -EINVAL;
    jspan obj = {s + b, e - b}, key, val;
    size_t i = 1, kl[16];
    int rc;
    if (nk > 16) return -EINVAL;
    for (int k = 0; k < nk; k++) kl[k] = strlen(keys[k]);
    while ((rc = next_elem(obj, &i, 1, &key, &val)) == 1) {
        for (int k = 0; k < nk; k++)
            if (!out[k].p && key.n == kl[k] && !memcmp(key.p, keys[k], key.n)) {
                out[k] = val;
                break;
            }
    }
    /* the walk ended at a '}': the object's own, or an earlier one when
     * what follows it is not blanks */
    if (rc || skip_ws(obj.p, obj.n, i) + 1 != obj.n) return -EINVAL;
    if (obj.p[i - 1] == ',') return -EINVAL;   /* {"a":1,} */
    return 0;
}

int json_item(jspan arr, int idx, jspan *out) {
    if (!arr.n || arr.p[0] != '[' || idx < 0) return -EINVAL;
    size_t i = 1;
    jspan k, v;
    int rc;
    while ((rc = next_elem(arr, &i, 0, &k, &v)) == 1)
        if (idx-- == 0) { *out = v; return 0; }
    return rc ? rc : -ENOENT;
}

int json_is_null(jspan v) { return v.n == 4 && !memcmp(v.p, "null", 4); }

static size_t put_utf8(char *o, uint32_t cp) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xc0 | cp >> 6); o[1] = (char)(0x80 | (cp & 0x3f)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12); o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18); o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f)); o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

static uint32_t hex4(const char *s) {
    return (uint32_t)(hexval(s[0]) << 12 | hexval(s[1]) << 8 | hexval(s[2]) << 4 | hexval(s[3]));
}

int json_string(jspan v, char **out, size_t *len) {
    *out = NULL;
    *len = 0;
    if (v.n < 2 || v.p[0] != '"' || skip_string(v.p, v.n, 0) != v.n) return -EINVAL;
    /* an escape never decodes longer than it is written (\uXXXX: 6 -> 3,
     * a pair: 12 -> 4) */
    char *o = malloc(v.n);
    if (!o) return -ENOMEM;
    size_t j = 0;
    for (size_t i = 1; i + 1 < v.n; i++) {
        char c = v.p[i];
        if (c != '\\') { o[j++] = c; continue; }
        c = v.p[++i];
        switch (c) {
        case 'b': o[j++] = '\b'; break;
        case 'f': o[j++] = '\f'; break;
        case 'n': o[j++] = '\n'; break;
        case 'r': o[j++] = '\r'; break;
        case 't': o[j++] = '\t'; break;
        case 'u': {
            uint32_t cp = hex4(v.p + i + 1);
            i += 4;
            if (cp >= 0xd800 && cp < 0xdc00 && i + 6 < v.n && v.p[i + 1] == '\\' &&
                v.p[i + 2] == 'u') {
                uint32_t lo = hex4(v.p + i + 3);
                if (lo >= 0xdc00 && lo < 0xe000) {
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    i += 6;
                }
            }
            if (cp >= 0xd800 && cp < 0xe000) cp = 0xfffd;
            j += put_utf8(o + j, cp);
            break;
        }
        default: o[j++] = c; break;   /* " \ / */
        }
    }
    o[j] = 0;
    /* raw bytes in the text need not be UTF-8: keep only what is */
    if (!utf8_valid(o, j)) {
        size_t k = 0;
        char *f = malloc(j * 3 + 1);
        if (!f) { free(o); return -ENOMEM; }
        for (size_t i = 0; i < j;) {
            uint32_t cp;
            size_t l = utf8_decode(o + i, j - i, &cp);
            if (!l) { k += put_utf8(f + k, 0xfffd); i++; continue; }
            memcpy(f + k, o + i, l);
            k += l;
            i += l;
        }
        f[k] = 0;
        free(o);
        o = f;
        j = k;
    }
    *out = o;
    *len = j;
    return 0;
}

int json_int(jspan v, long long *out) {
    if (!v.n || skip_number(v.p, v.n, 0) != v.n) return -EINVAL;
    long long x = 0;
    size_t i = v.p[0] == '-';
    for (; i < v.n; i++) {
        if (v.p[i] < '0' || v.p[i] > '9') return -EINVAL;
        x = x * 10 + (v.p[i] - '0');
        if (x > (1LL << 53)) return -EINVAL;
    }
    *out = v.p[0] == '-' ? -x : x;
    return 0;
}

static int grow(char **buf, size_t *cap, size_t need) {
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 256;
    while (c < need) c *= 2;
    char *b = realloc(*buf, c);
    if (!b) return -ENOMEM;
    *buf = b;
    *cap = c;
    return 0;
}

int json_put_string(char **buf, size_t *len, size_t *cap, const char *s, size_t n) {
    /* at most 6 bytes out per byte in (\u00XX), plus the quotes */
    if (n > (SIZE_MAX - 3) / 6 || grow(buf, cap, *len + n * 6 + 3)) return -ENOMEM;
    char *o = *buf + *len;
    *o++ = '"';
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        uint32_t cp;
        size_t l = c < 0x80 ? 1 : utf8_decode(s + i, n - i, &cp);
        if (!l) {                      /* not UTF-8: U+FFFD, 3 bytes */
            memcpy(o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
            continue;
        }
        if (l > 1) { memcpy(o, s + i, l); o += l; i += l; continue; }
        i++;
        switch (c) {
        case '"': *o++ = '\\'; *o++ = '"'; break;
        case '\\': *o++ = '\\'; *o++ = '\\'; break;
        case '\n': *o++ = '\\'; *o++ = 'n'; break;
        case '\r': *o++ = '\\'; *o++ = 'r'; break;
        case '\t': *o++ = '\\'; *o++ = 't'; break;
        default:
            if (c < 0x20 || c == 0x7f) {
                static const char hx[] = "0123456789abcdef";
                *o++ = '\\'; *o++ = 'u'; *o++ = '0'; *o++ = '0';
                *o++ = hx[c >> 4]; *o++ = hx[c & 15];
            } else {
                *o++ = (char)c;
            }
        }
    }
    *o++ = '"';
    *len = (size_t)(o - *buf);
    return 0;
}
