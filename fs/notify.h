/* The notifier: one thread that sends kernel poll notifications and runs
 * deferred jobs (such as sched_release of a finished request) outside every
 * FUSE request handler and outside the scheduler's callbacks.  A kernel
 * notification sent from a thread that serves a request can deadlock
 * against the kernel's own locks (fuse_lowlevel_notify_* documents it),
 * and sched_release may not run inside a scheduler callback; queueing
 * both here satisfies both rules.  Jobs run in the order they were queued. */
#ifndef LLMFS_NOTIFY_H
#define LLMFS_NOTIFY_H

struct fuse_pollhandle;
typedef struct notify notify;

/* A deferred call; embed it in the object it concerns so that queueing
 * never allocates (and so never fails). */
typedef struct notify_job {
    void (*fn)(void *arg);
    void *arg;
    struct notify_job *next;   /* in the queue (notify.mu) */
} notify_job;

/* Starts the thread.  Returns 0 or a negative errno. */
int notify_new(notify **out);
/* Runs every queued job and notification, then stops the thread.  NULL is
 * a no-op. */
void notify_free(notify *n);

/* Takes ownership of ph: the thread calls fuse_lowlevel_notify_poll(ph)
 * and destroys it.  If memory is short the notification is dropped (the
 * handle is still destroyed). */
void notify_poll(notify *n, struct fuse_pollhandle *ph);
/* Queues job (fn(arg) on the notifier thread).  job must stay valid until
 * fn runs. */
void notify_call(notify *n, notify_job *job);
#endif
