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
#include "tests/record_util.h"
#include "engine/engine.h"
#include "engine/utf8.h"

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
    if (record_decode(buf, len, r->key, &d) || !record_same(r, d)) abort();
    record_free(d);
    key[0] ^= 1;
    d = NULL;
    if (record_decode(buf, len, key, &d) != -EINVAL || d) abort();
    uint8_t *enc = NULL;
    size_t elen = 0;
    if (record_encode(r, 1, &enc, &elen)) abort();
    if (record_decode(enc, elen, NULL, &d) || !record_same(r, d)) abort();
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
    size_t flen;
    uint8_t *f = record_wrap(data, size, size, &flen);
    if (!f) return 0;
    decode_file(f, flen);
    free(f);
    return 0;
}
