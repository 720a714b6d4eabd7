/* This file implements the record codec of record.h.  Every integer is
 * written and read byte by byte in little-endian order, and every length
 * is checked against the bytes it has before it is used.  The encoder
 * refuses exactly the records the decoder would refuse, so a record that
 * encodes always decodes back to itself. */
#include "cache/record.h"
#include "cache/le.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>
#include <zstd.h>

#include "engine/engine.h"
#include "engine/utf8.h"

#define SUM_BYTES 48        /* the header bytes the checksum covers */
#define FIXED 40            /* the payload's fixed part, before cuts[] */
#define RAW_MAX (FIXED + 4ull * RECORD_MAX_TOKENS + RECORD_MAX_TEXT)

void record_free(record *r) {
    if (!r) return;
    free(r->cuts);
    free(r->text);
    free(r);
}

size_t record_mem_bytes(const record *r) {
    return sizeof *r + (size_t)r->n_gen * sizeof *r->cuts + r->text_len;
}

/* Whether r is within the limits and consistent: a known finish, the
 * lengths within bounds, each cut RECORD_NO_CUT or a non-decreasing
 * length <= text_len, and the text valid UTF-8. */
static int record_valid(const record *r) {
    if (r->finish < FINISH_EOS || r->finish > FINISH_CONTEXT || r->n_gen < 0 ||
        (uint64_t)r->n_gen > RECORD_MAX_TOKENS || r->prompt_tokens < 0 ||
        r->text_len > RECORD_MAX_TEXT || (r->n_gen && !r->cuts) || (r->text_len && !r->text))
        return 0;
    uint32_t last = 0;
    for (int k = 0; k < r->n_gen; k++) {
        uint32_t c = r->cuts[k];
        if (c == RECORD_NO_CUT) continue;
        if (c > r->text_len || c < last) return 0;
        last = c;
    }
    return utf8_valid(r->text, r->text_len);
}

/* XXH3-64 of the header's first 48 bytes followed by the stored payload
 * into *sum.  Returns 0 or -ENOMEM. */
static int checksum(const uint8_t *hdr, const uint8_t *z, size_t zlen, uint64_t *sum) {
    XXH3_state_t *st = XXH3_createState();
    if (!st) return -ENOMEM;
    XXH3_64bits_reset(st);
    XXH3_64bits_update(st, hdr, SUM_BYTES);
    XXH3_64bits_update(st, z, zlen);
    *sum = XXH3_64bits_digest(st);
    XXH3_freeState(st);
    return 0;
}

int record_encode(const record *r, int level, uint8_t **out, size_t *len) {
    *out = NULL;
    *len = 0;
    if (!record_valid(r)) return -EINVAL;
    size_t raw = FIXED + (size_t)r->n_gen * 4 + r->text_len;
    size_t bound = ZSTD_compressBound(raw);
    uint8_t *p = malloc(raw), *f = malloc(RECORD_HEADER_BYTES + bound);
    uint64_t sum;
    int rc = -ENOMEM;
    if (!p || !f) goto out;
    put_u32(p, (uint32_t)r->finish);
    put_u32(p + 4, (uint32_t)r->n_gen);
    put_u32(p + 8, (uint32_t)r->prompt_tokens);
    put_u32(p + 12, 0);
    put_u64(p + 16, r->gen_us);
    put_u64(p + 24, (uint64_t)r->created);
    put_u64(p + 32, r->text_len);
    for (int k = 0; k < r->n_gen; k++) put_u32(p + FIXED + 4 * (size_t)k, r->cuts[k]);
    if (r->text_len) memcpy(p + FIXED + 4 * (size_t)r->n_gen, r->text, r->text_len);
    /* with a bound-sized buffer, zstd fails only for want of memory */
    size_t z = ZSTD_compress(f + RECORD_HEADER_BYTES, bound, p, raw, level);
    if (ZSTD_isError(z)) goto out;
    memcpy(f, RECORD_MAGIC, 8);
    put_u32(f + 8, RECORD_VERSION);
    put_u32(f + 12, RECORD_HEADER_BYTES);
    memcpy(f + 16, r->key, 16);
    put_u64(f + 32, raw);
    put_u64(f + 40, z);
    if ((rc = checksum(f, f + RECORD_HEADER_BYTES, z, &sum))) goto out;
    put_u64(f + 48, sum);
    put_u64(f + 56, 0);
    *out = f;
    *len = RECORD_HEADER_BYTES + z;
    f = NULL;
out:
    free(p);
    free(f);
    return rc;
}

int record_check_header(const uint8_t *buf, size_t len, uint64_t file_size, uint8_t key[16]) {
    if (len < 8 || memcmp(buf, RECORD_MAGIC, 8)) return -ENOENT;
    if (len < RECORD_HEADER_BYTES || get_u32(buf + 8) != RECORD_VERSION ||
        get_u32(buf + 12) != RECORD_HEADER_BYTES || get_u64(buf + 56) != 0)
        return -EINVAL;
    uint64_t raw = get_u64(buf + 32), z = get_u64(buf + 40);
    /* raw <= RAW_MAX first: then compressBound(raw) cannot overflow, nor z + 64 */
    if (raw < FIXED || raw > RAW_MAX || z > ZSTD_compressBound((size_t)raw) ||
        RECORD_HEADER_BYTES + z != file_size)
        return -EINVAL;
    if (key) memcpy(key, buf + 16, 16);
    return 0;
}

int record_decode(const uint8_t *buf, size_t len, const uint8_t want_key[16], record **out) {
    *out = NULL;
    int rc = record_check_header(buf, len, len, NULL);
    if (rc) return rc;
    if (want_key && memcmp(buf + 16, want_key, 16)) return -EINVAL;
    const uint8_t *z = buf + RECORD_HEADER_BYTES;
    size_t zlen = len - RECORD_HEADER_BYTES, raw = (size_t)get_u64(buf + 32);
    uint64_t sum;
    if ((rc = checksum(buf, z, zlen, &sum))) return rc;
    if (sum != get_u64(buf + 48) || ZSTD_getFrameContentSize(z, zlen) != raw) return -EINVAL;

    record *r = NULL;
    uint8_t *p = malloc(raw);   /* raw <= RAW_MAX (record_check_header) */
    if (!p) return -ENOMEM;
    rc = -EINVAL;
    size_t got = ZSTD_decompress(p, raw, z, zlen);
    if (ZSTD_isError(got) || got != raw) goto out;
    uint32_t n_gen = get_u32(p + 4), prompt = get_u32(p + 8);
    uint64_t tlen = get_u64(p + 32);
    /* both bounded first, so that the sum cannot overflow */
    if (get_u32(p + 12) != 0 || prompt > INT32_MAX || n_gen > RECORD_MAX_TOKENS ||
        tlen > RECORD_MAX_TEXT || FIXED + 4ull * n_gen + tlen != raw)
        goto out;
    rc = -ENOMEM;
    if (!(r = calloc(1, sizeof *r)) || !(r->cuts = malloc(n_gen ? 4 * (size_t)n_gen : 1)) ||
        !(r->text = malloc(tlen ? (size_t)tlen : 1)))
        goto out;
    memcpy(r->key, buf + 16, 16);
    r->finish = (int)get_u32(p);   /* out of range is refused by record_valid */
    r->n_gen = (int)n_gen;
    r->prompt_tokens = (int)prompt;
    r->gen_us = get_u64(p + 16);
    r->created = (int64_t)get_u64(p + 24);
    r->text_len = (size_t)tlen;
    for (uint32_t k = 0; k < n_gen; k++) r->cuts[k] = get_u32(p + FIXED + 4 * (size_t)k);
    if (tlen) memcpy(r->text, p + FIXED + 4 * (size_t)n_gen, (size_t)tlen);
    rc = -EINVAL;
    if (!record_valid(r)) goto out;
    *out = r;
    r = NULL;
    rc = 0;
out:
    record_free(r);
    free(p);
    return rc;
}
