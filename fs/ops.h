/* The FUSE low-level operations of llmfs: they turn kernel requests into
 * namespace calls (ns.h), render stats/ files at open (stats.h), map
 * internal errors to errno in one place, and reply to every request
 * exactly once (a completion read may be answered later, from the
 * scheduler's thread).  Each handler's service time goes into the FUSE op
 * histogram. */
#ifndef LLMFS_OPS_H
#define LLMFS_OPS_H
#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 312
#endif
#include <fuse_lowlevel.h>
#include <pthread.h>

#include "fs/ns.h"
#include "fs/stats.h"

/* The session's userdata.  Its fields may be filled after the session is
 * created, but before the loop starts. */
typedef struct ops_ctx {
    ns *n;
    stats *st;
    notify *nt;                 /* answers operations that must wait for the kernel */
    stats_env env;              /* for rendering stats/ */
    const char *config_yaml;    /* the config file's content (not owned) */
    size_t config_len;
    /* files open now (ops.c's own: zero-initialize) */
    pthread_mutex_t files_mu;
    struct ofile *files;
} ops_ctx;

/* Closes the files the kernel still had open when the session ended (it
 * will not send their release).  After the loop, before ns_free. */
void ops_close_all(ops_ctx *c);

extern const struct fuse_lowlevel_ops ops_table;
#endif
