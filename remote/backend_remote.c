/* This file implements the remote backend of remote.h.
 *
 * Threads and locks.  The HTTP thread owns the curl multi handle, every
 * easy handle and the request queues; other threads reach it through two
 * lists under mu (incoming: submitted requests; freeing: released ones)
 * and a write to wake_fd.  mu also protects the endpoints' breakers,
 * limits and counters (the thread updates them, stats read them).
 * cbmu serializes the callbacks to the caller with release(): the thread
 * holds it while it calls one and checks `released` first, so that once
 * release() has set the flag under cbmu no callback of that request runs
 * again.  Order: cbmu before mu; neither is held while curl runs.
 *
 * A request's life: submit -> incoming -> queued (by priority) -> active
 * (an easy handle on one endpoint) -> done, or back to queued through a
 * backoff when the attempt failed before any text was handed on.  The
 * thread frees a request only once it has been released. */
#define _GNU_SOURCE   /* pthread_setname_np */
#include "remote/remote.h"

#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <xxhash.h>

#include "cache/le.h"
#include "cache/url.h"
#include "engine/engine.h"
#include "engine/errbuf.h"
#include "remote/json.h"
#include "remote/sse.h"

#define RING_POINTS 64           /* ring points per endpoint */
#define MAX_EVENT (1u << 20)     /* bytes of one server-sent event, at most */
#define MAX_ERRBODY 4096         /* bytes of an error answer kept for its message */
#define TPOT_SAMPLES 8           /* finished requests per limit decision */

enum rstate { RS_INCOMING, RS_QUEUED, RS_ACTIVE, RS_BACKOFF, RS_DONE };

typedef struct rreq rreq;
typedef struct remote remote;

struct rreq {
    remote *rb;
    rreq *next, *prev;           /* in a queue, the backoff or the active list (thread) */
    rreq *lnext;                 /* in incoming or freeing (mu) */
    char *prompt;                /* (plen) the prompt's bytes; a chat: its ids' packed form */
    size_t plen;
    int chat;                    /* a chat (remote_chat_ids) for /v1/chat/completions */
    gen_params p;
    sched_cb cb;
    void *ud;
    uint64_t route;              /* hash of the prompt's first bytes */
    int state;                   /* enum rstate (thread) */
    int released;                /* (cbmu) */
    int ep;                      /* endpoint of the current attempt, -1 none */
    int attempts;
    uint64_t tried;              /* endpoints tried, one bit each */
    int64_t due_ns;              /* end of the backoff */
    int64_t sent_ns, last_byte_ns;
    int got_bytes;               /* this attempt has had a byte */
    CURL *easy;
    struct curl_slist *hdrs;
    char *body;                  /* (body_len) the request's JSON */
    size_t body_len;
    sse sp;
    long status;                 /* HTTP status once the first byte came */
    char errbody[MAX_ERRBODY];   /* an error answer's first bytes */
    size_t errbody_len;
    int got_finish, got_done, chunks;
    char finish[16];
    long long usage_prompt, usage_gen;
    int stream_err;              /* 0, or why the stream was refused (negative errno) */
    size_t delivered;            /* bytes handed to on_text, all attempts */
    int probe;                   /* this attempt is its endpoint's breaker probe */
    char reason[320];
    char curl_err[CURL_ERROR_SIZE];
    sched_result r;
};

typedef struct endpoint {
    char *url, *model, *api_key; /* owned copies */
    char show[300];              /* url as shown */
    char target[1100];           /* the completions URL */
    char target_chat[1100];      /* the chat completions URL */
    remote_endpoint cfg;
    breaker br;                  /* (mu) */
    int inflight;                /* (mu) */
    double limit;                /* (mu) */
    int64_t last_byte_ns;        /* its last byte on any transfer (thread) */
    double tpot_sum;             /* samples toward the next decision (thread) */
    int tpot_n;
    remote_endpoint_stats st;    /* counters (mu) */
} endpoint;

typedef struct ring_point {
    uint64_t h;
    int ep;
} ring_point;

struct remote {
    backend b;
    remote_config cfg;
    char *revision;
    endpoint *ep;                /* (n_ep) */
    int n_ep;
    ring_point *ring;            /* (n_ep * RING_POINTS) sorted by h */
    CURLM *multi;
    /* The thread waits in epoll on the sockets curl asks for (its socket
     * callback) and on wake_fd, and drives curl with
     * curl_multi_socket_action: a wake-up costs the sockets that are
     * ready, not a poll of every transfer. */
    int epfd, wake_fd;
    int64_t curl_due_ns;         /* when curl wants its timeout action; 0: never (thread) */
    int64_t silence_due_ns;      /* no active transfer's silence timeout comes before (thread) */
    pthread_t th;
    int started;
    pthread_mutex_t mu;          /* incoming, freeing, stop, waiting, endpoints' figures */
    pthread_mutex_t cbmu;        /* callbacks against release */
    rreq *incoming, *freeing;    /* (mu) */
    int stop;                    /* (mu) */
    int waiting;                 /* not yet sent (mu) */
    double budget;               /* retry tokens (mu) */
    uint64_t retries, failovers, budget_exhausted, failed;   /* (mu) */
    uint64_t rng;                /* jitter (thread) */
    /* thread-owned */
    rreq *qhead[3], *qtail[3];   /* queued, by priority */
    rreq *backoff;               /* waiting to be queued again */
    rreq *active;
};

static const char *const kind_names[REMOTE_NKINDS] = {
    "openai", "vllm", "sglang", "llama-server", "ollama",
};

const char *remote_kind_name(int kind) {
    return kind >= 0 && kind < REMOTE_NKINDS ? kind_names[kind] : NULL;
}

int remote_kind_parse(const char *s, size_t n) {
    for (int k = 0; k < REMOTE_NKINDS; k++)
        if (strlen(kind_names[k]) == n && !memcmp(kind_names[k], s, n)) return k;
    return -1;
}

/* ----------------------------------------------------------- parameters */

/* What each kind takes, from its documented API (tests/test_remote.c checks
 * the bodies against these lists):
 *  - openai: https://platform.openai.com/docs/api-reference/completions/create
 *    and https://platform.openai.com/docs/api-reference/chat/create: model,
 *    prompt or messages, max_tokens (chat: max_completion_tokens),
 *    temperature (0 to 2), top_p, seed, stop (up to 4), stream,
 *    stream_options.include_usage; no top_k, min_p, penalty over the last
 *    n tokens or ignore_eos.
 *  - vllm: https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html
 *    (its "extra parameters" of the Completions and Chat APIs): the OpenAI
 *    ones, and top_k, min_p, ignore_eos; its repetition_penalty covers the
 *    whole text, not the last repeat_last_n tokens.
 *  - sglang: https://docs.sglang.ai/backend/sampling_params.html (taken by
 *    its OpenAI-compatible API too): the same as vllm.
 *  - llama-server: https://github.com/ggml-org/llama.cpp/blob/master/tools/server/README.md
 *    (its /completion options, which /v1/completions takes as well): top_k,
 *    min_p, repeat_penalty with repeat_last_n, ignore_eos, seed; it puts
 *    the usage in its last chunk unasked.
 *  - ollama: https://github.com/ollama/ollama/blob/main/docs/openai.md
 *    ("supported request fields" of /v1/completions and
 *    /v1/chat/completions): model, prompt or messages, max_tokens,
 *    temperature, top_p, seed, stop, stream, stream_options.include_usage;
 *    nothing else of ours. */

int remote_kind_check(int kind, const gen_params *p, char *why, size_t whylen) {
    const char *k = remote_kind_name(kind);
    int greedy = p->temperature <= 0.0f;
    int filters = kind == REMOTE_VLLM || kind == REMOTE_SGLANG || kind == REMOTE_LLAMA_SERVER;
    /* greedy decoding never looks at the filters, so they need not be sent */
    if (!greedy && p->top_k > 0 && !filters)
        return errbuf_set(why, whylen, -EINVAL, "top_k: a %s server does not take it", k);
    if (!greedy && p->min_p > 0.0f && !filters)
        return errbuf_set(why, whylen, -EINVAL, "min_p: a %s server does not take it", k);
    if (p->repeat_penalty != 1.0f && p->repeat_last_n > 0 && kind != REMOTE_LLAMA_SERVER)
        return errbuf_set(why, whylen, -EINVAL,
                          "repeat_penalty: a %s server has no penalty over the last "
                          "repeat_last_n tokens", k);
    if (p->ignore_eos && !filters)
        return errbuf_set(why, whylen, -EINVAL, "ignore_eos: a %s server does not take it", k);
    if (!greedy && p->temperature > 2.0f && kind == REMOTE_OPENAI)
        return errbuf_set(why, whylen, -EINVAL, "temperature: a %s server takes 0 to 2", k);
    return 0;
}

int remote_body(int kind, const char *model, int chat, const char *prompt, size_t plen,
                const gen_params *p, char **out, size_t *outlen) {
    char *b = NULL, num[128];
    size_t len = 0, cap = 0;
    int rc = 0;
#define PUT(s) do { size_t l_ = strlen(s); if (len + l_ + 1 > cap) { \
        size_t c_ = cap ? cap * 2 : 512; while (c_ < len + l_ + 1) c_ *= 2; \
        char *n_ = realloc(b, c_); if (!n_) { rc = -ENOMEM; goto out; } b = n_; cap = c_; } \
        memcpy(b + len, s, l_); len += l_; } while (0)
    PUT("{");
    if (model) {
        PUT("\"model\":");
        if ((rc = json_put_string(&b, &len, &cap, model, strlen(model)))) goto out;
        PUT(",");
    }
    if (!chat) {
        PUT("\"prompt\":");
        if ((rc = json_put_string(&b, &len, &cap, prompt, plen))) goto out;
    } else {
        /* the packed messages: a role byte, a 4-byte length, the text */
        static const char *const role[] = {"system", "user", "assistant"};
        PUT("\"messages\":[");
        for (size_t i = 0; i < plen;) {
            unsigned k = (unsigned char)prompt[i];
            size_t l = plen - i >= 5 ? get_u32((const uint8_t *)prompt + i + 1) : 0;
            if (plen - i < 5 || k > 2 || l > plen - i - 5) { rc = -EINVAL; goto out; }
            PUT(i ? ",{\"role\":\"" : "{\"role\":\"");
            PUT(role[k]);
            PUT("\",\"content\":");
            if ((rc = json_put_string(&b, &len, &cap, prompt + i + 5, l))) goto out;
            PUT("}");
            i += 5 + l;
        }
        PUT("]");
    }
    /* OpenAI's chat API names it max_completion_tokens (max_tokens is
     * deprecated there and refused by its reasoning models) */
    snprintf(num, sizeof num, ",\"%s\":%d,\"stream\":true",
             chat && kind == REMOTE_OPENAI ? "max_completion_tokens" : "max_tokens", p->max_tokens);
    PUT(num);
    /* the token counts in a last chunk: llama-server sends them unasked */
    if (kind != REMOTE_LLAMA_SERVER) PUT(",\"stream_options\":{\"include_usage\":true}");
    int greedy = p->temperature <= 0.0f;
    snprintf(num, sizeof num, ",\"temperature\":%.9g", greedy ? 0.0 : (double)p->temperature);
    PUT(num);
    if (!greedy) {
        snprintf(num, sizeof num, ",\"top_p\":%.9g,\"seed\":%llu", (double)p->top_p,
                 (unsigned long long)(p->seed & ((1ULL << 53) - 1)));
        PUT(num);
        if (p->top_k > 0) { snprintf(num, sizeof num, ",\"top_k\":%d", p->top_k); PUT(num); }
        if (p->min_p > 0) { snprintf(num, sizeof num, ",\"min_p\":%.9g", (double)p->min_p); PUT(num); }
    }
    if (p->repeat_penalty != 1.0f && p->repeat_last_n > 0) {
        snprintf(num, sizeof num, ",\"repeat_penalty\":%.9g,\"repeat_last_n\":%d",
                 (double)p->repeat_penalty, p->repeat_last_n);
        PUT(num);
    }
    if (p->ignore_eos) PUT(",\"ignore_eos\":true");
    if (p->n_stop) {
        PUT(",\"stop\":[");
        for (int i = 0; i < p->n_stop; i++) {
            if (i) PUT(",");
            if ((rc = json_put_string(&b, &len, &cap, p->stop[i], strnlen(p->stop[i], GEN_STOP_MAX))))
                goto out;
        }
        PUT("]");
    }
    PUT("}");
#undef PUT
out:
    if (rc) { free(b); return rc; }
    *out = b;
    *outlen = len;
    return 0;
}

/* The request's JSON for endpoint e into r->body. */
static int build_body(rreq *r, const endpoint *e) {
    char *b;
    size_t len;
    int rc = remote_body(e->cfg.kind, e->model, r->chat, r->prompt, r->plen, &r->p, &b, &len);
    if (rc) return rc;
    free(r->body);
    r->body = b;
    r->body_len = len;
    return 0;
}

/* ------------------------------------------------------------- helpers */

static int64_t now_ns(void) { return engine_now_ns(); }

/* snprintf for messages that may be cut short at their buffer's end. */
static void say(char *dst, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *dst, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
}

static void wake(remote *rb) {
    uint64_t one = 1;
    if (write(rb->wake_fd, &one, sizeof one) < 0) { /* full: a wake-up is pending anyway */ }
}

/* curl's socket callback: what to wait for on s (thread). */
static int on_socket(CURL *e, curl_socket_t s, int what, void *userp, void *socketp) {
    remote *rb = userp;
    (void)e;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(rb->epfd, EPOLL_CTL_DEL, s, NULL);
        curl_multi_assign(rb->multi, s, NULL);
        return 0;
    }
    struct epoll_event ev = {0};
    ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
    ev.data.fd = s;
    if (socketp) {
        epoll_ctl(rb->epfd, EPOLL_CTL_MOD, s, &ev);
    } else {
        epoll_ctl(rb->epfd, EPOLL_CTL_ADD, s, &ev);
        curl_multi_assign(rb->multi, s, rb);   /* any non-NULL: known */
    }
    return 0;
}

/* curl's timer callback: when to call it with CURL_SOCKET_TIMEOUT (thread). */
static int on_timer(CURLM *m, long timeout_ms, void *userp) {
    remote *rb = userp;
    (void)m;
    rb->curl_due_ns = timeout_ms < 0 ? 0 : now_ns() + (int64_t)timeout_ms * 1000000;
    return 0;
}

static void list_unlink(rreq **head, rreq *r) {
    if (r->prev) r->prev->next = r->next;
    else if (*head == r) *head = r->next;
    if (r->next) r->next->prev = r->prev;
    r->next = r->prev = NULL;
}

static void list_push(rreq **head, rreq *r) {
    r->prev = NULL;
    r->next = *head;
    if (*head) (*head)->prev = r;
    *head = r;
}

static void queue_push(remote *rb, rreq *r, int front) {
    int q = (unsigned)r->p.priority < 3 ? (int)r->p.priority : PRIO_NORMAL;
    r->state = RS_QUEUED;
    r->next = r->prev = NULL;
    if (!rb->qhead[q]) {
        rb->qhead[q] = rb->qtail[q] = r;
    } else if (front) {
        r->next = rb->qhead[q];
        rb->qhead[q]->prev = r;
        rb->qhead[q] = r;
    } else {
        r->prev = rb->qtail[q];
        rb->qtail[q]->next = r;
        rb->qtail[q] = r;
    }
}

static void queue_unlink(remote *rb, rreq *r) {
    int q = (unsigned)r->p.priority < 3 ? (int)r->p.priority : PRIO_NORMAL;
    if (rb->qtail[q] == r) rb->qtail[q] = r->prev;
    list_unlink(&rb->qhead[q], r);
}

static void rreq_free(rreq *r) {
    if (!r) return;
    free(r->prompt);
    free(r->body);
    sse_release(&r->sp);
    free(r);
}

/* Calls on_text unless r was released. */
static void deliver(rreq *r, const char *text, size_t n) {
    remote *rb = r->rb;
    pthread_mutex_lock(&rb->cbmu);
    if (!r->released) {
        if (!r->delivered) r->r.t_first_ns = now_ns();
        r->delivered += n;
        if (r->cb.on_text) r->cb.on_text(r->ud, text, n);
    }
    pthread_mutex_unlock(&rb->cbmu);
}

/* Ends r: on_done unless it was released (thread). */
static void finish(rreq *r) {
    remote *rb = r->rb;
    r->state = RS_DONE;
    r->r.t_done_ns = now_ns();
    pthread_mutex_lock(&rb->cbmu);
    if (!r->released && r->cb.on_done) {
        r->r.reason = r->r.error ? r->reason : NULL;
        r->cb.on_done(r->ud, &r->r);
    }
    pthread_mutex_unlock(&rb->cbmu);
    r->r.reason = NULL;
}

static void fail(rreq *r, int err) {
    remote *rb = r->rb;
    r->r.finish = FINISH_ERROR;
    r->r.error = err;
    pthread_mutex_lock(&rb->mu);
    rb->failed++;
    pthread_mutex_unlock(&rb->mu);
    finish(r);
}

/* ------------------------------------------------------------- routing */

static int point_cmp(const void *a, const void *b) {
    uint64_t x = ((const ring_point *)a)->h, y = ((const ring_point *)b)->h;
    return x < y ? -1 : x > y;
}

/* The endpoints in ring order from hash h: order[0] owns h. */
static int ring_order(const remote *rb, uint64_t h, int order[REMOTE_MAX_ENDPOINTS]) {
    int np = rb->n_ep * RING_POINTS, lo = 0, hi = np, n = 0;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (rb->ring[mid].h < h) lo = mid + 1;
        else hi = mid;
    }
    uint64_t seen = 0;
    for (int k = 0; k < np && n < rb->n_ep; k++) {
        int e = rb->ring[(lo + k) % np].ep;
        if (seen >> e & 1) continue;
        seen |= 1ULL << e;
        order[n++] = e;
    }
    return n;
}

/* Picks r's endpoint now and takes its slot (mu held): its index, -1 when
 * every endpoint that may take it is full (wait), -2 when none may take it
 * at all (every breaker open). */
static int pick(remote *rb, rreq *r, int64_t now_ms) {
    int order[REMOTE_MAX_ENDPOINTS];
    int n = ring_order(rb, r->route, order), full = 0;
    /* first the endpoints this request has not tried; the others only when
     * none of those is healthy (one that is merely full is waited for) */
    for (int pass = 0; pass < 2 && !full; pass++) {
        for (int k = 0; k < n; k++) {
            endpoint *e = &rb->ep[order[k]];
            int tried = (int)(r->tried >> order[k] & 1);
            if (tried != pass) continue;
            if (!breaker_ready(&e->br, now_ms)) continue;
            if (e->inflight >= (int)e->limit) { full = 1; continue; }
            r->probe = e->br.state != BREAKER_CLOSED;
            breaker_allow(&e->br, now_ms);
            e->inflight++;
            if (k > 0 && !r->attempts) rb->failovers++;
            return order[k];
        }
    }
    return full ? -1 : -2;
}

/* ------------------------------------------------------------ transfers */

static int on_event(void *ud, const char *data, size_t len) {
    rreq *r = ud;
    if (len == 6 && !memcmp(data, "[DONE]", 6)) { r->got_done = 1; return 0; }
    /* one walk over the event finds its three members (an event comes
     * with every token of every stream: its parse is the HTTP thread's
     * main cost in user space) */
    static const char *const top[] = {"error", "usage", "choices"};
    jspan m3[3], x, c;
    if (json_object(data, len, top, 3, m3)) {
        say(r->reason, sizeof r->reason, "an event that is not a JSON object");
        return -EBADMSG;
    }
    if ((x = m3[0]).p && !json_is_null(x)) {
        char *msg = NULL;
        size_t ml = 0;
        jspan m;
        if (!json_member(x, "message", &m)) json_string(m, &msg, &ml);
        say(r->reason, sizeof r->reason, "the server sent an error: %.200s",
                 msg ? msg : "(no message)");
        free(msg);
        return -EREMOTEIO;
    }
    if ((x = m3[1]).p && !json_is_null(x)) {
        if (!json_member(x, "prompt_tokens", &c)) json_int(c, &r->usage_prompt);
        if (!json_member(x, "completion_tokens", &c)) json_int(c, &r->usage_gen);
    }
    if (!(x = m3[2]).p || json_item(x, 0, &c)) return 0;   /* a usage chunk */
    static const char *const ch[] = {"text", "finish_reason", "delta"};
    jspan m2[3];
    if (json_object(c.p, c.n, ch, 3, m2)) return 0;   /* not an object: no text */
    jspan t = m2[0], f = m2[1];
    if (r->chat && !t.p && m2[2].p && !json_is_null(m2[2])) {
        /* a chat chunk: choices[0].delta.content (the first may hold
         * only the role, the last nothing) */
        static const char *const dk[] = {"content"};
        jspan d[1];
        if (json_object(m2[2].p, m2[2].n, dk, 1, d)) {
            say(r->reason, sizeof r->reason, "choices[0].delta is not an object");
            return -EBADMSG;
        }
        if (d[0].p && !json_is_null(d[0])) t = d[0];
    }
    if (t.p) {
        char *s;
        size_t sl;
        int rc = json_string(t, &s, &sl);
        if (rc == -ENOMEM) return rc;
        if (rc) {
            say(r->reason, sizeof r->reason, "choices[0].%s is not a string",
                r->chat ? "delta.content" : "text");
            return -EBADMSG;
        }
        if (sl) deliver(r, s, sl);
        free(s);
    }
    if (f.p && !json_is_null(f)) {
        char *s;
        size_t sl;
        if (!json_string(f, &s, &sl)) {
            snprintf(r->finish, sizeof r->finish, "%s", s);
            free(s);
        }
        r->got_finish = 1;
    }
    r->chunks++;
    return 0;
}

static size_t on_body(char *d, size_t sz, size_t nm, void *ud) {
    rreq *r = ud;
    size_t n = sz * nm;
    r->last_byte_ns = now_ns();
    r->got_bytes = 1;
    if (r->ep >= 0) r->rb->ep[r->ep].last_byte_ns = r->last_byte_ns;
    if (!r->status) curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
    if (r->status != 200) {
        size_t k = MAX_ERRBODY - 1 - r->errbody_len;
        if (k > n) k = n;
        memcpy(r->errbody + r->errbody_len, d, k);
        r->errbody_len += k;
        return n;
    }
    int rc = sse_feed(&r->sp, d, n, on_event, r);
    if (rc) {
        if (rc == -E2BIG) say(r->reason, sizeof r->reason, "an event over %u bytes", MAX_EVENT);
        else if (rc == -ENOMEM) say(r->reason, sizeof r->reason, "out of memory");
        r->stream_err = rc;
        return 0;                /* stops the transfer */
    }
    return n;
}

/* When r times out for silence (thread): timeout_ms after its last byte.
 * An answer that has not started yet waits while its server streams
 * others' (it is queued there, as llama-server and vLLM queue what they
 * cannot batch now): it times out only once the server has been silent
 * on every transfer for timeout_ms. */
static int64_t silence_deadline(const remote *rb, const rreq *r) {
    const endpoint *e = &rb->ep[r->ep];
    int64_t last = r->last_byte_ns;
    if (!r->got_bytes && e->last_byte_ns > last) last = e->last_byte_ns;
    return last + (int64_t)e->cfg.timeout_ms * 1000000;
}

/* Starts r's attempt on endpoint k (thread).  On failure r is ended. */
static void start(remote *rb, rreq *r, int k) {
    endpoint *e = &rb->ep[k];
    r->ep = k;
    r->attempts++;
    r->tried |= 1ULL << k;
    r->status = 0;
    r->errbody_len = 0;
    r->got_finish = r->got_done = r->chunks = 0;
    r->finish[0] = 0;
    r->usage_prompt = r->usage_gen = -1;
    r->stream_err = 0;
    r->reason[0] = 0;
    r->curl_err[0] = 0;
    r->sent_ns = r->last_byte_ns = now_ns();
    r->got_bytes = 0;
    if (!r->r.t_start_ns) r->r.t_start_ns = r->sent_ns;
    sse_release(&r->sp);
    int rc = sse_init(&r->sp, MAX_EVENT);
    if (!rc) rc = build_body(r, e);
    CURL *h = rc ? NULL : curl_easy_init();
    struct curl_slist *hd = NULL;
    char auth[600];
    if (h) {
        hd = curl_slist_append(hd, "Content-Type: application/json");
        hd = hd ? curl_slist_append(hd, "Accept: text/event-stream") : NULL;
        hd = hd ? curl_slist_append(hd, "Expect:") : NULL;   /* no 100-continue round trip */
        if (hd && e->api_key) {
            snprintf(auth, sizeof auth, "Authorization: Bearer %s", e->api_key);
            hd = curl_slist_append(hd, auth);
            explicit_bzero(auth, sizeof auth);
        }
    }
    if (!h || !hd) {
        if (h) curl_easy_cleanup(h);
        curl_slist_free_all(hd);
        pthread_mutex_lock(&rb->mu);
        e->inflight--;
        breaker_abandon(&e->br);
        pthread_mutex_unlock(&rb->mu);
        say(r->reason, sizeof r->reason, "cannot start a request: out of memory");
        fail(r, -ENOMEM);
        return;
    }
    r->easy = h;
    r->hdrs = hd;
    curl_easy_setopt(h, CURLOPT_URL, r->chat ? e->target_chat : e->target);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_PRIVATE, r);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, r->curl_err);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)e->cfg.connect_timeout_ms);
    pthread_mutex_lock(&rb->mu);
    e->st.requests++;
    pthread_mutex_unlock(&rb->mu);
    r->state = RS_ACTIVE;
    list_push(&rb->active, r);
    int64_t dl = silence_deadline(rb, r);
    if (dl < rb->silence_due_ns) rb->silence_due_ns = dl;
    curl_multi_add_handle(rb->multi, h);
}

/* Detaches r's transfer, if any (thread). */
static void stop_transfer(remote *rb, rreq *r) {
    if (!r->easy) return;
    curl_multi_remove_handle(rb->multi, r->easy);
    curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->hdrs);
    r->easy = NULL;
    r->hdrs = NULL;
    list_unlink(&rb->active, r);
}

/* The message of an error answer: its error.message, or its first bytes. */
static void http_reason(rreq *r, const char *show) {
    char *msg = NULL;
    size_t ml = 0;
    jspan v, x, m;
    if (!json_check(r->errbody, r->errbody_len, &v) && v.p[0] == '{' &&
        !json_member(v, "error", &x)) {
        if (x.p[0] == '"') json_string(x, &msg, &ml);
        else if (!json_member(x, "message", &m)) json_string(m, &msg, &ml);
    }
    char raw[201];
    size_t k = 0;
    for (size_t i = 0; !msg && i < r->errbody_len && k < 200; i++) {
        char c = r->errbody[i];
        raw[k++] = c >= 0x20 && c < 0x7f ? c : ' ';
    }
    raw[k] = 0;
    say(r->reason, sizeof r->reason, "%s answered HTTP %ld: %.200s", show, r->status,
             msg ? msg : raw);
    free(msg);
}

static int http_errno(long status) {
    switch (status) {
    case 400: case 422: return -EINVAL;
    case 401: case 403: return -EACCES;
    case 404: return -ENOENT;
    case 413: return -EFBIG;
    case 408: case 504: return -ETIMEDOUT;
    case 429: case 503: return -EBUSY;
    default: return -EIO;
    }
}

static int curl_errno(CURLcode c) {
    switch (c) {
    case CURLE_COULDNT_CONNECT: return -ECONNREFUSED;
    case CURLE_COULDNT_RESOLVE_HOST: return -EHOSTUNREACH;
    case CURLE_OPERATION_TIMEDOUT: return -ETIMEDOUT;
    case CURLE_OUT_OF_MEMORY: return -ENOMEM;
    default: return -EIO;
    }
}

/* Adapts e's in-flight limit to the time per output token of a request
 * that finished (thread; mu held). */
static void adapt(remote *rb, endpoint *e, const rreq *r, int gen) {
    if (gen < 2 || !r->r.t_first_ns) return;
    e->tpot_sum += (r->r.t_done_ns - r->r.t_first_ns) / 1e6 / (gen - 1);
    if (++e->tpot_n < TPOT_SAMPLES) return;
    double tpot = e->tpot_sum / e->tpot_n;
    e->st.tpot_ms = tpot;
    if (tpot <= rb->cfg.tpot_target_ms) {
        if (e->inflight + 1 >= (int)e->limit) e->limit += 1;
    } else {
        e->limit *= 0.75;
    }
    if (e->limit > e->cfg.max_inflight) e->limit = e->cfg.max_inflight;
    if (e->limit < 1) e->limit = 1;
    e->tpot_sum = 0;
    e->tpot_n = 0;
}

static void succeed(remote *rb, rreq *r, endpoint *e, int64_t now) {
    int gen = r->usage_gen >= 0 ? (int)r->usage_gen
              : !strcmp(r->finish, "length") ? r->p.max_tokens : r->chunks;
    r->r.finish = !strcmp(r->finish, "length") ? FINISH_LENGTH
                  : r->p.n_stop ? FINISH_STOP : FINISH_EOS;
    r->r.generated_tokens = gen;
    r->r.prompt_tokens = r->usage_prompt >= 0 ? (int)r->usage_prompt : 0;
    r->r.t_done_ns = now;
    pthread_mutex_lock(&rb->mu);
    breaker_success(&e->br, now / 1000000);
    e->st.ok++;
    double e2e = (now - r->sent_ns) / 1e6;
    e->st.e2e_n++;
    e->st.e2e_ms_sum += e2e;
    if (e2e > e->st.e2e_ms_max) e->st.e2e_ms_max = e2e;
    adapt(rb, e, r, gen);
    pthread_mutex_unlock(&rb->mu);
    if (rb->cfg.observe) rb->cfg.observe(rb->cfg.observe_ud, (int)(e - rb->ep), -1.0, e2e);
    finish(r);
}

/* Jittered exponential backoff before attempt r->attempts + 1. */
static int64_t backoff_ns(remote *rb, int attempts) {
    rb->rng ^= rb->rng << 13;
    rb->rng ^= rb->rng >> 7;
    rb->rng ^= rb->rng << 17;
    double base = rb->cfg.backoff_ms * ldexp(1.0, attempts > 10 ? 10 : attempts - 1);
    double jitter = 0.5 + (double)(rb->rng >> 11) / (double)(1ULL << 53);   /* [0.5, 1.5) */
    return (int64_t)(base * jitter * 1e6);
}

/* r's attempt ended (thread): curl's result, or timed_out. */
static void ended(remote *rb, rreq *r, CURLcode res, int timed_out) {
    endpoint *e = &rb->ep[r->ep];
    int64_t now = now_ns();
    if (!r->status && r->easy) curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
    stop_transfer(rb, r);
    pthread_mutex_lock(&rb->mu);
    e->inflight--;
    double ttft = -1.0;
    if (r->r.t_first_ns && r->r.t_first_ns >= r->sent_ns) {
        ttft = (r->r.t_first_ns - r->sent_ns) / 1e6;
        e->st.ttft_n++;
        e->st.ttft_ms_sum += ttft;
        if (ttft > e->st.ttft_ms_max) e->st.ttft_ms_max = ttft;
    }
    pthread_mutex_unlock(&rb->mu);
    if (ttft >= 0 && rb->cfg.observe) rb->cfg.observe(rb->cfg.observe_ud, r->ep, ttft, -1.0);
    /* an answer that said it finished is whole, whatever the connection
     * did after that */
    if (r->status == 200 && (r->got_finish || r->got_done) && !r->stream_err) {
        succeed(rb, r, e, now);
        return;
    }
    int retryable = 1, err, server_fault = 1;
    char why[320];
    if (timed_out) {
        say(why, sizeof why, "%s sent nothing for %d ms", e->show, e->cfg.timeout_ms);
        err = -ETIMEDOUT;
    } else if (r->stream_err) {
        say(why, sizeof why, "%s sent a bad stream: %s", e->show, r->reason);
        err = r->stream_err == -ENOMEM ? -ENOMEM : -EIO;
    } else if (res != CURLE_OK) {
        say(why, sizeof why, "%s: %s", e->show,
                 r->curl_err[0] ? r->curl_err : curl_easy_strerror(res));
        err = curl_errno(res);
    } else if (r->status != 200) {
        http_reason(r, e->show);
        say(why, sizeof why, "%s", r->reason);
        err = http_errno(r->status);
        retryable = r->status >= 500 || r->status == 429 || r->status == 408;
        server_fault = retryable;
    } else {
        say(why, sizeof why, "%s ended the stream before it finished", e->show);
        err = -EIO;
    }
    pthread_mutex_lock(&rb->mu);
    e->st.errors++;
    if (timed_out) e->st.timeouts++;
    if (r->status && r->status != 200) e->st.http_errors++;
    /* a refused request (400, 401...) says nothing against the server */
    if (server_fault) breaker_failure(&e->br, now / 1000000);
    else breaker_success(&e->br, now / 1000000);
    int again = 0;
    if (r->delivered) {
        e->st.cut++;
    } else if (retryable && r->attempts <= rb->cfg.retries) {
        if (rb->budget >= 1.0) {
            rb->budget -= 1.0;
            rb->retries++;
            again = 1;
        } else {
            rb->budget_exhausted++;
        }
    }
    pthread_mutex_unlock(&rb->mu);
    if (r->delivered) {
        say(r->reason, sizeof r->reason, "answer cut after %zu bytes: %s", r->delivered, why);
        fail(r, -EIO);
    } else if (again) {
        r->state = RS_BACKOFF;
        r->due_ns = now + backoff_ns(rb, r->attempts);
        r->ep = -1;
        say(r->reason, sizeof r->reason, "%s", why);
        list_push(&rb->backoff, r);
        pthread_mutex_lock(&rb->mu);
        rb->waiting++;
        pthread_mutex_unlock(&rb->mu);
    } else {
        if (retryable && r->attempts > 1)
            say(r->reason, sizeof r->reason, "%s (after %d attempts)", why, r->attempts);
        else
            say(r->reason, sizeof r->reason, "%s", why);
        fail(r, err);
    }
}

/* --------------------------------------------------------- the thread */

/* Sends what may go now (thread). */
static void dispatch(remote *rb, int64_t now) {
    for (int q = 0; q < 3; q++) {
        for (rreq *r = rb->qhead[q], *nx; r; r = nx) {
            nx = r->next;
            pthread_mutex_lock(&rb->mu);
            int k = pick(rb, r, now / 1000000);
            if (k != -1) rb->waiting--;
            pthread_mutex_unlock(&rb->mu);
            if (k == -1) continue;            /* every open endpoint is full: it waits */
            queue_unlink(rb, r);
            if (k >= 0) {
                start(rb, r, k);
                continue;
            }
            char why[300];
            if (r->reason[0]) say(why, sizeof why, "; the last error: %.200s", r->reason);
            else why[0] = 0;
            say(r->reason, sizeof r->reason,
                     "no healthy backend: the circuit of every endpoint is open%s", why);
            fail(r, -EHOSTUNREACH);
        }
    }
}

static void *http_main(void *arg) {
    remote *rb = arg;
    pthread_setname_np(pthread_self(), "llmfs-http");
    for (;;) {
        pthread_mutex_lock(&rb->mu);
        rreq *in = rb->incoming, *fr = rb->freeing;
        rb->incoming = rb->freeing = NULL;
        int stop = rb->stop;
        pthread_mutex_unlock(&rb->mu);
        rreq *rev = NULL;                     /* incoming is newest first */
        while (in) { rreq *nx = in->lnext; in->lnext = rev; rev = in; in = nx; }
        for (rreq *r = rev, *nx; r; r = nx) {
            nx = r->lnext;
            queue_push(rb, r, 0);
        }
        for (rreq *r = fr, *nx; r; r = nx) {
            nx = r->lnext;
            int was_waiting = r->state == RS_QUEUED || r->state == RS_BACKOFF;
            if (r->state == RS_QUEUED) queue_unlink(rb, r);
            else if (r->state == RS_BACKOFF) list_unlink(&rb->backoff, r);
            else if (r->state == RS_ACTIVE) {
                endpoint *e = &rb->ep[r->ep];
                stop_transfer(rb, r);
                pthread_mutex_lock(&rb->mu);
                e->inflight--;
                if (r->probe) breaker_abandon(&e->br);
                pthread_mutex_unlock(&rb->mu);
            }
            if (was_waiting) {
                pthread_mutex_lock(&rb->mu);
                rb->waiting--;
                pthread_mutex_unlock(&rb->mu);
            }
            rreq_free(r);
        }
        if (stop) break;
        int64_t now = now_ns();
        for (rreq *r = rb->backoff, *nx; r; r = nx) {
            nx = r->next;
            if (r->due_ns > now) continue;
            list_unlink(&rb->backoff, r);
            queue_push(rb, r, 1);
        }
        dispatch(rb, now);
        int running;
        if (rb->curl_due_ns && rb->curl_due_ns <= now_ns()) {
            rb->curl_due_ns = 0;
            curl_multi_socket_action(rb->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        }
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(rb->multi, &left))) {
            if (m->msg != CURLMSG_DONE) continue;
            rreq *r = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
            if (r) ended(rb, r, m->data.result, 0);
        }
        /* silence timeouts, and the next deadline of anything.  A byte
         * only moves a deadline later, so the active list is walked only
         * once the earliest deadline seen at the last walk (or a new
         * transfer's) has come: not at every wake-up, which comes with
         * every event of every stream */
        now = now_ns();
        int64_t next = now + 1000000000LL;
        if (rb->silence_due_ns <= now) {
            int64_t first = INT64_MAX;
            for (rreq *r = rb->active, *nx; r; r = nx) {
                nx = r->next;
                int64_t dl = silence_deadline(rb, r);
                if (dl <= now) ended(rb, r, CURLE_OK, 1);
                else if (dl < first) first = dl;
            }
            rb->silence_due_ns = first;
        }
        if (rb->silence_due_ns < next) next = rb->silence_due_ns;
        for (rreq *r = rb->backoff; r; r = r->next)
            if (r->due_ns < next) next = r->due_ns;
        if (rb->curl_due_ns && rb->curl_due_ns < next) next = rb->curl_due_ns;
        int any_queued = rb->qhead[0] || rb->qhead[1] || rb->qhead[2];
        /* queued requests wait for a slot (a transfer's end wakes us) or a
         * breaker's cool-down: look again within 50 ms */
        if (any_queued && next > now + 50000000) next = now + 50000000;
        int ms = (int)((next - now + 999999) / 1000000);
        if (ms < 0) ms = 0;
        struct epoll_event ev[64];
        int k = epoll_wait(rb->epfd, ev, 64, ms);
        for (int i = 0; i < k; i++) {
            if (ev[i].data.fd == rb->wake_fd) {
                uint64_t v;
                if (read(rb->wake_fd, &v, sizeof v) < 0) { /* nothing pending */ }
                continue;
            }
            int flags = (ev[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) |
                        (ev[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                        (ev[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
            curl_multi_socket_action(rb->multi, ev[i].data.fd, flags, &running);
        }
    }
    return NULL;
}

/* ------------------------------------------------------------ the ops */

static int remote_tokenize(backend *b, const char *text, size_t len, int **ids) {
    (void)b;
    if (len > (size_t)INT32_MAX) return -EFBIG;
    int *v = malloc((len ? len : 1) * sizeof *v);
    if (!v) return -ENOMEM;
    for (size_t i = 0; i < len; i++) v[i] = (unsigned char)text[i];
    *ids = v;
    return (int)len;
}

int remote_chat_ids(const chat_msg *m, int n, int **out) {
    *out = NULL;
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        if (m[i].len > UINT32_MAX || m[i].len > (size_t)INT32_MAX - 5 - total) return -EFBIG;
        total += 5 + m[i].len;
    }
    int *v = malloc((total ? total : 1) * sizeof *v);
    if (!v) return -ENOMEM;
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        v[k++] = REMOTE_CHAT_MARK + (int)m[i].role;
        for (int b = 0; b < 4; b++) v[k++] = (int)((m[i].len >> (8 * b)) & 0xff);
        for (size_t j = 0; j < m[i].len; j++) v[k++] = (unsigned char)m[i].text[j];
    }
    *out = v;
    return (int)k;
}

static int remote_check(backend *b, const gen_params *p, char *why, size_t whylen) {
    remote *rb = (remote *)b;
    for (int k = 0; k < rb->n_ep; k++) {
        int rc = remote_kind_check(rb->ep[k].cfg.kind, p, why, whylen);
        if (rc) return rc;
    }
    return 0;
}

static int remote_submit(backend *b, const int *ids, int n, const gen_params *p,
                         const sched_cb *cb, void *ud, backend_req **out) {
    remote *rb = (remote *)b;
    char why[200];
    *out = NULL;
    if (remote_check(b, p, why, sizeof why)) return -EINVAL;
    rreq *r = calloc(1, sizeof *r);
    if (!r) return -ENOMEM;
    r->prompt = malloc(n > 0 ? (size_t)n : 1);
    if (!r->prompt) { free(r); return -ENOMEM; }
    r->chat = n > 0 && ids[0] >= REMOTE_CHAT_MARK;
    /* a prompt's bytes; a chat's messages packed as a role byte, a 4-byte
     * length and the text (what remote_chat_ids gave, marks as bytes) */
    int next_mark = 0;          /* a chat: where the next message starts */
    for (int i = 0; i < n; i++) {
        int v = ids[i];
        if (r->chat && i == next_mark) {
            v -= REMOTE_CHAT_MARK;
            if (v < CHAT_SYSTEM || v > CHAT_ASSISTANT || n - i < 5) v = -1;
            else next_mark = i + 5 + (int)((unsigned)ids[i + 1] | (unsigned)ids[i + 2] << 8 |
                                           (unsigned)ids[i + 3] << 16 | (unsigned)ids[i + 4] << 24);
            if (v >= 0 && (next_mark < i + 5 || next_mark > n)) v = -1;
        }
        if (v < 0 || v > 255) { free(r->prompt); free(r); return -EINVAL; }
        r->prompt[i] = (char)v;
    }
    r->plen = (size_t)n;
    r->rb = rb;
    r->p = *p;
    r->cb = *cb;
    r->ud = ud;
    r->ep = -1;
    r->state = RS_INCOMING;
    size_t hl = r->plen < (size_t)rb->cfg.route_prefix_bytes ? r->plen
                                                             : (size_t)rb->cfg.route_prefix_bytes;
    r->route = XXH3_64bits(r->prompt, hl);
    r->r.t_submit_ns = now_ns();
    r->r.prompt_tokens = n;
    pthread_mutex_lock(&rb->mu);
    if (rb->waiting >= rb->cfg.queue) {
        pthread_mutex_unlock(&rb->mu);
        rreq_free(r);
        return -EBUSY;
    }
    rb->waiting++;
    rb->budget += rb->cfg.retry_budget;
    double cap = REMOTE_RETRY_RESERVE + 100.0 * rb->cfg.retry_budget;
    if (rb->budget > cap) rb->budget = cap;
    r->lnext = rb->incoming;
    rb->incoming = r;
    pthread_mutex_unlock(&rb->mu);
    wake(rb);
    *out = (backend_req *)r;
    return 0;
}

static void remote_release(backend *b, backend_req *q) {
    remote *rb = (remote *)b;
    rreq *r = (rreq *)q;
    if (!r) return;
    pthread_mutex_lock(&rb->cbmu);
    r->released = 1;
    pthread_mutex_unlock(&rb->cbmu);
    pthread_mutex_lock(&rb->mu);
    r->lnext = rb->freeing;
    rb->freeing = r;
    pthread_mutex_unlock(&rb->mu);
    wake(rb);
}

static void remote_free(backend *b) {
    remote *rb = (remote *)b;
    if (rb->started) {
        pthread_mutex_lock(&rb->mu);
        rb->stop = 1;
        pthread_mutex_unlock(&rb->mu);
        wake(rb);
        pthread_join(rb->th, NULL);
    }
    /* every request was released (the backend contract); what the thread
     * had not freed yet goes now */
    for (int q = 0; q < 3; q++)
        while (rb->qhead[q]) { rreq *r = rb->qhead[q]; queue_unlink(rb, r); rreq_free(r); }
    while (rb->backoff) { rreq *r = rb->backoff; list_unlink(&rb->backoff, r); rreq_free(r); }
    while (rb->active) { rreq *r = rb->active; stop_transfer(rb, r); rreq_free(r); }
    for (rreq *r = rb->incoming, *nx; r; r = nx) { nx = r->lnext; rreq_free(r); }
    for (rreq *r = rb->freeing, *nx; r; r = nx) { nx = r->lnext; rreq_free(r); }
    if (rb->multi) curl_multi_cleanup(rb->multi);
    if (rb->epfd >= 0) close(rb->epfd);
    if (rb->wake_fd >= 0) close(rb->wake_fd);
    for (int k = 0; k < rb->n_ep; k++) {
        free(rb->ep[k].url);
        free(rb->ep[k].model);
        if (rb->ep[k].api_key) {
            explicit_bzero(rb->ep[k].api_key, strlen(rb->ep[k].api_key));
            free(rb->ep[k].api_key);
        }
    }
    free(rb->ep);
    free(rb->ring);
    free(rb->revision);
    pthread_mutex_destroy(&rb->mu);
    pthread_mutex_destroy(&rb->cbmu);
    free(rb);
}

static const backend_ops remote_ops = {
    remote_tokenize, NULL, remote_submit, remote_release, remote_free, remote_check,
};

int remote_is(const backend *b) { return b && b->ops == &remote_ops; }

void remote_get_stats(backend *b, remote_stats *o) {
    remote *rb = (remote *)b;
    memset(o, 0, sizeof *o);
    pthread_mutex_lock(&rb->mu);
    o->n_ep = rb->n_ep;
    for (int k = 0; k < rb->n_ep; k++) {
        endpoint *e = &rb->ep[k];
        o->ep[k] = e->st;
        o->ep[k].inflight = e->inflight;
        o->ep[k].limit = e->limit;
        o->ep[k].state = breaker_state_name(e->br.state);
        o->ep[k].opened = e->br.opened;
        o->ep[k].half_opened = e->br.half_opened;
        o->ep[k].closed = e->br.closed;
    }
    o->waiting = rb->waiting;
    o->retries = rb->retries;
    o->failovers = rb->failovers;
    o->budget_exhausted = rb->budget_exhausted;
    o->failed = rb->failed;
    pthread_mutex_unlock(&rb->mu);
}

static char *dup_or_null(const char *s, int *oom) {
    if (!s) return NULL;
    char *d = strdup(s);
    if (!d) *oom = 1;
    return d;
}

int remote_new(const remote_config *cfg, backend **out, char *err, size_t errlen) {
    *out = NULL;
    if (cfg->n_ep < 1 || cfg->n_ep > REMOTE_MAX_ENDPOINTS)
        return errbuf_set(err, errlen, -EINVAL, "backend: expected 1 to %d endpoints",
                          REMOTE_MAX_ENDPOINTS);
    remote *rb = calloc(1, sizeof *rb);
    if (!rb) return errbuf_set(err, errlen, -ENOMEM, "out of memory");
    pthread_mutex_init(&rb->mu, NULL);
    pthread_mutex_init(&rb->cbmu, NULL);
    rb->epfd = rb->wake_fd = -1;
    rb->b.ops = &remote_ops;
    rb->cfg = *cfg;
    rb->cfg.ep = NULL;
    int oom = 0, rc = 0;
    rb->revision = dup_or_null(cfg->revision ? cfg->revision : "", &oom);
    rb->cfg.revision = rb->revision;
    rb->ep = calloc((size_t)cfg->n_ep, sizeof *rb->ep);
    rb->ring = calloc((size_t)cfg->n_ep * RING_POINTS, sizeof *rb->ring);
    rb->budget = REMOTE_RETRY_RESERVE;
    rb->rng = (uint64_t)now_ns() | 1;
    if (!rb->ep || !rb->ring || oom) { rc = errbuf_set(err, errlen, -ENOMEM, "out of memory"); goto fail; }
    rb->n_ep = cfg->n_ep;
    for (int k = 0; k < cfg->n_ep; k++) {
        endpoint *e = &rb->ep[k];
        const remote_endpoint *c = &cfg->ep[k];
        url u;
        char why[160];
        if (url_parse(c->url, &u, why, sizeof why)) {
            rc = errbuf_set(err, errlen, -EINVAL, "backend %d: url: %s", k + 1, why);
            goto fail;
        }
        if (strcmp(u.scheme, "http") && strcmp(u.scheme, "https")) {
            rc = errbuf_set(err, errlen, -EINVAL, "backend %d: url: expected http:// or https://",
                            k + 1);
            goto fail;
        }
        if (u.user[0] || u.has_password) {
            rc = errbuf_set(err, errlen, -EINVAL, "backend %d: url: no user or password in the "
                            "URL (give the key in api_key_file or api_key_env)", k + 1);
            goto fail;
        }
        e->cfg = *c;
        e->url = dup_or_null(c->url, &oom);
        e->model = dup_or_null(c->model, &oom);
        e->api_key = dup_or_null(c->api_key, &oom);
        if (oom) { rc = errbuf_set(err, errlen, -ENOMEM, "out of memory"); goto fail; }
        e->cfg.url = e->url;
        e->cfg.model = e->model;
        e->cfg.api_key = e->api_key;
        url_show(&u, e->show, sizeof e->show);
        size_t ul = strlen(c->url);
        while (ul && c->url[ul - 1] == '/') ul--;
        snprintf(e->target, sizeof e->target, "%.*s/v1/completions", (int)ul, c->url);
        snprintf(e->target_chat, sizeof e->target_chat, "%.*s/v1/chat/completions", (int)ul,
                 c->url);
        snprintf(e->st.url, sizeof e->st.url, "%s", e->show);
        e->st.kind = remote_kind_name(c->kind);
        breaker_init(&e->br, &cfg->breaker);
        e->limit = c->max_inflight > 0 ? c->max_inflight : 1;
        for (int i = 0; i < RING_POINTS; i++) {
            uint8_t seed[4];
            put_u32(seed, (uint32_t)i);
            rb->ring[k * RING_POINTS + i] =
                (ring_point){XXH3_64bits_withSeed(e->show, strlen(e->show),
                                                  XXH3_64bits(seed, 4) ^ (uint64_t)i), k};
        }
    }
    qsort(rb->ring, (size_t)rb->n_ep * RING_POINTS, sizeof *rb->ring, point_cmp);
    /* identity: the model's name and the revision (the ids are the bytes) */
    XXH3_state_t *st = XXH3_createState();
    if (!st) { rc = errbuf_set(err, errlen, -ENOMEM, "out of memory"); goto fail; }
    XXH3_128bits_reset(st);
    const char *model = rb->ep[0].model ? rb->ep[0].model : "";
    XXH3_128bits_update(st, model, strlen(model) + 1);
    XXH3_128bits_update(st, rb->revision, strlen(rb->revision) + 1);
    XXH128_canonical_t cano;
    XXH128_canonicalFromHash(&cano, XXH3_128bits_digest(st));
    XXH3_freeState(st);
    memcpy(rb->b.identity, "remote\0\0", 8);
    memcpy(rb->b.identity + 8, cano.digest, 16);
    rb->b.identity_len = 24;
    if (!(rb->multi = curl_multi_init())) {
        rc = errbuf_set(err, errlen, -ENOMEM, "cannot make a curl multi handle");
        goto fail;
    }
    rb->epfd = epoll_create1(EPOLL_CLOEXEC);
    rb->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event wev = {.events = EPOLLIN};
    wev.data.fd = rb->wake_fd;
    if (rb->epfd < 0 || rb->wake_fd < 0 || epoll_ctl(rb->epfd, EPOLL_CTL_ADD, rb->wake_fd, &wev)) {
        rc = errbuf_set(err, errlen, -errno, "cannot make the HTTP thread's epoll set: %s",
                        strerror(errno));
        goto fail;
    }
    curl_multi_setopt(rb->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(rb->multi, CURLMOPT_SOCKETDATA, rb);
    curl_multi_setopt(rb->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(rb->multi, CURLMOPT_TIMERDATA, rb);
    int e = pthread_create(&rb->th, NULL, http_main, rb);
    if (e) { rc = errbuf_set(err, errlen, -e, "cannot start the HTTP thread: %s", strerror(e)); goto fail; }
    rb->started = 1;
    *out = &rb->b;
    return 0;
fail:
    remote_free(&rb->b);
    return rc;
}
