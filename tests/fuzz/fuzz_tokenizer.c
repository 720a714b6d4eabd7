/* libFuzzer harness for the tokenizer.  Inputs whose first byte is even are
 * llama2.c tokenizer.bin files (vocabulary size from the second byte, or
 * 512): any must yield a tokenizer or a one-line error, never a crash,
 * leak or overread, and a loaded one must encode and decode.  Odd inputs
 * are text for the tok512 vocabulary and the GPT-2 one when present
 * ($LLMFS_SHARED or ../shared): the ids must be in range and, after BOS,
 * decode back to the text (for SentencePiece only when the text is valid
 * UTF-8: llama.cpp cuts an invalid sequence by its lead byte, which can
 * swallow part of an escaped space).  Seeds: tok512.bin, the vocab/ .inp inputs.  A text holding U+2581
 * itself does not round-trip through SentencePiece (nor in llama.cpp). */
#define _GNU_SOURCE   /* memmem */
#include "engine/gguf.h"
#include "engine/tokenizer.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static tokenizer *tok512, *gpt2;

/* The shared test data: $LLMFS_SHARED, else ../shared beside the
 * repository that holds this program (build-fuzz/..), wherever it is run
 * from. */
static const char *shared_dir(char *buf, size_t cap) {
    const char *dir = getenv("LLMFS_SHARED");
    if (dir && *dir) return dir;
    char exe[400];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return "../shared";
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (slash) *slash = 0;                       /* .../build-fuzz */
    snprintf(buf, cap, "%s/../../shared", exe);
    return buf;
}

static void load_once(void) {
    static int done;
    if (done) return;
    done = 1;
    char dirbuf[512], path[600], err[256];
    const char *dir = shared_dir(dirbuf, sizeof dirbuf);
    snprintf(path, sizeof path, "%s/models/tok512.bin", dir);
    if (tokenizer_from_llama2c(path, 512, &tok512, err, sizeof err)) {
        /* a setup error, not a finding: no abort() */
        fprintf(stderr, "fuzz_tokenizer: %s (set LLMFS_SHARED to the shared test data)\n", err);
        exit(2);
    }
    gguf *g;
    snprintf(path, sizeof path, "%s/vocab/ggml-vocab-gpt-2.gguf", dir);
    if (gguf_open(path, &g, err, sizeof err) == 0) {
        if (tokenizer_from_gguf(g, &gpt2, err, sizeof err)) gpt2 = NULL;
        gguf_free(g);
    }
}

static int valid_utf8(const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        size_t k = s[i] < 0x80 ? 1 : (s[i] & 0xe0) == 0xc0 ? 2 : (s[i] & 0xf0) == 0xe0 ? 3
                 : (s[i] & 0xf8) == 0xf0 ? 4 : 0;
        if (!k || k > n - i) return 0;
        for (size_t j = 1; j < k; j++)
            if ((s[i + j] & 0xc0) != 0x80) return 0;
        i += k;
    }
    return 1;
}

static void roundtrip(const tokenizer *t, const char *text, size_t len, int spm) {
    int ids[512];
    int n = tokenizer_encode(t, text, len, 1, ids, 512);
    if (n < 0) abort();
    if (n > 512) return;
    static char out[512 * TOKENIZER_MAX_PIECE];
    size_t w = 0;
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= tokenizer_n_vocab(t)) abort();
        int k = tokenizer_decode(t, i ? ids[i - 1] : -1, ids[i], out + w, TOKENIZER_MAX_PIECE);
        if (k < 0 || k > TOKENIZER_MAX_PIECE) abort();
        w += (size_t)k;
    }
    if (spm && (memmem(text, len, "\xe2\x96\x81", 3) || !valid_utf8((const unsigned char *)text, len)))
        return;
    if (w != len || memcmp(out, text, len)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    load_once();
    if (size < 2) return 0;
    if (!(data[0] & 1)) {
        int n_vocab = data[1] ? data[1] : 512;
        char err[256];
        tokenizer *t = NULL;
        err[0] = 0;
        if (tokenizer_from_llama2c_buf(data + 2, size - 2, n_vocab, &t, err, sizeof err) == 0) {
            int ids[64];
            char piece[TOKENIZER_MAX_PIECE];
            int n = tokenizer_encode(t, " Once upon a time\n\xc3\xa9\xff", 20, 1, ids, 64);
            if (n < 0) abort();
            for (int i = 0; i < n && i < 64; i++) {
                if (ids[i] < 0 || ids[i] >= n_vocab) abort();
                tokenizer_decode(t, i ? ids[i - 1] : -1, ids[i], piece, sizeof piece);
            }
            tokenizer_free(t);
        } else if (!err[0] || strchr(err, '\n')) {
            abort();
        }
        return 0;
    }
    roundtrip(tok512, (const char *)data + 1, size - 1, 1);
    if (gpt2) roundtrip(gpt2, (const char *)data + 1, size - 1, 0);
    return 0;
}
