/* libFuzzer target for what a remote server or a config hands the remote
 * backend: the bytes as a server-sent event stream (remote/sse.c) fed in
 * two pieces, each event read as a completion chunk (remote/json.c: the
 * lookups and string decoding the backend does, whose output must be
 * UTF-8), and the bytes as a URL (cache/url.c), whose shown form does
 * not depend on the password.  Nothing may read outside its input. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/url.h"
#include "engine/utf8.h"
#include "engine/params.h"
#include "remote/json.h"
#include "remote/remote.h"
#include "remote/sse.h"

static void must_be_utf8(jspan v) {
    char *s;
    size_t n;
    if (json_string(v, &s, &n) == 0) {
        if (!utf8_valid(s, n) || s[n] != 0) abort();
        free(s);
    }
}

static int on_event(void *ud, const char *data, size_t len) {
    (void)ud;
    jspan v, x, c, t, m[3];
    /* the backend's one walk accepts the objects json_check accepts and
     * finds what json_member finds */
    static const char *const keys[] = {"error", "usage", "choices"};
    int one = json_object(data, len, keys, 3, m);
    int checked = !json_check(data, len, &v) && v.p[0] == '{';
    if ((one == 0) != checked) abort();
    for (int k = 0; checked && k < 3; k++) {
        int have = !json_member(v, keys[k], &x);
        if (have != (m[k].p != NULL) || (have && (x.p != m[k].p || x.n != m[k].n))) abort();
    }
    if (json_check(data, len, &v)) return 0;
    must_be_utf8(v);
    long long k;
    json_int(v, &k);
    if (!json_member(v, "choices", &x) && !json_item(x, 0, &c)) {
        if (!json_member(c, "text", &t)) must_be_utf8(t);
        if (!json_member(c, "finish_reason", &t)) must_be_utf8(t);
    }
    if (!json_member(v, "error", &x) && !json_member(x, "message", &t)) must_be_utf8(t);
    for (int i = 0; i < 4 && !json_item(v, i, &x); i++) must_be_utf8(x);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sse p;
    if (sse_init(&p, 4096)) return 0;
    size_t half = size ? data[0] % (size + 1) : 0;
    if (sse_feed(&p, (const char *)data, half, on_event, NULL) == 0)
        sse_feed(&p, (const char *)data + half, size - half, on_event, NULL);
    sse_release(&p);
    /* the whole input as one JSON text, then a writer round trip */
    jspan v;
    if (!json_check((const char *)data, size, &v)) on_event(NULL, (const char *)data, size);
    char *b = NULL;
    size_t len = 0, cap = 0;
    if (!json_put_string(&b, &len, &cap, (const char *)data, size)) {
        if (json_check(b, len, &v) || !utf8_valid(b, len)) abort();
    }
    free(b);
    /* the bytes as a chat's packed messages and as a prompt: a request
     * body is valid JSON, or the packing is refused */
    gen_params gp;
    gen_params_default(&gp);
    for (int chat = 0; chat < 2; chat++) {
        int kind = size ? data[size - 1] % REMOTE_NKINDS : 0;
        if (remote_body(kind, "m", chat, (const char *)data, size, &gp, &b, &len) == 0) {
            if (json_check(b, len, &v) || v.p[0] != '{') abort();
            free(b);
        }
    }
    char s[2048];
    size_t n = size < sizeof s - 1 ? size : sizeof s - 1;
    memcpy(s, data, n);
    s[n] = 0;
    url u;
    char err[256], show[2048];
    if (url_parse(s, &u, err, sizeof err) == 0) {
        /* the shown form does not depend on the password at all */
        url other = u;
        char show2[2048];
        snprintf(other.password, sizeof other.password, "%s", u.password[0] == 'x' ? "y" : "x");
        url_show(&u, show, sizeof show);
        url_show(&other, show2, sizeof show2);
        if (strcmp(show, show2)) abort();
    }
    return 0;
}
