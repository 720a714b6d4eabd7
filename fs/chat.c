/* This file implements chats/NAME (ns.h): a conversation as a file.  The
 * bytes written between an open and its close are a user turn; the file
 * reads as the transcript,
 *
 *     system: TEXT            (when a front matter set one)
 *
 *     user: TEXT
 *
 *     assistant: REPLY
 *
 * each block ended by a blank line, the reply streaming in as the model
 * generates it.  A turn is the conversation's kept token ids (chat_conv:
 * every turn's rendering in the model's chat template, tokenized once,
 * and every reply's generated ids) plus its own, so the engine's prefix
 * cache finds every earlier turn and nothing is tokenized twice.  Replies
 * are generated, never served from the response cache (whose records keep
 * text, not the ids).  With remote backends (ns_env.chat_messages) a turn
 * is instead the conversation's messages (remote_chat_ids), which the
 * server renders in its model's template; its reply is keyed in the
 * response cache on every message, the model and the revision, like a
 * prompt's.
 *
 * One reply generates at a time: a turn written meanwhile waits in the
 * chat's queue.  A reply's end (on_done, on the scheduler's thread) keeps
 * its text and ids and hands the rest to the notifier thread (chat_retire),
 * which adds them to the conversation and starts the next queued turn
 * under the entry's submit_mu, as a flush would.  A truncation starts a
 * new epoch: retirements of an older one change nothing.  The
 * namespace's locking rules (ns.c) hold. */
#include "fs/ns.h"
#include "fs/ns_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/frontmatter.h"
#include "remote/remote.h"

typedef struct turn {
    char *text;                 /* (len) the user's turn */
    size_t len;
    gen_params gp;
    struct turn *next;
} turn;

struct ns_chat {
    chat_conv conv;             /* messages and kept token ids (submit_mu) */
    gen_params gp;              /* the parameters of the turns to come (submit_mu) */
    turn *q, **qtail;           /* turns waiting for the reply (mu) */
    int busy;                   /* a reply generates or waits for chat_retire (mu) */
    uint64_t epoch;             /* conversations started in this file (mu) */
};

static void queue_free(ns_chat *c) {
    for (turn *t = c->q, *nx; t; t = nx) {
        nx = t->next;
        free(t->text);
        free(t);
    }
    c->q = NULL;
    c->qtail = &c->q;
}

int ns_chat_new(ns *n, ns_entry *e) {
    ns_chat *c = calloc(1, sizeof *c);
    ns_text *t = c ? ns_text_new(n, e) : NULL;
    if (!t) { free(c); return -ENOMEM; }
    chat_conv_init(&c->conv, n->env.chat_fmt);
    c->gp = n->env.cfg->generation;
    c->qtail = &c->q;
    t->done = 1;                /* an empty conversation reads as an empty file */
    e->text = t;                /* the entry's reference */
    e->chat = c;
    return 0;
}

void ns_chat_free(ns_chat *c) {
    if (!c) return;
    queue_free(c);
    chat_conv_release(&c->conv);
    free(c);
}

/* A refused turn: its reason in e->err and stats (mu not held). */
static int refuse(ns *n, ns_entry *e, int rc, const char *reason) {
    char name[NAME_MAX_LEN + 8];
    pthread_mutex_lock(&n->mu);
    snprintf(e->err, sizeof e->err, "%s", reason);
    ns_row_name(e, name, sizeof name);
    pthread_mutex_unlock(&n->mu);
    stats_rejected(n->env.st, name, rc, reason);
    return rc;
}

static int tokenize(void *ud, const char *text, size_t len, int first, int **ids) {
    return rcache_tokenize_chat(((ns *)ud)->env.c, text, len, first, ids);
}

/* Appends "ROLE: TEXT" and the blank line that ends a block (mu held). */
static void put_block(ns *n, ns_text *t, const char *role, const char *s, size_t len,
                      outbox *o) {
    ns_text_append(n, t, role, strlen(role), o);
    ns_text_append(n, t, ": ", 2, o);
    ns_text_append(n, t, s, len, o);
    ns_text_append(n, t, "\n\n", 2, o);
}

static void chat_on_done(void *ud, const cache_result *res);
static void chat_retire(void *arg);

/* Starts the reply to the user's turn text[0..len) (submit_mu held, mu
 * not; c->busy set).  0, or the error with its reason in reason. */
static int start(ns *n, ns_entry *e, const char *text, size_t len, const gen_params *gp,
                 char *reason, size_t cap) {
    ns_chat *c = e->chat;
    pthread_mutex_lock(&n->mu);
    int shut = n->shut;
    pthread_mutex_unlock(&n->mu);
    if (shut) { snprintf(reason, cap, "the daemon is stopping"); return -EIO; }
    int msgs = n->env.chat_messages;
    int rc = chat_conv_user(&c->conv, text, len, msgs ? NULL : tokenize, n);
    if (rc) {
        if (rc == -EFBIG)
            snprintf(reason, cap, "the conversation no longer fits the context "
                     "(start a new one with >)");
        else snprintf(reason, cap, "chat turn: %s", strerror(-rc));
        return rc;
    }
    gen_params p = *gp;
    if (!msgs) p.cache = GEN_CACHE_OFF;   /* its ids are kept: generated, never a record's text */
    ns_gen *g = calloc(1, sizeof *g);
    if (!g) {
        chat_conv_undo(&c->conv);
        snprintf(reason, cap, "out of memory");
        return -ENOMEM;
    }
    outbox o = {0};
    pthread_mutex_lock(&n->mu);
    ns_text *t = e->text;
    size_t undo = t->len;
    put_block(n, t, "user", text, len, &o);
    ns_text_append(n, t, "assistant: ", 11, &o);
    t->done = 0;
    g->n = n;
    g->e = e;
    g->t = t;
    t->refs++;
    e->refs++;
    g->epoch = c->epoch;
    g->reply_off = t->len;
    g->t_submit_ns = engine_now_ns();
    struct timespec ts = ns_now_rt();
    g->meta = (stats_meta){++n->next_id, ts.tv_sec + ts.tv_nsec / 1e9, p.temperature, p.seed};
    e->cur = g;
    e->err[0] = 0;
    pthread_mutex_unlock(&n->mu);
    ns_out_flush(n, &o);

    static const cache_cb cb = {ns_gen_on_text, chat_on_done};
    rcache_req *req = NULL;
    if (msgs) {
        int *ids = NULL;
        int k = remote_chat_ids(c->conv.m, c->conv.n, &ids);
        rc = k < 0 ? k : rcache_submit_tokens(n->env.c, ids, k, &p, &cb, g, &req);
        free(ids);
    } else {
        rc = rcache_submit_tokens(n->env.c, c->conv.ids, c->conv.n_ids, &p, &cb, g, &req);
    }
    if (rc) {
        chat_conv_undo(&c->conv);
        pthread_mutex_lock(&n->mu);
        if (e->cur == g) e->cur = NULL;
        g->detached = 1;
        if (t->len == g->reply_off) t->len = undo;   /* the turn never was */
        pthread_mutex_unlock(&n->mu);
        ns_gen_free(g);
        if (rc == -EBUSY)
            snprintf(reason, cap, "queue full (scheduler.queue = %d)",
                     n->env.cfg->scheduler.queue);
        else if (rc == -EFBIG)
            snprintf(reason, cap, "the conversation no longer fits the context "
                     "(start a new one with >)");
        else
            snprintf(reason, cap, "submission failed: %s", strerror(-rc));
        return rc;
    }
    stats_submitted(n->env.st);
    pthread_mutex_lock(&n->mu);
    g->req = req;               /* chat_retire, which needs it, waits for submit_mu */
    g->source = rcache_req_source(req);
    pthread_mutex_unlock(&n->mu);
    return 0;
}

/* The reply ended (scheduler thread): its text and ids are kept for
 * chat_retire, the transcript ends the block, and readers get EOF unless
 * a turn is queued. */
static void chat_on_done(void *ud, const cache_result *res) {
    ns_gen *g = ud;
    ns *n = g->n;
    outbox o = {0};
    char name[NAME_MAX_LEN + 8];
    pthread_mutex_lock(&n->mu);
    if (g->detached) { pthread_mutex_unlock(&n->mu); return; }
    g->detached = 1;
    ns_entry *e = g->e;
    ns_text *t = g->t;
    if (e->cur == g) e->cur = NULL;
    size_t rl = t->len > g->reply_off ? t->len - g->reply_off : 0;
    int k = res->r.gen_ids && res->r.generated_tokens > 0 ? res->r.generated_tokens : 0;
    g->reply = malloc(rl + 1);
    g->reply_ids = k ? malloc((size_t)k * sizeof *g->reply_ids) : NULL;
    if (g->reply && (!k || g->reply_ids)) {
        memcpy(g->reply, t->buf + g->reply_off, rl);
        g->reply_len = rl;
        if (k) memcpy(g->reply_ids, res->r.gen_ids, (size_t)k * sizeof *g->reply_ids);
        g->n_reply_ids = k;
    } else {
        free(g->reply);
        free(g->reply_ids);
        g->reply = NULL;        /* chat_retire ends the conversation's use */
        g->reply_ids = NULL;
    }
    if (res->r.error)
        snprintf(e->err, sizeof e->err, "generation failed: %s", strerror(-res->r.error));
    ns_text_append(n, t, "\n\n", 2, &o);
    t->done = e->chat->q == NULL;
    t->mtime = ns_now_rt();
    ns_wake_text(n, t, &o);
    ns_row_name(e, name, sizeof name);
    pthread_mutex_unlock(&n->mu);
    stats_done(n->env.st, name, &g->meta, res);
    ns_out_flush(n, &o);
    g->job.fn = chat_retire;
    g->job.arg = g;
    notify_call(n->env.nt, &g->job);
}

/* Starts queued turns until one runs or none is left (submit_mu held,
 * mu not). */
static void next_turn(ns *n, ns_entry *e) {
    ns_chat *c = e->chat;
    for (;;) {
        outbox o = {0};
        pthread_mutex_lock(&n->mu);
        turn *q = c->q;
        if (q && !n->shut && e->linked) {
            c->q = q->next;
            if (!c->q) c->qtail = &c->q;
        } else {
            queue_free(c);
            q = NULL;
            c->busy = 0;
            e->text->done = 1;
            ns_wake_text(n, e->text, &o);
        }
        pthread_mutex_unlock(&n->mu);
        ns_out_flush(n, &o);
        if (!q) return;
        char reason[256];
        int rc = start(n, e, q->text, q->len, &q->gp, reason, sizeof reason);
        free(q->text);
        free(q);
        if (!rc) return;
        refuse(n, e, rc, reason);
    }
}

/* The notifier thread's end of a reply: the request is released, the
 * reply joins the conversation, the next queued turn starts. */
static void chat_retire(void *arg) {
    ns_gen *g = arg;
    ns *n = g->n;
    ns_entry *e = g->e;
    ns_chat *c = e->chat;
    pthread_mutex_lock(&e->submit_mu);
    pthread_mutex_lock(&n->mu);
    rcache_req *req = g->req;
    int current = g->epoch == c->epoch && e->linked;
    pthread_mutex_unlock(&n->mu);
    if (req) rcache_release(n->env.c, req);
    if (current) {
        int rc = g->reply ? chat_conv_reply(&c->conv, g->reply, g->reply_len, g->reply_ids,
                                            g->n_reply_ids) : -ENOMEM;
        if (rc) {
            /* a conversation without its reply would be a lie: it ends */
            chat_conv_undo(&c->conv);
            refuse(n, e, rc, "the reply could not be kept: out of memory");
        }
        next_turn(n, e);
    }
    pthread_mutex_unlock(&e->submit_mu);
    ns_gen_free(g);
}

int ns_chat_flush(ns *n, ns_entry *e) {
    ns_chat *c = e->chat;
    char reason[256] = "";
    pthread_mutex_lock(&n->mu);
    if (!e->dirty || !e->linked) { pthread_mutex_unlock(&n->mu); return 0; }
    e->dirty = 0;
    int wf = e->wfail;
    e->wfail = 0;
    size_t len = e->plen;
    char *buf = malloc(len + 1);
    if (buf && len) memcpy(buf, e->pbuf, len);
    e->plen = 0;                /* the turn is taken; the next write starts another */
    int shut = n->shut;
    pthread_mutex_unlock(&n->mu);
    if (wf) { free(buf); return wf; }       /* refused (and counted) at write */
    if (!buf) return refuse(n, e, -ENOMEM, "out of memory");
    if (shut) { free(buf); return refuse(n, e, -EIO, "the daemon is stopping"); }
    if (!len) { free(buf); return 0; }
    if (c->conv.f == CHAT_NONE && !n->env.chat_messages) {
        free(buf);
        return refuse(n, e, -EINVAL, n->env.chat_error ? n->env.chat_error
                                                       : "the model has no chat template");
    }
    gen_params gp = c->gp;
    char *sys = NULL;
    size_t boff, blen;
    int rc = frontmatter_parse_chat(buf, len, &gp, &sys, &boff, &blen, reason, sizeof reason);
    if (rc) {
        free(buf);
        if (!reason[0]) snprintf(reason, sizeof reason, "front matter: %s", strerror(-rc));
        return refuse(n, e, rc, reason);
    }
    if ((rc = rcache_check(n->env.c, &gp, reason, sizeof reason))) {
        free(sys);              /* a parameter the backend cannot honour */
        free(buf);
        return refuse(n, e, rc, reason);
    }
    outbox o = {0};
    pthread_mutex_lock(&n->mu);
    int fresh = !c->busy && !c->q && !c->conv.n;
    if (sys && fresh) put_block(n, e->text, "system", sys, strlen(sys), &o);
    pthread_mutex_unlock(&n->mu);
    ns_out_flush(n, &o);
    if (sys && (!fresh || (rc = chat_conv_system(&c->conv, sys, strlen(sys))))) {
        free(sys);
        free(buf);
        return refuse(n, e, -EINVAL, rc ? "out of memory" :
                      "front matter: system: only at the start of a conversation "
                      "(start a new one with >)");
    }
    free(sys);
    c->gp = gp;                 /* this turn's parameters, and the next ones' */
    if (!blen) { free(buf); return 0; }
    pthread_mutex_lock(&n->mu);
    if (c->busy) {              /* after the reply being generated */
        turn *t = malloc(sizeof *t);
        char *text = t ? malloc(blen) : NULL;
        if (text) {
            memcpy(text, buf + boff, blen);
            *t = (turn){text, blen, gp, NULL};
            *c->qtail = t;
            c->qtail = &t->next;
            e->text->done = 0;  /* cat waits for this turn's reply too */
        } else {
            free(t);
        }
        pthread_mutex_unlock(&n->mu);
        free(buf);
        return text ? 0 : refuse(n, e, -ENOMEM, "out of memory");
    }
    c->busy = 1;
    pthread_mutex_unlock(&n->mu);
    rc = start(n, e, buf + boff, blen, &gp, reason, sizeof reason);
    free(buf);
    if (rc) {
        outbox o2 = {0};
        pthread_mutex_lock(&n->mu);
        c->busy = 0;
        e->text->done = 1;
        ns_wake_text(n, e->text, &o2);
        pthread_mutex_unlock(&n->mu);
        ns_out_flush(n, &o2);
        return refuse(n, e, rc, reason);
    }
    return 0;
}

void ns_chat_reset(ns *n, ns_entry *e) {
    ns_chat *c = e->chat;
    ns_entry_cancel(n, e);      /* the reply being generated */
    outbox o = {0};
    pthread_mutex_lock(&n->mu);
    queue_free(c);
    c->busy = 0;
    c->epoch++;
    ns_text *t = e->text;
    t->len = 0;
    t->done = 1;
    t->error = 0;
    t->mtime = ns_now_rt();
    ns_wake_text(n, t, &o);
    e->err[0] = 0;
    e->plen = 0;
    e->wfail = 0;
    pthread_mutex_unlock(&n->mu);
    ns_out_flush(n, &o);
    chat_conv_reset(&c->conv);
    c->gp = n->env.cfg->generation;
}
