/* Unit tests of the remote backend's parts that need no server: the
 * server-sent events parser, the JSON reader and writer, URLs, the
 * circuit breaker on a fake clock, and which parameters each kind of
 * server takes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cache/url.h"
#include "engine/params.h"
#include "remote/breaker.h"
#include "remote/json.h"
#include "remote/remote.h"
#include "remote/sse.h"
#include "tests/harness.h"

typedef struct {
    char buf[4096];
    size_t len;
    int events;
} sink;

static int collect(void *ud, const char *data, size_t len) {
    sink *s = ud;
    if (s->len + len + 1 < sizeof s->buf) {
        memcpy(s->buf + s->len, data, len);
        s->len += len;
        s->buf[s->len++] = '|';
        s->buf[s->len] = 0;
    }
    s->events++;
    return 0;
}

static void sse_events_in_pieces(void) {
    const char *text = ": comment\r\ndata: {\"a\":1}\r\n\r\ndata:x\ndata: y\n\nevent: e\nid: 3\n\n"
                       "data: [DONE]\r\r";
    size_t n = strlen(text);
    /* every split point, and one byte at a time, give the same events */
    for (size_t step = 1; step <= n; step++) {
        sse p;
        sink s = {0};
        CHECK(sse_init(&p, 64) == 0);
        for (size_t i = 0; i < n; i += step)
            CHECK(sse_feed(&p, text + i, i + step <= n ? step : n - i, collect, &s) == 0);
        CHECKF(!strcmp(s.buf, "{\"a\":1}|x\ny|[DONE]|"), "step %zu: %s", step, s.buf);
        CHECK(s.events == 3);
        sse_release(&p);
    }
}

static void sse_bounds(void) {
    sse p;
    sink s = {0};
    CHECK(sse_init(&p, 8) == 0);
    CHECK(sse_feed(&p, "data: 12345678\n", 15, collect, &s) == -E2BIG);   /* a long line */
    sse_release(&p);
    CHECK(sse_init(&p, 8) == 0);
    CHECK(sse_feed(&p, "data:1234\ndata:5678\n", 20, collect, &s) == -E2BIG);  /* a long event */
    sse_release(&p);
}

static void json_reads_chunks(void) {
    const char *c = " {\"id\":\"x\",\"choices\":[{\"index\":0,\"text\":\"caf\\u00e9 \\ud83d\\ude00\\n\","
                    "\"finish_reason\":null}],\"usage\":{\"completion_tokens\":12}} ";
    jspan v, ch, c0, t, f, u, ct;
    CHECK(json_check(c, strlen(c), &v) == 0);
    CHECK(json_member(v, "choices", &ch) == 0);
    CHECK(json_item(ch, 0, &c0) == 0);
    CHECK(json_item(ch, 1, &t) == -ENOENT);
    CHECK(json_member(c0, "text", &t) == 0);
    char *s;
    size_t n;
    CHECK(json_string(t, &s, &n) == 0);
    CHECK(n == strlen("café 😀\n") && !memcmp(s, "café 😀\n", n));
    free(s);
    CHECK(json_member(c0, "finish_reason", &f) == 0 && json_is_null(f));
    CHECK(json_member(v, "missing", &f) == -ENOENT);
    CHECK(json_member(v, "usage", &u) == 0 && json_member(u, "completion_tokens", &ct) == 0);
    long long x;
    CHECK(json_int(ct, &x) == 0 && x == 12);
    CHECK(json_member(t, "a", &f) == -EINVAL);        /* not an object */
}

static void json_refuses_bad_text(void) {
    static const char *bad[] = {
        "", "{", "{\"a\"}", "{\"a\":}", "[1,]", "[1 2]", "\"abc", "\"\\x\"", "\"\\u12\"",
        "01", "1.", "-", "tru", "{\"a\":1} x", "\"a\nb\"", "{\"a\":1,}",
    };
    jspan v;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECKF(json_check(bad[i], strlen(bad[i]), &v) == -EINVAL, "%s", bad[i]);
    /* nesting deeper than the bound is refused, not recursed into */
    char deep[300];
    memset(deep, '[', 200);
    memset(deep + 200, ']', 99);
    deep[299] = 0;
    CHECK(json_check(deep, strlen(deep), &v) == -EINVAL);
    const char *lone = "\"\\udc00x\"";
    char *s;
    size_t n;
    CHECK(json_check(lone, strlen(lone), &v) == 0 && json_string(v, &s, &n) == 0);
    CHECK(n == 4 && !memcmp(s, "\xef\xbf\xbdx", 4));
    free(s);
}

/* json_object walks once what json_check and json_member walk each: it
 * must accept exactly the objects json_check accepts and find the same
 * members. */
static void json_object_agrees_with_member(void) {
    static const char *texts[] = {
        "{\"a\":1,\"b\":[1,{\"a\":2}],\"c\":null}", " {\"b\" : \"x\\\"}\" , \"a\":true} ",
        "{}", "{\"a\":1,\"a\":2}", "{\"c\":{\"a\":1}}",
        "", "{", "}", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{\"a\":1} x", "{\"a\":1}}",
        "{\"a\":1} }", "[1]", "\"a\"", "{\"a\":1 \"b\":2}", "{,}", "{\"a\":[1,]}",
    };
    static const char *const keys[] = {"a", "b", "c", "d"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        const char *t = texts[i];
        jspan v, m[4], x;
        int ok = !json_check(t, strlen(t), &v) && v.p[0] == '{';
        int rc = json_object(t, strlen(t), keys, 4, m);
        CHECKF((rc == 0) == ok, "%s: json_object %d, json_check %d", t, rc, ok);
        for (int k = 0; ok && !rc && k < 4; k++) {
            int have = !json_member(v, keys[k], &x);
            CHECKF(have == (m[k].p != NULL) && (!have || (x.p == m[k].p && x.n == m[k].n)),
                   "%s: member %s", t, keys[k]);
        }
    }
}

static void json_writes_strings(void) {
    char *b = NULL;
    size_t len = 0, cap = 0;
    const char in[] = "a\"b\\c\n\x01\xff\xc3\xa9";
    CHECK(json_put_string(&b, &len, &cap, in, sizeof in - 1) == 0);
    const char *want = "\"a\\\"b\\\\c\\n\\u0001\xef\xbf\xbd\xc3\xa9\"";
    CHECKF(len == strlen(want) && !memcmp(b, want, len), "%.*s", (int)len, b);
    jspan v;
    char *s;
    size_t n;
    CHECK(json_check(b, len, &v) == 0 && json_string(v, &s, &n) == 0);
    CHECK(n == 12 && !memcmp(s, "a\"b\\c\n\x01\xef\xbf\xbd\xc3\xa9", 12));
    free(s);
    free(b);
}

static void urls(void) {
    url u;
    char err[160], show[400];
    CHECK(url_parse("http://gpu1.example:8000/base", &u, err, sizeof err) == 0);
    CHECK(!strcmp(u.scheme, "http") && !strcmp(u.host, "gpu1.example") && u.port == 8000 &&
          !strcmp(u.path, "/base"));
    CHECK(url_parse("redis://:s%40cret@[::1]:6379/2", &u, err, sizeof err) == 0);
    CHECK(u.has_password && !strcmp(u.password, "s@cret") && !strcmp(u.host, "::1") &&
          u.port == 6379 && !strcmp(u.path, "/2"));
    url_show(&u, show, sizeof show);
    CHECKF(!strcmp(show, "redis://:***@[::1]:6379/2") && !strstr(show, "cret"), "%s", show);
    CHECK(url_parse("REDIS://user:pw@h", &u, err, sizeof err) == 0 && !strcmp(u.scheme, "redis") &&
          !strcmp(u.user, "user"));
    static const char *bad[] = {
        "", "gpu1:8000", "http://", "http://h:0", "http://h:65536", "http://h:x", "http://h:",
        "http://[::1", "http://h h", "http://h/\"", "://h", "http://:pw@", "http://%zz@h",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECKF(url_parse(bad[i], &u, err, sizeof err) == -EINVAL, "%s", bad[i]);
    CHECK(url_parse("redis://:topsecret@h:1", &u, err, sizeof err) == 0);
    CHECK(url_parse("redis://:topsecret@h:99999", &u, err, sizeof err) == -EINVAL &&
          !strstr(err, "topsecret"));
}

static void breaker_opens_probes_closes(void) {
    breaker b;
    breaker_init(&b, &(breaker_config){.failures = 3, .failure_rate = 0.5, .window = 100,
                                       .cooldown_ms = 100});
    int64_t t = 1000;
    CHECK(breaker_allow(&b, t));
    breaker_failure(&b, t);
    breaker_failure(&b, t);
    breaker_success(&b, t);          /* a success resets the run */
    breaker_failure(&b, t);
    breaker_failure(&b, t);
    CHECK(b.state == BREAKER_CLOSED);
    breaker_failure(&b, t);          /* third in a row */
    CHECK(b.state == BREAKER_OPEN && b.opened == 1);
    CHECK(!breaker_allow(&b, t + 99));
    CHECK(breaker_allow(&b, t + 100));   /* the probe */
    CHECK(b.state == BREAKER_HALF_OPEN && b.half_opened == 1);
    CHECK(!breaker_allow(&b, t + 101));  /* one probe at a time */
    breaker_failure(&b, t + 150);
    CHECK(b.state == BREAKER_OPEN && b.opened == 2);
    CHECK(!breaker_allow(&b, t + 200));
    CHECK(breaker_allow(&b, t + 250));
    breaker_abandon(&b);                 /* a cancelled probe frees the slot */
    CHECK(breaker_allow(&b, t + 251));
    breaker_success(&b, t + 260);
    CHECK(b.state == BREAKER_CLOSED && b.closed == 1);
    CHECK(breaker_allow(&b, t + 261) && breaker_allow(&b, t + 261));
}

static void breaker_failure_rate(void) {
    breaker b;
    breaker_init(&b, &(breaker_config){.failures = 100, .failure_rate = 0.5, .window = 8,
                                       .cooldown_ms = 10});
    /* never 100 in a row: the rate decides once half the window is known */
    breaker_success(&b, 0);
    breaker_success(&b, 0);
    breaker_success(&b, 0);
    breaker_failure(&b, 0);
    breaker_failure(&b, 0);
    CHECK(b.state == BREAKER_CLOSED);    /* 2 of 5 */
    breaker_failure(&b, 0);              /* 3 of 6 */
    CHECK(b.state == BREAKER_OPEN);
}

static void kinds_take_what_they_can(void) {
    gen_params p;
    char why[200];
    gen_params_default(&p);
    for (int k = 0; k < REMOTE_NKINDS; k++) CHECK(remote_kind_check(k, &p, why, sizeof why) == 0);
    CHECK(remote_kind_parse("llama-server", 12) == REMOTE_LLAMA_SERVER);
    CHECK(remote_kind_parse("llama", 5) == -1);
    p.temperature = 0.8f;
    p.top_k = 40;
    CHECK(remote_kind_check(REMOTE_OPENAI, &p, why, sizeof why) == -EINVAL && strstr(why, "top_k"));
    CHECK(remote_kind_check(REMOTE_VLLM, &p, why, sizeof why) == 0);
    p.top_k = 0;
    p.repeat_penalty = 1.1f;
    CHECK(remote_kind_check(REMOTE_VLLM, &p, why, sizeof why) == -EINVAL &&
          strstr(why, "repeat_penalty"));
    CHECK(remote_kind_check(REMOTE_LLAMA_SERVER, &p, why, sizeof why) == 0);
    gen_params_default(&p);
    p.top_k = 40;                        /* greedy: the filter changes nothing */
    CHECK(remote_kind_check(REMOTE_OPENAI, &p, why, sizeof why) == 0);
    p.ignore_eos = 1;
    CHECK(remote_kind_check(REMOTE_OLLAMA, &p, why, sizeof why) == -EINVAL);
}

int main(void) {
    TEST("server-sent events parse the same in pieces of any size", sse_events_in_pieces);
    TEST("a server-sent event over its bound is refused", sse_bounds);
    TEST("the JSON reader finds a completion chunk's text, finish and usage", json_reads_chunks);
    TEST("the JSON reader refuses malformed and too deep text", json_refuses_bad_text);
    TEST("JSON strings written escape what they must and read back", json_writes_strings);
    TEST("one walk over an object accepts what json_check does and finds json_member's values",
         json_object_agrees_with_member);
    TEST("URLs parse, show without their password, and refuse what is malformed", urls);
    TEST("the breaker opens on failures in a row, probes after the cool-down, closes on success",
         breaker_opens_probes_closes);
    TEST("the breaker opens on the failure rate over its window", breaker_failure_rate);
    TEST("each kind of server takes only the parameters it can honour", kinds_take_what_they_can);
    TEST_EXIT();
}
