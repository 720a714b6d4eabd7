/* A reader for GGUF v2/v3 files (the format of llama.cpp and Ollama).
 * The file is mapped read-only; every count, length, offset and tensor
 * extent is checked against the bytes present before it is used, so any
 * file, however damaged, yields either a valid gguf or an error message.
 * Strings point into the mapping and are not NUL-terminated. */
#ifndef LLMFS_GGUF_H
#define LLMFS_GGUF_H
#include <stddef.h>
#include <stdint.h>

enum gguf_vtype {
    GGUF_U8 = 0, GGUF_I8 = 1, GGUF_U16 = 2, GGUF_I16 = 3, GGUF_U32 = 4,
    GGUF_I32 = 5, GGUF_F32 = 6, GGUF_BOOL = 7, GGUF_STRING = 8,
    GGUF_ARRAY = 9, GGUF_U64 = 10, GGUF_I64 = 11, GGUF_F64 = 12,
};

typedef struct { const char *ptr; uint64_t len; } gguf_str;

typedef struct {
    gguf_str key;
    uint32_t type;          /* enum gguf_vtype */
    uint32_t arr_type;      /* element type when type == GGUF_ARRAY */
    uint64_t arr_n;         /* element count when type == GGUF_ARRAY */
    const uint8_t *data;    /* the value (scalar) or first element (array) */
    gguf_str *strs;         /* arr_n strings when an array of strings, else NULL */
} gguf_kv;

typedef struct {
    gguf_str name;
    uint32_t n_dims;
    uint64_t ne[4];         /* ne[0] is the row length (fastest varying) */
    uint32_t type;          /* TYPE_* (quant.h) */
    uint64_t offset;        /* from the start of the data section */
    const void *data;       /* in the mapping, checked to lie inside it */
    uint64_t nbytes;
} gguf_tensor;

typedef struct gguf {
    const uint8_t *base;    /* the mapping (or caller's buffer) */
    size_t size;
    int mapped;             /* base was mmap'ed by gguf_open */
    size_t map_len;         /* length of that mapping */
    uint32_t version;
    uint64_t n_kv, n_tensors;
    gguf_kv *kv;            /* (n_kv) */
    gguf_tensor *tensors;   /* (n_tensors) */
    uint64_t alignment;
    uint64_t data_off;      /* start of the tensor data section */
} gguf;

/* Maps and parses path.  On failure returns a negative errno and writes a
 * one-line reason to err.  Caller frees *out with gguf_free. */
int gguf_open(const char *path, gguf **out, char *err, size_t errlen);
/* The same, but with GGUF_LOAD_COPY the file is read into anonymous memory
 * backed by transparent huge pages instead of being mapped: one TLB entry
 * per 2 MiB instead of per 4 KiB, which decode (streaming every weight
 * once per token) turns into measurably more bandwidth.  The file's page
 * cache is dropped after reading, so the weights are held once. */
#define GGUF_LOAD_COPY 1
int gguf_open_flags(const char *path, int flags, gguf **out, char *err, size_t errlen);
/* Parses a caller-owned buffer that must outlive the result (fuzzing). */
int gguf_parse(const void *buf, size_t size, gguf **out, char *err, size_t errlen);
void gguf_free(gguf *g);

const gguf_kv *gguf_find(const gguf *g, const char *key);
const gguf_tensor *gguf_find_tensor(const gguf *g, const char *name);
/* Typed getters: 0, -ENOENT if absent, -EINVAL if of a type that does not
 * convert (any integer type converts to an integer if it fits). */
int gguf_get_i64(const gguf *g, const char *key, int64_t *out);
int gguf_get_f32(const gguf *g, const char *key, float *out);
int gguf_get_bool(const gguf *g, const char *key, int *out);
int gguf_get_str(const gguf *g, const char *key, gguf_str *out);
/* An array with elements of type want (GGUF_STRING arrays: use kv->strs). */
const gguf_kv *gguf_get_arr(const gguf *g, const char *key, uint32_t want);
/* Element i of an integer or float array as double (0 if out of range). */
double gguf_arr_num(const gguf_kv *kv, uint64_t i);
int gguf_str_eq(gguf_str s, const char *z);
/* Bytes of one value of a scalar type (enum gguf_vtype); 0 for strings,
 * arrays and unknown types. */
size_t gguf_vtype_size(uint32_t t);
#endif
