/* This file implements chat.h: recognising a chat template by the marks
 * llama.cpp looks for, in llama.cpp's order (a template with the marks of
 * two formats is the one llama.cpp tries first), and rendering messages
 * in each format as llama.cpp's llm_chat_apply_template does. */
#define _GNU_SOURCE     /* memmem */
#include "engine/chat.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/errbuf.h"

static const char *const format_names[CHAT_NFORMATS] = {
    [CHAT_NONE] = "none", [CHAT_CHATML] = "chatml", [CHAT_LLAMA2] = "llama2",
    [CHAT_LLAMA2_SYS] = "llama2-sys", [CHAT_LLAMA2_SYS_BOS] = "llama2-sys-bos",
    [CHAT_LLAMA2_SYS_STRIP] = "llama2-sys-strip", [CHAT_LLAMA3] = "llama3",
    [CHAT_GEMMA] = "gemma", [CHAT_PHI3] = "phi3", [CHAT_MISTRAL_V1] = "mistral-v1",
    [CHAT_MISTRAL_V3] = "mistral-v3", [CHAT_MISTRAL_V3_TEKKEN] = "mistral-v3-tekken",
    [CHAT_MISTRAL_V7] = "mistral-v7",
};

#define RENDERED "chatml, llama2, llama3, gemma, phi3 and mistral"

const char *chat_format_name(chat_format f) {
    return f > CHAT_NONE && f < CHAT_NFORMATS ? format_names[f] : "none";
}

/* ---------------------------------------------------------- detection */

typedef struct { const char *s; size_t len; } span;

static int has(span t, const char *mark) {
    size_t ml = strlen(mark);
    return ml <= t.len && memmem(t.s, t.len, mark, ml) != NULL;
}

/* The formats llama.cpp recognises ahead of llama3 that are not rendered
 * here: each is refused by name, never mistaken for a later one.  A row
 * matches when it has every mark of all[] (NULL-ended). */
typedef struct { const char *name; const char *all[3]; } other_format;

static const other_format others_before_gemma[] = {
    {"chatglm4", {"[gMASK]<sop>"}},
    {"falcon3 or glmedge", {"<|assistant|>", "<|user|>"}},
    {"glmedge", {"<|{{ item['role'] }}|>", "<|begin_of_image|>"}},
    {"zephyr", {"<|user|>", "<|endoftext|>"}},
    {"monarch", {"bos_token + message['role']"}},
};

static const other_format others_before_llama3[] = {
    {"orion", {"'\\n\\nAssistant: ' + eos_token"}},
    {"openchat", {"GPT4 Correct "}},
    {"vicuna", {"USER: ", "ASSISTANT: "}},
    {"deepseek", {"### Instruction:", "<|EOT|>"}},
    {"command-r", {"<|START_OF_TURN_TOKEN|>", "<|USER_TOKEN|>"}},
};

static const char *other_match(span t, const other_format *o, size_t n) {
    for (size_t i = 0; i < n; i++) {
        int all = 1;
        for (int k = 0; k < 3 && o[i].all[k]; k++) all &= has(t, o[i].all[k]);
        if (all) return o[i].name;
    }
    return NULL;
}

static chat_format refuse(const char *what, char *err, size_t errlen) {
    errbuf_set(err, errlen, -EINVAL,
               "chat template %s; llmfs renders " RENDERED, what);
    return CHAT_NONE;
}

chat_format chat_detect(const char *tmpl, size_t len, char *err, size_t errlen) {
    span t = {tmpl, tmpl ? len : 0};
    if (!t.len) return refuse("missing (the model has no tokenizer.chat_template)", err, errlen);
    for (int f = CHAT_NONE + 1; f < CHAT_NFORMATS; f++)
        if (strlen(format_names[f]) == t.len && !memcmp(format_names[f], t.s, t.len))
            return (chat_format)f;
    if (has(t, "<|im_start|>")) {
        if (has(t, "<|im_sep|>")) return refuse("recognised as phi4, which llmfs does not render", err, errlen);
        if (has(t, "<end_of_utterance>")) return refuse("recognised as smolvlm, which llmfs does not render", err, errlen);
        return CHAT_CHATML;
    }
    if ((t.len >= 7 && !memcmp(t.s, "mistral", 7)) || has(t, "[INST]")) {
        if (has(t, "[SYSTEM_PROMPT]")) return CHAT_MISTRAL_V7;
        if (has(t, "' [INST] ' + system_message") || has(t, "[AVAILABLE_TOOLS]")) {
            if (has(t, " [INST]")) return CHAT_MISTRAL_V1;
            if (has(t, "\"[INST]\"")) return CHAT_MISTRAL_V3_TEKKEN;
            return CHAT_MISTRAL_V3;
        }
        if (has(t, "content.strip()")) return CHAT_LLAMA2_SYS_STRIP;
        if (has(t, "bos_token + '[INST]")) return CHAT_LLAMA2_SYS_BOS;
        if (has(t, "<<SYS>>")) return CHAT_LLAMA2_SYS;
        return CHAT_LLAMA2;
    }
    if (has(t, "<|assistant|>") && has(t, "<|end|>")) return CHAT_PHI3;
    const char *o = other_match(t, others_before_gemma,
                                sizeof others_before_gemma / sizeof others_before_gemma[0]);
    if (!o && has(t, "<start_of_turn>")) return CHAT_GEMMA;
    if (!o) o = other_match(t, others_before_llama3,
                            sizeof others_before_llama3 / sizeof others_before_llama3[0]);
    if (!o && has(t, "<|start_header_id|>") && has(t, "<|end_header_id|>")) return CHAT_LLAMA3;
    if (o) {
        char what[96];
        snprintf(what, sizeof what, "recognised as %s, which llmfs does not render", o);
        return refuse(what, err, errlen);
    }
    return refuse("not recognised", err, errlen);
}

/* ---------------------------------------------------------- rendering */

typedef struct {
    char *p;
    size_t len, cap;
    int oom;
} buf;

static void put(buf *b, const char *s, size_t n) {
    if (b->oom || !n) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) { b->oom = 1; return; }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void puts_(buf *b, const char *s) { put(b, s, strlen(s)); }

/* C's isspace in the "C" locale, as llama.cpp's trim uses. */
static int space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

static span trim(const chat_msg *m) {
    span s = {m->text, m->len};
    while (s.len && space(s.s[0])) { s.s++; s.len--; }
    while (s.len && space(s.s[s.len - 1])) s.len--;
    return s;
}

static void put_msg(buf *b, const chat_msg *m, int strip) {
    if (strip) {
        span s = trim(m);
        put(b, s.s, s.len);
    } else {
        put(b, m->text, m->len);
    }
}

static const char *role_name(chat_role r) {
    return r == CHAT_SYSTEM ? "system" : r == CHAT_USER ? "user" : "assistant";
}

static void render_llama2(buf *b, chat_format f, const chat_msg *m, int n) {
    int sys = f != CHAT_LLAMA2, bos = f == CHAT_LLAMA2_SYS_BOS, strip = f == CHAT_LLAMA2_SYS_STRIP;
    int inside = 1;            /* the first [INST] has no <s>: the tokenizer adds BOS */
    puts_(b, "[INST] ");
    for (int i = 0; i < n; i++) {
        if (!inside) {
            inside = 1;
            puts_(b, bos ? "<s>[INST] " : "[INST] ");
        }
        if (m[i].role == CHAT_SYSTEM) {
            if (sys) puts_(b, "<<SYS>>\n");
            put_msg(b, &m[i], strip);
            puts_(b, sys ? "\n<</SYS>>\n\n" : "\n");
        } else if (m[i].role == CHAT_USER) {
            put_msg(b, &m[i], strip);
            puts_(b, " [/INST]");
        } else {
            put_msg(b, &m[i], strip);
            puts_(b, "</s>");
            inside = 0;
        }
    }
}

static void render_mistral(buf *b, chat_format f, const chat_msg *m, int n) {
    if (f == CHAT_MISTRAL_V7) {
        for (int i = 0; i < n; i++) {
            if (m[i].role == CHAT_SYSTEM) puts_(b, "[SYSTEM_PROMPT] ");
            else if (m[i].role == CHAT_USER) puts_(b, "[INST] ");
            else puts_(b, " ");
            put_msg(b, &m[i], 0);
            puts_(b, m[i].role == CHAT_SYSTEM ? "[/SYSTEM_PROMPT]"
                     : m[i].role == CHAT_USER ? "[/INST]" : "</s>");
        }
        return;
    }
    const char *lead = f == CHAT_MISTRAL_V1 ? " " : "";
    const char *trail = f == CHAT_MISTRAL_V3_TEKKEN ? "" : " ";
    int inside = 0;
    for (int i = 0; i < n; i++) {
        if (!inside) {
            puts_(b, lead);
            puts_(b, "[INST]");
            puts_(b, trail);
            inside = 1;
        }
        if (m[i].role == CHAT_SYSTEM) {
            put_msg(b, &m[i], 0);
            puts_(b, "\n\n");
        } else if (m[i].role == CHAT_USER) {
            put_msg(b, &m[i], 0);
            puts_(b, lead);
            puts_(b, "[/INST]");
        } else {
            puts_(b, trail);
            put_msg(b, &m[i], f == CHAT_MISTRAL_V3);
            puts_(b, "</s>");
            inside = 0;
        }
    }
}

static void render_gemma(buf *b, const chat_msg *m, int n, int add_gen) {
    /* Gemma has no system turn: the system prompt (trimmed) leads the
     * next user turn. */
    buf sys = {0};
    for (int i = 0; i < n; i++) {
        if (m[i].role == CHAT_SYSTEM) {
            put_msg(&sys, &m[i], 1);
            continue;
        }
        int model = m[i].role == CHAT_ASSISTANT;
        puts_(b, model ? "<start_of_turn>model\n" : "<start_of_turn>user\n");
        if (sys.len && !model) {
            put(b, sys.p, sys.len);
            puts_(b, "\n\n");
            sys.len = 0;
        }
        put_msg(b, &m[i], 1);
        puts_(b, "<end_of_turn>\n");
    }
    if (sys.oom) b->oom = 1;
    free(sys.p);
    if (add_gen) puts_(b, "<start_of_turn>model\n");
}

/* The formats where every message is a header naming its role, the
 * text and an end mark. */
typedef struct {
    const char *open, *close;   /* around the role's name */
    const char *end;            /* after the text */
    int strip;                  /* the text is trimmed */
} headed;

static const headed chatml = {"<|im_start|>", "\n", "<|im_end|>\n", 0};
static const headed llama3 = {"<|start_header_id|>", "<|end_header_id|>\n\n", "<|eot_id|>", 1};
static const headed phi3 = {"<|", "|>\n", "<|end|>\n", 0};

static void render_headed(buf *b, const headed *h, const chat_msg *m, int n, int add_gen) {
    for (int i = 0; i <= n; i++) {
        if (i == n && !add_gen) break;
        puts_(b, h->open);
        puts_(b, role_name(i < n ? m[i].role : CHAT_ASSISTANT));
        puts_(b, h->close);
        if (i == n) break;      /* the assistant's header */
        put_msg(b, &m[i], h->strip);
        puts_(b, h->end);
    }
}

int chat_render(chat_format f, const chat_msg *m, int n, int add_gen, char **out, size_t *len) {
    *out = NULL;
    *len = 0;
    if (f <= CHAT_NONE || f >= CHAT_NFORMATS || n < 0 || (n && !m)) return -EINVAL;
    buf b = {0};
    put(&b, "", 0);
    switch (f) {
    case CHAT_CHATML:
        render_headed(&b, &chatml, m, n, add_gen);
        break;
    case CHAT_LLAMA3:
        render_headed(&b, &llama3, m, n, add_gen);
        break;
    case CHAT_PHI3:
        render_headed(&b, &phi3, m, n, add_gen);
        break;
    case CHAT_GEMMA:
        render_gemma(&b, m, n, add_gen);
        break;
    case CHAT_LLAMA2: case CHAT_LLAMA2_SYS: case CHAT_LLAMA2_SYS_BOS: case CHAT_LLAMA2_SYS_STRIP:
        render_llama2(&b, f, m, n);
        break;
    default:
        render_mistral(&b, f, m, n);
        break;
    }
    if (b.oom || !b.p) {
        free(b.p);
        return -ENOMEM;
    }
    *out = b.p;
    *len = b.len;
    return 0;
}

/* Stands for the reply in chat_render_next: no format trims or changes
 * it, and no message holds it (control characters). */
static const char reply_mark[] = "\x01\x02llmfs-reply\x03\x04";

int chat_render_next(chat_format f, const chat_msg *m, int n, const char *user, size_t ulen,
                     char **out, size_t *len) {
    *out = NULL;
    *len = 0;
    if (n < 0 || (n && !m) || (!user && ulen)) return -EINVAL;
    /* m is empty, a system prompt, or ends with a reply */
    int replied = n && m[n - 1].role == CHAT_ASSISTANT;
    if (n && !replied && !(n == 1 && m[0].role == CHAT_SYSTEM)) return -EINVAL;
    chat_msg *all = malloc((size_t)(n + 1) * sizeof *all);
    if (!all) return -ENOMEM;
    if (n) memcpy(all, m, (size_t)n * sizeof *m);
    all[n] = (chat_msg){CHAT_USER, user ? user : "", ulen};
    if (replied) {
        all[n - 1].text = reply_mark;
        all[n - 1].len = sizeof reply_mark - 1;
    }
    char *whole = NULL;
    size_t wlen = 0, skip = 0;
    int rc = chat_render(f, all, n + 1, 1, &whole, &wlen);
    free(all);
    if (!rc && replied) {
        /* what follows the reply; what precedes it in its own rendering
         * (mistral's " ") the model generated as the reply's start */
        const char *at = memmem(whole, wlen, reply_mark, sizeof reply_mark - 1);
        if (!at) rc = -EINVAL;
        else skip = (size_t)(at - whole) + sizeof reply_mark - 1;
    }
    if (!rc) {
        memmove(whole, whole + skip, wlen - skip + 1);
        *out = whole;
        *len = wlen - skip;
        whole = NULL;
    }
    free(whole);
    return rc;
}

/* -------------------------------------------------------- conversation */

void chat_conv_init(chat_conv *c, chat_format f) {
    memset(c, 0, sizeof *c);
    c->f = f;
}

void chat_conv_reset(chat_conv *c) {
    for (int i = 0; i < c->n; i++) free((char *)c->m[i].text);
    c->n = c->n_ids = c->undo_n = c->undo_ids = 0;
}

void chat_conv_release(chat_conv *c) {
    chat_conv_reset(c);
    free(c->m);
    free(c->ids);
    memset(c, 0, sizeof *c);
}

/* Appends a message (a copy of text). */
static int add_msg(chat_conv *c, chat_role role, const char *text, size_t len) {
    if (c->n == c->cap) {
        int cap = c->cap ? c->cap * 2 : 8;
        chat_msg *m = realloc(c->m, (size_t)cap * sizeof *m);
        if (!m) return -ENOMEM;
        c->m = m;
        c->cap = cap;
    }
    char *t = malloc(len + 1);
    if (!t) return -ENOMEM;
    if (len) memcpy(t, text, len);
    t[len] = 0;
    c->m[c->n++] = (chat_msg){role, t, len};
    return 0;
}

static int add_ids(chat_conv *c, const int *ids, int n) {
    if (n > c->cap_ids - c->n_ids) {
        int cap = c->cap_ids ? c->cap_ids : 256;
        while (cap - c->n_ids < n) {
            if (cap > (1 << 28)) return -EFBIG;
            cap *= 2;
        }
        int *p = realloc(c->ids, (size_t)cap * sizeof *p);
        if (!p) return -ENOMEM;
        c->ids = p;
        c->cap_ids = cap;
    }
    if (n) memcpy(c->ids + c->n_ids, ids, (size_t)n * sizeof *ids);
    c->n_ids += n;
    return 0;
}

int chat_conv_system(chat_conv *c, const char *text, size_t len) {
    if (c->n) return -EBUSY;
    return add_msg(c, CHAT_SYSTEM, text, len);
}

int chat_conv_user(chat_conv *c, const char *text, size_t len, chat_tokenize_fn tok, void *ud) {
    if (c->n && c->m[c->n - 1].role == CHAT_USER) return -EBUSY;
    if (!tok) {                 /* messages only */
        int n0 = c->n, rc = add_msg(c, CHAT_USER, text, len);
        if (!rc) c->undo_n = n0, c->undo_ids = c->n_ids;
        return rc;
    }
    char *delta;
    size_t dlen;
    int rc = chat_render_next(c->f, c->m, c->n, text, len, &delta, &dlen);
    if (rc) return rc;
    int *ids = NULL;
    int k = tok(ud, delta, dlen, c->n_ids == 0, &ids);
    free(delta);
    if (k < 0) return k;
    int n0 = c->n, i0 = c->n_ids;
    rc = add_msg(c, CHAT_USER, text, len);
    if (!rc && (rc = add_ids(c, ids, k))) c->n--, free((char *)c->m[c->n].text);
    free(ids);
    if (rc) return rc;
    c->undo_n = n0;
    c->undo_ids = i0;
    return 0;
}

void chat_conv_undo(chat_conv *c) {
    if (!c->n || c->m[c->n - 1].role != CHAT_USER) return;
    while (c->n > c->undo_n) free((char *)c->m[--c->n].text);
    c->n_ids = c->undo_ids;
}

int chat_conv_reply(chat_conv *c, const char *text, size_t len, const int *ids, int n) {
    if (!c->n || c->m[c->n - 1].role != CHAT_USER || n < 0 || (n && !ids)) return -EBUSY;
    int i0 = c->n_ids;
    int rc = add_ids(c, ids, n);
    if (!rc && (rc = add_msg(c, CHAT_ASSISTANT, text, len))) c->n_ids = i0;
    return rc;
}
