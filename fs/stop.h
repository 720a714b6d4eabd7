/* Stopping the daemon in order on SIGTERM, SIGINT or SIGHUP: generations
 * still running are cut (their readers get the bytes so far, then EIO, with
 * the reason in user.llmfs.error), finished completions stay readable to
 * EOF, and the session ends once every file is closed or after a short
 * deadline (tail -f never closes).  A second signal ends it at once. */
#ifndef LLMFS_STOP_H
#define LLMFS_STOP_H
#include "fs/ns.h"          /* FUSE_USE_VERSION, then fuse_lowlevel.h */

#define STOP_DEADLINE_MS 2000

typedef struct stopper stopper;

/* Installs the signal handlers (after fuse_set_signal_handlers, whose
 * SIGPIPE setting stays) and starts the thread that stops the session:
 * call after fuse_daemonize, from the thread that runs the FUSE loop.
 * NULL on failure (libfuse's own handlers then remain). */
stopper *stopper_start(struct fuse_session *se, ns *n);
/* Joins the thread; after the FUSE loop has returned. */
void stopper_free(stopper *s);
#endif
