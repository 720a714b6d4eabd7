/* This file implements the notifier thread of notify.h: a FIFO of jobs
 * under one mutex, drained by one thread that holds no lock while a job
 * runs.  Poll notifications are jobs whose node is allocated here. */
#define _GNU_SOURCE   /* pthread_setname_np */
#define FUSE_USE_VERSION 312
#include "fs/notify.h"

#include <errno.h>
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdlib.h>

struct notify {
    pthread_t th;
    pthread_mutex_t mu;        /* protects head, tail, stop */
    pthread_cond_t cv;         /* signalled when a job is queued or on stop */
    notify_job *head, *tail;
    int stop;
};

typedef struct {
    notify_job job;
    struct fuse_pollhandle *ph;
} poll_job;

static void poll_run(void *arg) {
    poll_job *p = arg;
    fuse_lowlevel_notify_poll(p->ph);   /* errors (reader gone) are harmless */
    fuse_pollhandle_destroy(p->ph);
    free(p);
}

static void *notify_main(void *arg) {
    notify *n = arg;
    pthread_setname_np(pthread_self(), "llmfs-notify");
    pthread_mutex_lock(&n->mu);
    for (;;) {
        while (!n->head && !n->stop) pthread_cond_wait(&n->cv, &n->mu);
        if (!n->head) break;                 /* stopping and drained */
        notify_job *j = n->head;
        n->head = j->next;
        if (!n->head) n->tail = NULL;
        pthread_mutex_unlock(&n->mu);
        j->fn(j->arg);                       /* may free j */
        pthread_mutex_lock(&n->mu);
    }
    pthread_mutex_unlock(&n->mu);
    return NULL;
}

int notify_new(notify **out) {
    *out = NULL;
    notify *n = calloc(1, sizeof *n);
    if (!n) return -ENOMEM;
    pthread_mutex_init(&n->mu, NULL);
    pthread_cond_init(&n->cv, NULL);
    int rc = pthread_create(&n->th, NULL, notify_main, n);
    if (rc) {
        pthread_mutex_destroy(&n->mu);
        pthread_cond_destroy(&n->cv);
        free(n);
        return -rc;
    }
    *out = n;
    return 0;
}

void notify_free(notify *n) {
    if (!n) return;
    pthread_mutex_lock(&n->mu);
    n->stop = 1;
    pthread_cond_signal(&n->cv);
    pthread_mutex_unlock(&n->mu);
    pthread_join(n->th, NULL);
    pthread_mutex_destroy(&n->mu);
    pthread_cond_destroy(&n->cv);
    free(n);
}

void notify_call(notify *n, notify_job *job) {
    job->next = NULL;
    pthread_mutex_lock(&n->mu);
    if (n->tail) n->tail->next = job;
    else n->head = job;
    n->tail = job;
    pthread_cond_signal(&n->cv);
    pthread_mutex_unlock(&n->mu);
}

void notify_poll(notify *n, struct fuse_pollhandle *ph) {
    if (!ph) return;
    poll_job *p = malloc(sizeof *p);
    if (!p) { fuse_pollhandle_destroy(ph); return; }
    p->ph = ph;
    p->job.fn = poll_run;
    p->job.arg = p;
    notify_call(n, &p->job);
}
