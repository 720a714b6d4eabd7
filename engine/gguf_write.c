/* This file implements the GGUF v3 writer declared in gguf_write.h.
 * Metadata is serialized as it is added into one growing byte buffer;
 * tensors are recorded as descriptors (shape, type, where the bytes come
 * from) and their offsets assigned in order, each aligned to
 * GGUF_WRITE_ALIGN.  Nothing reaches the file until gguf_writer_write. */
#include "engine/gguf_write.h"
#include "engine/gguf.h"
#include "engine/quant.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    char *name;
    uint32_t n_dims;
    uint64_t ne[4];
    uint32_t type;
    uint64_t nbytes;
    uint64_t offset;        /* from the start of the data section */
    gguf_fill_fn fill;
    void *ctx;
} wtensor;

struct gguf_writer {
    uint8_t *kv;            /* serialized key-values (kv_len bytes) */
    size_t kv_len, kv_cap;
    uint64_t n_kv;
    wtensor *t;             /* (n_t) */
    size_t n_t, t_cap;
    uint64_t data_len;      /* data section size so far, aligned */
    int err;                /* first error, sticky */
};

static int set_err(gguf_writer *w, int e) {
    if (!w->err) w->err = e;
    return e;
}

static int put(gguf_writer *w, const void *p, size_t n) {
    if (w->err) return w->err;
    if (w->kv_len + n > w->kv_cap) {
        size_t cap = w->kv_cap ? w->kv_cap : 4096;
        while (cap < w->kv_len + n) cap *= 2;
        uint8_t *nb = realloc(w->kv, cap);
        if (!nb) return set_err(w, -ENOMEM);
        w->kv = nb;
        w->kv_cap = cap;
    }
    memcpy(w->kv + w->kv_len, p, n);
    w->kv_len += n;
    return 0;
}

static int put_u32(gguf_writer *w, uint32_t v) { return put(w, &v, 4); }
static int put_u64(gguf_writer *w, uint64_t v) { return put(w, &v, 8); }
static int put_str(gguf_writer *w, const char *s) {
    size_t n = strlen(s);
    int rc = put_u64(w, n);
    return rc ? rc : put(w, s, n);
}

/* The key and type of a new key-value; the value follows. */
static int put_key(gguf_writer *w, const char *key, uint32_t type) {
    if (!key || !*key) return set_err(w, -EINVAL);
    int rc = put_str(w, key);
    if (!rc) rc = put_u32(w, type);
    if (!rc) w->n_kv++;
    return rc;
}

int gguf_writer_new(gguf_writer **out) {
    gguf_writer *w = calloc(1, sizeof *w);
    *out = NULL;
    if (!w) return -ENOMEM;
    if (gguf_writer_set_u32(w, "general.alignment", GGUF_WRITE_ALIGN)) {
        gguf_writer_free(w);
        return -ENOMEM;
    }
    *out = w;
    return 0;
}

void gguf_writer_free(gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_t; i++) free(w->t[i].name);
    free(w->t);
    free(w->kv);
    free(w);
}

int gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v) {
    int rc = put_key(w, key, GGUF_U32);
    return rc ? rc : put(w, &v, 4);
}

int gguf_writer_set_f32(gguf_writer *w, const char *key, float v) {
    int rc = put_key(w, key, GGUF_F32);
    return rc ? rc : put(w, &v, 4);
}

int gguf_writer_set_bool(gguf_writer *w, const char *key, int v) {
    uint8_t b = v != 0;
    int rc = put_key(w, key, GGUF_BOOL);
    return rc ? rc : put(w, &b, 1);
}

int gguf_writer_set_str(gguf_writer *w, const char *key, const char *v) {
    if (!v) return set_err(w, -EINVAL);
    int rc = put_key(w, key, GGUF_STRING);
    return rc ? rc : put_str(w, v);
}

static int put_arr_head(gguf_writer *w, const char *key, uint32_t et, size_t n) {
    int rc = put_key(w, key, GGUF_ARRAY);
    if (!rc) rc = put_u32(w, et);
    if (!rc) rc = put_u64(w, n);
    return rc;
}

int gguf_writer_set_arr_str(gguf_writer *w, const char *key, const char *const *v, size_t n) {
    int rc = put_arr_head(w, key, GGUF_STRING, n);
    for (size_t i = 0; !rc && i < n; i++)
        rc = v[i] ? put_str(w, v[i]) : set_err(w, -EINVAL);
    return rc;
}

int gguf_writer_set_arr_f32(gguf_writer *w, const char *key, const float *v, size_t n) {
    int rc = put_arr_head(w, key, GGUF_F32, n);
    return rc ? rc : put(w, v, n * 4);
}

int gguf_writer_set_arr_i32(gguf_writer *w, const char *key, const int32_t *v, size_t n) {
    int rc = put_arr_head(w, key, GGUF_I32, n);
    return rc ? rc : put(w, v, n * 4);
}

int gguf_writer_copy_kv(gguf_writer *w, const gguf_kv *kv) {
    char key[256];
    if (kv->key.len == 0 || kv->key.len >= sizeof key) return set_err(w, -EINVAL);
    memcpy(key, kv->key.ptr, kv->key.len);
    key[kv->key.len] = 0;
    if (kv->type == GGUF_STRING) {
        uint64_t n;
        memcpy(&n, kv->data, 8);
        int rc = put_key(w, key, GGUF_STRING);
        return rc ? rc : put(w, kv->data, 8 + (size_t)n);
    }
    if (kv->type == GGUF_ARRAY) {
        size_t es = gguf_vtype_size(kv->arr_type);
        if (kv->arr_type != GGUF_STRING && !es) return set_err(w, -EINVAL);
        int rc = put_arr_head(w, key, kv->arr_type, (size_t)kv->arr_n);
        if (kv->arr_type != GGUF_STRING) return rc ? rc : put(w, kv->data, (size_t)kv->arr_n * es);
        for (uint64_t i = 0; !rc && i < kv->arr_n; i++) {
            rc = put_u64(w, kv->strs[i].len);
            if (!rc) rc = put(w, kv->strs[i].ptr, (size_t)kv->strs[i].len);
        }
        return rc;
    }
    size_t es = gguf_vtype_size(kv->type);
    if (!es) return set_err(w, -EINVAL);
    int rc = put_key(w, key, kv->type);
    return rc ? rc : put(w, kv->data, es);
}

static uint64_t align_up(uint64_t x) {
    return (x + GGUF_WRITE_ALIGN - 1) / GGUF_WRITE_ALIGN * GGUF_WRITE_ALIGN;
}

int gguf_writer_add_tensor_fn(gguf_writer *w, const char *name, int n_dims,
                              const uint64_t *ne, int type, gguf_fill_fn fill, void *ctx) {
    if (w->err) return w->err;
    if (!fill) return set_err(w, -EINVAL);
    if (!name || !*name || n_dims < 1 || n_dims > 4 || !ne) return set_err(w, -EINVAL);
    size_t rb = quant_row_bytes(type, (int64_t)ne[0]);
    if (!rb || ne[0] == 0) return set_err(w, -EINVAL);
    uint64_t rows = 1;
    for (int d = 1; d < n_dims; d++) {
        if (ne[d] == 0 || rows > UINT64_MAX / ne[d]) return set_err(w, -EINVAL);
        rows *= ne[d];
    }
    if (rows > (UINT64_MAX / 2) / rb) return set_err(w, -EINVAL);
    if (w->n_t == w->t_cap) {
        size_t cap = w->t_cap ? w->t_cap * 2 : 64;
        wtensor *nt = realloc(w->t, cap * sizeof *nt);
        if (!nt) return set_err(w, -ENOMEM);
        w->t = nt;
        w->t_cap = cap;
    }
    wtensor *t = &w->t[w->n_t];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    if (!t->name) return set_err(w, -ENOMEM);
    t->n_dims = (uint32_t)n_dims;
    for (int d = 0; d < n_dims; d++) t->ne[d] = ne[d];
    t->type = (uint32_t)type;
    t->nbytes = rows * rb;
    t->offset = w->data_len;
    t->fill = fill;
    t->ctx = ctx;
    w->data_len = align_up(w->data_len + t->nbytes);
    w->n_t++;
    return 0;
}

/* fwrite that turns a short write into a negative errno. */
static int wr(FILE *f, const void *p, size_t n) {
    if (n && fwrite(p, 1, n, f) != n) return errno ? -errno : -EIO;
    return 0;
}

static int pad(FILE *f, uint64_t pos) {
    static const uint8_t zero[GGUF_WRITE_ALIGN];
    return wr(f, zero, (size_t)(align_up(pos) - pos));
}

static int write_all(gguf_writer *w, FILE *f) {
    int rc;
    uint32_t magic_ver[2];
    memcpy(&magic_ver[0], "GGUF", 4);
    magic_ver[1] = 3;
    uint64_t counts[2] = { w->n_t, w->n_kv };
    if ((rc = wr(f, magic_ver, 8)) || (rc = wr(f, counts, 16))) return rc;
    if ((rc = wr(f, w->kv, w->kv_len))) return rc;
    uint64_t pos = 24 + w->kv_len;
    for (size_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        uint64_t n = strlen(t->name);
        if ((rc = wr(f, &n, 8)) || (rc = wr(f, t->name, n)) || (rc = wr(f, &t->n_dims, 4)) ||
            (rc = wr(f, t->ne, 8 * t->n_dims)) || (rc = wr(f, &t->type, 4)) ||
            (rc = wr(f, &t->offset, 8)))
            return rc;
        pos += 8 + n + 4 + 8 * t->n_dims + 4 + 8;
    }
    if ((rc = pad(f, pos))) return rc;
    /* the callbacks' buffer: one tensor at a time, as large as the largest */
    size_t bufsz = 0;
    for (size_t i = 0; i < w->n_t; i++)
        if (w->t[i].nbytes > bufsz) bufsz = (size_t)w->t[i].nbytes;
    void *buf = NULL;
    if (bufsz && !(buf = malloc(bufsz))) return -ENOMEM;
    uint64_t dpos = 0;
    for (size_t i = 0; i < w->n_t && !rc; i++) {
        const wtensor *t = &w->t[i];
        rc = t->fill(t->ctx, buf, (size_t)t->nbytes);
        if (!rc) rc = wr(f, buf, (size_t)t->nbytes);
        dpos += t->nbytes;
        if (!rc) rc = pad(f, dpos);
        dpos = align_up(dpos);
    }
    free(buf);
    return rc;
}

int gguf_writer_write(gguf_writer *w, const char *path) {
    if (w->err) return w->err;
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 5);
    if (!tmp) return -ENOMEM;
    memcpy(tmp, path, pl);
    memcpy(tmp + pl, ".tmp", 5);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        int e = -errno;
        free(tmp);
        return e;
    }
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    errno = 0;
    int rc = write_all(w, f);
    if (!rc && fflush(f)) rc = errno ? -errno : -EIO;
    /* No fsync: the rename makes the file appear whole to readers, which is
     * what the tools need; durability across a crash is not. */
    if (fclose(f) && !rc) rc = errno ? -errno : -EIO;
    if (!rc && rename(tmp, path)) rc = -errno;
    if (rc) unlink(tmp);
    free(tmp);
    return rc;
}
