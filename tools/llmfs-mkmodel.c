/* llmfs-mkmodel: writes a GGUF model of a LLaMA-family shape (llama,
 * llama3, qwen2, qwen3, phi3, gemma2, gemma3) with seeded random weights and a synthetic
 * SentencePiece-style vocabulary, or the vocabulary of a vocabulary-only
 * GGUF, for benchmarks and tests.  The same arguments give the same file,
 * byte for byte, on every machine: the random numbers come from our own
 * splitmix64 and are turned into floats with exact arithmetic only (Llama
 * 3's RoPE factors use libm, once, on values that round alike). */
#include "engine/version.h"
#include "engine/gguf.h"
#include "engine/gguf_write.h"
#include "engine/quant.h"
#include "tools/chat_templates.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *prog = "llmfs-mkmodel";

static _Noreturn void die(const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(2);
}

static void usage(FILE *f) {
    fprintf(f,
        "usage: %s -o FILE --dim D --hidden H --layers L --heads NH [--kv-heads NKV]\n"
        "       [--head-dim HD] --vocab V | --vocab-file VOCAB.gguf --ctx C\n"
        "       --type TYPE [--arch llama|llama3|qwen2|qwen3|phi3|gemma2|gemma3]\n"
        "       [--seed S] [--std S] [--sliding-window N [--sliding-window-pattern P]]\n"
        "       [--rope-scaling F]\n"
        "       [--chat-template chatml|llama2|llama3|gemma|phi3|mistral|FILE]\n"
        "Writes a GGUF of the architecture (default llama) with seeded random\n"
        "weights and a synthetic SentencePiece vocabulary of V tokens (V >= 300),\n"
        "or the vocabulary of VOCAB.gguf (its tokenizer.* keys).  Weights are\n"
        "uniform with standard deviation S (default 0.02).  --chat-template writes\n"
        "tokenizer.chat_template: a Jinja template of the named format, or FILE's.\n"
        "TYPE: f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q3_k, q4_k, q5_k, q6_k,\n"
        "or q4_k_m (llama.cpp's Q4_K_M mixture: Q4_K, with Q6_K for the output and\n"
        "some attn_v/ffn_down, Q5_K for a fused attn_qkv, and its fallbacks Q5_0,\n"
        "Q5_1, Q8_0 for rows that are not a multiple of 256).\n"
        "--sliding-window N: local layers attend to the last N positions (gemma2 and\n"
        "gemma3: default half the context; llama: every layer, Mistral-style);\n"
        "--sliding-window-pattern P: of every P layers the last is global (gemma2 and\n"
        "gemma3; unset, llama.cpp's defaults 2 and 6 apply).\n"
        "--rope-scaling F: linear RoPE scaling by F (gemma3: its global layers).\n", prog);
}

/* ---------------------------------------------------------------- PRNG */

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [-1, 1): 24 random bits, scaled exactly. */
static float uniform(uint64_t *s) {
    return (float)(splitmix64(s) >> 40) * (1.0f / 8388608.0f) - 1.0f;
}

/* ------------------------------------------------------------- weights */

typedef struct {
    uint64_t seed;          /* this tensor's stream */
    int type;               /* TYPE_* of the stored rows */
    int64_t ne0, rows;      /* row length, row count */
    int kind;               /* W_* */
    const float *values;    /* (ne0) the row of W_VALUES */
    float half_width;       /* of W_WEIGHT's uniform distribution */
    float *row;             /* (ne0) scratch */
} wfill;

enum {
    W_WEIGHT,               /* small weights, std 0.02 */
    W_NORM,                 /* 1.0 + noise: norm weights */
    W_BIAS,                 /* uniform in +-0.1: biases, larger than the products they
                               are added to, so that a pass that drops them shows it */
    W_VALUES,               /* given values (one row) */
};

/* a uniform distribution of std s has half-width s * sqrt(3) */
#define SQRT3 1.7320508f

static int fill_weights(void *ctx, void *dst, size_t nbytes) {
    wfill *f = ctx;
    size_t rb = quant_row_bytes(f->type, f->ne0);
    if (rb * (size_t)f->rows != nbytes) return -EINVAL;
    uint64_t s = f->seed;
    for (int64_t r = 0; r < f->rows; r++) {
        for (int64_t i = 0; i < f->ne0; i++) {
            float u = uniform(&s);
            f->row[i] = f->kind == W_NORM ? 1.0f + 0.01f * u
                      : f->kind == W_BIAS ? 0.1f * u
                      : f->kind == W_VALUES ? f->values[i] : f->half_width * u;
        }
        int rc = quant_quantize_row(f->type, f->row, (char *)dst + (size_t)r * rb, f->ne0);
        if (rc) return rc;
    }
    return 0;
}

/* ------------------------------------------------------ weight types */

/* --type: a single type, or llama.cpp's file types (general.file_type). */
static const struct { const char *name; int type; uint32_t ftype; } file_types[] = {
    { "f32", TYPE_F32, 0 },   { "f16", TYPE_F16, 1 },   { "bf16", TYPE_BF16, 32 },
    { "q4_0", TYPE_Q4_0, 2 }, { "q4_1", TYPE_Q4_1, 3 }, { "q8_0", TYPE_Q8_0, 7 },
    { "q5_0", TYPE_Q5_0, 8 }, { "q5_1", TYPE_Q5_1, 9 }, { "q3_k", TYPE_Q3_K, 11 },  /* Q3_K_S */
    { "q4_k", TYPE_Q4_K, 14 } /* Q4_K_S */, { "q4_k_m", TYPE_Q4_K, 15 },
    { "q5_k", TYPE_Q5_K, 16 } /* Q5_K_S */, { "q6_k", TYPE_Q6_K, 18 },
};

static int mix_q4_k_m;      /* --type q4_k_m */
static long mix_layers;

/* llama.cpp's use_more_bits: the layers Q4_K_M gives Q6_K attn_v and ffn_down. */
static int use_more_bits(long i, long n) {
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

/* The stored type of weight nm (row length ne0) whose file type gives t:
 * t itself, or under Q4_K_M llama.cpp's choice for the tensor, and for a
 * K type whose rows are not a multiple of 256 llama.cpp's fallback. */
static int tensor_type(int t, const char *nm, int64_t ne0) {
    if (!mix_q4_k_m || t != TYPE_Q4_K) return t;
    long l = -1;
    const char *dot = NULL;
    if (!strncmp(nm, "blk.", 4)) {
        l = strtol(nm + 4, (char **)&dot, 10);
        if (dot && *dot == '.') dot++;
    }
    if (!strcmp(nm, "output.weight")) t = TYPE_Q6_K;
    else if (dot && !strcmp(dot, "attn_qkv.weight")) t = TYPE_Q5_K;
    else if (dot && (!strcmp(dot, "attn_v.weight") || !strcmp(dot, "ffn_down.weight")) &&
             use_more_bits(l, mix_layers)) t = TYPE_Q6_K;
    if (ne0 % 256)
        t = t == TYPE_Q4_K ? TYPE_Q5_0 : t == TYPE_Q5_K ? TYPE_Q5_1 : TYPE_Q8_0;
    return t;
}

/* ---------------------------------------------------------- vocabulary */

static const char *const words[] = {
    "the", "and", "to", "a", "of", "was", "he", "she", "it", "in", "you", "that", "her",
    "his", "they", "with", "said", "on", "for", "is", "but", "had", "day", "so", "one",
    "there", "big", "little", "time", "once", "upon", "were", "not", "be", "very", "at",
    "all", "up", "named", "happy", "saw", "play", "we", "wanted", "can", "do", "went",
    "me", "friends", "mom", "have", "this", "what", "out", "my", "them", "like", "are",
    "tom", "lily", "ben", "sue", "girl", "boy", "dog", "cat", "bird", "tree", "park",
    "sun", "ball", "toy", "box", "car", "house", "home", "food", "water", "sky", "red",
    "blue", "green", "yellow", "from", "by", "as", "an", "or", "if", "then", "when",
    "will", "would", "could", "should", "about", "into", "over", "after", "before",
    "again", "some", "more", "other", "new", "old", "good", "bad", "nice", "fun", "sad",
    "look", "looked", "see", "come", "came", "go", "get", "got", "make", "made", "take",
    "took", "give", "gave", "find", "found", "think", "thought", "know", "knew", "want",
    "help", "helped", "run", "ran", "walk", "walked", "jump", "jumped", "eat", "ate",
    "love", "loved", "smile", "smiled", "laugh", "laughed", "cry", "cried", "feel", "felt",
    "how", "why", "who", "where", "which", "because", "while", "until", "each", "every",
    "many", "much", "too", "also", "just", "only", "now", "here", "away", "down", "off",
    "back", "still", "never", "always", "together", "best", "better", "first", "last",
    "long", "small", "great", "high", "right", "left", "man", "woman", "people", "world",
    "life", "hand", "part", "child", "eye", "place", "work", "week", "case", "point",
    "number", "group", "problem", "fact", "city", "state", "story", "school", "family",
    "friend", "mother", "father", "sister", "brother", "baby", "king", "queen", "door",
    "window", "room", "garden", "flower", "river", "sea", "boat", "fish", "rain", "snow",
    "night", "morning", "light", "dark", "warm", "cold", "hot", "fast", "slow", "soft",
    "hard", "loud", "quiet", "brave", "kind", "funny", "scared", "tired", "hungry",
    "strong", "pretty", "shiny", "special", "secret", "magic", "dream", "idea", "thing",
    "something", "nothing", "everything", "someone", "everyone", "inside", "outside",
    "around", "under", "through", "between", "against", "during", "without", "within",
    "along", "across", "behind", "beyond", "near", "far", "ready", "sure", "able", "free",
    "full", "open", "close", "closed", "start", "stop", "turn", "ask", "asked", "tell",
    "told", "say", "says", "call", "called", "try", "tried", "keep", "kept", "let",
    "put", "read", "write", "sing", "song", "dance", "draw", "build", "share", "shared",
    "learn", "learned", "remember", "forget", "listen", "hear", "heard", "watch", "wait",
    "waited", "hope", "wish", "need", "use", "used", "live", "lived", "grow", "grew",
    "system", "data", "file", "model", "token", "text", "value", "memory", "process",
};

/* An open-addressing set of the pieces so far, to keep them distinct. */
typedef struct {
    char **slot;            /* (cap) piece or NULL */
    size_t cap;
} pset;

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

typedef struct {
    char **text;            /* (n) owned pieces */
    float *score;           /* (n) */
    int32_t *type;          /* (n) */
    int n, cap;             /* cap = the vocabulary size wanted */
    pset set;
} vocab;

/* Adds piece p (copied) as a normal token unless it is already there or
 * the vocabulary is full.  Returns 1 if added. */
static int vocab_add(vocab *v, const char *p, int ttype, float score) {
    if (v->n >= v->cap) return 0;
    size_t i = hash_str(p) & (v->set.cap - 1);
    while (v->set.slot[i]) {
        if (!strcmp(v->set.slot[i], p)) return 0;
        i = (i + 1) & (v->set.cap - 1);
    }
    char *s = strdup(p);
    if (!s) die("out of memory");
    v->set.slot[i] = s;
    v->text[v->n] = s;
    v->type[v->n] = ttype;
    v->score[v->n] = score;
    v->n++;
    return 1;
}

/* A normal piece: scores fall with the order of addition, so that the
 * pieces added first (short ones, common words) are merged first. */
static void vocab_piece(vocab *v, const char *p) {
    vocab_add(v, p, 1, -(float)(v->n - 259));
}

#define SP "\xe2\x96\x81"   /* U+2581, SentencePiece's space */

static void vocab_build(vocab *v, int n) {
    v->cap = n;
    v->n = 0;
    v->text = calloc((size_t)n, sizeof *v->text);
    v->score = calloc((size_t)n, sizeof *v->score);
    v->type = calloc((size_t)n, sizeof *v->type);
    v->set.cap = 1;
    while (v->set.cap < (size_t)n * 2) v->set.cap *= 2;
    v->set.slot = calloc(v->set.cap, sizeof *v->set.slot);
    if (!v->text || !v->score || !v->type || !v->set.slot) die("out of memory");

    vocab_add(v, "<unk>", 2, 0);
    vocab_add(v, "<s>", 3, 0);
    vocab_add(v, "</s>", 3, 0);
    char buf[64];
    for (int b = 0; b < 256; b++) {
        snprintf(buf, sizeof buf, "<0x%02X>", b);
        vocab_add(v, buf, 6, 0);
    }
    vocab_piece(v, SP);
    for (int c = 'a'; c <= 'z'; c++) { buf[0] = (char)c; buf[1] = 0; vocab_piece(v, buf); }
    for (int c = 'a'; c <= 'z'; c++) { snprintf(buf, sizeof buf, SP "%c", c); vocab_piece(v, buf); }
    for (int c = 'A'; c <= 'Z'; c++) { buf[0] = (char)c; buf[1] = 0; vocab_piece(v, buf); }
    for (int c = '0'; c <= '9'; c++) { buf[0] = (char)c; buf[1] = 0; vocab_piece(v, buf); }
    for (const char *p = ".,!?'\"-:;()"; *p; p++) { buf[0] = *p; buf[1] = 0; vocab_piece(v, buf); }
    for (int c = 'A'; c <= 'Z'; c++) { snprintf(buf, sizeof buf, SP "%c", c); vocab_piece(v, buf); }
    /* words, reachable by merges through their prefixes */
    size_t nw = sizeof words / sizeof *words;
    for (size_t w = 0; w < nw; w++) {
        size_t len = strlen(words[w]);
        for (size_t k = 2; k <= len; k++) {
            snprintf(buf, sizeof buf, SP "%.*s", (int)k, words[w]);
            vocab_piece(v, buf);
        }
    }
    for (size_t w = 0; w < nw; w++) {
        snprintf(buf, sizeof buf, SP "%c%s", words[w][0] - 'a' + 'A', words[w] + 1);
        vocab_piece(v, buf);
        vocab_piece(v, words[w]);
    }
    /* letter combinations, then longer ones, until the vocabulary is full */
    for (int len = 2; v->n < n && len <= 6; len++) {
        long total = 1;
        for (int i = 0; i < len; i++) total *= 26;
        for (long k = 0; v->n < n && k < total; k++) {
            char s[8];
            long x = k;
            for (int i = len - 1; i >= 0; i--) { s[i] = (char)('a' + x % 26); x /= 26; }
            s[len] = 0;
            vocab_piece(v, s);
            snprintf(buf, sizeof buf, SP "%s", s);
            vocab_piece(v, buf);
        }
    }
    if (v->n != n) die("could not build %d distinct pieces", n);
}

static void vocab_release(vocab *v) {
    for (int i = 0; i < v->n; i++) free(v->text[i]);
    free(v->text);
    free(v->score);
    free(v->type);
    free(v->set.slot);
}

/* ----------------------------------------------------------- arguments */

static long parse_int(const char *opt, const char *s, long lo, long hi) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        die("%s must be an integer from %ld to %ld, not '%s'", opt, lo, hi, s);
    return v;
}

/* ------------------------------------------------------ architectures */

typedef struct {
    const char *opt;        /* --arch NAME */
    const char *gguf;       /* general.architecture */
    float rope_base, eps;
    int tied;               /* no output.weight: the classifier is token_embd */
    int qkv_bias, qk_norm, rope_freqs;
    int fused;              /* attn_qkv and a gate-and-up ffn_up (Phi-3) */
    int gemma;              /* Gemma 2 or 3: post-attention and post-FFN norms, soft caps
                               (2), a sliding window; SentencePiece without a space prefix */
    const char *bpe_pre;    /* pre-tokenizer of a BPE vocabulary (--vocab-file) */
    int add_bos;            /* a BPE vocabulary's prompts start with BOS */
} arch_spec;

/* Each as its family's small models ship: Qwen2.5 and Qwen3 (biases or
 * Q/K norms, theta 1e6, eps 1e-6, tied), Llama 3.2 (theta 5e5, tied,
 * rope_freqs), Phi-3 mini (fused QKV and gate/up, separate classifier),
 * Gemma 2 (theta 1e4, soft caps 50 and 30, tied) and Gemma 3 (theta 1e6
 * on global layers, 1e4 on local ones by llama.cpp's default, Q/K norms,
 * tied), both eps 1e-6. */
static const arch_spec arch_specs[] = {
    { "llama",  "llama",  10000.0f,   1e-5f, 0, 0, 0, 0, 0, 0, NULL,     1 },
    { "llama3", "llama",  500000.0f,  1e-5f, 1, 0, 0, 1, 0, 0, "llama3", 1 },
    { "qwen2",  "qwen2",  1000000.0f, 1e-6f, 1, 1, 0, 0, 0, 0, "qwen2",  0 },
    { "qwen3",  "qwen3",  1000000.0f, 1e-6f, 1, 0, 1, 0, 0, 0, "qwen2",  0 },
    { "phi3",   "phi3",   10000.0f,   1e-5f, 0, 0, 0, 0, 1, 0, NULL,     1 },
    { "gemma2", "gemma2", 10000.0f,   1e-6f, 1, 0, 0, 0, 0, 2, NULL,     1 },
    { "gemma3", "gemma3", 1000000.0f, 1e-6f, 1, 0, 1, 0, 0, 3, NULL,     1 },
};

/* Llama 3.1's RoPE frequency factors (factor 8, low-frequency factor 1,
 * high-frequency factor 4) for an original context of orig: 1 for the
 * wavelengths under orig / 4, the factor above orig, and a smooth blend
 * between.  orig is small (64) so that all three ranges rotate within the
 * positions a test runs. */
static void llama3_rope_factors(float *out, int head_dim, float base, float orig) {
    const double factor = 8, lo = 1, hi = 4, pi = 3.14159265358979323846;
    for (int i = 0; i < head_dim / 2; i++) {
        double freq = pow(base, -2.0 * i / head_dim), wavelen = 2 * pi / freq;
        if (wavelen < orig / hi) out[i] = 1;
        else if (wavelen > orig / lo) out[i] = (float)factor;
        else {
            double smooth = (orig / wavelen - lo) / (hi - lo);
            out[i] = (float)(1 / ((1 - smooth) / factor + smooth));
        }
    }
}

/* Copies a vocabulary-only GGUF's tokenizer.* keys, with the
 * architecture's pre-tokenizer and BOS policy for a BPE vocabulary.
 * Returns its token count. */
static long copy_vocab(gguf_writer *w, const char *path, const arch_spec *as, int skip_template) {
    gguf *g;
    char err[512];
    if (gguf_open(path, &g, err, sizeof err)) die("%s", err);
    const gguf_kv *toks = gguf_get_arr(g, "tokenizer.ggml.tokens", GGUF_STRING);
    if (!toks) die("%s: no tokenizer.ggml.tokens", path);
    long n = (long)toks->arr_n;
    gguf_str model = { "", 0 };
    gguf_get_str(g, "tokenizer.ggml.model", &model);
    int bpe = gguf_str_eq(model, "gpt2");
    for (uint64_t i = 0; i < g->n_kv; i++) {
        const gguf_kv *kv = &g->kv[i];
        if (kv->key.len < 10 || memcmp(kv->key.ptr, "tokenizer.", 10)) continue;
        if (bpe && as->bpe_pre && gguf_str_eq(kv->key, "tokenizer.ggml.pre")) continue;
        if (bpe && gguf_str_eq(kv->key, "tokenizer.ggml.add_bos_token")) continue;
        if (skip_template && gguf_str_eq(kv->key, "tokenizer.chat_template")) continue;
        if (as->gemma && gguf_str_eq(kv->key, "tokenizer.ggml.add_space_prefix")) continue;
        if (gguf_writer_copy_kv(w, kv)) die("%s: cannot copy key %.*s", path, (int)kv->key.len,
                                            kv->key.ptr);
    }
    if (bpe && as->bpe_pre) gguf_writer_set_str(w, "tokenizer.ggml.pre", as->bpe_pre);
    if (bpe) gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", as->add_bos);
    if (as->gemma && !bpe)   /* as Gemma's converter writes its SentencePiece vocabulary */
        gguf_writer_set_bool(w, "tokenizer.ggml.add_space_prefix", 0);
    gguf_free(g);
    return n;
}

/* The template --chat-template names: one of chat_templates.h, or the
 * contents of a file (at most 1 MiB).  Caller frees. */
static char *chat_template(const char *arg) {
    for (size_t i = 0; i < N_CHAT_TEMPLATES; i++)
        if (!strcmp(arg, chat_templates[i].name)) return strdup(chat_templates[i].jinja);
    FILE *f = fopen(arg, "rb");
    if (!f)
        die("--chat-template must be chatml, llama2, llama3, gemma, phi3, mistral or a file: "
            "%s: %s", arg, strerror(errno));
    enum { MAX = 1 << 20 };
    char *buf = malloc(MAX + 1);
    if (!buf) die("out of memory");
    size_t n = fread(buf, 1, MAX + 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad) die("--chat-template %s: read error", arg);
    if (n > MAX) die("--chat-template %s: longer than 1 MiB", arg);
    if (!n) die("--chat-template %s: empty file", arg);
    if (memchr(buf, 0, n)) die("--chat-template %s: holds a NUL byte", arg);
    buf[n] = 0;
    return buf;
}

static double parse_num(const char *opt, const char *s, double lo, double hi) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        die("%s must be a number from %g to %g, not '%s'", opt, lo, hi, s);
    return v;
}

int main(int argc, char **argv) {
    const char *out = NULL, *tname = NULL, *aname = "llama", *vocab_file = NULL;
    char *tmpl = NULL;
    long dim = 0, hidden = 0, layers = 0, heads = 0, kv_heads = 0, n_vocab = 0, ctx = 0;
    long head_dim = 0, window = -1, pattern = -1;
    double rope_scaling = 0;
    float half_width = 0.034641016f;   /* std 0.02 */
    uint64_t seed = 1234;
    enum { O_DIM = 256, O_HIDDEN, O_LAYERS, O_HEADS, O_KV, O_VOCAB, O_CTX, O_TYPE, O_SEED,
           O_ARCH, O_HEAD_DIM, O_VOCAB_FILE, O_STD, O_CHAT_TEMPLATE, O_WINDOW, O_ROPE_SCALING,
           O_PATTERN };
    static const struct option opts[] = {
        { "output", required_argument, 0, 'o' },
        { "dim", required_argument, 0, O_DIM },
        { "hidden", required_argument, 0, O_HIDDEN },
        { "layers", required_argument, 0, O_LAYERS },
        { "heads", required_argument, 0, O_HEADS },
        { "kv-heads", required_argument, 0, O_KV },
        { "head-dim", required_argument, 0, O_HEAD_DIM },
        { "vocab", required_argument, 0, O_VOCAB },
        { "vocab-file", required_argument, 0, O_VOCAB_FILE },
        { "ctx", required_argument, 0, O_CTX },
        { "type", required_argument, 0, O_TYPE },
        { "arch", required_argument, 0, O_ARCH },
        { "seed", required_argument, 0, O_SEED },
        { "std", required_argument, 0, O_STD },
        { "chat-template", required_argument, 0, O_CHAT_TEMPLATE },
        { "sliding-window", required_argument, 0, O_WINDOW },
        { "rope-scaling", required_argument, 0, O_ROPE_SCALING },
        { "sliding-window-pattern", required_argument, 0, O_PATTERN },
        { "version", no_argument, 0, 'V' },
        { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 },
    };
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":o:hV", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case O_DIM: dim = parse_int("--dim", optarg, 1, 1 << 16); break;
        case O_HIDDEN: hidden = parse_int("--hidden", optarg, 1, 1 << 18); break;
        case O_LAYERS: layers = parse_int("--layers", optarg, 1, 1024); break;
        case O_HEADS: heads = parse_int("--heads", optarg, 1, 1024); break;
        case O_KV: kv_heads = parse_int("--kv-heads", optarg, 1, 1024); break;
        case O_HEAD_DIM: head_dim = parse_int("--head-dim", optarg, 2, 4096); break;
        case O_VOCAB: n_vocab = parse_int("--vocab", optarg, 300, 1 << 20); break;
        case O_VOCAB_FILE: vocab_file = optarg; break;
        case O_CTX: ctx = parse_int("--ctx", optarg, 1, 1 << 20); break;
        case O_TYPE: tname = optarg; break;
        case O_ARCH: aname = optarg; break;
        case O_STD: half_width = (float)parse_num("--std", optarg, 1e-4, 10) * SQRT3; break;
        case O_CHAT_TEMPLATE: free(tmpl); tmpl = chat_template(optarg); break;
        case O_WINDOW: window = parse_int("--sliding-window", optarg, 1, 1 << 20); break;
        case O_PATTERN: pattern = parse_int("--sliding-window-pattern", optarg, 0, 1024); break;
        case O_ROPE_SCALING: rope_scaling = parse_num("--rope-scaling", optarg, 1, 1024); break;
        case O_SEED: seed = (uint64_t)parse_int("--seed", optarg, 0, LONG_MAX); break;
        case 'V': printf("llmfs-mkmodel %s\n", LLMFS_VERSION); return 0;
        case 'h': usage(stdout); return 0;
        case ':': die("option '%s' needs a value", argv[optind - 1]);
        default:
            if (optopt) die("unknown option '-%c' (try --help)", optopt);
            die("unknown option '%s' (try --help)", argv[optind - 1]);
        }
    }
    if (optind < argc) die("unexpected argument '%s' (try --help)", argv[optind]);
    const arch_spec *as = NULL;
    for (size_t i = 0; i < sizeof arch_specs / sizeof *arch_specs; i++)
        if (!strcmp(aname, arch_specs[i].opt)) as = &arch_specs[i];
    if (!as)
        die("--arch must be llama, llama3, qwen2, qwen3, phi3, gemma2 or gemma3, not '%s'", aname);
    if (window > 0 && !as->gemma && strcmp(as->gguf, "llama"))
        die("--sliding-window applies to llama, llama3, gemma2 and gemma3, not %s", aname);
    if (pattern >= 0 && !as->gemma)
        die("--sliding-window-pattern applies to gemma2 and gemma3, not %s", aname);
    if (!out) die("-o FILE is required");
    if (!dim) die("--dim is required");
    if (!hidden) die("--hidden is required");
    if (!layers) die("--layers is required");
    if (!heads) die("--heads is required");
    if (!n_vocab && !vocab_file) die("--vocab or --vocab-file is required");
    if (n_vocab && vocab_file) die("--vocab and --vocab-file exclude each other");
    if (!ctx) die("--ctx is required");
    if (!tname) die("--type is required");
    if (!kv_heads) kv_heads = heads;
    int type = -1;
    uint32_t ftype = 0;
    for (size_t i = 0; i < sizeof file_types / sizeof *file_types; i++)
        if (!strcasecmp(tname, file_types[i].name)) {
            type = file_types[i].type;
            ftype = file_types[i].ftype;
        }
    if (type < 0)
        die("--type must be f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q3_k, q4_k, q5_k, "
            "q6_k or q4_k_m, not '%s'", tname);
    mix_q4_k_m = ftype == 15;
    mix_layers = layers;
    if (!head_dim) {
        if (dim % heads) die("--dim %ld is not divisible by --heads %ld", dim, heads);
        head_dim = dim / heads;
    }
    if (head_dim % 2) die("head size %ld must be even for RoPE", head_dim);
    if (kv_heads > heads || heads % kv_heads)
        die("--heads %ld is not a multiple of --kv-heads %ld", heads, kv_heads);
    long q_dim = heads * head_dim;
    int be = mix_q4_k_m ? 32 : quant_block_elems(type);   /* the mixture falls back */
    if (dim % be) die("--dim %ld is not a multiple of %d, the %s block size", dim, be, tname);
    if (hidden % be)
        die("--hidden %ld is not a multiple of %d, the %s block size", hidden, be, tname);
    if (q_dim % be)
        die("--heads x head size %ld is not a multiple of %d, the %s block size", q_dim, be,
            tname);
    long kv_dim = kv_heads * head_dim;

    /* ------------------------------------------------------- metadata */
    gguf_writer *w;
    if (gguf_writer_new(&w)) die("out of memory");
    char name[160];
    if (!strcmp(as->opt, "llama"))   /* as before architectures were an option */
        snprintf(name, sizeof name, "llmfs-mkmodel d%ld h%ld l%ld %s seed %llu", dim, hidden,
                 layers, tname, (unsigned long long)seed);
    else
        snprintf(name, sizeof name, "llmfs-mkmodel %s d%ld h%ld l%ld %s seed %llu", as->opt,
                 dim, hidden, layers, tname, (unsigned long long)seed);
    char key[96];
#define KEY(suffix) (snprintf(key, sizeof key, "%s.%s", as->gguf, suffix), key)
    gguf_writer_set_str(w, "general.architecture", as->gguf);
    gguf_writer_set_str(w, "general.name", name);
    gguf_writer_set_u32(w, "general.file_type", ftype);
    gguf_writer_set_u32(w, KEY("context_length"), (uint32_t)ctx);
    gguf_writer_set_u32(w, KEY("embedding_length"), (uint32_t)dim);
    gguf_writer_set_u32(w, KEY("block_count"), (uint32_t)layers);
    gguf_writer_set_u32(w, KEY("feed_forward_length"), (uint32_t)hidden);
    gguf_writer_set_u32(w, KEY("attention.head_count"), (uint32_t)heads);
    gguf_writer_set_u32(w, KEY("attention.head_count_kv"), (uint32_t)kv_heads);
    if (q_dim != dim) {
        gguf_writer_set_u32(w, KEY("attention.key_length"), (uint32_t)head_dim);
        gguf_writer_set_u32(w, KEY("attention.value_length"), (uint32_t)head_dim);
    }
    gguf_writer_set_u32(w, KEY("rope.dimension_count"), (uint32_t)head_dim);
    gguf_writer_set_f32(w, KEY("attention.layer_norm_rms_epsilon"), as->eps);
    gguf_writer_set_f32(w, KEY("rope.freq_base"), as->rope_base);
    if (rope_scaling) {
        gguf_writer_set_str(w, KEY("rope.scaling.type"), "linear");
        gguf_writer_set_f32(w, KEY("rope.scaling.factor"), (float)rope_scaling);
    }
    if (as->gemma && window < 0) window = ctx / 2 > 0 ? ctx / 2 : 1;
    if (window > 0) gguf_writer_set_u32(w, KEY("attention.sliding_window"), (uint32_t)window);
    if (pattern >= 0)
        gguf_writer_set_u32(w, KEY("attention.sliding_window_pattern"), (uint32_t)pattern);
    if (as->gemma == 2) {
        gguf_writer_set_f32(w, KEY("attn_logit_softcapping"), 50.0f);
        gguf_writer_set_f32(w, KEY("final_logit_softcapping"), 30.0f);
    }
#undef KEY

    vocab v = { 0 };
    if (vocab_file) {
        n_vocab = copy_vocab(w, vocab_file, as, tmpl != NULL);
    } else {
        vocab_build(&v, (int)n_vocab);
        gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
        gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)v.text,
                                (size_t)v.n);
        gguf_writer_set_arr_f32(w, "tokenizer.ggml.scores", v.score, (size_t)v.n);
        gguf_writer_set_arr_i32(w, "tokenizer.ggml.token_type", v.type, (size_t)v.n);
        gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1);
        gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2);
        gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0);
        gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", 1);
        gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", 0);
    }
    if (tmpl) gguf_writer_set_str(w, "tokenizer.chat_template", tmpl);
    free(tmpl);

    /* -------------------------------------------------------- tensors */
    size_t n_t = 4 + 16 * (size_t)layers, ti = 0;
    wfill *fills = calloc(n_t, sizeof *fills);
    long maxrow = dim > hidden ? dim : hidden;
    if (q_dim > maxrow) maxrow = q_dim;
    float *row = malloc((size_t)maxrow * sizeof *row);
    float *factors = malloc((size_t)head_dim / 2 * sizeof *factors);
    if (!fills || !row || !factors) die("out of memory");
    llama3_rope_factors(factors, (int)head_dim, as->rope_base, 64);
    uint64_t sstate = seed;
#define ADD(nm, e0, e1, t, k) do { \
        wfill *f = &fills[ti++]; \
        uint64_t ne_[2] = { (uint64_t)(e0), (uint64_t)(e1) }; \
        f->seed = splitmix64(&sstate); f->type = tensor_type((t), (nm), (e0)); f->ne0 = (e0); \
        f->rows = (e1); f->kind = (k); f->values = factors; f->row = row; f->half_width = half_width; \
        gguf_writer_add_tensor_fn(w, (nm), (k) == W_WEIGHT ? 2 : 1, ne_, f->type, fill_weights, f); \
    } while (0)
    char tn[64];
    ADD("token_embd.weight", dim, n_vocab, type, W_WEIGHT);
    if (as->rope_freqs) ADD("rope_freqs.weight", head_dim / 2, 1, TYPE_F32, W_VALUES);
    for (long l = 0; l < layers; l++) {
#define T(suffix) (snprintf(tn, sizeof tn, "blk.%ld." suffix, l), tn)
        ADD(T("attn_norm.weight"), dim, 1, TYPE_F32, W_NORM);
        if (as->fused) {
            ADD(T("attn_qkv.weight"), dim, q_dim + 2 * kv_dim, type, W_WEIGHT);
        } else {
            ADD(T("attn_q.weight"), dim, q_dim, type, W_WEIGHT);
            ADD(T("attn_k.weight"), dim, kv_dim, type, W_WEIGHT);
            ADD(T("attn_v.weight"), dim, kv_dim, type, W_WEIGHT);
        }
        if (as->qkv_bias) {
            ADD(T("attn_q.bias"), q_dim, 1, TYPE_F32, W_BIAS);
            ADD(T("attn_k.bias"), kv_dim, 1, TYPE_F32, W_BIAS);
            ADD(T("attn_v.bias"), kv_dim, 1, TYPE_F32, W_BIAS);
        }
        if (as->qk_norm) {
            ADD(T("attn_q_norm.weight"), head_dim, 1, TYPE_F32, W_NORM);
            ADD(T("attn_k_norm.weight"), head_dim, 1, TYPE_F32, W_NORM);
        }
        ADD(T("attn_output.weight"), q_dim, dim, type, W_WEIGHT);
        if (as->gemma) ADD(T("post_attention_norm.weight"), dim, 1, TYPE_F32, W_NORM);
        ADD(T("ffn_norm.weight"), dim, 1, TYPE_F32, W_NORM);
        if (as->gemma) ADD(T("post_ffw_norm.weight"), dim, 1, TYPE_F32, W_NORM);
        if (as->fused) {
            ADD(T("ffn_down.weight"), hidden, dim, type, W_WEIGHT);
            ADD(T("ffn_up.weight"), dim, 2 * hidden, type, W_WEIGHT);
        } else {
            ADD(T("ffn_gate.weight"), dim, hidden, type, W_WEIGHT);
            ADD(T("ffn_down.weight"), hidden, dim, type, W_WEIGHT);
            ADD(T("ffn_up.weight"), dim, hidden, type, W_WEIGHT);
        }
#undef T
    }
    ADD("output_norm.weight", dim, 1, TYPE_F32, W_NORM);
    if (!as->tied) ADD("output.weight", dim, n_vocab, type, W_WEIGHT);
#undef ADD

    int rc = gguf_writer_write(w, out);
    gguf_writer_free(w);
    if (!vocab_file) vocab_release(&v);
    free(fills);
    free(row);
    free(factors);
    if (rc) die("%s: %s", out, strerror(-rc));
    return 0;
}
