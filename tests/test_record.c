/* The response record codec (cache/record.c) and the model fingerprints
 * (cache/fingerprint.c): round trips, every truncation and every byte
 * flip refused, each payload check on payloads with a valid checksum, and
 * the remembered fingerprint table. */
#include "tests/harness.h"
#include "cache/fingerprint.h"
#include "cache/record.h"
#include "tests/record_util.h"
#include "engine/engine.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

static const char TEXT[] = "Once upon a time, h\xc3\xa9llo w\xc3\xb6rld \xe2\x82\xac!";

/* A record with every field set, cuts with RECORD_NO_CUT among them. */
static record sample(uint32_t *cuts) {
    static const uint32_t c[6] = { 4, RECORD_NO_CUT, 9, 9, RECORD_NO_CUT, sizeof TEXT - 1 };
    memcpy(cuts, c, sizeof c);
    record r = { .finish = FINISH_STOP, .n_gen = 6, .prompt_tokens = 7,
                 .gen_us = 0x0123456789abcdefull, .created = -1234567890123ll,
                 .cuts = cuts, .text = (char *)TEXT, .text_len = sizeof TEXT - 1 };
    for (int i = 0; i < 16; i++) r.key[i] = (uint8_t)(0xa0 + i);
    return r;
}

/* A payload: the fixed part, n_gen cuts, then text.  Returns its length. */
static size_t payload(uint8_t *p, uint32_t finish, uint32_t n_gen, uint64_t text_len,
                      const uint32_t *cuts, const char *text, size_t tl) {
    memset(p, 0, 40);
    le(p, finish, 4);
    le(p + 4, n_gen, 4);
    le(p + 8, 3, 4);
    le(p + 32, text_len, 8);
    for (uint32_t k = 0; k < n_gen; k++) le(p + 40 + 4 * k, cuts[k], 4);
    memcpy(p + 40 + 4 * n_gen, text, tl);
    return 40 + 4 * n_gen + tl;
}

/* Decodes a wrapped payload whose header tells the truth about its size. */
static int decode_payload(const uint8_t *p, size_t n) {
    size_t len;
    uint8_t *f = record_wrap(p, n, n, &len);
    record *r = NULL;
    int rc = record_decode(f, len, NULL, &r);
    record_free(r);
    free(f);
    return rc;
}

static void round_trip(void) {
    uint32_t cuts[6];
    record r = sample(cuts), *d = NULL;
    uint8_t *buf = NULL, *buf2 = NULL;
    size_t len = 0, len2 = 0;
    CHECK(record_encode(&r, 3, &buf, &len) == 0);
    CHECK(len > RECORD_HEADER_BYTES && !memcmp(buf, "LLMFSRC\0", 8));
    CHECK(record_decode(buf, len, NULL, &d) == 0 && d && record_same(&r, d));
    /* the decoded record encodes to the same bytes */
    CHECK(d && record_encode(d, 3, &buf2, &len2) == 0 && len2 == len && !memcmp(buf, buf2, len));
    CHECK(d && record_mem_bytes(d) == sizeof(record) + 6 * 4 + sizeof TEXT - 1);
    record_free(d);
    d = NULL;
    CHECK(record_decode(buf, len, r.key, &d) == 0 && d && record_same(&r, d));
    record_free(d);
    uint8_t other[16];
    memcpy(other, r.key, 16);
    other[15] ^= 1;
    d = (record *)1;
    CHECK(record_decode(buf, len, other, &d) == -EINVAL && d == NULL);
    free(buf);
    free(buf2);

    /* no tokens, no text, NULL arrays: valid, and decoded arrays are not NULL */
    record e = { .finish = FINISH_EOS };
    CHECK(record_encode(&e, 1, &buf, &len) == 0);
    CHECK(record_decode(buf, len, NULL, &d) == 0 && d && d->n_gen == 0 && d->text_len == 0 &&
          d->cuts && d->text && d->finish == FINISH_EOS);
    CHECK(d && record_mem_bytes(d) == sizeof(record));
    record_free(d);
    free(buf);
    record_free(NULL);
}

static void encode_refuses(void) {
    uint32_t cuts[6];
    uint8_t *buf = (uint8_t *)1;
    size_t len = 1;
    record r = sample(cuts);
    r.finish = 0;
    CHECK(record_encode(&r, 1, &buf, &len) == -EINVAL && !buf && !len);
    r.finish = FINISH_CONTEXT + 1;
    CHECK(record_encode(&r, 1, &buf, &len) == -EINVAL);
    r = sample(cuts), r.n_gen = -1;
    CHECK(record_encode(&r, 1, &buf, &len) == -EINVAL);
    r = sample(cuts), r.prompt_tokens = -1;
    CHECK(record_encode(&r, 1, &buf, &len) == -EINVAL);
    r = sample(cuts), r.text_len = RECORD_MAX_TEXT + 1;   /* refused before the text is read */
    CHECK(record_encode(&r, 1, &buf, &len) == -EINVAL);
    r = sample(cuts), r.n_gen = (int)RECORD_MAX_TOKENS + 1;
    CHECK(record_encode(&r, 1, &buf, &len) == -EINVAL);
    r = sample(cuts), r.cuts = NULL;
    CHECK(record_encode(&r, 1, &buf, &len) == -EINVAL);
    r = sample(cuts), cuts[2] = (uint32_t)r.text_len + 1;
    CHECK(record_encode(&r, 1, &buf, &len) == -EINVAL);
    r = sample(cuts), cuts[2] = 3;   /* below cuts[0] = 4 */
    CHECK(record_encode(&r, 1, &buf, &len) == -EINVAL);
    r = sample(cuts), r.text = "ab\xc3";
    r.text_len = 3;
    r.n_gen = 0;
    CHECK(record_encode(&r, 1, &buf, &len) == -EINVAL);
    CHECK(!buf);
}

static void truncated_and_flipped(void) {
    uint32_t cuts[6];
    record r = sample(cuts), *d;
    uint8_t *buf = NULL;
    size_t len = 0;
    CHECK(record_encode(&r, 3, &buf, &len) == 0);
    if (!buf) return;
    /* every prefix: foreign below 8 bytes, ours but wrong from there */
    for (size_t n = 0; n < len; n++) {
        uint8_t *cut = malloc(n ? n : 1);
        memcpy(cut, buf, n);
        d = NULL;
        int rc = record_decode(cut, n, NULL, &d);
        CHECKF(rc == (n < 8 ? -ENOENT : -EINVAL) && !d, "prefix of %zu bytes: %d", n, rc);
        free(cut);
    }
    /* every byte flipped, two ways: all refused, the magic as foreign */
    uint8_t *w = malloc(len);
    for (size_t i = 0; i < len; i++)
        for (int m = 0; m < 2; m++) {
            memcpy(w, buf, len);
            w[i] ^= m ? 0xff : 0x01;
            d = NULL;
            int want = i < 8 ? -ENOENT : -EINVAL;
            int rc = record_decode(w, len, NULL, &d);
            CHECKF(rc == want && !d, "byte %zu ^ %#x: %d", i, m ? 0xff : 1, rc);
            rc = record_decode(w, len, r.key, &d);
            CHECKF(rc == want && !d, "byte %zu ^ %#x with a key: %d", i, m ? 0xff : 1, rc);
        }
    free(w);
    free(buf);
}

static void check_header(void) {
    uint32_t cuts[6];
    record r = sample(cuts);
    uint8_t *buf = NULL, key[16] = { 0 }, h[RECORD_HEADER_BYTES];
    size_t len = 0;
    CHECK(record_encode(&r, 3, &buf, &len) == 0);
    if (!buf) return;
    CHECK(record_check_header(buf, RECORD_HEADER_BYTES, len, key) == 0 && !memcmp(key, r.key, 16));
    CHECK(record_check_header(buf, len, len, NULL) == 0);
    CHECK(record_check_header(buf, RECORD_HEADER_BYTES - 1, len, NULL) == -EINVAL);
    CHECK(record_check_header(buf, 8, len, NULL) == -EINVAL);
    CHECK(record_check_header(buf, 7, len, NULL) == -ENOENT);
    CHECK(record_check_header(NULL, 0, len, NULL) == -ENOENT);
    CHECK(record_check_header(buf, RECORD_HEADER_BYTES, len + 1, NULL) == -EINVAL);
    CHECK(record_check_header(buf, RECORD_HEADER_BYTES, len - 1, NULL) == -EINVAL);
    CHECK(record_check_header(buf, RECORD_HEADER_BYTES, RECORD_HEADER_BYTES, NULL) == -EINVAL);
    static const int field[] = { 0, 7, 8, 12, 32, 40, 56, 63 };
    for (size_t i = 0; i < sizeof field / sizeof *field; i++) {
        memcpy(h, buf, sizeof h);
        h[field[i]] ^= 0x40;
        CHECKF(record_check_header(h, sizeof h, len, NULL) == (field[i] < 8 ? -ENOENT : -EINVAL),
               "byte %d", field[i]);
    }
    /* a foreign file: another magic */
    memcpy(h, "GGUF\3\0\0\0", 8);
    CHECK(record_check_header(h, sizeof h, len, NULL) == -ENOENT);
    /* huge lengths do not overflow into a match */
    memcpy(h, buf, sizeof h);
    le(h + 40, UINT64_MAX - 63, 8);
    CHECK(record_check_header(h, sizeof h, 0, NULL) == -EINVAL);
    memcpy(h, buf, sizeof h);
    le(h + 32, UINT64_MAX, 8);
    CHECK(record_check_header(h, sizeof h, len, NULL) == -EINVAL);
    free(buf);
}

/* Payloads behind a valid checksum: each field check on its own. */
static void payload_checks(void) {
    static uint8_t p[4096];
    const char *t = "abc\xc3\xa9";
    uint32_t ok[3] = { 1, RECORD_NO_CUT, 5 };
    size_t n = payload(p, FINISH_LENGTH, 3, 5, ok, t, 5);
    CHECK(decode_payload(p, n) == 0);   /* the helper makes valid files */
    for (uint32_t f = 0; f <= 6; f++) {
        n = payload(p, f, 3, 5, ok, t, 5);
        CHECKF(decode_payload(p, n) == (f >= FINISH_EOS && f <= FINISH_CONTEXT ? 0 : -EINVAL),
               "finish %u", f);
    }
    n = payload(p, FINISH_EOS, 3, 5, ok, t, 5);
    p[12] = 1;                          /* the zero field */
    CHECK(decode_payload(p, n) == -EINVAL);
    n = payload(p, FINISH_EOS, 3, 5, ok, t, 5);
    le(p + 8, 0x80000000u, 4);          /* prompt_tokens above INT_MAX */
    CHECK(decode_payload(p, n) == -EINVAL);
    n = payload(p, FINISH_EOS, 3, 4, ok, t, 5);   /* text_len one short */
    CHECK(decode_payload(p, n) == -EINVAL);
    n = payload(p, FINISH_EOS, 3, 6, ok, t, 5);   /* one long */
    CHECK(decode_payload(p, n) == -EINVAL);
    n = payload(p, FINISH_EOS, 3, 5, ok, t, 5);
    le(p + 4, 2, 4);                    /* n_gen one short */
    CHECK(decode_payload(p, n) == -EINVAL);
    /* n_gen = 5 and text_len = 2^64 - 3: the sum wraps around to rawlen */
    n = payload(p, FINISH_EOS, 3, 5, ok, t, 5);
    le(p + 4, 5, 4);
    le(p + 32, UINT64_MAX - 2, 8);
    CHECK(40 + 4 * 5 + (UINT64_MAX - 2) == n && decode_payload(p, n) == -EINVAL);
    n = payload(p, FINISH_EOS, 3, 5, ok, t, 5);
    le(p + 4, RECORD_MAX_TOKENS + 1, 4);
    CHECK(decode_payload(p, n) == -EINVAL);
    uint32_t past[3] = { 1, RECORD_NO_CUT, 6 }, down[3] = { 3, RECORD_NO_CUT, 2 };
    uint32_t same_ok[3] = { RECORD_NO_CUT, 0, 0 };
    n = payload(p, FINISH_EOS, 3, 5, past, t, 5);
    CHECK(decode_payload(p, n) == -EINVAL);
    n = payload(p, FINISH_EOS, 3, 5, down, t, 5);
    CHECK(decode_payload(p, n) == -EINVAL);
    n = payload(p, FINISH_EOS, 3, 5, same_ok, t, 5);
    CHECK(decode_payload(p, n) == 0);
    n = payload(p, FINISH_EOS, 3, 5, ok, "abc\xc3\x28", 5);   /* not UTF-8 */
    CHECK(decode_payload(p, n) == -EINVAL);
    n = payload(p, FINISH_EOS, 3, 5, ok, "ab\xed\xa0\x80", 5);  /* a surrogate */
    CHECK(decode_payload(p, n) == -EINVAL);
    /* a header whose rawlen is not the frame's content size */
    n = payload(p, FINISH_EOS, 3, 5, ok, t, 5);
    size_t len;
    record *d = NULL;
    for (int delta = -1; delta <= 1; delta += 2) {
        uint8_t *f = record_wrap(p, n, n + (size_t)delta, &len);
        CHECK(record_decode(f, len, NULL, &d) == -EINVAL && !d);
        free(f);
    }
    /* a payload too short for its fixed part */
    CHECK(decode_payload(p, 39) == -EINVAL);
    /* a frame without a content size */
    {
        ZSTD_CCtx *cc = ZSTD_createCCtx();
        ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, 0);
        uint8_t *f = record_wrap(p, n, n, &len);
        size_t z = ZSTD_compress2(cc, f + RECORD_HEADER_BYTES, ZSTD_compressBound(n), p, n);
        CHECK(!ZSTD_isError(z) && ZSTD_getFrameContentSize(f + 64, z) == ZSTD_CONTENTSIZE_UNKNOWN);
        CHECK(record_seal(f, z) == 0);
        CHECK(record_decode(f, RECORD_HEADER_BYTES + z, NULL, &d) == -EINVAL && !d);
        free(f);
        ZSTD_freeCCtx(cc);
    }
}

/* ---- fingerprints ---- */

static char tmpdir[64];

static void put_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "we");
    CHECK(f && fwrite(data, 1, n, f) == n);
    if (f) fclose(f);
}

static char *slurp_text(const char *path) {
    static char buf[1 << 16];
    FILE *f = fopen(path, "re");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f) fclose(f);
    buf[n] = '\0';
    return buf;
}

static void hex(const uint8_t fp[16], char out[33]) {
    for (int i = 0; i < 16; i++) snprintf(out + 2 * i, 3, "%02x", fp[i]);
}

/* The XXH3-128 of data, computed here in one shot. */
static void expect_fp(const void *data, size_t n, uint8_t out[16]) {
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits(data, n));
    memcpy(out, c.digest, 16);
}

static int fp(const char *dir, const char *path, uint8_t out[16]) {
    char err[512] = "";
    int rc = fingerprint_file(dir, path, out, err, sizeof err);
    if (rc) CHECKF(!strncmp(err, path, strlen(path)), "err \"%s\"", err);
    return rc;
}

static void fingerprints(void) {
    char model[128], copy[128], table[256], dir[128];
    size_t big = (5u << 20) / 2 + 17;   /* more than two read() chunks */
    uint8_t *data = malloc(big), want[16], got[16], got2[16];
    for (size_t i = 0; i < big; i++) data[i] = (uint8_t)(i * 2654435761u >> 13);
    snprintf(model, sizeof model, "%s/model.bin", tmpdir);
    snprintf(copy, sizeof copy, "%s/copy.bin", tmpdir);
    snprintf(dir, sizeof dir, "%s/cache", tmpdir);
    snprintf(table, sizeof table, "%s/" FINGERPRINT_FILE, dir);
    CHECK(mkdir(dir, 0700) == 0);
    put_file(model, data, big);
    put_file(copy, data, big);
    expect_fp(data, big, want);

    /* without a table, and with one: the true hash, remembered */
    CHECK(fp(NULL, model, got) == 0 && !memcmp(got, want, 16));
    CHECK(access(table, F_OK) != 0);
    CHECK(fp(dir, model, got) == 0 && !memcmp(got, want, 16));
    struct stat st;
    CHECK(stat(table, &st) == 0 && (st.st_mode & 0777) == 0600);
    CHECK(stat(model, &st) == 0);
    char row[256], h[33];
    hex(want, h);
    snprintf(row, sizeof row, "%llu %llu %llu %lld %ld %s\n", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino, (unsigned long long)st.st_size,
             (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec, h);
    char expect[512];
    snprintf(expect, sizeof expect, "llmfs-fingerprints 1\n%s", row);
    CHECKF(!strcmp(slurp_text(table), expect), "table:\n%s", slurp_text(table));

    /* same content, another file: the same fingerprint; one byte changed: another */
    CHECK(fp(dir, copy, got) == 0 && !memcmp(got, want, 16));
    data[big / 2] ^= 1;
    put_file(copy, data, big);
    CHECK(fp(dir, copy, got2) == 0 && memcmp(got2, want, 16));
    expect_fp(data, big, want);
    CHECK(!memcmp(got2, want, 16));
    data[big / 2] ^= 1;
    expect_fp(data, big, want);

    /* the remembered value is what is used: put a known one in its place */
    char fake[33] = "00112233445566778899aabbccddeeff", *t = strdup(slurp_text(table)), *at;
    CHECK((at = strstr(t, row)) != NULL);
    if (at) memcpy(at + strlen(row) - 33, fake, 32);
    put_file(table, t, strlen(t));
    free(t);
    CHECK(fp(dir, model, got) == 0 && got[0] == 0x00 && got[1] == 0x11 && got[15] == 0xff);

    /* a new mtime is a new file: the true hash again, its old row gone */
    struct timespec ts[2] = { { 1000000000, 5 }, { 1000000000, 5 } };
    CHECK(utimensat(AT_FDCWD, model, ts, 0) == 0);
    CHECK(fp(dir, model, got) == 0 && !memcmp(got, want, 16));
    CHECK(!strstr(slurp_text(table), fake));
    CHECK(strstr(slurp_text(table), " 1000000000 5 ") != NULL);
    CHECK(fp(dir, model, got) == 0 && !memcmp(got, want, 16));

    /* a foreign table, and damaged rows, never give a wrong fingerprint */
    CHECK(stat(model, &st) == 0);
    char pre[128];
    snprintf(pre, sizeof pre, "%llu %llu %llu %lld %ld ", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino, (unsigned long long)st.st_size,
             (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    char bad[2048];
    snprintf(bad, sizeof bad, "llmfs-fingerprints 2\n%s%s\n", pre, fake);
    put_file(table, bad, strlen(bad));
    CHECK(fp(dir, model, got) == 0 && !memcmp(got, want, 16));
    static const char *damaged[] = {
        "%s%.31s\n",            /* 31 hex digits */
        "%s%s0\n",              /* 33 */
        "%s%s \n",              /* a trailing blank */
        " %s%s\n",              /* a leading one */
        "+%s%s\n",              /* a sign */
        "%s%s",                 /* no '\n' */
    };
    for (size_t i = 0; i < sizeof damaged / sizeof *damaged; i++) {
        int n = snprintf(bad, sizeof bad, "llmfs-fingerprints 1\n");
        snprintf(bad + n, sizeof bad - (size_t)n, damaged[i], pre, fake);
        put_file(table, bad, strlen(bad));
        CHECKF(fp(dir, model, got) == 0 && !memcmp(got, want, 16), "damaged row %zu", i);
    }
    /* upper-case hex, a NUL inside, and a row behind 300 bytes of one long line */
    char up[33];
    for (int i = 0; i < 32; i++) up[i] = (char)(fake[i] >= 'a' ? fake[i] - 32 : fake[i]);
    up[32] = '\0';
    int n = snprintf(bad, sizeof bad, "llmfs-fingerprints 1\n%s%s\n", pre, up);
    put_file(table, bad, strlen(bad));
    CHECK(fp(dir, model, got) == 0 && !memcmp(got, want, 16));
    n = snprintf(bad, sizeof bad, "llmfs-fingerprints 1\n%s%s junk\n", pre, fake);
    bad[n - 6] = '\0';
    put_file(table, bad, (size_t)n);
    CHECK(fp(dir, model, got) == 0 && !memcmp(got, want, 16));
    n = snprintf(bad, sizeof bad, "llmfs-fingerprints 1\n%s%s%300s\n", pre, fake, "");
    put_file(table, bad, strlen(bad));
    CHECK(fp(dir, model, got) == 0 && !memcmp(got, want, 16));
    n = snprintf(bad, sizeof bad, "llmfs-fingerprints 1\n0%s%s\n", pre, fake);  /* a leading zero */
    put_file(table, bad, strlen(bad));
    CHECK(fp(dir, model, got) == 0 && !memcmp(got, want, 16));
    /* and a good row after a bad one is still found */
    n = snprintf(bad, sizeof bad, "llmfs-fingerprints 1\n%300s\nnonsense\n%s%s\n", "x", pre, fake);
    put_file(table, bad, strlen(bad));
    CHECK(fp(dir, model, got) == 0 && got[0] == 0x00 && got[15] == 0xff);

    /* at most 64 rows, the oldest dropped; no temporary file left */
    unlink(table);
    char name[256];
    for (int i = 0; i < 70; i++) {
        snprintf(name, sizeof name, "%s/f%02d", tmpdir, i);
        put_file(name, name, strlen(name));
        CHECK(fp(dir, name, got) == 0);
    }
    t = slurp_text(table);
    int lines = 0;
    for (char *c = t; *c; c++) lines += *c == '\n';
    CHECKF(lines == 65, "%d lines", lines);
    snprintf(name, sizeof name, "%s/f%02d", tmpdir, 5);
    CHECK(stat(name, &st) == 0);
    snprintf(row, sizeof row, "\n%llu %llu ", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino);
    CHECK(!strstr(t, row));
    snprintf(name, sizeof name, "%s/f%02d", tmpdir, 6);
    CHECK(stat(name, &st) == 0);
    snprintf(row, sizeof row, "\n%llu %llu ", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino);
    CHECK(strstr(t, row) != NULL);
    snprintf(name, sizeof name, "%s/.fingerprints.tmp.%ld", dir, (long)getpid());
    CHECK(access(name, F_OK) != 0);

    /* a table that cannot be written is no failure */
    snprintf(name, sizeof name, "%s/no/such/dir", tmpdir);
    CHECK(fp(name, model, got) == 0 && !memcmp(got, want, 16));
    /* errors name the file */
    snprintf(name, sizeof name, "%s/missing", tmpdir);
    CHECK(fp(dir, name, got) == -ENOENT);
    CHECK(fp(dir, tmpdir, got) == -EINVAL);
    CHECK(mkfifo(name, 0600) == 0);
    CHECK(fp(dir, name, got) == -EINVAL);
    /* a FIFO in the table's place reads as an empty table */
    unlink(table);
    CHECK(mkfifo(table, 0600) == 0);
    CHECK(fp(dir, model, got) == 0 && !memcmp(got, want, 16));
    free(data);
}

int main(void) {
    TEST("record: round trip of every field, and of an empty record", round_trip);
    TEST("record: the encoder refuses what the decoder would", encode_refuses);
    TEST("record: every truncation and every byte flip refused", truncated_and_flipped);
    TEST("record: record_check_header", check_header);
    TEST("record: payload checks behind a valid checksum", payload_checks);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_record.XXXXXX");
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 1; }
    TEST("fingerprint: true hash, remembered, recomputed on change, strict table", fingerprints);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd)) printf("# could not remove %s\n", tmpdir);
    TEST_EXIT();
}
