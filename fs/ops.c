/* This file implements the FUSE low-level operations of ops.h.  An open
 * file is an ofile: prompts and completions carry a namespace handle;
 * stats files and config carry the snapshot rendered at open, which
 * serves every offset of that handle.  Timeouts are 0 for everything that
 * changes (so sizes, mtimes and completions/ appear at once), 1 s for the
 * fixed directories, and long for the attributes of a finished completion,
 * which never change: each generation is its own inode, and the kernel is
 * told to forget completions/NAME before a rewrite is answered, so the
 * new text is found at once.  A finished completion is read through the
 * page cache (kept across opens); one still growing, and the stats files,
 * with direct_io.  Read-only handles ask for no FLUSH. */
#include "fs/ops.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct ofile {
    int kind;                   /* enum ns_kind */
    ns_handle *h;               /* prompt, completion */
    char *buf;                  /* stats, config: the snapshot */
    size_t len;
    struct ofile *prev, *next;  /* in ops_ctx.files (files_mu) */
} ofile;

static ops_ctx *ctx_of(fuse_req_t req) { return fuse_req_userdata(req); }


static void op_done(ops_ctx *c, int64_t t0) {
    if (c->st) stats_op(c->st, engine_now_ns() - t0);
}

/* The one place internal errors become errno for FUSE. */
static int fuse_errno(long rc) {
    return rc < 0 && rc > -4096 ? (int)-rc : EIO;
}

#define STABLE_TIMEOUT 86400.0

static double attr_timeout(fuse_ino_t ino, int stable) {
    return stable ? STABLE_TIMEOUT : ns_kind(ino) == NS_DIR ? 1.0 : 0.0;
}

/* How long the kernel may keep a name.  prompts/NAME changes only through
 * the kernel's own create and unlink, which update its cache; the name
 * completions/NAME moves to a new inode with every rewrite, which the
 * namespace tells the kernel before the rewrite is answered (when it can:
 * else the name is looked up on every open). */
static double entry_timeout(ops_ctx *c, fuse_ino_t ino) {
    switch (ns_kind(ino)) {
    case NS_DIR: case NS_PROMPT: return 1.0;
    case NS_COMPLETION: return ns_keeps_completion_names(c->n) ? STABLE_TIMEOUT : 0.0;
    default: return 0.0;
    }
}

static ofile *ofile_of(struct fuse_file_info *fi) {
    return fi ? (ofile *)(uintptr_t)fi->fh : NULL;
}

static ofile *ofile_new(ops_ctx *c) {
    ofile *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    pthread_mutex_lock(&c->files_mu);
    f->next = c->files;
    if (c->files) c->files->prev = f;
    c->files = f;
    pthread_mutex_unlock(&c->files_mu);
    return f;
}

static void ofile_free(ops_ctx *c, ofile *f) {
    if (!f) return;
    pthread_mutex_lock(&c->files_mu);
    if (f->prev) f->prev->next = f->next;
    else c->files = f->next;
    if (f->next) f->next->prev = f->prev;
    pthread_mutex_unlock(&c->files_mu);
    if (f->h) ns_release(c->n, f->h);
    free(f->buf);
    free(f);
}

void ops_close_all(ops_ctx *c) {
    while (c->files) ofile_free(c, c->files);
}

static void op_init(void *userdata, struct fuse_conn_info *conn) {
    /* The writeback cache breaks ">>" (sshfs learned it): keep it off. */
    conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
    if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC) conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name) {
    ops_ctx *c = ctx_of(req);
    int64_t t0 = engine_now_ns();
    struct fuse_entry_param e;
    memset(&e, 0, sizeof e);
    int stable;
    int rc = ns_lookup(c->n, parent, name, &e.attr, &stable);
    if (rc) {
        fuse_reply_err(req, fuse_errno(rc));
    } else {
        e.ino = e.attr.st_ino;
        e.generation = 1;
        e.attr_timeout = attr_timeout(e.ino, stable);
        e.entry_timeout = entry_timeout(c, e.ino);
        fuse_reply_entry(req, &e);
    }
    op_done(c, t0);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
    fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets) {
    fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
    ops_ctx *c = ctx_of(req);
    int64_t t0 = engine_now_ns();
    ofile *f = ofile_of(fi);
    struct stat st;
    int stable;
    int rc = ns_getattr(c->n, ino, f ? f->h : NULL, &st, &stable);
    if (rc) fuse_reply_err(req, fuse_errno(rc));
    else fuse_reply_attr(req, &st, attr_timeout(ino, stable));
    op_done(c, t0);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                       struct fuse_file_info *fi) {
    ops_ctx *c = ctx_of(req);
    int64_t t0 = engine_now_ns();
    ofile *f = ofile_of(fi);
    int rc = 0;
    if (to_set & FUSE_SET_ATTR_SIZE) rc = ns_truncate(c->n, ino, attr->st_size);
    if (!rc) rc = ns_set_owner(c->n, ino, to_set, attr);
    /* times are not kept: the reply shows what is */
    struct stat st;
    int stable;
    if (!rc) rc = ns_getattr(c->n, ino, f ? f->h : NULL, &st, &stable);
    if (rc) fuse_reply_err(req, fuse_errno(rc));
    else fuse_reply_attr(req, &st, attr_timeout(ino, stable));
    op_done(c, t0);
}

typedef struct {
    fuse_req_t req;
    char *buf;
    size_t size, len;
} dirbuf;

static int dir_fill(void *ud, const char *name, const struct stat *st, off_t next) {
    dirbuf *d = ud;
    size_t need = fuse_add_direntry(d->req, NULL, 0, name, NULL, 0);
    if (d->len + need > d->size) return 1;
    fuse_add_direntry(d->req, d->buf + d->len, d->size - d->len, name, st, next);
    d->len += need;
    return 0;
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi) {
    ops_ctx *c = ctx_of(req);
    int64_t t0 = engine_now_ns();
    dirbuf d = {req, malloc(size ? size : 1), size, 0};
    int rc = d.buf ? ns_readdir(c->n, ino, off, dir_fill, &d) : -ENOMEM;
    if (rc) fuse_reply_err(req, fuse_errno(rc));
    else fuse_reply_buf(req, d.buf, d.len);
    free(d.buf);
    op_done(c, t0);
}

/* Renders the snapshot of a stats file or config (caller frees f). */
static int snapshot(ops_ctx *c, fuse_ino_t ino, ofile *f) {
    if (ns_kind(ino) == NS_CONFIG) {
        f->buf = malloc(c->config_len ? c->config_len : 1);
        if (!f->buf) return -ENOMEM;
        memcpy(f->buf, c->config_yaml, c->config_len);
        f->len = c->config_len;
        return 0;
    }
    int file = ns_stats_file(ino);
    stats_row *rows = NULL;
    size_t nrows = 0;
    if (file == STATS_REQUESTS) {
        int rc = ns_active_rows(c->n, &rows, &nrows);
        if (rc) return rc;
    }
    int rc = stats_render(c->st, file, &c->env, rows, nrows, &f->buf, &f->len);
    free(rows);
    return rc;
}

/* An open of a completion waiting for its first byte (ns_open_wait). */
typedef struct {
    ops_ctx *c;
    fuse_req_t req;
    struct fuse_file_info fi;
    ofile *f;
} pending_open;

static void open_ready(void *ud, int err) {
    pending_open *po = ud;
    if (err) {
        ofile_free(po->c, po->f);
        fuse_reply_err(po->req, err);
    } else if (fuse_reply_open(po->req, &po->fi)) {
        ofile_free(po->c, po->f);      /* the opener is gone */
    }
    free(po);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
    ops_ctx *c = ctx_of(req);
    int64_t t0 = engine_now_ns();
    int kind = ns_kind(ino), rc = 0, cacheable = 0;
    ofile *f = ofile_new(c);
    if (!f) rc = -ENOMEM;
    else if (kind == NS_DIR) rc = -EISDIR;
    else if (kind == NS_NONE) rc = -ENOENT;
    else if ((kind == NS_STATS || kind == NS_CONFIG) && (fi->flags & O_ACCMODE) != O_RDONLY)
        rc = -EACCES;
    else if (kind == NS_STATS || kind == NS_CONFIG) rc = snapshot(c, ino, f);
    else rc = ns_open(c->n, ino, fi->flags, &f->h, &cacheable);   /* refuses writing a completion */
    if (!rc && f->h) kind = ns_handle_kind(f->h);    /* a chat's file is a text's number */
    if (rc) {
        ofile_free(c, f);
        fuse_reply_err(req, fuse_errno(rc));
        op_done(c, t0);
        return;
    }
    f->kind = kind;
    fi->fh = (uint64_t)(uintptr_t)f;
    /* Generated files go through the page cache only once finished: a
     * read at a stale size would be cut short. */
    fi->direct_io = kind == NS_PROMPT || kind == NS_CHAT || !cacheable;
    fi->keep_cache = cacheable;
    /* only a prompt or chat handle that may write has a flush to do */
    fi->noflush = (kind != NS_PROMPT && kind != NS_CHAT) || (fi->flags & O_ACCMODE) == O_RDONLY;
    /* an empty completion answers its open at its first byte: GNU tail
     * reads an empty regular file to EOF like a pipe */
    pending_open *po = kind == NS_COMPLETION && !(fi->flags & O_NONBLOCK) && !cacheable
                       ? malloc(sizeof *po) : NULL;
    if (po) {
        *po = (pending_open){c, req, *fi, f};
        if (ns_open_wait(c->n, f->h, req, open_ready, po)) {
            op_done(c, t0);
            return;
        }
        free(po);
    }
    if (fuse_reply_open(req, fi)) ofile_free(c, f);   /* the opener is gone */
    op_done(c, t0);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                      struct fuse_file_info *fi) {
    ops_ctx *c = ctx_of(req);
    int64_t t0 = engine_now_ns();
    struct fuse_entry_param e;
    memset(&e, 0, sizeof e);
    ofile *f = ofile_new(c);
    const struct fuse_ctx *fc = fuse_req_ctx(req);
    ns_owner who = {fc->uid, fc->gid, mode & ~fc->umask};
    int rc = f ? ns_create(c->n, parent, name, fi->flags, &who, &e.attr, &f->h) : -ENOMEM;
    if (rc) {
        ofile_free(c, f);
        fuse_reply_err(req, fuse_errno(rc));
        op_done(c, t0);
        return;
    }
    f->kind = ns_handle_kind(f->h);
    e.ino = e.attr.st_ino;
    e.generation = 1;
    e.entry_timeout = entry_timeout(c, e.ino);
    fi->fh = (uint64_t)(uintptr_t)f;
    fi->direct_io = 1;               /* a prompt: see op_write */
    fi->keep_cache = 0;
    if (fuse_reply_create(req, &e, fi)) ofile_free(c, f);
    op_done(c, t0);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi) {
    ops_ctx *c = ctx_of(req);
    int64_t t0 = engine_now_ns();
    ofile *f = ofile_of(fi);
    if (f->kind == NS_COMPLETION || f->kind == NS_CHAT) {
        ns_read_completion(c->n, f->h, req, size, off);   /* replies, now or later */
    } else if (f->kind == NS_PROMPT) {
        char *buf = malloc(size ? size : 1);
        ssize_t n = buf ? ns_read_prompt(c->n, f->h, buf, size, off) : -ENOMEM;
        if (n < 0) fuse_reply_err(req, fuse_errno(n));
        else fuse_reply_buf(req, buf, (size_t)n);
        free(buf);
    } else {
        size_t n = off >= 0 && (size_t)off < f->len ? f->len - (size_t)off : 0;
        if (n > size) n = size;
        /* A copy: once the kernel has the reply, RELEASE may free f while
         * fuse_reply_buf is still returning (the sanitizers check the
         * buffer after writev). */
        char *copy = n ? malloc(n) : NULL;
        if (n && !copy) {
            fuse_reply_err(req, ENOMEM);
        } else {
            if (n) memcpy(copy, f->buf + off, n);
            fuse_reply_buf(req, copy, n);
            free(copy);
        }
    }
    op_done(c, t0);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi) {
    ops_ctx *c = ctx_of(req);
    int64_t t0 = engine_now_ns();
    ofile *f = ofile_of(fi);
    /* a prompt is opened direct_io so that writes carry their process's
     * lock owner (its descriptor table), which flush compares */
    ssize_t n = f->h ? ns_write(c->n, f->h, buf, size, off, fi->lock_owner) : -EBADF;
    if (n < 0) fuse_reply_err(req, fuse_errno(n));
    else fuse_reply_write(req, (size_t)n);
    op_done(c, t0);
}

/* An answer that waits until the kernel has forgotten completions/NAME
 * (and completions/NAME2, for a rename). */
typedef struct {
    notify_job job;
    ns *n;
    fuse_req_t req;
    int err;
    char *name2;                /* in names, or NULL */
    char name[];
} forget_reply;

static void forget_then_reply(void *arg) {
    forget_reply *f = arg;
    ns_forget_completion(f->n, f->name);
    if (f->name2) ns_forget_completion(f->n, f->name2);
    fuse_reply_err(f->req, f->err);
    free(f);
}

/* Answers req with err once the kernel forgot completions/NAME.  The
 * forgetting runs on the notifier thread: on a FUSE worker it could wait
 * for the completions/ directory's lock held by a lookup that waits for a
 * worker, and with every worker doing the same the mount would hang. */
static void reply_after_forget(ops_ctx *c, fuse_req_t req, int err, const char *name,
                               const char *name2) {
    size_t len = strlen(name), len2 = name2 ? strlen(name2) + 1 : 0;
    forget_reply *f = c->nt && ns_keeps_completion_names(c->n)
                      ? malloc(sizeof *f + len + 1 + len2) : NULL;
    if (!f) {   /* nothing to forget (the kernel keeps no names), or no memory */
        ns_forget_completion(c->n, name);
        if (name2) ns_forget_completion(c->n, name2);
        fuse_reply_err(req, err);
        return;
    }
    f->n = c->n;
    f->req = req;
    f->err = err;
    memcpy(f->name, name, len + 1);
    f->name2 = name2 ? memcpy(f->name + len + 1, name2, len2) : NULL;
    f->job.fn = forget_then_reply;
    f->job.arg = f;
    notify_call(c->nt, &f->job);
}

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
    ops_ctx *c = ctx_of(req);
    int64_t t0 = engine_now_ns();
    ofile *f = ofile_of(fi);
    int moved = 0;
    int rc = f->kind == NS_PROMPT || f->kind == NS_CHAT
             ? ns_flush(c->n, f->h, fi->lock_owner, &moved) : 0;
    if (moved) {
        char name[256];
        ns_handle_name(c->n, f->h, name, sizeof name);
        reply_after_forget(c, req, rc ? fuse_errno(rc) : 0, name, NULL);
    }
    else fuse_reply_err(req, rc ? fuse_errno(rc) : 0);
    op_done(c, t0);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
    ops_ctx *c = ctx_of(req);
    int64_t t0 = engine_now_ns();
    ofile_free(c, ofile_of(fi));
    fuse_reply_err(req, 0);
    op_done(c, t0);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi) {
    fuse_reply_err(req, 0);      /* everything is in memory already */
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name) {
    ops_ctx *c = ctx_of(req);
    int64_t t0 = engine_now_ns();
    int rc = ns_unlink(c->n, parent, name);
    if (!rc && parent == NS_INO_PROMPTS) reply_after_forget(c, req, 0, name, NULL);
    else fuse_reply_err(req, rc ? fuse_errno(rc) : 0);
    op_done(c, t0);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                      const char *newname, unsigned int flags) {
    ops_ctx *c = ctx_of(req);
    int64_t t0 = engine_now_ns();
    int rc = ns_rename(c->n, parent, name, newparent, newname, flags);
    /* both completion names now name something else (or nothing) */
    if (!rc) reply_after_forget(c, req, 0, name, newname);
    else fuse_reply_err(req, fuse_errno(rc));
    op_done(c, t0);
}

static void op_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
                    struct fuse_pollhandle *ph) {
    ops_ctx *c = ctx_of(req);
    int64_t t0 = engine_now_ns();
    ofile *f = ofile_of(fi);
    unsigned ev;
    if (f->h) {
        ev = ns_poll(c->n, f->h, ph);      /* takes ph */
    } else {
        if (ph) fuse_pollhandle_destroy(ph);
        ev = POLLIN | POLLRDNORM;
    }
    fuse_reply_poll(req, ev);
    op_done(c, t0);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
                        size_t size, int flags) {
    ops_ctx *c = ctx_of(req);
    int64_t t0 = engine_now_ns();
    int rc = ns_setxattr(c->n, ino, name, value, size, flags);
    fuse_reply_err(req, rc ? fuse_errno(rc) : 0);
    op_done(c, t0);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size) {
    ops_ctx *c = ctx_of(req);
    int64_t t0 = engine_now_ns();
    char *buf = size ? malloc(size) : NULL;
    ssize_t n = size && !buf ? -ENOMEM : ns_getxattr(c->n, ino, name, buf, size);
    if (n < 0) fuse_reply_err(req, fuse_errno(n));
    else if (!size) fuse_reply_xattr(req, (size_t)n);
    else fuse_reply_buf(req, buf, (size_t)n);
    free(buf);
    op_done(c, t0);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
    ops_ctx *c = ctx_of(req);
    int64_t t0 = engine_now_ns();
    char *buf = size ? malloc(size) : NULL;
    ssize_t n = size && !buf ? -ENOMEM : ns_listxattr(c->n, ino, buf, size);
    if (n < 0) fuse_reply_err(req, fuse_errno(n));
    else if (!size) fuse_reply_xattr(req, (size_t)n);
    else fuse_reply_buf(req, buf, (size_t)n);
    free(buf);
    op_done(c, t0);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name) {
    ops_ctx *c = ctx_of(req);
    int64_t t0 = engine_now_ns();
    int rc = ns_removexattr(c->n, ino, name);
    fuse_reply_err(req, rc ? fuse_errno(rc) : 0);
    op_done(c, t0);
}

const struct fuse_lowlevel_ops ops_table = {
    .init = op_init,
    .lookup = op_lookup,
    .forget = op_forget,
    .forget_multi = op_forget_multi,
    .getattr = op_getattr,
    .setattr = op_setattr,
    .readdir = op_readdir,
    .open = op_open,
    .create = op_create,
    .read = op_read,
    .write = op_write,
    .flush = op_flush,
    .rename = op_rename,
    .release = op_release,
    .fsync = op_fsync,
    .unlink = op_unlink,
    .poll = op_poll,
    .setxattr = op_setxattr,
    .getxattr = op_getxattr,
    .listxattr = op_listxattr,
    .removexattr = op_removexattr,
};
