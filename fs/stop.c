/* The orderly stop of stop.h.  The signal handler only writes a byte to a
 * pipe; the stopper thread does the work, then ends the session the way
 * libfuse's own handler does (fuse_session_exit) and interrupts the loop's
 * wait with a signal to the loop's thread. */
#include "fs/stop.h"
#include "engine/engine.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct stopper {
    struct fuse_session *se;
    ns *n;
    pthread_t thread, loop;
    int pipe[2];
};

static struct fuse_session *g_se;
static int g_pipe = -1;
static volatile sig_atomic_t g_stopping;

static void on_signal(int sig) {
    (void)sig;
    if (g_stopping) {                  /* a second signal, or the stopper's own */
        if (g_se) fuse_session_exit(g_se);
        return;
    }
    g_stopping = 1;
    char b = 1;
    int e = errno;
    if (write(g_pipe, &b, 1) < 0) {}   /* the stopper wakes; nothing to do on failure */
    errno = e;
}

static void *run(void *arg) {
    stopper *s = arg;
    char b;
    ssize_t r;
    while ((r = read(s->pipe[0], &b, 1)) < 0 && errno == EINTR) {}
    if (r != 1) return NULL;           /* stopper_free: the loop ended by itself */
    ns_stop_generations(s->n);
    int64_t end = engine_now_ns() / 1000000 + STOP_DEADLINE_MS;
    while (ns_open_files(s->n) && engine_now_ns() / 1000000 < end) {
        struct timespec d = {0, 20 * 1000000};
        nanosleep(&d, NULL);
    }
    fuse_session_exit(s->se);
    pthread_kill(s->loop, SIGTERM);    /* g_stopping is set: the handler only exits */
    return NULL;
}

stopper *stopper_start(struct fuse_session *se, ns *n) {
    stopper *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->se = se;
    s->n = n;
    s->loop = pthread_self();
    if (pipe(s->pipe)) { free(s); return NULL; }
    g_se = se;
    g_pipe = s->pipe[1];
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);          /* no SA_RESTART: the loop's wait returns */
    if (pthread_create(&s->thread, NULL, run, s)) {
        close(s->pipe[0]); close(s->pipe[1]);
        free(s);
        return NULL;
    }
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    return s;
}

void stopper_free(stopper *s) {
    if (!s) return;
    if (!g_stopping) {                 /* the loop ended by itself (unmounted) */
        g_stopping = 1;
        close(s->pipe[1]);             /* the stopper reads EOF and exits */
        s->pipe[1] = -1;
    }
    pthread_join(s->thread, NULL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    g_se = NULL;
    g_pipe = -1;
    close(s->pipe[0]);
    if (s->pipe[1] >= 0) close(s->pipe[1]);
    free(s);
}
