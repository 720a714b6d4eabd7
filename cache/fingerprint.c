/* This file implements the model fingerprints of fingerprint.h.  The
 * table DIR/fingerprints is text: the first line "llmfs-fingerprints 1",
 * then one line "DEV INO SIZE MTIME_SEC MTIME_NSEC HEX32" per file,
 * oldest first, at most TABLE_MAX of them.  It is parsed strictly (a line
 * that is not exactly that is skipped, a table with another first line
 * reads as empty), only ever replaced whole by a rename, and a failure to
 * write it never fails a fingerprint. */
#include "cache/fingerprint.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#define TABLE_HEAD "llmfs-fingerprints 1"
#define TABLE_MAX 64               /* rows kept: the newest */
#define TABLE_LINE 256             /* longest line, its '\n' included */
#define TABLE_BYTES (64u << 10)    /* what is read of a table at most */
#define CHUNK (1u << 20)           /* read() size while hashing */

typedef struct {
    uint64_t dev, ino, size, sec, nsec;   /* the file as fstat saw it */
    uint8_t fp[16];                       /* XXH3-128, canonical (big-endian) */
} fp_row;

static int hexval(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Parses a decimal u64 as we write it (digits only, no leading zero, no
 * overflow) followed by sep.  Returns what follows sep, or NULL. */
static const char *parse_u64(const char *s, char sep, uint64_t *v) {
    if (*s < '0' || *s > '9' || (*s == '0' && s[1] != sep)) return NULL;
    for (*v = 0; *s >= '0' && *s <= '9'; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (*v > (UINT64_MAX - d) / 10) return NULL;
        *v = *v * 10 + d;
    }
    return *s == sep ? s + 1 : NULL;
}

/* Parses one table row (without its '\n').  Returns 0 or -1. */
static int parse_row(const char *s, fp_row *r) {
    uint64_t *field[5] = { &r->dev, &r->ino, &r->size, &r->sec, &r->nsec };
    for (int i = 0; i < 5; i++)
        if (!(s = parse_u64(s, ' ', field[i]))) return -1;
    for (int i = 0; i < 16; i++) {
        int hi = hexval(s[0]), lo = hi < 0 ? -1 : hexval(s[1]);
        if (lo < 0) return -1;
        r->fp[i] = (uint8_t)(hi << 4 | lo);
        s += 2;
    }
    return *s ? -1 : 0;
}

/* Appends r to rows[0, *n), dropping the oldest row when full. */
static void rows_push(fp_row *rows, int *n, const fp_row *r) {
    if (*n == TABLE_MAX) memmove(rows, rows + 1, (size_t)--*n * sizeof *rows);
    rows[(*n)++] = *r;
}

/* Reads the table at path (its first TABLE_BYTES) into rows (TABLE_MAX)
 * and returns the row count; a missing, unreadable or foreign table reads
 * as empty.  Lines longer than TABLE_LINE, holding a NUL, malformed or
 * without their '\n' are skipped. */
static int table_read(const char *path, fp_row *rows) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);   /* a FIFO must not block */
    struct stat st;
    FILE *f = fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode) ? NULL : fdopen(fd, "r");
    if (!f && fd >= 0) close(fd);
    char *buf = malloc(TABLE_BYTES);
    size_t len = f && buf ? fread(buf, 1, TABLE_BYTES, f) : 0, head = strlen(TABLE_HEAD "\n");
    int n = 0;
    if (len >= head && !memcmp(buf, TABLE_HEAD "\n", head)) {
        for (size_t at = head; at < len;) {
            const char *nl = memchr(buf + at, '\n', len - at);
            if (!nl) break;
            size_t ll = (size_t)(nl - (buf + at));     /* without the '\n' */
            char line[TABLE_LINE];
            fp_row r;
            if (ll < TABLE_LINE && !memchr(buf + at, '\0', ll)) {
                memcpy(line, buf + at, ll);
                line[ll] = '\0';
                if (!parse_row(line, &r)) rows_push(rows, &n, &r);
            }
            at += ll + 1;
        }
    }
    free(buf);
    if (f) fclose(f);
    return n;
}

/* Replaces DIR/fingerprints with rows[0, n): written to a temporary file,
 * synced, renamed over.  Failures leave the old table and are ignored. */
static void table_write(const char *dir, const fp_row *rows, int n) {
    char tmp[4096], path[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s/.fingerprints.tmp.%ld", dir, (long)getpid()) >=
            sizeof tmp ||
        (size_t)snprintf(path, sizeof path, "%s/" FINGERPRINT_FILE, dir) >= sizeof path)
        return;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return;
    FILE *f = fdopen(fd, "w");
    if (!f) { close(fd); unlink(tmp); return; }
    fputs(TABLE_HEAD "\n", f);
    for (int i = 0; i < n; i++) {
        fprintf(f, "%" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " ", rows[i].dev,
                rows[i].ino, rows[i].size, rows[i].sec, rows[i].nsec);
        for (int k = 0; k < 16; k++) fprintf(f, "%02x", rows[i].fp[k]);
        fputc('\n', f);
    }
    int bad = fflush(f) || ferror(f) || fsync(fd);
    if (fclose(f) || bad || rename(tmp, path)) unlink(tmp);
}

static void row_of(const struct stat *st, fp_row *r) {
    r->dev = (uint64_t)st->st_dev;
    r->ino = (uint64_t)st->st_ino;
    r->size = (uint64_t)st->st_size;
    r->sec = (uint64_t)st->st_mtim.tv_sec;
    r->nsec = (uint64_t)st->st_mtim.tv_nsec;
}

static int same_file(const fp_row *a, const fp_row *b) {
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->sec == b->sec &&
           a->nsec == b->nsec;
}

/* XXH3-128 of everything fd holds from its offset on, into out
 * (canonical bytes); *n is the byte count.  Returns 0 or -errno. */
static int hash_fd(int fd, uint8_t out[16], uint64_t *n) {
    XXH3_state_t *hs = XXH3_createState();
    char *buf = malloc(CHUNK);
    int rc = hs && buf ? 0 : -ENOMEM;
    *n = 0;
    if (!rc) XXH3_128bits_reset(hs);
    while (!rc) {
        ssize_t got = read(fd, buf, CHUNK);
        if (got > 0) {
            XXH3_128bits_update(hs, buf, (size_t)got);
            *n += (uint64_t)got;
        } else if (!got) {
            break;
        } else if (errno != EINTR) {
            rc = -errno;
        }
    }
    if (!rc) {
        XXH128_canonical_t c;
        XXH128_canonicalFromHash(&c, XXH3_128bits_digest(hs));
        memcpy(out, c.digest, 16);
    }
    XXH3_freeState(hs);
    free(buf);
    return rc;
}

/* Fills err with "path: why" (strerror(-rc) when why is NULL); returns rc. */
static int fail(char *err, size_t errlen, const char *path, int rc, const char *why) {
    snprintf(err, errlen, "%s: %s", path, why ? why : strerror(-rc));
    return rc;
}

int fingerprint_file(const char *dir, const char *path, uint8_t out[16], char *err,
                     size_t errlen) {
    fp_row me, rows[TABLE_MAX];
    struct stat st, st2;
    char tpath[4096];
    int n = 0, rc = 0;
    uint64_t got;
    if (dir && (size_t)snprintf(tpath, sizeof tpath, "%s/" FINGERPRINT_FILE, dir) >= sizeof tpath)
        dir = NULL;   /* a directory name too long to use: no table */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);   /* a FIFO must not block */
    if (fd < 0) return fail(err, errlen, path, -errno, NULL);
    if (fstat(fd, &st)) rc = fail(err, errlen, path, -errno, NULL);
    else if (!S_ISREG(st.st_mode)) rc = fail(err, errlen, path, -EINVAL, "not a regular file");
    if (rc) goto out;
    row_of(&st, &me);
    if (dir) {
        n = table_read(tpath, rows);
        for (int i = n - 1; i >= 0; i--)
            if (same_file(&rows[i], &me)) {
                memcpy(out, rows[i].fp, 16);
                goto out;
            }
    }
    if ((rc = hash_fd(fd, me.fp, &got)) || (fstat(fd, &st2) && (rc = -errno))) {
        fail(err, errlen, path, rc, NULL);
        goto out;
    }
    if (got != (uint64_t)st.st_size || st2.st_size != st.st_size ||
        st2.st_mtim.tv_sec != st.st_mtim.tv_sec || st2.st_mtim.tv_nsec != st.st_mtim.tv_nsec) {
        rc = fail(err, errlen, path, -EAGAIN, "the file changed while it was being read");
        goto out;
    }
    memcpy(out, me.fp, 16);
    if (dir) {
        /* rows of the same inode describe an older content: drop them */
        int k = 0;
        for (int i = 0; i < n; i++)
            if (rows[i].dev != me.dev || rows[i].ino != me.ino) rows[k++] = rows[i];
        n = k;
        rows_push(rows, &n, &me);
        table_write(dir, rows, n);
    }
out:
    close(fd);
    return rc;
}
