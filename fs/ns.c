/* This file implements the namespace of ns.h: names, nodes (prompts and
 * the texts of their generations), handles, parked reads and xattrs.  The
 * response path (a flush becomes a response cache request whose callbacks
 * fill the completion) is in submit.c; both share ns_int.h.
 *
 * Locking: one mutex, ns.mu, protects every entry, text, handle, parked
 * read and generation field marked (mu).  It is never held while calling
 * rcache_submit, rcache_release, fuse_reply_* or fuse_req_interrupt_func:
 * replies and poll handles are collected under mu and sent after it is
 * dropped.  entry.submit_mu serializes flushes, writes and truncates of
 * one prompt (it is held across rcache_submit and rcache_release and
 * across a front matter's parse, which runs without mu; no callback takes
 * it; it is taken before mu).
 *
 * Ownership of a generation (ns_gen): whoever detaches it (sets
 * g->detached, under mu) releases its request: on_done queues the release
 * on the notifier thread (a callback may not call rcache_release), a
 * cancellation calls rcache_release itself; if the request handle is not
 * known yet (the callbacks ran before rcache_submit returned: a cache
 * hit always does), the submitter releases it when it learns it.
 * Callbacks of a detached generation change nothing. */
#include "fs/ns.h"
#include "fs/ns_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "fs/frontmatter.h"
#include "fs/params.h"

#define XATTR_PREFIX "user.llmfs."


static const char *const stats_names[STATS_NFILES] = {
    [STATS_METRICS] = "metrics", [STATS_LATENCY] = "latency", [STATS_CACHE] = "cache",
    [STATS_ENGINE] = "engine", [STATS_REQUESTS] = "requests", [STATS_PROMETHEUS] = "prometheus",
    [STATS_BACKENDS] = "backends",
};

/* ----------------------------------------------------------- helpers */

struct timespec ns_now_rt(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts;
}

static uint64_t name_hash(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

void ns_out_reply(outbox *o, fuse_req_t req, char *data, size_t n, int err) {
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 8;
        reply *r = realloc(o->r, cap * sizeof *r);
        if (!r) {
            /* Out of memory: answer this one now rather than lose it. */
            free(data);
            fuse_reply_err(req, ENOMEM);
            return;
        }
        o->r = r;
        o->cap = cap;
    }
    o->r[o->n++] = (reply){req, data, n, err, NULL, NULL};
}

/* Queues the answer of a parked open (mu held). */
static void out_ready(outbox *o, parked *p, int err) {
    ns_out_reply(o, p->req, NULL, 0, err);
    if (o->n && o->r[o->n - 1].req == p->req) {
        o->r[o->n - 1].ready = p->ready;
        o->r[o->n - 1].ud = p->ud;
    }
}

static void out_poll(outbox *o, struct fuse_pollhandle *ph) {
    if (o->nph == o->capph) {
        size_t cap = o->capph ? o->capph * 2 : 8;
        struct fuse_pollhandle **p = realloc(o->ph, cap * sizeof *p);
        if (!p) { fuse_pollhandle_destroy(ph); return; }
        o->ph = p;
        o->capph = cap;
    }
    o->ph[o->nph++] = ph;
}

/* Sends what was collected (mu not held). */
void ns_out_flush(ns *n, outbox *o) {
    for (size_t i = 0; i < o->n; i++) {
        reply *r = &o->r[i];
        if (r->ready) r->ready(r->ud, r->err);
        else if (r->err) fuse_reply_err(r->req, r->err);
        else fuse_reply_buf(r->req, r->data, r->n);
        free(r->data);
    }
    for (size_t i = 0; i < o->nph; i++) {
        if (n->env.nt) notify_poll(n->env.nt, o->ph[i]);
        else fuse_pollhandle_destroy(o->ph[i]);
    }
    free(o->r);
    free(o->ph);
    memset(o, 0, sizeof *o);
}

void ns_text_unref(ns *n, ns_text *t) {
    if (t && --t->refs == 0) {
        n->texts[t->id] = NULL;
        free(t->buf);
        free(t);
    }
}

/* A new empty text of e with one reference and an inode number of its
 * own (mu held). */
ns_text *ns_text_new(ns *n, ns_entry *e) {
    if (n->n_texts == n->cap_texts) {
        size_t cap = n->cap_texts ? n->cap_texts * 2 : 64;
        ns_text **a = realloc(n->texts, cap * sizeof *a);
        if (!a) return NULL;
        n->texts = a;
        n->cap_texts = cap;
    }
    ns_text *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->mtime = ns_now_rt();
    t->e = e;
    t->refs = 1;
    t->id = n->n_texts;
    n->texts[n->n_texts++] = t;
    return t;
}

static void xattrs_free(xattr *x) {
    while (x) {
        xattr *nx = x->next;
        free(x->name);
        free(x->value);
        free(x);
        x = nx;
    }
}

/* Drops a reference (mu held); the last one frees the entry. */
void ns_entry_unref(ns *n, ns_entry *e) {
    if (--e->refs) return;
    n->ents[e->id] = NULL;
    ns_text_unref(n, e->text);
    xattrs_free(e->xattrs);
    pthread_mutex_destroy(&e->submit_mu);
    free(e->pbuf);
    free(e->name);
    for (size_t i = 0; i < e->n_old_names; i++) free(e->old_names[i]);
    free(e->old_names);
    ns_chat_free(e->chat);
    free(e);
}

/* The linked prompt (chat 0) or chat (chat 1) of that name (mu held). */
static ns_entry *hash_find(ns *n, const char *name, int chat) {
    for (ns_entry *e = n->hash[name_hash(name) & (n->n_hash - 1)]; e; e = e->hnext)
        if (!e->chat == !chat && !strcmp(e->name, name)) return e;
    return NULL;
}

static void hash_insert(ns *n, ns_entry *e) {
    if (n->n_linked + 1 > n->n_hash * 2) {
        size_t nh = n->n_hash * 2;
        ns_entry **h = calloc(nh, sizeof *h);
        if (h) {
            for (size_t i = 0; i < n->n_hash; i++)
                for (ns_entry *x = n->hash[i], *nx; x; x = nx) {
                    nx = x->hnext;
                    size_t b = name_hash(x->name) & (nh - 1);
                    x->hnext = h[b];
                    h[b] = x;
                }
            free(n->hash);
            n->hash = h;
            n->n_hash = nh;
        }
    }
    size_t b = name_hash(e->name) & (n->n_hash - 1);
    e->hnext = n->hash[b];
    n->hash[b] = e;
    n->n_linked++;
}

static void hash_remove(ns *n, ns_entry *e) {
    ns_entry **pp = &n->hash[name_hash(e->name) & (n->n_hash - 1)];
    while (*pp && *pp != e) pp = &(*pp)->hnext;
    if (*pp) { *pp = e->hnext; n->n_linked--; }
    e->hnext = NULL;
}

/* The text of a completion inode, or NULL (mu held). */
static ns_text *text_of(ns *n, fuse_ino_t ino) {
    if (ns_kind(ino) != NS_COMPLETION) return NULL;
    uint64_t id = (ino - NS_INO_DYN) / 2;
    return id < n->n_texts ? n->texts[id] : NULL;
}

/* The entry of a dynamic inode (a prompt's, or a completion text's), or
 * NULL (mu held). */
static ns_entry *entry_of(ns *n, fuse_ino_t ino) {
    if (ino < NS_INO_DYN) return NULL;
    if (ns_kind(ino) == NS_COMPLETION) {
        ns_text *t = text_of(n, ino);
        return t ? t->e : NULL;
    }
    uint64_t id = (ino - NS_INO_DYN) / 2;
    return id < n->n_ents ? n->ents[id] : NULL;
}

int ns_kind(fuse_ino_t ino) {
    if (ino >= NS_INO_DYN) return (ino - NS_INO_DYN) % 2 ? NS_COMPLETION : NS_PROMPT;
    if ((ino >= NS_INO_ROOT && ino <= NS_INO_STATS) || ino == NS_INO_CHATS) return NS_DIR;
    if (ino == NS_INO_CONFIG) return NS_CONFIG;
    if (ino >= NS_INO_STATS0 && ino < NS_INO_STATS0 + STATS_NFILES) return NS_STATS;
    return NS_NONE;
}

int ns_stats_file(fuse_ino_t ino) { return (int)(ino - NS_INO_STATS0); }

static fuse_ino_t prompt_ino(const ns_entry *e) { return NS_INO_DYN + 2 * e->id; }
static fuse_ino_t completion_ino(const ns_text *t) { return NS_INO_DYN + 2 * t->id + 1; }

/* ---------------------------------------------------------- attributes */

static void stat_base(ns *n, struct stat *st, fuse_ino_t ino, mode_t mode, struct timespec t) {
    memset(st, 0, sizeof *st);
    st->st_ino = ino;
    st->st_mode = mode;
    st->st_nlink = S_ISDIR(mode) ? 2 : 1;
    st->st_uid = n->uid;
    st->st_gid = n->gid;
    st->st_blksize = 4096;
    st->st_atim = st->st_mtim = st->st_ctim = t;
}

/* A file the entry's owner writes: its prompt (ino, mtime and size of
 * the prompt's bytes) or its chat (of the transcript). */
static void stat_written(ns *n, const ns_entry *e, fuse_ino_t ino, struct timespec mtime,
                         size_t size, struct stat *st) {
    stat_base(n, st, ino, S_IFREG | e->mode, mtime);
    st->st_uid = e->uid;
    st->st_gid = e->gid;
    st->st_ctim = e->pctime;
    st->st_nlink = e->linked ? 1 : 0;
    st->st_size = (off_t)size;
    st->st_blocks = (blkcnt_t)((size + 511) / 512);
}

static void stat_prompt(ns *n, const ns_entry *e, struct stat *st) {
    stat_written(n, e, prompt_ino(e), e->pmtime, e->plen, st);
}

/* chats/NAME: the transcript, writable like a prompt, never stable. */
static void stat_chat(ns *n, const ns_entry *e, struct stat *st) {
    stat_written(n, e, completion_ino(e->text), e->text->mtime, e->text->len, st);
}

static void stat_completion(ns *n, const ns_entry *e, const ns_text *t, struct stat *st) {
    stat_base(n, st, completion_ino(t), S_IFREG | (e->mode & 0444), t->mtime);
    st->st_uid = e->uid;
    st->st_gid = e->gid;
    st->st_nlink = e->linked && e->text == t ? 1 : 0;
    st->st_size = (off_t)t->len;
    st->st_blocks = (blkcnt_t)((t->len + 511) / 512);
}

/* Attributes of a fixed node; -ENOENT if ino is not one. */
static int stat_static(ns *n, fuse_ino_t ino, struct stat *st) {
    switch (ns_kind(ino)) {
    case NS_DIR:
        stat_base(n, st, ino,
                  S_IFDIR | (ino != NS_INO_PROMPTS && ino != NS_INO_CHATS ? 0555
                             : n->env.shared ? 01777 : 0755), n->t0);
        return 0;
    case NS_CONFIG:
        stat_base(n, st, ino, S_IFREG | 0444, n->t0);
        st->st_size = (off_t)n->env.config_size;
        return 0;
    case NS_STATS:
        /* Rendered at open and read with direct_io: the size is not known
         * before, and 0 makes every reader read to EOF. */
        stat_base(n, st, ino, S_IFREG | 0444, ns_now_rt());
        return 0;
    default:
        return -ENOENT;
    }
}

int ns_getattr(ns *n, fuse_ino_t ino, ns_handle *h, struct stat *st, int *stable) {
    *stable = 0;
    if (ino < NS_INO_DYN) return stat_static(n, ino, st);
    int rc = 0;
    pthread_mutex_lock(&n->mu);
    ns_entry *e = h ? h->e : entry_of(n, ino);
    ns_text *t = h && h->t ? h->t : text_of(n, ino);
    /* A node that is gone is ESTALE, not ENOENT: the kernel then looks its
     * name up again (a permission check of a cached name asks for the
     * attributes first, and ENOENT would fail an O_CREAT open) */
    if (!e) rc = -ESTALE;
    else if (ns_kind(ino) == NS_PROMPT) stat_prompt(n, e, st);
    else if (t && e->chat) stat_chat(n, e, st);
    else if (t) { stat_completion(n, e, t, st); *stable = t->done; }
    else rc = -ESTALE;
    pthread_mutex_unlock(&n->mu);
    return rc;
}

int ns_lookup(ns *n, fuse_ino_t parent, const char *name, struct stat *st, int *stable) {
    *stable = 0;
    if (parent == NS_INO_ROOT) {
        static const struct { const char *name; fuse_ino_t ino; } root[] = {
            {"prompts", NS_INO_PROMPTS}, {"completions", NS_INO_COMPLETIONS},
            {"stats", NS_INO_STATS}, {"config", NS_INO_CONFIG}, {"chats", NS_INO_CHATS},
        };
        for (size_t i = 0; i < sizeof root / sizeof root[0]; i++)
            if (!strcmp(name, root[i].name)) return stat_static(n, root[i].ino, st);
        return -ENOENT;
    }
    if (parent == NS_INO_STATS) {
        for (int i = 0; i < STATS_NFILES; i++)
            if (!strcmp(name, stats_names[i])) return stat_static(n, NS_INO_STATS0 + i, st);
        return -ENOENT;
    }
    if (parent != NS_INO_PROMPTS && parent != NS_INO_COMPLETIONS && parent != NS_INO_CHATS)
        return ns_kind(parent) == NS_DIR ? -ENOENT : -ENOTDIR;
    int rc = 0;
    pthread_mutex_lock(&n->mu);
    ns_entry *e = hash_find(n, name, parent == NS_INO_CHATS);
    if (!e) rc = -ENOENT;
    else if (parent == NS_INO_CHATS) stat_chat(n, e, st);
    else if (parent == NS_INO_PROMPTS) stat_prompt(n, e, st);
    else if (e->text) { stat_completion(n, e, e->text, st); *stable = e->text->done; }
    else rc = -ENOENT;
    pthread_mutex_unlock(&n->mu);
    return rc;
}

int ns_readdir(ns *n, fuse_ino_t ino, off_t off, ns_fill_fn fill, void *ud) {
    struct stat st;
    if (ns_kind(ino) != NS_DIR) return -ENOTDIR;
    /* offsets: 1 ".", 2 "..", then 3 + index */
    if (off < 1) { stat_static(n, ino, &st); if (fill(ud, ".", &st, 1)) return 0; }
    if (off < 2) { stat_static(n, NS_INO_ROOT, &st); if (fill(ud, "..", &st, 2)) return 0; }
    uint64_t from = off > 2 ? (uint64_t)(off - 2) : 0;
    if (ino == NS_INO_ROOT || ino == NS_INO_STATS) {
        static const char *root[] = {"prompts", "completions", "chats", "stats", "config"};
        static const fuse_ino_t rino[] = {NS_INO_PROMPTS, NS_INO_COMPLETIONS, NS_INO_CHATS,
                                          NS_INO_STATS, NS_INO_CONFIG};
        size_t cnt = ino == NS_INO_ROOT ? 5 : STATS_NFILES;
        for (uint64_t i = from; i < cnt; i++) {
            fuse_ino_t ci = ino == NS_INO_ROOT ? rino[i] : NS_INO_STATS0 + i;
            stat_static(n, ci, &st);
            if (fill(ud, ino == NS_INO_ROOT ? root[i] : stats_names[i], &st, (off_t)(i + 3)))
                return 0;
        }
        return 0;
    }
    pthread_mutex_lock(&n->mu);
    for (uint64_t i = from; i < n->n_ents; i++) {
        ns_entry *e = n->ents[i];
        if (!e || !e->linked || !e->chat != (ino != NS_INO_CHATS)) continue;
        if (ino == NS_INO_CHATS) stat_chat(n, e, &st);
        else if (ino == NS_INO_PROMPTS) stat_prompt(n, e, &st);
        else if (e->text) stat_completion(n, e, e->text, &st);
        else continue;
        if (fill(ud, e->name, &st, (off_t)(i + 3))) break;
    }
    pthread_mutex_unlock(&n->mu);
    return 0;
}

/* ------------------------------------------------------ reads and polls */

/* The lists of parked requests: every one, and its text's (mu held).  A
 * text's own list spares an append the walk over every stream's reads. */
static void park(ns *n, parked *p) {
    ns_text *t = p->h->t;
    p->prev = NULL;
    p->next = n->parked;
    if (n->parked) n->parked->prev = p;
    n->parked = p;
    p->tprev = NULL;
    p->tnext = t->parked;
    if (t->parked) t->parked->tprev = p;
    t->parked = p;
}

static void unpark(ns *n, parked *p) {
    ns_text *t = p->h->t;
    if (p->prev) p->prev->next = p->next;
    else n->parked = p->next;
    if (p->next) p->next->prev = p->prev;
    if (p->tprev) p->tprev->tnext = p->tnext;
    else t->parked = p->tnext;
    if (p->tnext) p->tnext->tprev = p->tprev;
}

/* Answers the parked reads of t that can be answered now, and collects
 * the poll handles of t's readable handles (mu held). */
void ns_wake_text(ns *n, ns_text *t, outbox *o) {
    for (parked *p = t->parked, *np; p; p = np) {
        np = p->tnext;
        size_t off = (size_t)p->off;
        if (off >= t->len && !t->done) continue;
        size_t cnt = off < t->len ? t->len - off : 0;
        if (cnt > p->size) cnt = p->size;
        char *data = NULL;
        if (p->ready) {
            out_ready(o, p, 0);
        } else if (cnt && !(data = malloc(cnt))) {
            ns_out_reply(o, p->req, NULL, 0, ENOMEM);
        } else if (!cnt && t->error) {
            ns_out_reply(o, p->req, NULL, 0, t->error);
        } else {
            if (cnt) memcpy(data, t->buf + off, cnt);
            if (off + cnt > p->h->pos) p->h->pos = off + cnt;
            ns_out_reply(o, p->req, data, cnt, 0);
        }
        unpark(n, p);
        free(p);
    }
    for (ns_handle *h = n->handles; h && t->polls; h = h->next)
        if (h->t == t && h->ph && (t->len > h->pos || t->done)) {
            out_poll(o, h->ph);
            h->ph = NULL;
            t->polls--;
        }
}

static void read_interrupted(fuse_req_t req, void *data) {
    ns *n = data;
    parked *p;
    pthread_mutex_lock(&n->mu);
    for (p = n->parked; p && p->req != req; p = p->next) {}
    if (p) unpark(n, p);
    pthread_mutex_unlock(&n->mu);
    if (p) {
        if (p->ready) p->ready(p->ud, EINTR);
        else fuse_reply_err(req, EINTR);
        free(p);
    }
}

int ns_open_wait(ns *n, ns_handle *h, fuse_req_t req, void (*ready)(void *ud, int err),
                 void *ud) {
    if (h->kind != NS_COMPLETION) return 0;
    fuse_req_interrupt_func(req, read_interrupted, n);
    int parked_it = 0;
    pthread_mutex_lock(&n->mu);
    ns_text *t = h->t;
    if (!t->len && !t->done && !n->shut && !fuse_req_interrupted(req)) {
        parked *p = calloc(1, sizeof *p);
        if (p) {
            p->req = req;
            p->h = h;
            p->ready = ready;
            p->ud = ud;
            park(n, p);
            parked_it = 1;
        }
    }
    pthread_mutex_unlock(&n->mu);
    return parked_it;
}

void ns_read_completion(ns *n, ns_handle *h, fuse_req_t req, size_t size, off_t off) {
    if ((h->kind != NS_COMPLETION && h->kind != NS_CHAT) || off < 0) {
        fuse_reply_err(req, EINVAL);
        return;
    }
    /* Registered before the request can be seen by another thread: once it
     * is parked, a reply from the scheduler may free it at any time. */
    fuse_req_interrupt_func(req, read_interrupted, n);
    ns_text *t = h->t;
    char *data = NULL;
    size_t cnt = 0;
    int err = 0;
    pthread_mutex_lock(&n->mu);
    size_t o = (size_t)off;
    if (o < t->len || t->done || n->shut) {
        cnt = o < t->len ? t->len - o : 0;
        if (cnt > size) cnt = size;
        if (cnt && !(data = malloc(cnt))) err = ENOMEM;
        else if (cnt) memcpy(data, t->buf + o, cnt);
        else if (t->done) err = t->error;
        if (!err && o + cnt > h->pos) h->pos = o + cnt;
    } else if (fuse_req_interrupted(req)) {
        err = EINTR;
    } else {
        parked *p = calloc(1, sizeof *p);
        if (!p) {
            err = ENOMEM;
        } else {
            p->req = req;
            p->h = h;
            p->off = off;
            p->size = size;
            park(n, p);
            pthread_mutex_unlock(&n->mu);
            return;
        }
    }
    pthread_mutex_unlock(&n->mu);
    if (err) fuse_reply_err(req, err);
    else fuse_reply_buf(req, data, cnt);
    free(data);
}

unsigned ns_poll(ns *n, ns_handle *h, struct fuse_pollhandle *ph) {
    struct fuse_pollhandle *old = NULL;
    unsigned ev = 0;
    pthread_mutex_lock(&n->mu);
    if (h->kind == NS_PROMPT) {
        ev = POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM;
    } else if (h->t->len > h->pos || h->t->done || n->shut) {
        ev = POLLIN | POLLRDNORM;
    } else if (ph) {
        old = h->ph;
        if (!old) h->t->polls++;
        h->ph = ph;
        ph = NULL;
    }
    pthread_mutex_unlock(&n->mu);
    if (old) fuse_pollhandle_destroy(old);
    if (ph) fuse_pollhandle_destroy(ph);
    return ev;
}

/* ------------------------------------------------------------ handles */

static ns_handle *handle_new(ns *n, int kind, ns_entry *e, ns_text *t) {
    ns_handle *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    h->kind = kind;
    h->e = e;
    e->refs++;
    if (t) { h->t = t; t->refs++; }
    h->next = n->handles;
    if (n->handles) n->handles->prev = h;
    n->handles = h;
    return h;
}

/* (mu held) */
static void handle_free(ns *n, ns_handle *h) {
    if (h->prev) h->prev->next = h->next;
    else n->handles = h->next;
    if (h->next) h->next->prev = h->prev;
    if (h->ph) {
        fuse_pollhandle_destroy(h->ph);
        h->t->polls--;
    }
    ns_text_unref(n, h->t);
    ns_entry_unref(n, h->e);
    free(h);
}

int ns_handle_kind(const ns_handle *h) { return h->kind; }

void ns_handle_name(ns *n, const ns_handle *h, char *buf, size_t cap) {
    pthread_mutex_lock(&n->mu);
    snprintf(buf, cap, "%s", h->e->name);
    pthread_mutex_unlock(&n->mu);
}

void ns_release(ns *n, ns_handle *h) {
    if (!h) return;
    pthread_mutex_lock(&n->mu);
    handle_free(n, h);
    pthread_mutex_unlock(&n->mu);
}

/* Sets the prompt's length (mu held): zero-fills when it grows. */
static int prompt_resize(ns *n, ns_entry *e, size_t len) {
    if (len <= e->plen) e->wfail = 0;   /* a truncation starts the file over */
    if (len > e->pcap) {
        size_t cap = e->pcap ? e->pcap : 256;
        while (cap < len) cap *= 2;
        char *b = realloc(e->pbuf, cap);
        if (!b) return -ENOMEM;
        e->pbuf = b;
        e->pcap = cap;
    }
    if (len > e->plen) memset(e->pbuf + e->plen, 0, len - e->plen);
    e->plen = len;
    e->pmtime = e->pctime = ns_now_rt();
    return 0;
}

static long long max_prompt(ns *n) { return n->env.cfg->limits.max_prompt_bytes; }

/* The reason for an oversized prompt, in e->err (mu held). */
static void too_large(ns *n, ns_entry *e, unsigned long long want) {
    snprintf(e->err, sizeof e->err,
             "prompt too large: %llu bytes, over limits.max_prompt_bytes (%lld)", want,
             max_prompt(n));
}

/* An open of chats/NAME for writing with O_TRUNC (">") starts a new
 * conversation; drops the reference taken for it (mu not held). */
static void chat_truncate_on_open(ns *n, ns_entry *e, int flags) {
    if ((flags & O_TRUNC) && (flags & O_ACCMODE) != O_RDONLY) {
        pthread_mutex_lock(&e->submit_mu);
        ns_chat_reset(n, e);
        pthread_mutex_unlock(&e->submit_mu);
    }
    pthread_mutex_lock(&n->mu);
    ns_entry_unref(n, e);
    pthread_mutex_unlock(&n->mu);
}

int ns_open(ns *n, fuse_ino_t ino, int flags, ns_handle **out, int *cacheable) {
    *out = NULL;
    *cacheable = 0;
    int kind = ns_kind(ino), rc = 0;
    int acc = flags & O_ACCMODE;
    pthread_mutex_lock(&n->mu);
    ns_entry *e = entry_of(n, ino);
    ns_text *t = text_of(n, ino);
    /* The kernel may still name a removed prompt or a replaced text (it
     * keeps names): ESTALE makes it look the name up again, so that an
     * open with O_CREAT creates the prompt anew. */
    int chat = e && e->chat && kind == NS_COMPLETION;
    if (!e || !e->linked || (kind == NS_COMPLETION && !t)) rc = -ESTALE;
    else if (kind == NS_COMPLETION && !chat && acc != O_RDONLY) rc = -EACCES;
    else if (kind == NS_PROMPT && (flags & O_TRUNC) && acc != O_RDONLY)
        rc = prompt_resize(n, e, 0);
    if (!rc && !(*out = handle_new(n, chat ? NS_CHAT : kind, e, t)))
        rc = -ENOMEM;
    if (!rc && t) *cacheable = t->done && !t->error && !chat;   /* an error must reach every read */
    if (!rc && chat) e->refs++;          /* held across the reset below */
    pthread_mutex_unlock(&n->mu);
    if (!rc && chat) chat_truncate_on_open(n, e, flags);
    return rc;
}

static int name_ok(const char *name) {
    size_t l = strlen(name);
    return l && l <= NAME_MAX_LEN && strcmp(name, ".") && strcmp(name, "..") &&
           !strchr(name, '/');
}

int ns_create(ns *n, fuse_ino_t parent, const char *name, int flags, const ns_owner *who,
              struct stat *st,
              ns_handle **out) {
    *out = NULL;
    int chat = parent == NS_INO_CHATS;
    if (parent != NS_INO_PROMPTS && !chat)
        return ns_kind(parent) == NS_DIR ? -EACCES : -ENOTDIR;
    if (!name_ok(name)) return strlen(name) > NAME_MAX_LEN ? -ENAMETOOLONG : -EINVAL;
    int rc = 0;
    pthread_mutex_lock(&n->mu);
    ns_entry *e = hash_find(n, name, chat);
    if (e) {
        if (flags & O_EXCL) rc = -EEXIST;
        else if ((flags & O_TRUNC) && !chat) rc = prompt_resize(n, e, 0);
    } else {
        if (n->n_ents == n->cap_ents) {
            size_t cap = n->cap_ents ? n->cap_ents * 2 : 64;
            ns_entry **a = realloc(n->ents, cap * sizeof *a);
            if (!a) { rc = -ENOMEM; goto out; }
            n->ents = a;
            n->cap_ents = cap;
        }
        e = calloc(1, sizeof *e);
        if (!e || !(e->name = strdup(name))) {
            free(e);
            rc = -ENOMEM;
            goto out;
        }
        pthread_mutex_init(&e->submit_mu, NULL);
        e->id = n->n_ents;
        n->ents[n->n_ents++] = e;
        e->refs = 1;
        e->linked = 1;
        e->uid = who->uid;
        e->gid = who->gid;
        e->mode = who->mode & 07777;
        e->pmtime = e->pctime = ns_now_rt();
        if (chat && (rc = ns_chat_new(n, e))) {
            n->n_ents--;
            pthread_mutex_destroy(&e->submit_mu);
            free(e->name);
            free(e);
            goto out;
        }
        hash_insert(n, e);
    }
    if (!rc && !(*out = handle_new(n, chat ? NS_CHAT : NS_PROMPT, e, chat ? e->text : NULL)))
        rc = -ENOMEM;
    if (!rc && chat) stat_chat(n, e, st);
    else if (!rc) stat_prompt(n, e, st);
    if (!rc && chat) e->refs++;          /* held across the reset below */
out:
    pthread_mutex_unlock(&n->mu);
    if (!rc && chat) chat_truncate_on_open(n, e, flags);
    return rc;
}

/* The end of a closed front matter block at the start of buf (the byte
 * after its closing "---" line), or 0 if there is none or it is not closed
 * by a complete line yet. */
static size_t fm_end(const char *buf, size_t len) {
    size_t i;
    if (len >= 4 && !memcmp(buf, "---\n", 4)) i = 4;
    else if (len >= 5 && !memcmp(buf, "---\r\n", 5)) i = 5;
    else return 0;
    while (i < len) {
        const char *nl = memchr(buf + i, '\n', len - i);
        if (!nl) return 0;
        size_t l = (size_t)(nl - (buf + i));
        if ((l == 3 && !memcmp(buf + i, "---", 3)) || (l == 4 && !memcmp(buf + i, "---\r", 4)))
            return (size_t)(nl - buf) + 1;
        i += l + 1;
    }
    return 0;
}

/* Checks the front matter of e's prompt after a write changed it (the
 * first fe bytes): parsed from a copy with mu not held (a hostile front
 * matter costs its writer, not the mount), then the write is undone if it
 * broke it.  Called with submit_mu held, which keeps other writers and
 * truncates of this prompt out; mu not held.  0 or the error, with the
 * reason in reason. */
static int check_front_matter(ns *n, ns_entry *e, size_t fe, char *reason, size_t cap) {
    pthread_mutex_lock(&n->mu);
    char *fm = malloc(fe);
    if (fm) memcpy(fm, e->pbuf, fe);
    pthread_mutex_unlock(&n->mu);
    if (!fm) {
        snprintf(reason, cap, "front matter: out of memory");
        return -ENOMEM;
    }
    gen_params scratch = n->env.cfg->generation;
    size_t bo, bl;
    reason[0] = 0;
    int rc = frontmatter_parse(fm, fe, &scratch, &bo, &bl, reason, cap);
    free(fm);
    if (rc && !reason[0]) snprintf(reason, cap, "front matter: %s", strerror(-rc));
    return rc;
}

/* A write to chats/NAME: the turn being written grows, whatever the
 * offset (">>" writes at the transcript's end). */
static ssize_t chat_write(ns *n, ns_handle *h, const char *buf, size_t size, uint64_t owner) {
    ns_entry *e = h->e;
    int rc = 0, counted = 0;
    char reason[sizeof e->err];
    pthread_mutex_lock(&e->submit_mu);
    pthread_mutex_lock(&n->mu);
    unsigned long long end = (unsigned long long)e->plen + size;
    if (end > (unsigned long long)max_prompt(n)) {
        counted = e->wfail == -EFBIG;
        too_large(n, e, end);
        memcpy(reason, e->err, sizeof reason);
        rc = e->wfail = -EFBIG;
    } else {
        size_t at = e->plen;
        rc = prompt_resize(n, e, (size_t)end);
        if (!rc) {
            memcpy(e->pbuf + at, buf, size);
            e->dirty = 1;
            h->wrote = 1;
            h->writer = owner;
        }
    }
    char name[NAME_MAX_LEN + 8];
    ns_row_name(e, name, sizeof name);
    pthread_mutex_unlock(&n->mu);
    pthread_mutex_unlock(&e->submit_mu);
    if (rc == -EFBIG && !counted) stats_rejected(n->env.st, name, rc, reason);
    return rc ? rc : (ssize_t)size;
}

ssize_t ns_write(ns *n, ns_handle *h, const char *buf, size_t size, off_t off, uint64_t owner) {
    if (h->kind == NS_CHAT) return chat_write(n, h, buf, size, owner);
    if (h->kind != NS_PROMPT) return -EBADF;
    if (off < 0) return -EINVAL;
    ns_entry *e = h->e;
    unsigned long long end = (unsigned long long)off + size;
    char reason[sizeof e->err];
    pthread_mutex_lock(&e->submit_mu);
    pthread_mutex_lock(&n->mu);
    if (end > (unsigned long long)max_prompt(n)) {
        /* one refused prompt is one rejection, however many writes it
         * took: counted on its first refused write */
        int counted = e->wfail == -EFBIG;
        too_large(n, e, end);
        e->wfail = -EFBIG;
        memcpy(reason, e->err, sizeof reason);
        pthread_mutex_unlock(&n->mu);
        pthread_mutex_unlock(&e->submit_mu);
        if (!counted) stats_rejected(n->env.st, e->name, -EFBIG, reason);
        return -EFBIG;
    }
    /* What the write replaces, to undo it if it breaks the front matter. */
    size_t old_len = e->plen;
    size_t keep = (size_t)off < old_len ? old_len - (size_t)off : 0;
    if (keep > size) keep = size;
    char *saved = keep ? malloc(keep) : NULL;
    int rc = keep && !saved ? -ENOMEM : 0;
    if (!rc && saved) memcpy(saved, e->pbuf + off, keep);
    if (!rc && end > e->plen) rc = prompt_resize(n, e, (size_t)end);
    size_t fe = 0;
    if (!rc) {
        memcpy(e->pbuf + off, buf, size);
        /* A write that completes or changes a front matter block is checked
         * now, so that even a writer that ignores close() errors (bash's
         * echo) sees a malformed one fail. */
        fe = fm_end(e->pbuf, e->plen);
        if ((size_t)off >= fe) fe = 0;
    }
    pthread_mutex_unlock(&n->mu);
    if (fe) rc = check_front_matter(n, e, fe, reason, sizeof reason);
    pthread_mutex_lock(&n->mu);
    int counted = e->wfail != 0;
    if (fe && rc) {
        if (saved) memcpy(e->pbuf + off, saved, keep);
        e->plen = old_len;
        e->wfail = rc;
        snprintf(e->err, sizeof e->err, "%s", reason);
    }
    if (!rc) {
        e->dirty = 1;
        h->wrote = 1;
        h->writer = owner;
        e->pmtime = e->pctime = ns_now_rt();
    }
    pthread_mutex_unlock(&n->mu);
    pthread_mutex_unlock(&e->submit_mu);
    free(saved);
    if (rc == -EINVAL && !counted) stats_rejected(n->env.st, e->name, rc, reason);
    return rc ? rc : (ssize_t)size;
}

ssize_t ns_read_prompt(ns *n, ns_handle *h, char *buf, size_t size, off_t off) {
    if (h->kind != NS_PROMPT) return -EBADF;
    size_t cnt = 0;
    pthread_mutex_lock(&n->mu);
    ns_entry *e = h->e;
    if (off >= 0 && (size_t)off < e->plen) {
        cnt = e->plen - (size_t)off;
        if (cnt > size) cnt = size;
        memcpy(buf, e->pbuf + off, cnt);
    }
    pthread_mutex_unlock(&n->mu);
    return (ssize_t)cnt;
}

int ns_truncate(ns *n, fuse_ino_t ino, off_t size) {
    int kind = ns_kind(ino);
    if (kind != NS_PROMPT && kind != NS_COMPLETION) return kind == NS_DIR ? -EISDIR : -EACCES;
    if (size < 0) return -EINVAL;
    int rc = 0;
    pthread_mutex_lock(&n->mu);
    ns_entry *e = entry_of(n, ino);
    if (!e) { pthread_mutex_unlock(&n->mu); return -ENOENT; }
    if (kind == NS_COMPLETION) {
        /* only a chat's transcript is truncated, and only to nothing: a
         * new conversation */
        rc = !e->chat ? -EACCES : size ? -EINVAL : 0;
        if (!rc) e->refs++;
        pthread_mutex_unlock(&n->mu);
        if (!rc) chat_truncate_on_open(n, e, O_TRUNC | O_WRONLY);
        return rc;
    }
    e->refs++;                 /* held across the wait for submit_mu */
    pthread_mutex_unlock(&n->mu);
    pthread_mutex_lock(&e->submit_mu);   /* not in the middle of a write */
    pthread_mutex_lock(&n->mu);
    if ((unsigned long long)size > (unsigned long long)max_prompt(n)) {
        too_large(n, e, (unsigned long long)size);
        rc = -EFBIG;
    } else rc = prompt_resize(n, e, (size_t)size);
    pthread_mutex_unlock(&n->mu);
    pthread_mutex_unlock(&e->submit_mu);
    pthread_mutex_lock(&n->mu);
    ns_entry_unref(n, e);
    pthread_mutex_unlock(&n->mu);
    return rc;
}

int ns_set_owner(ns *n, fuse_ino_t ino, int to_set, const struct stat *attr) {
    if (!(to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID))) return 0;
    if (ns_kind(ino) != NS_PROMPT) return -EPERM;
    pthread_mutex_lock(&n->mu);
    ns_entry *e = entry_of(n, ino);
    if (e) {
        if (to_set & FUSE_SET_ATTR_MODE) e->mode = attr->st_mode & 07777;
        if (to_set & FUSE_SET_ATTR_UID) e->uid = attr->st_uid;
        if (to_set & FUSE_SET_ATTR_GID) e->gid = attr->st_gid;
        e->pctime = ns_now_rt();
    }
    pthread_mutex_unlock(&n->mu);
    return e ? 0 : -ENOENT;
}

int ns_unlink(ns *n, fuse_ino_t parent, const char *name) {
    if (parent == NS_INO_COMPLETIONS) return -EPERM;
    if (parent != NS_INO_PROMPTS && parent != NS_INO_CHATS)
        return ns_kind(parent) == NS_DIR ? -EPERM : -ENOTDIR;
    pthread_mutex_lock(&n->mu);
    ns_entry *e = hash_find(n, name, parent == NS_INO_CHATS);
    if (!e) { pthread_mutex_unlock(&n->mu); return -ENOENT; }
    hash_remove(n, e);
    e->linked = 0;
    e->refs++;                 /* held across the cancel */
    pthread_mutex_unlock(&n->mu);
    pthread_mutex_lock(&e->submit_mu);
    ns_entry_cancel(n, e);
    pthread_mutex_unlock(&e->submit_mu);
    pthread_mutex_lock(&n->mu);
    ns_entry_unref(n, e);         /* the cancel's */
    ns_entry_unref(n, e);         /* the link's */
    pthread_mutex_unlock(&n->mu);
    return 0;
}

/* Takes the submit_mu of a and b (either may be NULL) in a fixed order. */
static void lock_two(ns_entry *a, ns_entry *b) {
    if (a && b && b->id < a->id) { ns_entry *x = a; a = b; b = x; }
    if (a) pthread_mutex_lock(&a->submit_mu);
    if (b && b != a) pthread_mutex_lock(&b->submit_mu);
}

static void unlock_two(ns_entry *a, ns_entry *b) {
    if (a) pthread_mutex_unlock(&a->submit_mu);
    if (b && b != a) pthread_mutex_unlock(&b->submit_mu);
}

int ns_rename(ns *n, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
              const char *newname, unsigned flags) {
    if (flags & ~(unsigned)RENAME_NOREPLACE) return -EINVAL;
    if (parent != NS_INO_PROMPTS || newparent != NS_INO_PROMPTS) {
        if (ns_kind(parent) != NS_DIR || ns_kind(newparent) != NS_DIR) return -ENOTDIR;
        return parent == newparent ? -EPERM : -EXDEV;
    }
    if (!name_ok(newname)) return strlen(newname) > NAME_MAX_LEN ? -ENAMETOOLONG : -EINVAL;
    char *nn = strdup(newname);
    if (!nn) return -ENOMEM;
    for (;;) {
        pthread_mutex_lock(&n->mu);
        ns_entry *e = hash_find(n, name, 0), *t = hash_find(n, newname, 0);
        if (!e) { pthread_mutex_unlock(&n->mu); free(nn); return -ENOENT; }
        if (t == e) { pthread_mutex_unlock(&n->mu); free(nn); return 0; }
        if (t && (flags & RENAME_NOREPLACE)) { pthread_mutex_unlock(&n->mu); free(nn); return -EEXIST; }
        e->refs++;
        if (t) t->refs++;
        pthread_mutex_unlock(&n->mu);
        lock_two(e, t);
        pthread_mutex_lock(&n->mu);
        int same = hash_find(n, name, 0) == e && hash_find(n, newname, 0) == t;
        char **on = same ? realloc(e->old_names, (e->n_old_names + 1) * sizeof *on) : NULL;
        if (same && on) {
            e->old_names = on;
            if (t) {                   /* replaced: gone like an rm */
                hash_remove(n, t);
                t->linked = 0;
            }
            hash_remove(n, e);
            e->old_names[e->n_old_names++] = e->name;
            e->name = nn;
            hash_insert(n, e);
            e->pctime = ns_now_rt();
        }
        pthread_mutex_unlock(&n->mu);
        if (same && on && t) ns_entry_cancel(n, t);
        unlock_two(e, t);
        pthread_mutex_lock(&n->mu);
        if (same && on && t) ns_entry_unref(n, t);   /* the link's */
        if (t) ns_entry_unref(n, t);
        ns_entry_unref(n, e);
        pthread_mutex_unlock(&n->mu);
        if (same && !on) { free(nn); return -ENOMEM; }
        if (same) return 0;
        /* a name changed while the locks were taken: look again */
    }
}

/* ------------------------------------------------------------- xattrs */

static const char *xattr_key(const char *name) {
    return strncmp(name, XATTR_PREFIX, sizeof XATTR_PREFIX - 1) ? NULL
                                                                 : name + sizeof XATTR_PREFIX - 1;
}

int ns_setxattr(ns *n, fuse_ino_t ino, const char *name, const char *value, size_t size,
                int flags) {
    const char *key = xattr_key(name);
    if (ns_kind(ino) != NS_PROMPT) return ino >= NS_INO_DYN || key ? -EPERM : -ENOTSUP;
    if (!key) return -ENOTSUP;
    if (!strcmp(key, "error")) return -EPERM;
    char reason[256] = "";
    gen_params scratch;
    gen_params_default(&scratch);
    int rc = params_set_xattr(&scratch, key, value, size, reason, sizeof reason);
    if (rc == -ENOTSUP) return -ENOTSUP;
    pthread_mutex_lock(&n->mu);
    ns_entry *e = entry_of(n, ino);
    if (!e) { rc = -ENOENT; goto out; }
    if (rc) {
        snprintf(e->err, sizeof e->err, "%s", reason);
        goto out;
    }
    xattr **pp = &e->xattrs;
    while (*pp && strcmp((*pp)->name, key)) pp = &(*pp)->next;
    if ((flags & XATTR_CREATE) && *pp) { rc = -EEXIST; goto out; }
    if ((flags & XATTR_REPLACE) && !*pp) { rc = -ENODATA; goto out; }
    char *v = malloc(size ? size : 1);
    if (!v) { rc = -ENOMEM; goto out; }
    memcpy(v, value, size);
    if (*pp) {
        free((*pp)->value);
    } else {
        xattr *x = calloc(1, sizeof *x);
        if (!x || !(x->name = strdup(key))) { free(x); free(v); rc = -ENOMEM; goto out; }
        *pp = x;
    }
    (*pp)->value = v;
    (*pp)->len = size;
out:
    pthread_mutex_unlock(&n->mu);
    return rc;
}

static ssize_t copy_out(char *buf, size_t size, const char *v, size_t len) {
    if (!size) return (ssize_t)len;
    if (len > size) return -ERANGE;
    memcpy(buf, v, len);
    return (ssize_t)len;
}

ssize_t ns_getxattr(ns *n, fuse_ino_t ino, const char *name, char *buf, size_t size) {
    const char *key = xattr_key(name);
    int kind = ns_kind(ino);
    if (!key || (kind != NS_PROMPT && kind != NS_COMPLETION)) return -ENODATA;
    ssize_t rc = -ENODATA;
    pthread_mutex_lock(&n->mu);
    ns_entry *e = entry_of(n, ino);
    if (!e) rc = -ENOENT;
    else if (!strcmp(key, "error")) {
        if (e->err[0]) rc = copy_out(buf, size, e->err, strlen(e->err));
    } else if (kind == NS_PROMPT) {
        for (xattr *x = e->xattrs; x; x = x->next)
            if (!strcmp(x->name, key)) { rc = copy_out(buf, size, x->value, x->len); break; }
    }
    pthread_mutex_unlock(&n->mu);
    return rc;
}

ssize_t ns_listxattr(ns *n, fuse_ino_t ino, char *buf, size_t size) {
    int kind = ns_kind(ino);
    if (kind != NS_PROMPT && kind != NS_COMPLETION) return 0;
    size_t need = 0, pl = sizeof XATTR_PREFIX - 1;
    ssize_t rc;
    pthread_mutex_lock(&n->mu);
    ns_entry *e = entry_of(n, ino);
    if (!e) { pthread_mutex_unlock(&n->mu); return -ENOENT; }
    if (e->err[0]) need += pl + sizeof "error";
    if (kind == NS_PROMPT)
        for (xattr *x = e->xattrs; x; x = x->next) need += pl + strlen(x->name) + 1;
    if (!size) rc = (ssize_t)need;
    else if (need > size) rc = -ERANGE;
    else {
        char *p = buf;
        if (e->err[0]) p += sprintf(p, "%serror", XATTR_PREFIX) + 1;
        if (kind == NS_PROMPT)
            for (xattr *x = e->xattrs; x; x = x->next)
                p += sprintf(p, "%s%s", XATTR_PREFIX, x->name) + 1;
        rc = (ssize_t)need;
    }
    pthread_mutex_unlock(&n->mu);
    return rc;
}

int ns_removexattr(ns *n, fuse_ino_t ino, const char *name) {
    const char *key = xattr_key(name);
    if (ns_kind(ino) != NS_PROMPT || !key) return -ENODATA;
    int rc = -ENODATA;
    pthread_mutex_lock(&n->mu);
    ns_entry *e = entry_of(n, ino);
    if (!e) rc = -ENOENT;
    else if (!strcmp(key, "error")) {
        if (e->err[0]) { e->err[0] = 0; rc = 0; }
    } else {
        for (xattr **pp = &e->xattrs; *pp; pp = &(*pp)->next)
            if (!strcmp((*pp)->name, key)) {
                xattr *x = *pp;
                *pp = x->next;
                x->next = NULL;
                xattrs_free(x);
                rc = 0;
                break;
            }
    }
    pthread_mutex_unlock(&n->mu);
    return rc;
}

/* ------------------------------------------------------- stats, setup */

int ns_keeps_completion_names(const ns *n) { return n->env.se != NULL; }


int ns_new(const ns_env *env, ns **out) {
    *out = NULL;
    ns *n = calloc(1, sizeof *n);
    if (!n) return -ENOMEM;
    n->env = *env;
    n->n_hash = 1024;
    n->hash = calloc(n->n_hash, sizeof *n->hash);
    if (!n->hash) { free(n); return -ENOMEM; }
    pthread_mutex_init(&n->mu, NULL);
    n->uid = getuid();
    n->gid = getgid();
    n->t0 = ns_now_rt();
    *out = n;
    return 0;
}

void ns_stop_generations(ns *n) {
    pthread_mutex_lock(&n->mu);
    n->shut = 1;
    pthread_mutex_unlock(&n->mu);
    for (size_t i = 0;; i++) {
        pthread_mutex_lock(&n->mu);
        if (i >= n->n_ents) { pthread_mutex_unlock(&n->mu); break; }
        ns_entry *e = n->ents[i];
        int busy = e && e->cur;
        if (busy) e->refs++;
        pthread_mutex_unlock(&n->mu);
        if (!busy) continue;
        pthread_mutex_lock(&e->submit_mu);
        ns_entry_abort(n, e, EIO, "cut short: the daemon was stopped");
        pthread_mutex_unlock(&e->submit_mu);
        pthread_mutex_lock(&n->mu);
        ns_entry_unref(n, e);
        pthread_mutex_unlock(&n->mu);
    }
}

size_t ns_open_files(ns *n) {
    size_t k = 0;
    pthread_mutex_lock(&n->mu);
    for (ns_handle *h = n->handles; h; h = h->next) k++;
    pthread_mutex_unlock(&n->mu);
    return k;
}

void ns_shutdown(ns *n) {
    outbox o = {0};
    ns_stop_generations(n);
    pthread_mutex_lock(&n->mu);
    while (n->parked) {     /* only reads and opens of texts that ended */
        parked *p = n->parked;
        unpark(n, p);
        if (p->ready) out_ready(&o, p, 0);
        else ns_out_reply(&o, p->req, NULL, 0, EINTR);
        free(p);
    }
    for (ns_handle *h = n->handles; h; h = h->next)
        if (h->ph) { fuse_pollhandle_destroy(h->ph); h->ph = NULL; h->t->polls--; }
    pthread_mutex_unlock(&n->mu);
    ns_out_flush(n, &o);
}

void ns_free(ns *n) {
    if (!n) return;
    pthread_mutex_lock(&n->mu);
    while (n->handles) handle_free(n, n->handles);
    for (size_t i = 0; i < n->n_ents; i++) {
        ns_entry *e = n->ents[i];
        if (e && e->linked) {
            e->linked = 0;
            ns_entry_unref(n, e);
        }
    }
    pthread_mutex_unlock(&n->mu);
    pthread_mutex_destroy(&n->mu);
    free(n->ents);
    free(n->texts);
    free(n->hash);
    free(n);
}
