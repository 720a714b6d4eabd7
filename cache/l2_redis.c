/* This file implements the Redis tier of l2_redis.h.
 *
 * Locking: mu protects the connection, the up flag and the counters; a
 * command runs with mu held (hiredis contexts are not thread-safe), so
 * its timeout bounds how long anyone waits.  The reconnecting thread
 * connects without mu and installs the connection under it. */
#include "cache/l2_redis.h"

#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache/url.h"
#include "engine/errbuf.h"

#define PREFIX "llmfs:rec:"
#define MAX_VALUE (RECORD_HEADER_BYTES + (size_t)(RECORD_MAX_TEXT + 4 * RECORD_MAX_TOKENS) * 2)

struct l2r {
    url u;                       /* the parsed URL, password included */
    char show[4096];             /* what may be shown */
    int db;
    uint8_t *hkey;               /* (hkey_len) HMAC key, NULL: none */
    size_t hkey_len;
    pthread_mutex_t mu;          /* ctx, up, the counters */
    pthread_cond_t cv;           /* wakes the thread: down, or stop */
    redisContext *ctx;           /* NULL while down */
    int stop;
    pthread_t th;
    int started;
    l2r_stats st;
};

/* A connection, authenticated and on its database; NULL on failure. */
static redisContext *dial(l2r *r) {
    struct timeval tv = {0, L2R_TIMEOUT_MS * 1000};
    redisContext *c = redisConnectWithTimeout(r->u.host, r->u.port ? r->u.port : 6379, tv);
    if (!c || c->err) goto fail;
    redisSetTimeout(c, tv);
    redisReply *rep = NULL;
    if (r->u.has_password) {
        rep = r->u.user[0] ? redisCommand(c, "AUTH %s %s", r->u.user, r->u.password)
                           : redisCommand(c, "AUTH %s", r->u.password);
        if (!rep || rep->type == REDIS_REPLY_ERROR) goto fail_rep;
        freeReplyObject(rep);
    }
    if (r->db) {
        rep = redisCommand(c, "SELECT %d", r->db);
        if (!rep || rep->type == REDIS_REPLY_ERROR) goto fail_rep;
        freeReplyObject(rep);
    }
    return c;
fail_rep:
    if (rep) freeReplyObject(rep);
fail:
    if (c) redisFree(c);
    return NULL;
}

/* The connection failed (mu held): drop it, count, let the thread retry. */
static void went_down(l2r *r) {
    if (r->ctx) redisFree(r->ctx);
    r->ctx = NULL;
    r->st.up = 0;
    r->st.errors++;
    pthread_cond_signal(&r->cv);
}

static void *reconnect_main(void *arg) {
    l2r *r = arg;
    pthread_mutex_lock(&r->mu);
    while (!r->stop) {
        if (r->ctx) {
            pthread_cond_wait(&r->cv, &r->mu);
            continue;
        }
        pthread_mutex_unlock(&r->mu);
        redisContext *c = dial(r);
        pthread_mutex_lock(&r->mu);
        if (c && !r->stop) {
            r->ctx = c;
            r->st.up = 1;
            continue;
        }
        if (c) redisFree(c);
        struct timespec due;
        clock_gettime(CLOCK_REALTIME, &due);
        due.tv_nsec += L2R_RETRY_MS * 1000000L;
        if (due.tv_nsec >= 1000000000L) { due.tv_sec++; due.tv_nsec -= 1000000000L; }
        if (!r->stop) pthread_cond_timedwait(&r->cv, &r->mu, &due);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

static int read_key_file(const char *path, uint8_t **out, size_t *len, char *msg, size_t msglen) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errbuf_set(msg, msglen, -errno, "cache.l2_hmac_key_file %s: %s", path, strerror(errno));
    uint8_t buf[4096];
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    if (n < 16) {
        explicit_bzero(buf, sizeof buf);
        return errbuf_set(msg, msglen, -EINVAL, "cache.l2_hmac_key_file %s: %s", path,
                          n < 0 ? strerror(errno) : "a key of at least 16 bytes is needed");
    }
    *out = malloc((size_t)n);
    if (*out) memcpy(*out, buf, (size_t)n);
    explicit_bzero(buf, sizeof buf);
    if (!*out) return errbuf_set(msg, msglen, -ENOMEM, "out of memory");
    *len = (size_t)n;
    return 0;
}

int l2r_open(const char *s, const char *hmac_key_file, l2r **out, char *msg, size_t msglen) {
    *out = NULL;
    l2r *r = calloc(1, sizeof *r);
    if (!r) return errbuf_set(msg, msglen, -ENOMEM, "out of memory");
    char why[160];
    int rc = 0;
    if (url_parse(s, &r->u, why, sizeof why)) {
        rc = errbuf_set(msg, msglen, -EINVAL, "cache.l2_redis: %s", why);
        goto fail;
    }
    if (strcmp(r->u.scheme, "redis")) {
        rc = errbuf_set(msg, msglen, -EINVAL, "cache.l2_redis: expected redis://HOST[:PORT][/DB]");
        goto fail;
    }
    const char *p = r->u.path;
    if (*p == '/') p++;
    if (*p) {
        char *end;
        long db = strtol(p, &end, 10);
        if (*end || db < 0 || db > 65535 || end == p) {
            rc = errbuf_set(msg, msglen, -EINVAL, "cache.l2_redis: the path is a database number");
            goto fail;
        }
        r->db = (int)db;
    }
    url_show(&r->u, r->show, sizeof r->show);
    if (hmac_key_file && (rc = read_key_file(hmac_key_file, &r->hkey, &r->hkey_len, msg, msglen)))
        goto fail;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->ctx = dial(r);
    r->st.up = r->ctx != NULL;
    *out = r;
    return 0;
fail:
    explicit_bzero(&r->u, sizeof r->u);
    free(r);
    return rc;
}

int l2r_start(l2r *r) {
    int e = pthread_create(&r->th, NULL, reconnect_main, r);
    if (e) return -e;
    r->started = 1;
    return 0;
}

void l2r_close(l2r *r) {
    if (!r) return;
    if (r->started) {
        pthread_mutex_lock(&r->mu);
        r->stop = 1;
        pthread_cond_signal(&r->cv);
        pthread_mutex_unlock(&r->mu);
        pthread_join(r->th, NULL);
    }
    if (r->ctx) redisFree(r->ctx);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    if (r->hkey) explicit_bzero(r->hkey, r->hkey_len);
    free(r->hkey);
    explicit_bzero(&r->u, sizeof r->u);
    free(r);
}

const char *l2r_show(const l2r *r) { return r->show; }

static void key_name(const uint8_t key[16], char out[sizeof PREFIX + 32]) {
    static const char hx[] = "0123456789abcdef";
    memcpy(out, PREFIX, sizeof PREFIX - 1);
    char *o = out + sizeof PREFIX - 1;
    for (int i = 0; i < 16; i++) {
        *o++ = hx[key[i] >> 4];
        *o++ = hx[key[i] & 15];
    }
    *o = 0;
}

/* HMAC-SHA-256 of the record image buf[0, len) under r's key. */
static void mac(const l2r *r, const uint8_t *buf, size_t len, uint8_t out[L2R_HMAC_BYTES]) {
    unsigned int ol = L2R_HMAC_BYTES;
    HMAC(EVP_sha256(), r->hkey, (int)r->hkey_len, buf, len, out, &ol);
}

int l2r_get(l2r *r, const uint8_t key[16], record **out) {
    char name[sizeof PREFIX + 32];
    *out = NULL;
    key_name(key, name);
    pthread_mutex_lock(&r->mu);
    r->st.l2.lookups++;
    if (!r->ctx) {
        r->st.skipped++;
        pthread_mutex_unlock(&r->mu);
        return -ENOENT;
    }
    redisReply *rep = redisCommand(r->ctx, "GET %s", name);
    if (!rep || rep->type == REDIS_REPLY_ERROR) {
        if (rep) freeReplyObject(rep);
        went_down(r);
        pthread_mutex_unlock(&r->mu);
        return -ENOENT;
    }
    pthread_mutex_unlock(&r->mu);
    int rc = -ENOENT;
    if (rep->type == REDIS_REPLY_STRING) {
        const uint8_t *v = (const uint8_t *)rep->str;
        size_t n = (size_t)rep->len;
        int forged = 0;
        if (r->hkey) {
            uint8_t m[L2R_HMAC_BYTES];
            if (n < L2R_HMAC_BYTES) forged = 1;
            else {
                n -= L2R_HMAC_BYTES;
                mac(r, v, n, m);
                forged = CRYPTO_memcmp(m, v + n, L2R_HMAC_BYTES) != 0;
            }
        }
        if (!forged) rc = record_decode(v, n, key, out);
        pthread_mutex_lock(&r->mu);
        if (forged) r->st.forged++;
        else if (rc == -EINVAL || (rc == -ENOENT && n)) r->st.l2.corrupt++;
        else if (!rc) r->st.l2.hits++;
        pthread_mutex_unlock(&r->mu);
        if (rc && rc != -ENOMEM) rc = -ENOENT;
    }
    freeReplyObject(rep);
    return rc;
}

int l2r_put(l2r *r, const record *const *recs, int n) {
    uint8_t *img[64];
    size_t len[64];
    const record *which[64];
    int failed = 0, m = 0;
    for (int i = 0; i < n; i++) {
        uint8_t *b = NULL;
        size_t l = 0;
        if (m == 64 || record_encode(recs[i], 3, &b, &l)) { failed++; continue; }
        if (r->hkey) {
            uint8_t *nb = realloc(b, l + L2R_HMAC_BYTES);
            if (!nb) { free(b); failed++; continue; }
            b = nb;
            mac(r, b, l, b + l);
            l += L2R_HMAC_BYTES;
        }
        img[m] = b;
        len[m] = l;
        which[m] = recs[i];
        m++;
    }
    int sent = 0;
    pthread_mutex_lock(&r->mu);
    if (!r->ctx) {
        r->st.skipped += (uint64_t)m;
        failed += m;
    } else {
        /* pipelined: every SET, then every reply */
        for (int i = 0; i < m; i++) {
            char name[sizeof PREFIX + 32];
            key_name(which[i]->key, name);
            if (redisAppendCommand(r->ctx, "SET %s %b", name, img[i], len[i]) == REDIS_OK) sent++;
        }
        int lost = 0;
        for (int i = 0; i < sent; i++) {
            redisReply *rep = NULL;
            if (redisGetReply(r->ctx, (void **)&rep) != REDIS_OK || !rep) { lost = 1; break; }
            if (rep->type == REDIS_REPLY_ERROR) r->st.l2.write_errors++;
            else r->st.l2.writes++;
            freeReplyObject(rep);
        }
        if (lost || sent < m) {
            r->st.l2.write_errors += (uint64_t)(m - sent);
            failed += m - sent;
            went_down(r);
        }
    }
    pthread_mutex_unlock(&r->mu);
    for (int i = 0; i < m; i++) free(img[i]);
    return failed;
}

void l2r_get_stats(l2r *r, l2r_stats *out) {
    pthread_mutex_lock(&r->mu);
    *out = r->st;
    pthread_mutex_unlock(&r->mu);
}
