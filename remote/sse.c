/* This file implements the server-sent events parser of sse.h. */
#include "remote/sse.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int sse_init(sse *p, size_t max) {
    memset(p, 0, sizeof *p);
    p->max = max;
    p->line = malloc(max ? max : 1);
    p->data = malloc(max ? max : 1);
    if (!p->line || !p->data) { sse_release(p); return -ENOMEM; }
    return 0;
}

void sse_release(sse *p) {
    free(p->line);
    free(p->data);
    memset(p, 0, sizeof *p);
}

/* One whole line l[0, n) (without its end). */
static int line_done(sse *p, const char *l, size_t n, sse_event_fn fn, void *ud) {
    if (!n) {                                   /* dispatch */
        int rc = 0;
        if (p->has_data) rc = fn(ud, p->data, p->data_len);
        p->data_len = 0;
        p->has_data = 0;
        return rc;
    }
    if (l[0] == ':') return 0;                  /* a comment */
    const char *colon = memchr(l, ':', n);
    size_t fl = colon ? (size_t)(colon - l) : n;
    if (fl != 4 || memcmp(l, "data", 4)) return 0;  /* event, id, retry: not needed */
    const char *v = colon ? colon + 1 : l + n;
    size_t vl = (size_t)(l + n - v);
    if (vl && v[0] == ' ') v++, vl--;
    size_t need = p->data_len + (p->has_data ? 1 : 0) + vl;
    if (need > p->max) return -E2BIG;
    if (p->has_data) p->data[p->data_len++] = '\n';
    memcpy(p->data + p->data_len, v, vl);
    p->data_len += vl;
    p->has_data = 1;
    return 0;
}

/* The first CR or LF in s[0, n), or NULL. */
static const char *line_end(const char *s, size_t n) {
    const char *lf = memchr(s, '\n', n);
    const char *cr = memchr(s, '\r', lf ? (size_t)(lf - s) : n);
    return cr ? cr : lf;
}

int sse_feed(sse *p, const char *buf, size_t n, sse_event_fn fn, void *ud) {
    size_t i = 0;
    while (i < n) {
        if (p->after_cr) {                      /* a CR's LF ends nothing */
            p->after_cr = 0;
            if (buf[i] == '\n') { i++; continue; }
        }
        const char *e = line_end(buf + i, n - i);
        size_t k = e ? (size_t)(e - (buf + i)) : n - i;
        if (!e) {                               /* the line goes on in the next piece */
            if (k > p->max - p->line_len) return -E2BIG;
            memcpy(p->line + p->line_len, buf + i, k);
            p->line_len += k;
            return 0;
        }
        int rc;
        if (!p->line_len) {                     /* the whole line is here: no copy */
            if (k > p->max) return -E2BIG;
            rc = line_done(p, buf + i, k, fn, ud);
        } else {
            if (k > p->max - p->line_len) return -E2BIG;
            memcpy(p->line + p->line_len, buf + i, k);
            size_t ll = p->line_len + k;
            p->line_len = 0;
            rc = line_done(p, p->line, ll, fn, ud);
        }
        p->after_cr = *e == '\r';
        i += k + 1;
        if (rc) return rc;
    }
    return 0;
}
