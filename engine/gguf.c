/* This file implements the GGUF reader declared in gguf.h.  Parsing is a
 * single pass of a bounds-checked cursor over the bytes; nothing is read
 * before the cursor has checked that it is there, and every allocation is
 * bounded by what the remaining bytes could possibly describe. */
#include "engine/gguf.h"
#include "engine/quant.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    const uint8_t *p, *end, *base;
    char *err;
    size_t errlen;
} cursor;

static int fail(cursor *c, const char *fmt, ...) {
    if (c->err && c->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, c->errlen, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

static int take(cursor *c, void *dst, size_t n, const char *what) {
    if ((size_t)(c->end - c->p) < n)
        return fail(c, "truncated at byte %zu reading %s", (size_t)(c->p - c->base), what);
    memcpy(dst, c->p, n);
    c->p += n;
    return 0;
}

static int take_str(cursor *c, gguf_str *s, const char *what) {
    uint64_t n = 0;
    if (take(c, &n, 8, what)) return -EINVAL;
    if (n > (uint64_t)(c->end - c->p))
        return fail(c, "%s of length %llu runs past the end of the file", what,
                    (unsigned long long)n);
    s->ptr = (const char *)c->p;
    s->len = n;
    c->p += n;
    return 0;
}

size_t gguf_vtype_size(uint32_t t) {
    switch (t) {
    case GGUF_U8: case GGUF_I8: case GGUF_BOOL: return 1;
    case GGUF_U16: case GGUF_I16: return 2;
    case GGUF_U32: case GGUF_I32: case GGUF_F32: return 4;
    case GGUF_U64: case GGUF_I64: case GGUF_F64: return 8;
    default: return 0;
    }
}

static int parse_kv(cursor *c, gguf_kv *kv) {
    if (take_str(c, &kv->key, "a metadata key")) return -EINVAL;
    if (take(c, &kv->type, 4, "a metadata type")) return -EINVAL;
    kv->data = c->p;
    if (kv->type == GGUF_STRING) {
        gguf_str s;
        return take_str(c, &s, "a string value");
    }
    if (kv->type == GGUF_ARRAY) {
        if (take(c, &kv->arr_type, 4, "an array type")) return -EINVAL;
        if (take(c, &kv->arr_n, 8, "an array length")) return -EINVAL;
        kv->data = c->p;
        size_t left = (size_t)(c->end - c->p);
        if (kv->arr_type == GGUF_STRING) {
            if (kv->arr_n > left / 8)
                return fail(c, "key '%.*s': %llu strings cannot fit in the file",
                            (int)(kv->key.len > 64 ? 64 : kv->key.len), kv->key.ptr,
                            (unsigned long long)kv->arr_n);
            kv->strs = malloc((kv->arr_n ? kv->arr_n : 1) * sizeof *kv->strs);
            if (!kv->strs) return fail(c, "out of memory"), -ENOMEM;
            for (uint64_t i = 0; i < kv->arr_n; i++)
                if (take_str(c, &kv->strs[i], "an array string")) return -EINVAL;
            return 0;
        }
        size_t es = gguf_vtype_size(kv->arr_type);
        if (!es)
            return fail(c, "key '%.*s': unsupported array element type %u",
                        (int)(kv->key.len > 64 ? 64 : kv->key.len), kv->key.ptr, kv->arr_type);
        if (kv->arr_n > left / es)
            return fail(c, "key '%.*s': array of %llu elements runs past the end of the file",
                        (int)(kv->key.len > 64 ? 64 : kv->key.len), kv->key.ptr,
                        (unsigned long long)kv->arr_n);
        c->p += kv->arr_n * es;
        return 0;
    }
    size_t es = gguf_vtype_size(kv->type);
    if (!es)
        return fail(c, "key '%.*s': unknown value type %u",
                    (int)(kv->key.len > 64 ? 64 : kv->key.len), kv->key.ptr, kv->type);
    uint8_t tmp[8];
    return take(c, tmp, es, "a metadata value");
}

void gguf_free(gguf *g) {
    if (!g) return;
    if (g->kv)
        for (uint64_t i = 0; i < g->n_kv; i++) free(g->kv[i].strs);
    free(g->kv);
    free(g->tensors);
    if (g->mapped) munmap((void *)g->base, g->map_len);
    free(g);
}

int gguf_parse(const void *buf, size_t size, gguf **out, char *err, size_t errlen) {
    cursor c = { buf, (const uint8_t *)buf + size, buf, err, errlen };
    gguf *g = calloc(1, sizeof *g);
    int rc = -EINVAL;
    *out = NULL;
    if (!g) return -ENOMEM;
    g->base = buf;
    g->size = size;
    char magic[4];
    if (take(&c, magic, 4, "the magic")) goto bad;
    if (memcmp(magic, "GGUF", 4)) { fail(&c, "not a GGUF file (bad magic)"); goto bad; }
    if (take(&c, &g->version, 4, "the version")) goto bad;
    if (g->version != 2 && g->version != 3) {
        fail(&c, "GGUF version %u is not supported (only 2 and 3)", g->version);
        goto bad;
    }
    if (take(&c, &g->n_tensors, 8, "the tensor count")) goto bad;
    if (take(&c, &g->n_kv, 8, "the metadata count")) goto bad;
    /* a key-value takes at least 12 bytes, a tensor info at least 24 */
    if (g->n_kv > size / 12 || g->n_tensors > size / 24) {
        fail(&c, "counts (%llu keys, %llu tensors) cannot fit in a file of %zu bytes",
             (unsigned long long)g->n_kv, (unsigned long long)g->n_tensors, size);
        goto bad;
    }
    g->kv = calloc(g->n_kv ? g->n_kv : 1, sizeof *g->kv);
    g->tensors = calloc(g->n_tensors ? g->n_tensors : 1, sizeof *g->tensors);
    if (!g->kv || !g->tensors) { rc = -ENOMEM; fail(&c, "out of memory"); goto bad; }
    for (uint64_t i = 0; i < g->n_kv; i++) {
        if ((rc = parse_kv(&c, &g->kv[i])) < 0) { g->n_kv = i + 1; goto bad; }
        for (uint64_t j = 0; j < i; j++)
            if (g->kv[j].key.len == g->kv[i].key.len &&
                !memcmp(g->kv[j].key.ptr, g->kv[i].key.ptr, g->kv[i].key.len)) {
                fail(&c, "duplicate metadata key '%.*s'",
                     (int)(g->kv[i].key.len > 64 ? 64 : g->kv[i].key.len), g->kv[i].key.ptr);
                g->n_kv = i + 1;
                rc = -EINVAL;
                goto bad;
            }
    }
    rc = -EINVAL;
    g->alignment = 32;
    const gguf_kv *al = gguf_find(g, "general.alignment");
    if (al) {
        int64_t a;
        if (gguf_get_i64(g, "general.alignment", &a) || a <= 0 || a > 65536 || (a & (a - 1))) {
            fail(&c, "general.alignment must be a power of two up to 65536");
            goto bad;
        }
        g->alignment = (uint64_t)a;
    }
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        gguf_tensor *t = &g->tensors[i];
        if (take_str(&c, &t->name, "a tensor name")) goto bad;
        if (take(&c, &t->n_dims, 4, "a tensor rank")) goto bad;
        if (t->n_dims < 1 || t->n_dims > 4) {
            fail(&c, "tensor '%.*s' has %u dimensions (1 to 4 allowed)",
                 (int)(t->name.len > 64 ? 64 : t->name.len), t->name.ptr, t->n_dims);
            goto bad;
        }
        for (int d = 0; d < 4; d++) t->ne[d] = 1;
        for (uint32_t d = 0; d < t->n_dims; d++)
            if (take(&c, &t->ne[d], 8, "a tensor dimension")) goto bad;
        if (take(&c, &t->type, 4, "a tensor type")) goto bad;
        if (take(&c, &t->offset, 8, "a tensor offset")) goto bad;
    }
    uint64_t hdr = (uint64_t)(c.p - c.base);
    g->data_off = (hdr + g->alignment - 1) / g->alignment * g->alignment;
    if (g->n_tensors && g->data_off > size) {
        fail(&c, "truncated: the tensor data section is missing");
        goto bad;
    }
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        gguf_tensor *t = &g->tensors[i];
        int nl = (int)(t->name.len > 64 ? 64 : t->name.len);
        size_t rb = quant_row_bytes((int)t->type, (int64_t)t->ne[0]);
        if (!quant_block_elems((int)t->type)) {
            fail(&c, "tensor '%.*s' has weight type %s (%u), which llmfs does not read (it reads %s)",
                 nl, t->name.ptr, quant_name((int)t->type), t->type, quant_supported_list());
            goto bad;
        }
        if (t->ne[0] == 0 || !rb || t->ne[0] > (1ull << 32)) {
            fail(&c, "tensor '%.*s': row length %llu is not valid for type %s", nl,
                 t->name.ptr, (unsigned long long)t->ne[0], quant_name((int)t->type));
            goto bad;
        }
        uint64_t rows = 1;
        for (int d = 1; d < 4; d++) {
            if (t->ne[d] == 0 || t->ne[d] > (1ull << 32) || rows > UINT64_MAX / t->ne[d]) {
                fail(&c, "tensor '%.*s' has an invalid shape", nl, t->name.ptr);
                goto bad;
            }
            rows *= t->ne[d];
        }
        if (rows > UINT64_MAX / rb) {
            fail(&c, "tensor '%.*s' is impossibly large", nl, t->name.ptr);
            goto bad;
        }
        t->nbytes = rows * rb;
        if (t->offset % g->alignment) {
            fail(&c, "tensor '%.*s' data offset %llu is not aligned to %llu", nl, t->name.ptr,
                 (unsigned long long)t->offset, (unsigned long long)g->alignment);
            goto bad;
        }
        if (t->offset > size - g->data_off || t->nbytes > size - g->data_off - t->offset) {
            fail(&c, "truncated: tensor '%.*s' (%llu bytes at %llu) extends past the end of "
                 "the file (%zu bytes)", nl, t->name.ptr, (unsigned long long)t->nbytes,
                 (unsigned long long)(g->data_off + t->offset), size);
            goto bad;
        }
        t->data = c.base + g->data_off + t->offset;
    }
    *out = g;
    return 0;
bad:
    gguf_free(g);
    return rc;
}

/* Reads fd into anonymous huge-page memory; MAP_FAILED on failure. */
static void *read_huge(int fd, size_t size, size_t *len) {
    const size_t huge = (size_t)2 << 20;
    *len = (size + huge - 1) / huge * huge;
    void *a = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (a == MAP_FAILED) return a;
    madvise(a, *len, MADV_HUGEPAGE);
    for (size_t off = 0; off < size;) {
        ssize_t r = pread(fd, (char *)a + off, size - off > huge * 16 ? huge * 16 : size - off,
                          (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) { munmap(a, *len); return MAP_FAILED; }
        off += (size_t)r;
    }
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    mprotect(a, *len, PROT_READ);
    return a;
}

int gguf_open(const char *path, gguf **out, char *err, size_t errlen) {
    return gguf_open_flags(path, 0, out, err, errlen);
}

int gguf_open_flags(const char *path, int flags, gguf **out, char *err, size_t errlen) {
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        return -e;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        int e = errno ? errno : EINVAL;
        snprintf(err, errlen, "%s: not a regular file", path);
        close(fd);
        return -e;
    }
    if (st.st_size < 4) {
        snprintf(err, errlen, "%s: file too short to be a model (%lld bytes)", path,
                 (long long)st.st_size);
        close(fd);
        return -EINVAL;
    }
    size_t len = (size_t)st.st_size;
    void *m = flags & GGUF_LOAD_COPY ? read_huge(fd, (size_t)st.st_size, &len)
                                     : mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) {
        int e = errno;
        snprintf(err, errlen, "%s: mmap: %s", path, strerror(e));
        return -e;
    }
    char why[256] = "";
    int rc = gguf_parse(m, (size_t)st.st_size, out, why, sizeof why);
    if (rc < 0) {
        munmap(m, len);
        snprintf(err, errlen, "%s: %s", path, why);
        return rc;
    }
    (*out)->mapped = 1;
    (*out)->map_len = len;
    return 0;
}

int gguf_str_eq(gguf_str s, const char *z) {
    size_t n = strlen(z);
    return s.len == n && !memcmp(s.ptr, z, n);
}

const gguf_kv *gguf_find(const gguf *g, const char *key) {
    for (uint64_t i = 0; i < g->n_kv; i++)
        if (gguf_str_eq(g->kv[i].key, key)) return &g->kv[i];
    return NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf *g, const char *name) {
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (gguf_str_eq(g->tensors[i].name, name)) return &g->tensors[i];
    return NULL;
}

static int scalar_num(uint32_t type, const uint8_t *p, double *d, int64_t *i, int *is_int) {
    union { uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32;
            float f; uint64_t u64; int64_t i64; double f64; } v;
    size_t n = gguf_vtype_size(type);
    if (!n || type == GGUF_BOOL) return -EINVAL;
    memcpy(&v, p, n);
    *is_int = 1;
    switch (type) {
    case GGUF_U8: *i = v.u8; break;
    case GGUF_I8: *i = v.i8; break;
    case GGUF_U16: *i = v.u16; break;
    case GGUF_I16: *i = v.i16; break;
    case GGUF_U32: *i = v.u32; break;
    case GGUF_I32: *i = v.i32; break;
    case GGUF_I64: *i = v.i64; break;
    case GGUF_U64: if (v.u64 > INT64_MAX) return -EINVAL; *i = (int64_t)v.u64; break;
    case GGUF_F32: *d = v.f; *is_int = 0; return 0;
    case GGUF_F64: *d = v.f64; *is_int = 0; return 0;
    }
    *d = (double)*i;
    return 0;
}

int gguf_get_i64(const gguf *g, const char *key, int64_t *out) {
    const gguf_kv *kv = gguf_find(g, key);
    if (!kv) return -ENOENT;
    double d; int64_t i; int is_int;
    if (scalar_num(kv->type, kv->data, &d, &i, &is_int) || !is_int) return -EINVAL;
    *out = i;
    return 0;
}

int gguf_get_f32(const gguf *g, const char *key, float *out) {
    const gguf_kv *kv = gguf_find(g, key);
    if (!kv) return -ENOENT;
    double d; int64_t i; int is_int;
    if (scalar_num(kv->type, kv->data, &d, &i, &is_int)) return -EINVAL;
    *out = (float)d;
    return 0;
}

int gguf_get_bool(const gguf *g, const char *key, int *out) {
    const gguf_kv *kv = gguf_find(g, key);
    if (!kv) return -ENOENT;
    if (kv->type != GGUF_BOOL) return -EINVAL;
    *out = kv->data[0] != 0;
    return 0;
}

int gguf_get_str(const gguf *g, const char *key, gguf_str *out) {
    const gguf_kv *kv = gguf_find(g, key);
    if (!kv) return -ENOENT;
    if (kv->type != GGUF_STRING) return -EINVAL;
    uint64_t n;
    memcpy(&n, kv->data, 8);
    out->ptr = (const char *)kv->data + 8;
    out->len = n;
    return 0;
}

const gguf_kv *gguf_get_arr(const gguf *g, const char *key, uint32_t want) {
    const gguf_kv *kv = gguf_find(g, key);
    if (!kv || kv->type != GGUF_ARRAY || kv->arr_type != want) return NULL;
    return kv;
}

double gguf_arr_num(const gguf_kv *kv, uint64_t i) {
    if (!kv || kv->type != GGUF_ARRAY || i >= kv->arr_n) return 0;
    size_t es = gguf_vtype_size(kv->arr_type);
    double d; int64_t v; int is_int;
    if (!es || scalar_num(kv->arr_type, kv->data + i * es, &d, &v, &is_int)) return 0;
    return d;
}
