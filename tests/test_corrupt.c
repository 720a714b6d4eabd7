/* Bad input never crashes the loaders: every prefix of the test models
 * (byte by byte over the headers and around every tensor boundary, coarser
 * over the bulk of the weights) must be refused with a message, and random
 * byte flips in the headers must either load or be refused with a message.
 * Each truncated input is copied into a buffer of exactly its length, so a
 * sanitizer build catches any read past the end. */
#define _GNU_SOURCE   /* memmem */
#include "tests/harness.h"
#include "engine/gguf.h"
#include "engine/model.h"
#include "engine/tokenizer.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BULK_STRIDE 1021   /* prime, so the cuts fall at every alignment */
#define N_FLIPS 2000

typedef struct {
    unsigned char *p;
    size_t n;
} blob;

static blob slurp(const char *rel) {
    char path[1024];
    blob b = { NULL, 0 };
    FILE *f = fopen(shared_path(path, sizeof path, rel), "rb");
    if (!f) {
        printf("#   cannot open %s\n", path);
        return b;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    b.p = malloc(n > 0 ? (size_t)n : 1);
    if (b.p && n > 0 && fread(b.p, 1, (size_t)n, f) == (size_t)n) b.n = (size_t)n;
    fclose(f);
    return b;
}

static uint64_t rng_state = 0x5eed;
static uint64_t rng(void) {
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* ---------------------------------------------------- the three loaders */

enum { K_GGUF, K_L2C, K_TOK };

/* Loads buf[0..n) as kind; returns the loader's result, message in err. */
static int load(int kind, const void *buf, size_t n, char *err, size_t errlen) {
    err[0] = 0;
    if (kind == K_TOK) {
        tokenizer *t = NULL;
        int rc = tokenizer_from_llama2c_buf(buf, n, 512, &t, err, errlen);
        if (rc == 0) tokenizer_free(t);
        return rc;
    }
    model *m = NULL;
    int rc = kind == K_GGUF ? model_load_gguf_buf(buf, n, &m, err, errlen)
                            : model_load_llama2c_buf(buf, n, &m, err, errlen);
    if (rc == 0) model_free(m);
    return rc;
}

/* ---------------------------------------------------------- prefixes */

/* cut[len] = 1 for each prefix length to try. */
static void mark(unsigned char *cut, size_t size, size_t from, size_t to) {
    for (size_t i = from; i < to && i < size; i++) cut[i] = 1;
}

static void mark_boundary(unsigned char *cut, size_t size, size_t at) {
    mark(cut, size, at > 8 ? at - 8 : 0, at + 9);
}

/* Every marked prefix must fail with a message.  Prefixes of at least
 * min_ok bytes may load (trailing padding that no tensor needs). */
static void check_prefixes(int kind, const blob *b, const unsigned char *cut, size_t min_ok) {
    char err[512];
    size_t tried = 0, loaded = 0, silent = 0, first_loaded = 0, first_silent = 0;
    for (size_t len = 0; len < b->n; len++) {
        if (!cut[len]) continue;
        unsigned char *p = malloc(len ? len : 1);
        if (!p) { CHECK(p); return; }
        memcpy(p, b->p, len);
        int rc = load(kind, p, len, err, sizeof err);
        free(p);
        tried++;
        if (rc == 0 && len < min_ok) { if (!loaded++) first_loaded = len; }
        if (rc < 0 && !err[0]) { if (!silent++) first_silent = len; }
    }
    CHECKF(loaded == 0, "%zu truncated inputs loaded, the first %zu bytes long", loaded,
           first_loaded);
    CHECKF(silent == 0, "%zu failures without a message, the first at length %zu", silent,
           first_silent);
    printf("#   %zu prefixes of %zu bytes refused\n", tried, b->n);
}

/* ------------------------------------------------------------ flips */

/* N_FLIPS trials of 1..4 random bytes changed in b[0..region): each must
 * load or fail with a message.  The buffer is restored after each. */
static void check_flips(int kind, blob *b, size_t region) {
    char err[512];
    int loaded = 0, silent = 0;
    for (int trial = 0; trial < N_FLIPS; trial++) {
        size_t pos[4];
        unsigned char old[4];
        int k = 1 + (int)(rng() % 4);
        for (int i = 0; i < k; i++) {
            pos[i] = (size_t)(rng() % region);
            old[i] = b->p[pos[i]];
            b->p[pos[i]] ^= (unsigned char)(1 + rng() % 255);
        }
        int rc = load(kind, b->p, b->n, err, sizeof err);
        if (rc == 0) loaded++;
        else if (!err[0]) {
            if (!silent++) printf("#   trial %d: failure without a message\n", trial);
        }
        for (int i = k - 1; i >= 0; i--) b->p[pos[i]] = old[i];
    }
    CHECKF(silent == 0, "%d failures without a message", silent);
    printf("#   %d flip trials: %d loaded, %d refused\n", N_FLIPS, loaded, N_FLIPS - loaded);
}

/* ------------------------------------------------------------- cases */

static void test_gguf_prefixes(void) {
    blob b = slurp("models/stories260K.gguf");
    CHECK(b.n > 0);
    if (!b.n) return;
    char err[512];
    CHECKF(load(K_GGUF, b.p, b.n, err, sizeof err) == 0, "the whole file: %s", err);
    gguf *g = NULL;
    CHECKF(gguf_parse(b.p, b.n, &g, err, sizeof err) == 0, "%s", err);
    if (!g) { free(b.p); return; }
    unsigned char *cut = calloc(b.n, 1);
    size_t end = 0;
    mark(cut, b.n, 0, (size_t)g->data_off + 64);
    for (size_t at = 0; at < b.n; at += BULK_STRIDE) cut[at] = 1;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        size_t s = (size_t)(g->data_off + g->tensors[i].offset);
        size_t e = s + (size_t)g->tensors[i].nbytes;
        mark_boundary(cut, b.n, s);
        mark_boundary(cut, b.n, e);
        if (e > end) end = e;
    }
    mark_boundary(cut, b.n, b.n);
    gguf_free(g);
    check_prefixes(K_GGUF, &b, cut, end);
    free(cut);
    free(b.p);
}

static void test_gguf_flips(void) {
    blob b = slurp("models/stories260K.gguf");
    CHECK(b.n > 0);
    if (!b.n) return;
    char err[512];
    gguf *g = NULL;
    CHECKF(gguf_parse(b.p, b.n, &g, err, sizeof err) == 0, "%s", err);
    if (g) {
        size_t region = (size_t)g->data_off;
        gguf_free(g);
        check_flips(K_GGUF, &b, region);
    }
    free(b.p);
}

/* llama2.c layout after the 7-int32 header, in floats: the section sizes
 * in file order (freq_cis_real/imag before the optional classifier). */
static void l2c_boundaries(const blob *b, unsigned char *cut) {
    int32_t h[7];
    memcpy(h, b->p, sizeof h);
    size_t dim = (size_t)h[0], hid = (size_t)h[1], L = (size_t)h[2];
    size_t hd = dim / (size_t)h[3], kvd = hd * (size_t)h[4];
    size_t vocab = (size_t)(h[5] < 0 ? -h[5] : h[5]), seq = (size_t)h[6];
    size_t sec[] = { vocab * dim, L * dim, L * dim * dim, L * dim * kvd, L * dim * kvd,
                     L * dim * dim, L * dim, L * dim * hid, L * hid * dim, L * dim * hid,
                     dim, seq * hd / 2, seq * hd / 2, h[5] < 0 ? vocab * dim : 0 };
    size_t at = 28;
    mark_boundary(cut, b->n, at);
    for (size_t i = 0; i < sizeof sec / sizeof *sec; i++) {
        at += sec[i] * 4;
        mark_boundary(cut, b->n, at);
    }
}

static void test_l2c_prefixes(void) {
    blob b = slurp("models/stories260K.bin");
    CHECK(b.n > 28);
    if (b.n <= 28) { free(b.p); return; }
    char err[512];
    CHECKF(load(K_L2C, b.p, b.n, err, sizeof err) == 0, "the whole file: %s", err);
    unsigned char *cut = calloc(b.n, 1);
    mark(cut, b.n, 0, 28 + 256);
    for (size_t at = 0; at < b.n; at += BULK_STRIDE) cut[at] = 1;
    l2c_boundaries(&b, cut);
    check_prefixes(K_L2C, &b, cut, b.n);
    free(cut);
    free(b.p);
}

static void test_l2c_flips(void) {
    blob b = slurp("models/stories260K.bin");
    CHECK(b.n > 28);
    if (b.n > 28) check_flips(K_L2C, &b, 28);
    free(b.p);
}

static void test_tok_prefixes(void) {
    blob b = slurp("models/tok512.bin");
    CHECK(b.n > 0);
    if (!b.n) return;
    char err[512];
    CHECKF(load(K_TOK, b.p, b.n, err, sizeof err) == 0, "the whole file: %s", err);
    unsigned char *cut = calloc(b.n, 1);
    mark(cut, b.n, 0, b.n);
    check_prefixes(K_TOK, &b, cut, b.n);
    free(cut);
    free(b.p);
}

static void test_tok_flips(void) {
    blob b = slurp("models/tok512.bin");
    CHECK(b.n > 0);
    if (b.n) check_flips(K_TOK, &b, b.n);
    free(b.p);
}

/* A tensor of a type GGML defines and llmfs does not read is refused in
 * one message that names the type and the ones llmfs reads. */
static void test_unread_type(void) {
    blob b = slurp("models/llamacpp/tiny-q4_k.gguf");
    CHECK(b.n > 0);
    if (!b.n) return;
    /* tensor info: name (u64 length, bytes), u32 n_dims, n_dims u64, u32 type */
    const char *name = "token_embd.weight";
    unsigned char *at = memmem(b.p, b.n < 65536 ? b.n : 65536, name, strlen(name));
    CHECK(at != NULL);
    if (at) {
        unsigned char *p = at + strlen(name);
        uint32_t nd, type = 16;   /* IQ2_XXS */
        memcpy(&nd, p, 4);
        CHECK(nd >= 1 && nd <= 4);
        memcpy(p + 4 + 8 * (size_t)nd, &type, 4);
        char err[512];
        CHECK(load(K_GGUF, b.p, b.n, err, sizeof err) != 0);
        CHECKF(strstr(err, "IQ2_XXS") && strstr(err, "Q5_K"), "message: %s", err);
        printf("#   %s\n", err);
    }
    free(b.p);
}

int main(void) {
    TEST("corrupt: a weight type llmfs does not read is refused by name", test_unread_type);
    TEST("corrupt: every truncated stories260K.gguf is refused", test_gguf_prefixes);
    TEST("corrupt: stories260K.gguf header flips load or fail cleanly", test_gguf_flips);
    TEST("corrupt: every truncated stories260K.bin is refused", test_l2c_prefixes);
    TEST("corrupt: stories260K.bin header flips load or fail cleanly", test_l2c_flips);
    TEST("corrupt: every truncated tok512.bin is refused", test_tok_prefixes);
    TEST("corrupt: tok512.bin flips load or fail cleanly", test_tok_flips);
    TEST_EXIT();
}
