/* engine/chat: templates are recognised as llama.cpp recognises them, one
 * that is not is refused in one line, a conversation grown turn by turn
 * (chat_render_next) is the whole conversation rendered at once, and the
 * rendering of a system prompt and two turns equals the template itself
 * rendered by @huggingface/jinja (tests/node/chat_ref.mjs, when
 * tests/node is installed): the templates llmfs-mkmodel writes and the
 * real Phi-3 template of ../shared/vocab. */
#include "engine/chat.h"
#include "engine/gguf.h"
#include "engine/tokenizer.h"
#include "tests/harness.h"
#include "tools/chat_templates.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct { const char *name; chat_format f; } expect[] = {
    {"chatml", CHAT_CHATML}, {"llama2", CHAT_LLAMA2_SYS_BOS}, {"llama3", CHAT_LLAMA3},
    {"gemma", CHAT_GEMMA}, {"phi3", CHAT_PHI3}, {"mistral", CHAT_MISTRAL_V7},
};

static chat_format expected(const char *name) {
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++)
        if (!strcmp(expect[i].name, name)) return expect[i].f;
    return CHAT_NONE;
}

static const chat_msg conv[] = {
    {CHAT_SYSTEM, "You are a terse assistant.", 26},
    {CHAT_USER, "What is the capital of France?", 30},
    {CHAT_ASSISTANT, "Paris.", 6},
    {CHAT_USER, "And of Italy?\nOne word.", 23},
};

static void test_detect(void) {
    char err[256];
    for (size_t i = 0; i < N_CHAT_TEMPLATES; i++) {
        const char *j = chat_templates[i].jinja;
        chat_format f = chat_detect(j, strlen(j), err, sizeof err);
        CHECKF(f == expected(chat_templates[i].name), "%s -> %s", chat_templates[i].name,
               chat_format_name(f));
    }
    for (int f = CHAT_NONE + 1; f < CHAT_NFORMATS; f++) {
        const char *name = chat_format_name((chat_format)f);
        CHECKF(chat_detect(name, strlen(name), err, sizeof err) == (chat_format)f, "%s", name);
    }
    /* llama.cpp's other marks: */
    static const struct { const char *t; chat_format f; } more[] = {
        {"{{ '[INST] ' + message['content'] + ' [/INST]' }}", CHAT_LLAMA2},
        {"<<SYS>> [INST]", CHAT_LLAMA2_SYS},
        {"<<SYS>> [INST] {{ content.strip() }}", CHAT_LLAMA2_SYS_STRIP},
        {"{{ ' [INST] ' + system_message }}", CHAT_MISTRAL_V1},
        {"[AVAILABLE_TOOLS][INST]", CHAT_MISTRAL_V3},
        {"[AVAILABLE_TOOLS]{{ \"[INST]\" }}", CHAT_MISTRAL_V3_TEKKEN},
        {"mistral", CHAT_LLAMA2},
        /* chatml is tried first, as in llama.cpp */
        {"<|im_start|> <|start_header_id|><|end_header_id|>", CHAT_CHATML},
    };
    for (size_t i = 0; i < sizeof more / sizeof more[0]; i++)
        CHECKF(chat_detect(more[i].t, strlen(more[i].t), err, sizeof err) == more[i].f, "%s",
               more[i].t);
    /* refused, in one line that says why */
    static const struct { const char *t; const char *why; } bad[] = {
        {"{% for m in messages %}{{ m.content }}{% endfor %}", "not recognised"},
        {"<|user|>{{ m }}<|endoftext|>", "recognised as zephyr"},
        {"<|im_start|><|im_sep|>", "recognised as phi4"},
        {"USER: x ASSISTANT: y <|start_header_id|><|end_header_id|>", "recognised as vicuna"},
        {"", "the model has no tokenizer.chat_template"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        CHECK(chat_detect(bad[i].t, strlen(bad[i].t), err, sizeof err) == CHAT_NONE);
        CHECKF(strstr(err, bad[i].why) && !strchr(err, '\n') &&
               strstr(err, "chatml, llama2, llama3, gemma, phi3 and mistral"), "%s", err);
    }
    CHECK(chat_detect(NULL, 0, err, sizeof err) == CHAT_NONE);
}

/* The turn-by-turn texts with the replies between them are the whole
 * conversation rendered at once. */
static void test_next(void) {
    for (int f = CHAT_NONE + 1; f < CHAT_NFORMATS; f++) {
        for (int sys = 0; sys < 2; sys++) {
            const chat_msg *m = conv + !sys;
            int n = 4 - !sys;
            char *whole, *a, *b;
            size_t wl, al, bl;
            CHECK(!chat_render((chat_format)f, m, n, 1, &whole, &wl));
            /* first turn: the system prompt (if any) and the question */
            CHECK(!chat_render_next((chat_format)f, m, sys, m[sys].text, m[sys].len, &a, &al));
            /* second: after the reply */
            CHECK(!chat_render_next((chat_format)f, m, n - 1, m[n - 1].text, m[n - 1].len, &b,
                                    &bl));
            /* mistral puts a space before the reply, not in the
             * assistant's header: the model generates it */
            const char *sp = f >= CHAT_MISTRAL_V1 && f != CHAT_MISTRAL_V3_TEKKEN ? " " : "";
            char reply[64];
            size_t rl = (size_t)snprintf(reply, sizeof reply, "%s%.*s", sp, (int)m[n - 2].len,
                                         m[n - 2].text);
            int same = al + rl + bl == wl && !memcmp(whole, a, al) &&
                       !memcmp(whole + al, reply, rl) && !memcmp(whole + al + rl, b, bl);
            /* gemma, llama3 and mistral-v3 trim the reply: "Paris." has
             * nothing to trim, so the texts still meet */
            CHECKF(same, "%s (system %d): [%s] + reply + [%s] != [%s]",
                   chat_format_name((chat_format)f), sys, a, b, whole);
            free(whole); free(a); free(b);
        }
    }
    char *o;
    size_t ol;
    /* a conversation that does not end with a reply has no "after" */
    CHECK(chat_render_next(CHAT_CHATML, conv, 2, "x", 1, &o, &ol) == -EINVAL);
    CHECK(chat_render(CHAT_NONE, conv, 1, 1, &o, &ol) == -EINVAL);
}

static void json_str(FILE *f, const char *s, size_t n) {
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

static int have_node(void) {
    return access("tests/node/node_modules/@huggingface/jinja/package.json", R_OK) == 0 &&
           system("node --version >/dev/null 2>&1") == 0;
}

/* The template rendered by @huggingface/jinja for m[0..n), with its BOS
 * text taken off the front as llama.cpp does (its tokenizer adds BOS).
 * Caller frees; NULL on failure. */
static char *jinja_run(const char *tmpl, const char *bos, const char *eos, const chat_msg *m,
                       int n, const char *tokenize) {
    char in[] = "/tmp/llmfs-chat-XXXXXX";
    int fd = mkstemp(in);
    if (fd < 0) return NULL;
    FILE *f = fdopen(fd, "w");
    static const char *const roles[] = {"system", "user", "assistant"};
    fputs("{\"template\": ", f);
    json_str(f, tmpl, strlen(tmpl));
    fputs(", \"bos_token\": ", f);
    json_str(f, bos, strlen(bos));
    fputs(", \"eos_token\": ", f);
    json_str(f, eos, strlen(eos));
    fputs(", \"add_generation_prompt\": true, \"messages\": [", f);
    for (int i = 0; i < n; i++) {
        fprintf(f, "%s{\"role\": \"%s\", \"content\": ", i ? ", " : "", roles[m[i].role]);
        json_str(f, m[i].text, m[i].len);
        fputs("}", f);
    }
    fputs("]", f);
    if (tokenize) {
        fputs(", \"tokenize\": ", f);
        json_str(f, tokenize, strlen(tokenize));
    }
    fputs("}\n", f);
    fclose(f);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "node tests/node/chat_ref.mjs < %s 2>/dev/null", in);
    FILE *p = popen(cmd, "r");
    char *out = NULL;
    size_t len = 0, cap = 0;
    if (p) {
        char chunk[4096];
        size_t k;
        while ((k = fread(chunk, 1, sizeof chunk, p)) > 0) {
            if (len + k + 1 > cap) {
                cap = (len + k + 1) * 2;
                out = realloc(out, cap);
            }
            memcpy(out + len, chunk, k);
            len += k;
        }
        if (pclose(p) != 0) { free(out); out = NULL; }
        if (out) out[len] = 0;
    }
    unlink(in);
    if (tokenize) return out;
    size_t bl = strlen(bos);
    if (out && bl && !strncmp(out, bos, bl)) memmove(out, out + bl, len - bl + 1);
    return out;
}

static char *jinja(const char *tmpl, const char *bos, const char *eos, const chat_msg *m, int n) {
    return jinja_run(tmpl, bos, eos, m, n, NULL);
}

static void compare(const char *what, const char *tmpl, const char *bos, const char *eos,
                    const chat_msg *m, int n) {
    char err[256];
    chat_format f = chat_detect(tmpl, strlen(tmpl), err, sizeof err);
    char *ours = NULL;
    size_t ol;
    CHECKF(f != CHAT_NONE && !chat_render(f, m, n, 1, &ours, &ol), "%s: %s", what, err);
    char *ref = jinja(tmpl, bos, eos, m, n);
    CHECKF(ref != NULL, "%s: node tests/node/chat_ref.mjs failed", what);
    if (ours && ref)
        CHECKF(!strcmp(ours, ref), "%s (%s):\n#   llmfs: [%s]\n#   jinja: [%s]", what,
               chat_format_name(f), ours, ref);
    free(ours);
    free(ref);
}

static void test_jinja(void) {
    for (size_t i = 0; i < N_CHAT_TEMPLATES; i++) {
        const chat_template_src *t = &chat_templates[i];
        compare(t->name, t->jinja, t->bos, t->eos, conv, 4);
        compare(t->name, t->jinja, t->bos, t->eos, conv + 1, 3);   /* no system prompt */
    }
}

/* Phi-3-mini's own template (in llama.cpp's phi-3 vocabulary file): it
 * has no system turn, so the conversation has none either. */
static void test_jinja_phi3_vocab(void) {
    char path[512], err[256];
    gguf *g = NULL;
    gguf_str s;
    shared_path(path, sizeof path, "vocab/ggml-vocab-phi-3.gguf");
    int rc = gguf_open(path, &g, err, sizeof err);
    CHECKF(!rc, "%s", err);
    if (rc) return;
    CHECK(!gguf_get_str(g, "tokenizer.chat_template", &s));
    char *tmpl = strndup(s.ptr, s.len);
    compare("phi-3 vocabulary's template", tmpl, "<s>", "<|endoftext|>", conv + 1, 3);
    free(tmpl);
    gguf_free(g);
}

/* Chat text is tokenized with special-token text parsed: "<|user|>" is
 * one control token there, and plain text elsewhere. */
static void test_special(void) {
    char path[512], err[256];
    gguf *g = NULL;
    tokenizer *t = NULL;
    shared_path(path, sizeof path, "vocab/ggml-vocab-phi-3.gguf");
    int rc = gguf_open(path, &g, err, sizeof err);
    if (!rc) rc = tokenizer_from_gguf(g, &t, err, sizeof err);
    CHECKF(!rc, "%s", err);
    if (rc) { gguf_free(g); return; }
    int ids[64], plain[64];
    const char *s = "<|user|>\nHi<|end|>\n<|assistant|>\n";
    int n = tokenizer_encode_special(t, s, strlen(s), 1, ids, 64);
    int np = tokenizer_encode(t, s, strlen(s), 1, plain, 64);
    CHECKF(n >= 5 && n < np, "%d special, %d plain", n, np);
    CHECK(n > 1 && !strcmp(tokenizer_token_text(t, ids[1]), "<|user|>"));
    CHECK(ids[0] == tokenizer_bos(t));
    int k = 0;
    for (int i = 0; i < n; i++) k += !strcmp(tokenizer_token_text(t, ids[i]), "<|end|>");
    CHECK(k == 1);
    /* "<s>" in a rendering (llama2's later turns) is BOS itself */
    n = tokenizer_encode_special(t, "<s>[INST]", 9, 0, ids, 64);
    CHECK(n > 1 && ids[0] == tokenizer_bos(t));
    tokenizer_free(t);
    gguf_free(g);
}

static int tok_special(void *ud, const char *text, size_t len, int first, int **ids) {
    const tokenizer *t = ud;
    int n = tokenizer_encode_special(t, text, len, first, NULL, 0);
    if (n < 0) return n;
    *ids = malloc((size_t)(n ? n : 1) * sizeof **ids);
    return *ids ? tokenizer_encode_special(t, text, len, first, *ids, n) : -ENOMEM;
}

/* The first turn's prompt ids, as a conversation keeps them, are the ids
 * llama.cpp itself (node-llama-cpp) makes of Phi-3's own template
 * rendered by Jinja, with its special tokens and its strip of the
 * newlines after them. */
static void test_llamacpp_ids(void) {
    char path[512], err[256];
    gguf *g = NULL;
    tokenizer *t = NULL;
    gguf_str s;
    shared_path(path, sizeof path, "vocab/ggml-vocab-phi-3.gguf");
    int rc = gguf_open(path, &g, err, sizeof err);
    if (!rc) rc = tokenizer_from_gguf(g, &t, err, sizeof err);
    CHECKF(!rc, "%s", err);
    if (rc) { gguf_free(g); return; }
    CHECK(!gguf_get_str(g, "tokenizer.chat_template", &s));
    char *tmpl = strndup(s.ptr, s.len);
    chat_format f = chat_detect(tmpl, strlen(tmpl), err, sizeof err);
    chat_conv c;
    chat_conv_init(&c, f);
    CHECK(!chat_conv_user(&c, conv[1].text, conv[1].len, tok_special, t));
    char *ref = jinja_run(tmpl, "<s>", "<|endoftext|>", conv + 1, 1, path);
    CHECKF(ref != NULL, "node tests/node/chat_ref.mjs (tokenize) failed");
    char ours[4096];
    size_t k = 0;
    for (int i = 0; i < c.n_ids && k + 16 < sizeof ours; i++)
        k += (size_t)snprintf(ours + k, sizeof ours - k, "%s%d", i ? " " : "", c.ids[i]);
    snprintf(ours + k, sizeof ours - k, "\n");
    if (ref) CHECKF(!strcmp(ours, ref), "\n#   llmfs:     %s#   llama.cpp: %s", ours, ref);
    free(ref);
    free(tmpl);
    chat_conv_release(&c);
    tokenizer_free(t);
    gguf_free(g);
}

int main(void) {
    TEST("chat: templates are recognised by llama.cpp's marks, others refused in one line",
         test_detect);
    TEST("chat: a conversation grown turn by turn renders as the whole", test_next);
    TEST("chat: special-token text is parsed in chat text", test_special);
    if (have_node()) {
        TEST("chat: each format renders as its Jinja template does (@huggingface/jinja)",
             test_jinja);
        TEST("chat: Phi-3's own template renders as llmfs renders phi3", test_jinja_phi3_vocab);
        if (access("tests/node/node_modules/node-llama-cpp/package.json", R_OK) == 0)
            TEST("chat: a first turn's ids are llama.cpp's tokens of its Jinja rendering",
                 test_llamacpp_ids);
    } else {
        printf("ok - chat: Jinja references # SKIP tests/node is not installed\n");
    }
    TEST_EXIT();
}
