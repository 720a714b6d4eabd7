/* libFuzzer target for cache/record.c.  The input is read twice: as a
 * whole file image (record_check_header and record_decode, with and
 * without a key), and as a payload wrapped in a valid header and checksum,
 * so that the payload checks are reached without the fuzzer having to
 * forge a checksum.  Any input decodes or fails with -ENOENT/-EINVAL, and
 * a decoded record keeps the invariants of record.h and encodes to a file
 * that decodes back to an equal record. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>
#include <zstd.h>

#include "cache/record.h"
#include "engine/engine.h"
#include "engine/utf8.h"

static void le(uint8_t *p, uint64_t v, int n) {
    for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static int same(const record *a, const record *b) {
    return !memcmp(a->key, b->key, 16) && a->finish == b->finish && a->n_gen == b->n_gen &&
           a->prompt_tokens == b->prompt_tokens && a->gen_us == b->gen_us &&
           a->created == b->created && a->text_len == b->text_len &&
           !memcmp(a->cuts, b->cuts, (size_t)a->n_gen * 4) &&
           !memcmp(a->text, b->text, a->text_len);
}

/* Checks a record decoded from buf[0, len): its invariants, the key
 * checks, and the round trip through record_encode. */
static void check(const record *r, const uint8_t *buf, size_t len) {
    if (r->finish < FINISH_EOS || r->finish > FINISH_CONTEXT || r->n_gen < 0 ||
        (uint64_t)r->n_gen > RECORD_MAX_TOKENS || r->prompt_tokens < 0 ||
        r->text_len > RECORD_MAX_TEXT || !r->cuts || !r->text ||
        !utf8_valid(r->text, r->text_len))
        abort();
    uint32_t last = 0;
    for (int k = 0; k < r->n_gen; k++) {
        if (r->cuts[k] == RECORD_NO_CUT) continue;
        if (r->cuts[k] > r->text_len || r->cuts[k] < last) abort();
        last = r->cuts[k];
    }
    if (record_mem_bytes(r) != sizeof *r + 4 * (size_t)r->n_gen + r->text_len) abort();
    uint8_t key[16];
    if (record_check_header(buf, len, len, key) || memcmp(key, r->key, 16)) abort();
    record *d = NULL;
    if (record_decode(buf, len, r->key, &d) || !same(r, d)) abort();
    record_free(d);
    key[0] ^= 1;
    d = NULL;
    if (record_decode(buf, len, key, &d) != -EINVAL || d) abort();
    uint8_t *enc = NULL;
    size_t elen = 0;
    if (record_encode(r, 1, &enc, &elen)) abort();
    if (record_decode(enc, elen, NULL, &d) || !same(r, d)) abort();
    record_free(d);
    free(enc);
}

/* Decodes buf[0, len) as a file; checks the result codes and a success. */
static void decode_file(const uint8_t *buf, size_t len) {
    uint8_t key[16];
    int h = record_check_header(buf, len, len, key);
    if (h != 0 && h != -ENOENT && h != -EINVAL) abort();
    record *r = NULL;
    int rc = record_decode(buf, len, NULL, &r);
    if (rc != 0 && rc != -ENOENT && rc != -EINVAL && rc != -ENOMEM) abort();
    if ((rc == -ENOENT) != (h == -ENOENT) || (rc == 0 && h != 0) || (rc != 0) != (r == NULL))
        abort();
    if (r) check(r, buf, len);
    record_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    decode_file(data, size);
    /* data as the payload of a well-formed file */
    size_t bound = ZSTD_compressBound(size);
    uint8_t *f = malloc(RECORD_HEADER_BYTES + bound);
    if (!f) return 0;
    size_t z = ZSTD_compress(f + RECORD_HEADER_BYTES, bound, data, size, 1);
    if (ZSTD_isError(z)) abort();
    memcpy(f, RECORD_MAGIC, 8);
    le(f + 8, RECORD_VERSION, 4);
    le(f + 12, RECORD_HEADER_BYTES, 4);
    memset(f + 16, 0x5a, 16);
    le(f + 32, size, 8);
    le(f + 40, z, 8);
    XXH3_state_t *st = XXH3_createState();
    if (!st) abort();
    XXH3_64bits_reset(st);
    XXH3_64bits_update(st, f, 48);
    XXH3_64bits_update(st, f + RECORD_HEADER_BYTES, z);
    le(f + 48, XXH3_64bits_digest(st), 8);
    XXH3_freeState(st);
    le(f + 56, 0, 8);
    decode_file(f, RECORD_HEADER_BYTES + z);
    free(f);
    return 0;
}
