/* Remote backends: one or more OpenAI-compatible servers (vLLM, SGLang,
 * llama.cpp's llama-server, Ollama, OpenAI itself) behind the backend
 * table of cache/backend.h.  Requests go to POST /v1/completions (a chat:
 * /v1/chat/completions, see remote_chat_ids) with
 * "stream": true and the answer's server-sent events become the
 * request's text as they arrive.
 *
 * One thread drives every transfer through libcurl's multi interface:
 * no thread per request.  Around it:
 *  - routing: a request goes to the endpoint that owns the hash of its
 *    prompt's first route_prefix_bytes bytes on a consistent-hash ring,
 *    so that prompts sharing a prefix meet the same server's prefix
 *    cache; the next endpoints on the ring take it when that one is
 *    unhealthy or full;
 *  - an in-flight limit per endpoint that adapts to that endpoint's time
 *    per output token (additive increase while it meets tpot_target_ms,
 *    multiplicative decrease when it does not), under max_inflight;
 *  - a circuit breaker per endpoint (breaker.h);
 *  - retries of connection errors, timeouts and 5xx/429 answers on the
 *    next endpoint, after a jittered exponential backoff, within a retry
 *    budget; never once a byte of the answer has been handed on: such a
 *    request fails with EIO and says why.
 *
 * The backend has no token ids: tokenize gives the prompt's bytes, and
 * its identity is the model's name and the configured revision. */
#ifndef LLMFS_REMOTE_H
#define LLMFS_REMOTE_H
#include <stddef.h>
#include <stdint.h>

#include "cache/backend.h"
#include "engine/chat.h"
#include "remote/breaker.h"

/* What software serves an endpoint: it decides which parameters it takes. */
typedef enum remote_kind {
    REMOTE_OPENAI, REMOTE_VLLM, REMOTE_SGLANG, REMOTE_LLAMA_SERVER, REMOTE_OLLAMA,
    REMOTE_NKINDS
} remote_kind;

/* "openai", "vllm", "sglang", "llama-server", "ollama"; NULL if invalid. */
const char *remote_kind_name(int kind);
/* The kind named s[0, n), or -1. */
int remote_kind_parse(const char *s, size_t n);

/* Whether a server of kind can honour p: 0, or -EINVAL and the reason
 * (the parameter and the kind) in why. */
int remote_kind_check(int kind, const gen_params *p, char *why, size_t whylen);

/* The JSON body of a request to a server of kind: model (NULL: not
 * sent), and the prompt's bytes prompt[0, plen), or with chat the packed
 * messages the backend makes of remote_chat_ids (a role byte 0-2, the
 * text's length in 4 bytes, little-endian, the text), each parameter of
 * p under the name that kind's API gives it (remote_kind_check must have
 * accepted p).  *out is a new buffer (caller frees) of *len bytes, not
 * NUL-terminated.  0, -EINVAL (bad packed messages) or -ENOMEM. */
int remote_body(int kind, const char *model, int chat, const char *prompt, size_t plen,
                const gen_params *p, char **out, size_t *len);

typedef struct remote_endpoint {
    const char *url;         /* http(s)://HOST[:PORT][/PREFIX]; /v1/completions is appended */
    const char *model;       /* sent as "model"; NULL: not sent */
    const char *api_key;     /* sent as "Authorization: Bearer"; NULL: none */
    int kind;                /* remote_kind */
    int timeout_ms;          /* longest silence: before the first byte, or between two */
    int connect_timeout_ms;
    int max_inflight;        /* ceiling of the adaptive in-flight limit */
} remote_endpoint;

typedef struct remote_config {
    const remote_endpoint *ep;   /* (n_ep), at most REMOTE_MAX_ENDPOINTS */
    int n_ep;
    const char *revision;    /* part of the identity; NULL = "" */
    breaker_config breaker;
    int retries;             /* attempts after the first, at most */
    double retry_budget;     /* retries per request, over time, at most (plus a reserve) */
    int backoff_ms;          /* delay before the first retry; doubled each time, jittered */
    int tpot_target_ms;      /* the in-flight limits' target time per output token */
    int queue;               /* requests waiting for an endpoint, at most; beyond: -EBUSY */
    int route_prefix_bytes;  /* prompt bytes the routing hash covers */
    /* Told, on the HTTP thread, each attempt's time from the request sent
     * to its first text and to its whole answer, in milliseconds (< 0:
     * the attempt had none); NULL: nobody is told. */
    void (*observe)(void *ud, int ep, double ttft_ms, double e2e_ms);
    void *observe_ud;
} remote_config;

#define REMOTE_MAX_ENDPOINTS 64
#define REMOTE_RETRY_RESERVE 10   /* retries the budget allows before any request */

typedef struct remote_endpoint_stats {
    char url[300];           /* as shown: never a password */
    const char *kind, *state;   /* static strings */
    int inflight;
    double limit;            /* the adaptive in-flight limit now */
    uint64_t requests;       /* attempts sent to it */
    uint64_t ok;             /* attempts answered whole */
    uint64_t errors;         /* attempts that failed (any reason) */
    uint64_t timeouts;       /* of which: silent for timeout_ms */
    uint64_t http_errors;    /* of which: answered with an HTTP error status */
    uint64_t cut;            /* of which: cut after bytes were handed on */
    uint64_t opened, half_opened, closed;   /* breaker transitions */
    uint64_t ttft_n, e2e_n;
    double ttft_ms_sum, ttft_ms_max;   /* request sent -> first text */
    double e2e_ms_sum, e2e_ms_max;     /* request sent -> answer whole */
    double tpot_ms;          /* the last mean time per output token the limit saw */
} remote_endpoint_stats;

typedef struct remote_stats {
    int n_ep;
    remote_endpoint_stats ep[REMOTE_MAX_ENDPOINTS];
    int waiting;             /* requests not yet sent (queued or backing off) */
    uint64_t retries;        /* attempts after a first one */
    uint64_t failovers;      /* requests sent elsewhere than their ring owner */
    uint64_t budget_exhausted;   /* retries refused by the budget */
    uint64_t failed;         /* requests that ended in an error */
} remote_stats;

/* A chat for a remote backend, which sends it to POST /v1/chat/completions
 * for the server to render in its model's template: the ids handed to
 * submit (through the response cache) are its messages, each as
 * REMOTE_CHAT_MARK + its chat_role, its text's length in four ids of a
 * byte each (little-endian), then its bytes.  A prompt's ids are bytes
 * (0-255), so a chat's ids, which always start with a mark, never equal
 * a prompt's: their cache keys never meet, and a chat's key holds every
 * message. */
#define REMOTE_CHAT_MARK 256
/* The ids of the conversation m[0, n) into a new array *ids (caller
 * frees): their count, or -ENOMEM / -EFBIG. */
int remote_chat_ids(const chat_msg *m, int n, int **ids);

/* Makes the backend and starts its thread (after any fork).  The strings
 * of cfg are copied.  Returns 0, or a negative errno with err = why. */
int  remote_new(const remote_config *cfg, backend **out, char *err, size_t errlen);
/* Whether b is a remote backend. */
int  remote_is(const backend *b);
/* A snapshot of b's figures (b a remote backend). */
void remote_get_stats(backend *b, remote_stats *out);
#endif
