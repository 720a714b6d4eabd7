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

/* One whole line (without its end). */
static int line_done(sse *p, sse_event_fn fn, void *ud) {
    const char *l = p->line;
    size_t n = p->line_len;
    p->line_len = 0;
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

int sse_feed(sse *p, const char *buf, size_t n, sse_event_fn fn, void *ud) {
    for (size_t i = 0; i < n; i++) {
        char c = buf[i];
        if (c == '\n' && p->after_cr) { p->after_cr = 0; continue; }
        p->after_cr = c == '\r';
        if (c == '\n' || c == '\r') {
            int rc = line_done(p, fn, ud);
            if (rc) return rc;
            continue;
        }
        if (p->line_len >= p->max) return -E2BIG;
        p->line[p->line_len++] = c;
    }
    return 0;
}
