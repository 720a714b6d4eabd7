/* This file implements the response path of the namespace (ns.h): a
 * prompt's flush becomes a response cache request (cache/rcache.h) whose
 * callbacks append to the completion's text and answer the reads parked
 * on it; a rewrite cancels the old request, a refused one leaves its
 * reason; and the rows of stats/requests for requests in flight.  The
 * namespace's locking and ownership rules (ns.c) hold here. */
#include "fs/ns.h"
#include "fs/ns_int.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/frontmatter.h"
#include "fs/params.h"

void ns_gen_free(ns_gen *g) {
    ns *n = g->n;
    pthread_mutex_lock(&n->mu);
    ns_text_unref(n, g->t);
    ns_entry_unref(n, g->e);
    pthread_mutex_unlock(&n->mu);
    free(g->reply);
    free(g->reply_ids);
    free(g);
}

/* The deferred release of a finished generation (notifier thread). */
static void gen_retire(void *arg) {
    ns_gen *g = arg;
    rcache_release(g->n->env.c, g->req);
    ns_gen_free(g);
}

int ns_text_append(ns *n, ns_text *t, const char *s, size_t len, outbox *o) {
    if (!len) return 0;
    if (t->len + len > t->cap) {
        size_t cap = t->cap ? t->cap : 1024;
        while (cap < t->len + len) cap *= 2;
        char *b = realloc(t->buf, cap);
        if (!b) return -ENOMEM;   /* the bytes are lost, not the file */
        t->buf = b;
        t->cap = cap;
    }
    memcpy(t->buf + t->len, s, len);
    t->len += len;
    t->mtime = ns_now_rt();
    ns_wake_text(n, t, o);
    return 0;
}

void ns_gen_on_text(void *ud, const char *text, size_t len) {
    ns_gen *g = ud;
    ns *n = g->n;
    outbox o = {0};
    pthread_mutex_lock(&n->mu);
    if (g->detached) { pthread_mutex_unlock(&n->mu); return; }
    if (!g->got_text) {
        g->got_text = 1;
        g->t_first_ns = engine_now_ns();
    }
    ns_text_append(n, g->t, text, len, &o);
    pthread_mutex_unlock(&n->mu);
    ns_out_flush(n, &o);
}

void ns_row_name(const ns_entry *e, char *buf, size_t cap) {
    snprintf(buf, cap, "%s%s", e->chat ? "chats/" : "", e->name);
}

static void on_done(void *ud, const cache_result *res) {
    const sched_result *r = &res->r;
    ns_gen *g = ud;
    ns *n = g->n;
    outbox o = {0};
    pthread_mutex_lock(&n->mu);
    if (g->detached) { pthread_mutex_unlock(&n->mu); return; }
    g->detached = 1;
    ns_entry *e = g->e;
    if (e->cur == g) e->cur = NULL;
    g->t->done = 1;
    g->t->mtime = ns_now_rt();
    if (r->error) {
        if (r->reason) snprintf(e->err, sizeof e->err, "%s", r->reason);
        else snprintf(e->err, sizeof e->err, "generation failed: %s", strerror(-r->error));
        g->t->error = EIO;       /* a cut answer must not read as a whole one */
    }
    ns_wake_text(n, g->t, &o);
    rcache_req *req = g->req;
    char name[NAME_MAX_LEN + 1];
    snprintf(name, sizeof name, "%s", e->name);   /* a rename may change it */
    pthread_mutex_unlock(&n->mu);
    stats_done(n->env.st, name, &g->meta, res);
    ns_out_flush(n, &o);
    if (req) {
        g->job.fn = gen_retire;
        g->job.arg = g;
        notify_call(n->env.nt, &g->job);
    }
}

/* Cancels e's generation, if one is running: its readers get EOF after
 * what was generated.  Call with submit_mu held or from unlink (mu not
 * held). */
void ns_entry_cancel(ns *n, ns_entry *e) { ns_entry_abort(n, e, 0, NULL); }

void ns_entry_abort(ns *n, ns_entry *e, int err, const char *reason) {
    outbox o = {0};
    stats_row row;
    pthread_mutex_lock(&n->mu);
    ns_gen *g = e->cur;
    if (!g) { pthread_mutex_unlock(&n->mu); return; }
    e->cur = NULL;
    g->detached = 1;
    g->t->done = 1;
    g->t->error = err;
    if (reason) snprintf(e->err, sizeof e->err, "%s", reason);
    g->t->mtime = ns_now_rt();
    ns_wake_text(n, g->t, &o);
    rcache_req *req = g->req;
    char name[NAME_MAX_LEN + 8];
    ns_row_name(e, name, sizeof name);
    stats_row_init(&row, name, "cancelled");
    row.meta = g->meta;
    row.finish = "cancelled";
    if (reason) snprintf(row.error, sizeof row.error, "%s", reason);
    int64_t now = engine_now_ns();
    if (g->got_text) row.ttft_ms = (g->t_first_ns - g->t_submit_ns) / 1e6;
    row.e2e_ms = (now - g->t_submit_ns) / 1e6;
    row.cache = cache_source_name(g->source);
    pthread_mutex_unlock(&n->mu);
    ns_out_flush(n, &o);
    /* what it did before it was cut (the cache's lock is taken after
     * ours, never inside it) */
    if (req) rcache_req_progress(n->env.c, req, &row.prompt_tokens, &row.generated_tokens);
    stats_cancelled(n->env.st, &row);
    if (req) {
        rcache_release(n->env.c, req);
        ns_gen_free(g);
    }
    /* else: the submitter releases it when sched_submit returns */
}

/* A submission was refused: e has no completion any more (completions/NAME
 * goes away; a reader of an earlier one keeps reading it), and the reason
 * goes to e->err and stats. */
static int entry_reject(ns *n, ns_entry *e, int rc, const char *reason) {
    pthread_mutex_lock(&n->mu);
    snprintf(e->err, sizeof e->err, "%s", reason);
    if (e->text) {
        ns_text_unref(n, e->text);
        e->text = NULL;
    }
    pthread_mutex_unlock(&n->mu);
    stats_rejected(n->env.st, e->name, rc, reason);
    return rc;
}

/* Editors' side files are not prompts: a name that starts with "." (vim's
 * .x.swp) or ends with "~" (backups) is kept as a plain file. */
static int side_file(const char *name) {
    size_t l = strlen(name);
    return name[0] == '.' || (l && name[l - 1] == '~');
}

/* Submits e's prompt if it has new bytes (submit_mu held).  An empty
 * prompt (vim's 4913 probe, a touch) and a side file are never
 * submitted. */
static int entry_submit(ns *n, ns_entry *e) {
    char reason[256] = "";
    gen_params gp = n->env.cfg->generation;
    pthread_mutex_lock(&n->mu);
    if (!e->dirty || !e->linked) { pthread_mutex_unlock(&n->mu); return 0; }
    e->dirty = 0;
    if (!e->plen || side_file(e->name)) { pthread_mutex_unlock(&n->mu); return 0; }
    if (n->shut) {
        pthread_mutex_unlock(&n->mu);
        return entry_reject(n, e, -EIO, "the daemon is stopping");
    }
    if (e->wfail) {
        /* A write was refused (and counted): so is the prompt, or it would
         * run with part of what was written. */
        int wf = e->wfail;
        pthread_mutex_unlock(&n->mu);
        return wf;
    }
    size_t len = e->plen;
    char *buf = malloc(len ? len : 1);
    if (buf) memcpy(buf, e->pbuf, len);
    int rc = buf ? 0 : -ENOMEM;
    for (xattr *x = e->xattrs; x && !rc; x = x->next)
        rc = params_set_xattr(&gp, x->name, x->value, x->len, reason, sizeof reason);
    pthread_mutex_unlock(&n->mu);
    if (rc) {
        free(buf);
        if (!reason[0]) snprintf(reason, sizeof reason, "%s", strerror(-rc));
        ns_entry_cancel(n, e);
        return entry_reject(n, e, rc, reason);
    }
    size_t boff = 0, blen = 0;
    rc = frontmatter_parse(buf, len, &gp, &boff, &blen, reason, sizeof reason);
    if (rc) {
        free(buf);
        if (!reason[0]) snprintf(reason, sizeof reason, "front matter: %s", strerror(-rc));
        ns_entry_cancel(n, e);
        return entry_reject(n, e, rc, reason);
    }
    if ((rc = rcache_check(n->env.c, &gp, reason, sizeof reason))) {
        free(buf);
        ns_entry_cancel(n, e);
        return entry_reject(n, e, rc, reason);
    }
    ns_entry_cancel(n, e);      /* rewriting restarts the generation */

    ns_gen *g = calloc(1, sizeof *g);
    pthread_mutex_lock(&n->mu);
    ns_text *t = g ? ns_text_new(n, e) : NULL;
    if (!t) {
        pthread_mutex_unlock(&n->mu);
        free(g); free(buf);
        return entry_reject(n, e, -ENOMEM, "out of memory");
    }
    g->n = n;
    g->e = e;
    g->t = t;
    t->refs = 2;                              /* entry + generation */
    g->t_submit_ns = engine_now_ns();
    struct timespec ts = ns_now_rt();
    g->meta = (stats_meta){++n->next_id, ts.tv_sec + ts.tv_nsec / 1e9, gp.temperature, gp.seed};
    e->refs++;                                /* the generation's */
    ns_text_unref(n, e->text);
    e->text = t;                              /* completions/NAME exists from here */
    e->cur = g;
    e->err[0] = 0;
    pthread_mutex_unlock(&n->mu);

    static const cache_cb cb = {ns_gen_on_text, on_done};
    rcache_req *req = NULL;
    rc = rcache_submit(n->env.c, buf + boff, blen, &gp, &cb, g, &req);
    free(buf);
    if (rc) {
        outbox o = {0};
        pthread_mutex_lock(&n->mu);
        if (e->cur == g) e->cur = NULL;
        g->detached = 1;
        t->done = 1;
        t->error = EIO;          /* a reader that opened it already: no answer */
        ns_wake_text(n, t, &o);
        pthread_mutex_unlock(&n->mu);
        ns_out_flush(n, &o);
        ns_gen_free(g);
        if (rc == -EBUSY)
            snprintf(reason, sizeof reason, "queue full (scheduler.queue = %d)",
                     n->env.cfg->scheduler.queue);
        else if (rc == -EFBIG)
            snprintf(reason, sizeof reason, "prompt longer than the context");
        else
            snprintf(reason, sizeof reason, "submission failed: %s", strerror(-rc));
        return entry_reject(n, e, rc, reason);
    }
    stats_submitted(n->env.st);
    pthread_mutex_lock(&n->mu);
    g->req = req;
    g->source = rcache_req_source(req);
    int detached = g->detached;
    pthread_mutex_unlock(&n->mu);
    if (detached) {          /* finished or cancelled before we knew req */
        rcache_release(n->env.c, req);
        ns_gen_free(g);
    }
    return 0;
}

void ns_forget_completion(ns *n, const char *name) {
    if (n->env.se)
        fuse_lowlevel_notify_inval_entry(n->env.se, NS_INO_COMPLETIONS, name, strlen(name));
}

/* The id of e's current text, or UINT64_MAX (mu held). */
static uint64_t text_id(const ns_entry *e) { return e->text ? e->text->id : UINT64_MAX; }

int ns_flush(ns *n, ns_handle *h, uint64_t owner, int *moved) {
    *moved = 0;
    if (h->kind != NS_PROMPT && h->kind != NS_CHAT) return 0;
    ns_entry *e = h->e;
    pthread_mutex_lock(&e->submit_mu);
    pthread_mutex_lock(&n->mu);
    uint64_t before = text_id(e);
    int wrote = h->wrote && (!h->writer || !owner || h->writer == owner);
    pthread_mutex_unlock(&n->mu);
    /* only the writer's close submits: a reader's, or that of a child
     * that inherited the writer's descriptor, must not send a
     * half-written prompt */
    int rc = !wrote ? 0 : h->kind == NS_CHAT ? ns_chat_flush(n, e) : entry_submit(n, e);
    pthread_mutex_lock(&n->mu);
    *moved = text_id(e) != before && before != UINT64_MAX;
    pthread_mutex_unlock(&n->mu);
    pthread_mutex_unlock(&e->submit_mu);
    return rc;
}

int ns_active_rows(ns *n, stats_row **rows, size_t *count) {
    *rows = NULL;
    *count = 0;
    pthread_mutex_lock(&n->mu);
    size_t k = 0;
    for (size_t i = 0; i < n->n_ents; i++)
        if (n->ents[i] && n->ents[i]->cur) k++;
    stats_row *r = calloc(k ? k : 1, sizeof *r);
    if (!r) { pthread_mutex_unlock(&n->mu); return -ENOMEM; }
    k = 0;
    int64_t now = engine_now_ns();
    for (size_t i = 0; i < n->n_ents; i++) {
        ns_entry *e = n->ents[i];
        if (!e || !e->cur) continue;
        ns_gen *g = e->cur;
        char name[NAME_MAX_LEN + 8];
        ns_row_name(e, name, sizeof name);
        stats_row_init(&r[k], name, g->got_text ? "running" : "waiting");
        r[k].meta = g->meta;
        if (g->got_text) r[k].ttft_ms = (g->t_first_ns - g->t_submit_ns) / 1e6;
        r[k].e2e_ms = (now - g->t_submit_ns) / 1e6;
        r[k].cache = cache_source_name(g->source);
        k++;
    }
    pthread_mutex_unlock(&n->mu);
    *rows = r;
    *count = k;
    return 0;
}
