/* This file implements the tokenizers declared in tokenizer.h: SentencePiece-
 * style merging by score with byte fallback (GGUF "llama" vocabularies and
 * llama2.c tokenizer.bin files) and byte-level BPE by merge rank with the
 * pre-tokenizer splits llama.cpp applies for each tokenizer.ggml.pre.  The
 * algorithms follow llama.cpp's llama-vocab.cpp and unicode.cpp so that the
 * ids agree with llama.cpp's, id for id.
 *
 * Invariants: every token text lives NUL-terminated in one arena, is at
 * most TOK_MAX_LEN bytes and decodes to at most TOK_MAX_PIECE bytes; every
 * id stored anywhere in the tokenizer (bos, byte tokens, hash slots,
 * specials) is < n; a loaded tokenizer is immutable, so encode and decode
 * may run concurrently. */
#define _GNU_SOURCE   /* memmem, qsort_r */
#include "engine/tokenizer.h"
#include "engine/errbuf.h"
#include "engine/unicode_tables.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TOK_MAX_LEN   1024         /* longest token text accepted, in bytes */
#define TOK_MAX_PIECE TOKENIZER_MAX_PIECE
#define TOK_MAX_VOCAB (1 << 24)    /* ids and merge ranks stay exact in float */

/* GGUF token types (llama.cpp's LLAMA_TOKEN_TYPE_*). */
enum { TT_UNDEFINED = 0, TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3,
       TT_USER_DEFINED = 4, TT_UNUSED = 5, TT_BYTE = 6 };

enum { KIND_SPM, KIND_BPE };

/* Pre-tokenizers: the regex sequences of llama.cpp's llm_tokenizer_bpe. */
enum { PRE_DEFAULT, PRE_GPT2, PRE_FALCON, PRE_STARCODER, PRE_DEEPSEEK_LLM,
       PRE_DEEPSEEK_CODER, PRE_LLAMA3, PRE_QWEN2 };

typedef struct {
    uint32_t off;     /* text at arena + off, NUL-terminated */
    uint32_t len;     /* bytes, <= TOK_MAX_LEN */
    float score;      /* SentencePiece log-probability; 0 for BPE */
    uint8_t type;     /* TT_* */
} tok_entry;

typedef struct {
    uint32_t a_off, a_len, b_off, b_len;   /* "a b" halves, in the arena */
} merge_entry;

struct tokenizer {
    int kind;                 /* KIND_SPM or KIND_BPE */
    int pre;                  /* PRE_* (BPE only) */
    int n;                    /* vocabulary size */
    char *arena;              /* token and merge texts */
    tok_entry *tok;           /* (n) */
    uint32_t *tab;            /* (tab_mask + 1) text -> id + 1; 0 = empty */
    uint32_t tab_mask;
    merge_entry *merges;      /* (n_merges), index = rank */
    uint32_t n_merges;
    uint32_t *mtab;           /* (mtab_mask + 1) pair -> rank + 1 */
    uint32_t mtab_mask;
    int bos, eos, eot, eom, unk;   /* -1 when absent */
    int add_space_prefix;     /* SPM: prepend " " to the text */
    int add_bos;              /* BOS starts a prompt (tokenizer.ggml.add_bos_token) */
    int byte_tok[256];        /* SPM byte fallback: id for each byte, -1 */
    int *special;             /* (n_special) user-defined ids, longest first */
    int n_special;
    int *special_all;         /* (n_special_all) user-defined, control and unknown
                                 ids, longest first: parsed by tokenizer_encode_special */
    int n_special_all;
    int special_rstrip;       /* phi-3: strip spaces after a special token */
    int eog[16];              /* (n_eog) ids that end generation */
    int n_eog;
    char bpe_enc[256][3];     /* byte -> GPT-2 byte-to-unicode UTF-8 */
    uint8_t bpe_enc_len[256];
    int16_t bpe_dec[324];     /* code point -> byte, -1 (only < 324 used) */
    uint8_t ascii_cat[128];   /* UCAT_* of each ASCII code point */
};

/* ------------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------------ */


static uint32_t hash_bytes(uint32_t h, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {   /* FNV-1a */
        h ^= (uint8_t)s[i];
        h *= 16777619u;
    }
    return h;
}
#define HASH_SEED 2166136261u

static uint32_t pow2_at_least(uint64_t n) {
    uint32_t c = 16;
    while (c < n) c <<= 1;
    return c;
}

/* Id of the token whose text is s[0..n), or -1. */
static int tok_lookup(const tokenizer *t, const char *s, size_t n) {
    uint32_t i = hash_bytes(HASH_SEED, s, n) & t->tab_mask;
    for (;;) {
        uint32_t v = t->tab[i];
        if (!v) return -1;
        const tok_entry *e = &t->tok[v - 1];
        if (e->len == n && memcmp(t->arena + e->off, s, n) == 0) return (int)v - 1;
        i = (i + 1) & t->tab_mask;
    }
}

static uint32_t merge_hash(const char *a, size_t an, const char *b, size_t bn) {
    uint32_t h = hash_bytes(HASH_SEED, a, an);
    h = hash_bytes(h ^ 0xff, " ", 1);
    return hash_bytes(h, b, bn);
}

/* Rank of the merge (a, b), or -1. */
static int merge_lookup(const tokenizer *t, const char *a, size_t an, const char *b, size_t bn) {
    if (!t->mtab) return -1;
    uint32_t i = merge_hash(a, an, b, bn) & t->mtab_mask;
    for (;;) {
        uint32_t v = t->mtab[i];
        if (!v) return -1;
        const merge_entry *m = &t->merges[v - 1];
        if (m->a_len == an && m->b_len == bn && memcmp(t->arena + m->a_off, a, an) == 0 &&
            memcmp(t->arena + m->b_off, b, bn) == 0)
            return (int)v - 1;
        i = (i + 1) & t->mtab_mask;
    }
}

/* Bytes in the UTF-8 sequence that starts with lead byte c (1 for a stray
 * continuation byte), as llama.cpp's unicode_len_utf8. */
static size_t utf8_len(unsigned char c) {
    static const uint8_t lookup[16] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4 };
    return lookup[c >> 4];
}

/* Decodes one code point at s[0..n) (n > 0) as llama.cpp's tokenizer does:
 * leniently (an overlong form or a surrogate is taken as its code point;
 * utf8.h's strict decoder would refuse it, and the ids would differ from
 * llama.cpp's).  Invalid sequences yield U+FFFD and consume one byte.
 * Returns the bytes consumed. */
static size_t utf8_decode_lenient(const unsigned char *s, size_t n, uint32_t *cp) {
    unsigned c = s[0];
    if (c < 0x80) { *cp = c; return 1; }
    size_t k = (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
    if (!k || k > n) { *cp = 0xfffd; return 1; }
    uint32_t v = c & (0x7f >> k);
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xc0) != 0x80) { *cp = 0xfffd; return 1; }
        v = (v << 6) | (s[i] & 0x3f);
    }
    *cp = v;
    return k;
}

static size_t utf8_encode(uint32_t cp, char *out) {
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6)); out[1] = (char)(0x80 | (cp & 0x3f)); return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12)); out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f)); return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18)); out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f)); out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* ------------------------------------------------------------------------
 * Unicode classes
 * ------------------------------------------------------------------------ */

static int ucat(uint32_t cp) {
    size_t lo = 0, hi = sizeof ucat_ranges / sizeof ucat_ranges[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < ucat_ranges[mid].lo) hi = mid;
        else if (cp > ucat_ranges[mid].hi) lo = mid + 1;
        else return ucat_ranges[mid].cat;
    }
    return UCAT_UNDEFINED;
}

static int uspace(uint32_t cp) {
    for (size_t i = 0; i < sizeof uspace_ranges / sizeof uspace_ranges[0]; i++)
        if (cp >= uspace_ranges[i].lo && cp <= uspace_ranges[i].hi) return 1;
    return 0;
}

/* A code point with its class, as the splitters see it. */
typedef struct {
    uint32_t cp;
    uint8_t cat;      /* UCAT_* */
    uint8_t ws;       /* White_Space */
} ucp;

typedef struct { uint32_t lo, hi; } urange;

/* deepseek-llm's letter class (its tokenizer.json regex, as code points). */
static const urange ds_letters[] = {
    {0x41,0x5A}, {0x61,0x7A}, {0xB5,0xB5}, {0xC0,0xD6}, {0xD8,0xF6}, {0xF8,0x1BA},
    {0x1BC,0x1BF}, {0x1C4,0x293}, {0x295,0x2AF}, {0x370,0x373}, {0x376,0x377},
    {0x37B,0x37D}, {0x37F,0x37F}, {0x386,0x386}, {0x388,0x38A}, {0x38C,0x38C},
    {0x38E,0x3A1}, {0x3A3,0x3F5}, {0x3F7,0x481}, {0x48A,0x52F}, {0x531,0x556},
    {0x10A0,0x10C5}, {0x13A0,0x13F5}, {0x13F8,0x13FD}, {0x1C90,0x1CBA}, {0x1CBD,0x1CBF},
    {0x1D00,0x1D2B}, {0x1D6B,0x1D77}, {0x1D79,0x1D9A}, {0x1E00,0x1F15}, {0x1F18,0x1F1D},
    {0x1F20,0x1F45}, {0x1F48,0x1F4D}, {0x1F50,0x1F57}, {0x1F59,0x1F59}, {0x1F5B,0x1F5B},
    {0x1F5D,0x1F5D}, {0x1F5F,0x1F7D}, {0x1F80,0x1FB4}, {0x1FB6,0x1FBC}, {0x1FBE,0x1FBE},
    {0x1FC2,0x1FC4}, {0x1FC6,0x1FCC}, {0x1FD0,0x1FD3}, {0x1FD6,0x1FDB}, {0x1FE0,0x1FEC},
    {0x1FF2,0x1FF4}, {0x1FF6,0x1FFC}, {0x2102,0x2102}, {0x2107,0x2107}, {0x210A,0x2113},
    {0x2115,0x2115}, {0x2119,0x211D}, {0x2124,0x2124}, {0x2126,0x2126}, {0x2128,0x2128},
    {0x212A,0x212D}, {0x212F,0x2134}, {0x2139,0x2139}, {0x213C,0x213F}, {0x2145,0x2149},
    {0x214E,0x214E}, {0x2183,0x2184}, {0x2C00,0x2C7B}, {0x2C7E,0x2CE4}, {0x2CEB,0x2CEE},
    {0x2CF2,0x2CF3}, {0xA640,0xA66D}, {0xA680,0xA69B}, {0xA722,0xA76F}, {0xA771,0xA787},
    {0xA78B,0xA78E}, {0xAB70,0xABBF}, {0xFB00,0xFB06}, {0xFB13,0xFB17}, {0xFF21,0xFF3A},
    {0xFF41,0xFF5A}, {0x10400,0x1044F}, {0x104B0,0x104D3}, {0x104D8,0x104FB},
    {0x10C80,0x10CB2}, {0x10CC0,0x10CF2}, {0x118A0,0x118DF}, {0x1E900,0x1E943},
};
static const urange ds_punct[] = {
    {0x21,0x2F}, {0x3A,0x7E}, {0xFF01,0xFF0F}, {0xFF1A,0xFF5E}, {0x2018,0x201F}, {0x3000,0x3002},
};
static const urange cjk[] = { {0x4E00,0x9FA5}, {0x800,0x4E00}, {0xAC00,0xD7FF} };

static int in_ranges(uint32_t cp, const urange *r, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (cp >= r[i].lo && cp <= r[i].hi) return 1;
    return 0;
}

/* Character classes of the non-custom regexes.  llama.cpp runs them with
 * std::regex on text where every non-ASCII White_Space code point became
 * \v: such a code point matches \s and nothing else. */
enum { C_CRLF, C_LETTER, C_NUMBER, C_PUNCT, C_FALCON, C_DEFAULT_P, C_DIGIT,
       C_DS_LETTER, C_DS_PUNCT, C_CJK };

static int is_space(const ucp *u) {
    return u->cp < 0x80 ? (u->cp == ' ' || (u->cp >= 9 && u->cp <= 13)) : u->ws;
}

static int in_class(int cls, const ucp *u) {
    uint32_t cp = u->cp;
    if (cp >= 0x80 && u->ws) return 0;
    switch (cls) {
    case C_CRLF: return cp == '\r' || cp == '\n';
    case C_LETTER: return u->cat == UCAT_LETTER;
    case C_NUMBER: return u->cat == UCAT_NUMBER;
    case C_PUNCT: return u->cat == UCAT_PUNCT;
    case C_FALCON: return u->cat == UCAT_PUNCT || (cp < 0x80 && strchr("$+<=>^~|`", (int)cp) && cp);
    case C_DEFAULT_P: return u->cat == UCAT_PUNCT || (cp < 0x80 && strchr("$+<=>^~|", (int)cp) && cp);
    case C_DIGIT: return cp >= '0' && cp <= '9';
    case C_DS_LETTER: return in_ranges(cp, ds_letters, sizeof ds_letters / sizeof ds_letters[0]);
    case C_DS_PUNCT: return in_ranges(cp, ds_punct, sizeof ds_punct / sizeof ds_punct[0]);
    case C_CJK: return in_ranges(cp, cjk, sizeof cjk / sizeof cjk[0]);
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Pre-tokenizer splits.  A split refines a list of segment lengths (in code
 * points): each segment is searched on its own, and the text between
 * matches becomes a segment too.
 * ------------------------------------------------------------------------ */

enum { R_GPT2, R_LLAMA3, R_QWEN2, R_ONE, R_PLUS, R_WS_PLUS, R_DIGIT3, R_TRAIL_WS };

typedef struct { uint8_t kind, cls; } split_rule;

typedef struct {
    const ucp *u;
    size_t *out;       /* (n_out) segment lengths being produced */
    size_t n_out;
    size_t prev;       /* end of the last emitted segment */
} splitter;

static void emit(splitter *s, size_t end) {
    if (end > s->prev) s->out[s->n_out++] = end - s->prev;
    s->prev = end;
}

/* Flags-at helpers for the custom splitters: out of the segment, nothing. */
#define IN(p)    ((p) >= ini && (p) < end)
#define CP(p)    (IN(p) ? u[p].cp : 0xffffffffu)
#define LET(p)   (IN(p) && u[p].cat == UCAT_LETTER)
#define NUM(p)   (IN(p) && u[p].cat == UCAT_NUMBER)
#define WS(p)    (IN(p) && u[p].ws)
#define OTHER(p) (IN(p) && !u[p].ws && u[p].cat != UCAT_LETTER && u[p].cat != UCAT_NUMBER)

static uint32_t ascii_lower(uint32_t c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* 's|'t|'re|'ve|'m|'ll|'d (case-insensitive when ci): length or 0. */
static size_t contraction(const ucp *u, size_t pos, size_t ini, size_t end, int ci) {
    if (CP(pos) != '\'' || pos + 1 >= end) return 0;
    uint32_t a = CP(pos + 1), b = pos + 2 < end ? CP(pos + 2) : 0;
    if (ci) { a = ascii_lower(a); b = ascii_lower(b); }
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    return 0;
}

/* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static void split_gpt2(splitter *s, size_t ini, size_t end) {
    const ucp *u = s->u;
    size_t pos = ini;
    s->prev = ini;
    while (pos < end) {
        size_t k = contraction(u, pos, ini, end, 0);
        if (k) { pos += k; emit(s, pos); continue; }
        size_t q = u[pos].cp == ' ' ? pos + 1 : pos;
        if (LET(q)) { pos = q; while (LET(pos)) pos++; emit(s, pos); continue; }
        if (NUM(q)) { pos = q; while (NUM(pos)) pos++; emit(s, pos); continue; }
        if (OTHER(q)) { pos = q; while (OTHER(pos)) pos++; emit(s, pos); continue; }
        size_t nws = 0;
        while (WS(pos + nws)) nws++;
        if (nws > 1 && IN(pos + nws)) { pos += nws - 1; emit(s, pos); continue; }
        if (nws > 0) { pos += nws; emit(s, pos); continue; }
        emit(s, ++pos);
    }
}

/* (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
 * ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+   (qwen2: \p{N}) */
static void split_llama3(splitter *s, size_t ini, size_t end, size_t max_digits) {
    const ucp *u = s->u;
    size_t pos = ini;
    s->prev = ini;
    while (pos < end) {
        uint32_t cp = u[pos].cp;
        size_t k = contraction(u, pos, ini, end, 1);
        if (k) { pos += k; emit(s, pos); continue; }
        if (!(cp == '\r' || cp == '\n' || NUM(pos)) && (LET(pos) || LET(pos + 1))) {
            pos++;
            while (LET(pos)) pos++;
            emit(s, pos);
            continue;
        }
        if (NUM(pos)) {
            size_t start = pos;
            while (NUM(pos)) {
                if (++pos - start >= max_digits) { emit(s, pos); start = pos; }
            }
            emit(s, pos);
            continue;
        }
        size_t q = cp == ' ' ? pos + 1 : pos;
        if (OTHER(q)) {
            pos = q;
            while (OTHER(pos)) pos++;
            while (CP(pos) == '\r' || CP(pos) == '\n') pos++;
            emit(s, pos);
            continue;
        }
        size_t nws = 0, last_rn = 0;
        while (WS(pos + nws)) {
            uint32_t c2 = CP(pos + nws);
            if (c2 == '\r' || c2 == '\n') last_rn = pos + nws + 1;
            nws++;
        }
        if (last_rn) { pos = last_rn; emit(s, pos); continue; }
        if (nws > 1 && IN(pos + nws)) { pos += nws - 1; emit(s, pos); continue; }
        if (nws > 0) { pos += nws; emit(s, pos); continue; }
        emit(s, ++pos);
    }
}

/* Leftmost match of a simple rule in [from, end): start in *ms, returns the
 * end, or 0 with no match. */
static size_t rule_find(const split_rule *r, const ucp *u, size_t from, size_t end, size_t *ms) {
    for (size_t p = from; p < end; p++) {
        size_t q;
        switch (r->kind) {
        case R_ONE:
            if (in_class(r->cls, &u[p])) { *ms = p; return p + 1; }
            break;
        case R_PLUS:
            if (in_class(r->cls, &u[p])) {
                for (q = p + 1; q < end && in_class(r->cls, &u[q]); q++) {}
                *ms = p;
                return q;
            }
            break;
        case R_WS_PLUS:   /* \s?C+ : greedy \s, backtracking to none */
            q = p;
            if (is_space(&u[p]) && p + 1 < end && in_class(r->cls, &u[p + 1])) q = p + 1;
            if (in_class(r->cls, &u[q])) {
                for (q = q + 1; q < end && in_class(r->cls, &u[q]); q++) {}
                *ms = p;
                return q;
            }
            break;
        case R_DIGIT3:
            if (p + 3 <= end && in_class(C_DIGIT, &u[p]) && in_class(C_DIGIT, &u[p + 1]) &&
                in_class(C_DIGIT, &u[p + 2])) { *ms = p; return p + 3; }
            break;
        case R_TRAIL_WS:  /* \s+$ */
            for (q = p; q < end && is_space(&u[q]); q++) {}
            if (q == end && q > p) { *ms = p; return end; }
            break;
        }
    }
    return 0;
}

static void split_rule_apply(splitter *s, const split_rule *r, size_t ini, size_t end) {
    if (r->kind == R_GPT2) { split_gpt2(s, ini, end); return; }
    if (r->kind == R_LLAMA3) { split_llama3(s, ini, end, 3); return; }
    if (r->kind == R_QWEN2) { split_llama3(s, ini, end, 1); return; }
    size_t pos = ini, ms;
    s->prev = ini;
    while (pos < end) {
        size_t me = rule_find(r, s->u, pos, end, &ms);
        if (!me) break;
        emit(s, ms);
        emit(s, me);
        pos = me;
    }
    emit(s, end);
}

static const split_rule *pre_rules(int pre, size_t *n) {
    static const split_rule gpt2[] = { {R_GPT2, 0} };
    static const split_rule deflt[] = { {R_PLUS, C_DEFAULT_P}, {R_GPT2, 0},
                                        {R_PLUS, C_NUMBER}, {R_DIGIT3, 0} };
    static const split_rule falcon[] = { {R_PLUS, C_FALCON}, {R_GPT2, 0}, {R_DIGIT3, 0} };
    static const split_rule starcoder[] = { {R_ONE, C_NUMBER}, {R_GPT2, 0} };
    static const split_rule ds_llm[] = { {R_ONE, C_CRLF}, {R_WS_PLUS, C_DS_LETTER},
                                         {R_WS_PLUS, C_DS_PUNCT}, {R_TRAIL_WS, 0},
                                         {R_PLUS, C_CJK}, {R_PLUS, C_NUMBER} };
    static const split_rule ds_coder[] = { {R_ONE, C_CRLF}, {R_WS_PLUS, C_LETTER},
                                           {R_WS_PLUS, C_PUNCT}, {R_PLUS, C_CJK},
                                           {R_ONE, C_NUMBER} };
    static const split_rule llama3[] = { {R_LLAMA3, 0} };
    static const split_rule qwen2[] = { {R_QWEN2, 0} };
#define RULES(a) do { *n = sizeof a / sizeof a[0]; return a; } while (0)
    switch (pre) {
    case PRE_GPT2: RULES(gpt2);
    case PRE_FALCON: RULES(falcon);
    case PRE_STARCODER: RULES(starcoder);
    case PRE_DEEPSEEK_LLM: RULES(ds_llm);
    case PRE_DEEPSEEK_CODER: RULES(ds_coder);
    case PRE_LLAMA3: RULES(llama3);
    case PRE_QWEN2: RULES(qwen2);
    default: RULES(deflt);
    }
#undef RULES
}

static int pre_from_name(const char *s, size_t n, int *pre) {
    static const struct { const char *name; int pre; } names[] = {
        {"default", PRE_DEFAULT}, {"gpt-2", PRE_GPT2}, {"phi-2", PRE_GPT2},
        {"mpt", PRE_GPT2}, {"olmo", PRE_GPT2}, {"jais", PRE_GPT2},
        {"roberta-bpe", PRE_GPT2}, {"falcon", PRE_FALCON}, {"starcoder", PRE_STARCODER},
        {"refact", PRE_STARCODER}, {"command-r", PRE_STARCODER}, {"smollm", PRE_STARCODER},
        {"codeshell", PRE_STARCODER}, {"exaone", PRE_STARCODER},
        {"minerva-7b", PRE_STARCODER}, {"deepseek-llm", PRE_DEEPSEEK_LLM},
        {"deepseek-coder", PRE_DEEPSEEK_CODER}, {"llama3", PRE_LLAMA3},
        {"llama-v3", PRE_LLAMA3}, {"llama-bpe", PRE_LLAMA3}, {"falcon3", PRE_LLAMA3},
        {"dbrx", PRE_LLAMA3}, {"smaug-bpe", PRE_LLAMA3}, {"qwen2", PRE_QWEN2},
        {"stablelm2", PRE_QWEN2}, {"megrez", PRE_QWEN2},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i].name) == n && memcmp(names[i].name, s, n) == 0) {
            *pre = names[i].pre;
            return 0;
        }
    return -1;
}

/* ------------------------------------------------------------------------
 * Construction
 * ------------------------------------------------------------------------ */

void tokenizer_free(tokenizer *t) {
    if (!t) return;
    free(t->arena);
    free(t->tok);
    free(t->tab);
    free(t->merges);
    free(t->mtab);
    free(t->special);
    free(t->special_all);
    free(t);
}

static tokenizer *tok_alloc(int n, size_t arena_size) {
    tokenizer *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->n = n;
    t->arena = malloc(arena_size ? arena_size : 1);
    t->tok = calloc((size_t)n, sizeof *t->tok);
    if (!t->arena || !t->tok) { tokenizer_free(t); return NULL; }
    t->bos = t->eos = t->eot = t->eom = t->unk = -1;
    return t;
}

/* Builds the text -> id table; later duplicates win, as in llama.cpp. */
static int build_tab(tokenizer *t) {
    uint32_t cap = pow2_at_least((uint64_t)t->n * 2);
    t->tab = calloc(cap, sizeof *t->tab);
    if (!t->tab) return -ENOMEM;
    t->tab_mask = cap - 1;
    for (int id = 0; id < t->n; id++) {
        const tok_entry *e = &t->tok[id];
        if (!e->len) continue;
        uint32_t i = hash_bytes(HASH_SEED, t->arena + e->off, e->len) & t->tab_mask;
        while (t->tab[i]) {
            const tok_entry *o = &t->tok[t->tab[i] - 1];
            if (o->len == e->len && !memcmp(t->arena + o->off, t->arena + e->off, e->len)) break;
            i = (i + 1) & t->tab_mask;
        }
        t->tab[i] = (uint32_t)id + 1;
    }
    return 0;
}

static int cmp_special(const void *a, const void *b, void *arg) {
    const tokenizer *t = arg;
    int x = *(const int *)a, y = *(const int *)b;
    if (t->tok[x].len != t->tok[y].len) return t->tok[x].len > t->tok[y].len ? -1 : 1;
    return x < y ? -1 : x > y;
}

static int piece_of(const tokenizer *t, int prev, int id, char *piece);

static int add_eog(tokenizer *t, int id) {
    if (id < 0) return 0;
    for (int i = 0; i < t->n_eog; i++)
        if (t->eog[i] == id) return 0;
    if (t->n_eog < (int)(sizeof t->eog / sizeof t->eog[0])) t->eog[t->n_eog++] = id;
    return 0;
}

/* Byte fallback, specials, end-of-generation set: everything derived from
 * the tokens once they are in place. */
static int finish(tokenizer *t, const char *model_name, char *err, size_t errlen) {
    int rc = build_tab(t);
    if (rc) return errbuf_set(err, errlen, rc, "out of memory");
    for (int b = 0; b < 256; b++) {
        char buf[8];
        snprintf(buf, sizeof buf, "<0x%02X>", b);
        int id = tok_lookup(t, buf, 6);
        if (id < 0) { buf[0] = (char)b; id = tok_lookup(t, buf, 1); }
        t->byte_tok[b] = id;
    }
    for (int c = 0; c < 128; c++) t->ascii_cat[c] = (uint8_t)ucat((uint32_t)c);
    /* GPT-2's byte-to-unicode map. */
    int k = 0;
    for (int i = 0; i < 324; i++) t->bpe_dec[i] = -1;
    for (int b = 0; b < 256; b++) {
        uint32_t cp = ((b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || b >= 0xae)
                      ? (uint32_t)b : 256u + (uint32_t)k++;
        t->bpe_enc_len[b] = (uint8_t)utf8_encode(cp, t->bpe_enc[b]);
        t->bpe_dec[cp] = (int16_t)b;
    }
    /* User-defined tokens are split out of the text before tokenizing;
     * with parse_special, control and unknown ones too. */
    int ns = 0, na = 0;
    for (int id = 0; id < t->n; id++) {
        int ty = t->tok[id].type;
        if (!t->tok[id].len) continue;
        ns += ty == TT_USER_DEFINED;
        na += ty == TT_USER_DEFINED || ty == TT_CONTROL || ty == TT_UNKNOWN;
    }
    if (ns) {
        t->special = malloc((size_t)ns * sizeof *t->special);
        if (!t->special) return errbuf_set(err, errlen, -ENOMEM, "out of memory");
        for (int id = 0; id < t->n; id++)
            if (t->tok[id].type == TT_USER_DEFINED && t->tok[id].len) t->special[t->n_special++] = id;
        qsort_r(t->special, (size_t)t->n_special, sizeof *t->special, cmp_special, t);
    }
    if (na) {
        t->special_all = malloc((size_t)na * sizeof *t->special_all);
        if (!t->special_all) return errbuf_set(err, errlen, -ENOMEM, "out of memory");
        for (int id = 0; id < t->n; id++) {
            int ty = t->tok[id].type;
            if (t->tok[id].len && (ty == TT_USER_DEFINED || ty == TT_CONTROL || ty == TT_UNKNOWN))
                t->special_all[t->n_special_all++] = id;
        }
        qsort_r(t->special_all, (size_t)t->n_special_all, sizeof *t->special_all, cmp_special, t);
    }
    if (model_name) {
        char low[64];
        size_t i;
        for (i = 0; model_name[i] && i + 1 < sizeof low; i++)
            low[i] = (char)(model_name[i] >= 'A' && model_name[i] <= 'Z' ? model_name[i] + 32 : model_name[i]);
        low[i] = 0;
        t->special_rstrip = strstr(low, "phi-3") || strstr(low, "phi3");
    }
    static const char *const eot_texts[] = { "<|eot_id|>", "<|im_end|>", "<|end|>",
        "<end_of_turn>", "<|endoftext|>", "<EOT>",
        ("<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>") /* DeepSeek */ };
    static const char *const eog_texts[] = { "<|eot_id|>", "<|im_end|>", "<|end|>",
        "<end_of_turn>", "<|endoftext|>", "<|eom_id|>", "<EOT>" };
    if (t->eot < 0)
        for (size_t i = 0; i < sizeof eot_texts / sizeof eot_texts[0] && t->eot < 0; i++)
            t->eot = tok_lookup(t, eot_texts[i], strlen(eot_texts[i]));
    if (t->eom < 0) t->eom = tok_lookup(t, "<|eom_id|>", 10);
    if (t->kind == KIND_BPE || t->n > 1000)   /* not the tiny llama2.c vocabularies */
        for (size_t i = 0; i < sizeof eog_texts / sizeof eog_texts[0]; i++)
            add_eog(t, tok_lookup(t, eog_texts[i], strlen(eog_texts[i])));
    add_eog(t, t->eos);
    add_eog(t, t->eot);
    add_eog(t, t->eom);
    add_eog(t, t->bos);
    for (int id = 0; id < t->n; id++) {
        char piece[TOK_MAX_LEN];
        int n = piece_of(t, -1, id, piece);
        if (n > TOK_MAX_PIECE)
            return errbuf_set(err, errlen, -EINVAL, "token %d decodes to %d bytes (max %d)",
                           id, n, TOK_MAX_PIECE);
    }
    return 0;
}

static int gguf_id(const gguf *g, const char *key, int n, int dflt) {
    int64_t v;
    if (gguf_get_i64(g, key, &v) == 0 && v >= 0 && v < n) return (int)v;
    return dflt;
}

int tokenizer_from_gguf(const gguf *g, tokenizer **out, char *err, size_t errlen) {
    *out = NULL;
    gguf_str model;
    if (gguf_get_str(g, "tokenizer.ggml.model", &model))
        return errbuf_set(err, errlen, -EINVAL, "no tokenizer.ggml.model");
    int kind;
    if (gguf_str_eq(model, "llama")) kind = KIND_SPM;
    else if (gguf_str_eq(model, "gpt2")) kind = KIND_BPE;
    else
        return errbuf_set(err, errlen, -ENOTSUP, "unsupported tokenizer model '%.*s'",
                       (int)(model.len > 40 ? 40 : model.len), model.ptr);
    int pre = PRE_DEFAULT;
    gguf_str ps;
    if (kind == KIND_BPE && gguf_get_str(g, "tokenizer.ggml.pre", &ps) == 0 &&
        pre_from_name(ps.ptr, ps.len, &pre))
        return errbuf_set(err, errlen, -ENOTSUP, "unsupported pre-tokenizer '%.*s'",
                       (int)(ps.len > 40 ? 40 : ps.len), ps.ptr);

    const gguf_kv *toks = gguf_get_arr(g, "tokenizer.ggml.tokens", GGUF_STRING);
    if (!toks || !toks->strs) return errbuf_set(err, errlen, -EINVAL, "no tokenizer.ggml.tokens array");
    if (toks->arr_n == 0 || toks->arr_n > TOK_MAX_VOCAB)
        return errbuf_set(err, errlen, -EINVAL, "vocabulary of %llu tokens", (unsigned long long)toks->arr_n);
    int n = (int)toks->arr_n;
    const gguf_kv *scores = gguf_find(g, "tokenizer.ggml.scores");
    const gguf_kv *types = gguf_find(g, "tokenizer.ggml.token_type");
    if (scores && (scores->type != GGUF_ARRAY || scores->arr_type != GGUF_F32 || scores->arr_n != toks->arr_n))
        return errbuf_set(err, errlen, -EINVAL, "tokenizer.ggml.scores is not %d float32", n);
    if (types && (types->type != GGUF_ARRAY || types->arr_n != toks->arr_n ||
                  types->arr_type == GGUF_STRING || types->arr_type == GGUF_ARRAY))
        return errbuf_set(err, errlen, -EINVAL, "tokenizer.ggml.token_type is not %d integers", n);
    const gguf_kv *merges = NULL;
    if (kind == KIND_BPE) {
        merges = gguf_get_arr(g, "tokenizer.ggml.merges", GGUF_STRING);
        if (!merges || !merges->strs)
            return errbuf_set(err, errlen, -EINVAL, "BPE vocabulary without tokenizer.ggml.merges");
        if (merges->arr_n > TOK_MAX_VOCAB)
            return errbuf_set(err, errlen, -EINVAL, "%llu merges", (unsigned long long)merges->arr_n);
    }

    size_t arena = 0;
    for (int i = 0; i < n; i++) {
        if (toks->strs[i].len > TOK_MAX_LEN)
            return errbuf_set(err, errlen, -EINVAL, "token %d is %llu bytes long (max %d)", i,
                           (unsigned long long)toks->strs[i].len, TOK_MAX_LEN);
        arena += toks->strs[i].len + 1;
    }
    for (uint64_t i = 0; merges && i < merges->arr_n; i++) {
        if (merges->strs[i].len > 2 * TOK_MAX_LEN + 1)
            return errbuf_set(err, errlen, -EINVAL, "merge %llu is %llu bytes long",
                           (unsigned long long)i, (unsigned long long)merges->strs[i].len);
        arena += merges->strs[i].len + 1;
    }
    tokenizer *t = tok_alloc(n, arena);
    if (!t) return errbuf_set(err, errlen, -ENOMEM, "out of memory");
    t->kind = kind;
    t->pre = pre;
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        tok_entry *e = &t->tok[i];
        e->off = (uint32_t)off;
        e->len = (uint32_t)toks->strs[i].len;
        memcpy(t->arena + off, toks->strs[i].ptr, e->len);
        t->arena[off + e->len] = 0;
        off += e->len + 1;
        if (scores) {
            float f = (float)gguf_arr_num(scores, (uint64_t)i);
            if (isnan(f)) {
                tokenizer_free(t);
                return errbuf_set(err, errlen, -EINVAL, "token %d has a NaN score", i);
            }
            e->score = f;
        }
        e->type = TT_NORMAL;
        if (types) {
            double ty = gguf_arr_num(types, (uint64_t)i);
            e->type = ty >= 0 && ty <= TT_BYTE ? (uint8_t)ty : TT_UNDEFINED;
        }
        if (e->type == TT_BYTE) {   /* must be <0xXX>: decode reads the hex */
            const char *s = t->arena + e->off;
            if (e->len != 6 || memcmp(s, "<0x", 3) || s[5] != '>' ||
                !strchr("0123456789ABCDEFabcdef", s[3]) || !strchr("0123456789ABCDEFabcdef", s[4]) ||
                !s[3] || !s[4]) {
                tokenizer_free(t);
                return errbuf_set(err, errlen, -EINVAL, "byte token %d is not <0xXX>", i);
            }
        }
    }
    if (merges) {
        t->n_merges = (uint32_t)merges->arr_n;
        t->merges = calloc(t->n_merges ? t->n_merges : 1, sizeof *t->merges);
        uint32_t cap = pow2_at_least((uint64_t)t->n_merges * 2);
        t->mtab = calloc(cap, sizeof *t->mtab);
        if (!t->merges || !t->mtab) {
            tokenizer_free(t);
            return errbuf_set(err, errlen, -ENOMEM, "out of memory");
        }
        t->mtab_mask = cap - 1;
        for (uint32_t r = 0; r < t->n_merges; r++) {
            const gguf_str *s = &merges->strs[r];
            size_t sp = 1;   /* the separator is the first space after byte 0 */
            while (sp < s->len && s->ptr[sp] != ' ') sp++;
            if (s->len < 3 || sp >= s->len - 1) {
                tokenizer_free(t);
                return errbuf_set(err, errlen, -EINVAL, "merge %u is not \"a b\"", r);
            }
            memcpy(t->arena + off, s->ptr, s->len);
            t->arena[off + s->len] = 0;
            merge_entry *m = &t->merges[r];
            m->a_off = (uint32_t)off;
            m->a_len = (uint32_t)sp;
            m->b_off = (uint32_t)(off + sp + 1);
            m->b_len = (uint32_t)(s->len - sp - 1);
            off += s->len + 1;
            uint32_t i = merge_hash(t->arena + m->a_off, m->a_len, t->arena + m->b_off, m->b_len)
                         & t->mtab_mask;
            int dup = 0;
            while (t->mtab[i]) {   /* a repeated pair keeps its first (best) rank */
                const merge_entry *o = &t->merges[t->mtab[i] - 1];
                if (o->a_len == m->a_len && o->b_len == m->b_len &&
                    !memcmp(t->arena + o->a_off, t->arena + m->a_off, m->a_len) &&
                    !memcmp(t->arena + o->b_off, t->arena + m->b_off, m->b_len)) { dup = 1; break; }
                i = (i + 1) & t->mtab_mask;
            }
            if (!dup) t->mtab[i] = r + 1;
        }
    }

    if (kind == KIND_SPM) {
        t->bos = gguf_id(g, "tokenizer.ggml.bos_token_id", n, n > 1 ? 1 : -1);
        t->eos = gguf_id(g, "tokenizer.ggml.eos_token_id", n, n > 2 ? 2 : -1);
        t->unk = gguf_id(g, "tokenizer.ggml.unknown_token_id", n, 0);
        t->add_space_prefix = 1;
    } else {
        t->bos = gguf_id(g, "tokenizer.ggml.bos_token_id", n, -1);
        t->eos = gguf_id(g, "tokenizer.ggml.eos_token_id", n, -1);
        t->unk = gguf_id(g, "tokenizer.ggml.unknown_token_id", n, -1);
    }
    t->eot = gguf_id(g, "tokenizer.ggml.eot_token_id", n, -1);
    t->eom = gguf_id(g, "tokenizer.ggml.eom_token_id", n, -1);
    int b;
    if (gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", &b) == 0) t->add_space_prefix = b;
    /* llama.cpp's default: SentencePiece vocabularies start prompts with
     * BOS, byte-level BPE ones only when the file says so */
    t->add_bos = kind == KIND_SPM;
    if (gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b) == 0) t->add_bos = b;

    char name[64] = "";
    gguf_str gn;
    if (gguf_get_str(g, "general.name", &gn) == 0)
        snprintf(name, sizeof name, "%.*s", (int)(gn.len > 63 ? 63 : gn.len), gn.ptr);
    int rc = finish(t, name, err, errlen);
    if (rc) {
        tokenizer_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

static uint32_t rd_u32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int tokenizer_from_llama2c_buf(const void *buf, size_t size, int n_vocab, tokenizer **out,
                               char *err, size_t errlen) {
    const unsigned char *p = buf, *end = p + size;
    *out = NULL;
    if (n_vocab <= 0 || n_vocab > TOK_MAX_VOCAB)
        return errbuf_set(err, errlen, -EINVAL, "tokenizer.bin: vocabulary size %d", n_vocab);
    if (size < 4) return errbuf_set(err, errlen, -EINVAL, "tokenizer.bin: truncated header (%zu bytes)", size);
    int32_t max_len = (int32_t)rd_u32(p);
    if (max_len <= 0 || max_len > 65536)
        return errbuf_set(err, errlen, -EINVAL, "tokenizer.bin: max_token_length %d", (int)max_len);
    p += 4;
    /* First pass: check every length against the file and size the arena
     * (a space becomes the 3-byte U+2581). */
    size_t arena = 0;
    for (int i = 0; i < n_vocab; i++) {
        if ((size_t)(end - p) < 8)
            return errbuf_set(err, errlen, -EINVAL, "tokenizer.bin: truncated at token %d of the model's %d "
                           "(byte %zu; a tokenizer of another model?)",
                           i, n_vocab, (size_t)(p - (const unsigned char *)buf));
        int32_t len = (int32_t)rd_u32(p + 4);
        if (len < 0 || len > TOK_MAX_LEN)
            return errbuf_set(err, errlen, -EINVAL, "tokenizer.bin: token %d has length %d", i, (int)len);
        if ((size_t)(end - p - 8) < (size_t)len)
            return errbuf_set(err, errlen, -EINVAL, "tokenizer.bin: truncated in token %d of %d (byte %zu)",
                           i, n_vocab, (size_t)(p - (const unsigned char *)buf));
        size_t spaces = 0;
        for (int32_t j = 0; j < len; j++) spaces += p[8 + j] == ' ';
        if (len + 2 * spaces > TOK_MAX_LEN)
            return errbuf_set(err, errlen, -EINVAL, "tokenizer.bin: token %d is too long", i);
        arena += (size_t)len + 2 * spaces + 1;
        p += 8 + (size_t)len;
    }
    if (p != end)
        return errbuf_set(err, errlen, -EINVAL,
                          "tokenizer.bin: more tokens than the model's vocabulary of %d "
                          "(a tokenizer of another model?)", n_vocab);
    tokenizer *t = tok_alloc(n_vocab, arena);
    if (!t) return errbuf_set(err, errlen, -ENOMEM, "out of memory");
    t->kind = KIND_SPM;
    t->add_space_prefix = 1;
    t->add_bos = 1;
    p = (const unsigned char *)buf + 4;
    size_t off = 0;
    for (int i = 0; i < n_vocab; i++) {
        tok_entry *e = &t->tok[i];
        float score;
        uint32_t sbits = rd_u32(p);
        memcpy(&score, &sbits, 4);
        size_t len = rd_u32(p + 4);
        const char *s = (const char *)p + 8;
        p += 8 + len;
        if (isnan(score)) {
            tokenizer_free(t);
            return errbuf_set(err, errlen, -EINVAL, "tokenizer.bin: token %d has a NaN score", i);
        }
        e->score = score;
        e->off = (uint32_t)off;
        e->type = TT_NORMAL;
        /* llama2.c writes BOS and EOS as "\n<s>\n" and "\n</s>\n". */
        if (len == 5 && !memcmp(s, "\n<s>\n", 5)) { s++; len = 3; }
        if (len == 6 && !memcmp(s, "\n</s>\n", 6)) { s++; len = 4; }
        if (len == 5 && !memcmp(s, "<unk>", 5)) e->type = TT_UNKNOWN;
        else if ((len == 3 && !memcmp(s, "<s>", 3)) || (len == 4 && !memcmp(s, "</s>", 4)))
            e->type = TT_CONTROL;
        else if (len == 6 && !memcmp(s, "<0x", 3) && s[5] == '>' &&
                 strchr("0123456789ABCDEF", s[3]) && strchr("0123456789ABCDEF", s[4]) && s[3] && s[4])
            e->type = TT_BYTE;
        for (size_t j = 0; j < len; j++) {
            if (s[j] == ' ' && e->type == TT_NORMAL) {
                memcpy(t->arena + off, "\xe2\x96\x81", 3);
                off += 3;
            } else {
                t->arena[off++] = s[j];
            }
        }
        e->len = (uint32_t)(off - e->off);
        t->arena[off++] = 0;
    }
    t->unk = 0;
    t->bos = n_vocab > 1 ? 1 : -1;
    t->eos = n_vocab > 2 ? 2 : -1;
    int rc = finish(t, NULL, err, errlen);
    if (rc) {
        tokenizer_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

int tokenizer_from_llama2c(const char *path, int n_vocab, tokenizer **out, char *err, size_t errlen) {
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errbuf_set(err, errlen, -errno, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) || st.st_size > (off_t)1 << 30) {
        close(fd);
        return errbuf_set(err, errlen, -EINVAL, "%s: not a tokenizer file", path);
    }
    size_t size = (size_t)st.st_size;
    unsigned char *buf = malloc(size ? size : 1);
    if (!buf) { close(fd); return errbuf_set(err, errlen, -ENOMEM, "out of memory"); }
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    char e2[200];
    int rc = tokenizer_from_llama2c_buf(buf, got, n_vocab, out, e2, sizeof e2);
    free(buf);
    if (rc) return errbuf_set(err, errlen, rc, "%s: %s", path, e2);
    return 0;
}

/* ------------------------------------------------------------------------
 * Encoding
 * ------------------------------------------------------------------------ */

typedef struct {
    int *ids;
    int cap;
    int n;       /* ids produced, possibly > cap */
} id_out;

static void put(id_out *o, int id) {
    if (o->n < o->cap) o->ids[o->n] = id;
    if (o->n < INT32_MAX) o->n++;
}

typedef struct {
    int prev, next;
    uint32_t start, n;   /* bytes of the working text */
} sym;

typedef struct {
    int left, right;
    float key;           /* larger pops first: SPM score, BPE -rank */
    uint32_t size;
} bigram;

typedef struct {
    bigram *v;
    size_t n, cap;
} heap;

static int bg_before(const bigram *a, const bigram *b) {
    return a->key > b->key || (a->key == b->key && a->left < b->left);
}

static int heap_push(heap *h, bigram b) {
    if (h->n == h->cap) {
        size_t nc = h->cap ? h->cap * 2 : 64;
        bigram *nv = realloc(h->v, nc * sizeof *nv);
        if (!nv) return -ENOMEM;
        h->v = nv;
        h->cap = nc;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t par = (i - 1) / 2;
        if (!bg_before(&b, &h->v[par])) break;
        h->v[i] = h->v[par];
        i = par;
    }
    h->v[i] = b;
    return 0;
}

static bigram heap_pop(heap *h) {
    bigram top = h->v[0], last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && bg_before(&h->v[c + 1], &h->v[c])) c++;
        if (!bg_before(&h->v[c], &last)) break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n) h->v[i] = last;
    return top;
}

/* Scratch space for one encode call. */
typedef struct {
    sym *syms;
    size_t syms_cap;
    heap h;
    char *text;          /* working text (escaped / byte-encoded) */
    size_t text_cap;
} scratch;

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t nc = *cap ? *cap : 64;
    while (nc < need) nc *= 2;
    void *np = realloc(*p, nc * elem);
    if (!np) return -ENOMEM;
    *p = np;
    *cap = nc;
    return 0;
}

/* Splits text[0..len) into UTF-8 characters as symbols. */
static int init_syms(scratch *sc, const char *text, size_t len, size_t *nsyms) {
    if (grow((void **)&sc->syms, &sc->syms_cap, len + 1, sizeof *sc->syms)) return -ENOMEM;
    size_t k = 0, off = 0;
    while (off < len) {
        size_t l = utf8_len((unsigned char)text[off]);
        if (l > len - off) l = len - off;
        sym *s = &sc->syms[k];
        s->start = (uint32_t)off;
        s->n = (uint32_t)l;
        s->prev = (int)k - 1;
        off += l;
        s->next = off == len ? -1 : (int)k + 1;
        k++;
    }
    *nsyms = k;
    sc->h.n = 0;
    return 0;
}

static int spm_try_bigram(const tokenizer *t, scratch *sc, int l, int r) {
    if (l < 0 || r < 0) return 0;
    const sym *a = &sc->syms[l], *b = &sc->syms[r];
    int id = tok_lookup(t, sc->text + a->start, a->n + b->n);
    if (id < 0) return 0;
    bigram bg = { l, r, t->tok[id].score, a->n + b->n };
    return heap_push(&sc->h, bg);
}

static int bpe_try_bigram(const tokenizer *t, scratch *sc, int l, int r) {
    if (l < 0 || r < 0) return 0;
    const sym *a = &sc->syms[l], *b = &sc->syms[r];
    int rank = merge_lookup(t, sc->text + a->start, a->n, sc->text + b->start, b->n);
    if (rank < 0) return 0;
    bigram bg = { l, r, -(float)rank, a->n + b->n };
    return heap_push(&sc->h, bg);
}

/* Merges the symbols of sc->text by the heap's order until no bigram is
 * left (both SentencePiece and BPE: they differ only in the key). */
static int merge_all(const tokenizer *t, scratch *sc, size_t nsyms) {
    int (*try_bigram)(const tokenizer *, scratch *, int, int) =
        t->kind == KIND_SPM ? spm_try_bigram : bpe_try_bigram;
    for (size_t i = 1; i < nsyms; i++)
        if (try_bigram(t, sc, (int)i - 1, (int)i)) return -ENOMEM;
    while (sc->h.n) {
        bigram bg = heap_pop(&sc->h);
        sym *l = &sc->syms[bg.left], *r = &sc->syms[bg.right];
        /* stale: one side has merged since the bigram was queued */
        if (!l->n || !r->n || l->n + r->n != bg.size) continue;
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) sc->syms[r->next].prev = bg.left;
        if (try_bigram(t, sc, l->prev, bg.left) || try_bigram(t, sc, bg.left, l->next))
            return -ENOMEM;
    }
    return 0;
}

/* SentencePiece: text[0..len) with an optional leading space. */
static int spm_fragment(const tokenizer *t, scratch *sc, const char *text, size_t len,
                        int space_prefix, id_out *o) {
    size_t need = (len + 1) * 3 + 1;
    if (grow((void **)&sc->text, &sc->text_cap, need, 1)) return -ENOMEM;
    size_t w = 0;
    if (space_prefix) { memcpy(sc->text, "\xe2\x96\x81", 3); w = 3; }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') { memcpy(sc->text + w, "\xe2\x96\x81", 3); w += 3; }
        else sc->text[w++] = text[i];
    }
    if (!w) return 0;
    size_t nsyms;
    if (init_syms(sc, sc->text, w, &nsyms) || merge_all(t, sc, nsyms)) return -ENOMEM;
    for (int i = 0; i != -1; i = sc->syms[i].next) {
        const sym *s = &sc->syms[i];
        int id = tok_lookup(t, sc->text + s->start, s->n);
        if (id >= 0) { put(o, id); continue; }
        for (uint32_t j = 0; j < s->n; j++) {
            int b = t->byte_tok[(unsigned char)sc->text[s->start + j]];
            if (b < 0) b = t->unk;
            if (b >= 0) put(o, b);
        }
    }
    return 0;
}

/* Byte-level BPE: one word (bytes) after pre-tokenization. */
static int bpe_word(const tokenizer *t, scratch *sc, const char *word, size_t len, id_out *o) {
    if (grow((void **)&sc->text, &sc->text_cap, len * 2 + 1, 1)) return -ENOMEM;
    size_t w = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char b = (unsigned char)word[i];
        memcpy(sc->text + w, t->bpe_enc[b], t->bpe_enc_len[b]);
        w += t->bpe_enc_len[b];
    }
    size_t nsyms;
    if (init_syms(sc, sc->text, w, &nsyms) || merge_all(t, sc, nsyms)) return -ENOMEM;
    for (int i = 0; nsyms && i != -1; i = sc->syms[i].next) {
        const sym *s = &sc->syms[i];
        int id = tok_lookup(t, sc->text + s->start, s->n);
        if (id >= 0) { put(o, id); continue; }
        for (uint32_t j = 0; j < s->n; j++) {
            int b = tok_lookup(t, sc->text + s->start + j, 1);
            if (b >= 0) put(o, b);
        }
    }
    return 0;
}

static int bpe_fragment(const tokenizer *t, scratch *sc, const char *text, size_t len, id_out *o) {
    if (!len) return 0;
    ucp *u = malloc(len * sizeof *u);
    size_t *boff = malloc((len + 1) * sizeof *boff);
    size_t *sa = malloc((len + 1) * sizeof *sa), *sb = malloc((len + 1) * sizeof *sb);
    int rc = -ENOMEM;
    if (!u || !boff || !sa || !sb) goto out;
    size_t ncp = 0, off = 0;
    while (off < len) {
        uint32_t cp;
        size_t k = utf8_decode_lenient((const unsigned char *)text + off, len - off, &cp);
        u[ncp].cp = cp;
        if (cp < 0x80) {
            u[ncp].cat = t->ascii_cat[cp];
            u[ncp].ws = cp == ' ' || (cp >= 9 && cp <= 13);
        } else {
            u[ncp].cat = (uint8_t)ucat(cp);
            u[ncp].ws = (uint8_t)uspace(cp);
        }
        boff[ncp++] = off;
        off += k;
    }
    boff[ncp] = len;
    /* Apply each split in turn to the segments of the previous one. */
    size_t nseg = 1;
    sa[0] = ncp;
    size_t nrules;
    const split_rule *rules = pre_rules(t->pre, &nrules);
    for (size_t r = 0; r < nrules; r++) {
        splitter s = { u, sb, 0, 0 };
        size_t start = 0;
        for (size_t i = 0; i < nseg; i++) {
            split_rule_apply(&s, &rules[r], start, start + sa[i]);
            start += sa[i];
        }
        size_t *tmp = sa; sa = sb; sb = tmp;
        nseg = s.n_out;
    }
    size_t start = 0;
    for (size_t i = 0; i < nseg; i++) {
        size_t b0 = boff[start], b1 = boff[start + sa[i]];
        start += sa[i];
        if (bpe_word(t, sc, text + b0, b1 - b0, o)) goto out;
    }
    rc = 0;
out:
    free(u);
    free(boff);
    free(sa);
    free(sb);
    return rc;
}

/* A piece of the input: raw text, or a user-defined token split out of it. */
typedef struct { int tok; size_t off, len; } fragment;

static int is_cspace(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

/* llama.cpp's tokenizer_st_partition for the special tokens sp[0..nsp)
 * (longest first): each one is cut out of every raw fragment wherever it
 * occurs. */
static int partition(const tokenizer *t, const int *sp, int nsp, const char *text, size_t len,
                     fragment **out, size_t *nout) {
    size_t cap = 16, n = 0;
    fragment *f = malloc(cap * sizeof *f);
    if (!f) return -ENOMEM;
    if (len) f[n++] = (fragment){ -1, 0, len };
    if (!nsp || !len) { *out = f; *nout = n; return 0; }
    uint8_t present[256] = { 0 };
    for (size_t i = 0; i < len; i++) present[(unsigned char)text[i]] = 1;
    fragment *g = NULL;
    size_t gcap = 0;
    for (int si = 0; si < nsp; si++) {
        const tok_entry *e = &t->tok[sp[si]];
        const char *st = t->arena + e->off;
        if (!present[(unsigned char)st[0]]) continue;
        size_t gn = 0;
        for (size_t i = 0; i < n; i++) {
            size_t need = gn + 2 * (f[i].len / e->len + 1) + 1;
            if (grow((void **)&g, &gcap, need, sizeof *g)) { free(f); free(g); return -ENOMEM; }
            if (f[i].tok >= 0) { g[gn++] = f[i]; continue; }
            size_t o = f[i].off, l = f[i].len;
            for (;;) {
                const char *m = l >= e->len ? memmem(text + o, l, st, e->len) : NULL;
                if (!m) { if (l) g[gn++] = (fragment){ -1, o, l }; break; }
                size_t mo = (size_t)(m - text);
                if (mo > o) g[gn++] = (fragment){ -1, o, mo - o };
                g[gn++] = (fragment){ sp[si], mo, e->len };
                size_t ro = mo + e->len, rl = o + l - ro;
                if (t->special_rstrip)
                    while (rl && is_cspace(text[ro])) { ro++; rl--; }
                o = ro;
                l = rl;
            }
        }
        fragment *tmp = f; f = g; g = tmp;
        size_t tc = cap; cap = gcap; gcap = tc;
        n = gn;
    }
    free(g);
    *out = f;
    *nout = n;
    return 0;
}

static int encode(const tokenizer *t, const char *text, size_t len, int add_bos, int parse_special,
                  int *ids, int cap) {
    if (!t || (!text && len) || cap < 0 || (!ids && cap)) return -EINVAL;
    if (len > (size_t)INT32_MAX / 4) return -E2BIG;
    id_out o = { ids, cap, 0 };
    if (add_bos && t->add_bos && t->bos >= 0) put(&o, t->bos);
    fragment *fr;
    size_t nfr;
    if (partition(t, parse_special ? t->special_all : t->special,
                  parse_special ? t->n_special_all : t->n_special, text, len, &fr, &nfr))
        return -ENOMEM;
    scratch sc = { 0 };
    int rc = 0, prev_special = 1;
    for (size_t i = 0; i < nfr && !rc; i++) {
        if (fr[i].tok >= 0) { put(&o, fr[i].tok); prev_special = 1; continue; }
        if (t->kind == KIND_SPM)
            rc = spm_fragment(t, &sc, text + fr[i].off, fr[i].len,
                              t->add_space_prefix && prev_special, &o);
        else
            rc = bpe_fragment(t, &sc, text + fr[i].off, fr[i].len, &o);
        prev_special = 0;
    }
    free(fr);
    free(sc.syms);
    free(sc.h.v);
    free(sc.text);
    if (rc) return rc;
    return o.n == INT32_MAX ? -E2BIG : o.n;
}

int tokenizer_encode(const tokenizer *t, const char *text, size_t len, int add_bos,
                     int *ids, int cap) {
    return encode(t, text, len, add_bos, 0, ids, cap);
}

int tokenizer_encode_special(const tokenizer *t, const char *text, size_t len, int add_bos,
                             int *ids, int cap) {
    return encode(t, text, len, add_bos, 1, ids, cap);
}

/* ------------------------------------------------------------------------
 * Decoding
 * ------------------------------------------------------------------------ */

static int hexval(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c - 'a' + 10;
}

/* Writes the bytes of token id after prev to piece (room for TOK_MAX_LEN);
 * returns the count. */
static int piece_of(const tokenizer *t, int prev, int id, char *piece) {
    const tok_entry *e = &t->tok[id];
    const char *s = t->arena + e->off;
    size_t n = 0;
    switch (e->type) {
    case TT_USER_DEFINED:
        memcpy(piece, s, e->len);
        n = e->len;
        break;
    case TT_BYTE:
        if (t->kind == KIND_SPM) piece[n++] = (char)(hexval(s[3]) * 16 + hexval(s[4]));
        break;
    case TT_NORMAL:
        if (t->kind == KIND_SPM) {
            for (size_t i = 0; i < e->len;) {
                if (i + 3 <= e->len && !memcmp(s + i, "\xe2\x96\x81", 3)) { piece[n++] = ' '; i += 3; }
                else piece[n++] = s[i++];
            }
            if (prev >= 0 && prev == t->bos && n && piece[0] == ' ') memmove(piece, piece + 1, --n);
        } else {
            for (size_t i = 0; i < e->len;) {
                uint32_t cp;
                size_t k = utf8_decode_lenient((const unsigned char *)s + i, e->len - i, &cp);
                if (cp < 324 && t->bpe_dec[cp] >= 0) piece[n++] = (char)t->bpe_dec[cp];
                else { memcpy(piece + n, s + i, k); n += k; }
                i += k;
            }
        }
        break;
    default:   /* control, unknown, unused: nothing */
        break;
    }
    return (int)n;
}

int tokenizer_decode(const tokenizer *t, int prev, int id, char *buf, size_t cap) {
    if (!t || id < 0 || id >= t->n) return 0;
    char piece[TOK_MAX_LEN];
    size_t n = (size_t)piece_of(t, prev, id, piece);
    if (n > cap) n = cap;
    if (n) memcpy(buf, piece, n);
    return (int)n;
}

int tokenizer_n_vocab(const tokenizer *t) { return t->n; }
int tokenizer_bos(const tokenizer *t) { return t->bos; }
int tokenizer_eos(const tokenizer *t) { return t->eos; }

int tokenizer_is_eog(const tokenizer *t, int id) {
    if (id < 0) return 0;
    for (int i = 0; i < t->n_eog; i++)
        if (t->eog[i] == id) return 1;
    return 0;
}

const char *tokenizer_token_text(const tokenizer *t, int id) {
    if (!t || id < 0 || id >= t->n) return NULL;
    return t->arena + t->tok[id].off;
}
