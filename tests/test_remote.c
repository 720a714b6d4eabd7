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

/* The body remote_body makes for kind, parsed: 0 and the object in *v
 * (its text in *buf, freed by the caller). */
static int body(int kind, int chat, const char *prompt, size_t plen, const gen_params *p,
                char **buf, jspan *v) {
    size_t n;
    if (remote_body(kind, "m", chat, prompt, plen, p, buf, &n)) return -1;
    return json_check(*buf, n, v) || v->p[0] != '{' ? -1 : 0;
}

/* Whether member key of v is the JSON text want (NULL: absent). */
static int has(jspan v, const char *key, const char *want) {
    jspan x;
    if (json_member(v, key, &x)) return want == NULL;
    return want && x.n == strlen(want) && !memcmp(x.p, want, x.n);
}

/* Sampling with every parameter set: seed 7, top_p 0.9, top_k 40, min_p
 * 0.05, a penalty of 1.1 over the last 64 tokens, ignore_eos, one stop. */
static void all_params(gen_params *p) {
    gen_params_default(p);
    p->max_tokens = 12;
    p->temperature = 0.5f;
    p->top_p = 0.5f;
    p->seed = 7;
    p->top_k = 40;
    p->min_p = 0.25f;
    p->repeat_penalty = 1.5f;
    p->repeat_last_n = 64;
    p->ignore_eos = 1;
    p->n_stop = 1;
    strcpy(p->stop[0], "\n\n");
}

/* llama.cpp's llama-server:
 * https://github.com/ggml-org/llama.cpp/blob/master/tools/server/README.md
 * (POST /completion options, taken by /v1/completions too): top_k, min_p,
 * repeat_penalty, repeat_last_n, ignore_eos, seed, stop, n_predict or
 * max_tokens; usage comes in the last chunk unasked. */
static void kind_llama_server(void) {
    gen_params p;
    char why[200], *b;
    jspan v;
    all_params(&p);
    CHECK(remote_kind_check(REMOTE_LLAMA_SERVER, &p, why, sizeof why) == 0);
    CHECK(body(REMOTE_LLAMA_SERVER, 0, "Hi", 2, &p, &b, &v) == 0);
    CHECK(has(v, "prompt", "\"Hi\"") && has(v, "model", "\"m\"") && has(v, "max_tokens", "12") &&
          has(v, "stream", "true") && has(v, "stream_options", NULL));
    CHECK(has(v, "temperature", "0.5") && has(v, "top_p", "0.5") && has(v, "seed", "7") &&
          has(v, "top_k", "40") && has(v, "min_p", "0.25") && has(v, "repeat_penalty", "1.5") &&
          has(v, "repeat_last_n", "64") && has(v, "ignore_eos", "true") &&
          has(v, "stop", "[\"\\n\\n\"]"));
    free(b);
}

/* vLLM: https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html
 * ("Extra parameters" for the Completions and Chat APIs): top_k, min_p,
 * ignore_eos, and stream_options.include_usage; its repetition_penalty
 * weighs the whole text, so a penalty over the last n tokens is refused.
 * SGLang takes the same: https://docs.sglang.ai/backend/sampling_params.html */
static void kind_vllm_sglang(void) {
    int kinds[] = {REMOTE_VLLM, REMOTE_SGLANG};
    for (int i = 0; i < 2; i++) {
        gen_params p;
        char why[200], *b;
        jspan v;
        all_params(&p);
        CHECKF(remote_kind_check(kinds[i], &p, why, sizeof why) == -EINVAL &&
               strstr(why, "repeat_penalty"), "%s: %s", remote_kind_name(kinds[i]), why);
        p.repeat_penalty = 1.0f;
        CHECK(remote_kind_check(kinds[i], &p, why, sizeof why) == 0);
        CHECK(body(kinds[i], 0, "Hi", 2, &p, &b, &v) == 0);
        CHECK(has(v, "top_k", "40") && has(v, "min_p", "0.25") && has(v, "ignore_eos", "true") &&
              has(v, "seed", "7") && has(v, "repeat_penalty", NULL) &&
              has(v, "repeat_last_n", NULL) && has(v, "max_tokens", "12") &&
              has(v, "stream_options", "{\"include_usage\":true}"));
        free(b);
    }
}

/* OpenAI: https://platform.openai.com/docs/api-reference/completions/create
 * and https://platform.openai.com/docs/api-reference/chat/create: no
 * top_k, min_p, penalty window or ignore_eos; temperature 0 to 2; the chat
 * API's max_completion_tokens (max_tokens is deprecated there). */
static void kind_openai(void) {
    gen_params p;
    char why[200], *b;
    jspan v;
    all_params(&p);
    static const char *refused[] = {"top_k", "min_p", "repeat_penalty", "ignore_eos", "temperature"};
    for (int i = 0; i < 5; i++) {
        CHECKF(remote_kind_check(REMOTE_OPENAI, &p, why, sizeof why) == -EINVAL &&
               !strncmp(why, refused[i], strlen(refused[i])), "%s: %s", refused[i], why);
        if (i == 0) p.top_k = 0;
        if (i == 1) p.min_p = 0;
        if (i == 2) p.repeat_penalty = 1.0f;
        if (i == 3) { p.ignore_eos = 0; p.temperature = 2.5f; }
    }
    p.temperature = 2.0f;
    CHECK(remote_kind_check(REMOTE_OPENAI, &p, why, sizeof why) == 0);
    CHECK(body(REMOTE_OPENAI, 0, "Hi", 2, &p, &b, &v) == 0);
    CHECK(has(v, "temperature", "2") && has(v, "top_p", "0.5") && has(v, "seed", "7") &&
          has(v, "max_tokens", "12") && has(v, "stop", "[\"\\n\\n\"]") &&
          has(v, "top_k", NULL) && has(v, "min_p", NULL) && has(v, "ignore_eos", NULL) &&
          has(v, "stream_options", "{\"include_usage\":true}"));
    free(b);
    const char packed[] = "\001\002\0\0\0hi";            /* one user message "hi" */
    CHECK(body(REMOTE_OPENAI, 1, packed, sizeof packed - 1, &p, &b, &v) == 0);
    CHECK(has(v, "max_completion_tokens", "12") && has(v, "max_tokens", NULL) &&
          has(v, "messages", "[{\"role\":\"user\",\"content\":\"hi\"}]") && has(v, "prompt", NULL));
    free(b);
}

/* Ollama's OpenAI compatibility:
 * https://github.com/ollama/ollama/blob/main/docs/openai.md (the supported
 * request fields of /v1/completions and /v1/chat/completions): model,
 * prompt or messages, max_tokens, temperature, top_p, seed, stop, stream,
 * stream_options.include_usage, nothing else of ours. */
static void kind_ollama(void) {
    gen_params p;
    char why[200], *b;
    jspan v;
    all_params(&p);
    static const char *refused[] = {"top_k", "min_p", "repeat_penalty", "ignore_eos"};
    for (int i = 0; i < 4; i++) {
        CHECKF(remote_kind_check(REMOTE_OLLAMA, &p, why, sizeof why) == -EINVAL &&
               !strncmp(why, refused[i], strlen(refused[i])), "%s: %s", refused[i], why);
        if (i == 0) p.top_k = 0;
        if (i == 1) p.min_p = 0;
        if (i == 2) p.repeat_penalty = 1.0f;
        if (i == 3) p.ignore_eos = 0;
    }
    p.temperature = 3.0f;                /* no bound of its own */
    CHECK(remote_kind_check(REMOTE_OLLAMA, &p, why, sizeof why) == 0);
    CHECK(body(REMOTE_OLLAMA, 0, "Hi", 2, &p, &b, &v) == 0);
    CHECK(has(v, "temperature", "3") && has(v, "top_p", "0.5") && has(v, "seed", "7") &&
          has(v, "max_tokens", "12") && has(v, "stop", "[\"\\n\\n\"]") &&
          has(v, "stream_options", "{\"include_usage\":true}"));
    free(b);
}

/* Greedy sends temperature 0 and none of the sampling filters (which
 * greedy decoding never reads) to every kind; a chat's messages, made by
 * remote_chat_ids and packed as the backend packs them, reach the body in
 * order with their roles and exact text. */
static void greedy_and_chat_bodies(void) {
    gen_params p;
    gen_params_default(&p);
    p.top_k = 40;
    p.seed = 9;
    chat_msg m[3] = {{CHAT_SYSTEM, "Be \"brief\".", 11}, {CHAT_USER, "Q\n1", 3},
                     {CHAT_ASSISTANT, "A", 1}};
    int *ids;
    int n = remote_chat_ids(m, 3, &ids);
    CHECK(n == 3 * 5 + 11 + 3 + 1 && ids[0] == REMOTE_CHAT_MARK + CHAT_SYSTEM && ids[1] == 11 &&
          ids[16] == REMOTE_CHAT_MARK + CHAT_USER);
    char packed[64];
    for (int i = 0; i < n; i++) packed[i] = (char)(ids[i] >= REMOTE_CHAT_MARK ? ids[i] - REMOTE_CHAT_MARK : ids[i]);
    free(ids);
    for (int k = 0; k < REMOTE_NKINDS; k++) {
        char why[200], *b;
        jspan v;
        CHECK(remote_kind_check(k, &p, why, sizeof why) == 0);
        CHECK(body(k, 0, "x", 1, &p, &b, &v) == 0);
        CHECKF(has(v, "temperature", "0") && has(v, "top_k", NULL) && has(v, "top_p", NULL) &&
               has(v, "seed", NULL), "%s", remote_kind_name(k));
        free(b);
        CHECK(body(k, 1, packed, (size_t)n, &p, &b, &v) == 0);
        CHECKF(has(v, "messages", "[{\"role\":\"system\",\"content\":\"Be \\\"brief\\\".\"},"
                                  "{\"role\":\"user\",\"content\":\"Q\\n1\"},"
                                  "{\"role\":\"assistant\",\"content\":\"A\"}]"),
               "%s: %.*s", remote_kind_name(k), (int)v.n, v.p);
        free(b);
    }
    /* a packed list cut short is refused, never read past */
    char *b;
    size_t bl;
    CHECK(remote_body(REMOTE_VLLM, NULL, 1, packed, 7, &p, &b, &bl) == -EINVAL);
    CHECK(remote_body(REMOTE_VLLM, NULL, 1, packed, 3, &p, &b, &bl) == -EINVAL);
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
    TEST("llama-server gets its own parameters: top_k, min_p, repeat_penalty over repeat_last_n, ignore_eos",
         kind_llama_server);
    TEST("vLLM and SGLang get top_k, min_p, ignore_eos, usage in the stream; no penalty window",
         kind_vllm_sglang);
    TEST("OpenAI gets its documented parameters only; chats send max_completion_tokens", kind_openai);
    TEST("Ollama gets the fields its OpenAI compatibility lists", kind_ollama);
    TEST("greedy bodies carry no sampling filters; chat messages reach the body whole and in order",
         greedy_and_chat_bodies);
    TEST_EXIT();
}
