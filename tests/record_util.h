/* Record files built by hand, for the record tests and the fuzzer: a
 * header around any payload with a valid checksum (what the payload checks
 * see once the checksum no longer protects them), and record equality. */
#ifndef LLMFS_TEST_RECORD_UTIL_H
#define LLMFS_TEST_RECORD_UTIL_H
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>
#include <zstd.h>

#include "cache/record.h"

static inline void le(uint8_t *p, uint64_t v, int n) {
    for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Sets the stored length to z and the checksum over the header and the z
 * payload bytes after it.  0, or -1 out of memory. */
static inline int record_seal(uint8_t *f, size_t z) {
    le(f + 40, z, 8);
    XXH3_state_t *st = XXH3_createState();
    if (!st) return -1;
    XXH3_64bits_reset(st);
    XXH3_64bits_update(st, f, 48);
    XXH3_64bits_update(st, f + RECORD_HEADER_BYTES, z);
    le(f + 48, XXH3_64bits_digest(st), 8);
    XXH3_freeState(st);
    le(f + 56, 0, 8);
    return 0;
}

/* A file image around payload pay[0, n), compressed, whose header claims
 * rawlen; *len its size.  NULL out of memory.  Caller frees. */
static inline uint8_t *record_wrap(const uint8_t *pay, size_t n, uint64_t rawlen, size_t *len) {
    *len = 0;
    size_t bound = ZSTD_compressBound(n);
    uint8_t *f = malloc(RECORD_HEADER_BYTES + bound);
    if (!f) return NULL;
    size_t z = ZSTD_compress(f + RECORD_HEADER_BYTES, bound, pay, n, 1);
    if (ZSTD_isError(z)) { free(f); return NULL; }
    memcpy(f, RECORD_MAGIC, 8);
    le(f + 8, RECORD_VERSION, 4);
    le(f + 12, RECORD_HEADER_BYTES, 4);
    memset(f + 16, 0x5a, 16);
    le(f + 32, rawlen, 8);
    if (record_seal(f, z)) { free(f); return NULL; }
    *len = RECORD_HEADER_BYTES + z;
    return f;
}

static inline int record_same(const record *a, const record *b) {
    return !memcmp(a->key, b->key, 16) && a->finish == b->finish && a->n_gen == b->n_gen &&
           a->prompt_tokens == b->prompt_tokens && a->gen_us == b->gen_us &&
           a->created == b->created && a->text_len == b->text_len &&
           !memcmp(a->cuts, b->cuts, (size_t)a->n_gen * 4) &&
           (!a->text_len || !memcmp(a->text, b->text, a->text_len));
}
#endif
