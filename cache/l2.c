/* This file implements the disk tier of l2.h.  Record files are named by
 * their key (32 hex digits + ".rec"); temporary files start with ".tmp-".
 * The index (key -> file size and payload size) and the policy are
 * protected by l2.mu; file reads, writes and compression happen outside
 * it. */
#include "cache/l2.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache/fingerprint.h"
#include "cache/keymap.h"
#include "cache/le.h"

#define LOCK_NAME "lock"
#define TMP_PREFIX ".tmp-"
#define ZSTD_LEVEL 3

typedef struct l2_ent {
    km_node kn;
    pol_node pn;
    uint64_t raw;            /* payload bytes before compression */
    int64_t mtime;           /* for the scan's order only */
} l2_ent;

struct l2 {
    char *dir;
    int lock_fd;
    size_t max_bytes;
    pthread_mutex_t mu;      /* protects everything below */
    keymap idx;
    policy *pol;
    double (*clock)(void);   /* the policy's now */
    uint64_t raw_bytes;
    uint64_t lookups, hits, evictions, writes, write_errors, corrupt, foreign;
    unsigned tmp_seq;
};

static void hex16(const uint8_t key[16], char out[33]) {
    static const char d[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        out[2 * i] = d[key[i] >> 4];
        out[2 * i + 1] = d[key[i] & 15];
    }
    out[32] = 0;
}

/* The key a record file name spells, or -1 if name is not one. */
static int name_key(const char *name, uint8_t key[16]) {
    if (strlen(name) != 36 || strcmp(name + 32, ".rec")) return -1;
    for (int i = 0; i < 32; i++) {
        char c = name[i];
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (v < 0) return -1;
        if (i % 2) key[i / 2] |= (uint8_t)v;
        else key[i / 2] = (uint8_t)(v << 4);
    }
    return 0;
}

static void rec_path(const l2 *d, const uint8_t key[16], char *out, size_t cap) {
    char hex[33];
    hex16(key, hex);
    snprintf(out, cap, "%s/%s.rec", d->dir, hex);
}

/* Removes e from the index and frees it (mu held); evicted: for the
 * bound, rather than replaced or found damaged. */
static void ent_drop(l2 *d, l2_ent *e, int evicted) {
    keymap_del(&d->idx, &e->kn);
    d->pol->ops->remove(d->pol, &e->pn, evicted);
    d->raw_bytes -= e->raw;
    free(e);
}

/* The policy's clock reads now (mu held). */
static void tick(l2 *d) { d->pol->now = d->clock(); }

/* Evicts until the bound holds (mu held). */
static void evict(l2 *d) {
    char path[4096];
    tick(d);
    while (d->pol->bytes > d->max_bytes) {
        pol_node *v = d->pol->ops->victim(d->pol);
        if (!v) break;
        l2_ent *e = KM_CONTAINER(v, l2_ent, pn);
        rec_path(d, e->kn.key, path, sizeof path);
        unlink(path);
        ent_drop(d, e, 1);
        d->evictions++;
    }
}

/* mkdir -p with mode 0700 for what it creates. */
static int mkdirs(const char *dir) {
    char *p = strdup(dir);
    if (!p) return -ENOMEM;
    int rc = 0;
    for (char *s = p + 1;; s++) {
        if (*s == '/' || !*s) {
            char c = *s;
            *s = 0;
            if (mkdir(p, 0700) && errno != EEXIST) { rc = -errno; break; }
            *s = c;
            if (!c) break;
        }
    }
    free(p);
    if (!rc) {
        struct stat st;
        if (stat(dir, &st)) rc = -errno;
        else if (!S_ISDIR(st.st_mode)) rc = -ENOTDIR;
    }
    return rc;
}

/* Reads up to cap bytes at the start of an open file. */
static ssize_t read_full(int fd, void *buf, size_t cap) {
    size_t got = 0;
    while (got < cap) {
        ssize_t r = read(fd, (char *)buf + got, cap - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -errno;
        if (r == 0) break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

static int by_mtime(const void *a, const void *b) {
    const l2_ent *x = *(l2_ent *const *)a, *y = *(l2_ent *const *)b;
    return (x->mtime > y->mtime) - (x->mtime < y->mtime);
}

/* Looks at one directory entry during the scan: indexes a good record,
 * drops a damaged one of ours, counts a foreign file. */
static void scan_one(l2 *d, int dfd, const char *name, l2_ent ***list, size_t *n, size_t *cap) {
    uint8_t key[16], hkey[16], hdr[RECORD_HEADER_BYTES];
    int is_tmp = !strncmp(name, TMP_PREFIX, sizeof TMP_PREFIX - 1);
    if (!strcmp(name, LOCK_NAME) || !strcmp(name, FINGERPRINT_FILE) ||
        !strncmp(name, ".fingerprints", 13))
        return;
    int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) return;
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) { close(fd); return; }
    ssize_t got = read_full(fd, hdr, sizeof hdr);
    close(fd);
    int rc = got < 0 ? -EIO : record_check_header(hdr, (size_t)got, (uint64_t)st.st_size, hkey);
    if (rc == -ENOENT || rc == -EIO) {
        if (!is_tmp) d->foreign++;      /* not ours: never touched */
        return;
    }
    /* ours from here */
    if (is_tmp || rc || name_key(name, key) || memcmp(key, hkey, 16)) {
        if (!is_tmp) d->corrupt++;
        unlinkat(dfd, name, 0);         /* a crash's leftover or a damaged record */
        return;
    }
    l2_ent *e = calloc(1, sizeof *e);
    if (!e) return;
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 256;
        l2_ent **l = realloc(*list, c * sizeof *l);
        if (!l) { free(e); return; }
        *list = l;
        *cap = c;
    }
    memcpy(e->kn.key, key, 16);
    memcpy(&e->pn.key, key, sizeof e->pn.key);
    e->pn.bytes = (size_t)st.st_size;
    e->raw = get_u64(hdr + 32);
    e->mtime = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    (*list)[(*n)++] = e;
}

static void scan(l2 *d) {
    DIR *dir = opendir(d->dir);
    if (!dir) return;
    l2_ent **list = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(dir)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            scan_one(d, dirfd(dir), de->d_name, &list, &n, &cap);
    closedir(dir);
    if (n) qsort(list, n, sizeof *list, by_mtime);   /* oldest first: least recently used */
    tick(d);
    for (size_t i = 0; i < n; i++) {
        keymap_put(&d->idx, &list[i]->kn);
        d->pol->ops->insert(d->pol, &list[i]->pn);
        d->raw_bytes += list[i]->raw;
    }
    free(list);
    evict(d);
}

int l2_open(const char *dir, size_t max_bytes, const char *policy_name, l2 **out, char *msg,
            size_t msglen) {
    *out = NULL;
    msg[0] = 0;
    int rc = mkdirs(dir);
    if (rc) {
        snprintf(msg, msglen, "cache.l2_dir %s: %s: running without the disk cache", dir,
                 strerror(-rc));
        return rc == -ENOMEM ? rc : 0;
    }
    l2 *d = calloc(1, sizeof *d);
    if (!d || !(d->dir = strdup(dir)) || keymap_init(&d->idx) || !(d->pol = policy_new(policy_name, max_bytes))) {
        if (d) { keymap_release(&d->idx); free(d->dir); free(d); }
        return -ENOMEM;
    }
    pthread_mutex_init(&d->mu, NULL);
    d->max_bytes = max_bytes;
    d->clock = policy_clock_now;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, LOCK_NAME);
    d->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (d->lock_fd < 0 || flock(d->lock_fd, LOCK_EX | LOCK_NB)) {
        int e = errno;
        if (e == EWOULDBLOCK)
            snprintf(msg, msglen, "cache.l2_dir %s is in use by another llmfs: "
                     "running without the disk cache", dir);
        else
            snprintf(msg, msglen, "cache.l2_dir %s: %s: running without the disk cache", dir,
                     strerror(e));
        l2_close(d);
        return 0;
    }
    scan(d);
    *out = d;
    return 0;
}

void l2_close(l2 *d) {
    if (!d) return;
    if (d->pol) {
        pol_node *v;
        while ((v = d->pol->ops->victim(d->pol))) ent_drop(d, KM_CONTAINER(v, l2_ent, pn), 0);
        policy_free(d->pol);
    }
    keymap_release(&d->idx);
    if (d->lock_fd >= 0) close(d->lock_fd);   /* releases the lock */
    pthread_mutex_destroy(&d->mu);
    free(d->dir);
    free(d);
}

/* Reads the whole file at path into a new buffer. */
static int slurp(const char *path, uint8_t **out, size_t *len) {
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return -errno;
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st)) rc = -errno;
    else if (st.st_size < RECORD_HEADER_BYTES ||
             (uint64_t)st.st_size > RECORD_HEADER_BYTES + 2ull * RECORD_MAX_TEXT + (64u << 20))
        rc = -EINVAL;
    uint8_t *buf = rc ? NULL : malloc((size_t)st.st_size);
    if (!rc && !buf) rc = -ENOMEM;
    if (!rc) {
        ssize_t got = read_full(fd, buf, (size_t)st.st_size);
        if (got != st.st_size) rc = got < 0 ? (int)got : -EINVAL;
    }
    close(fd);
    if (rc) { free(buf); return rc; }
    *out = buf;
    *len = (size_t)st.st_size;
    return 0;
}

void l2_set_clock(l2 *d, double (*clock)(void)) {
    pthread_mutex_lock(&d->mu);
    d->clock = clock ? clock : policy_clock_now;
    pthread_mutex_unlock(&d->mu);
}

/* l2_get, or with use unset l2_peek. */
static int get(l2 *d, const uint8_t key[16], record **out, double *reuse, int use) {
    char path[4096];
    *out = NULL;
    if (reuse) *reuse = -1;
    pthread_mutex_lock(&d->mu);
    km_node *k = keymap_get(&d->idx, key);
    if (use) {
        d->lookups++;
        if (k) {
            pol_node *pn = &KM_CONTAINER(k, l2_ent, kn)->pn;
            tick(d);
            d->pol->ops->hit(d->pol, pn);
            if (reuse) *reuse = policy_predict(d->pol, pn);
        }
    }
    pthread_mutex_unlock(&d->mu);
    if (!k) return -ENOENT;
    rec_path(d, key, path, sizeof path);
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = slurp(path, &buf, &len);
    if (rc == -ENOMEM) return rc;
    if (!rc) {
        rc = record_decode(buf, len, key, out);
        free(buf);
        if (rc == -ENOMEM) return rc;
    }
    pthread_mutex_lock(&d->mu);
    if (!rc) {
        d->hits += use;
    } else {
        /* Gone or damaged since the scan: never served.  A damaged record
         * of ours is deleted; a file that lost our magic is left alone. */
        if (rc == -EINVAL) { unlink(path); d->corrupt++; }
        else if (rc != -ENOENT || access(path, F_OK) == 0) d->corrupt++;
        if ((k = keymap_get(&d->idx, key))) ent_drop(d, KM_CONTAINER(k, l2_ent, kn), 0);
        rc = -ENOENT;
    }
    pthread_mutex_unlock(&d->mu);
    return rc;
}

int l2_get(l2 *d, const uint8_t key[16], record **out, double *reuse) {
    return get(d, key, out, reuse, 1);
}

int l2_peek(l2 *d, const uint8_t key[16], record **out) { return get(d, key, out, NULL, 0); }

int l2_due(l2 *d, double within, uint8_t (*keys)[16], int max) {
    int n = 0;
    pthread_mutex_lock(&d->mu);
    tick(d);
    for (size_t i = 0; i < d->idx.nb && n < max; i++)
        for (km_node *k = d->idx.b[i]; k && n < max; k = k->next)
            if (policy_due(d->pol, &KM_CONTAINER(k, l2_ent, kn)->pn, within))
                memcpy(keys[n++], k->key, 16);
    pthread_mutex_unlock(&d->mu);
    return n;
}

/* Writes all of buf to a new file path (0600); returns its open
 * descriptor (to fsync) or a negative errno (nothing left behind). */
static int write_file(const char *path, const uint8_t *buf, size_t len) {
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return -errno;
    int rc = 0;
    for (size_t off = 0; off < len && !rc;) {
        ssize_t w = write(fd, buf + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) rc = -errno;
        else off += (size_t)w;
    }
    if (rc) { close(fd); unlink(path); return rc; }
    return fd;
}

/* One record of a batch on its way to disk. */
typedef struct {
    const record *r;
    uint8_t *buf;              /* its encoding */
    size_t len;
    int fd;                    /* its temporary file, open; -1 none */
    int rc;
    char tmp[4096];
} pending;

/* Indexes a record that reached its name (mu held). */
static int index_put(l2 *d, const record *r, size_t len, uint64_t raw) {
    km_node *old = keymap_get(&d->idx, r->key);
    if (old) ent_drop(d, KM_CONTAINER(old, l2_ent, kn), 0);
    l2_ent *e = calloc(1, sizeof *e);
    if (!e) return -ENOMEM;    /* written but not indexed: found again at the next scan */
    memcpy(e->kn.key, r->key, 16);
    memcpy(&e->pn.key, r->key, sizeof e->pn.key);
    e->pn.bytes = len;
    e->pn.cost = (double)r->gen_us;
    e->raw = raw;
    keymap_put(&d->idx, &e->kn);
    tick(d);
    d->pol->ops->insert(d->pol, &e->pn);
    d->raw_bytes += raw;
    d->writes++;
    evict(d);
    return 0;
}

int l2_put(l2 *d, const record *const *recs, int n) {
    pending *p = calloc((size_t)(n > 0 ? n : 1), sizeof *p);
    if (!p) return n;
    pthread_mutex_lock(&d->mu);
    unsigned seq = d->tmp_seq;
    d->tmp_seq += (unsigned)n;
    pthread_mutex_unlock(&d->mu);
    /* every file written, then every one made durable (the first fsync
     * commits the others' journal too), then every one renamed */
    for (int i = 0; i < n; i++) {
        pending *q = &p[i];
        q->r = recs[i];
        q->fd = -1;
        snprintf(q->tmp, sizeof q->tmp, "%s/" TMP_PREFIX "%ld-%u", d->dir, (long)getpid(),
                 seq + (unsigned)i);
        q->rc = record_encode(q->r, ZSTD_LEVEL, &q->buf, &q->len);
        if (!q->rc && q->len > d->max_bytes) q->rc = -EFBIG;   /* would evict everything */
        if (!q->rc) {
            int fd = write_file(q->tmp, q->buf, q->len);
            if (fd < 0) q->rc = fd;
            else q->fd = fd;
        }
    }
    for (int i = 0; i < n; i++) {
        pending *q = &p[i];
        if (q->fd < 0) continue;
        if (fsync(q->fd) && !q->rc) q->rc = -errno;
        if (close(q->fd) && !q->rc) q->rc = -errno;
        q->fd = -1;
        char path[4096];
        rec_path(d, q->r->key, path, sizeof path);
        if (!q->rc && rename(q->tmp, path)) q->rc = -errno;
        if (q->rc) unlink(q->tmp);
    }
    int failed = 0;
    pthread_mutex_lock(&d->mu);
    for (int i = 0; i < n; i++) {
        pending *q = &p[i];
        if (!q->rc) q->rc = index_put(d, q->r, q->len, get_u64(q->buf + 32));
        if (q->rc && q->rc != -EFBIG && q->rc != -ENOMEM) d->write_errors++;
        failed += q->rc != 0;
        free(q->buf);
    }
    pthread_mutex_unlock(&d->mu);
    free(p);
    return failed;
}

void l2_get_stats(l2 *d, l2_stats *o) {
    pthread_mutex_lock(&d->mu);
    *o = (l2_stats){
        .lookups = d->lookups, .hits = d->hits, .evictions = d->evictions,
        .entries = d->pol->count, .bytes = d->pol->bytes, .raw_bytes = d->raw_bytes,
        .writes = d->writes, .write_errors = d->write_errors, .corrupt = d->corrupt,
        .foreign = d->foreign,
    };
    pthread_mutex_unlock(&d->mu);
}
