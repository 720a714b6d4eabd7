/* A small GGUF v3 writer: metadata of a few types and tensors, written
 * with general.alignment 32 to FILE.tmp and renamed over FILE, so a reader
 * never sees a half-written model.  Tensor data is borrowed or produced by
 * a callback one tensor at a time at write time, so a large model is never
 * held in memory twice. */
#ifndef LLMFS_GGUF_WRITE_H
#define LLMFS_GGUF_WRITE_H
#include <stddef.h>
#include <stdint.h>
#include "engine/gguf.h"

#define GGUF_WRITE_ALIGN 32

typedef struct gguf_writer gguf_writer;

/* Fills dst with the nbytes of a tensor's data.  Returns 0 or a negative
 * errno, which aborts the write. */
typedef int (*gguf_fill_fn)(void *ctx, void *dst, size_t nbytes);

/* A writer with general.alignment already set.  Returns 0 or -ENOMEM.
 * Caller frees with gguf_writer_free. */
int gguf_writer_new(gguf_writer **out);
void gguf_writer_free(gguf_writer *w);

/* Metadata.  Keys and strings are copied.  Each returns 0 or a negative
 * errno; the first error also sticks and is returned by gguf_writer_write,
 * so a caller may check only there. */
int gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v);
int gguf_writer_set_f32(gguf_writer *w, const char *key, float v);
int gguf_writer_set_bool(gguf_writer *w, const char *key, int v);
int gguf_writer_set_str(gguf_writer *w, const char *key, const char *v);
int gguf_writer_set_arr_str(gguf_writer *w, const char *key, const char *const *v, size_t n);
int gguf_writer_set_arr_f32(gguf_writer *w, const char *key, const float *v, size_t n);
int gguf_writer_set_arr_i32(gguf_writer *w, const char *key, const int32_t *v, size_t n);

/* A copy of a key-value read from another file (gguf.h), under its own
 * key: scalars, strings and arrays of either.  -EINVAL for other types. */
int gguf_writer_copy_kv(gguf_writer *w, const gguf_kv *kv);
/* A tensor of n_dims (1..4) dimensions, ne[0] the row length, of weight
 * type type (TYPE_*, quant.h), whose bytes fill(ctx, ...) writes during
 * gguf_writer_write, one tensor at a time.  -EINVAL for a bad shape or
 * type. */
int gguf_writer_add_tensor_fn(gguf_writer *w, const char *name, int n_dims,
                              const uint64_t *ne, int type, gguf_fill_fn fill, void *ctx);

/* Writes everything to path (atomically, through path.tmp).  Returns 0 or
 * a negative errno (the first error of any earlier call included); on
 * failure path is untouched and path.tmp removed. */
int gguf_writer_write(gguf_writer *w, const char *path);
#endif
