/* Tests for engine/tokenizer.c: llama.cpp's own tokenizer vectors (vocab/),
 * the tok512 vocabulary through both its GGUF and its llama2.c .bin form,
 * the 32000-token LLaMA vocabulary, decode(encode(x)) round trips, damaged
 * tokenizer.bin buffers, and encoding speed. */
#define _GNU_SOURCE   /* memmem */
#include "engine/gguf.h"
#include "engine/tokenizer.h"
#include "tests/harness.h"

#include <errno.h>
#include <time.h>

typedef struct {
    char *buf;
    size_t len;
} blob;

static blob slurp(const char *rel) {
    char path[512];
    blob b = { NULL, 0 };
    FILE *f = fopen(shared_path(path, sizeof path, rel), "rb");
    if (!f) return b;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    b.buf = malloc((size_t)n + 1);
    if (b.buf && fread(b.buf, 1, (size_t)n, f) == (size_t)n) {
        b.len = (size_t)n;
        b.buf[n] = 0;
    }
    fclose(f);
    return b;
}

#define SEP "\n__ggml_vocab_test__\n"

/* A test set: inputs and, for each, the expected ids. */
typedef struct {
    int n;
    const char *inp[128];
    size_t inp_len[128];
    int *ids[128];
    int n_ids[128];
    blob ib, ob;
} vecset;

static int vec_load(vecset *v, const char *inp, const char *out) {
    memset(v, 0, sizeof *v);
    v->ib = slurp(inp);
    v->ob = slurp(out);
    if (!v->ib.buf || !v->ob.buf) return -1;
    char *p = v->ib.buf, *end = p + v->ib.len;
    while (p < end && v->n < 128) {
        char *s = memmem(p, (size_t)(end - p), SEP, strlen(SEP));
        if (!s) break;
        v->inp[v->n] = p;
        v->inp_len[v->n] = (size_t)(s - p);
        v->n++;
        p = s + strlen(SEP);
    }
    char *q = v->ob.buf;
    for (int i = 0; i < v->n; i++) {
        char *nl = strchr(q, '\n');
        if (!nl) return -1;
        *nl = 0;
        v->ids[i] = malloc(sizeof(int) * (strlen(q) / 2 + 1));
        int k = 0;
        char *e;
        for (;;) {
            long x = strtol(q, &e, 10);
            if (e == q) break;
            v->ids[i][k++] = (int)x;
            q = e;
        }
        v->n_ids[i] = k;
        q = nl + 1;
    }
    return 0;
}

static void vec_free(vecset *v) {
    for (int i = 0; i < v->n; i++) free(v->ids[i]);
    free(v->ib.buf);
    free(v->ob.buf);
}

static void show(const char *what, const int *ids, int n) {
    printf("#     %s:", what);
    for (int i = 0; i < n && i < 40; i++) printf(" %d", ids[i]);
    printf("\n");
}

/* Encodes every input of the set and compares; returns how many pass.
 * verbose: print each mismatch.  Also counts round-trip failures. */
static int run_set(const tokenizer *t, const vecset *v, int add_bos, int verbose, int *rt_fail) {
    int pass = 0;
    int ids[4096];
    for (int i = 0; i < v->n; i++) {
        int n = tokenizer_encode(t, v->inp[i], v->inp_len[i], add_bos, ids, 4096);
        int ok = n == v->n_ids[i] && !memcmp(ids, v->ids[i], sizeof(int) * (size_t)(n > 0 ? n : 0));
        pass += ok;
        if (!ok && verbose) {
            printf("#   input %d '%.*s'\n", i, (int)v->inp_len[i], v->inp[i]);
            show("want", v->ids[i], v->n_ids[i]);
            show("got ", ids, n);
        }
        /* decode(encode(x)) == x, the leading space dropped after BOS */
        if (n > 0 && n <= 4096 && rt_fail) {
            char text[16384];
            size_t w = 0;
            int prev = tokenizer_bos(t);   /* as if after BOS: drops the dummy prefix */
            for (int k = 0; k < n; k++) {
                if (k == 0 && add_bos && ids[0] == tokenizer_bos(t)) { prev = ids[0]; continue; }
                w += (size_t)tokenizer_decode(t, prev, ids[k], text + w, sizeof text - w);
                prev = ids[k];
            }
            if (w != v->inp_len[i] || memcmp(text, v->inp[i], w)) {
                (*rt_fail)++;
                if (verbose) printf("#   round trip of input %d gave '%.*s'\n", i, (int)w, text);
            }
        }
    }
    return pass;
}

static tokenizer *load_gguf(const char *rel) {
    char path[512], err[256];
    gguf *g;
    tokenizer *t = NULL;
    if (gguf_open(shared_path(path, sizeof path, rel), &g, err, sizeof err)) {
        printf("#   %s: %s\n", rel, err);
        return NULL;
    }
    if (tokenizer_from_gguf(g, &t, err, sizeof err)) printf("#   %s: %s\n", rel, err);
    gguf_free(g);   /* the tokenizer keeps its own copies */
    return t;
}

/* Checks that a GGUF vocabulary reproduces all its vectors exactly. */
static void check_exact(const char *name, int add_bos, const char *gg, const char *inp, const char *out) {
    vecset v;
    tokenizer *t = load_gguf(gg);
    CHECKF(t != NULL, "%s: load", name);
    CHECKF(vec_load(&v, inp, out) == 0 && v.n > 0, "%s: vectors", name);
    if (t && v.n) {
        int rt = 0;
        int pass = run_set(t, &v, add_bos, 1, &rt);
        printf("# %s: %d/%d inputs match llama.cpp, %d round-trip failures\n", name, pass, v.n, rt);
        CHECKF(pass == v.n, "%s: %d of %d", name, pass, v.n);
        CHECKF(rt == 0, "%s: %d round trips differ", name, rt);
    }
    vec_free(&v);
    tokenizer_free(t);
}

static void t_llama_spm(void) {
    check_exact("llama-spm", 0, "vocab/ggml-vocab-llama-spm.gguf",
                "vocab/ggml-vocab-llama-spm.gguf.inp", "vocab/ggml-vocab-llama-spm.gguf.out");
}
static void t_phi3(void) {
    check_exact("phi-3", 0, "vocab/ggml-vocab-phi-3.gguf",
                "vocab/ggml-vocab-phi-3.gguf.inp", "vocab/ggml-vocab-phi-3.gguf.out");
}
static void t_gpt2(void) {
    check_exact("gpt-2", 0, "vocab/ggml-vocab-gpt-2.gguf",
                "vocab/ggml-vocab-gpt-2.gguf.inp", "vocab/ggml-vocab-gpt-2.gguf.out");
}
static void t_tok512_gguf(void) {
    check_exact("tok512 (gguf)", 0, "models/stories260K.gguf", "vocab/tok512.inp", "vocab/tok512.out");
    check_exact("tok512 (gguf, bos)", 1, "models/stories260K.gguf", "vocab/tok512.inp", "vocab/tok512.bos.out");
}
static void t_llama32k(void) {
    check_exact("llama32k", 0, "models/llamacpp/vocab32k-f32.gguf", "vocab/llama32k.inp", "vocab/llama32k.out");
    check_exact("llama32k (bos)", 1, "models/llamacpp/vocab32k-f32.gguf", "vocab/llama32k.inp",
                "vocab/llama32k.bos.out");
}

static void t_tok512_bin(void) {
    char path[512], err[256];
    tokenizer *t = NULL;
    int rc = tokenizer_from_llama2c(shared_path(path, sizeof path, "models/tok512.bin"), 512, &t, err, sizeof err);
    CHECKF(rc == 0, "%s", err);
    if (rc) return;
    CHECK(tokenizer_n_vocab(t) == 512);
    CHECK(tokenizer_bos(t) == 1 && tokenizer_eos(t) == 2);
    CHECK(tokenizer_is_eog(t, 1) && tokenizer_is_eog(t, 2) && !tokenizer_is_eog(t, 3));
    const char *files[2] = { "vocab/tok512.out", "vocab/tok512.bos.out" };
    for (int b = 0; b < 2; b++) {
        vecset v;
        CHECK(vec_load(&v, "vocab/tok512.inp", files[b]) == 0);
        int rt = 0, pass = run_set(t, &v, b, 1, &rt);
        printf("# tok512 (tokenizer.bin%s): %d/%d inputs match, %d round-trip failures\n",
               b ? ", bos" : "", pass, v.n, rt);
        CHECK(pass == v.n && v.n == 48);
        CHECK(rt == 0);
        vec_free(&v);
    }
    /* the same vocabulary as the GGUF: same texts (spaces as U+2581), same decoding */
    tokenizer *g = load_gguf("models/stories260K.gguf");
    CHECK(g != NULL);
    for (int id = 0; g && id < 512; id++) {
        char a[300], c[300];
        int na = tokenizer_decode(t, 1, id, a, sizeof a), nc = tokenizer_decode(g, 1, id, c, sizeof c);
        CHECKF(na == nc && !memcmp(a, c, (size_t)na), "token %d decodes differently", id);
        CHECKF(!strcmp(tokenizer_token_text(t, id), tokenizer_token_text(g, id)),
               "token %d: '%s' vs '%s'", id, tokenizer_token_text(t, id), tokenizer_token_text(g, id));
    }
    /* decode: BOS, EOS give nothing; a byte token gives its byte */
    char buf[16];
    CHECK(tokenizer_decode(t, -1, 1, buf, sizeof buf) == 0);
    CHECK(tokenizer_decode(t, -1, 2, buf, sizeof buf) == 0);
    CHECK(tokenizer_decode(t, -1, 3 + 0x0A, buf, sizeof buf) == 1 && buf[0] == '\n');
    CHECK(tokenizer_decode(t, -1, 512, buf, sizeof buf) == 0);
    /* a short buffer: the count is still the full count */
    int ids[2];
    int n = tokenizer_encode(t, "Once upon a time", 16, 1, ids, 2);
    int all[64];
    CHECK(n > 2 && tokenizer_encode(t, "Once upon a time", 16, 1, all, 64) == n && !memcmp(ids, all, sizeof ids));
    CHECK(tokenizer_encode(t, "", 0, 0, ids, 2) == 0);
    CHECK(tokenizer_encode(t, "", 0, 1, ids, 2) == 1 && ids[0] == 1);
    tokenizer_free(g);
    tokenizer_free(t);
}

/* Every prefix of tok512.bin and random damage: an error or a tokenizer,
 * never a crash (the sanitizer build checks the memory). */
static void t_corrupt_bin(void) {
    blob b = slurp("models/tok512.bin");
    CHECK(b.buf != NULL);
    if (!b.buf) return;
    char err[256];
    tokenizer *t;
    int bad = 0;
    for (size_t len = 0; len < b.len; len++) {
        char *copy = malloc(len ? len : 1);   /* exact size: ASan sees overreads */
        memcpy(copy, b.buf, len);
        err[0] = 0;
        int rc = tokenizer_from_llama2c_buf(copy, len, 512, &t, err, sizeof err);
        if (rc == 0 || !err[0] || strchr(err, '\n')) { bad++; tokenizer_free(t); }
        free(copy);
    }
    CHECKF(bad == 0, "%d prefixes loaded or gave no one-line error", bad);
    CHECK(tokenizer_from_llama2c_buf(b.buf, b.len, 512, &t, err, sizeof err) == 0);
    tokenizer_free(t);
    CHECK(tokenizer_from_llama2c_buf(b.buf, b.len, 0, &t, err, sizeof err) < 0);
    CHECK(tokenizer_from_llama2c_buf(b.buf, b.len, 100000, &t, err, sizeof err) < 0);
    srand(1234);
    int loaded = 0;
    for (int iter = 0; iter < 3000; iter++) {
        char *copy = malloc(b.len);
        memcpy(copy, b.buf, b.len);
        int flips = 1 + rand() % 8;
        for (int k = 0; k < flips; k++) copy[rand() % (int)b.len] ^= (char)(1 << (rand() % 8));
        if (tokenizer_from_llama2c_buf(copy, b.len, 512, &t, err, sizeof err) == 0) {
            loaded++;
            int ids[256];
            const char *s = " Once upon a time, \xc3\xa9 \xe2\x96\x81 \xff\n";
            int n = tokenizer_encode(t, s, strlen(s), 1, ids, 256);
            CHECK(n > 0);
            for (int k = 0; k < n && k < 256; k++) {
                char piece[300];
                CHECK(ids[k] >= 0 && ids[k] < 512);
                CHECK(tokenizer_decode(t, k ? ids[k - 1] : -1, ids[k], piece, sizeof piece) <= TOKENIZER_MAX_PIECE);
            }
            tokenizer_free(t);
        }
        free(copy);
    }
    printf("# %d of 3000 damaged tokenizer.bin buffers still loaded\n", loaded);
    free(b.buf);
}

/* The other BPE pre-tokenizers: report, and fail only on regression below
 * the counts recorded here (all 46 of 46 when this was written). */
static void t_other_bpe(void) {
    static const struct { const char *name; int min_pass; } sets[] = {
        { "deepseek-llm", 46 }, { "deepseek-coder", 46 }, { "falcon", 46 },
        { "mpt", 46 }, { "refact", 46 }, { "starcoder", 46 },
    };
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
        char g[128], in[160], out[160];
        snprintf(g, sizeof g, "vocab/ggml-vocab-%s.gguf", sets[i].name);
        snprintf(in, sizeof in, "%s.inp", g);
        snprintf(out, sizeof out, "%s.out", g);
        tokenizer *t = load_gguf(g);
        vecset v;
        CHECKF(t != NULL, "%s: load", sets[i].name);
        CHECKF(vec_load(&v, in, out) == 0, "%s: vectors", sets[i].name);
        if (t) {
            int rt = 0;
            int pass = run_set(t, &v, 0, getenv("TOK_VERBOSE") != NULL, &rt);
            printf("# %s: %d/%d inputs match llama.cpp, %d round-trip failures\n",
                   sets[i].name, pass, v.n, rt);
            CHECKF(pass >= sets[i].min_pass, "%s regressed: %d < %d", sets[i].name, pass, sets[i].min_pass);
            CHECKF(rt == 0, "%s: %d round trips differ", sets[i].name, rt);
        }
        vec_free(&v);
        tokenizer_free(t);
    }
}

static void t_eog(void) {
    tokenizer *t = load_gguf("vocab/ggml-vocab-phi-3.gguf");
    CHECK(t != NULL);
    if (!t) return;
    CHECK(tokenizer_is_eog(t, 32000));   /* EOS <|endoftext|> */
    CHECK(tokenizer_is_eog(t, 32007));   /* <|end|> */
    CHECK(tokenizer_is_eog(t, 1));       /* BOS */
    CHECK(!tokenizer_is_eog(t, 100) && !tokenizer_is_eog(t, -1));
    char buf[64];
    CHECK(tokenizer_decode(t, -1, 32007, buf, sizeof buf) == 0);   /* control: nothing */
    CHECK(tokenizer_decode(t, -1, 2, buf, sizeof buf) == 4 && !memcmp(buf, "</s>", 4));  /* user-defined */
    tokenizer_free(t);
    t = load_gguf("vocab/ggml-vocab-gpt-2.gguf");
    CHECK(t != NULL);
    if (!t) return;
    CHECK(tokenizer_is_eog(t, 50256));
    CHECK(tokenizer_decode(t, -1, 50256, buf, sizeof buf) == 0);
    int n = tokenizer_decode(t, -1, 220, buf, sizeof buf);   /* "Ġ" */
    CHECK(n == 1 && buf[0] == ' ');
    tokenizer_free(t);
}

/* GGUF vocabularies with bad metadata are refused with a message. */
static void t_bad_gguf(void) {
    /* Build a minimal GGUF in memory: model "llama", 2 tokens, 3 scores. */
    unsigned char buf[512];
    size_t w = 0;
#define PUT(p, n) do { memcpy(buf + w, p, n); w += n; } while (0)
#define U32(v) do { uint32_t x_ = (v); PUT(&x_, 4); } while (0)
#define U64(v) do { uint64_t x_ = (v); PUT(&x_, 8); } while (0)
#define STR(s) do { U64(strlen(s)); PUT(s, strlen(s)); } while (0)
    PUT("GGUF", 4); U32(3); U64(0); U64(3);
    STR("tokenizer.ggml.model"); U32(8); STR("llama");
    STR("tokenizer.ggml.tokens"); U32(9); U32(8); U64(2); STR("a"); STR("b");
    STR("tokenizer.ggml.scores"); U32(9); U32(6); U64(3);
    float f = 0; PUT(&f, 4); PUT(&f, 4); PUT(&f, 4);
    gguf *g;
    char err[256];
    CHECK(gguf_parse(buf, w, &g, err, sizeof err) == 0);
    tokenizer *t = NULL;
    if (g) {
        CHECK(tokenizer_from_gguf(g, &t, err, sizeof err) == -EINVAL && t == NULL);
        printf("# bad scores: %s\n", err);
        gguf_free(g);
    }
}

static void t_speed(void) {
    tokenizer *t = load_gguf("models/llamacpp/vocab32k-f32.gguf");
    tokenizer *b = load_gguf("vocab/ggml-vocab-gpt-2.gguf");
    CHECK(t && b);
    if (!t || !b) { tokenizer_free(t); tokenizer_free(b); return; }
    char text[8192] = "";
    while (strlen(text) < 2200)
        strcat(text, "Once upon a time, there was a little girl named Lily. She loved to play "
                     "outside in the sunshine, 123 times a day! ");
    int ids[2048];
    const tokenizer *tk[2] = { t, b };
    for (int k = 0; k < 2; k++) {
        int n = tokenizer_encode(tk[k], text, strlen(text), 1, ids, 2048);
        struct timespec t0, t1;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);   /* CPU time: the machine may be busy */
        int reps = 50;
        for (int r = 0; r < reps; r++) tokenizer_encode(tk[k], text, strlen(text), 1, ids, 2048);
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
        double us = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / 1e3 / reps;
        printf("# %s: %d tokens from %zu bytes in %.0f us of CPU\n", k ? "gpt-2" : "llama32k", n, strlen(text), us);
        CHECK(n > 400);
        CHECKF(us < 20000, "%.0f us", us);   /* generous: sanitizer builds */
    }
    tokenizer_free(t);
    tokenizer_free(b);
}

/* BOS starts a prompt only where the vocabulary says so: SentencePiece by
 * default, byte-level BPE when tokenizer.ggml.add_bos_token is true (as
 * llama.cpp does). */
static void t_add_bos(void) {
    tokenizer *g2 = load_gguf("vocab/ggml-vocab-gpt-2.gguf");
    tokenizer *ds = load_gguf("vocab/ggml-vocab-deepseek-llm.gguf");
    tokenizer *sp = load_gguf("vocab/ggml-vocab-llama-spm.gguf");
    CHECK(g2 && ds && sp);
    if (g2 && ds && sp) {
        int ids[16];
        CHECK(tokenizer_encode(g2, "Hello", 5, 1, ids, 16) >= 1 && ids[0] != 50256);
        CHECK(tokenizer_encode(ds, "Hello", 5, 1, ids, 16) >= 2 && ids[0] == 100000);
        CHECK(tokenizer_encode(sp, "Hello", 5, 1, ids, 16) >= 2 && ids[0] == 1);
        CHECK(tokenizer_encode(sp, "Hello", 5, 0, ids, 16) >= 1 && ids[0] != 1);
    }
    tokenizer_free(g2);
    tokenizer_free(ds);
    tokenizer_free(sp);
}

int main(void) {
    TEST("BOS only where the vocabulary starts prompts with it", t_add_bos);
    TEST("llama-spm vectors", t_llama_spm);
    TEST("phi-3 vectors", t_phi3);
    TEST("gpt-2 vectors", t_gpt2);
    TEST("tok512 through stories260K.gguf", t_tok512_gguf);
    TEST("tok512 through tokenizer.bin", t_tok512_bin);
    TEST("llama32k vectors", t_llama32k);
    TEST("damaged tokenizer.bin", t_corrupt_bin);
    TEST("other BPE pre-tokenizers (no regression)", t_other_bpe);
    TEST("end of generation and special decoding", t_eog);
    TEST("bad GGUF tokenizer metadata", t_bad_gguf);
    TEST("encoding speed", t_speed);
    TEST_EXIT();
}
